//! # arbor
//!
//! A single-threaded async runtime for Rust with structured concurrency
//! built into the executor. Tasks live in a slab owned by the runtime,
//! timers in a hierarchical timer wheel, I/O readiness comes from an epoll
//! reactor, and the scope tree that nurseries and cancel scopes build on is
//! an executor concept.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! let log = rt.block_on(async {
//!     let a = arbor::spawn(async {
//!         arbor::time::sleep(Duration::from_secs(60)).await;
//!         "a minute"
//!     });
//!     let b = arbor::spawn(async {
//!         arbor::time::sleep(Duration::from_secs(1)).await;
//!         "a second"
//!     });
//!     (b.await.unwrap(), a.await.unwrap())
//! });
//! assert_eq!(log, ("a second", "a minute")); // and it took no real time
//! ```
//!
//! The runtime core is the `arbor-runtime` crate; everything here is a
//! re-export of it.

#![warn(missing_docs)]

pub use arbor_runtime::{
    Builder, JoinError, JoinHandle, Runtime, TaskId, TaskInfo, YieldNow, current_task, io, run,
    scope, spawn, spawn_named, task, time, yield_now,
};
