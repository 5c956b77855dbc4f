//! The handle that owns a task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::raw::RawTask;
use super::{JoinError, TaskId};

/// An owned permission to await a task's output and to abort it.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] saying the task panicked
/// or was cancelled. Dropping the handle detaches the task: it keeps
/// running and its output is dropped when it finishes.
///
/// `JoinHandle` is `!Send`: like the task, it belongs to the runtime thread.
///
/// Awaiting it is a checkpoint, like every arbor operation: inside a
/// cancelled scope it makes no progress, and a task that had already
/// finished still lets other ready code run before its output is returned
/// (see [`scope::schedule_point`](crate::scope::schedule_point)).
///
/// # Cancel safety
/// Dropping the `await` loses nothing: the output stays in the task until
/// a poll returns it, so awaiting the handle again later still gets it.
///
/// ```
/// let out = arbor_runtime::run(async {
///     let handle = arbor_runtime::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(out, 42);
/// ```
#[must_use = "dropping a JoinHandle detaches the task; await it or call abort"]
pub struct JoinHandle<T> {
    raw: RawTask,
    id: TaskId,
    /// The handle has been polled and returned `Pending` (it waited, or
    /// yielded at its schedule point): the output is taken at once now.
    waited: bool,
    _output: PhantomData<T>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawTask, id: TaskId) -> Self {
        JoinHandle {
            raw,
            id,
            waited: false,
            _output: PhantomData,
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Whether the task has finished (completed, panicked or cancelled).
    pub fn is_finished(&self) -> bool {
        !self.raw.state().output_pending()
    }

    /// Cancel the task: its future is dropped now (or, if the task is the
    /// one calling `abort` on itself, as soon as its current poll returns).
    /// Awaiting the handle then gives a cancelled [`JoinError`], unless the
    /// task had already finished. Aborting a finished task, or one whose
    /// future is being dropped right now (an abort from its own
    /// destructor), does nothing.
    ///
    /// The future is dropped with the task's own runtime current, even
    /// when `abort` is called outside `block_on` or from a task of another
    /// runtime, so what its destructor does (a nursery dropping its
    /// children, a scope closing) happens in the right runtime.
    pub fn abort(&self) {
        crate::executor::abort_task(self.raw, self.id);
    }
}

// The output is never pinned: it is moved out of the task allocation.
impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if crate::scope::current_is_cancelled() {
            // Level-triggered cancellation: the output stays in the task.
            crate::scope::note_await(Location::caller());
            return Poll::Pending;
        }
        let state = self.raw.state();
        if state.has_output() {
            // A checkpoint: a task already finished still lets other ready
            // code run first. The output is read only after the yield, so
            // nothing is lost if the handle is dropped at it.
            if !std::mem::replace(&mut self.waited, true) && crate::scope::schedule_point(cx) {
                return Poll::Pending;
            }
            let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
            // SAFETY: `out` has the type `Poll<Result<T, JoinError>>` where T
            // is the output of the future this handle was created for.
            unsafe { self.raw.read_output(&mut out as *mut _ as *mut ()) };
            out
        } else if state.output_pending() {
            self.raw.set_join_waker(cx.waker());
            self.waited = true;
            // A line here, not the user's: `.await` on a handle has no
            // constructor to track the caller of.
            crate::scope::note_await(Location::caller());
            Poll::Pending
        } else {
            panic!("JoinHandle polled after it already returned the task's output")
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let release = self.raw.state().release_handle();
        self.raw.release(release);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
