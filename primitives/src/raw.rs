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

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_runtime::TaskId;

use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// Who holds (or waits for) a lock: a spawned task, or the root future of
/// `block_on`, which counts as one more distinct owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The `block_on` root future (no task is running).
    Root,
    /// A spawned task.
    Task(TaskId),
}

impl Owner {
    /// The owner the code running now would be.
    ///
    /// ```
    /// use arbor_primitives::Owner;
    /// arbor_runtime::run(async { assert_eq!(Owner::current(), Owner::Root) });
    /// ```
    pub fn current() -> Owner {
        match arbor_runtime::current_task_id() {
            Some(id) => Owner::Task(id),
            None => Owner::Root,
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
    /// Waiters ask as their owner and are granted the lock (`()`).
    waiters: RefCell<WaitQueue<Owner, ()>>,
}

impl RawLock {
    pub(crate) const fn new() -> Self {
        RawLock {
            owner: Cell::new(None),
            waiters: RefCell::new(WaitQueue::new()),
        }
    }

    pub(crate) fn owner(&self) -> Option<Owner> {
        self.owner.get()
    }

    pub(crate) fn tasks_waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

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
    pub(crate) fn release(&self) {
        let mut waiters = self.waiters.borrow_mut();
        let Some(&next) = waiters.front() else {
            self.owner.set(None);
            return;
        };
        self.owner.set(Some(next));
        let waker = match waiters.grant_front(()) {
            Ok(waker) => waker,
            Err(()) => unreachable!("front() just saw a waiter"),
        };
        drop(waiters);
        waker.wake();
    }

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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: make no progress; a grant is passed on when
            // the cancelled scope drops this future.
            return Poll::Pending;
        }
        let lock = self.lock;
        match self.wait {
            None => match lock.try_acquire() {
                Err(LockError::WouldBlock) => {
                    let me = Owner::current();
                    let key = lock.waiters.borrow_mut().push(me, cx.waker());
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
    fn drop(&mut self) {
        let Some((key, _)) = self.wait.take() else {
            return;
        };
        let cancelled = self.lock.waiters.borrow_mut().cancel(key);
        if let Cancelled::Granted(()) = cancelled {
            // Granted but never ran: the lock is ours, pass it on.
            self.lock.release();
        }
    }
}
