//! [`ChildSet`]: nursery children whose results arrive in the order they
//! finish, like tokio's `JoinSet`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use arbor_runtime::scope::{self, CancelReason, SpawnError};

use crate::cancel_scope::CancelHandle;
use crate::child::ChildShared;
use crate::error::ChildError;
use crate::nursery::Nursery;
use crate::outcome::Outcome;

/// What a set shares with its children: the finished results, in finish
/// order, and the children still running, by key: in spawn order, so that
/// `cancel_all` cancels (and wakes) them in an order a seeded run replays.
pub(crate) struct SetShared<T> {
    finished: RefCell<VecDeque<Result<T, ChildError>>>,
    running: RefCell<BTreeMap<u64, Rc<ChildShared<T>>>>,
    next_key: Cell<u64>,
    waker: RefCell<Option<Waker>>,
}

impl<T> SetShared<T> {
    /// A child of the set finished.
    pub(crate) fn deliver(&self, key: u64, result: Result<T, ChildError>) {
        self.finished.borrow_mut().push_back(result);
        let child = self.running.borrow_mut().remove(&key);
        drop(child);
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Children of a nursery, collected as a completion queue:
/// [`join_next`](ChildSet::join_next) returns the result of the next one to
/// finish. Made by [`Nursery::child_set`].
///
/// The children belong to the nursery like any other: they run in its
/// scope, a failure or panic goes to its error group (and cancels it,
/// unless it is a supervisor), and the nursery waits for them. The set
/// only receives their results, in the order they finish. Dropping the set
/// cancels the children still running in it (as tokio's `JoinSet` aborts
/// its tasks); the nursery still waits for them to end.
///
/// ```
/// use std::time::Duration;
/// use arbor_runtime::time::sleep;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// let order = rt.block_on(async {
///     arbor_nursery::nursery(async |n| {
///         let mut set = n.child_set();
///         for secs in [3, 1, 2] {
///             set.spawn(async move {
///                 sleep(Duration::from_secs(secs)).await;
///                 secs
///             });
///         }
///         let mut order = Vec::new();
///         while let Some(result) = set.join_next().await {
///             order.push(result.unwrap());
///         }
///         order
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(order, [1, 2, 3]);
/// ```
#[doc(alias = "JoinSet")]
pub struct ChildSet<T: 'static> {
    nursery: Nursery,
    shared: Rc<SetShared<T>>,
}

impl Nursery {
    /// A new, empty [`ChildSet`] of this nursery: spawn children into it
    /// and take their results as they finish with
    /// [`join_next`](ChildSet::join_next).
    #[doc(alias = "join_next")]
    pub fn child_set<T: 'static>(&self) -> ChildSet<T> {
        ChildSet {
            nursery: self.clone(),
            shared: Rc::new(SetShared {
                finished: RefCell::new(VecDeque::new()),
                running: RefCell::new(BTreeMap::new()),
                next_key: Cell::new(0),
                waker: RefCell::new(None),
            }),
        }
    }
}

impl<T: 'static> ChildSet<T> {
    /// Spawn a child of the nursery into the set. Its output is a plain
    /// value or a `Result`, as for [`Nursery::spawn`]; the returned handle
    /// cancels it alone.
    ///
    /// # Panics
    /// If the nursery has closed; [`try_spawn`](ChildSet::try_spawn)
    /// returns the error instead.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> CancelHandle
    where
        F: Future + 'static,
        F::Output: Outcome<Value = T>,
    {
        self.try_spawn(None, future)
            .unwrap_or_else(|e| panic!("ChildSet::spawn: {e}"))
    }

    /// [`spawn`](ChildSet::spawn) with a name, shown in failures and dumps.
    #[track_caller]
    pub fn spawn_named<F>(&mut self, name: &str, future: F) -> CancelHandle
    where
        F: Future + 'static,
        F::Output: Outcome<Value = T>,
    {
        self.try_spawn(Some(name), future)
            .unwrap_or_else(|e| panic!("ChildSet::spawn_named: {e}"))
    }

    /// Spawn a child into the set, or say why not:
    /// [`SpawnError::Closed`] once the nursery has finished. The future is
    /// dropped unpolled on error.
    pub fn try_spawn<F>(
        &mut self,
        name: Option<&str>,
        future: F,
    ) -> Result<CancelHandle, SpawnError>
    where
        F: Future + 'static,
        F::Output: Outcome<Value = T>,
    {
        let key = self.shared.next_key.get();
        let child = Rc::new(ChildShared::new(name.map(Rc::from)));
        *child.set.borrow_mut() = Some((Rc::downgrade(&self.shared), key));
        self.nursery
            .spawn_shared(name, future, None, child.clone())?;
        self.shared.next_key.set(key + 1);
        // A child that finished in its spawn (not possible today: spawns
        // are queued) must not stay listed as running.
        if !child.done.get() {
            self.shared.running.borrow_mut().insert(key, child.clone());
        }
        Ok(CancelHandle::new(child))
    }

    /// Wait for the next child of the set to finish and return its result:
    /// its value, or a [`ChildError`] if it was cancelled, failed (the
    /// error went to the nursery) or panicked. `None` once the set is
    /// empty: no child running and every result taken.
    ///
    /// A checkpoint, like every arbor operation: it makes no progress in a
    /// cancelled scope, and a result that was already there is returned
    /// after a schedule point.
    ///
    /// # Cancel safety
    /// Cancel safe: a result taken and then dropped with the future (at
    /// the schedule point) goes back to the front of the set.
    pub fn join_next(&mut self) -> JoinNext<'_, T> {
        JoinNext {
            shared: &self.shared,
            taken: None,
            waited: false,
        }
    }

    /// The result of a child that has finished, if there is one, without
    /// waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, ChildError>> {
        self.shared.finished.borrow_mut().pop_front()
    }

    /// Children in the set: running ones plus finished ones whose result
    /// has not been taken.
    pub fn len(&self) -> usize {
        self.shared.running.borrow().len() + self.shared.finished.borrow().len()
    }

    /// Whether the set has no child running and no result waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancel every child still running in the set. Their results (mostly
    /// [`ChildError::Cancelled`]) still arrive through
    /// [`join_next`](ChildSet::join_next).
    pub fn cancel_all(&self) {
        let running: Vec<_> = self.shared.running.borrow().values().cloned().collect();
        for child in running {
            child.scope.cancel(CancelReason::Explicit);
        }
    }
}

impl<T: 'static> Drop for ChildSet<T> {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

impl<T: 'static> fmt::Debug for ChildSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSet")
            .field("running", &self.shared.running.borrow().len())
            .field("finished", &self.shared.finished.borrow().len())
            .finish()
    }
}

/// The future of [`ChildSet::join_next`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinNext<'a, T> {
    shared: &'a SetShared<T>,
    /// A result taken, kept over the schedule point.
    taken: Option<Result<T, ChildError>>,
    /// Returned `Pending` before: no schedule point needed any more.
    waited: bool,
}

// The result is only moved, never pinned.
impl<T> Unpin for JoinNext<'_, T> {}

impl<T> Future for JoinNext<'_, T> {
    type Output = Option<Result<T, ChildError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(result) = this.taken.take() {
            return Poll::Ready(Some(result));
        }
        if scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let waited = std::mem::replace(&mut this.waited, true);
        let next = this.shared.finished.borrow_mut().pop_front();
        match next {
            Some(result) => {
                if !waited && scope::schedule_point(cx) {
                    this.taken = Some(result);
                    return Poll::Pending;
                }
                Poll::Ready(Some(result))
            }
            None if this.shared.running.borrow().is_empty() => {
                // Nothing taken: the schedule point may come first.
                if !waited && scope::schedule_point(cx) {
                    return Poll::Pending;
                }
                Poll::Ready(None)
            }
            None => {
                let mut waker = this.shared.waker.borrow_mut();
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for JoinNext<'_, T> {
    fn drop(&mut self) {
        if let Some(result) = self.taken.take() {
            self.shared.finished.borrow_mut().push_front(result);
        }
    }
}

impl<T> fmt::Debug for JoinNext<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNext")
            .field("holding_result", &self.taken.is_some())
            .finish()
    }
}
