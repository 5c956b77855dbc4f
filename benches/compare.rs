//! The interleaved comparison of arbor, tokio (current_thread with
//! `enable_all()`, plus a `LocalSet`) and async-executor (a
//! `LocalExecutor` under `async_io::block_on`, as smol runs it) that the
//! README's table and chart come from. See `benches/README.md` for the
//! method and a note per workload, `compare_runner` for the runner and
//! `compare_workloads` for the workloads.
//!
//! ```text
//! cargo bench -p arbor-benches --bench compare                      # every workload, 21 rounds
//! cargo bench -p arbor-benches --bench compare -- --save            # and write results/compare.{md,svg}
//! cargo bench -p arbor-benches --bench compare -- spawn timeout     # workloads whose name contains either
//! ROUNDS=3 SIDES=arbor,tokio cargo bench -p arbor-benches --bench compare -- ping
//! ```

mod compare_runner;
mod compare_workloads;
mod pairing;
mod prim_workloads;
mod setup;
mod timer_workloads;

// Networking workloads (tcp_echo, idle connections, UDP ping-pong), with
// the same three sides; also runnable alone as `paired_net`.
mod net_workloads;

fn main() {
    let mut workloads = compare_workloads::workloads();
    workloads.extend(net_workloads::workloads());
    compare_runner::main(workloads);
}
