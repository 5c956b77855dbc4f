//! The pattern workloads, written once per side and shared by the
//! criterion bench (`patterns`) and the paired runner (`paired_patterns`).
//! Each peer runs on tokio's current_thread runtime with a `LocalSet`, the
//! way its users set it up.
//!
//! - `map_concurrent`: 100,000 trivial items (`Ok(i * 2)`), at most 100 in
//!   flight, results in input order. arbor's `map_concurrent` against
//!   tokio's `JoinSet` + `Semaphore` (a task per item, results put back in
//!   order) and `futures::stream::iter(..).buffer_unordered(100)`.
//! - `map_concurrent_yield`: the same with each item yielding once, so
//!   every item is woken and polled twice.
//! - `retry_ready`: 100,000 `retry` calls of an always-ready future (the
//!   overhead of the policy machinery) against `backon`'s
//!   `Retryable::retry` with its exponential builder.
//! - `pool_get_put`: 100,000 checkouts and returns of a pooled value by
//!   one task (max size 16), against `deadpool` (managed) and `bb8`.
//! - `pool_contended`: 64 tasks × 1,000 checkouts each, yielding while
//!   holding it, from a pool of 16.

#![allow(dead_code)] // each bench uses its own subset

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::patterns::{Pool, RetryPolicy, map_concurrent, retry};
use futures_util::StreamExt;

pub const MAP_ITEMS: u64 = 100_000;
pub const MAP_LIMIT: usize = 100;
pub const RETRY_CALLS: u64 = 100_000;
pub const POOL_OPS: u64 = 100_000;
pub const POOL_SIZE: usize = 16;
pub const POOL_TASKS: u64 = 64;
pub const POOL_ROUNDS: u64 = 1_000;

// Re-exported for the bench targets that glob-import this module.
#[allow(unused_imports)]
pub use crate::setup::tokio_rt;

fn expected_sum(items: u64) -> u64 {
    items * (items - 1)
}

// map_concurrent

pub async fn arbor_map(yield_once: bool) {
    let out = map_concurrent(0..MAP_ITEMS, MAP_LIMIT, |i| async move {
        if yield_once {
            arbor::yield_now().await;
        }
        Ok::<u64, ()>(i * 2)
    })
    .await
    .expect("no item fails");
    assert_eq!(out.len() as u64, MAP_ITEMS);
    assert_eq!(out[7], 14);
}

pub async fn tokio_joinset_map(yield_once: bool) {
    let sem = Arc::new(tokio::sync::Semaphore::new(MAP_LIMIT));
    let mut set = tokio::task::JoinSet::new();
    let mut out = vec![0u64; MAP_ITEMS as usize];
    for i in 0..MAP_ITEMS {
        let permit = sem.clone().acquire_owned().await.expect("open");
        set.spawn_local(async move {
            let _permit = permit;
            if yield_once {
                tokio::task::yield_now().await;
            }
            (i, i * 2)
        });
        // Collect what finished so the set stays small, as a user would.
        while let Some(done) = set.try_join_next() {
            let (i, v) = done.expect("task");
            out[i as usize] = v;
        }
    }
    while let Some(done) = set.join_next().await {
        let (i, v) = done.expect("task");
        out[i as usize] = v;
    }
    assert_eq!(out[7], 14);
}

pub async fn tokio_buffer_unordered_map(yield_once: bool) {
    let mut out = vec![0u64; MAP_ITEMS as usize];
    let mut stream = futures_util::stream::iter(0..MAP_ITEMS)
        .map(|i| async move {
            if yield_once {
                tokio::task::yield_now().await;
            }
            Ok::<(u64, u64), ()>((i, i * 2))
        })
        .buffer_unordered(MAP_LIMIT);
    while let Some(done) = stream.next().await {
        let (i, v) = done.expect("no item fails");
        out[i as usize] = v;
    }
    assert_eq!(out.iter().sum::<u64>(), expected_sum(MAP_ITEMS));
}

// retry

pub async fn arbor_retry_ready() -> u64 {
    let policy = RetryPolicy::<()>::new().max_attempts(3).backoff(
        Duration::from_millis(100),
        2.0,
        Duration::from_secs(10),
    );
    let mut sum = 0;
    for i in 0..RETRY_CALLS {
        sum += retry(&policy, || async move { Ok::<u64, ()>(i) })
            .await
            .expect("ready");
    }
    sum
}

pub async fn backon_retry_ready() -> u64 {
    use backon::{ExponentialBuilder, Retryable};
    let policy = ExponentialBuilder::default()
        .with_max_times(2)
        .with_min_delay(Duration::from_millis(100))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(10))
        .with_jitter();
    let mut sum = 0;
    for i in 0..RETRY_CALLS {
        sum += (|| async move { Ok::<u64, ()>(i) })
            .retry(policy)
            .await
            .expect("ready");
    }
    sum
}

// pool

pub async fn arbor_pool_get_put(ops: u64) -> Duration {
    let pool: Pool<u64, ()> = Pool::builder(async || Ok(7)).max_size(POOL_SIZE).build();
    let start = Instant::now();
    for _ in 0..ops {
        let conn = pool.get().await.expect("pool");
        std::hint::black_box(*conn);
    }
    start.elapsed()
}

pub async fn arbor_pool_contended() {
    let pool: Rc<Pool<u64, ()>> =
        Rc::new(Pool::builder(async || Ok(7)).max_size(POOL_SIZE).build());
    let tasks: Vec<_> = (0..POOL_TASKS)
        .map(|_| {
            let pool = pool.clone();
            arbor::spawn(async move {
                for _ in 0..POOL_ROUNDS {
                    let conn = pool.get().await.expect("pool");
                    arbor::yield_now().await;
                    drop(conn);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

struct DeadpoolManager;

impl deadpool::managed::Manager for DeadpoolManager {
    type Type = u64;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<u64, Self::Error> {
        Ok(7)
    }

    async fn recycle(
        &self,
        _conn: &mut u64,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        Ok(())
    }
}

fn deadpool_pool() -> deadpool::managed::Pool<DeadpoolManager> {
    deadpool::managed::Pool::builder(DeadpoolManager)
        .max_size(POOL_SIZE)
        .build()
        .expect("deadpool")
}

pub async fn deadpool_get_put(ops: u64) -> Duration {
    let pool = deadpool_pool();
    let start = Instant::now();
    for _ in 0..ops {
        let conn = pool.get().await.expect("pool");
        std::hint::black_box(*conn);
    }
    start.elapsed()
}

pub async fn deadpool_contended() {
    let pool = deadpool_pool();
    let tasks: Vec<_> = (0..POOL_TASKS)
        .map(|_| {
            let pool = pool.clone();
            tokio::task::spawn_local(async move {
                for _ in 0..POOL_ROUNDS {
                    let conn = pool.get().await.expect("pool");
                    tokio::task::yield_now().await;
                    drop(conn);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

struct Bb8Manager;

impl bb8::ManageConnection for Bb8Manager {
    type Connection = u64;
    type Error = std::convert::Infallible;

    async fn connect(&self) -> Result<u64, Self::Error> {
        Ok(7)
    }

    async fn is_valid(&self, _conn: &mut u64) -> Result<(), Self::Error> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

async fn bb8_pool() -> bb8::Pool<Bb8Manager> {
    bb8::Pool::builder()
        .max_size(POOL_SIZE as u32)
        // bb8 checks a connection on every checkout by default; deadpool and
        // arbor only when asked. Off, so all three do the same work.
        .test_on_check_out(false)
        .build(Bb8Manager)
        .await
        .expect("bb8")
}

pub async fn bb8_get_put(ops: u64) -> Duration {
    let pool = bb8_pool().await;
    let start = Instant::now();
    for _ in 0..ops {
        let conn = pool.get().await.expect("pool");
        std::hint::black_box(*conn);
    }
    start.elapsed()
}

pub async fn bb8_contended() {
    let pool = bb8_pool().await;
    let tasks: Vec<_> = (0..POOL_TASKS)
        .map(|_| {
            let pool = pool.clone();
            tokio::task::spawn_local(async move {
                for _ in 0..POOL_ROUNDS {
                    let conn = pool.get().await.expect("pool");
                    tokio::task::yield_now().await;
                    drop(conn);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}
