//! [`nursery`] and its [`Nursery`] handle: a body and the children it
//! spawns, finished together.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use arbor_runtime::scope::{
    self, CancelReason, CellRef, NodeKind, Region, ScopeCell, SpawnError, Step,
};
use pin_project_lite::pin_project;

use crate::cancel_scope::CancelHandle;
use crate::child::{ChildShared, ChildTask, StartHook};
use crate::error::{ErrorGroup, Failure, NurseryError, Panic};
use crate::join::ChildHandle;
use crate::outcome::Outcome;
use crate::start::{StartShared, StartWait, TaskStatus};

/// How a nursery reacts to failures.
#[derive(Clone, Copy, Debug)]
struct Policy {
    /// A child's failure cancels the nursery (and so its siblings).
    cancel_on_failure: bool,
    /// Failures kept for the error group; later ones are only counted.
    keep_failures: usize,
}

impl Policy {
    const NURSERY: Policy = Policy {
        cancel_on_failure: true,
        keep_failures: usize::MAX,
    };
    const SUPERVISOR: Policy = Policy {
        cancel_on_failure: false,
        keep_failures: usize::MAX,
    };
    const SERVER: Policy = Policy {
        cancel_on_failure: false,
        keep_failures: SERVER_KEPT_FAILURES,
    };
}

/// Failures a [`server`] nursery keeps; later ones are counted.
pub const SERVER_KEPT_FAILURES: usize = 64;

/// State shared by the nursery future, its handles and its children.
pub(crate) struct Shared {
    /// The nursery's scope: its body runs in its region, its children's
    /// tasks are attached to its node.
    scope: ScopeCell,
    policy: Policy,
    failures: RefCell<Vec<Failure>>,
    dropped: Cell<usize>,
    panic: RefCell<Option<Panic>>,
    live: Cell<usize>,
    waker: RefCell<Option<Waker>>,
    closed: Cell<bool>,
    /// Children being started, still in their caller's context: their
    /// tasks, to drop with the nursery if it is dropped before they join
    /// (in start order: a seeded run replays the drops).
    pub(crate) starting: RefCell<BTreeMap<u64, arbor_runtime::JoinHandle<()>>>,
    next_start: Cell<u64>,
}

impl Shared {
    pub(crate) fn report(&self, failure: Failure) {
        let mut failures = self.failures.borrow_mut();
        if failures.len() < self.policy.keep_failures {
            failures.push(failure);
        } else {
            self.dropped.set(self.dropped.get() + 1);
        }
        drop(failures);
        if self.policy.cancel_on_failure {
            self.cancel_nursery();
        }
    }

    pub(crate) fn report_panic(&self, payload: Panic) {
        let mut panic = self.panic.borrow_mut();
        if panic.is_none() {
            *panic = Some(payload);
        }
        drop(panic);
        if self.policy.cancel_on_failure {
            self.cancel_nursery();
        }
    }

    fn cancel_nursery(&self) {
        self.scope.cancel(CancelReason::Failure);
    }

    pub(crate) fn child_done(&self) {
        self.live.set(self.live.get() - 1);
        let waker = self.waker.borrow().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl CellRef for Shared {
    fn cell(&self) -> &ScopeCell {
        &self.scope
    }
}

/// A handle to a running nursery: spawn children into it, start them, or
/// cancel it. Clones are cheap and can be moved into children to spawn
/// siblings. `!Send`, like everything of a task.
#[derive(Clone)]
pub struct Nursery {
    shared: Rc<Shared>,
}

impl Nursery {
    /// Spawn a child. Its output is a plain value, or a `Result` whose `Err`
    /// is a failure: the failure (or a panic) cancels the nursery (unless it
    /// is a [`supervisor`]) and is collected into its error group.
    ///
    /// The child runs inside the scopes that were active where the nursery
    /// was opened, not where `spawn` is called.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let n = arbor_nursery::nursery(async |n| {
    ///         let child = n.spawn(async { 6 * 7 });
    ///         // Dropping a handle leaves its child running; awaiting it
    ///         // gives the child's value.
    ///         drop(n.spawn(async { "runs to its end anyway" }));
    ///         child.await.unwrap()
    ///     });
    ///     assert_eq!(n.await.unwrap(), 42);
    /// });
    /// ```
    ///
    /// # Panics
    /// If the nursery has closed (a handle kept past the nursery's end).
    /// [`try_spawn`](Nursery::try_spawn) returns the error instead.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> ChildHandle<<F::Output as Outcome>::Value>
    where
        F: Future + 'static,
        F::Output: Outcome,
    {
        self.try_spawn(None, future)
            .unwrap_or_else(|e| panic!("Nursery::spawn: {e}"))
    }

    /// [`spawn`](Nursery::spawn) with a name, shown in failures and dumps.
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: &str,
        future: F,
    ) -> ChildHandle<<F::Output as Outcome>::Value>
    where
        F: Future + 'static,
        F::Output: Outcome,
    {
        self.try_spawn(Some(name), future)
            .unwrap_or_else(|e| panic!("Nursery::spawn_named: {e}"))
    }

    /// Spawn a child, or say why not: [`SpawnError::Closed`] once the
    /// nursery has finished. The future is dropped unpolled on error.
    pub fn try_spawn<F>(
        &self,
        name: Option<&str>,
        future: F,
    ) -> Result<ChildHandle<<F::Output as Outcome>::Value>, SpawnError>
    where
        F: Future + 'static,
        F::Output: Outcome,
    {
        self.spawn_child(name, future, None)
    }

    pub(crate) fn spawn_child<F>(
        &self,
        name: Option<&str>,
        future: F,
        start: Option<Rc<dyn StartHook>>,
    ) -> Result<ChildHandle<<F::Output as Outcome>::Value>, SpawnError>
    where
        F: Future + 'static,
        F::Output: Outcome,
    {
        let child = Rc::new(ChildShared::new(name.map(Rc::from)));
        self.spawn_shared(name, future, start, child.clone())?;
        Ok(ChildHandle::new(child))
    }

    /// Spawn a child reporting to `child` (its handle's or its set's side).
    pub(crate) fn spawn_shared<F>(
        &self,
        name: Option<&str>,
        future: F,
        start: Option<Rc<dyn StartHook>>,
        child: Rc<ChildShared<<F::Output as Outcome>::Value>>,
    ) -> Result<(), SpawnError>
    where
        F: Future + 'static,
        F::Output: Outcome,
    {
        let shared = &self.shared;
        let node = match shared.scope.id() {
            Some(node) if !shared.closed.get() => node,
            _ => return Err(SpawnError::Closed),
        };
        let task = ChildTask::new(shared.clone(), child, start, future);
        // The runtime task is detached: the nursery reaches its children
        // through its scope node (and aborts them with it if dropped).
        drop(scope::spawn_in(node, name, task)?);
        shared.live.set(shared.live.get() + 1);
        Ok(())
    }

    /// Start a child and wait until it calls [`TaskStatus::started`]; returns
    /// the value it passed. Until then the child runs in the caller's
    /// context (trio): the caller's scopes cover it, so cancelling or
    /// dropping the `start` call cancels the child, and a child that fails
    /// (or returns, or is cancelled) before `started` fails this call, not
    /// the nursery. From `started` on it is an ordinary child of the
    /// nursery, in a task of its own. Its first step always runs, so from
    /// an already cancelled scope a child that calls `started` at once
    /// still starts.
    ///
    /// # Cancel safety
    /// Dropping the call before the child calls `started` cancels the child
    /// (it is dropped at its next suspension; its shields finish first).
    /// Once the child has called `started` it belongs to the nursery:
    /// dropping the call before it returned (the caller's scope was
    /// cancelled in between, or its task aborted) loses only the value
    /// passed to `started`, and the child runs on in the nursery.
    ///
    /// ```
    /// use std::time::Duration;
    /// arbor_runtime::run(async {
    ///     let port = arbor_nursery::nursery(async |n| {
    ///         let port = n
    ///             .start(|status| async move {
    ///                 status.started(8080).unwrap();
    ///                 arbor_runtime::time::sleep(Duration::from_millis(1)).await;
    ///             })
    ///             .await
    ///             .unwrap();
    ///         port
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(port, 8080);
    /// });
    /// ```
    pub async fn start<V, B, Fut>(&self, body: B) -> Result<V, crate::StartError>
    where
        V: 'static,
        B: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + 'static,
        Fut::Output: Outcome,
    {
        let shared = &self.shared;
        if shared.scope.id().is_none() || shared.closed.get() {
            return Err(crate::StartError::Closed);
        }
        // The caller's context: the child hangs there until `started`.
        let here = scope::current_scope();
        let child = Rc::new(ChildShared::new(None));
        let hook = Rc::new(StartShared::new(shared.clone()));
        let future = body(TaskStatus::new(hook.clone()));
        let task = ChildTask::new(
            shared.clone(),
            child.clone(),
            Some(hook.clone() as Rc<dyn StartHook>),
            future,
        );
        // Counted from now: the nursery waits for it even while it still
        // hangs in the caller's context.
        shared.live.set(shared.live.get() + 1);
        match scope::spawn_now(here, None, task) {
            Ok(task) if shared.closed.get() => {
                // The nursery was dropped during the child's first step
                // (the step aborted the nursery's task, say): it could not
                // drop the child then, as the child was running. Now it
                // can, as the rest of the nursery's children were.
                task.abort();
                Err(crate::StartError::Closed)
            }
            Ok(task) => {
                if !hook.is_settled() {
                    // Until it joins the nursery (or ends), the nursery
                    // must be able to drop it with its other children.
                    let key = shared.next_start.get();
                    shared.next_start.set(key + 1);
                    shared.starting.borrow_mut().insert(key, task);
                    hook.set_key(key);
                }
                StartWait::new(hook, child).await
            }
            // The task was dropped unpolled and ended as cancelled.
            Err(_) => Err(crate::StartError::Closed),
        }
    }

    /// The nursery's cancel scope: cancelling it cancels the body and every
    /// child. If the body had not returned a value yet, the nursery then
    /// returns [`NurseryError::Cancelled`]; a nursery child that passes that
    /// on with `?` ends as cancelled, not failed (the cancellation was the
    /// nursery's own, a normal exit in trio's terms).
    pub fn cancel_scope(&self) -> CancelHandle {
        CancelHandle::new(self.shared.clone())
    }

    /// Children spawned and not yet finished.
    pub fn live_children(&self) -> usize {
        self.shared.live.get()
    }

    /// Whether the nursery has finished and accepts no more children.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.get()
    }
}

impl fmt::Debug for Nursery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("live_children", &self.shared.live.get())
            .field("closed", &self.shared.closed.get())
            .field("failures", &self.shared.failures.borrow().len())
            .finish()
    }
}

/// Run `body` with a [`Nursery`]; complete when the body and every child
/// spawned into the nursery have finished.
///
/// Returns the body's value, or [`NurseryError::Failed`] with every failure
/// (children's and the body's `Err`s) in the order they happened: the
/// first failure cancels the body and all children, which are dropped
/// promptly. A panic of a child or the body is re-raised here once every
/// child has finished. If the nursery's own cancel scope is cancelled
/// before the body finishes, the result is [`NurseryError::Cancelled`].
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// let total = rt.block_on(async {
///     arbor_nursery::nursery(async |n| {
///         let a = n.spawn(async { 1 });
///         let b = n.spawn(async {
///             arbor_runtime::time::sleep(Duration::from_secs(1)).await;
///             2
///         });
///         a.await.unwrap() + b.await.unwrap()
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(total, 3);
/// ```
///
/// # Cancel safety
/// Dropping the nursery future drops the body and every child at once
/// (their destructors run before the drop returns); nothing of them
/// outlives it. A cancelled enclosing scope does not do that: it cancels
/// the nursery, which drops its body and unshielded children at their
/// next suspension, waits for shielded ones, and still reports its errors
/// and panics (the exit is not a cancel point). Like every arbor
/// operation its exit is a schedule point, even when nothing waited: the
/// result is kept over that yield and returned at the next poll.
pub async fn nursery<B, T>(body: B) -> Result<T::Value, NurseryError>
where
    B: AsyncFnOnce(Nursery) -> T,
    T: Outcome,
{
    run(Policy::NURSERY, body).await
}

/// A nursery whose children's failures do not cancel their siblings or the
/// body; failures are still collected (and panics re-raised) at the end.
/// A failure of the body itself still cancels everything.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use arbor_nursery::NurseryError;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let finished = Rc::new(Cell::new(false));
///     let done = finished.clone();
///     let out = arbor_nursery::supervisor(async |n| {
///         n.spawn(async { Err::<(), _>(std::io::Error::other("one bad job")) });
///         n.spawn(async move {
///             arbor_runtime::time::sleep(Duration::from_secs(1)).await;
///             done.set(true); // not cancelled by its sibling's failure
///         });
///     })
///     .await;
///     assert!(finished.get());
///     // The failure is still reported, at the end.
///     assert!(matches!(out, Err(NurseryError::Failed(group)) if group.len() == 1));
/// });
/// ```
///
/// # Cancel safety
/// As for [`nursery`].
pub async fn supervisor<B, T>(body: B) -> Result<T::Value, NurseryError>
where
    B: AsyncFnOnce(Nursery) -> T,
    T: Outcome,
{
    run(Policy::SUPERVISOR, body).await
}

/// A supervisor for long-lived servers with millions of short children:
/// nothing of a finished child is kept (drop its [`ChildHandle`] and its
/// memory is freed when it ends), and only the first
/// [`SERVER_KEPT_FAILURES`] failures are kept; later ones are counted.
///
/// # Cancel safety
/// As for [`nursery`].
pub async fn server<B, T>(body: B) -> Result<T::Value, NurseryError>
where
    B: AsyncFnOnce(Nursery) -> T,
    T: Outcome,
{
    run(Policy::SERVER, body).await
}

async fn run<B, T>(policy: Policy, body: B) -> Result<T::Value, NurseryError>
where
    B: AsyncFnOnce(Nursery) -> T,
    T: Outcome,
{
    let shared = Rc::new(Shared {
        scope: ScopeCell::new(),
        policy,
        failures: RefCell::new(Vec::new()),
        dropped: Cell::new(0),
        panic: RefCell::new(None),
        live: Cell::new(0),
        waker: RefCell::new(None),
        closed: Cell::new(false),
        starting: RefCell::new(BTreeMap::new()),
        next_start: Cell::new(0),
    });
    let handle = Nursery {
        shared: shared.clone(),
    };
    NurseryFuture {
        body: Region::new(shared.clone(), NodeKind::Nursery, body(handle)),
        shared,
        value: None,
        waited: false,
        finished: None,
    }
    .await
}

pin_project! {
    /// The nursery itself: its body runs in the nursery's region; once the
    /// body is gone (returned, failed, or dropped by a cancellation) it
    /// waits for the children, then closes the region and reports.
    struct NurseryFuture<B: Future>
    where
        B::Output: Outcome,
    {
        #[pin]
        body: Region<Rc<Shared>, B>,
        shared: Rc<Shared>,
        value: Option<<B::Output as Outcome>::Value>,
        // Returned `Pending` before: the nursery's exit already let other
        // code run, so it needs no schedule point of its own.
        waited: bool,
        // The result, closed and kept over the exit's schedule point.
        finished: Option<Result<<B::Output as Outcome>::Value, NurseryError>>,
    }

    impl<B: Future> PinnedDrop for NurseryFuture<B>
    where
        B::Output: Outcome,
    {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before it finished: the region's drop drops the body
            // and every child attached to the nursery at once; children
            // still being started (attached in their caller's context) go
            // with them.
            this.shared.closed.set(true);
            let starting = std::mem::take(&mut *this.shared.starting.borrow_mut());
            for (_, child) in starting {
                child.abort();
            }
        }
    }
}

impl<B: Future> Future for NurseryFuture<B>
where
    B::Output: Outcome,
{
    type Output = Result<<B::Output as Outcome>::Value, NurseryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(finished) = this.finished.take() {
            return Poll::Ready(finished);
        }
        let shared = &**this.shared;
        if shared.closed.get() {
            // Finished with nothing to report: an enclosing scope's
            // cancellation ended it, and that scope drops it now.
            return Poll::Pending;
        }
        // The node exists from the first poll on: the body spawns into it.
        this.body.as_mut().enter();
        {
            let mut waker = shared.waker.borrow_mut();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        if this.body.has_inner() {
            match catch_unwind(AssertUnwindSafe(|| this.body.as_mut().poll_inner(cx))) {
                Ok(Step::Ready(output)) => {
                    this.body.as_mut().drop_inner();
                    match output.into_outcome() {
                        Ok(value) => *this.value = Some(value),
                        // The body's failure cancels everything, even in a
                        // supervisor.
                        Err(error) => {
                            shared.report(Failure::new(None, error));
                            shared.cancel_nursery();
                        }
                    }
                }
                // Dropped by the nursery's own cancellation or an enclosing
                // one: either way the children are finishing now.
                Ok(Step::Pending | Step::Caught(_) | Step::Dropped) => {}
                Err(payload) => {
                    this.body.as_mut().drop_inner();
                    shared.report_panic(payload);
                    shared.cancel_nursery();
                }
            }
        }
        if this.body.has_inner() || shared.live.get() > 0 {
            *this.waited = true;
            if !this.body.has_inner() {
                // The body is done: the task waits for the children here.
                scope::note_await(std::panic::Location::caller());
            }
            return Poll::Pending;
        }
        // Body and children are done: close and report. The exit is not a
        // cancel point: errors, panics and the value get out whatever was
        // cancelled around the nursery.
        shared.closed.set(true);
        this.body.as_mut().close();
        if let Some(payload) = shared.panic.borrow_mut().take() {
            resume_unwind(payload);
        }
        let failures = std::mem::take(&mut *shared.failures.borrow_mut());
        let finished = if !failures.is_empty() || shared.dropped.get() > 0 {
            Err(NurseryError::Failed(ErrorGroup::new(
                failures,
                shared.dropped.get(),
            )))
        } else {
            match this.value.take() {
                Some(value) => Ok(value),
                None if shared.scope.cancelled_caught() => Err(NurseryError::Cancelled),
                // Dropped because a scope outside was cancelled: that scope
                // drops us in this same poll; report nothing.
                None => return Poll::Pending,
            }
        };
        // A nursery that never waited still ends with a schedule point
        // (after closing: only the result is kept over it, and the regions
        // around give it the next poll, so the result gets out).
        if !*this.waited && scope::schedule_point(cx) {
            *this.finished = Some(finished);
            return Poll::Pending;
        }
        Poll::Ready(finished)
    }
}
