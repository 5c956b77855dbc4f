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

// Re-exported for the bench targets that glob-import this module.
#[allow(unused_imports)]
pub use crate::setup::{tokio_rt, tokio_rt_no_drivers};

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
