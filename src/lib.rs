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
//! Nurseries and cancel scopes (crate `arbor-nursery`) are the structured
//! way to run tasks: a [`nursery`] owns its children and finishes only with
//! them; a [`CancelScope`] (or [`move_on_after`], [`fail_after`]) cancels
//! everything inside it at once. [`spawn`] is the unstructured escape
//! hatch, returning the runtime's [`task::JoinHandle`].
//!
//! Everything here is a re-export of `arbor-runtime` and `arbor-nursery`.

#![warn(missing_docs)]

pub use arbor_runtime::{
    Builder, JoinError, Running, Runtime, RuntimeId, TaskId, TaskInfo, YieldNow,
    current_runtime_id, current_task, current_task_id, io, net, run, running, scope, signal, spawn,
    spawn_named, task, time, yield_now,
};

/// Synchronization primitives and channels (crate `arbor-primitives`).
pub use arbor_primitives as primitives;

pub use arbor_nursery::{
    AlreadyStarted, BoxError, CancelHandle, CancelScope, Cancelled, CancelledFuture, ChildError,
    EffectiveDeadline, Elapsed, ErrorGroup, Failure, JoinHandle, Nursery, NurseryError, Outcome,
    SERVER_KEPT_FAILURES, StartError, TaskStatus, cancelled, checkpoint,
    current_effective_deadline, dump, fail_after, fail_at, move_on_after, move_on_at, nursery,
    server, shield, supervisor,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
