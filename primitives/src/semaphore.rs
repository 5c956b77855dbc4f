//! [`Semaphore`]: counted permits, handed to waiters in FIFO order.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// A counting semaphore.
///
/// FIFO and hand-off fair: released permits go straight to the longest
/// waiter whose request they cover, so a task that releases and at once
/// acquires again queues behind existing waiters, and
/// [`try_acquire`](Semaphore::try_acquire) fails while anyone waits. A
/// waiter asking for many permits holds back those behind it (no
/// starvation of large requests).
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
    state: RefCell<State>,
}

struct State {
    permits: usize,
    max: Option<usize>,
    /// Waiters ask for a number of permits and are granted that number.
    waiters: WaitQueue<usize, usize>,
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
    /// Releasing would raise the value above `max_value`; nothing changed.
    AboveMax {
        /// The semaphore's `max_value`.
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
            SemaphoreError::AboveMax { max } => write!(
                f,
                "release would raise the semaphore above its max_value {max}; nothing was released"
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
    /// A semaphore with `permits` permits and no maximum.
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            state: RefCell::new(State {
                permits,
                max: None,
                waiters: WaitQueue::new(),
            }),
        }
    }

    /// A semaphore whose value may never exceed `max` (trio's
    /// `max_value`): a release above it is an error.
    pub fn with_max(permits: usize, max: usize) -> Result<Self, SemaphoreError> {
        if permits > max {
            return Err(SemaphoreError::InitialAboveMax);
        }
        let sem = Semaphore::new(permits);
        sem.state.borrow_mut().max = Some(max);
        Ok(sem)
    }

    /// Wait for one permit.
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran) hands
    /// the permit to the next waiter. Inside a cancelled scope it makes no
    /// progress.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        match self.acquire_many(1).await {
            Ok(permit) => permit,
            Err(_) => unreachable!("one permit is always attainable"),
        }
    }

    /// Wait for `n` permits at once.
    ///
    /// # Errors
    /// [`SemaphoreError::TooMany`] if `n` exceeds `max_value`.
    ///
    /// # Cancel safety
    /// As for [`acquire`](Semaphore::acquire): nothing is lost.
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            n,
            key: None,
        }
    }

    /// Take one permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, SemaphoreError> {
        self.try_acquire_many(1)
    }

    /// Take `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, SemaphoreError> {
        let mut state = self.state.borrow_mut();
        if let Some(max) = state.max
            && n > max
        {
            return Err(SemaphoreError::TooMany { requested: n, max });
        }
        if state.waiters.is_empty() && state.permits >= n {
            state.permits -= n;
            Ok(SemaphorePermit { sem: self, n })
        } else {
            Err(SemaphoreError::WouldBlock)
        }
    }

    /// Release one permit that was not taken through a guard (trio's
    /// `release`).
    ///
    /// # Errors
    /// [`SemaphoreError::AboveMax`] if that would exceed `max_value`;
    /// nothing changes then.
    pub fn release(&self) -> Result<(), SemaphoreError> {
        self.add_permits(1)
    }

    /// Add `n` permits, handing them to waiters in FIFO order.
    ///
    /// # Errors
    /// [`SemaphoreError::AboveMax`] if that would exceed `max_value`;
    /// nothing changes then.
    pub fn add_permits(&self, n: usize) -> Result<(), SemaphoreError> {
        {
            let state = self.state.borrow();
            if let Some(max) = state.max
                && state.permits + n > max
            {
                return Err(SemaphoreError::AboveMax { max });
            }
        }
        self.give_back(n);
        Ok(())
    }

    /// Return permits (from a guard or a cancelled grant) and serve waiters.
    fn give_back(&self, n: usize) {
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            state.permits += n;
            serve(&mut state, &mut wake);
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// Permits available now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// trio's statistics.
    pub fn statistics(&self) -> SemaphoreStatistics {
        let state = self.state.borrow();
        SemaphoreStatistics {
            value: state.permits,
            max_value: state.max,
            tasks_waiting: state.waiters.len(),
        }
    }
}

/// Grant permits to the head waiters while they fit (strict FIFO).
fn serve(state: &mut State, wake: &mut Vec<Waker>) {
    while let Some(&need) = state.waiters.front() {
        if need > state.permits {
            break;
        }
        state.permits -= need;
        match state.waiters.grant_front(need) {
            Ok(waker) => wake.push(waker),
            Err(_) => unreachable!("front() just saw a waiter"),
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

/// The future of [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    n: usize,
    key: Option<WaitKey>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, SemaphoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered cancellation: a grant stays unused and is
            // passed on when the scope drops this future.
            return Poll::Pending;
        }
        let sem = self.sem;
        let mut state = sem.state.borrow_mut();
        match self.key {
            Some(key) => match state.waiters.take(key) {
                Some(n) => {
                    drop(state);
                    self.key = None;
                    Poll::Ready(Ok(SemaphorePermit { sem, n }))
                }
                None => {
                    state.waiters.set_waker(key, cx.waker());
                    Poll::Pending
                }
            },
            None => {
                let n = self.n;
                if let Some(max) = state.max
                    && n > max
                {
                    return Poll::Ready(Err(SemaphoreError::TooMany { requested: n, max }));
                }
                if state.waiters.is_empty() && state.permits >= n {
                    state.permits -= n;
                    return Poll::Ready(Ok(SemaphorePermit { sem, n }));
                }
                let key = state.waiters.push(n, cx.waker());
                drop(state);
                self.key = Some(key);
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let returned = match self.sem.state.borrow_mut().waiters.cancel(key) {
            Cancelled::Granted(n) => n,
            // A withdrawn head may have held back smaller requests.
            Cancelled::Withdrawn => 0,
        };
        self.sem.give_back(returned);
    }
}

/// Permits held; dropping it releases them.
#[must_use = "dropping a permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Keep the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this guard holds.
    pub fn permits(&self) -> usize {
        self.n
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.give_back(self.n);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}
