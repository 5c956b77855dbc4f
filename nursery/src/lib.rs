//! arbor's structured concurrency: nurseries and cancel scopes.
//!
//! A [`nursery`] runs a body and the children it spawns, and completes only
//! when all of them have; the first failure cancels the rest, and every
//! failure comes back as one [`ErrorGroup`]. A [`CancelScope`] wraps a
//! future that can be cancelled as a unit, by a [`CancelHandle`] or a
//! deadline; [`move_on_after`] and [`fail_after`] are scopes with a
//! timeout, [`shield`] protects cleanup from outer cancellation.
//!
//! The semantics are trio's, in Rust's drop model: a cancelled scope drops
//! its future. Cancellation is prompt (the tasks inside are woken at once),
//! level-triggered (arbor operations inside a cancelled scope make no
//! progress), and never cuts code between two suspensions in half. The
//! scope tree lives in the runtime (`arbor_runtime::scope`); this crate is
//! the API users hold.
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
mod scoped;
mod start;
mod timeout;

pub use arbor_runtime::scope::{
    CancelReason, CancelledFuture, EffectiveDeadline, cancelled, current_effective_deadline, dump,
};
pub use cancel_scope::{CancelHandle, CancelScope};
pub use error::{AlreadyStarted, ChildError, ErrorGroup, Failure, NurseryError, StartError};
pub use join::ChildHandle;
pub use nursery::{Nursery, SERVER_KEPT_FAILURES, nursery, server, supervisor};
pub use outcome::{BoxError, Outcome};
pub use scoped::Cancelled;
pub use start::TaskStatus;
pub use timeout::{
    Elapsed, FailAfter, MoveOn, checkpoint, fail_after, fail_at, move_on_after, move_on_at, shield,
};
