//! A nursery child: the task wrapper that gives it a private scope, turns
//! its output into success or failure, and reports to the nursery.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use arbor_runtime::scope::{CellRef, NodeKind, Region, ScopeCell, Step};
use pin_project_lite::pin_project;

use crate::error::{ChildError, Failure, NurseryError, Panic, StartError};
use crate::nursery::Shared;
use crate::outcome::{BoxError, Outcome};
use crate::scoped::Cancelled;
use crate::set::SetShared;

/// What a child shares with its [`ChildHandle`](crate::ChildHandle).
pub(crate) struct ChildShared<T> {
    /// The child's private cancel scope: `ChildHandle::cancel` cancels it.
    pub(crate) scope: ScopeCell,
    /// The child's name, for failures and dumps.
    pub(crate) name: Option<Rc<str>>,
    pub(crate) result: RefCell<Option<Result<T, ChildError>>>,
    pub(crate) done: Cell<bool>,
    pub(crate) waker: RefCell<Option<Waker>>,
    /// The [`ChildSet`](crate::ChildSet) the result goes to instead, and
    /// the child's key in it; a set dropped meanwhile leaves the result
    /// here.
    pub(crate) set: RefCell<Option<(Weak<SetShared<T>>, u64)>>,
}

impl<T> ChildShared<T> {
    pub(crate) fn new(name: Option<Rc<str>>) -> Self {
        ChildShared {
            scope: ScopeCell::new(),
            name,
            result: RefCell::new(None),
            done: Cell::new(false),
            waker: RefCell::new(None),
            set: RefCell::new(None),
        }
    }

    fn finish(&self, result: Result<T, ChildError>) {
        self.done.set(true);
        let set = self.set.borrow_mut().take();
        if let Some((set, key)) = set
            && let Some(set) = set.upgrade()
        {
            set.deliver(key, result);
            return;
        }
        *self.result.borrow_mut() = Some(result);
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> CellRef for ChildShared<T> {
    fn cell(&self) -> &ScopeCell {
        &self.scope
    }

    fn name(&self) -> Option<Rc<str>> {
        self.name.clone()
    }
}

/// The `start` side of a child that has not called `started` yet.
pub(crate) trait StartHook {
    fn is_started(&self) -> bool;
    /// The child is being polled as this task.
    fn running_as(&self, task: Option<arbor_runtime::TaskId>);
    fn fail(&self, error: StartError);
    fn fail_panic(&self, payload: Panic);
}

enum Ending<V> {
    Value(V),
    Error(BoxError),
    Panic(Panic),
    Cancelled,
}

/// A child that passes a scope's own cancellation on with `?` (a nested
/// nursery's `Cancelled`, a scope's `Cancelled`) was cancelled, not failed.
fn is_cancellation(error: &BoxError) -> bool {
    error.downcast_ref::<Cancelled>().is_some()
        || matches!(
            error.downcast_ref::<NurseryError>(),
            Some(NurseryError::Cancelled)
        )
}

pin_project! {
    /// The future a nursery child runs as: its code in the child's private
    /// region, which is the task's boundary (any cancellation that drops
    /// the code ends the child as cancelled).
    pub(crate) struct ChildTask<F: Future>
    where
        F::Output: Outcome,
    {
        #[pin]
        region: Region<Rc<ChildShared<<F::Output as Outcome>::Value>>, F>,
        nursery: Rc<Shared>,
        child: Rc<ChildShared<<F::Output as Outcome>::Value>>,
        start: Option<Rc<dyn StartHook>>,
        finished: bool,
    }

    impl<F: Future> PinnedDrop for ChildTask<F>
    where
        F::Output: Outcome,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.finished {
                // Dropped without finishing: the runtime shut down, or the
                // nursery future itself was dropped and aborted us.
                this.region.close();
                end(this.nursery, this.child, this.start, Ending::Cancelled);
            }
        }
    }
}

impl<F: Future> ChildTask<F>
where
    F::Output: Outcome,
{
    pub(crate) fn new(
        nursery: Rc<Shared>,
        child: Rc<ChildShared<<F::Output as Outcome>::Value>>,
        start: Option<Rc<dyn StartHook>>,
        future: F,
    ) -> Self {
        ChildTask {
            region: Region::new(child.clone(), NodeKind::Child, future),
            nursery,
            child,
            start,
            finished: false,
        }
    }
}

impl<F: Future> Future for ChildTask<F>
where
    F::Output: Outcome,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let Some(start) = this.start.as_ref().filter(|s| !s.is_started()) {
            start.running_as(arbor_runtime::current_task_id());
        }
        let ending = match catch_unwind(AssertUnwindSafe(|| this.region.as_mut().poll_inner(cx))) {
            Ok(Step::Pending) => return Poll::Pending,
            Ok(Step::Ready(output)) => match output.into_outcome() {
                Ok(value) => Ending::Value(value),
                Err(error) if is_cancellation(&error) => Ending::Cancelled,
                Err(error) => Ending::Error(error),
            },
            Ok(Step::Caught(_) | Step::Dropped) => Ending::Cancelled,
            Err(payload) => Ending::Panic(payload),
        };
        this.region.close();
        *this.finished = true;
        end(this.nursery, this.child, this.start, ending);
        Poll::Ready(())
    }
}

/// Deliver a child's ending to its handle, its `start` caller or its
/// nursery.
fn end<V>(
    nursery: &Shared,
    child: &ChildShared<V>,
    start: &Option<Rc<dyn StartHook>>,
    ending: Ending<V>,
) {
    let before_started = start.as_ref().filter(|s| !s.is_started());
    let name = || child.name.as_deref().map(String::from);
    let result = match ending {
        Ending::Value(value) => {
            if let Some(start) = before_started {
                start.fail(StartError::NotStarted);
            }
            Ok(value)
        }
        Ending::Error(error) => {
            let failure = Failure::new(name(), error);
            match before_started {
                Some(start) => start.fail(StartError::Failed(failure)),
                None => nursery.report(failure),
            }
            Err(ChildError::Failed)
        }
        Ending::Panic(payload) => {
            match before_started {
                Some(start) => start.fail_panic(payload),
                None => nursery.report_panic(payload),
            }
            Err(ChildError::Panicked)
        }
        Ending::Cancelled => {
            if let Some(start) = before_started {
                start.fail(StartError::Cancelled);
            }
            Err(ChildError::Cancelled)
        }
    };
    child.finish(result);
    nursery.child_done();
}
