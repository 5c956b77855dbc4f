//! [`Event`]: a one-shot flag tasks can wait for.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::waiters::{WaitKey, WaitQueue};

/// trio's `Event`: starts unset; [`set`](Event::set) wakes every waiter
/// and makes every later [`wait`](Event::wait) complete at once. One-shot:
/// there is no `clear` (make a new event instead).
///
/// ```
/// use arbor_primitives::Event;
///
/// arbor_runtime::run(async {
///     let ev = Event::new();
///     ev.set();
///     ev.wait().await; // already set: no wait (but a checkpoint)
///     assert!(ev.is_set());
/// });
/// ```
pub struct Event {
    set: Cell<bool>,
    waiters: RefCell<WaitQueue<(), ()>>,
}

/// An event's counters, as trio reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventStatistics {
    /// Tasks waiting in `wait`.
    pub tasks_waiting: usize,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// An unset event.
    pub const fn new() -> Self {
        Event {
            set: Cell::new(false),
            waiters: RefCell::new(WaitQueue::new()),
        }
    }

    /// Set the event and wake every waiter (in FIFO order). Setting it
    /// again does nothing.
    pub fn set(&self) {
        if self.set.replace(true) {
            return;
        }
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            while let Ok(waker) = waiters.grant_front(()) {
                wake.push(waker);
            }
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Wait until the event is set (no waiting if it is).
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if the event
    /// was already set, a schedule point (other ready tasks run first),
    /// after which it is a cancel point again (it took nothing).
    ///
    /// ```
    /// use arbor_primitives::Event;
    ///
    /// arbor_runtime::run(async {
    ///     let ev = Event::new();
    ///     ev.set();
    ///     let other = arbor_runtime::spawn(async {});
    ///     ev.wait().await;
    ///     assert!(other.is_finished(), "the set event's wait let it run");
    /// });
    /// ```
    ///
    /// # Cancel safety
    /// Dropping the future at any point consumes nothing (the event is a
    /// broadcast). Inside a cancelled scope it makes no progress, even if
    /// the event is set.
    #[track_caller]
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
            yielded: false,
            at: std::panic::Location::caller(),
        }
    }

    /// trio's statistics.
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics {
            tasks_waiting: self.waiters.borrow().len(),
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("tasks_waiting", &self.statistics().tasks_waiting)
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<WaitKey>,
    /// Found the event set and yielded at the schedule point: done.
    yielded: bool,
    /// Where `wait` was called: the task's await point in `arbor::dump`.
    at: &'static std::panic::Location<'static>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Also after the schedule point: having taken nothing, the wait
            // is a cancel point again (trio's `checkpoint()`).
            return Poll::Pending;
        }
        if self.yielded {
            return Poll::Ready(());
        }
        let event = self.event;
        if event.set.get() {
            match self.key.take() {
                // Waited: others ran meanwhile.
                Some(key) => {
                    let _ = event.waiters.borrow_mut().cancel(key);
                }
                // Set already: the schedule point.
                None if arbor_runtime::scope::schedule_point(cx) => {
                    self.yielded = true;
                    return Poll::Pending;
                }
                None => {}
            }
            return Poll::Ready(());
        }
        let at = self.at;
        let mut waiters = event.waiters.borrow_mut();
        match self.key {
            Some(key) => waiters.set_waker_at(key, cx.waker(), at),
            None => {
                let key = waiters.push_at((), cx.waker(), at);
                drop(waiters);
                self.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A broadcast grant is not passed on: every waiter got one.
            let _ = self.event.waiters.borrow_mut().cancel(key);
        }
    }
}
