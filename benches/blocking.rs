//! Thread-offload benchmarks (criterion): `arbor::to_thread::run_sync`
//! against tokio's `spawn_blocking`, tokio built as `#[tokio::main]`
//! builds it and without drivers. The workloads are in
//! `blocking_workloads` (shared with the paired runner,
//! `paired_blocking`, whose interleaved rounds `benches/README.md`
//! quotes under "Earlier measurements"). Each runtime is built once and reused across iterations, so
//! the worker threads are warm.
//!
//! ```text
//! cargo bench -p arbor-benches --bench blocking
//! ```

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

mod blocking_workloads;
mod setup;
use blocking_workloads::*;

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    // Tens to hundreds of milliseconds per iteration: ten samples suffice.
    group.sample_size(10);
    group
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    let (rt, local) = tokio_rt();
    let (bare_rt, bare_local) = tokio_rt_no_drivers();

    let mut g = group(&mut c, "to_thread_round_trip");
    g.bench_function("arbor", |b| b.iter(|| arbor.block_on(arbor_round_trip())));
    g.bench_function("tokio", |b| {
        b.iter(|| local.block_on(&rt, tokio_round_trip()))
    });
    g.bench_function("tokio-no-drivers", |b| {
        b.iter(|| bare_local.block_on(&bare_rt, tokio_round_trip()))
    });
    g.finish();

    let mut g = group(&mut c, "to_thread_fan_out");
    g.bench_function("arbor", |b| b.iter(|| arbor.block_on(arbor_fan_out())));
    g.bench_function("tokio", |b| b.iter(|| local.block_on(&rt, tokio_fan_out())));
    g.bench_function("tokio-no-drivers", |b| {
        b.iter(|| bare_local.block_on(&bare_rt, tokio_fan_out()))
    });
    g.finish();

    c.final_summary();
}
