//! The thread-offload workloads, shared by the criterion bench
//! (`blocking`) and the paired runner (`paired_blocking`): arbor's
//! `to_thread::run_sync` (with its default capacity limiter of 40, as its
//! users get it) against tokio's `spawn_blocking` (current_thread +
//! `LocalSet`).
//!
//! - round trip: 10,000 offloads of a trivial closure, one after
//!   another (the latency of a hop to a worker and back);
//! - fan-out: 100 tasks × 100 offloads each, at once.
#![allow(dead_code)] // each bench uses its own subset

pub const ROUND_TRIPS: u64 = 10_000;
pub const TASKS: u64 = 100;
pub const PER_TASK: u64 = 100;

/// As `#[tokio::main(flavor = "current_thread")]` builds it: with the I/O
/// and time drivers, so an idle runtime parks in `epoll_wait` (arbor, with
/// no fd registered, parks on a futex).
pub fn tokio_rt() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

/// Without drivers (`Builder::new_current_thread().build()`): an idle
/// runtime parks on a condition variable, which a worker wakes faster than
/// an eventfd wakes `epoll_wait`. Not what `#[tokio::main]` builds, but
/// what a program without I/O may use, and the closest to arbor's futex
/// park.
pub fn tokio_rt_no_drivers() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

pub async fn arbor_round_trip() {
    let mut sum = 0;
    for i in 0..ROUND_TRIPS {
        sum += arbor::to_thread::run_sync(move || i).await;
    }
    assert_eq!(sum, ROUND_TRIPS * (ROUND_TRIPS - 1) / 2);
}

pub async fn tokio_round_trip() {
    let mut sum = 0;
    for i in 0..ROUND_TRIPS {
        sum += tokio::task::spawn_blocking(move || i).await.expect("job");
    }
    assert_eq!(sum, ROUND_TRIPS * (ROUND_TRIPS - 1) / 2);
}

pub async fn arbor_fan_out() {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            arbor::spawn(async move {
                let mut sum = 0;
                for i in 0..PER_TASK {
                    sum += arbor::to_thread::run_sync(move || t + i).await;
                }
                sum
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert!(total > 0);
}

pub async fn tokio_fan_out() {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            tokio::task::spawn_local(async move {
                let mut sum = 0;
                for i in 0..PER_TASK {
                    sum += tokio::task::spawn_blocking(move || t + i)
                        .await
                        .expect("job");
                }
                sum
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert!(total > 0);
}
