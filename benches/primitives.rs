//! Primitive benchmarks: arbor's semaphore, mutex and channels against
//! tokio's (`tokio::sync`, current_thread + `LocalSet`) and the smol
//! family's (`async-lock`, `async-channel` on async-executor's
//! `LocalExecutor`), the same workload in one run.
//!
//! - `semaphore`: 1,000 tasks, 10 permits, 100 acquisitions each (a yield
//!   while holding the permit).
//! - `semaphore_uncontended`: one acquire (polled once) and release.
//! - `mutex`: 100 tasks × 1,000 lock/unlock, yielding while holding it.
//! - `mutex_uncontended`: one `lock().await` (polled once) and unlock.
//! - `ping_pong`: two tasks, a bounded(1) channel each way, 100,000 round
//!   trips (tokio `mpsc`, `async-channel`).
//! - `channel_throughput`: one producer, one consumer, 1,000,000 items
//!   through a bounded(1024) channel.
//!
//! ```text
//! cargo bench --bench primitives && cargo bench --bench ratios
//! ```

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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

/// Poll a future that must be ready at once.
fn ready_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("expected an uncontended, immediately ready future"),
    }
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

fn semaphore_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore_uncontended");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    arbor.block_on(async {
        let sem = arbor::primitives::Semaphore::new(1);
        group.bench_function("arbor", |b| b.iter(|| drop(ready_now(sem.acquire()))));
    });
    let (rt, local) = tokio_rt();
    local.block_on(&rt, async {
        let sem = tokio::sync::Semaphore::new(1);
        // Unconstrained: tokio's coop budget would otherwise make every
        // 128th poll return Pending.
        group.bench_function("tokio", |b| {
            b.iter(|| drop(ready_now(tokio::task::unconstrained(sem.acquire()))))
        });
    });
    let sem = async_lock::Semaphore::new(1);
    group.bench_function("async-executor", |b| {
        b.iter(|| drop(ready_now(sem.acquire())))
    });
    group.finish();
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
    let mut group = c.benchmark_group("mutex_uncontended");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    arbor.block_on(async {
        let m = arbor::primitives::Mutex::new(0u64);
        group.bench_function("arbor", |b| b.iter(|| drop(ready_now(m.lock()))));
    });
    let (rt, local) = tokio_rt();
    local.block_on(&rt, async {
        let m = tokio::sync::Mutex::new(0u64);
        group.bench_function("tokio", |b| {
            b.iter(|| drop(ready_now(tokio::task::unconstrained(m.lock()))))
        });
    });
    let m = async_lock::Mutex::new(0u64);
    group.bench_function("async-executor", |b| b.iter(|| drop(ready_now(m.lock()))));
    group.finish();
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
