//! Paired, interleaved comparison of arbor's patterns (`map_concurrent`,
//! `retry`, `Pool`) with what tokio users reach for (`JoinSet` +
//! `Semaphore`, `buffer_unordered`, `backon`, `deadpool`, `bb8`), on the
//! workloads of `pattern_workloads`; see `pairing` for how rounds are run
//! and reported. Ratios are against the faster peer of each round.
//!
//! ```text
//! cargo bench --bench paired_patterns              # every workload, 31 rounds
//! cargo bench --bench paired_patterns -- map       # workloads whose name contains it
//! ROUNDS=11 cargo bench --bench paired_patterns
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

mod pairing;
mod pattern_workloads;
use pairing::{Side, Workload};
use pattern_workloads::*;

fn arbor<F: Future>(body: impl Fn() -> F + 'static) -> impl Fn() -> Duration {
    move || {
        let rt = arbor::Runtime::new().expect("arbor runtime");
        let start = Instant::now();
        rt.block_on(body());
        start.elapsed()
    }
}

fn tokio<F: Future>(body: impl Fn() -> F + 'static) -> impl Fn() -> Duration {
    move || {
        let (rt, local) = tokio_rt();
        let start = Instant::now();
        local.block_on(&rt, body());
        start.elapsed()
    }
}

/// The pool workloads time themselves (pool setup is not timed).
fn arbor_timed<F: Future<Output = Duration>>(
    body: impl Fn() -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        arbor::Runtime::new()
            .expect("arbor runtime")
            .block_on(body())
    }
}

fn tokio_timed<F: Future<Output = Duration>>(
    body: impl Fn() -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let (rt, local) = tokio_rt();
        local.block_on(&rt, body())
    }
}

fn workload(name: &str, sides: Vec<Side>) -> Workload {
    Workload {
        name: name.into(),
        sides,
    }
}

fn main() {
    pairing::main(vec![
        workload(
            "map_concurrent",
            vec![
                Side::arbor("arbor", arbor(|| arbor_map(false))),
                Side::peer("tokio-joinset", tokio(|| tokio_joinset_map(false))),
                Side::peer(
                    "buffer_unordered",
                    tokio(|| tokio_buffer_unordered_map(false)),
                ),
            ],
        ),
        workload(
            "map_concurrent_yield",
            vec![
                Side::arbor("arbor", arbor(|| arbor_map(true))),
                Side::peer("tokio-joinset", tokio(|| tokio_joinset_map(true))),
                Side::peer(
                    "buffer_unordered",
                    tokio(|| tokio_buffer_unordered_map(true)),
                ),
            ],
        ),
        workload(
            "retry_ready",
            vec![
                Side::arbor("arbor", arbor(arbor_retry_ready)),
                Side::peer("backon", tokio(backon_retry_ready)),
            ],
        ),
        workload(
            "pool_get_put",
            vec![
                Side::arbor("arbor", arbor_timed(|| arbor_pool_get_put(POOL_OPS))),
                Side::peer("deadpool", tokio_timed(|| deadpool_get_put(POOL_OPS))),
                Side::peer("bb8", tokio_timed(|| bb8_get_put(POOL_OPS))),
            ],
        ),
        workload(
            "pool_contended",
            vec![
                Side::arbor("arbor", arbor(arbor_pool_contended)),
                Side::peer("deadpool", tokio(deadpool_contended)),
                Side::peer("bb8", tokio(bb8_contended)),
            ],
        ),
    ]);
}
