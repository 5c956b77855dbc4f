//! A nursery child: the task wrapper that gives it a private scope, turns
//! its output into success or failure, and reports to the nursery.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use arbor_runtime::scope::{self, Decision, NodeKind};
use pin_project_lite::pin_project;

use crate::error::{ChildError, Failure, Panic, StartError};
use crate::nursery::Shared;
use crate::outcome::Outcome;
use crate::state::ScopeState;

/// What a child shares with its [`JoinHandle`].
pub(crate) struct ChildShared<T> {
    /// The child's private cancel scope: `JoinHandle::cancel` cancels it.
    pub(crate) scope: ScopeState,
    pub(crate) result: RefCell<Option<Result<T, ChildError>>>,
    pub(crate) done: Cell<bool>,
    pub(crate) waker: RefCell<Option<Waker>>,
}

impl<T> ChildShared<T> {
    pub(crate) fn new() -> Self {
        ChildShared {
            scope: ScopeState::new(),
            result: RefCell::new(None),
            done: Cell::new(false),
            waker: RefCell::new(None),
        }
    }

    fn finish(&self, result: Result<T, ChildError>) {
        *self.result.borrow_mut() = Some(result);
        self.done.set(true);
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> crate::cancel_scope::HasScope for ChildShared<T> {
    fn scope_state(&self) -> &ScopeState {
        &self.scope
    }
}

/// The `start` side of a child that has not called `started` yet.
pub(crate) trait StartHook {
    fn is_started(&self) -> bool;
    fn fail(&self, error: StartError);
    fn fail_panic(&self, payload: Panic);
}

enum Ending<V> {
    Value(V),
    Error(crate::outcome::BoxError),
    Panic(Panic),
    Cancelled,
}

pin_project! {
    /// The future a nursery child runs as.
    pub(crate) struct ChildTask<F: Future>
    where
        F::Output: Outcome,
    {
        pub(crate) nursery: Rc<Shared>,
        pub(crate) child: Rc<ChildShared<<F::Output as Outcome>::Value>>,
        pub(crate) name: Option<Rc<str>>,
        pub(crate) start: Option<Rc<dyn StartHook>>,
        pub(crate) polled: bool,
        pub(crate) finished: bool,
        #[pin]
        pub(crate) inner: Option<F>,
    }

    impl<F: Future> PinnedDrop for ChildTask<F>
    where
        F::Output: Outcome,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.finished {
                // Dropped without finishing: the runtime shut down, or the
                // nursery future itself was dropped and aborted us.
                this.inner.set(None);
                end(this.nursery, this.child, this.name, this.start, Ending::Cancelled);
            }
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
        let node = match this.child.scope.node() {
            Some(node) => node,
            None => this
                .child
                .scope
                .enter(NodeKind::Child, this.name.as_deref()),
        };
        scope::set_waker(node, cx.waker());
        let ending = if *this.polled && scope::decision(node) == Decision::Catch {
            Ending::Cancelled
        } else {
            *this.polled = true;
            let inner = this
                .inner
                .as_mut()
                .as_pin_mut()
                .expect("polled after finishing");
            match scope::poll_in(node, || catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))) {
                Ok(Poll::Ready(output)) => match output.into_outcome() {
                    Ok(value) => Ending::Value(value),
                    Err(error) => Ending::Error(error),
                },
                Ok(Poll::Pending) if scope::decision(node) == Decision::Catch => Ending::Cancelled,
                Ok(Poll::Pending) => {
                    scope::arm(node);
                    return Poll::Pending;
                }
                Err(payload) => Ending::Panic(payload),
            }
        };
        if matches!(ending, Ending::Cancelled) {
            this.child.scope.caught.set(true);
        }
        this.inner.set(None);
        *this.finished = true;
        end(this.nursery, this.child, this.name, this.start, ending);
        Poll::Ready(())
    }
}

/// Deliver a child's ending to its handle, its `start` caller or its
/// nursery.
fn end<V>(
    nursery: &Shared,
    child: &ChildShared<V>,
    name: &Option<Rc<str>>,
    start: &Option<Rc<dyn StartHook>>,
    ending: Ending<V>,
) {
    child.scope.exit();
    let before_started = start.as_ref().filter(|s| !s.is_started());
    let name = || name.as_deref().map(String::from);
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
