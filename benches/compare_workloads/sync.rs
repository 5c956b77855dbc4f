//! Channels, semaphores and events: `ping_pong`, `channel_throughput`,
//! `many_senders`, `semaphore`, `park_wake_100k`. arbor's primitives,
//! tokio's `sync`, and for async-executor what smol users reach for
//! (async-channel, async-lock, event-listener).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use arbor::primitives::{Event, channel};

use super::{Ex, three, three_timed};
use crate::pairing::Workload;
use crate::prim_workloads::{arbor_semaphore, smol_semaphore, tokio_semaphore};

const ROUND_TRIPS: u32 = 100_000;
const ITEMS: u32 = 1_000_000;
const CAPACITY: usize = 1024;
const SENDERS: u32 = 100;
const PER_SENDER: u32 = 1_000;
const SENDERS_CAPACITY: usize = 16;
const PARKED: usize = 100_000;

/// 0 + 1 + ... + (n - 1).
fn triangle(n: u32) -> u64 {
    u64::from(n) * (u64::from(n) - 1) / 2
}

// ping_pong: two tasks, a bounded(1) channel each way.

async fn arbor_ping_pong() {
    let (ping_tx, ping_rx) = channel::bounded::<u32>(1);
    let (pong_tx, pong_rx) = channel::bounded::<u32>(1);
    let echo = arbor::spawn(async move {
        let mut n = 0;
        while let Ok(i) = ping_rx.recv().await {
            pong_tx.send(i).await.expect("pong");
            n += 1;
        }
        n
    });
    let ping = arbor::spawn(async move {
        for i in 0..ROUND_TRIPS {
            ping_tx.send(i).await.expect("ping");
            assert_eq!(pong_rx.recv().await.expect("pong"), i);
        }
    });
    ping.await.expect("ping");
    assert_eq!(echo.await.expect("echo"), ROUND_TRIPS);
}

async fn tokio_ping_pong() {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u32>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u32>(1);
    let echo = tokio::task::spawn_local(async move {
        let mut n = 0;
        while let Some(i) = ping_rx.recv().await {
            pong_tx.send(i).await.expect("pong");
            n += 1;
        }
        n
    });
    let ping = tokio::task::spawn_local(async move {
        for i in 0..ROUND_TRIPS {
            ping_tx.send(i).await.expect("ping");
            assert_eq!(pong_rx.recv().await.expect("pong"), i);
        }
    });
    ping.await.expect("ping");
    assert_eq!(echo.await.expect("echo"), ROUND_TRIPS);
}

async fn smol_ping_pong(ex: Ex) {
    let (ping_tx, ping_rx) = async_channel::bounded::<u32>(1);
    let (pong_tx, pong_rx) = async_channel::bounded::<u32>(1);
    let echo = ex.spawn(async move {
        let mut n = 0;
        while let Ok(i) = ping_rx.recv().await {
            pong_tx.send(i).await.expect("pong");
            n += 1;
        }
        n
    });
    let ping = ex.spawn(async move {
        for i in 0..ROUND_TRIPS {
            ping_tx.send(i).await.expect("ping");
            assert_eq!(pong_rx.recv().await.expect("pong"), i);
        }
    });
    ping.await;
    assert_eq!(echo.await, ROUND_TRIPS);
}

// channel_throughput: a producer task and a consumer task, bounded(1024).

async fn arbor_channel_throughput() {
    let (tx, rx) = channel::bounded::<u32>(CAPACITY);
    let producer = arbor::spawn(async move {
        for i in 0..ITEMS {
            tx.send(i).await.expect("open");
        }
    });
    let consumer = arbor::spawn(async move {
        let mut sum = 0u64;
        while let Ok(n) = rx.recv().await {
            sum += u64::from(n);
        }
        sum
    });
    producer.await.expect("producer");
    assert_eq!(consumer.await.expect("consumer"), triangle(ITEMS));
}

async fn tokio_channel_throughput() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
    let producer = tokio::task::spawn_local(async move {
        for i in 0..ITEMS {
            tx.send(i).await.expect("open");
        }
    });
    let consumer = tokio::task::spawn_local(async move {
        let mut sum = 0u64;
        while let Some(n) = rx.recv().await {
            sum += u64::from(n);
        }
        sum
    });
    producer.await.expect("producer");
    assert_eq!(consumer.await.expect("consumer"), triangle(ITEMS));
}

async fn smol_channel_throughput(ex: Ex) {
    let (tx, rx) = async_channel::bounded::<u32>(CAPACITY);
    let producer = ex.spawn(async move {
        for i in 0..ITEMS {
            tx.send(i).await.expect("open");
        }
    });
    let consumer = ex.spawn(async move {
        let mut sum = 0u64;
        while let Ok(n) = rx.recv().await {
            sum += u64::from(n);
        }
        sum
    });
    producer.await;
    assert_eq!(consumer.await, triangle(ITEMS));
}

// many_senders: 100 sender tasks into one bounded(16) channel, one
// receiver task.

async fn arbor_many_senders() {
    let (tx, rx) = channel::bounded::<u32>(SENDERS_CAPACITY);
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let tx = tx.clone();
            arbor::spawn(async move {
                for i in 0..PER_SENDER {
                    tx.send(i).await.expect("open");
                }
            })
        })
        .collect();
    drop(tx);
    let receiver = arbor::spawn(async move {
        let mut sum = 0u64;
        while let Ok(n) = rx.recv().await {
            sum += u64::from(n);
        }
        sum
    });
    for s in senders {
        s.await.expect("sender");
    }
    let sum = receiver.await.expect("receiver");
    assert_eq!(sum, u64::from(SENDERS) * triangle(PER_SENDER));
}

async fn tokio_many_senders() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(SENDERS_CAPACITY);
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                for i in 0..PER_SENDER {
                    tx.send(i).await.expect("open");
                }
            })
        })
        .collect();
    drop(tx);
    let receiver = tokio::task::spawn_local(async move {
        let mut sum = 0u64;
        while let Some(n) = rx.recv().await {
            sum += u64::from(n);
        }
        sum
    });
    for s in senders {
        s.await.expect("sender");
    }
    let sum = receiver.await.expect("receiver");
    assert_eq!(sum, u64::from(SENDERS) * triangle(PER_SENDER));
}

async fn smol_many_senders(ex: Ex) {
    let (tx, rx) = async_channel::bounded::<u32>(SENDERS_CAPACITY);
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let tx = tx.clone();
            ex.spawn(async move {
                for i in 0..PER_SENDER {
                    tx.send(i).await.expect("open");
                }
            })
        })
        .collect();
    drop(tx);
    let receiver = ex.spawn(async move {
        let mut sum = 0u64;
        while let Ok(n) = rx.recv().await {
            sum += u64::from(n);
        }
        sum
    });
    for s in senders {
        s.await;
    }
    let sum = receiver.await;
    assert_eq!(sum, u64::from(SENDERS) * triangle(PER_SENDER));
}

// park_wake_100k: 100,000 tasks wait on one event; once all are parked,
// one call wakes them all. Timed: from that call until every task is
// joined.

/// Yield until `count` reaches `n` (every task has parked).
async fn until(count: &Cell<usize>, n: usize, yield_now: impl AsyncFn()) {
    while count.get() < n {
        yield_now().await;
    }
}

async fn arbor_park_wake() -> Duration {
    let event = Rc::new(Event::new());
    let parked = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..PARKED)
        .map(|_| {
            let (event, parked) = (event.clone(), parked.clone());
            arbor::spawn(async move {
                parked.set(parked.get() + 1);
                event.wait().await;
                1
            })
        })
        .collect();
    until(&parked, PARKED, arbor::yield_now).await;
    let start = Instant::now();
    event.set();
    let mut woken = 0;
    for t in tasks {
        woken += t.await.expect("task");
    }
    let elapsed = start.elapsed();
    assert_eq!(woken, PARKED);
    elapsed
}

async fn tokio_park_wake() -> Duration {
    let notify = Rc::new(tokio::sync::Notify::new());
    let parked = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..PARKED)
        .map(|_| {
            let (notify, parked) = (notify.clone(), parked.clone());
            tokio::task::spawn_local(async move {
                parked.set(parked.get() + 1);
                notify.notified().await;
                1
            })
        })
        .collect();
    until(&parked, PARKED, tokio::task::yield_now).await;
    let start = Instant::now();
    notify.notify_waiters();
    let mut woken = 0;
    for t in tasks {
        woken += t.await.expect("task");
    }
    let elapsed = start.elapsed();
    assert_eq!(woken, PARKED);
    elapsed
}

async fn smol_park_wake(ex: Ex) -> Duration {
    let event = Rc::new(event_listener::Event::new());
    let set = Rc::new(Cell::new(false));
    let parked = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..PARKED)
        .map(|_| {
            let (event, set, parked) = (event.clone(), set.clone(), parked.clone());
            ex.spawn(async move {
                parked.set(parked.get() + 1);
                // event-listener's pattern: check, listen, check, wait.
                while !set.get() {
                    let listener = event.listen();
                    if set.get() {
                        break;
                    }
                    listener.await;
                }
                1
            })
        })
        .collect();
    until(&parked, PARKED, futures_lite::future::yield_now).await;
    let start = Instant::now();
    set.set(true);
    event.notify(usize::MAX);
    let mut woken = 0;
    for t in tasks {
        woken += t.await;
    }
    let elapsed = start.elapsed();
    assert_eq!(woken, PARKED);
    elapsed
}

pub fn workloads() -> Vec<Workload> {
    vec![
        three(
            "ping_pong",
            arbor_ping_pong,
            tokio_ping_pong,
            smol_ping_pong,
        ),
        three(
            "channel_throughput",
            arbor_channel_throughput,
            tokio_channel_throughput,
            smol_channel_throughput,
        ),
        three(
            "many_senders",
            arbor_many_senders,
            tokio_many_senders,
            smol_many_senders,
        ),
        three(
            "semaphore",
            || arbor_semaphore(false),
            tokio_semaphore,
            smol_semaphore,
        ),
        three_timed(
            "park_wake_100k",
            arbor_park_wake,
            tokio_park_wake,
            smol_park_wake,
        ),
    ]
}
