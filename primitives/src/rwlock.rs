//! [`RwLock`]: a fair, writer-preferring readers-writer lock.

use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// The most read guards alive at once: each holds a shared borrow of the
/// value's `RefCell`, which allows `isize::MAX` of them. Keeping `readers`
/// at or below it means that borrow never fails and the count never wraps.
const MAX_READERS: usize = isize::MAX as usize;

/// A readers-writer lock.
///
/// Fair and writer-preferring: once a writer waits, new readers queue
/// behind it, so writers never starve; when the lock is handed on, the
/// readers queued together at the head are all admitted together. A task
/// that releases and at once locks again queues behind existing waiters,
/// and the `try_` forms fail while anyone waits.
///
/// Not reentrant: a task that holds a guard and waits for a conflicting
/// one (or for a read lock while a writer is queued) waits for itself
/// forever. Drop the guard first.
///
/// At most `isize::MAX` read guards may be alive at once (the shared-borrow
/// limit of the `RefCell` holding the value; only guards forgotten with
/// `mem::forget` get there). Past it a reader waits, and `try_read` fails,
/// as if a writer held the lock, until a read guard is dropped.
///
/// [`read`](RwLock::read) and [`write`](RwLock::write) are
/// [checkpoints](crate#checkpoints): access granted without waiting is
/// followed by a yield if other code is ready, unless the lock was built
/// [`with_fast_acquire`](RwLock::with_fast_acquire).
///
/// ```
/// use arbor_primitives::RwLock;
///
/// arbor_runtime::run(async {
///     let lock = RwLock::new(1);
///     {
///         let a = lock.read().await;
///         let b = lock.read().await;
///         assert_eq!(*a + *b, 2);
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(lock.into_inner(), 2);
/// });
/// ```
pub struct RwLock<T> {
    state: RefCell<State>,
    /// Fast mode: no schedule point when access is granted without waiting.
    fast: bool,
    value: RefCell<T>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Read,
    Write,
}

struct State {
    /// Read guards alive or granted; at most [`MAX_READERS`].
    readers: usize,
    writer: bool,
    waiters: WaitQueue<Want, ()>,
}

/// A lock's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RwLockStatistics {
    /// Read guards held now.
    pub readers: usize,
    /// Whether a write guard is held.
    pub writer: bool,
    /// Tasks queued in `read`.
    pub tasks_waiting_read: usize,
    /// Tasks queued in `write`.
    pub tasks_waiting_write: usize,
}

/// Error of [`RwLock::try_read`] and [`RwLock::try_write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held in a conflicting mode (or other tasks are waiting first); use read/write to wait")
    }
}

impl std::error::Error for WouldBlock {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        RwLock {
            state: RefCell::new(State {
                readers: 0,
                writer: false,
                waiters: WaitQueue::new(),
            }),
            fast: false,
            value: RefCell::new(value),
        }
    }

    /// Fast mode (AnyIO's `fast_acquire`) if `fast`: a
    /// [`read`](RwLock::read) or [`write`](RwLock::write) granted without
    /// waiting is then a cancel point but not a schedule point. Those that
    /// wait are unchanged.
    ///
    /// ```
    /// use arbor_primitives::RwLock;
    ///
    /// arbor_runtime::run(async {
    ///     let lock = RwLock::new(0).with_fast_acquire(true);
    ///     let other = arbor_runtime::spawn(async {});
    ///     *lock.write().await += 1; // free: no yield
    ///     assert!(!other.is_finished());
    /// });
    /// ```
    pub const fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// Wait for shared access.
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if access
    /// is granted without waiting, a schedule point after taking it (not
    /// in fast mode).
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing (readers queued behind a withdrawn writer may be admitted);
    /// dropping it after it was granted (but before it ran), or at the
    /// schedule point after it took free access, releases the access to
    /// the next waiters. Inside a cancelled scope it makes no progress;
    /// once it took the access, it returns the guard at its next poll even
    /// if its scope was cancelled meanwhile.
    pub fn read(&self) -> ReadFuture<'_, T> {
        ReadFuture(Wait::new(self, Want::Read))
    }

    /// Wait for exclusive access. A [checkpoint](crate#checkpoints);
    /// cancel safety as for [`read`](Self::read).
    pub fn write(&self) -> WriteFuture<'_, T> {
        WriteFuture(Wait::new(self, Want::Write))
    }

    /// Shared access if no writer holds or waits and nobody queues.
    ///
    /// # Errors
    /// [`WouldBlock`] if a writer holds the lock, anyone queues, or
    /// `isize::MAX` read guards are alive.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, WouldBlock> {
        let mut state = self.state.borrow_mut();
        if state.can(Want::Read) {
            state.readers += 1;
            drop(state);
            Ok(RwLockReadGuard {
                lock: self,
                value: Some(self.value.borrow()),
            })
        } else {
            Err(WouldBlock)
        }
    }

    /// Exclusive access if the lock is free and nobody queues.
    ///
    /// # Errors
    /// [`WouldBlock`] if any guard is alive or anyone queues.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, WouldBlock> {
        let mut state = self.state.borrow_mut();
        if state.can(Want::Write) {
            state.writer = true;
            drop(state);
            Ok(RwLockWriteGuard {
                lock: self,
                value: Some(self.value.borrow_mut()),
            })
        } else {
            Err(WouldBlock)
        }
    }

    /// The value, through exclusive access to the lock itself.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The lock's counters.
    pub fn statistics(&self) -> RwLockStatistics {
        let state = self.state.borrow();
        let writers = state.waiters.iter().filter(|w| **w == Want::Write).count();
        // `writers` counts some of the queued waiters: no underflow below.
        RwLockStatistics {
            readers: state.readers,
            writer: state.writer,
            tasks_waiting_read: state.waiters.len() - writers,
            tasks_waiting_write: writers,
        }
    }

    /// Give back one access and hand the lock on.
    fn unlock(&self, want: Want) {
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            match want {
                // Cannot underflow: one per read guard or grant, each of
                // which counted one.
                Want::Read => state.readers -= 1,
                Want::Write => state.writer = false,
            }
            state.serve(&mut wake);
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// Re-serve after a queued waiter left (a withdrawn writer may have
    /// held back readers).
    fn reserve(&self) {
        let mut wake: Vec<Waker> = Vec::new();
        self.state.borrow_mut().serve(&mut wake);
        wake.into_iter().for_each(Waker::wake);
    }
}

impl State {
    fn can(&self, want: Want) -> bool {
        self.waiters.is_empty()
            && !self.writer
            && match want {
                Want::Read => self.readers < MAX_READERS,
                Want::Write => self.readers == 0,
            }
    }

    /// Admit the head waiters: a run of readers, or one writer.
    fn serve(&mut self, wake: &mut Vec<Waker>) {
        while let Some(&want) = self.waiters.front() {
            match want {
                Want::Read if !self.writer && self.readers < MAX_READERS => self.readers += 1,
                Want::Write if !self.writer && self.readers == 0 => self.writer = true,
                _ => break,
            }
            match self.waiters.grant_front(()) {
                Ok(waker) => wake.push(waker),
                Err(()) => unreachable!("front() just saw a waiter"),
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock")
            .field("statistics", &self.statistics())
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

/// Queue position shared by [`ReadFuture`] and [`WriteFuture`].
struct Wait<'a, T> {
    lock: &'a RwLock<T>,
    want: Want,
    key: Option<WaitKey>,
    /// Took the access without waiting and yielded at the schedule point:
    /// it is ours, returned at the next poll (or released if dropped).
    held: bool,
}

impl<'a, T> Wait<'a, T> {
    fn new(lock: &'a RwLock<T>, want: Want) -> Self {
        Wait {
            lock,
            want,
            key: None,
            held: false,
        }
    }

    /// `Ready` once the access is ours.
    fn poll_access(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.held) {
            // After the schedule point: ours whatever was cancelled.
            return Poll::Ready(());
        }
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: a grant stays unused and is passed on when
            // the scope drops this future.
            return Poll::Pending;
        }
        let mut state = self.lock.state.borrow_mut();
        match self.key {
            Some(key) => {
                if state.waiters.take(key).is_some() {
                    self.key = None;
                    Poll::Ready(())
                } else {
                    state.waiters.set_waker(key, cx.waker());
                    Poll::Pending
                }
            }
            None => {
                if state.can(self.want) {
                    match self.want {
                        Want::Read => state.readers += 1,
                        Want::Write => state.writer = true,
                    }
                    drop(state);
                    if !self.lock.fast && arbor_runtime::scope::schedule_point(cx) {
                        self.held = true;
                        return Poll::Pending;
                    }
                    return Poll::Ready(());
                }
                self.key = Some(state.waiters.push(self.want, cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        if self.held {
            // Dropped at the schedule point: give the access back.
            self.lock.unlock(self.want);
            return;
        }
        let Some(key) = self.key.take() else { return };
        let cancelled = self.lock.state.borrow_mut().waiters.cancel(key);
        match cancelled {
            Cancelled::Granted(()) => self.lock.unlock(self.want),
            Cancelled::Withdrawn => self.lock.reserve(),
        }
    }
}

/// The future of [`RwLock::read`].
#[must_use = "futures do nothing unless polled"]
pub struct ReadFuture<'a, T>(Wait<'a, T>);

impl<'a, T> Future for ReadFuture<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.0.lock;
        self.0.poll_access(cx).map(|()| RwLockReadGuard {
            lock,
            value: Some(lock.value.borrow()),
        })
    }
}

/// The future of [`RwLock::write`].
#[must_use = "futures do nothing unless polled"]
pub struct WriteFuture<'a, T>(Wait<'a, T>);

impl<'a, T> Future for WriteFuture<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.0.lock;
        self.0.poll_access(cx).map(|()| RwLockWriteGuard {
            lock,
            value: Some(lock.value.borrow_mut()),
        })
    }
}

/// Shared access; dropping it releases the lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// `None` only while dropping.
    value: Option<Ref<'a, T>>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_deref().expect("guard is live")
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.value = None;
        self.lock.unlock(Want::Read);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access; dropping it releases the lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// `None` only while dropping.
    value: Option<RefMut<'a, T>>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_deref().expect("guard is live")
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_deref_mut().expect("guard is live")
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.value = None;
        self.lock.unlock(Want::Write);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Waker;

    use super::*;

    #[test]
    fn past_the_reader_limit_a_reader_waits_and_try_read_fails_without_a_wrap() {
        let lock = RwLock::new(7);
        // As if `MAX_READERS - 1` read guards had been forgotten.
        lock.state.borrow_mut().readers = MAX_READERS - 1;
        let last = lock.try_read().unwrap();
        assert_eq!(lock.statistics().readers, MAX_READERS);
        assert_eq!(lock.try_read().unwrap_err(), WouldBlock);
        let mut cx = Context::from_waker(Waker::noop());
        let mut waiting = pin!(lock.read());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        let stats = lock.statistics();
        assert_eq!((stats.readers, stats.tasks_waiting_read), (MAX_READERS, 1));
        drop(last);
        // The freed slot went to the queued reader.
        assert_eq!(lock.statistics().readers, MAX_READERS);
        let Poll::Ready(guard) = waiting.as_mut().poll(&mut cx) else {
            panic!("the queued reader was granted the freed slot");
        };
        assert_eq!(*guard, 7);
        drop(guard);
        let stats = lock.statistics();
        assert_eq!(
            (stats.readers, stats.tasks_waiting_read),
            (MAX_READERS - 1, 0)
        );
        assert_eq!(*lock.try_read().unwrap(), 7);
    }
}
