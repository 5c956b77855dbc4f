//! [`Scoped`]: a future that runs its inner future in a
//! [`Region`](arbor_runtime::scope::Region), and [`Cancelled`], what it
//! reports when its own scope caught a cancellation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_runtime::scope::{CancelReason, CellRef, NodeKind, Region, Step};
use pin_project_lite::pin_project;

/// A scope's future was dropped because the scope's own cancellation (its
/// handle, or its deadline) caught it.
///
/// Returned by [`CancelScope::run`](crate::CancelScope::run). A
/// cancellation of an enclosing scope is never reported here: it keeps
/// moving outward to the scope that caught it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancelled {
    cause: CancelReason,
    text: Option<String>,
}

impl Cancelled {
    /// What cancelled the scope first.
    pub fn cause(&self) -> CancelReason {
        self.cause
    }

    /// Whether the scope's deadline (not an explicit cancel) cancelled it first.
    pub fn by_deadline(&self) -> bool {
        self.cause == CancelReason::Deadline
    }

    /// The text given to [`CancelHandle::cancel_with_reason`](crate::CancelHandle::cancel_with_reason).
    pub fn reason(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.text, self.cause) {
            (_, CancelReason::Deadline) => {
                f.write_str("the cancel scope's deadline passed: its future was dropped")
            }
            (Some(r), _) => write!(
                f,
                "the cancel scope was cancelled ({r}): its future was dropped"
            ),
            (None, _) => f.write_str("the cancel scope was cancelled: its future was dropped"),
        }
    }
}

impl std::error::Error for Cancelled {}

pin_project! {
    /// A future running inside a cancel scope. See
    /// [`CancelScope::run`](crate::CancelScope::run).
    #[must_use = "futures do nothing unless polled"]
    pub(crate) struct Scoped<C: CellRef, F> {
        #[pin]
        region: Region<C, F>,
    }
}

impl<C: CellRef, F> Scoped<C, F> {
    #[inline]
    pub(crate) fn new(cell: C, inner: F) -> Self {
        Scoped {
            region: Region::new(cell, NodeKind::Scope, inner),
        }
    }

    /// A timeout: no node unless its future suspends.
    #[inline]
    pub(crate) fn lazy(cell: C, inner: F) -> Self {
        Scoped {
            region: Region::lazy(cell, NodeKind::Scope, inner),
        }
    }
}

impl<C: CellRef, F: Future> Future for Scoped<C, F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut region = self.project().region;
        match region.as_mut().poll_inner(cx) {
            Step::Pending => Poll::Pending,
            Step::Ready(output) => {
                region.close();
                Poll::Ready(Ok(output))
            }
            Step::Caught(cause) => {
                let text = region.cell().cell().text();
                region.close();
                Poll::Ready(Err(Cancelled { cause, text }))
            }
            Step::Dropped => {
                // An enclosing scope's cancellation: it drops us in this
                // same poll (or ends the task). Report nothing meanwhile.
                region.close();
                Poll::Pending
            }
        }
    }
}
