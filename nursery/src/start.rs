//! `Nursery::start`: the child side ([`TaskStatus`]) and the caller side.
//!
//! As in trio, the child runs in the caller's context until it calls
//! [`TaskStatus::started`]: it is a task of its own from the start (its own
//! id, so the locks it takes are its own), spawned under the caller's
//! current scope and run at once for its first step (`scope::spawn_now`),
//! so cancelling the caller before `started` cancels the child, a failure
//! before it fails the `start` call, and a child that calls `started` in
//! its first step starts even from a cancelled scope. `started` moves the
//! child's task, with its regions, under the nursery
//! (`scope::move_current_task`): from then on the nursery's cancellations
//! reach it and the caller's do not.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use arbor_runtime::TaskId;
use arbor_runtime::scope::{self, CancelReason, CellRef};

use crate::child::StartHook;
use crate::error::{AlreadyStarted, Panic, StartError};
use crate::nursery::Shared;

pub(crate) struct StartShared<V> {
    started: Cell<bool>,
    /// `started` moved the child under the nursery.
    moved: Cell<bool>,
    value: RefCell<Option<V>>,
    error: RefCell<Option<StartError>>,
    panic: RefCell<Option<Panic>>,
    /// The caller's `start` future.
    waker: RefCell<Option<Waker>>,
    /// The nursery the child is started into.
    nursery: Rc<Shared>,
    /// The child's task, once it ran.
    task: Cell<Option<TaskId>>,
    /// Its entry in the nursery's `starting`, while there.
    key: Cell<Option<u64>>,
}

impl<V> StartShared<V> {
    pub(crate) fn new(nursery: Rc<Shared>) -> Self {
        StartShared {
            started: Cell::new(false),
            moved: Cell::new(false),
            value: RefCell::new(None),
            error: RefCell::new(None),
            panic: RefCell::new(None),
            waker: RefCell::new(None),
            nursery,
            task: Cell::new(None),
            key: Cell::new(None),
        }
    }

    /// Started or failed: the caller has its answer.
    pub(crate) fn is_settled(&self) -> bool {
        self.started.get() || self.error.borrow().is_some() || self.panic.borrow().is_some()
    }

    pub(crate) fn set_key(&self, key: u64) {
        self.key.set(Some(key));
    }

    /// The child joined the nursery or ended: the nursery no longer needs
    /// its handle.
    fn settle(&self) {
        if let Some(key) = self.key.take() {
            let handle = self.nursery.starting.borrow_mut().remove(&key);
            drop(handle);
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

    fn running_as(&self, task: Option<TaskId>) {
        self.task.set(task);
    }

    fn fail(&self, error: StartError) {
        *self.error.borrow_mut() = Some(error);
        self.settle();
        self.wake();
    }

    fn fail_panic(&self, payload: Panic) {
        *self.panic.borrow_mut() = Some(payload);
        self.settle();
        self.wake();
    }
}

/// Given to a child started with [`Nursery::start`](crate::Nursery::start):
/// call [`started`](TaskStatus::started) once it is ready.
///
/// A function written to be started takes a `TaskStatus`; to await such a
/// function directly instead, pass [`TaskStatus::ignored`].
pub struct TaskStatus<V> {
    shared: Option<Rc<StartShared<V>>>,
}

impl<V> TaskStatus<V> {
    pub(crate) fn new(shared: Rc<StartShared<V>>) -> Self {
        TaskStatus {
            shared: Some(shared),
        }
    }

    /// A status nobody waits for: `started` does nothing (trio's
    /// `TASK_STATUS_IGNORED`), so a function meant for `start` can be
    /// awaited directly.
    ///
    /// ```
    /// use arbor_nursery::TaskStatus;
    /// async fn serve(status: TaskStatus<u16>) -> u16 {
    ///     status.started(8080).unwrap();
    ///     8080
    /// }
    /// assert_eq!(arbor_runtime::run(serve(TaskStatus::ignored())), 8080);
    /// ```
    pub fn ignored() -> Self {
        TaskStatus { shared: None }
    }

    /// Hand `value` to the `start` caller. From now on the child is an
    /// ordinary child of the nursery: the nursery's cancellations reach it,
    /// the caller's no longer do, and its failures go to the nursery.
    ///
    /// # Errors
    /// [`AlreadyStarted`] if called before (the value is dropped).
    ///
    /// # Panics
    /// If called from a task other than the started child itself (a task
    /// the child spawned, say): only the child can move itself into the
    /// nursery.
    #[track_caller]
    pub fn started(&self, value: V) -> Result<(), AlreadyStarted> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        if shared.started.get() {
            return Err(AlreadyStarted);
        }
        assert!(
            shared.task.get().is_some() && shared.task.get() == arbor_runtime::current_task_id(),
            "TaskStatus::started must be called by the started child's own task"
        );
        shared.started.set(true);
        *shared.value.borrow_mut() = Some(value);
        // The rest of this step already runs in the nursery's context.
        if let Some(node) = shared.nursery.cell().id() {
            shared.moved.set(scope::move_current_task(node));
        }
        if shared.moved.get() {
            shared.settle();
        }
        shared.wake();
        Ok(())
    }

    /// Whether `started` was called (always false for an ignored status).
    pub fn is_started(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.started.get())
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus")
            .field("ignored", &self.shared.is_none())
            .field("started", &self.is_started())
            .finish()
    }
}

/// The caller's side: waits for the child's `started` or its end.
pub(crate) struct StartWait<V> {
    shared: Rc<StartShared<V>>,
    /// The child's own scope: cancelled if the caller gives up first (the
    /// child is then dropped at its next suspension; its shields finish).
    child: Rc<dyn CellRef>,
    done: bool,
}

impl<V> StartWait<V> {
    pub(crate) fn new(shared: Rc<StartShared<V>>, child: Rc<dyn CellRef>) -> Self {
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
        // No cancellation check first: a child that started (even in its
        // first step, from a cancelled scope) has its value delivered.
        let shared = self.shared.clone();
        let taken = shared.value.borrow_mut().take();
        if let Some(value) = taken {
            self.done = true;
            if !shared.moved.get() {
                // The nursery closed before the child could join it.
                self.child.cell().cancel(CancelReason::Explicit);
                return Poll::Ready(Err(StartError::Closed));
            }
            return Poll::Ready(Ok(value));
        }
        let panic = shared.panic.borrow_mut().take();
        if let Some(payload) = panic {
            self.done = true;
            resume_unwind(payload);
        }
        let error = shared.error.borrow_mut().take();
        match error {
            // Cancelled before `started`: that is the caller's own
            // cancellation (nothing else can reach the child yet), and the
            // caller's region drops us in this poll. Report nothing.
            Some(StartError::Cancelled) => {
                self.done = true;
                Poll::Pending
            }
            Some(error) => {
                self.done = true;
                Poll::Ready(Err(error))
            }
            None => {
                *shared.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<V> Drop for StartWait<V> {
    fn drop(&mut self) {
        // The caller gave up (was cancelled) before the child started.
        if !self.done && !self.shared.started.get() {
            self.child.cell().cancel(CancelReason::Explicit);
        }
    }
}
