//! [`ReentrantLock`]: a lock its owning task may take again.
//!
//! ```text
//!  free ── lock ──▶ held(owner, 1) ── lock by owner ──▶ held(owner, n+1)
//!  held(owner, n>1) ── guard dropped ──▶ held(owner, n-1)
//!  held(owner, 1) ── guard dropped ──▶ free, or held(head's owner, 1) + head GRANTED
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::raw::{LockError, Owner};
use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// A reentrant lock over a `T`: the owning task may lock it again (the
/// count goes up; each guard dropped takes it down); other tasks wait in
/// FIFO order and get it by direct hand-off when the count reaches zero.
///
/// Guards give shared access only (`Deref`, not `DerefMut`): two guards of
/// the same task may be alive at once. Put a `Cell`/`RefCell` inside for
/// mutation. The owner re-locking never waits, even while others queue
/// (it could not: they wait for it).
///
/// The owner may hold it up to `usize::MAX` times at once; one more is a
/// panic that changes nothing (see [`lock`](ReentrantLock::lock)). Only
/// guards forgotten with `mem::forget` can get there.
///
/// Locking is a [checkpoint](crate#checkpoints), also when the owner
/// re-enters: the task yields after taking the lock if other code is
/// ready, unless the lock was built
/// [`with_fast_acquire`](ReentrantLock::with_fast_acquire).
///
/// ```
/// use arbor_primitives::ReentrantLock;
///
/// arbor_runtime::run(async {
///     let lock = ReentrantLock::new(5);
///     let a = lock.lock().await;
///     let b = lock.lock().await; // same task: no deadlock
///     assert_eq!(lock.statistics().count, 2);
///     assert_eq!(*a + *b, 10);
///     drop(b);
///     drop(a);
///     assert!(!lock.statistics().locked);
/// });
/// ```
pub struct ReentrantLock<T> {
    owner: Cell<Option<Owner>>,
    /// Fast mode: no schedule point when `lock` does not wait.
    fast: bool,
    count: Cell<usize>,
    waiters: RefCell<WaitQueue<Owner, ()>>,
    value: T,
}

/// A reentrant lock's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReentrantLockStatistics {
    /// Whether the lock is held (or granted to a waiter not yet run).
    pub locked: bool,
    /// Who holds it.
    pub owner: Option<Owner>,
    /// How many times the owner holds it.
    pub count: usize,
    /// Tasks queued in `lock`.
    pub tasks_waiting: usize,
}

impl<T> ReentrantLock<T> {
    /// An unlocked lock over `value`.
    pub const fn new(value: T) -> Self {
        ReentrantLock {
            owner: Cell::new(None),
            fast: false,
            count: Cell::new(0),
            waiters: RefCell::new(WaitQueue::new()),
            value,
        }
    }

    /// Fast mode (AnyIO's `fast_acquire`) if `fast`: a
    /// [`lock`](ReentrantLock::lock) that does not wait (the lock was free,
    /// or the task re-enters it) is then a cancel point but not a schedule
    /// point. Locks that wait are unchanged.
    ///
    /// ```
    /// use arbor_primitives::ReentrantLock;
    ///
    /// arbor_runtime::run(async {
    ///     let lock = ReentrantLock::new(()).with_fast_acquire(true);
    ///     let other = arbor_runtime::spawn(async {});
    ///     let _a = lock.lock().await;
    ///     let _b = lock.lock().await; // re-entered: no yield either
    ///     assert!(!other.is_finished());
    /// });
    /// ```
    pub const fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// Wait for the lock (no waiting if the current task holds it).
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if it takes
    /// the lock without waiting (free, or re-entered), a schedule point
    /// after taking it (not in fast mode).
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran), or
    /// at the schedule point after it took the lock, gives that hold back
    /// (handing the lock to the next waiter if it was the last). Inside a
    /// cancelled scope it makes no progress and never locks; once it took
    /// the lock, it returns the guard at its next poll even if its scope
    /// was cancelled meanwhile.
    ///
    /// # Panics
    /// When polled, if the current task already holds the lock
    /// `usize::MAX` times (possible only by forgetting guards). The lock
    /// is left as it was, still held that many times.
    pub fn lock(&self) -> ReentrantLockFuture<'_, T> {
        ReentrantLockFuture {
            lock: self,
            wait: None,
            taken: None,
        }
    }

    /// Lock if free or held by the current task.
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if another task holds it or others wait
    /// (and the current task does not hold it).
    ///
    /// # Panics
    /// If the current task already holds the lock `usize::MAX` times
    /// (possible only by forgetting guards); nothing changes.
    #[track_caller]
    pub fn try_lock(&self) -> Result<ReentrantGuard<'_, T>, LockError> {
        let me = Owner::current();
        match self.owner.get() {
            None => {
                // Free implies nobody waits: the release hands it on.
                self.owner.set(Some(me));
                self.count.set(1);
            }
            Some(owner) if owner == me => self.count.set(self.count_up()),
            Some(_) => return Err(LockError::WouldBlock),
        }
        Ok(ReentrantGuard { lock: self })
    }

    /// The value, with no locking.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// Take the value out.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Counters.
    pub fn statistics(&self) -> ReentrantLockStatistics {
        ReentrantLockStatistics {
            locked: self.owner.get().is_some(),
            owner: self.owner.get(),
            count: self.count.get(),
            tasks_waiting: self.waiters.borrow().len(),
        }
    }

    /// The count after one more hold by the owner; checked so that a
    /// forgotten-guard loop panics here instead of wrapping (a wrong count
    /// frees the lock while guards live, or never).
    #[track_caller]
    fn count_up(&self) -> usize {
        self.count.get().checked_add(1).expect(
            "ReentrantLock: the owner already holds it usize::MAX times (guards forgotten with mem::forget?); nothing changed",
        )
    }

    /// Count down once; at zero hand the lock to the head waiter.
    fn release_one(&self) {
        // Cannot underflow: each call gives back one hold (a guard, or a
        // grant passed on), and each hold counted one.
        let count = self.count.get() - 1;
        self.count.set(count);
        if count > 0 {
            return;
        }
        let mut waiters = self.waiters.borrow_mut();
        let Some(&next) = waiters.front() else {
            self.owner.set(None);
            return;
        };
        self.owner.set(Some(next));
        self.count.set(1);
        let waker = match waiters.grant_front(()) {
            Ok(waker) => waker,
            Err(()) => unreachable!("front() just saw a waiter"),
        };
        drop(waiters);
        waker.wake();
    }
}

impl<T> fmt::Debug for ReentrantLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReentrantLock")
            .field(&self.statistics())
            .finish()
    }
}

/// The future of [`ReentrantLock::lock`].
#[must_use = "futures do nothing unless polled"]
pub struct ReentrantLockFuture<'a, T> {
    lock: &'a ReentrantLock<T>,
    wait: Option<(WaitKey, Owner)>,
    /// Taken without waiting, held over the schedule point: returned at
    /// the next poll, or released with the future.
    taken: Option<ReentrantGuard<'a, T>>,
}

impl<'a, T> Future for ReentrantLockFuture<'a, T> {
    type Output = ReentrantGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(guard) = self.taken.take() {
            // After the schedule point: ours whatever was cancelled.
            return Poll::Ready(guard);
        }
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let lock = self.lock;
        match self.wait {
            None => match lock.try_lock() {
                Ok(guard) => {
                    if !lock.fast && arbor_runtime::scope::schedule_point(cx) {
                        self.taken = Some(guard);
                        return Poll::Pending;
                    }
                    Poll::Ready(guard)
                }
                Err(_) => {
                    let me = Owner::current();
                    let key = lock.waiters.borrow_mut().push(me, cx.waker());
                    self.wait = Some((key, me));
                    Poll::Pending
                }
            },
            Some((key, me)) => {
                let mut waiters = lock.waiters.borrow_mut();
                if waiters.take(key).is_some() {
                    // The grant set owner = me, count = 1.
                } else if lock.owner.get() == Some(me) {
                    // Another waiter of this task got it: re-enter. Count
                    // first: a panic there leaves this waiter queued, and
                    // its drop withdraws it.
                    let count = lock.count_up();
                    let _ = waiters.cancel(key);
                    lock.count.set(count);
                } else {
                    waiters.set_waker(key, cx.waker());
                    return Poll::Pending;
                }
                drop(waiters);
                self.wait = None;
                Poll::Ready(ReentrantGuard { lock })
            }
        }
    }
}

impl<T> Drop for ReentrantLockFuture<'_, T> {
    fn drop(&mut self) {
        let Some((key, _)) = self.wait.take() else {
            return;
        };
        let cancelled = self.lock.waiters.borrow_mut().cancel(key);
        if let Cancelled::Granted(()) = cancelled {
            self.lock.release_one();
        }
    }
}

/// One hold of a [`ReentrantLock`]; dropping it counts down once.
#[must_use = "dropping the guard releases one hold at once"]
pub struct ReentrantGuard<'a, T> {
    lock: &'a ReentrantLock<T>,
}

impl<T> Deref for ReentrantGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.lock.value
    }
}

impl<T> Drop for ReentrantGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release_one();
    }
}

impl<T: fmt::Debug> fmt::Debug for ReentrantGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReentrantGuard")
            .field(&self.lock.value)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    #[test]
    fn holding_it_usize_max_times_then_once_more_panics_and_changes_nothing() {
        arbor_runtime::run(async {
            let lock = ReentrantLock::new(());
            let guard = lock.lock().await;
            // As if `usize::MAX - 1` more guards had been forgotten.
            lock.count.set(usize::MAX);
            let err = catch_unwind(AssertUnwindSafe(|| lock.try_lock().map(drop))).unwrap_err();
            let msg = err.downcast_ref::<String>().unwrap();
            assert!(msg.contains("usize::MAX times"), "{msg}");
            let mut fut = Box::pin(lock.lock());
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx).map(drop)));
            assert!(polled.is_err(), "lock() panics too");
            drop(fut);
            let stats = lock.statistics();
            assert_eq!(
                (stats.locked, stats.count, stats.tasks_waiting),
                (true, usize::MAX, 0)
            );
            // Still usable: unwind the forged holds and release.
            lock.count.set(1);
            drop(guard);
            assert!(!lock.statistics().locked);
            drop(lock.try_lock().unwrap());
        });
    }
}
