//! Pattern benchmarks: arbor's `map_concurrent`, `retry` and `Pool` against
//! what tokio users reach for (`JoinSet` + `Semaphore`,
//! `buffer_unordered`, `backon`, `deadpool`, `bb8`) on tokio's
//! current_thread runtime with a `LocalSet`, the same workloads in one run.
//! The workloads are in `pattern_workloads` (shared with the paired
//! runner, `paired_patterns`).
//!
//! ```text
//! cargo bench -p arbor-benches --bench patterns && cargo bench -p arbor-benches --bench ratios
//! ```

use criterion::Criterion;

mod pattern_workloads;
mod setup;
use pattern_workloads::*;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    let (rt, local) = tokio_rt();

    for (name, yield_once) in [("map_concurrent", false), ("map_concurrent_yield", true)] {
        let mut group = c.benchmark_group(name);
        group.bench_function("arbor", |b| {
            b.iter(|| arbor.block_on(arbor_map(yield_once)))
        });
        group.bench_function("tokio-joinset", |b| {
            b.iter(|| local.block_on(&rt, tokio_joinset_map(yield_once)))
        });
        group.bench_function("buffer_unordered", |b| {
            b.iter(|| local.block_on(&rt, tokio_buffer_unordered_map(yield_once)))
        });
        group.finish();
    }

    let mut group = c.benchmark_group("retry_ready");
    group.bench_function("arbor", |b| b.iter(|| arbor.block_on(arbor_retry_ready())));
    group.bench_function("backon", |b| {
        b.iter(|| local.block_on(&rt, backon_retry_ready()))
    });
    group.finish();

    // Per checkout: each iteration is one get and one return.
    let mut group = c.benchmark_group("pool_get_put");
    group.bench_function("arbor", |b| {
        b.iter_custom(|iters| arbor.block_on(arbor_pool_get_put(iters)))
    });
    group.bench_function("deadpool", |b| {
        b.iter_custom(|iters| local.block_on(&rt, deadpool_get_put(iters)))
    });
    group.bench_function("bb8", |b| {
        b.iter_custom(|iters| local.block_on(&rt, bb8_get_put(iters)))
    });
    group.finish();

    let mut group = c.benchmark_group("pool_contended");
    group.bench_function("arbor", |b| {
        b.iter(|| arbor.block_on(arbor_pool_contended()))
    });
    group.bench_function("deadpool", |b| {
        b.iter(|| local.block_on(&rt, deadpool_contended()))
    });
    group.bench_function("bb8", |b| b.iter(|| local.block_on(&rt, bb8_contended())));
    group.finish();

    c.final_summary();
}
