//! Paired, interleaved comparison of arbor, tokio (current_thread,
//! `enable_all`, a `LocalSet`) and async-executor (run as smol runs it,
//! `async_io::block_on(ex.run(..))`) on the networking workloads of
//! `net_workloads`: `tcp_echo` (32 connections × 1,000 round trips of
//! 64 B), `idle_conns` (4 busy connections × 5,000 round trips beside
//! 2,000 idle ones; only the busy traffic is timed) and `udp_pingpong`
//! (20,000 round trips of a 64 B datagram); see `pairing` for how rounds
//! are run and reported.
//!
//! ```text
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_net
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_net -- udp
//! NET_ECHO_MSGS=10000 ROUNDS=11 cargo bench -p arbor-benches --bench paired_net -- tcp_echo
//! SIDES=arbor ROUNDS=1 cargo bench -p arbor-benches --bench paired_net -- tcp_echo
//! ```

mod net_workloads;
mod pairing;
mod setup;

fn main() {
    pairing::main(net_workloads::workloads());
}
