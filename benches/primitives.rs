//! Primitive benchmarks: arbor's semaphore, mutex and channels against
//! tokio's (`tokio::sync`, current_thread + `LocalSet`) and the smol
//! family's (`async-lock`, `async-channel` on async-executor's
//! `LocalExecutor`), the same workload in one run.
//!
//! - `semaphore`: 1,000 tasks, 10 permits, 100 acquisitions each (a yield
//!   while holding the permit).
//! - `semaphore_uncontended`: acquire and release in a loop in one task.
//! - `mutex`: 100 tasks × 1,000 lock/unlock, yielding while holding it.
//! - `mutex_uncontended`: `lock().await` and unlock in a loop in one task.
//! - `ping_pong`: two tasks, a bounded(1) channel each way, 100,000 round
//!   trips (tokio `mpsc`, `async-channel`).
//! - `channel_throughput`: one producer, one consumer, 1,000,000 items
//!   through a bounded(1024) channel.
//!
//! ```text
//! cargo bench --bench primitives && cargo bench --bench ratios
//! ```

use std::rc::Rc;
use std::time::Instant;

use async_executor::LocalExecutor;
use criterion::Criterion;

const SEM_TASKS: usize = 1_000;
const SEM_PERMITS: usize = 10;
const SEM_ROUNDS: usize = 100;
const MUTEX_TASKS: usize = 100;
const MUTEX_ROUNDS: usize = 1_000;
const ROUND_TRIPS: u32 = 100_000;
const ITEMS: u32 = 1_000_000;
const CAPACITY: usize = 1024;

fn tokio_rt() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

fn semaphore(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(async {
                let sem = Rc::new(arbor::primitives::Semaphore::new(SEM_PERMITS));
                let tasks: Vec<_> = (0..SEM_TASKS)
                    .map(|_| {
                        let sem = sem.clone();
                        arbor::spawn(async move {
                            for _ in 0..SEM_ROUNDS {
                                let _p = sem.acquire().await;
                                arbor::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            })
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let sem = Rc::new(tokio::sync::Semaphore::new(SEM_PERMITS));
                let tasks: Vec<_> = (0..SEM_TASKS)
                    .map(|_| {
                        let sem = sem.clone();
                        tokio::task::spawn_local(async move {
                            for _ in 0..SEM_ROUNDS {
                                let _p = sem.acquire().await.expect("open");
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let sem = Rc::new(async_lock::Semaphore::new(SEM_PERMITS));
                let tasks: Vec<_> = (0..SEM_TASKS)
                    .map(|_| {
                        let sem = sem.clone();
                        ex.spawn(async move {
                            for _ in 0..SEM_ROUNDS {
                                let _p = sem.acquire().await;
                                futures_lite::future::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            }))
        })
    });
    group.finish();
}

/// Time `iters` iterations of `op().await` inside one task of each runtime
/// (the way code awaits an uncontended primitive).
macro_rules! uncontended {
    ($c:expr, $name:literal, $arbor:expr, $tokio:expr, $smol:expr) => {{
        let mut group = $c.benchmark_group($name);
        let arbor = arbor::Runtime::new().expect("arbor runtime");
        group.bench_function("arbor", |b| {
            b.iter_custom(|iters| {
                arbor.block_on(async {
                    let prim = $arbor;
                    let start = Instant::now();
                    for _ in 0..iters {
                        drop(std::hint::black_box(prim_op!(prim, arbor)));
                    }
                    start.elapsed()
                })
            })
        });
        let (rt, local) = tokio_rt();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                local.block_on(&rt, async {
                    let prim = $tokio;
                    let start = Instant::now();
                    for _ in 0..iters {
                        // Unconstrained: tokio's coop budget would make every
                        // 128th acquire yield.
                        drop(std::hint::black_box(prim_op!(prim, tokio)));
                    }
                    start.elapsed()
                })
            })
        });
        let ex = LocalExecutor::new();
        group.bench_function("async-executor", |b| {
            b.iter_custom(|iters| {
                futures_lite::future::block_on(ex.run(async {
                    let prim = $smol;
                    let start = Instant::now();
                    for _ in 0..iters {
                        drop(std::hint::black_box(prim_op!(prim, smol)));
                    }
                    start.elapsed()
                }))
            })
        });
        group.finish();
    }};
}

fn semaphore_uncontended(c: &mut Criterion) {
    macro_rules! prim_op {
        ($p:expr, arbor) => {
            $p.acquire().await
        };
        ($p:expr, tokio) => {
            tokio::task::unconstrained($p.acquire())
                .await
                .expect("open")
        };
        ($p:expr, smol) => {
            $p.acquire().await
        };
    }
    uncontended!(
        c,
        "semaphore_uncontended",
        arbor::primitives::Semaphore::new(1),
        tokio::sync::Semaphore::new(1),
        async_lock::Semaphore::new(1)
    );
}

fn mutex(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(async {
                let m = Rc::new(arbor::primitives::Mutex::new(0u64));
                let tasks: Vec<_> = (0..MUTEX_TASKS)
                    .map(|_| {
                        let m = m.clone();
                        arbor::spawn(async move {
                            for _ in 0..MUTEX_ROUNDS {
                                let mut g = m.lock().await.expect("not reentered");
                                *g += 1;
                                arbor::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
                assert_eq!(
                    *m.lock().await.expect("free"),
                    (MUTEX_TASKS * MUTEX_ROUNDS) as u64
                );
            })
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let m = Rc::new(tokio::sync::Mutex::new(0u64));
                let tasks: Vec<_> = (0..MUTEX_TASKS)
                    .map(|_| {
                        let m = m.clone();
                        tokio::task::spawn_local(async move {
                            for _ in 0..MUTEX_ROUNDS {
                                let mut g = m.lock().await;
                                *g += 1;
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let m = Rc::new(async_lock::Mutex::new(0u64));
                let tasks: Vec<_> = (0..MUTEX_TASKS)
                    .map(|_| {
                        let m = m.clone();
                        ex.spawn(async move {
                            for _ in 0..MUTEX_ROUNDS {
                                let mut g = m.lock().await;
                                *g += 1;
                                futures_lite::future::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            }))
        })
    });
    group.finish();
}

fn mutex_uncontended(c: &mut Criterion) {
    macro_rules! prim_op {
        ($p:expr, arbor) => {
            $p.lock().await.expect("not reentered")
        };
        ($p:expr, tokio) => {
            tokio::task::unconstrained($p.lock()).await
        };
        ($p:expr, smol) => {
            $p.lock().await
        };
    }
    uncontended!(
        c,
        "mutex_uncontended",
        arbor::primitives::Mutex::new(0u64),
        tokio::sync::Mutex::new(0u64),
        async_lock::Mutex::new(0u64)
    );
}

fn ping_pong(c: &mut Criterion) {
    use arbor::primitives::channel;
    let mut group = c.benchmark_group("ping_pong");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(async {
                let (ping_tx, ping_rx) = channel::bounded::<u32>(1);
                let (pong_tx, pong_rx) = channel::bounded::<u32>(1);
                let echo = arbor::spawn(async move {
                    while let Ok(n) = ping_rx.recv().await {
                        pong_tx.send(n).await.expect("pong");
                    }
                });
                for i in 0..ROUND_TRIPS {
                    ping_tx.send(i).await.expect("ping");
                    assert_eq!(pong_rx.recv().await.expect("pong"), i);
                }
                drop(ping_tx);
                echo.await.expect("echo");
            })
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u32>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u32>(1);
                let echo = tokio::task::spawn_local(async move {
                    while let Some(n) = ping_rx.recv().await {
                        pong_tx.send(n).await.expect("pong");
                    }
                });
                for i in 0..ROUND_TRIPS {
                    ping_tx.send(i).await.expect("ping");
                    assert_eq!(pong_rx.recv().await.expect("pong"), i);
                }
                drop(ping_tx);
                echo.await.expect("echo");
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let (ping_tx, ping_rx) = async_channel::bounded::<u32>(1);
                let (pong_tx, pong_rx) = async_channel::bounded::<u32>(1);
                let echo = ex.spawn(async move {
                    while let Ok(n) = ping_rx.recv().await {
                        pong_tx.send(n).await.expect("pong");
                    }
                });
                for i in 0..ROUND_TRIPS {
                    ping_tx.send(i).await.expect("ping");
                    assert_eq!(pong_rx.recv().await.expect("pong"), i);
                }
                drop(ping_tx);
                echo.await;
            }))
        })
    });
    group.finish();
}

fn channel_throughput(c: &mut Criterion) {
    use arbor::primitives::channel;
    let mut group = c.benchmark_group("channel_throughput");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(async {
                let (tx, rx) = channel::bounded::<u32>(CAPACITY);
                let producer = arbor::spawn(async move {
                    for i in 0..ITEMS {
                        tx.send(i).await.expect("open");
                    }
                });
                let mut sum = 0u64;
                while let Ok(n) = rx.recv().await {
                    sum += u64::from(n);
                }
                producer.await.expect("producer");
                sum
            })
        })
    });
    let (rt, local) = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
                let producer = tokio::task::spawn_local(async move {
                    for i in 0..ITEMS {
                        tx.send(i).await.expect("open");
                    }
                });
                let mut sum = 0u64;
                while let Some(n) = rx.recv().await {
                    sum += u64::from(n);
                }
                producer.await.expect("producer");
                sum
            })
        })
    });
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let (tx, rx) = async_channel::bounded::<u32>(CAPACITY);
                let producer = ex.spawn(async move {
                    for i in 0..ITEMS {
                        tx.send(i).await.expect("open");
                    }
                });
                let mut sum = 0u64;
                while let Ok(n) = rx.recv().await {
                    sum += u64::from(n);
                }
                producer.await;
                sum
            }))
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    semaphore(&mut c);
    semaphore_uncontended(&mut c);
    mutex(&mut c);
    mutex_uncontended(&mut c);
    ping_pong(&mut c);
    channel_throughput(&mut c);
    c.final_summary();
}
