//! Concurrency patterns built on arbor's nurseries, cancel scopes and
//! primitives (crate `arbor-patterns`, re-exported as `arbor::patterns`).
//!
//! Every pattern here is structured: whatever it spawns is a nursery child
//! of the caller's task tree, so nothing it starts outlives the call or
//! the scope it lives in, and cancelling the caller's scope cancels its
//! work.

#![warn(missing_docs)]

mod checkpoint;

pub mod map;
pub use map::{MapUnordered, map_concurrent, map_concurrent_unordered, try_map_concurrent};

pub mod retry;
pub use retry::{AttemptError, RetryError, RetryPolicy, retry};

mod pool;
pub use pool::{Pool, PoolBuilder, PoolError, PoolGuard, PoolStatistics};

pub mod worker;
pub use worker::{WorkerError, WorkerPool};
