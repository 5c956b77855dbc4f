//! Timeouts and shields: cancel scopes that need no handle, kept inline in
//! the future (no allocation), and the checkpoint.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arbor_runtime::scope::ScopeCell;
use arbor_runtime::time::Instant;
use pin_project_lite::pin_project;

use crate::scoped::{Cancelled, Scoped};

/// `fail_after`/`fail_at`: the deadline passed before the future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed before the operation finished (it was cancelled)")
    }
}

impl std::error::Error for Elapsed {}

/// A relative timeout: lazy, no node unless the future suspends.
#[inline]
fn after<F: Future>(timeout: Duration, future: F) -> Scoped<ScopeCell, F> {
    Scoped::lazy(ScopeCell::with_timeout(timeout), future)
}

/// An absolute deadline: entered at once (a past one cancels on entry).
#[inline]
fn at<F: Future>(deadline: Instant, future: F) -> Scoped<ScopeCell, F> {
    let cell = ScopeCell::new();
    cell.set_deadline(Some(deadline));
    Scoped::new(cell, future)
}

/// A timeout waiting: note its line, after (so behind) the inner code's.
#[inline]
fn pending_at<T>(poll: Poll<T>, at: &'static Location<'static>) -> Poll<T> {
    if poll.is_pending() {
        arbor_runtime::scope::note_await(at);
    }
    poll
}

pin_project! {
    /// The future of [`move_on_after`] and [`move_on_at`].
    #[must_use = "futures do nothing unless polled"]
    pub struct MoveOn<F> {
        #[pin]
        scoped: Scoped<ScopeCell, F>,
        // Where the timeout was made: the task's await point in
        // `arbor::dump` if the code inside noted none of its own.
        at: &'static Location<'static>,
    }
}

impl<F: Future> Future for MoveOn<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        pending_at(this.scoped.poll(cx), this.at).map(Result::ok)
    }
}

pin_project! {
    /// The future of [`fail_after`] and [`fail_at`].
    #[must_use = "futures do nothing unless polled"]
    pub struct FailAfter<F> {
        #[pin]
        scoped: Scoped<ScopeCell, F>,
        // Where the timeout was made: the task's await point in
        // `arbor::dump` if the code inside noted none of its own.
        at: &'static Location<'static>,
    }
}

impl<F: Future> Future for FailAfter<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        pending_at(this.scoped.poll(cx), this.at).map(|r| r.map_err(|_: Cancelled| Elapsed(())))
    }
}

/// Run `future` for at most `timeout`: `Some(output)`, or `None` when the
/// time ran out and the future was dropped. The deadline counts from entry
/// (the first poll). An enclosing scope's cancellation is not a timeout:
/// it passes through, and so does whatever `future` returns, an error
/// group of a nursery included.
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let slow = arbor_runtime::time::sleep(Duration::from_secs(10));
///     assert_eq!(arbor_nursery::move_on_after(Duration::from_secs(1), slow).await, None);
///     assert_eq!(arbor_nursery::move_on_after(Duration::from_secs(1), async { 7 }).await, Some(7));
/// });
/// ```
///
/// # Cancel safety
/// Dropping it drops `future`; nothing else is affected.
#[inline]
#[track_caller]
pub fn move_on_after<F: Future>(timeout: Duration, future: F) -> MoveOn<F> {
    MoveOn {
        scoped: after(timeout, future),
        at: Location::caller(),
    }
}

/// Run `future` until `deadline`: `Some(output)` or `None`.
///
/// # Cancel safety
/// Dropping it drops `future`; nothing else is affected.
#[track_caller]
pub fn move_on_at<F: Future>(deadline: Instant, future: F) -> MoveOn<F> {
    MoveOn {
        scoped: at(deadline, future),
        at: Location::caller(),
    }
}

/// Run `future` for at most `timeout`, failing with [`Elapsed`] when its
/// own deadline passed. A cancellation of an enclosing scope is not an
/// `Elapsed`: it propagates as that scope's cancellation.
///
/// ```
/// use std::time::Duration;
/// use arbor_nursery::fail_after;
///
/// async fn ping() -> Result<Duration, Box<dyn std::error::Error>> {
///     let t0 = arbor_runtime::time::now();
///     // `Elapsed` is an error: `?` passes it on.
///     fail_after(Duration::from_secs(1), arbor_runtime::time::sleep(Duration::from_secs(5))).await?;
///     Ok(arbor_runtime::time::now() - t0)
/// }
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// let err = rt.block_on(ping()).unwrap_err();
/// assert!(err.is::<arbor_nursery::Elapsed>());
/// ```
///
/// # Cancel safety
/// Dropping it drops `future`; nothing else is affected.
#[inline]
#[track_caller]
pub fn fail_after<F: Future>(timeout: Duration, future: F) -> FailAfter<F> {
    FailAfter {
        scoped: after(timeout, future),
        at: Location::caller(),
    }
}

/// Run `future` until `deadline`, failing with [`Elapsed`].
///
/// # Cancel safety
/// Dropping it drops `future`; nothing else is affected.
#[track_caller]
pub fn fail_at<F: Future>(deadline: Instant, future: F) -> FailAfter<F> {
    FailAfter {
        scoped: at(deadline, future),
        at: Location::caller(),
    }
}

/// Run `future` shielded from the cancellation of enclosing scopes: it runs
/// to completion, and an outer cancellation is delivered at the next
/// suspension after it. This is how async cleanup is written.
///
/// ```
/// use std::time::Duration;
/// use arbor_nursery::{CancelScope, shield};
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let scope = CancelScope::new();
///     let handle = scope.handle();
///     let out = scope
///         .run(async move {
///             handle.cancel();
///             // Cleanup still runs (and its sleep completes) under the shield.
///             shield(arbor_runtime::time::sleep(Duration::from_secs(1))).await;
///             // The outer cancellation lands at the next suspension.
///             arbor_nursery::checkpoint().await;
///             "unreachable"
///         })
///         .await;
///     assert!(out.is_err());
/// });
/// ```
///
/// # Cancel safety
/// Dropping it drops `future` (only its owner can: no cancellation of
/// enclosing scopes reaches inside).
pub async fn shield<F: Future>(future: F) -> F::Output {
    let cell = ScopeCell::new();
    cell.set_shield(true);
    match Scoped::new(cell, future).await {
        Ok(output) => output,
        // A shielded scope without handle or deadline is never cancelled.
        Err(_) => unreachable!("a shield scope has no handle and no deadline"),
    }
}

/// A checkpoint: yield to the scheduler once, or, inside a cancelled scope,
/// make no progress (the scope drops the caller at this suspension).
///
/// Unlike the schedule point of an operation (which skips its yield when
/// nothing else is ready), this always yields: the run loop then fires any
/// deadline that has passed, so a CPU-bound loop that calls `checkpoint()`
/// is cancelled by its timeout at the first call after the deadline.
///
/// # Cancel safety
/// Nothing to lose.
pub async fn checkpoint() {
    arbor_runtime::yield_now().await
}
