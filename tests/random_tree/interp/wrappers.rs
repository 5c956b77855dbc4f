//! The future wrappers the checks see through: drop tokens, caught
//! panics, cancellation probes, shielded regions.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor::CancelHandle;

use super::{BoxFut, Cx};
use crate::world::{Book, Kind, TaskRec};

/// A future carrying a drop token; for the top future of a task it also
/// marks the task polled and ended.
pub struct Tracked<T> {
    inner: Option<BoxFut<T>>,
    task: Option<Rc<TaskRec>>,
    on_end: Option<Box<dyn FnOnce()>>,
    book: Rc<Book>,
    // Dropped last: the count goes up once the future is really gone.
    _token: crate::world::Token,
}

impl<T> Tracked<T> {
    pub fn new(book: &Rc<Book>, what: &'static str, inner: BoxFut<T>) -> Self {
        Tracked {
            inner: Some(inner),
            task: None,
            on_end: None,
            book: book.clone(),
            _token: book.token(what),
        }
    }

    pub(super) fn task(mut self, rec: &Rc<TaskRec>) -> Self {
        self.task = Some(rec.clone());
        self
    }

    pub(super) fn on_end(mut self, f: impl FnOnce() + 'static) -> Self {
        self.on_end = Some(Box::new(f));
        self
    }
}

impl<T> Future for Tracked<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.book.polled();
        if let Some(t) = &this.task {
            t.polled.set(true);
            // An abort drops the future at once, or (a task aborting
            // itself) right after the poll that asked: never a later poll.
            if t.abort_requested.get() {
                this.book.violation(
                    Kind::PolledAfterAbort,
                    format!("task {} was polled after it was aborted", t.id),
                );
            }
        }
        let inner = this
            .inner
            .as_mut()
            .expect("a tracked future was polled after it was dropped");
        inner.as_mut().poll(cx)
    }
}

impl<T> Drop for Tracked<T> {
    fn drop(&mut self) {
        let inner = self.inner.take();
        drop(inner);
        if let Some(t) = &self.task {
            t.ended.set(true);
            // A task always starts: a nursery child is dropped only after
            // a poll, unless its task is torn down.
            if t.accepted.get()
                && !t.polled.get()
                && !std::thread::panicking()
                && !t.doomed(&self.book)
            {
                self.book.violation(
                    Kind::Unstarted,
                    format!("child {} was dropped without ever being polled", t.id),
                );
            }
        }
        if let Some(f) = self.on_end.take() {
            f();
        }
    }
}

/// Catches a panic of the wrapped future's poll.
pub(super) struct CatchUnwind<T>(pub(super) BoxFut<T>);

impl<T> Future for CatchUnwind<T> {
    type Output = Result<T, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Whether the scope was already cancelled when the poll that completed
/// the wrapped future began, and how many polls it took.
pub(super) struct Probe<F> {
    inner: F,
    polls: u32,
}

pub(super) struct Probed<T> {
    pub(super) output: T,
    pub(super) cancelled_before: bool,
    pub(super) polls: u32,
}

impl<F> Probe<F> {
    pub(super) fn new(inner: F) -> Self {
        Probe { inner, polls: 0 }
    }
}

impl<F: Future + Unpin> Future for Probe<F> {
    type Output = Probed<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let cancelled_before = arbor::lowlevel::current_is_cancelled();
        self.polls += 1;
        let polls = self.polls;
        Pin::new(&mut self.inner).poll(cx).map(|output| Probed {
            output,
            cancelled_before,
            polls,
        })
    }
}

/// Runs an arbor operation and tells, when it completes, whether its
/// previous poll was a yield at a schedule point: that poll began outside
/// any cancellation, woke its own task and returned `Pending`, so the
/// operation had taken effect and kept its result for this poll. (An
/// operation that wakes itself for another reason would pass as such; no
/// arbor operation does.)
pub(super) struct Kept<F: Future> {
    inner: Pin<Box<F>>,
    pub(super) yielded: bool,
}

impl<F: Future> Kept<F> {
    pub(super) fn new(inner: F) -> Self {
        Kept {
            inner: Box::pin(inner),
            yielded: false,
        }
    }
}

/// A waker that notes being woken, then wakes the task's own waker.
struct NoteWake {
    task: std::task::Waker,
    woken: std::sync::atomic::AtomicBool,
}

impl std::task::Wake for NoteWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.wake_by_ref();
    }
}

impl<F: Future> Future for Kept<F> {
    /// The output, and whether it was kept over a schedule point.
    type Output = (F::Output, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let began_cancelled = arbor::lowlevel::current_is_cancelled();
        let note = std::sync::Arc::new(NoteWake {
            task: cx.waker().clone(),
            woken: false.into(),
        });
        let waker = std::task::Waker::from(note.clone());
        match self.inner.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => Poll::Ready((output, self.yielded)),
            Poll::Pending => {
                self.yielded =
                    !began_cancelled && note.woken.load(std::sync::atomic::Ordering::Relaxed);
                Poll::Pending
            }
        }
    }
}

/// Polls a future once, giving its output if it was ready.
pub(super) struct PollOnce<'a, F>(pub(super) Pin<&'a mut F>);

impl<F: Future> Future for PollOnce<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match self.0.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    }
}

/// A shielded region: dropped before it finished while its task is not
/// being torn down (and its own scope not cancelled) is a violation.
pub(super) struct ShieldRegion<T> {
    inner: Option<BoxFut<T>>,
    task: Rc<TaskRec>,
    book: Rc<Book>,
    /// The shielded scope's own handle: once it is cancelled (by the
    /// handle or its deadline) the region no longer protects anything.
    own: Option<CancelHandle>,
    entered: bool,
    done: bool,
    unwound: bool,
}

impl<T> ShieldRegion<T> {
    pub(super) fn new(cx: &Cx, own: Option<CancelHandle>, inner: BoxFut<T>) -> Self {
        ShieldRegion {
            inner: Some(inner),
            task: cx.task.clone(),
            book: cx.book().clone(),
            own,
            entered: false,
            done: false,
            unwound: false,
        }
    }
}

impl<T> Future for ShieldRegion<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.entered = true;
        // Still set in `drop` if the inner future panicked.
        this.unwound = true;
        let out = this
            .inner
            .as_mut()
            .expect("polled after done")
            .as_mut()
            .poll(cx);
        this.unwound = false;
        if out.is_ready() {
            this.done = true;
            this.book.count("shielded region finished");
        }
        out
    }
}

impl<T> Drop for ShieldRegion<T> {
    fn drop(&mut self) {
        let own_cancel = self.own.as_ref().is_some_and(|h| h.cancel_called());
        if self.entered
            && !self.done
            && !own_cancel
            && !self.unwound
            && !std::thread::panicking()
            && !self.task.doomed(&self.book)
        {
            self.book.violation(
                Kind::ShieldDropped,
                format!(
                    "a shielded region of task {} was dropped before it finished",
                    self.task.id
                ),
            );
        }
        let inner = self.inner.take();
        drop(inner);
    }
}
