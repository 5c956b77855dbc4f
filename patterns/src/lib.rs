//! Concurrency patterns built on arbor's nurseries, cancel scopes and
//! primitives (crate `arbor-patterns`, re-exported as `arbor::patterns`).
//!
//! - [`Pool`]: a connection pool with a strict `max_size` (a slot is held
//!   for as long as a connection is checked out), FIFO waiters, reuse of
//!   the most recently returned connection, health checks, idle timeout,
//!   lifetime and an async close hook.
//! - [`map_concurrent`], [`try_map_concurrent`] and
//!   [`map_concurrent_unordered`]: apply an async function to many items
//!   with at most `limit` in flight; the first failure cancels the rest.
//! - [`retry()`] with a [`RetryPolicy`]: attempts, a timeout per attempt and
//!   overall, capped exponential backoff with seedable full jitter.
//! - [`WorkerPool`]: N workers over a bounded queue, with backpressure,
//!   errors and panics reported per item.
//!
//! Every pattern here is structured: what it runs is either polled inside
//! the call (the maps, `retry`) or a child of a nursery the caller passes
//! in (`WorkerPool`; a pool's `maintain` is a future the caller runs as
//! one), so nothing outlives the call or the scope it lives in, and
//! cancelling the caller's scope cancels the work. Every async function is
//! a checkpoint, as in the primitives: a cancel point, then a schedule
//! point that yields if other code is ready.

#![warn(missing_docs)]

pub mod map;
pub use map::{MapUnordered, map_concurrent, map_concurrent_unordered, try_map_concurrent};

pub mod retry;
pub use retry::{AttemptError, RetryError, RetryPolicy, retry};

mod pool;
pub use pool::{Pool, PoolBuilder, PoolError, PoolGuard, PoolStatistics};

pub mod worker;
pub use worker::{WorkerError, WorkerPool};
