//! The lock core shared by [`Lock`](crate::Lock) and [`Mutex`](crate::Mutex):
//! an owner cell and a FIFO queue of waiting owners.
//!
//! ```text
//!  free ── acquire (fast path: one Cell write) ──▶ held(owner)
//!  held(owner) ── release, queue empty ──▶ free
//!  held(owner) ── release, queue non-empty ──▶ held(head's owner), head GRANTED
//! ```
//!
//! Invariant: the lock is free only when nobody waits, so the uncontended
//! path reads and writes the owner `Cell` and nothing else. A release never
//! frees the lock while anyone waits: it hands it straight to the head
//! waiter (ownership moves at the release, as in trio), which is what keeps
//! a releasing task that at once re-acquires from barging.
//!
//! The fast paths (`RawAcquire::poll` finding the lock free, `release`
//! finding nobody queued, dropping an acquire that never queued) are
//! `#[inline]` and touch only `Cell`s: `queued` mirrors "the wait queue is
//! non-empty", so a release without waiters does not borrow the queue.
//! Everything that touches the queue lives in `#[inline(never)]` slow
//! paths, which keep `queued` in step with the queue.
//!
//! An acquire is a checkpoint (see the crate docs): one that found the
//! lock free takes it, then passes a schedule point unless the lock is in
//! fast mode. If it yields there it keeps the lock (`held`) and returns it
//! at the next poll; dropped in between, it releases it like a guard.
//! This file also has the two helpers the `async fn`s of the other
//! primitives build their checkpoints from: [`cancel_point`] and
//! [`SchedulePoint`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_runtime::{Running, RuntimeId, TaskId};

use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// Who holds (or waits for) a lock: a spawned task, the root future of a
/// runtime's `block_on` (one more distinct owner per runtime), or code
/// outside any runtime (a `try_` call before `block_on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive] // new kinds of holder came with owned guards; more may come
pub enum Owner {
    /// The `block_on` root future of this runtime (no task is running).
    Root(RuntimeId),
    /// A spawned task.
    Task(TaskId),
    /// Code outside any runtime.
    Outside,
    /// An owned guard ([`OwnedMutexGuard`](crate::OwnedMutexGuard)): no
    /// task, since the guard may move to another one. A lock attempt is
    /// never refused as a deadlock while it holds the lock: a task that
    /// keeps an owned guard and locks the same mutex again waits for
    /// itself. Drop the guard first.
    OwnedGuard,
}

impl Owner {
    /// The owner the code running now would be.
    ///
    /// ```
    /// use arbor_primitives::Owner;
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// rt.block_on(async { assert_eq!(Owner::current(), Owner::Root(rt.id())) });
    /// assert_eq!(Owner::current(), Owner::Outside);
    /// ```
    #[inline]
    pub fn current() -> Owner {
        Owner::of(arbor_runtime::running())
    }

    /// The owner the code `running` would be.
    #[inline]
    fn of(running: Option<Running>) -> Owner {
        match running {
            Some(Running::Task(id)) => Owner::Task(id),
            Some(Running::Root(runtime)) => Owner::Root(runtime),
            None => Owner::Outside,
        }
    }
}

/// Errors of the lock types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockError {
    /// `try_` found the lock held, or other tasks waiting first.
    WouldBlock,
    /// The current task already holds this non-reentrant lock: waiting
    /// would wait for itself forever.
    WouldDeadlock,
    /// `release` of a lock nobody holds; nothing changed.
    NotLocked,
    /// `release` from a task that is not the owner; nothing changed.
    NotOwner {
        /// The task holding the lock.
        owner: Owner,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::WouldBlock => f.write_str(
                "the lock is held (or other tasks are waiting first); use the async form to wait",
            ),
            LockError::WouldDeadlock => f.write_str(
                "this task already holds the lock and it is not reentrant; release it first or use ReentrantLock",
            ),
            LockError::NotLocked => {
                f.write_str("release of a lock that is not held; nothing was released")
            }
            LockError::NotOwner { owner } => write!(
                f,
                "release from a task that does not hold the lock (held by {owner:?}); only the owner may release it"
            ),
        }
    }
}

impl std::error::Error for LockError {}

pub(crate) struct RawLock {
    owner: Cell<Option<Owner>>,
    /// Fast mode: an acquire that finds the lock free skips the schedule
    /// point (AnyIO's `fast_acquire`). Fixed at construction.
    fast: bool,
    /// Whether `waiters` has anyone queued (not yet granted): read by the
    /// release fast path instead of borrowing the queue.
    queued: Cell<bool>,
    /// Waiters ask as their owner and are granted the lock (`()`).
    waiters: RefCell<WaitQueue<Owner, ()>>,
}

impl RawLock {
    pub(crate) const fn new() -> Self {
        RawLock {
            owner: Cell::new(None),
            fast: false,
            queued: Cell::new(false),
            waiters: RefCell::new(WaitQueue::new()),
        }
    }

    /// Put the lock in fast mode (or not).
    pub(crate) const fn set_fast(&mut self, fast: bool) {
        self.fast = fast;
    }

    /// The lock, held by the current task, now belongs to an owned guard
    /// (see [`Owner::OwnedGuard`]). `Owner::current()` is never
    /// `OwnedGuard`, so no deadlock check matches it.
    pub(crate) fn detach_owner(&self) {
        debug_assert!(self.owner.get().is_some(), "detached a lock nobody holds");
        self.owner.set(Some(Owner::OwnedGuard));
    }

    #[inline]
    pub(crate) fn owner(&self) -> Option<Owner> {
        self.owner.get()
    }

    pub(crate) fn tasks_waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<(), LockError> {
        let me = Owner::current();
        match self.owner.get() {
            // Free implies nobody waits (module invariant).
            None => {
                self.owner.set(Some(me));
                Ok(())
            }
            Some(owner) if owner == me => Err(LockError::WouldDeadlock),
            Some(_) => Err(LockError::WouldBlock),
        }
    }

    /// Release on behalf of the current task, checking it is the owner.
    pub(crate) fn release_checked(&self) -> Result<(), LockError> {
        match self.owner.get() {
            None => Err(LockError::NotLocked),
            Some(owner) if owner != Owner::current() => Err(LockError::NotOwner { owner }),
            Some(_) => {
                self.release();
                Ok(())
            }
        }
    }

    /// Release (a guard or a granted-then-dropped waiter proves ownership):
    /// hand the lock to the head waiter, or free it.
    #[inline]
    pub(crate) fn release(&self) {
        if self.queued.get() {
            self.hand_off();
        } else {
            self.owner.set(None);
        }
    }

    /// The release slow path: the head waiter becomes the owner.
    #[inline(never)]
    fn hand_off(&self) {
        let mut waiters = self.waiters.borrow_mut();
        let Some(&next) = waiters.front() else {
            unreachable!("`queued` said someone waits");
        };
        self.owner.set(Some(next));
        let waker = match waiters.grant_front(()) {
            Ok(waker) => waker,
            Err(()) => unreachable!("front() just saw a waiter"),
        };
        self.queued.set(!waiters.is_empty());
        drop(waiters);
        waker.wake();
    }

    /// An acquire that is a checkpoint (unless the lock is in fast mode).
    #[inline]
    #[track_caller]
    pub(crate) fn acquire(&self) -> RawAcquire<'_> {
        RawAcquire {
            lock: self,
            wait: None,
            held: false,
            fast: self.fast,
            at: std::panic::Location::caller(),
        }
    }

    /// An acquire without the schedule point, whatever the lock's mode:
    /// for code that has just waited (a `Condition::wait` re-locking after
    /// its notification), which already let others run.
    #[inline]
    #[track_caller]
    pub(crate) fn acquire_after_wait(&self) -> RawAcquire<'_> {
        RawAcquire {
            fast: true,
            ..self.acquire()
        }
    }
}

/// Waits for a [`RawLock`]; the owner is the task that first polls it.
pub(crate) struct RawAcquire<'a> {
    lock: &'a RawLock,
    wait: Option<(WaitKey, Owner)>,
    /// Took the free lock and yielded at the schedule point: the lock is
    /// ours, returned at the next poll (or released if dropped first).
    held: bool,
    /// Skip the schedule point.
    fast: bool,
    /// Where the lock was asked for (the user's line for `Mutex::lock`):
    /// the task's await point in `arbor::dump`.
    at: &'static std::panic::Location<'static>,
}

impl Future for RawAcquire<'_> {
    type Output = Result<(), LockError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.held {
            // After the schedule point: the lock is ours whatever was
            // cancelled meanwhile (the regions around gave us this poll).
            this.held = false;
            return Poll::Ready(Ok(()));
        }
        // The cancel check, the owner and the schedule point: one read of
        // the runtime's context.
        arbor_runtime::scope::with_checkpoint(|cp| {
            if cp.is_cancelled() {
                // Level-triggered: make no progress; a grant is passed on
                // when the cancelled scope drops this future.
                return Poll::Pending;
            }
            let lock = this.lock;
            if this.wait.is_none() && lock.owner.get().is_none() {
                // Free implies nobody waits: take it, then the schedule
                // point (none in fast mode).
                lock.owner.set(Some(Owner::of(cp.running())));
                if !this.fast && cp.schedule_point(cx) {
                    this.held = true;
                    return Poll::Pending;
                }
                return Poll::Ready(Ok(()));
            }
            this.poll_slow(cx)
        })
    }
}

impl RawAcquire<'_> {
    /// `poll` when the lock is held or this future already waits.
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LockError>> {
        let lock = self.lock;
        match self.wait {
            None => match lock.try_acquire() {
                Err(LockError::WouldBlock) => {
                    let me = Owner::current();
                    let key = lock.waiters.borrow_mut().push_at(me, cx.waker(), self.at);
                    lock.queued.set(true);
                    self.wait = Some((key, me));
                    Poll::Pending
                }
                done => Poll::Ready(done),
            },
            Some((key, me)) => {
                let mut waiters = lock.waiters.borrow_mut();
                if waiters.take(key).is_some() {
                    drop(waiters);
                    self.wait = None;
                    Poll::Ready(Ok(()))
                } else if lock.owner.get() == Some(me) {
                    // Another waiter of this same task got the lock: this
                    // one would wait for its own task.
                    let _ = waiters.cancel(key);
                    lock.queued.set(!waiters.is_empty());
                    drop(waiters);
                    self.wait = None;
                    Poll::Ready(Err(LockError::WouldDeadlock))
                } else {
                    waiters.set_waker_at(key, cx.waker(), self.at);
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for RawAcquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some((key, _)) = self.wait.take() {
            self.lock.withdraw(key);
        } else if self.held {
            // Dropped at the schedule point (a task abort): the lock was
            // taken, so release it as its guard would have.
            self.lock.release();
        }
    }
}

impl RawLock {
    /// A waiter's future was dropped: leave the queue, or pass on a grant
    /// it had not taken.
    #[inline(never)]
    fn withdraw(&self, key: WaitKey) {
        let cancelled = {
            let mut waiters = self.waiters.borrow_mut();
            let cancelled = waiters.cancel(key);
            self.queued.set(!waiters.is_empty());
            cancelled
        };
        if let Cancelled::Granted(()) = cancelled {
            // Granted but never ran: the lock is ours, pass it on.
            self.release();
        }
    }
}

/// The cancel point that starts every checkpoint: pending for good inside
/// a cancelled scope (the scope drops the caller at this suspension),
/// ready at once otherwise.
pub(crate) fn cancel_point() -> impl Future<Output = ()> {
    std::future::poll_fn(|_| {
        if arbor_runtime::scope::current_is_cancelled() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
}

/// The schedule point that ends a checkpoint whose operation found what it
/// needed without taking anything (an event set, a value there, a
/// predicate holding): it keeps `result` (returned, not taken) and yields
/// if other code is ready ([`arbor_runtime::scope::schedule_point`]).
/// Having taken nothing, it is a cancel point again after the yield, as
/// trio's `checkpoint()`: inside a scope cancelled meanwhile it makes no
/// progress, and `result` is dropped with the future. (Operations that took
/// something keep it over the yield and return it whatever was cancelled:
/// see `RawAcquire`.)
#[must_use = "futures do nothing unless polled"]
pub(crate) struct SchedulePoint<R> {
    result: Option<R>,
    polled: bool,
}

impl<R> SchedulePoint<R> {
    pub(crate) fn new(result: R) -> Self {
        SchedulePoint {
            result: Some(result),
            polled: false,
        }
    }
}

// The result is never pinned: it is only moved out.
impl<R> Unpin for SchedulePoint<R> {}

impl<R> Future for SchedulePoint<R> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        if !std::mem::replace(&mut this.polled, true) && arbor_runtime::scope::schedule_point(cx) {
            return Poll::Pending;
        }
        Poll::Ready(
            this.result
                .take()
                .expect("SchedulePoint polled after it completed"),
        )
    }
}
