//! Primitive benchmarks: arbor's semaphore, mutex and channels against
//! tokio's (`tokio::sync`, current_thread + `LocalSet`) and the smol
//! family's (`async-lock`, `async-channel` on async-executor's
//! `LocalExecutor`), the same workload in one run. The workloads are in
//! `prim_workloads` (shared with the paired runner, `paired_primitives`);
//! the lock and semaphore groups also run arbor's fast mode as
//! `arbor-fast`.
//!
//! ```text
//! cargo bench -p arbor-benches --bench primitives && cargo bench -p arbor-benches --bench ratios
//! ```

use std::rc::Rc;

use async_executor::LocalExecutor;
use criterion::Criterion;

mod prim_workloads;
mod setup;
use prim_workloads::*;

/// A group running a workload on arbor (and, with `fast`, on arbor's fast
/// mode), tokio and async-executor; each runtime is built once and reused
/// across iterations.
macro_rules! group {
    ($c:expr, $name:literal, arbor: $arbor:expr, $(arbor_fast: $fast:expr,)? tokio: $tokio:expr, smol: $smol:expr) => {{
        let mut group = $c.benchmark_group($name);
        let arbor = arbor::Runtime::new().expect("arbor runtime");
        group.bench_function("arbor", |b| b.iter(|| arbor.block_on($arbor)));
        $(group.bench_function("arbor-fast", |b| b.iter(|| arbor.block_on($fast)));)?
        let (rt, local) = tokio_rt();
        group.bench_function("tokio", |b| b.iter(|| local.block_on(&rt, $tokio)));
        let ex = Rc::new(LocalExecutor::new());
        group.bench_function("async-executor", |b| {
            b.iter(|| futures_lite::future::block_on(ex.run($smol(ex.clone()))))
        });
        group.finish();
    }};
}

/// Like `group!` for the uncontended workloads, which time `iters`
/// operations themselves.
macro_rules! uncontended {
    ($c:expr, $name:literal, $arbor:ident, $tokio:ident, $smol:ident) => {{
        let mut group = $c.benchmark_group($name);
        let arbor = arbor::Runtime::new().expect("arbor runtime");
        group.bench_function("arbor", |b| {
            b.iter_custom(|iters| arbor.block_on($arbor(false, iters)))
        });
        group.bench_function("arbor-fast", |b| {
            b.iter_custom(|iters| arbor.block_on($arbor(true, iters)))
        });
        let (rt, local) = tokio_rt();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| local.block_on(&rt, $tokio(iters)))
        });
        let ex = LocalExecutor::new();
        group.bench_function("async-executor", |b| {
            b.iter_custom(|iters| futures_lite::future::block_on(ex.run($smol(iters))))
        });
        group.finish();
    }};
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    group!(c, "semaphore",
        arbor: arbor_semaphore(false),
        arbor_fast: arbor_semaphore(true),
        tokio: tokio_semaphore(),
        smol: smol_semaphore);
    uncontended!(
        c,
        "semaphore_uncontended",
        arbor_semaphore_uncontended,
        tokio_semaphore_uncontended,
        smol_semaphore_uncontended
    );
    group!(c, "mutex",
        arbor: arbor_mutex(false),
        arbor_fast: arbor_mutex(true),
        tokio: tokio_mutex(),
        smol: smol_mutex);
    uncontended!(
        c,
        "mutex_uncontended",
        arbor_mutex_uncontended,
        tokio_mutex_uncontended,
        smol_mutex_uncontended
    );
    group!(c, "ping_pong", arbor: arbor_ping_pong(), tokio: tokio_ping_pong(), smol: smol_ping_pong);
    group!(c, "channel_throughput",
        arbor: arbor_channel_throughput(),
        tokio: tokio_channel_throughput(),
        smol: smol_channel_throughput);
    group!(c, "mpsc", arbor: arbor_mpsc(), tokio: tokio_mpsc(), smol: smol_mpsc);
    c.final_summary();
}
