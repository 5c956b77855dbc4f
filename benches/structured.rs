//! Structured-concurrency benchmarks: arbor's nurseries and cancel scopes
//! against the nearest equivalent of tokio (current_thread + `LocalSet`)
//! and async-executor (`LocalExecutor`, with async-io timers).
//!
//! - `timeout_overhead`: 100,000 times, wrap an immediately ready future in
//!   a 1 s timeout (`move_on_after` / `tokio::time::timeout` / a race with
//!   an `async_io::Timer`).
//! - `nursery_spawn_join`: 10,000 children in one nursery, awaited by its
//!   end / a tokio `JoinSet` / async-executor tasks collected and awaited.
//! - `cancel_fanout`: cancel one scope covering 10,000 parked tasks and
//!   wait until all are dropped / `JoinSet::abort_all` then drain /
//!   `Task::cancel` each. Only the cancellation is timed.
//! - `nested_timeouts/D`: `D` nested 1 s timeouts (`fail_after` /
//!   `tokio::time::timeout`) around a yield, entered 100,000 / `D` times:
//!   every level suspends once, so every level arms its deadline. The same
//!   number of levels at every depth: linear cost means equal times.
//!
//! ```text
//! cargo bench -p arbor-benches --bench structured && cargo bench -p arbor-benches --bench ratios
//! ```

mod setup;

use std::cell::Cell;
use std::future::{pending, ready};
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::future::Future;
use std::pin::Pin;

use async_executor::LocalExecutor;
use criterion::{BenchmarkId, Criterion};

const TIMEOUTS: usize = 100_000;
const CHILDREN: usize = 10_000;
const SEC: Duration = Duration::from_secs(1);

use setup::tokio_rt;

fn timeout_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("timeout_overhead");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(async {
                let mut sum = 0;
                for i in 0..TIMEOUTS {
                    sum += arbor::move_on_after(SEC, ready(i)).await.expect("ready");
                }
                sum
            })
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let mut sum = 0;
                for i in 0..TIMEOUTS {
                    sum += tokio::time::timeout(SEC, ready(i)).await.expect("ready");
                }
                sum
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let mut sum = 0;
                for i in 0..TIMEOUTS {
                    // The timer is created before the race: inside the
                    // second arm it would never be created, as that arm
                    // is never polled when the first is ready at once.
                    let timer = async_io::Timer::after(SEC);
                    let timed =
                        futures_lite::future::or(async { Some(ready(i).await) }, async move {
                            timer.await;
                            None
                        });
                    sum += timed.await.expect("ready");
                }
                sum
            }))
        })
    });
    group.finish();
}

fn nursery_spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("nursery_spawn_join");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(arbor::nursery(async |n| {
                for _ in 0..CHILDREN {
                    drop(n.spawn(async {}));
                }
            }))
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..CHILDREN {
                    set.spawn_local(async {});
                }
                while let Some(r) = set.join_next().await {
                    r.expect("child");
                }
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let tasks: Vec<_> = (0..CHILDREN).map(|_| ex.spawn(async {})).collect();
                for t in tasks {
                    t.await;
                }
            }))
        })
    });
    group.finish();
}

fn cancel_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("cancel_fanout");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Rc::new(Cell::new(None));
                let s = started.clone();
                let out = arbor.block_on(arbor::nursery(async |n| {
                    for _ in 0..CHILDREN {
                        drop(n.spawn(pending::<()>()));
                    }
                    arbor::yield_now().await; // every child parked
                    s.set(Some(Instant::now()));
                    n.cancel_scope().cancel();
                    arbor::checkpoint().await;
                }));
                total += started.get().expect("cancelled").elapsed();
                assert!(out.is_err());
            }
            total
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            local.block_on(&rt, async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..CHILDREN {
                        set.spawn_local(pending::<()>());
                    }
                    tokio::task::yield_now().await;
                    let start = Instant::now();
                    set.abort_all();
                    while let Some(r) = set.join_next().await {
                        assert!(r.unwrap_err().is_cancelled());
                    }
                    total += start.elapsed();
                }
                total
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter_custom(|iters| {
            futures_lite::future::block_on(ex.run(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..CHILDREN).map(|_| ex.spawn(pending::<()>())).collect();
                    futures_lite::future::yield_now().await;
                    let start = Instant::now();
                    for t in tasks {
                        assert!(t.cancel().await.is_none());
                    }
                    total += start.elapsed();
                }
                total
            }))
        })
    });
    group.finish();
}

const NESTED_LEVELS: usize = 100_000;

type Boxed = Pin<Box<dyn Future<Output = ()>>>;

fn arbor_nested(depth: usize) -> Boxed {
    if depth == 0 {
        return Box::pin(arbor::yield_now());
    }
    let inner = arbor_nested(depth - 1);
    Box::pin(async move { arbor::fail_after(SEC, inner).await.expect("in time") })
}

fn tokio_nested(depth: usize) -> Boxed {
    if depth == 0 {
        return Box::pin(tokio::task::yield_now());
    }
    let inner = tokio_nested(depth - 1);
    Box::pin(async move { tokio::time::timeout(SEC, inner).await.expect("in time") })
}

fn nested_timeouts(c: &mut Criterion) {
    let mut group = c.benchmark_group("nested_timeouts");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    let (rt, local) = tokio_rt();
    for depth in [10, 100, 1000] {
        let rounds = NESTED_LEVELS / depth;
        group.bench_with_input(BenchmarkId::new("arbor", depth), &depth, |b, &depth| {
            b.iter(|| {
                arbor.block_on(async {
                    for _ in 0..rounds {
                        arbor_nested(depth).await;
                    }
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("tokio", depth), &depth, |b, &depth| {
            b.iter(|| {
                local.block_on(&rt, async {
                    for _ in 0..rounds {
                        tokio_nested(depth).await;
                    }
                })
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    timeout_overhead(&mut c);
    nursery_spawn_join(&mut c);
    cancel_fanout(&mut c);
    nested_timeouts(&mut c);
    c.final_summary();
}
