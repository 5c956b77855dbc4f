//! arbor's structured concurrency: nurseries and cancel scopes.
//!
//! A [`nursery`] runs a body and the children it spawns, and completes only
//! when all of them have; the first failure cancels the rest, and every
//! failure comes back as one [`ErrorGroup`]. A [`CancelScope`] wraps a
//! future that can be cancelled as a unit, by a [`CancelHandle`] or a
//! deadline; [`move_on_after`] and [`fail_after`] are scopes with a
//! timeout, [`shield`] protects cleanup from outer cancellation.
//!
//! The scope tree, and the one guard every scope here runs its code in
//! (`arbor_runtime::scope::Region`), live in the runtime; this crate is
//! the API users hold.
//!
//! # Cancellation semantics
//!
//! trio's, in Rust's drop model: a cancelled scope drops the future it
//! wraps.
//!
//! - Prompt (the code inside is woken and dropped in the tick that
//!   cancelled it) and level-triggered (arbor operations inside make no
//!   progress); a drop happens only at a suspension, and a scope entered
//!   already cancelled runs to its first one. Cancelled code is dropped,
//!   never frozen.
//! - A scope catches only its own cancellation (handle, deadline, or a
//!   failure in its nursery), and only if no enclosing cancellation is
//!   visible to it; errors, panics and values pass through every other
//!   scope. A nursery's exit is not a cancel point: under an enclosing
//!   cancellation it drops its body and unshielded children, waits for
//!   shielded ones, and reports its error group, the body's value, or
//!   nothing.
//! - A shielded scope still catches its own cancellation; the first cause
//!   of a cancellation is the one reported; a timeout's deadline counts
//!   from entry; a `cancelled()` future holds a drop back only while it is
//!   awaited; `start` runs its child in the caller's context until
//!   `started()`; a nursery stopped through its own cancel scope returns
//!   [`NurseryError::Cancelled`], which a child passing it on with `?` does
//!   not turn into a failure.
//!
//! ```
//! use std::time::Duration;
//! use arbor_nursery::{NurseryError, move_on_after, nursery, shield};
//!
//! let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     // The timeout drops the body at 1 s; a child finishing its cleanup
//!     // in a shield fails at 2 s, and that failure still gets out.
//!     let out = move_on_after(Duration::from_secs(1), nursery(async |n| {
//!         n.spawn(async {
//!             shield(arbor_runtime::time::sleep(Duration::from_secs(2))).await;
//!             Err::<(), _>(std::io::Error::other("cleanup failed"))
//!         });
//!         arbor_runtime::time::sleep(Duration::from_secs(3600)).await;
//!     }))
//!     .await;
//!     assert!(matches!(out, Some(Err(NurseryError::Failed(_)))));
//! });
//! ```
//!
//! The example below is the everyday case: everything inside a timeout is
//! dropped at its deadline.
//!
//! ```
//! use std::time::Duration;
//! use arbor_nursery::{nursery, move_on_after};
//!
//! let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     // A body and two children that would run for an hour, stopped
//!     // after a second.
//!     let outcome = move_on_after(Duration::from_secs(1), nursery(async |n| {
//!         for _ in 0..2 {
//!             n.spawn(arbor_runtime::time::sleep(Duration::from_secs(3600)));
//!         }
//!         arbor_runtime::time::sleep(Duration::from_secs(3600)).await;
//!     }))
//!     .await;
//!     assert!(outcome.is_none());
//! });
//! ```

#![warn(missing_docs)]

mod cancel_scope;
mod child;
mod error;
mod join;
mod nursery;
mod outcome;
pub mod per_core;
mod remote_cancel;
mod scoped;
mod set;
mod start;
mod timeout;

pub use arbor_runtime::scope::{
    CancelReason, CancelledFuture, EffectiveDeadline, cancelled, current_effective_deadline, dump,
};
pub use cancel_scope::{CancelHandle, CancelScope};
pub use error::{AlreadyStarted, ChildError, ErrorGroup, Failure, NurseryError, StartError};
pub use join::ChildHandle;
pub use nursery::{Nursery, SERVER_KEPT_FAILURES, nursery, server, supervisor};
pub use outcome::{BoxError, Outcome, forever};
pub use remote_cancel::RemoteCancelHandle;
pub use scoped::Cancelled;
pub use set::{ChildSet, JoinNext};
pub use start::TaskStatus;
pub use timeout::{
    Elapsed, FailAfter, MoveOn, checkpoint, fail_after, fail_at, move_on_after, move_on_at, shield,
};
