//! File benchmarks: `arbor::fs` against `tokio::fs` (tokio's
//! current_thread runtime as `#[tokio::main(flavor = "current_thread")]`
//! builds it), reading (and writing) a 64 MiB file. The workloads are in
//! `fs_workloads` (shared with the paired runner, `paired_fs`). Each
//! runtime is built once and reused across iterations.
//!
//! ```text
//! cargo bench -p arbor-benches --bench fs -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

mod fs_workloads;
mod setup;
use fs_workloads::*;

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    // Tens of milliseconds per iteration: ten samples are plenty.
    group.sample_size(10);
    group
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    let (rt, local) = tokio_rt();

    let mut g = group(&mut c, "fs_read");
    g.bench_function("arbor", |b| b.iter(|| arbor.block_on(arbor_read())));
    g.bench_function("tokio", |b| b.iter(|| local.block_on(&rt, tokio_read())));
    g.finish();

    let mut g = group(&mut c, "fs_file_read_to_end");
    g.bench_function("arbor", |b| {
        b.iter(|| arbor.block_on(arbor_file_read_to_end()))
    });
    g.bench_function("arbor-asyncread", |b| {
        b.iter(|| arbor.block_on(arbor_file_read_to_end_asyncread()))
    });
    g.bench_function("tokio", |b| {
        b.iter(|| local.block_on(&rt, tokio_file_read_to_end()))
    });
    g.finish();

    let mut g = group(&mut c, "fs_file_read_8k");
    g.bench_function("arbor", |b| b.iter(|| arbor.block_on(arbor_file_read_8k())));
    g.bench_function("tokio", |b| {
        b.iter(|| local.block_on(&rt, tokio_file_read_8k()))
    });
    g.finish();

    let mut g = group(&mut c, "fs_file_write_8k");
    g.bench_function("arbor", |b| {
        b.iter(|| arbor.block_on(arbor_file_write_8k()))
    });
    g.bench_function("tokio", |b| {
        b.iter(|| local.block_on(&rt, tokio_file_write_8k()))
    });
    g.finish();

    c.final_summary();
    cleanup();
}
