//! Timeouts and shields: cancel scopes that need no handle, kept inline in
//! the future (no allocation).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_runtime::scope::{self, NodeKind};
use arbor_runtime::time::Instant;

use crate::scoped::{Inline, Scoped};
use crate::state::ScopeState;

/// `fail_after`/`fail_at`: the deadline passed before the future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed before the operation finished (it was cancelled)")
    }
}

impl std::error::Error for Elapsed {}

fn timed<F: Future>(
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    future: F,
) -> Scoped<Inline, F> {
    let state = ScopeState::new();
    state.deadline.set(deadline);
    state.timeout.set(timeout);
    Scoped::new(Inline(state), NodeKind::Scope, future).provisional()
}

/// Run `future` for at most `timeout`: `Some(output)`, or `None` when the
/// time ran out and the future was dropped.
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
pub async fn move_on_after<F: Future>(timeout: Duration, future: F) -> Option<F::Output> {
    timed(None, Some(timeout), future).await.ok()
}

/// Run `future` until `deadline`: `Some(output)` or `None`.
pub async fn move_on_at<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    timed(Some(deadline), None, future).await.ok()
}

/// Run `future` for at most `timeout`, failing with [`Elapsed`] when its
/// own deadline passed. A cancellation of an enclosing scope is not an
/// `Elapsed`: it propagates as that scope's cancellation.
pub async fn fail_after<F: Future>(timeout: Duration, future: F) -> Result<F::Output, Elapsed> {
    timed(None, Some(timeout), future)
        .await
        .map_err(|_| Elapsed(()))
}

/// Run `future` until `deadline`, failing with [`Elapsed`].
pub async fn fail_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    timed(Some(deadline), None, future)
        .await
        .map_err(|_| Elapsed(()))
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
pub async fn shield<F: Future>(future: F) -> F::Output {
    let state = ScopeState::new();
    state.shield.set(true);
    match Scoped::new(Inline(state), NodeKind::Scope, future).await {
        Ok(output) => output,
        // A shielded scope without handle or deadline is never cancelled.
        Err(_) => unreachable!("a shield scope has no handle and no deadline"),
    }
}

/// A checkpoint: yield to the scheduler once, or, inside a cancelled scope,
/// make no progress (the scope drops the caller at this suspension).
pub async fn checkpoint() {
    arbor_runtime::yield_now().await
}

/// Resolves when the current scope is effectively cancelled, for code that
/// wants to notice cancellation itself. While it waits, the cancelled
/// scope lets it resolve before dropping the code around it; that code then
/// runs to its next suspension, where the scope drops it as usual.
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let noticed = arbor_nursery::move_on_after(Duration::from_secs(1), async {
///         arbor_nursery::cancelled().await;
///         "noticed" // no suspension between: this value gets out
///     })
///     .await;
///     assert_eq!(noticed, Some("noticed"));
/// });
/// ```
pub fn cancelled() -> CancelledFuture {
    CancelledFuture { waiting_in: None }
}

/// The future returned by [`cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct CancelledFuture {
    waiting_in: Option<scope::ScopeId>,
}

impl Future for CancelledFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let node = *self.waiting_in.get_or_insert_with(|| {
            let node = scope::current_scope();
            scope::notice(node, true);
            node
        });
        if scope::is_cancelled(node) {
            self.waiting_in = None;
            scope::notice(node, false);
            return Poll::Ready(());
        }
        // Under a combinator with its own waker the wrapper's waker would
        // not reach us: register ours too.
        scope::watch(node, cx.waker());
        Poll::Pending
    }
}

impl Drop for CancelledFuture {
    fn drop(&mut self) {
        if let Some(node) = self.waiting_in.take() {
            scope::notice(node, false);
        }
    }
}
