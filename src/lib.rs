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
//! hatch, returning a [`JoinHandle`]; a nursery child's handle is a
//! [`ChildHandle`].
//!
//! Everything here is a re-export of `arbor-runtime` and `arbor-nursery`.

#![warn(missing_docs)]

pub use arbor_runtime::{
    Builder, JoinError, JoinHandle, Running, Runtime, RuntimeId, TaskId, TaskInfo, YieldNow,
    current_runtime_id, current_task, current_task_id, io, net, run, running, signal, spawn,
    spawn_named, task, time, yield_now,
};

/// Scopes, low-level: the scope tree, [`Region`](lowlevel::Region) (the
/// guard every cancel scope, nursery and child runs its code in) and
/// [`ScopeCell`](lowlevel::ScopeCell), for building your own structured
/// primitives; most programs need only the items at the crate root. Also
/// introspection: [`live_scopes`](lowlevel::live_scopes),
/// [`lowlevel::dump`]. Like `trio.lowlevel`.
pub mod lowlevel {
    pub use arbor_runtime::scope::*;
}

/// Synchronization primitives and channels (crate `arbor-primitives`).
pub use arbor_primitives as primitives;

pub use arbor_nursery::{
    AlreadyStarted, BoxError, CancelHandle, CancelReason, CancelScope, Cancelled, CancelledFuture,
    ChildError, ChildHandle, EffectiveDeadline, Elapsed, ErrorGroup, FailAfter, Failure, MoveOn,
    Nursery, NurseryError, Outcome, SERVER_KEPT_FAILURES, StartError, TaskStatus, cancelled,
    checkpoint, current_effective_deadline, dump, fail_after, fail_at, move_on_after, move_on_at,
    nursery, server, shield, supervisor,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
