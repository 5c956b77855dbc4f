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
/// Acquiring is a [checkpoint](crate#checkpoints): a free lock is taken at
/// once, then the task yields if other code is ready, unless the lock was
/// built [`with_fast_acquire`](Lock::with_fast_acquire).
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

    /// Fast mode (AnyIO's `fast_acquire`) if `fast`: an acquire that finds
    /// the lock free is then a cancel point but not a schedule point (it
    /// never yields), so a task that releases and re-acquires a lock
    /// nobody waits for keeps running. Acquires that wait are unchanged.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::Lock;
    ///
    /// arbor_runtime::run(async {
    ///     let lock = Rc::new(Lock::new().with_fast_acquire(true));
    ///     let other = arbor_runtime::spawn(async {});
    ///     lock.acquire().await.unwrap(); // free: no yield
    ///     assert!(!other.is_finished());
    ///     lock.release().unwrap();
    ///     // The default: the same acquire lets the other task run first.
    ///     let lock = Lock::new();
    ///     let _guard = lock.lock().await.unwrap();
    ///     assert!(other.is_finished());
    /// });
    /// ```
    pub const fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.raw.set_fast(fast);
        self
    }

    /// Wait for the lock; the current task becomes its owner.
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if the lock
    /// was free, a schedule point after taking it (not in fast mode).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if the current task already holds it
    /// (returned at once).
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran), or
    /// at the schedule point after it took the free lock, hands the lock
    /// to the next waiter (or frees it). Inside a cancelled scope it makes
    /// no progress and never locks; once it took the lock, it returns it
    /// at its next poll even if its scope was cancelled meanwhile.
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
