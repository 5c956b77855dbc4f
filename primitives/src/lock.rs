//! [`Lock`]: trio's `Lock`, a non-reentrant mutual-exclusion lock with an
//! owner, FIFO hand-off, and explicit `acquire`/`release`.

use std::fmt;

use crate::raw::{LockError, Owner, RawLock};

/// A non-reentrant lock owned by the task that acquired it (a mutex over
/// `()`; [`Mutex`](crate::Mutex) guards a value).
///
/// FIFO and hand-off fair: a release hands the lock straight to the
/// longest waiter, so a task that releases and at once re-acquires queues
/// behind it, and [`try_acquire`](Lock::try_acquire) fails while anyone
/// waits. The owning task re-acquiring is [`LockError::WouldDeadlock`],
/// never a hang; releasing from another task is [`LockError::NotOwner`].
///
/// ```
/// use arbor_primitives::{Lock, LockError};
///
/// arbor_runtime::run(async {
///     let lock = Lock::new();
///     lock.acquire().await.unwrap();
///     assert!(lock.locked());
///     assert_eq!(lock.acquire().await, Err(LockError::WouldDeadlock));
///     lock.release().unwrap();
///     assert_eq!(lock.release(), Err(LockError::NotLocked));
///     let _guard = lock.lock().await.unwrap(); // released on drop
/// });
/// ```
pub struct Lock {
    raw: RawLock,
}

/// A lock's counters, as trio reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockStatistics {
    /// Whether the lock is held (or granted to a waiter not yet run).
    pub locked: bool,
    /// Who holds it.
    pub owner: Option<Owner>,
    /// Tasks queued in `acquire`.
    pub tasks_waiting: usize,
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Lock {
            raw: RawLock::new(),
        }
    }

    /// Wait for the lock; the current task becomes its owner.
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if the current task already holds it.
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran) hands
    /// the lock to the next waiter. Inside a cancelled scope it makes no
    /// progress and never locks.
    pub async fn acquire(&self) -> Result<(), LockError> {
        self.raw.acquire().await
    }

    /// Take the lock if it is free (which implies nobody waits).
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if held by another task or others wait;
    /// [`LockError::WouldDeadlock`] if the current task holds it.
    pub fn try_acquire(&self) -> Result<(), LockError> {
        self.raw.try_acquire()
    }

    /// Release the lock, handing it to the longest waiter.
    ///
    /// # Errors
    /// [`LockError::NotLocked`] if nobody holds it, [`LockError::NotOwner`]
    /// if another task does; nothing changes then.
    pub fn release(&self) -> Result<(), LockError> {
        self.raw.release_checked()
    }

    /// [`acquire`](Lock::acquire), returning a guard that releases on drop
    /// (from whichever task drops it).
    ///
    /// # Errors
    /// As [`acquire`](Lock::acquire).
    ///
    /// # Cancel safety
    /// As [`acquire`](Lock::acquire).
    pub async fn lock(&self) -> Result<LockGuard<'_>, LockError> {
        self.raw.acquire().await?;
        Ok(LockGuard { lock: self })
    }

    /// Whether the lock is held.
    pub fn locked(&self) -> bool {
        self.raw.owner().is_some()
    }

    /// trio's statistics.
    pub fn statistics(&self) -> LockStatistics {
        LockStatistics {
            locked: self.locked(),
            owner: self.raw.owner(),
            tasks_waiting: self.raw.tasks_waiting(),
        }
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lock").field(&self.statistics()).finish()
    }
}

/// The lock held; dropping it releases it.
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.raw.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
