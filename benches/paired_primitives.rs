//! Paired, interleaved comparison of arbor (default checkpoints, and the
//! fast mode where a primitive has one) with tokio and async-executor on
//! the primitive workloads of `prim_workloads` (the ones the criterion
//! bench `primitives` runs); see `pairing` for how rounds are run and
//! reported. Ratios are against the faster peer of each round.
//!
//! ```text
//! cargo bench -p arbor-benches --bench paired_primitives              # every workload, 31 rounds
//! cargo bench -p arbor-benches --bench paired_primitives -- mutex     # workloads whose name contains it
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_primitives
//! ```

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;

mod pairing;
mod prim_workloads;
mod setup;
use pairing::{Side, arbor, arbor_timed, tokio, tokio_timed, workload};
use prim_workloads::*;

/// Operations per run of the uncontended workloads.
const UNCONTENDED_OPS: u64 = 1_000_000;

fn smol<F: Future>(
    body: impl Fn(Rc<LocalExecutor<'static>>) -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let ex = Rc::new(LocalExecutor::new());
        let start = Instant::now();
        futures_lite::future::block_on(ex.run(body(ex.clone())));
        start.elapsed()
    }
}

fn smol_timed<F: Future<Output = Duration>>(
    body: impl Fn() -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let ex = LocalExecutor::new();
        futures_lite::future::block_on(ex.run(body()))
    }
}

fn main() {
    let n = UNCONTENDED_OPS;
    pairing::main(vec![
        workload(
            "semaphore",
            vec![
                Side::arbor("arbor", arbor(|| arbor_semaphore(false))),
                Side::arbor("arbor-fast", arbor(|| arbor_semaphore(true))),
                Side::peer("tokio", tokio(tokio_rt, tokio_semaphore)),
                Side::peer("async-executor", smol(smol_semaphore)),
            ],
        ),
        workload(
            "semaphore_uncontended",
            vec![
                Side::arbor(
                    "arbor",
                    arbor_timed(move || arbor_semaphore_uncontended(false, n)),
                ),
                Side::arbor(
                    "arbor-fast",
                    arbor_timed(move || arbor_semaphore_uncontended(true, n)),
                ),
                Side::peer(
                    "tokio",
                    tokio_timed(tokio_rt, move || tokio_semaphore_uncontended(n)),
                ),
                Side::peer(
                    "async-executor",
                    smol_timed(move || smol_semaphore_uncontended(n)),
                ),
            ],
        ),
        workload(
            "mutex",
            vec![
                Side::arbor("arbor", arbor(|| arbor_mutex(false))),
                Side::arbor("arbor-fast", arbor(|| arbor_mutex(true))),
                Side::peer("tokio", tokio(tokio_rt, tokio_mutex)),
                Side::peer("async-executor", smol(smol_mutex)),
            ],
        ),
        workload(
            "mutex_uncontended",
            vec![
                Side::arbor(
                    "arbor",
                    arbor_timed(move || arbor_mutex_uncontended(false, n)),
                ),
                Side::arbor(
                    "arbor-fast",
                    arbor_timed(move || arbor_mutex_uncontended(true, n)),
                ),
                Side::peer(
                    "tokio",
                    tokio_timed(tokio_rt, move || tokio_mutex_uncontended(n)),
                ),
                Side::peer(
                    "async-executor",
                    smol_timed(move || smol_mutex_uncontended(n)),
                ),
            ],
        ),
        workload(
            "ping_pong",
            vec![
                Side::arbor("arbor", arbor(arbor_ping_pong)),
                Side::peer("tokio", tokio(tokio_rt, tokio_ping_pong)),
                Side::peer("async-executor", smol(smol_ping_pong)),
            ],
        ),
        workload(
            "channel_throughput",
            vec![
                Side::arbor("arbor", arbor(arbor_channel_throughput)),
                Side::peer("tokio", tokio(tokio_rt, tokio_channel_throughput)),
                Side::peer("async-executor", smol(smol_channel_throughput)),
            ],
        ),
        workload(
            "mpsc",
            vec![
                Side::arbor("arbor", arbor(arbor_mpsc)),
                Side::peer("tokio", tokio(tokio_rt, tokio_mpsc)),
                Side::peer("async-executor", smol(smol_mpsc)),
            ],
        ),
    ]);
}
