//! A nursery child's [`ChildHandle`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::cancel_scope::CancelHandle;
use crate::child::ChildShared;
use crate::error::ChildError;

/// Awaits a nursery child's value, or cancels that child alone.
///
/// Awaiting gives `Ok(value)`, or a [`ChildError`] saying the child was
/// cancelled, failed (its error went to the nursery's group) or panicked.
/// Dropping the handle does not affect the child: the nursery still owns
/// and waits for it.
///
/// Awaiting it is a checkpoint: inside a cancelled scope it makes no
/// progress, and a child that had already finished still lets other ready
/// code run before its result is returned.
///
/// # Cancel safety
/// Dropping the `await` loses nothing: the result stays with the handle
/// until a poll returns it.
pub struct ChildHandle<T: 'static> {
    child: Rc<ChildShared<T>>,
    /// Polled before and returned `Pending` (waited or yielded): the
    /// result is returned at once now.
    waited: bool,
}

impl<T: 'static> ChildHandle<T> {
    pub(crate) fn new(child: Rc<ChildShared<T>>) -> Self {
        ChildHandle {
            child,
            waited: false,
        }
    }

    /// Cancel this child alone: its private scope absorbs the cancellation,
    /// so siblings and the nursery are unaffected. A child not yet started
    /// still runs to its first suspension. Nothing happens once it finished.
    pub fn cancel(&self) {
        self.child
            .scope
            .cancel(arbor_runtime::scope::CancelReason::Explicit);
    }

    /// Whether the child has finished.
    pub fn is_finished(&self) -> bool {
        self.child.done.get()
    }
}

impl<T: 'static> Future for ChildHandle<T> {
    type Output = Result<T, ChildError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: no progress inside a cancelled scope.
            return Poll::Pending;
        }
        let waited = std::mem::replace(&mut self.waited, true);
        if self.child.result.borrow().is_some() {
            // The schedule point comes before the result is taken: a
            // handle dropped at the yield leaves it where it was.
            if !waited && arbor_runtime::scope::schedule_point(cx) {
                return Poll::Pending;
            }
            let result = self.child.result.borrow_mut().take();
            return Poll::Ready(result.expect("checked above"));
        }
        assert!(
            !self.child.done.get(),
            "a nursery ChildHandle was polled after it returned"
        );
        let mut waker = self.child.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T: 'static> fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T: 'static> ChildHandle<T> {
    /// A handle that can cancel this child (like [`cancel`](ChildHandle::cancel))
    /// and change its deadline, from any task on this thread.
    pub fn cancel_scope(&self) -> CancelHandle {
        CancelHandle::new(self.child.clone())
    }
}
