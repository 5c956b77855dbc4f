//! `Nursery::start`: the child side ([`TaskStatus`]) and the caller side.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::cancel_scope::CancelHandle;
use crate::child::StartHook;
use crate::error::{AlreadyStarted, Panic, StartError};

pub(crate) struct StartShared<V> {
    started: Cell<bool>,
    value: RefCell<Option<V>>,
    error: RefCell<Option<StartError>>,
    panic: RefCell<Option<Panic>>,
    waker: RefCell<Option<Waker>>,
}

impl<V> StartShared<V> {
    pub(crate) fn new() -> Self {
        StartShared {
            started: Cell::new(false),
            value: RefCell::new(None),
            error: RefCell::new(None),
            panic: RefCell::new(None),
            waker: RefCell::new(None),
        }
    }

    fn wake(&self) {
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<V> StartHook for StartShared<V> {
    fn is_started(&self) -> bool {
        self.started.get()
    }

    fn fail(&self, error: StartError) {
        *self.error.borrow_mut() = Some(error);
        self.wake();
    }

    fn fail_panic(&self, payload: Panic) {
        *self.panic.borrow_mut() = Some(payload);
        self.wake();
    }
}

/// Given to a child started with [`Nursery::start`](crate::Nursery::start):
/// call [`started`](TaskStatus::started) once it is ready.
pub struct TaskStatus<V> {
    shared: Rc<StartShared<V>>,
}

impl<V> TaskStatus<V> {
    pub(crate) fn new(shared: Rc<StartShared<V>>) -> Self {
        TaskStatus { shared }
    }

    /// Hand `value` to the `start` caller; from now on the task is an
    /// ordinary child of the nursery.
    ///
    /// # Errors
    /// [`AlreadyStarted`] if called before (the value is dropped).
    pub fn started(&self, value: V) -> Result<(), AlreadyStarted> {
        if self.shared.started.replace(true) {
            return Err(AlreadyStarted);
        }
        *self.shared.value.borrow_mut() = Some(value);
        self.shared.wake();
        Ok(())
    }

    /// Whether `started` was called.
    pub fn is_started(&self) -> bool {
        self.shared.started.get()
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus")
            .field("started", &self.is_started())
            .finish()
    }
}

/// The caller's side: waits for `started` or for the child's end.
pub(crate) struct StartWait<V> {
    shared: Rc<StartShared<V>>,
    child: CancelHandle,
    done: bool,
}

impl<V> StartWait<V> {
    pub(crate) fn new(shared: Rc<StartShared<V>>, child: CancelHandle) -> Self {
        StartWait {
            shared,
            child,
            done: false,
        }
    }
}

impl<V> Future for StartWait<V> {
    type Output = Result<V, StartError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let taken = self.shared.value.borrow_mut().take();
        if let Some(value) = taken {
            self.done = true;
            return Poll::Ready(Ok(value));
        }
        let panic = self.shared.panic.borrow_mut().take();
        if let Some(payload) = panic {
            self.done = true;
            resume_unwind(payload);
        }
        let error = self.shared.error.borrow_mut().take();
        if let Some(error) = error {
            self.done = true;
            return Poll::Ready(Err(error));
        }
        *self.shared.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<V> Drop for StartWait<V> {
    fn drop(&mut self) {
        // The caller gave up (was cancelled) before the child started.
        if !self.done && !self.shared.started.get() {
            self.child.cancel();
        }
    }
}
