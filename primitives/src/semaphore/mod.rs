//! [`Semaphore`]: counted permits, handed to waiters in FIFO order.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::waiters::{Cancelled, WaitKey, WaitQueue};

mod permit;

pub use permit::{OwnedSemaphorePermit, SemaphorePermit};

/// A counting semaphore.
///
/// FIFO and hand-off fair: released permits go straight to the longest
/// waiter whose request they cover, so a task that releases and at once
/// acquires again queues behind existing waiters, and
/// [`try_acquire`](Semaphore::try_acquire) fails while anyone waits. A
/// waiter asking for many permits holds back those behind it (no
/// starvation of large requests).
///
/// # Limits
///
/// A semaphore counts the permits that exist: those available plus those
/// held by a [`SemaphorePermit`] (or granted to a waiter that has not run
/// yet). That count never exceeds [`max_value`](Semaphore::with_max), or
/// [`Semaphore::MAX_PERMITS`] without one: [`add_permits`](Semaphore::add_permits)
/// and [`release`](Semaphore::release) past it fail with
/// [`SemaphoreError::AboveMax`] and add nothing, so a permit dropped later
/// always fits back. [`SemaphorePermit::forget`] takes its permits out of
/// that count (trio's manual `acquire`/`release` style).
///
/// Acquiring is a [checkpoint](crate#checkpoints): permits taken without
/// waiting are followed by a yield if other code is ready, unless the
/// semaphore was built [`with_fast_acquire`](Semaphore::with_fast_acquire).
///
/// ```
/// use std::rc::Rc;
/// use arbor_primitives::Semaphore;
///
/// arbor_runtime::run(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let a = sem.acquire().await;
///     let _b = sem.acquire().await;
///     assert!(sem.try_acquire().is_err());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
pub struct Semaphore {
    /// Permits available now.
    permits: Cell<usize>,
    /// Permits that exist: `permits` plus those held by guards or granted
    /// to queued waiters. `permits <= total <= max.unwrap_or(MAX_PERMITS)`,
    /// so returning a permit never overflows. Changed only by
    /// `add_permits` and `SemaphorePermit::forget`, off the fast paths.
    total: Cell<usize>,
    max: Option<usize>,
    /// Fast mode: no schedule point when an acquire does not wait.
    fast: bool,
    /// Whether `waiters` is non-empty: the uncontended acquire and release
    /// read this `Cell` instead of borrowing the queue.
    queued: Cell<bool>,
    /// Waiters ask for a number of permits and are granted that number.
    waiters: RefCell<WaitQueue<usize, usize>>,
}

/// A semaphore's counters, as trio reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemaphoreStatistics {
    /// Permits available now.
    pub value: usize,
    /// The most permits the semaphore may hold, if bounded.
    pub max_value: Option<usize>,
    /// Tasks queued in `acquire`.
    pub tasks_waiting: usize,
}

/// Errors of [`Semaphore`] operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemaphoreError {
    /// `try_acquire` found too few permits, or other tasks waiting first.
    WouldBlock,
    /// Adding permits would raise the permits that exist (available plus
    /// held) above `max_value`, or above [`Semaphore::MAX_PERMITS`] for a
    /// semaphore without one; nothing changed.
    AboveMax {
        /// The semaphore's `max_value`, or [`Semaphore::MAX_PERMITS`].
        max: usize,
    },
    /// A request for more permits than `max_value` could never be met.
    TooMany {
        /// Permits requested.
        requested: usize,
        /// The semaphore's `max_value`.
        max: usize,
    },
    /// `with_max` got an initial value above the maximum.
    InitialAboveMax,
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SemaphoreError::WouldBlock => f.write_str(
                "no permit available without waiting (or other tasks are waiting first); use acquire to wait",
            ),
            SemaphoreError::AboveMax { max } if *max == Semaphore::MAX_PERMITS => f.write_str(
                "adding these permits would raise the semaphore's permits (available plus held) above Semaphore::MAX_PERMITS (usize::MAX); nothing was added, add fewer",
            ),
            SemaphoreError::AboveMax { max } => write!(
                f,
                "release would raise the semaphore's permits (available plus held) above its max_value {max}; nothing was released (release only permits taken with SemaphorePermit::forget)"
            ),
            SemaphoreError::TooMany { requested, max } => write!(
                f,
                "cannot acquire {requested} permits from a semaphore whose max_value is {max}: it would wait forever"
            ),
            SemaphoreError::InitialAboveMax => f.write_str("a semaphore's initial value must not exceed its max_value"),
        }
    }
}

impl std::error::Error for SemaphoreError {}

impl Semaphore {
    /// The most permits a semaphore without a `max_value` may count
    /// (available plus held): `usize::MAX`. Adding past it is
    /// [`SemaphoreError::AboveMax`], never a wrap.
    pub const MAX_PERMITS: usize = usize::MAX;

    /// A semaphore with `permits` permits and no maximum (other than
    /// [`MAX_PERMITS`](Semaphore::MAX_PERMITS), which every `usize` fits).
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            permits: Cell::new(permits),
            total: Cell::new(permits),
            max: None,
            fast: false,
            queued: Cell::new(false),
            waiters: RefCell::new(WaitQueue::new()),
        }
    }

    /// A semaphore whose value may never exceed `max` (trio's
    /// `max_value`): a release above it is an error. Permits held by a
    /// [`SemaphorePermit`] count towards `max`, since they come back when
    /// it is dropped.
    ///
    /// # Errors
    /// [`SemaphoreError::InitialAboveMax`] if `permits > max`.
    pub fn with_max(permits: usize, max: usize) -> Result<Self, SemaphoreError> {
        if permits > max {
            return Err(SemaphoreError::InitialAboveMax);
        }
        Ok(Semaphore {
            max: Some(max),
            ..Semaphore::new(permits)
        })
    }

    /// Fast mode (AnyIO's `fast_acquire`) if `fast`: an acquire that does
    /// not wait is then a cancel point but not a schedule point (it never
    /// yields). Acquires that wait are unchanged.
    ///
    /// ```
    /// use arbor_primitives::Semaphore;
    ///
    /// arbor_runtime::run(async {
    ///     let sem = Semaphore::new(1).with_fast_acquire(true);
    ///     let other = arbor_runtime::spawn(async {});
    ///     drop(sem.acquire().await); // a permit was free: no yield
    ///     assert!(!other.is_finished());
    /// });
    /// ```
    pub const fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// Wait for one permit. Awaiting it behaves as
    /// `async fn acquire(&self) -> SemaphorePermit<'_>` (it is a plain
    /// future, [`AcquireOne`], so the uncontended path is a few
    /// instructions, not an `async fn`'s state machine around one).
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if a permit
    /// was free, a schedule point after taking it (not in fast mode).
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran), or
    /// at the schedule point after it took a free permit, hands the permit
    /// to the next waiter (or back to the semaphore). Inside a cancelled
    /// scope it makes no progress; once it took the permit, it returns it
    /// at its next poll even if its scope was cancelled meanwhile.
    #[inline]
    pub fn acquire(&self) -> AcquireOne<'_> {
        AcquireOne(self.acquire_many(1))
    }

    /// Wait for `n` permits at once. A [checkpoint](crate#checkpoints), as
    /// [`acquire`](Semaphore::acquire).
    ///
    /// # Errors
    /// [`SemaphoreError::TooMany`] if `n` exceeds `max_value` (returned at
    /// once).
    ///
    /// # Cancel safety
    /// As for [`acquire`](Semaphore::acquire): nothing is lost.
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            n,
            key: None,
            taken: false,
        }
    }

    /// [`acquire`](Semaphore::acquire) through an `Rc`, giving a permit
    /// that owns a clone of it: `'static`, so it can move into a spawned
    /// task (tokio's `acquire_owned`).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::Semaphore;
    ///
    /// arbor_runtime::run(async {
    ///     let sem = Rc::new(Semaphore::new(2));
    ///     let mut workers = Vec::new();
    ///     for i in 0..5 {
    ///         // At most two workers at a time: the third waits here.
    ///         let permit = sem.clone().acquire_owned().await;
    ///         workers.push(arbor_runtime::spawn(async move {
    ///             arbor_runtime::yield_now().await;
    ///             drop(permit); // the next worker may start
    ///             i
    ///         }));
    ///     }
    ///     for w in workers {
    ///         w.await.unwrap();
    ///     }
    ///     assert_eq!(sem.available_permits(), 2);
    /// });
    /// ```
    ///
    /// # Cancel safety
    /// As for [`acquire`](Semaphore::acquire): a checkpoint, and nothing
    /// is lost.
    pub async fn acquire_owned(self: Rc<Self>) -> OwnedSemaphorePermit {
        match self.acquire_many_owned(1).await {
            Ok(permit) => permit,
            Err(_) => unreachable!("one permit is always attainable"),
        }
    }

    /// [`acquire_many`](Semaphore::acquire_many) through an `Rc`, giving
    /// an [`OwnedSemaphorePermit`] for `n` permits.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::Semaphore;
    ///
    /// arbor_runtime::run(async {
    ///     let sem = Rc::new(Semaphore::new(3));
    ///     let permit = sem.clone().acquire_many_owned(2).await.unwrap();
    ///     assert_eq!((permit.permits(), sem.available_permits()), (2, 1));
    ///     arbor_runtime::spawn(async move { drop(permit) }).await.unwrap();
    ///     assert_eq!(sem.available_permits(), 3);
    /// });
    /// ```
    ///
    /// # Errors
    /// [`SemaphoreError::TooMany`] if `n` exceeds `max_value`.
    ///
    /// # Cancel safety
    /// As for [`acquire`](Semaphore::acquire): nothing is lost.
    pub async fn acquire_many_owned(
        self: Rc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, SemaphoreError> {
        let n = self.acquire_many(n).await?.into_count();
        // No suspension from here on: the permits cannot leak.
        Ok(OwnedSemaphorePermit { sem: self, n })
    }

    /// Take one permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, SemaphoreError> {
        self.try_acquire_many(1)
    }

    /// Take `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, SemaphoreError> {
        self.check_request(n)?;
        if self.take_if_free(n) {
            Ok(SemaphorePermit { sem: self, n })
        } else {
            Err(SemaphoreError::WouldBlock)
        }
    }

    /// [`try_acquire`](Semaphore::try_acquire) through an `Rc`, giving an
    /// [`OwnedSemaphorePermit`] that can move into a spawned task.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::{Semaphore, SemaphoreError};
    ///
    /// let sem = Rc::new(Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert_eq!(sem.clone().try_acquire_owned().unwrap_err(), SemaphoreError::WouldBlock);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    ///
    /// # Errors
    /// [`SemaphoreError::WouldBlock`] if no permit is free or others wait.
    pub fn try_acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, SemaphoreError> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Semaphore::try_acquire_many) through an `Rc`.
    ///
    /// # Errors
    /// [`SemaphoreError::WouldBlock`] if the permits are not free or others
    /// wait; [`SemaphoreError::TooMany`] if `n` exceeds `max_value`.
    pub fn try_acquire_many_owned(
        self: Rc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, SemaphoreError> {
        let n = self.try_acquire_many(n)?.into_count();
        Ok(OwnedSemaphorePermit { sem: self, n })
    }

    #[inline]
    fn check_request(&self, n: usize) -> Result<(), SemaphoreError> {
        match self.max {
            Some(max) if n > max => Err(SemaphoreError::TooMany { requested: n, max }),
            _ => Ok(()),
        }
    }

    /// The uncontended path: take `n` permits if nobody waits and they are
    /// there. `Cell`s only.
    #[inline]
    fn take_if_free(&self, n: usize) -> bool {
        let permits = self.permits.get();
        if !self.queued.get() && permits >= n {
            self.permits.set(permits - n);
            true
        } else {
            false
        }
    }

    /// Release one permit that was not taken through a guard (trio's
    /// `release`; take it with [`SemaphorePermit::forget`]).
    ///
    /// # Errors
    /// As for [`add_permits`](Semaphore::add_permits).
    pub fn release(&self) -> Result<(), SemaphoreError> {
        self.add_permits(1)
    }

    /// Add `n` permits, handing them to waiters in FIFO order.
    ///
    /// # Errors
    /// [`SemaphoreError::AboveMax`] if the permits that exist (available
    /// plus held by guards) would exceed `max_value`, or
    /// [`MAX_PERMITS`](Semaphore::MAX_PERMITS) without one. Nothing
    /// changes then: no permit is added and no waiter is woken.
    pub fn add_permits(&self, n: usize) -> Result<(), SemaphoreError> {
        let max = self.max.unwrap_or(Self::MAX_PERMITS);
        match self.total.get().checked_add(n) {
            Some(total) if total <= max => self.total.set(total),
            _ => return Err(SemaphoreError::AboveMax { max }),
        }
        self.give_back(n);
        Ok(())
    }

    /// Return permits (from a guard or a cancelled grant) and serve waiters.
    #[inline]
    fn give_back(&self, n: usize) {
        // Cannot overflow: these `n` permits are counted in `total`, which
        // never exceeds `usize::MAX`, and `permits + n <= total`.
        self.permits.set(self.permits.get() + n);
        if self.queued.get() {
            self.serve();
        }
    }

    /// Grant permits to the head waiters while they fit (strict FIFO).
    #[inline(never)]
    fn serve(&self) {
        // Wakers are woken after the borrow ends. Most releases grant one
        // waiter: keep its waker out of the `Vec` (no allocation then).
        let mut first: Option<Waker> = None;
        let mut more: Vec<Waker> = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            while let Some(&need) = waiters.front() {
                let permits = self.permits.get();
                if need > permits {
                    break;
                }
                self.permits.set(permits - need);
                match waiters.grant_front(need) {
                    Ok(waker) if first.is_none() => first = Some(waker),
                    Ok(waker) => more.push(waker),
                    Err(_) => unreachable!("front() just saw a waiter"),
                }
            }
            self.queued.set(!waiters.is_empty());
        }
        first.into_iter().chain(more).for_each(Waker::wake);
    }

    /// Permits available now.
    pub fn available_permits(&self) -> usize {
        self.permits.get()
    }

    /// trio's statistics.
    pub fn statistics(&self) -> SemaphoreStatistics {
        SemaphoreStatistics {
            value: self.permits.get(),
            max_value: self.max,
            tasks_waiting: self.waiters.borrow().len(),
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Semaphore")
            .field(&self.statistics())
            .finish()
    }
}

/// The future of [`Semaphore::acquire`]: [`Acquire`] for one permit,
/// which never fails.
#[must_use = "futures do nothing unless polled"]
pub struct AcquireOne<'a>(Acquire<'a>);

impl<'a> Future for AcquireOne<'a> {
    type Output = SemaphorePermit<'a>;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(Ok(permit)) => Poll::Ready(permit),
            Poll::Ready(Err(_)) => unreachable!("one permit is always attainable"),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The future of [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    n: usize,
    key: Option<WaitKey>,
    /// Took the `n` permits without waiting and yielded at the schedule
    /// point: they are ours, returned at the next poll (or given back if
    /// dropped first).
    taken: bool,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, SemaphoreError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sem = this.sem;
        let n = this.n;
        if this.taken {
            // After the schedule point: ours whatever was cancelled.
            this.taken = false;
            return Poll::Ready(Ok(SemaphorePermit { sem, n }));
        }
        // The cancel check and the schedule point: one read of the
        // runtime's context.
        arbor_runtime::scope::with_checkpoint(|cp| {
            if cp.is_cancelled() {
                // Level-triggered cancellation: a grant stays unused and is
                // passed on when the scope drops this future.
                return Poll::Pending;
            }
            if this.key.is_none() && n <= sem.max.unwrap_or(usize::MAX) && sem.take_if_free(n) {
                // Taken: the schedule point (none in fast mode).
                if !sem.fast && cp.schedule_point(cx) {
                    this.taken = true;
                    return Poll::Pending;
                }
                return Poll::Ready(Ok(SemaphorePermit { sem, n }));
            }
            this.poll_slow(cx)
        })
    }
}

impl<'a> Acquire<'a> {
    /// The permits were free and are taken: the schedule point.
    #[inline]
    fn took_at_once(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<SemaphorePermit<'a>, SemaphoreError>> {
        if !self.sem.fast && arbor_runtime::scope::schedule_point(cx) {
            self.taken = true;
            return Poll::Pending;
        }
        Poll::Ready(Ok(SemaphorePermit {
            sem: self.sem,
            n: self.n,
        }))
    }

    /// `poll` when the request must queue, already waits, or is invalid.
    #[inline(never)]
    fn poll_slow(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<SemaphorePermit<'a>, SemaphoreError>> {
        let sem = self.sem;
        match self.key {
            Some(key) => {
                let mut waiters = sem.waiters.borrow_mut();
                match waiters.take(key) {
                    Some(n) => {
                        sem.queued.set(!waiters.is_empty());
                        drop(waiters);
                        self.key = None;
                        Poll::Ready(Ok(SemaphorePermit { sem, n }))
                    }
                    None => {
                        waiters.set_waker(key, cx.waker());
                        Poll::Pending
                    }
                }
            }
            None => {
                let n = self.n;
                if let Err(e) = sem.check_request(n) {
                    return Poll::Ready(Err(e));
                }
                if sem.take_if_free(n) {
                    return self.took_at_once(cx);
                }
                let key = sem.waiters.borrow_mut().push(n, cx.waker());
                sem.queued.set(true);
                self.key = Some(key);
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.withdraw(key);
        } else if self.taken {
            // Dropped at the schedule point: give the permits back, as
            // their permit would have.
            self.sem.give_back(self.n);
        }
    }
}

impl Acquire<'_> {
    /// A queued request was dropped: leave the queue, returning an untaken
    /// grant, and let the waiters behind it be served.
    #[inline(never)]
    fn withdraw(&self, key: WaitKey) {
        let returned = {
            let mut waiters = self.sem.waiters.borrow_mut();
            let returned = match waiters.cancel(key) {
                Cancelled::Granted(n) => n,
                // A withdrawn head may have held back smaller requests.
                Cancelled::Withdrawn => 0,
            };
            self.sem.queued.set(!waiters.is_empty());
            returned
        };
        self.sem.give_back(returned);
    }
}
