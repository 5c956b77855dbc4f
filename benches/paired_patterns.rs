//! Paired, interleaved comparison of arbor's patterns (`map_concurrent`,
//! `retry`, `Pool`) with what tokio users reach for (`JoinSet` +
//! `Semaphore`, `buffer_unordered`, `backon`, `deadpool`, `bb8`), on the
//! workloads of `pattern_workloads`; see `pairing` for how rounds are run
//! and reported. Ratios are against the faster peer of each round.
//!
//! ```text
//! cargo bench -p arbor-benches --bench paired_patterns              # every workload, 31 rounds
//! cargo bench -p arbor-benches --bench paired_patterns -- map       # workloads whose name contains it
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_patterns
//! ```

mod pairing;
mod pattern_workloads;
mod setup;
use pairing::{Side, arbor, arbor_timed, tokio, tokio_timed, workload};
use pattern_workloads::*;

fn main() {
    pairing::main(vec![
        workload(
            "map_concurrent",
            vec![
                Side::arbor("arbor", arbor(|| arbor_map(false))),
                Side::peer(
                    "tokio-joinset",
                    tokio(tokio_rt, || tokio_joinset_map(false)),
                ),
                Side::peer(
                    "buffer_unordered",
                    tokio(tokio_rt, || tokio_buffer_unordered_map(false)),
                ),
            ],
        ),
        workload(
            "map_concurrent_yield",
            vec![
                Side::arbor("arbor", arbor(|| arbor_map(true))),
                Side::peer("tokio-joinset", tokio(tokio_rt, || tokio_joinset_map(true))),
                Side::peer(
                    "buffer_unordered",
                    tokio(tokio_rt, || tokio_buffer_unordered_map(true)),
                ),
            ],
        ),
        workload(
            "retry_ready",
            vec![
                Side::arbor("arbor", arbor(arbor_retry_ready)),
                Side::peer("backon", tokio(tokio_rt, backon_retry_ready)),
            ],
        ),
        workload(
            "pool_get_put",
            vec![
                Side::arbor("arbor", arbor_timed(|| arbor_pool_get_put(POOL_OPS))),
                Side::peer(
                    "deadpool",
                    tokio_timed(tokio_rt, || deadpool_get_put(POOL_OPS)),
                ),
                Side::peer("bb8", tokio_timed(tokio_rt, || bb8_get_put(POOL_OPS))),
            ],
        ),
        workload(
            "pool_contended",
            vec![
                Side::arbor("arbor", arbor(arbor_pool_contended)),
                Side::peer("deadpool", tokio(tokio_rt, deadpool_contended)),
                Side::peer("bb8", tokio(tokio_rt, bb8_contended)),
            ],
        ),
    ]);
}
