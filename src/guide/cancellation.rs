//! # Cancellation semantics
//!
//! trio's guarantees, in Rust's drop model: a cancelled scope *drops* the
//! future it wraps. There is no exception to catch and no flag to poll:
//! the code stops at an `.await` and its destructors run. Each rule below
//! is a test in `tests/cancellation_semantics.rs` (or, for checkpoints,
//! `tests/checkpoints.rs`).
//!
//! ## When code is dropped
//!
//! - **Prompt.** Cancelling a scope wakes the code inside and drops it in
//!   the same scheduler tick, even if it was parked on a timer an hour
//!   away.
//! - **Level-triggered.** Once a scope is cancelled, arbor operations
//!   awaited inside it (outside a shield) make no progress, and one first
//!   polled there never takes effect: a `send` does not send, an `acquire`
//!   takes nothing.
//! - **Only at a suspension.** Code between two suspensions is never cut
//!   in half: a scope entered already cancelled (a past deadline, a handle
//!   cancelled beforehand) runs its code to the first suspension, and a
//!   child spawned into a cancelled nursery runs its first step.
//! - **Dropped, never frozen.** A cancelled nursery body is dropped at
//!   once, not kept around while shielded children finish, and is never
//!   polled again, even if a non-arbor future inside it wakes it.
//!
//! ```
//! use std::cell::Cell;
//! use std::time::Duration;
//! use arbor::{CancelScope, time};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let steps = Cell::new(0);
//!     let scope = CancelScope::new();
//!     scope.cancel(); // before it is entered
//!     let out = scope
//!         .run(async {
//!             steps.set(1); // runs: a scope always runs to its first suspension
//!             time::sleep(Duration::ZERO).await; // dropped here
//!             steps.set(2);
//!         })
//!         .await;
//!     assert!(out.is_err());
//!     assert_eq!(steps.get(), 1);
//! });
//! ```
//!
//! ## Which scope catches it
//!
//! - **A scope catches only its own cancellation** (its handle, its
//!   deadline, or a failure in its nursery), and only if no enclosing
//!   cancellation is visible to it; anything else passes through it
//!   untouched, errors and values included.
//! - **A nursery's exit is not a cancel point.** Under an enclosing
//!   cancellation a nursery drops its body and unshielded children, waits
//!   for shielded ones, then reports its error group, the body's value if
//!   the body had returned, or nothing (the enclosing scope then catches).
//!   A panic is re-raised after every child is done.
//! - **First cause wins.** A scope its deadline cancelled reports
//!   [`by_deadline`](crate::Cancelled::by_deadline) even if cancelled
//!   explicitly afterwards; a nursery a failure cancelled reports
//!   [`CancelReason::Failure`](crate::CancelReason). An unentered scope
//!   whose deadline has passed is already
//!   [`cancel_called`](crate::CancelScope::cancel_called), and moving the
//!   deadline later never un-cancels it.
//! - **A nursery stopped through its own cancel scope** returns
//!   [`NurseryError::Cancelled`](crate::NurseryError); a child that passes
//!   that (or a scope's own [`Cancelled`](crate::Cancelled)) on with `?`
//!   ends as cancelled, not failed, so it does not fail its parent
//!   nursery.
//!
//! ```
//! use std::time::Duration;
//! use arbor::{NurseryError, move_on_after, nursery, shield, time};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let out = move_on_after(Duration::from_secs(1), nursery(async |n| {
//!         n.spawn(async {
//!             shield(time::sleep(Duration::from_secs(2))).await; // cleanup
//!             Err::<(), _>(std::io::Error::other("failed during cleanup"))
//!         });
//!         time::sleep(Duration::from_secs(3600)).await;
//!     }))
//!     .await;
//!     // The timeout dropped the body; the nursery's error group still got
//!     // out, through the timeout that had cancelled it.
//!     assert!(matches!(out, Some(Err(NurseryError::Failed(_)))));
//! });
//! ```
//!
//! ## Deadlines
//!
//! A timeout counts from entry: from a clock reading taken at the first
//! scope entered in that task poll (one `clock_gettime` per poll, however
//! many timeouts), so at most the time that poll had already run, early.
//!
//! ## Waiting for a cancellation
//!
//! [`cancelled()`](crate::cancelled) resolves once the scope around it is
//! cancelled. Nothing holds a cancelled region open: a `cancelled()`
//! future only delays the drop while it is actually awaited (it then
//! resolves, and the code after it runs to its next suspension); one
//! polled once and kept (a losing `select` arm) does not.
//!
//! ## `start`
//!
//! [`Nursery::start`](crate::Nursery::start) runs the child in the
//! caller's context until `started()`: the child is a task of its own
//! from the start, under the caller's scope, and its first step runs at
//! once. Cancelling the caller before `started()` cancels the child; a
//! failure before it fails the `start` call, not the nursery; and a child
//! that calls `started()` at its first step starts even from a cancelled
//! scope. From `started()` on the child belongs to the nursery: a caller
//! cancelled before it got the value loses the value, not the child.
//!
//! ## Checkpoints
//!
//! Every arbor operation is a *checkpoint* (trio's word): a **cancel
//! point**, then a **schedule point** even when it did not have to wait (a
//! free lock, a set event, a send with room, a finished child, an empty
//! nursery's exit, a sleep already due, I/O that completes at once). So
//! tasks looping on a lock take turns, as under trio. The schedule point
//! comes after the operation took effect and cannot be cancelled: the
//! result is kept over the yield and returned at the next poll, which the
//! scopes around give it before dropping anything. When nothing else is
//! ready the yield is skipped (it would only come back), at most 128
//! times in a row per poll, so a loop of operations that complete at once
//! still lets timers and I/O in.
//!
//! [`checkpoint`](crate::checkpoint) is a bare one, for CPU-bound loops:
//! it always yields, and inside a cancelled scope it is where the code is
//! dropped.
//!
//! ```
//! use std::time::Duration;
//! use arbor::{checkpoint, move_on_after};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let mut iterations = 0u64;
//!     let out = move_on_after(Duration::from_millis(10), async {
//!         loop {
//!             iterations += 1; // stands in for a slice of real work
//!             arbor::time::advance(Duration::from_millis(1));
//!             checkpoint().await; // the timeout can drop the loop here
//!         }
//!     })
//!     .await;
//!     assert_eq!(out, None);
//!     assert_eq!(iterations, 10);
//! });
//! ```
//!
//! [`Lock`](crate::primitives::Lock), `Mutex`, `ReentrantLock`, `RwLock`,
//! `Semaphore` and `CapacityLimiter` have a fast mode
//! (`with_fast_acquire(true)`, AnyIO's `fast_acquire`) that skips the
//! schedule point of an uncontended acquire.
//!
//! ## What "cancel safe" means here
//!
//! A future is *cancel safe* if dropping it before it completes loses
//! nothing: whatever it had done is either undone or kept where the next
//! call finds it. In arbor a drop can come from a cancelled scope (at a
//! suspension, never in the middle of an operation), a timeout, a losing
//! branch of a `select`-like combinator, or
//! [`JoinHandle::abort`](crate::JoinHandle::abort). Each async item's
//! docs have a `# Cancel safety` section; the rules of thumb:
//!
//! - **Primitives** ([`primitives`](crate::primitives)): cancel safe in
//!   both orders. A waiter dropped before its grant consumes nothing; one
//!   dropped after it was granted passes the grant (the lock, permit,
//!   token) to the next waiter. A channel `recv` dropped takes no item (one
//!   already handed to it goes back to the front of the buffer); a `send`
//!   dropped while it waits sent nothing (the item is dropped with the
//!   future), and one that already took effect counts as sent.
//! - **Nurseries and scopes**: dropping a nursery future drops its body
//!   and every child at once; dropping a timeout or a scope drops the
//!   future inside; a [`ChildHandle`](crate::ChildHandle) or
//!   [`ChildSet::join_next`](crate::ChildSet::join_next) dropped at any
//!   point keeps the result for the next await.
//! - **Sockets**: an accept, a `recv`/`recv_from` of a datagram, a
//!   `read` dropped before it returned consumed nothing; a `write` or a
//!   `send` dropped before it returned sent nothing. Composite operations
//!   (`read_exact`, `write_all`) are not cancel safe: bytes moved before
//!   the drop are gone, as with tokio. An operation that completed at
//!   once is kept over its schedule point, which no scope interrupts; only
//!   a task abort there drops it (a datagram received and lost, a write
//!   done but not reported).
//! - **Blocking work**: [`to_thread::run_sync`](crate::to_thread::run_sync)
//!   waits shielded by default, so the closure's result is never lost; a
//!   call made abandon-on-cancel returns at once and the closure runs on
//!   unseen.
//! - **Files**: a [`File`](crate::fs::File) owns its operation in flight,
//!   so a dropped read, write or seek loses no bytes and no position.
