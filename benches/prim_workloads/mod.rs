//! The primitive workloads, written once per runtime and shared by the
//! criterion bench (`primitives`) and the paired runner
//! (`paired_primitives`): each peer is used the way its users use it
//! (tokio's `sync` types on current_thread + `LocalSet`, async-lock and
//! async-channel on async-executor's `LocalExecutor`). arbor's lock and
//! semaphore workloads take `fast`: the explicit fast mode
//! (`with_fast_acquire(true)`), which skips the schedule point of an
//! uncontended acquire.
//!
//! - `semaphore`: 1,000 tasks, 10 permits, 100 acquisitions each (a yield
//!   while holding the permit).
//! - `*_uncontended`: acquire and release awaited in a loop in one task.
//! - `mutex`: 100 tasks × 1,000 lock/unlock, yielding while holding it.
//! - `ping_pong`: two tasks, a bounded(1) channel each way, 100,000 round
//!   trips (tokio `mpsc`, `async-channel`).
//! - `channel_throughput`: one producer, one consumer, 1,000,000 items
//!   through a bounded(1024) channel.
//! - `mpsc`: 10 producers × 100,000 items into one bounded(1024) channel,
//!   one consumer.

#![allow(dead_code)] // each bench uses its own subset

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use arbor::primitives::{Mutex, Semaphore, channel};
use async_executor::LocalExecutor;

pub const SEM_TASKS: usize = 1_000;
pub const SEM_PERMITS: usize = 10;
pub const SEM_ROUNDS: usize = 100;
pub const MUTEX_TASKS: usize = 100;
pub const MUTEX_ROUNDS: usize = 1_000;
pub const ROUND_TRIPS: u32 = 100_000;
pub const ITEMS: u32 = 1_000_000;
pub const CAPACITY: usize = 1024;
pub const PRODUCERS: u32 = 10;

// Re-exported for the bench targets that glob-import this module.
#[allow(unused_imports)]
pub use crate::setup::tokio_rt;

// semaphore

pub async fn arbor_semaphore(fast: bool) {
    let sem = Rc::new(Semaphore::new(SEM_PERMITS).with_fast_acquire(fast));
    let done = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..SEM_TASKS)
        .map(|_| {
            let (sem, done) = (sem.clone(), done.clone());
            arbor::spawn(async move {
                for _ in 0..SEM_ROUNDS {
                    let _p = sem.acquire().await;
                    arbor::yield_now().await;
                    done.set(done.get() + 1);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(done.get(), SEM_TASKS * SEM_ROUNDS);
}

pub async fn tokio_semaphore() {
    let sem = Rc::new(tokio::sync::Semaphore::new(SEM_PERMITS));
    let done = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..SEM_TASKS)
        .map(|_| {
            let (sem, done) = (sem.clone(), done.clone());
            tokio::task::spawn_local(async move {
                for _ in 0..SEM_ROUNDS {
                    let _p = sem.acquire().await.expect("open");
                    tokio::task::yield_now().await;
                    done.set(done.get() + 1);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(done.get(), SEM_TASKS * SEM_ROUNDS);
}

pub async fn smol_semaphore(ex: Rc<LocalExecutor<'static>>) {
    let sem = Rc::new(async_lock::Semaphore::new(SEM_PERMITS));
    let done = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..SEM_TASKS)
        .map(|_| {
            let (sem, done) = (sem.clone(), done.clone());
            ex.spawn(async move {
                for _ in 0..SEM_ROUNDS {
                    let _p = sem.acquire().await;
                    futures_lite::future::yield_now().await;
                    done.set(done.get() + 1);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(done.get(), SEM_TASKS * SEM_ROUNDS);
}

// mutex

pub async fn arbor_mutex(fast: bool) {
    let m = Rc::new(Mutex::new(0u64).with_fast_acquire(fast));
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
}

pub async fn tokio_mutex() {
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
}

pub async fn smol_mutex(ex: Rc<LocalExecutor<'static>>) {
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
}

// uncontended: `iters` acquisitions awaited in one task, timed inside.

pub async fn arbor_semaphore_uncontended(fast: bool, iters: u64) -> Duration {
    let sem = Semaphore::new(1).with_fast_acquire(fast);
    let start = Instant::now();
    for _ in 0..iters {
        drop(std::hint::black_box(sem.acquire().await));
    }
    start.elapsed()
}

pub async fn tokio_semaphore_uncontended(iters: u64) -> Duration {
    let sem = tokio::sync::Semaphore::new(1);
    let start = Instant::now();
    for _ in 0..iters {
        // Unconstrained: tokio's coop budget would make every 128th
        // acquire yield.
        let permit = tokio::task::unconstrained(sem.acquire()).await;
        drop(std::hint::black_box(permit.expect("open")));
    }
    start.elapsed()
}

pub async fn smol_semaphore_uncontended(iters: u64) -> Duration {
    let sem = async_lock::Semaphore::new(1);
    let start = Instant::now();
    for _ in 0..iters {
        drop(std::hint::black_box(sem.acquire().await));
    }
    start.elapsed()
}

pub async fn arbor_mutex_uncontended(fast: bool, iters: u64) -> Duration {
    let m = Mutex::new(0u64).with_fast_acquire(fast);
    let start = Instant::now();
    for _ in 0..iters {
        drop(std::hint::black_box(m.lock().await.expect("not reentered")));
    }
    start.elapsed()
}

pub async fn tokio_mutex_uncontended(iters: u64) -> Duration {
    let m = tokio::sync::Mutex::new(0u64);
    let start = Instant::now();
    for _ in 0..iters {
        drop(std::hint::black_box(
            tokio::task::unconstrained(m.lock()).await,
        ));
    }
    start.elapsed()
}

pub async fn smol_mutex_uncontended(iters: u64) -> Duration {
    let m = async_lock::Mutex::new(0u64);
    let start = Instant::now();
    for _ in 0..iters {
        drop(std::hint::black_box(m.lock().await));
    }
    start.elapsed()
}

// ping_pong

pub async fn arbor_ping_pong() {
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
}

pub async fn tokio_ping_pong() {
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
}

pub async fn smol_ping_pong(ex: Rc<LocalExecutor<'static>>) {
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
}

// channel_throughput

pub async fn arbor_channel_throughput() -> u64 {
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
}

pub async fn tokio_channel_throughput() -> u64 {
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
}

pub async fn smol_channel_throughput(ex: Rc<LocalExecutor<'static>>) -> u64 {
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
}

// mpsc

const MPSC_SUM: u64 = PRODUCERS as u64 * (ITEMS / PRODUCERS) as u64;

pub async fn arbor_mpsc() {
    let (tx, rx) = channel::bounded::<u32>(CAPACITY);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let tx = tx.clone();
            arbor::spawn(async move {
                for _ in 0..ITEMS / PRODUCERS {
                    tx.send(1).await.expect("open");
                }
            })
        })
        .collect();
    drop(tx);
    let mut sum = 0u64;
    while let Ok(n) = rx.recv().await {
        sum += u64::from(n);
    }
    for p in producers {
        p.await.expect("producer");
    }
    assert_eq!(sum, MPSC_SUM);
}

pub async fn tokio_mpsc() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                for _ in 0..ITEMS / PRODUCERS {
                    tx.send(1).await.expect("open");
                }
            })
        })
        .collect();
    drop(tx);
    let mut sum = 0u64;
    while let Some(n) = rx.recv().await {
        sum += u64::from(n);
    }
    for p in producers {
        p.await.expect("producer");
    }
    assert_eq!(sum, MPSC_SUM);
}

pub async fn smol_mpsc(ex: Rc<LocalExecutor<'static>>) {
    let (tx, rx) = async_channel::bounded::<u32>(CAPACITY);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let tx = tx.clone();
            ex.spawn(async move {
                for _ in 0..ITEMS / PRODUCERS {
                    tx.send(1).await.expect("open");
                }
            })
        })
        .collect();
    drop(tx);
    let mut sum = 0u64;
    while let Ok(n) = rx.recv().await {
        sum += u64::from(n);
    }
    for p in producers {
        p.await;
    }
    assert_eq!(sum, MPSC_SUM);
}
