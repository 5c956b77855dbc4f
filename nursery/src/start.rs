//! `Nursery::start`: the child side ([`TaskStatus`]) and the caller side.
//!
//! As in trio, the child runs in the caller's context until it calls
//! [`TaskStatus::started`]: the caller's future polls it inline, inside the
//! caller's scopes, so cancelling the caller before `started` cancels the
//! child, and a failure before it fails the `start` call. `started` moves
//! the child's region under the nursery (from then on the nursery's
//! cancellations reach it, the caller's do not), and the caller then hands
//! the child to a task of its own in the nursery.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor_runtime::scope::{self, CellRef};

use crate::child::StartHook;
use crate::error::{AlreadyStarted, Panic, StartError};
use crate::nursery::Shared;

pub(crate) struct StartShared<V> {
    started: Cell<bool>,
    value: RefCell<Option<V>>,
    error: RefCell<Option<StartError>>,
    panic: RefCell<Option<Panic>>,
    /// The nursery the child is started into.
    nursery: Rc<Shared>,
    /// The child's own scope (its region's cell).
    child: Rc<dyn CellRef>,
}

impl<V> StartShared<V> {
    pub(crate) fn new(nursery: Rc<Shared>, child: Rc<dyn CellRef>) -> Self {
        StartShared {
            started: Cell::new(false),
            value: RefCell::new(None),
            error: RefCell::new(None),
            panic: RefCell::new(None),
            nursery,
            child,
        }
    }

    /// Move the child's region under the nursery's node (idempotent).
    fn move_to_nursery(&self) -> bool {
        match (self.child.cell().id(), self.nursery.cell().id()) {
            (Some(child), Some(nursery)) => scope::reparent(child, nursery),
            _ => false,
        }
    }
}

impl<V> StartHook for StartShared<V> {
    fn is_started(&self) -> bool {
        self.started.get()
    }

    fn fail(&self, error: StartError) {
        *self.error.borrow_mut() = Some(error);
    }

    fn fail_panic(&self, payload: Panic) {
        *self.panic.borrow_mut() = Some(payload);
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
    pub fn started(&self, value: V) -> Result<(), AlreadyStarted> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        if shared.started.replace(true) {
            return Err(AlreadyStarted);
        }
        *shared.value.borrow_mut() = Some(value);
        // The rest of this step already runs in the nursery's context.
        shared.move_to_nursery();
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

/// The caller's side: polls the child inline until it calls `started` or
/// ends, then hands a started child to a task in the nursery.
pub(crate) struct StartWait<V, T> {
    shared: Rc<StartShared<V>>,
    /// The child, while it runs in the caller's context.
    child: Option<Pin<Box<T>>>,
}

impl<V, T> StartWait<V, T> {
    pub(crate) fn new(shared: Rc<StartShared<V>>, child: T) -> Self {
        StartWait {
            shared,
            child: Some(Box::pin(child)),
        }
    }
}

impl<V, T: Future<Output = ()> + 'static> Future for StartWait<V, T> {
    type Output = Result<V, StartError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // No cancellation check first: the child's first step always runs,
        // so one that calls `started` at once starts even from a cancelled
        // scope (trio). A cancelled caller drops us, and the child with us.
        if let Some(child) = self.child.as_mut()
            && child.as_mut().poll(cx).is_ready()
        {
            self.child = None;
        }
        let shared = self.shared.clone();
        let taken = shared.value.borrow_mut().take();
        if let Some(value) = taken {
            if let Some(child) = self.child.take()
                && let Err(error) = hand_to_nursery(&shared, child)
            {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(value));
        }
        let panic = shared.panic.borrow_mut().take();
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        let error = shared.error.borrow_mut().take();
        if let Some(error) = error {
            return Poll::Ready(Err(error));
        }
        Poll::Pending
    }
}

/// The started child gets a task of its own in the nursery.
fn hand_to_nursery<V, T: Future<Output = ()> + 'static>(
    shared: &StartShared<V>,
    child: Pin<Box<T>>,
) -> Result<(), StartError> {
    let Some(node) = shared.nursery.cell().id() else {
        // The nursery closed meanwhile: the child is dropped (cancelled).
        return Err(StartError::Closed);
    };
    shared.move_to_nursery();
    let region = shared.child.cell().id();
    match scope::spawn_in(node, None, child) {
        Ok(task) => {
            if let Some(region) = region {
                scope::hand_over(region, task.id());
            }
            Ok(())
        }
        Err(_) => Err(StartError::Closed),
    }
}
