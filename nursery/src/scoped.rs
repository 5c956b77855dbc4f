//! The wrapper that runs a future inside a scope node: the one place that
//! decides when a cancelled scope drops what it wraps.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_runtime::scope::{self, Decision, NodeKind};
use pin_project_lite::pin_project;

use crate::state::ScopeState;

/// A scope's future was dropped because the scope was cancelled.
///
/// Returned by [`CancelScope::run`](crate::CancelScope::run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancelled {
    by_deadline: bool,
    reason: Option<String>,
}

impl Cancelled {
    /// Whether the scope's deadline (not an explicit cancel) caused it.
    pub fn by_deadline(&self) -> bool {
        self.by_deadline
    }

    /// The reason given to [`CancelHandle::cancel_with_reason`](crate::CancelHandle::cancel_with_reason).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reason, self.by_deadline) {
            (_, true) => f.write_str("the cancel scope's deadline passed: its future was dropped"),
            (Some(r), false) => write!(
                f,
                "the cancel scope was cancelled ({r}): its future was dropped"
            ),
            (None, false) => f.write_str("the cancel scope was cancelled: its future was dropped"),
        }
    }
}

impl std::error::Error for Cancelled {}

/// The state kept inside the future itself (timeouts, shields): no
/// allocation.
#[derive(Debug)]
pub(crate) struct Inline(pub(crate) ScopeState);

impl Deref for Inline {
    type Target = ScopeState;
    fn deref(&self) -> &ScopeState {
        &self.0
    }
}

pin_project! {
    /// A future running inside a cancel scope. See
    /// [`CancelScope::run`](crate::CancelScope::run).
    #[must_use = "futures do nothing unless polled"]
    pub(crate) struct Scoped<S, F>
    where
        S: Deref<Target = ScopeState>,
    {
        state: S,
        kind: NodeKind,
        polled: bool,
        // A timeout nobody else can touch: its node is made lazily.
        provisional: bool,
        #[pin]
        inner: Option<F>,
    }

    impl<S, F> PinnedDrop for Scoped<S, F>
    where
        S: Deref<Target = ScopeState>,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Inner scopes exit before this one.
            this.inner.set(None);
            this.state.exit();
        }
    }
}

impl<S: Deref<Target = ScopeState>, F> Scoped<S, F> {
    pub(crate) fn new(state: S, kind: NodeKind, inner: F) -> Self {
        Scoped {
            state,
            kind,
            polled: false,
            provisional: false,
            inner: Some(inner),
        }
    }

    /// A scope with only a relative deadline and no handle: its first poll
    /// runs without a node unless something needs one.
    pub(crate) fn provisional(mut self) -> Self {
        self.provisional = self.state.timeout.get().is_some_and(|t| !t.is_zero())
            && self.state.deadline.get().is_none()
            && !self.state.shield.get();
        self
    }
}

impl<S, F> Future for Scoped<S, F>
where
    S: Deref<Target = ScopeState>,
    F: Future,
{
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(
            this.inner.is_some(),
            "a cancel scope's future was polled after it completed"
        );
        if std::mem::take(this.provisional) {
            let timeout = this.state.timeout.take().expect("checked by provisional()");
            let depth = scope::enter_provisional(*this.kind, timeout);
            let guard = LeaveOnUnwind(depth);
            let inner = this.inner.as_mut().as_pin_mut().expect("checked above");
            let poll = inner.poll(cx);
            std::mem::forget(guard);
            *this.polled = true;
            match poll {
                Poll::Ready(output) => {
                    if let Some(node) = scope::leave_provisional(depth, false) {
                        scope::exit(node);
                    }
                    this.inner.set(None);
                    this.state.phase.set(crate::state::Phase::Exited);
                    return Poll::Ready(Ok(output));
                }
                Poll::Pending => {
                    let node = scope::leave_provisional(depth, true).expect("kept");
                    this.state.adopt(node);
                    scope::set_waker(node, cx.waker());
                    if scope::decision(node) == Decision::Catch {
                        return Poll::Ready(Err(catch(this.inner, this.state)));
                    }
                    scope::arm(node);
                    return Poll::Pending;
                }
            }
        }
        let node = match this.state.node() {
            Some(node) => node,
            None => this.state.enter(*this.kind, None),
        };
        scope::set_waker(node, cx.waker());
        // Trio's rule: a scope entered already cancelled still runs its
        // future to the first suspension.
        if *this.polled && scope::decision(node) == Decision::Catch {
            return Poll::Ready(Err(catch(this.inner, this.state)));
        }
        *this.polled = true;
        let inner = this.inner.as_mut().as_pin_mut().expect("checked above");
        match scope::poll_in(node, || inner.poll(cx)) {
            Poll::Ready(output) => {
                this.inner.set(None);
                this.state.exit();
                Poll::Ready(Ok(output))
            }
            Poll::Pending if scope::decision(node) == Decision::Catch => {
                Poll::Ready(Err(catch(this.inner, this.state)))
            }
            Poll::Pending => {
                scope::arm(node);
                Poll::Pending
            }
        }
    }
}

/// Pops a provisional scope if its inner future panics.
struct LeaveOnUnwind(usize);

impl Drop for LeaveOnUnwind {
    fn drop(&mut self) {
        if let Some(node) = scope::leave_provisional(self.0, false) {
            scope::exit(node);
        }
    }
}

/// Drop the inner future and record that this scope caught.
fn catch<F>(mut inner: Pin<&mut Option<F>>, state: &ScopeState) -> Cancelled {
    let by_deadline = state.cancelled_by_deadline();
    inner.set(None);
    state.caught.set(true);
    state.exit();
    Cancelled {
        by_deadline,
        reason: state.reason.borrow().as_deref().map(String::from),
    }
}
