//! [`Condition`]: wait for a notification while giving up a [`Mutex`].

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::mutex::{Mutex, MutexGuard};
use crate::raw::{LockError, SchedulePoint, cancel_point};
use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// trio's `Condition`, over a shared [`Mutex<T>`].
///
/// The condition holds an `Rc<Mutex<T>>` (so spawned `'static` tasks can
/// share both through one `Rc<Condition<T>>`); lock it with
/// [`lock`](Condition::lock) or through [`mutex`](Condition::mutex).
///
/// [`wait`](Condition::wait) consumes the guard, joins the notify queue and
/// releases the lock with no suspension in between, so no notification
/// sent after the guard was given up can be missed. Notifications go to
/// waiters in FIFO order; each notified waiter then re-locks the mutex
/// (queueing FIFO behind other lockers) and gets its guard back.
///
/// Holding the lock to notify is enforced by the signature:
/// [`notify`](Condition::notify) takes `&MutexGuard`.
///
/// ```
/// use std::rc::Rc;
/// use arbor_primitives::{Condition, Mutex};
///
/// arbor_runtime::run(async {
///     let cond = Rc::new(Condition::new(Rc::new(Mutex::new(false))));
///     let c = cond.clone();
///     let waiter = arbor_runtime::spawn(async move {
///         let g = c.lock().await.unwrap();
///         let g = c.wait_for(g, |ready| *ready).await.unwrap();
///         *g
///     });
///     arbor_runtime::yield_now().await;
///     let mut g = cond.lock().await.unwrap();
///     *g = true;
///     cond.notify_all(&g);
///     drop(g);
///     assert!(waiter.await.unwrap());
/// });
/// ```
pub struct Condition<T> {
    mutex: Rc<Mutex<T>>,
    /// Notifications are the grants.
    waiters: RefCell<WaitQueue<(), ()>>,
}

/// A condition's counters, as trio reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionStatistics {
    /// Tasks waiting in `wait` for a notification.
    pub tasks_waiting: usize,
    /// The mutex's statistics.
    pub lock_statistics: crate::LockStatistics,
}

impl<T> Condition<T> {
    /// A condition over `mutex`.
    pub fn new(mutex: Rc<Mutex<T>>) -> Self {
        Condition {
            mutex,
            waiters: RefCell::new(WaitQueue::new()),
        }
    }

    /// The mutex.
    pub fn mutex(&self) -> &Rc<Mutex<T>> {
        &self.mutex
    }

    /// Lock the mutex (as [`Mutex::lock`], a [checkpoint](crate#checkpoints)
    /// in the mutex's mode).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if the current task holds it.
    ///
    /// # Cancel safety
    /// As for [`Mutex::lock`]: nothing is lost.
    pub async fn lock(&self) -> Result<MutexGuard<'_, T>, LockError> {
        self.mutex.lock().await
    }

    /// Give up `guard` and wait for a notification, then re-lock and return
    /// the guard.
    ///
    /// It always waits, so it is a [checkpoint](crate#checkpoints) without
    /// a separate schedule point: re-locking a free mutex after the
    /// notification does not yield again (in any mode).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if, when re-locking, the current task
    /// already holds the mutex again through another guard.
    ///
    /// # Panics
    /// If `guard` is not a guard of this condition's mutex.
    ///
    /// # Cancel safety
    /// Dropping the future drops the guard it consumed (the lock is free
    /// afterwards: there is no caller to hand a re-locked guard to). If it
    /// had been notified but not returned yet, the notification passes to
    /// the next waiter. Inside a cancelled scope it makes no progress: first
    /// polled there, it never joins the queue (the guard is released when
    /// the scope drops it).
    pub async fn wait<'a>(
        &'a self,
        guard: MutexGuard<'a, T>,
    ) -> Result<MutexGuard<'a, T>, LockError> {
        assert!(
            std::ptr::eq(guard.raw(), self.mutex.raw()),
            "Condition::wait got a guard of a different mutex than the condition's"
        );
        let mut guard = Some(guard);
        let mut key: Option<WaitKey> = None;
        let mut pass_on = PassOn {
            cond: self,
            key: None,
            notified: false,
        };
        poll_fn(|cx| {
            if arbor_runtime::scope::current_is_cancelled() {
                return Poll::Pending;
            }
            let mut waiters = self.waiters.borrow_mut();
            match key {
                None => {
                    let k = waiters.push((), cx.waker());
                    drop(waiters);
                    key = Some(k);
                    pass_on.key = Some(k);
                    // Queued before the lock is given up: atomic.
                    drop(guard.take());
                    Poll::Pending
                }
                Some(k) => {
                    if waiters.take(k).is_some() {
                        pass_on.key = None;
                        pass_on.notified = true;
                        Poll::Ready(())
                    } else {
                        waiters.set_waker(k, cx.waker());
                        Poll::Pending
                    }
                }
            }
        })
        .await;
        // Having waited, the re-lock needs no schedule point of its own.
        let relocked = self.mutex.lock_after_wait().await;
        pass_on.notified = false;
        relocked
    }

    /// Wait until `pred` holds of the value, re-checking after each
    /// notification.
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point first (`pred` is
    /// not called inside a cancelled scope); if `pred` already holds, a
    /// schedule point that keeps the guard and a cancel point again after
    /// it, then it returns without waiting; otherwise it waits as
    /// [`wait`](Condition::wait) does.
    ///
    /// # Errors
    /// As [`wait`](Condition::wait).
    ///
    /// # Cancel safety
    /// As [`wait`](Condition::wait): dropping the future drops the guard
    /// it consumed, also at the schedule point when `pred` held at once.
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: MutexGuard<'a, T>,
        mut pred: impl FnMut(&mut T) -> bool,
    ) -> Result<MutexGuard<'a, T>, LockError> {
        cancel_point().await;
        if pred(&mut guard) {
            return Ok(SchedulePoint::new(guard).await);
        }
        loop {
            guard = self.wait(guard).await?;
            if pred(&mut guard) {
                return Ok(guard);
            }
        }
    }

    /// Wake up to `n` waiters, longest first. The guard proves the caller
    /// holds the lock, as trio requires.
    ///
    /// # Panics
    /// If `guard` is not a guard of this condition's mutex.
    pub fn notify(&self, guard: &MutexGuard<'_, T>, n: usize) {
        assert!(
            std::ptr::eq(guard.raw(), self.mutex.raw()),
            "Condition::notify got a guard of a different mutex than the condition's"
        );
        self.grant(n);
    }

    /// Wake every waiter.
    ///
    /// # Panics
    /// If `guard` is not a guard of this condition's mutex.
    pub fn notify_all(&self, guard: &MutexGuard<'_, T>) {
        self.notify(guard, usize::MAX);
    }

    fn grant(&self, n: usize) {
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            for _ in 0..n {
                match waiters.grant_front(()) {
                    Ok(waker) => wake.push(waker),
                    Err(()) => break,
                }
            }
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// trio's statistics.
    pub fn statistics(&self) -> ConditionStatistics {
        ConditionStatistics {
            tasks_waiting: self.waiters.borrow().len(),
            lock_statistics: self.mutex.statistics(),
        }
    }
}

impl<T> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition")
            .field(&self.statistics())
            .finish()
    }
}

/// Leaves the notify queue when a `wait` is dropped, passing on a
/// notification received (queued-and-granted, or taken but the guard not
/// yet returned).
struct PassOn<'a, T> {
    cond: &'a Condition<T>,
    key: Option<WaitKey>,
    notified: bool,
}

impl<T> Drop for PassOn<'_, T> {
    fn drop(&mut self) {
        let mut notified = self.notified;
        if let Some(key) = self.key.take() {
            let cancelled = self.cond.waiters.borrow_mut().cancel(key);
            notified |= cancelled == Cancelled::Granted(());
        }
        if notified {
            self.cond.grant(1);
        }
    }
}
