//! Concurrency patterns built on arbor's nurseries, cancel scopes and
//! primitives (crate `arbor-patterns`, re-exported as `arbor::patterns`).
//!
//! Every pattern here is structured: whatever it spawns is a nursery child
//! of the caller's task tree, so nothing it starts outlives the call or
//! the scope it lives in, and cancelling the caller's scope cancels its
//! work.

#![warn(missing_docs)]

pub mod worker;
pub use worker::{WorkerError, WorkerPool};
