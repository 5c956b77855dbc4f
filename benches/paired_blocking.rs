//! Paired, interleaved comparison of arbor's thread offload
//! (`arbor::to_thread::run_sync`) with tokio's `spawn_blocking`
//! (current_thread + `LocalSet`), each used as its users use it (arbor's
//! default capacity limiter of 40 included); see `pairing` for how rounds
//! are run and reported. A fresh runtime per run, so both pay for
//! starting their worker threads.
//!
//! - `to_thread_round_trip`: 10,000 offloads of a trivial closure, one
//!   after another (the latency of a hop to a worker and back).
//! - `to_thread_fan_out`: 100 tasks × 100 offloads each, at once.
//!
//! tokio runs twice: as `#[tokio::main(flavor = "current_thread")]` builds
//! it (`enable_all`), and without drivers.
//!
//! ```text
//! cargo bench -p arbor-benches --bench paired_blocking
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_blocking -- round_trip
//! ```

mod blocking_workloads;
mod pairing;
mod setup;
use blocking_workloads::*;
use pairing::{Side, arbor, tokio, workload};

fn main() {
    pairing::main(vec![
        workload(
            "to_thread_round_trip",
            vec![
                Side::arbor("arbor", arbor(arbor_round_trip)),
                Side::peer("tokio", tokio(tokio_rt, tokio_round_trip)),
                Side::peer(
                    "tokio-no-drivers",
                    tokio(tokio_rt_no_drivers, tokio_round_trip),
                ),
            ],
        ),
        workload(
            "to_thread_fan_out",
            vec![
                Side::arbor("arbor", arbor(arbor_fan_out)),
                Side::peer("tokio", tokio(tokio_rt, tokio_fan_out)),
                Side::peer(
                    "tokio-no-drivers",
                    tokio(tokio_rt_no_drivers, tokio_fan_out),
                ),
            ],
        ),
    ]);
}
