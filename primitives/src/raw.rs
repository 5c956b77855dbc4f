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
pub enum Owner {
    /// The `block_on` root future of this runtime (no task is running).
    Root(RuntimeId),
    /// A spawned task.
    Task(TaskId),
    /// Code outside any runtime.
    Outside,
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
        match arbor_runtime::running() {
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
            queued: Cell::new(false),
            waiters: RefCell::new(WaitQueue::new()),
        }
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

    #[inline]
    pub(crate) fn acquire(&self) -> RawAcquire<'_> {
        RawAcquire {
            lock: self,
            wait: None,
        }
    }
}

/// Waits for a [`RawLock`]; the owner is the task that first polls it.
pub(crate) struct RawAcquire<'a> {
    lock: &'a RawLock,
    wait: Option<(WaitKey, Owner)>,
}

impl Future for RawAcquire<'_> {
    type Output = Result<(), LockError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: make no progress; a grant is passed on when
            // the cancelled scope drops this future.
            return Poll::Pending;
        }
        let lock = self.lock;
        if self.wait.is_none() && lock.owner.get().is_none() {
            // Free implies nobody waits: take it.
            lock.owner.set(Some(Owner::current()));
            return Poll::Ready(Ok(()));
        }
        self.get_mut().poll_slow(cx)
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
                    let key = lock.waiters.borrow_mut().push(me, cx.waker());
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
                    waiters.set_waker(key, cx.waker());
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
