//! [`Mutex`]: a [`Lock`](crate::Lock) guarding a value.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::lock::LockStatistics;
use crate::raw::{LockError, RawAcquire, RawLock};

/// A non-reentrant async mutex over a `T`, owned by the task that locked
/// it. Same fairness and misuse rules as [`Lock`](crate::Lock).
///
/// The value lives in a `RefCell`; a guard holds its `RefMut`, so access
/// is safe code throughout (but for [`OwnedMutexGuard`]). Locking and
/// unlocking without contention touches a few `Cell`s and allocates
/// nothing.
///
/// Locking is a [checkpoint](crate#checkpoints): a free mutex is locked
/// at once, then the task yields if other code is ready, unless the mutex
/// was built [`with_fast_acquire`](Mutex::with_fast_acquire).
///
/// ```
/// use arbor_primitives::{LockError, Mutex};
///
/// arbor_runtime::run(async {
///     let m = Mutex::new(vec![1]);
///     let mut g = m.lock().await.unwrap();
///     g.push(2);
///     assert_eq!(m.try_lock().err(), Some(LockError::WouldDeadlock));
///     drop(g);
///     assert_eq!(m.into_inner(), [1, 2]);
/// });
/// ```
pub struct Mutex<T> {
    raw: RawLock,
    value: RefCell<T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawLock::new(),
            value: RefCell::new(value),
        }
    }

    /// Fast mode (AnyIO's `fast_acquire`) if `fast`: a [`lock`](Mutex::lock)
    /// that finds the mutex free is then a cancel point but not a schedule
    /// point (it never yields). Locks that wait are unchanged.
    ///
    /// ```
    /// use arbor_primitives::Mutex;
    ///
    /// arbor_runtime::run(async {
    ///     let m = Mutex::new(0).with_fast_acquire(true);
    ///     let other = arbor_runtime::spawn(async {});
    ///     *m.lock().await.unwrap() += 1; // free: no yield
    ///     assert!(!other.is_finished());
    /// });
    /// ```
    pub const fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.raw.set_fast(fast);
        self
    }

    /// Wait for the lock; the current task becomes its owner.
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if the mutex
    /// was free, a schedule point after locking it (not in fast mode).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if the current task already holds it
    /// (returned at once).
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran), or
    /// at the schedule point after it took the free mutex, hands the lock
    /// to the next waiter (or frees it). Inside a cancelled scope it makes
    /// no progress and never locks; once it took the lock, it returns the
    /// guard at its next poll even if its scope was cancelled meanwhile.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexLock<'_, T> {
        MutexLock {
            mutex: self,
            acquire: self.raw.acquire(),
        }
    }

    /// [`lock`](Mutex::lock) without its schedule point, for code that has
    /// just waited (`Condition::wait` re-locking after a notification).
    pub(crate) fn lock_after_wait(&self) -> MutexLock<'_, T> {
        MutexLock {
            mutex: self,
            acquire: self.raw.acquire_after_wait(),
        }
    }

    /// [`lock`](Mutex::lock) through an `Rc`, giving a guard that owns a
    /// clone of it: `'static`, so it can move into a spawned task (tokio's
    /// `lock_owned`).
    ///
    /// While an owned guard holds the mutex its owner is
    /// [`Owner::OwnedGuard`](crate::Owner::OwnedGuard), not a task (the
    /// guard may move): no lock attempt is refused with
    /// [`LockError::WouldDeadlock`] then, so a task that keeps an owned
    /// guard and locks the same mutex again waits for itself. Drop the
    /// guard first.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::Mutex;
    ///
    /// arbor_runtime::run(async {
    ///     let m = Rc::new(Mutex::new(Vec::new()));
    ///     let mut guard = m.clone().lock_owned().await.unwrap();
    ///     guard.push("locked in main");
    ///     let worker = arbor_runtime::spawn(async move {
    ///         guard.push("used in the worker");
    ///         // Dropped here: the mutex is unlocked.
    ///     });
    ///     // Waits until the worker has dropped the guard.
    ///     let v = m.lock().await.unwrap();
    ///     assert_eq!(*v, ["locked in main", "used in the worker"]);
    ///     drop(v);
    ///     worker.await.unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if the current task already holds it
    /// through a [`MutexGuard`].
    ///
    /// # Cancel safety
    /// As for [`lock`](Mutex::lock): a checkpoint, and nothing is lost.
    pub async fn lock_owned(self: Rc<Self>) -> Result<OwnedMutexGuard<T>, LockError> {
        self.raw.acquire().await?;
        // No suspension from here on: the lock cannot leak.
        self.raw.detach_owner();
        Ok(OwnedMutexGuard { mutex: self })
    }

    /// Lock if free (which implies nobody waits).
    ///
    /// # Errors
    /// [`LockError::WouldBlock`] if held by another task or others wait;
    /// [`LockError::WouldDeadlock`] if the current task holds it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, LockError> {
        self.raw.try_acquire()?;
        Ok(self.guard())
    }

    #[inline]
    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            // Holding the lock means no other guard (hence no RefMut) lives.
            value: self.value.borrow_mut(),
            release: Release(&self.raw),
        }
    }

    /// Whether the mutex is held.
    pub fn is_locked(&self) -> bool {
        self.raw.owner().is_some()
    }

    /// The value, with no locking: `&mut self` proves nobody holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Take the value out.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// trio's statistics.
    pub fn statistics(&self) -> LockStatistics {
        LockStatistics {
            locked: self.is_locked(),
            owner: self.raw.owner(),
            tasks_waiting: self.raw.tasks_waiting(),
        }
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mutex").field(&self.statistics()).finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless polled"]
pub struct MutexLock<'a, T> {
    mutex: &'a Mutex<T>,
    acquire: RawAcquire<'a>,
}

impl<'a, T> Future for MutexLock<'a, T> {
    type Output = Result<MutexGuard<'a, T>, LockError>;

    // Always inlined: a call here returns the guard through memory, and
    // the uncontended lock is a handful of instructions besides.
    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mutex = self.mutex;
        match Pin::new(&mut self.acquire).poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(mutex.guard())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The mutex held, giving `&mut T`; dropping it unlocks.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T> {
    // Field order matters: the `RefMut` is dropped before the lock is
    // handed on.
    value: RefMut<'a, T>,
    release: Release<'a>,
}

impl<T> MutexGuard<'_, T> {
    pub(crate) fn raw(&self) -> &RawLock {
        self.release.0
    }
}

/// Releases the lock when dropped (after the guard's `RefMut`).
struct Release<'a>(&'a RawLock);

impl Drop for Release<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A [`Mutex`] held through an `Rc` ([`Mutex::lock_owned`]): `'static`,
/// it may move into another task; dropping it unlocks (from whichever task
/// drops it).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct OwnedMutexGuard<T> {
    mutex: Rc<Mutex<T>>,
}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard holds.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::Mutex;
    ///
    /// arbor_runtime::run(async {
    ///     let m = Rc::new(Mutex::new(1));
    ///     let guard = m.clone().lock_owned().await.unwrap();
    ///     assert!(Rc::ptr_eq(guard.mutex(), &m));
    ///     assert!(m.is_locked());
    /// });
    /// ```
    pub fn mutex(&self) -> &Rc<Mutex<T>> {
        &self.mutex
    }
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // The value is only reached under the lock: through a `MutexGuard`
        // (created only by the lock's holder, so none lives now) or an
        // `OwnedMutexGuard` (this one), or through `get_mut`/`into_inner`,
        // which need the `Mutex` itself exclusively, impossible while this
        // guard's `Rc` shares it. The only `&mut T` comes from `deref_mut`
        // on this guard, which the borrow checker keeps apart from this `&T`.
        // SAFETY: this guard holds the lock, so no `RefMut` of the value
        // exists (see above).
        unsafe { &*self.mutex.value.as_ptr() }
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // into the value derived from this guard.
        unsafe { &mut *self.mutex.value.as_ptr() }
    }
}

impl<T> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.mutex.raw.release();
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedMutexGuard").field(&**self).finish()
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MutexGuard").field(&*self.value).finish()
    }
}
