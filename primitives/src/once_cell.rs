//! [`OnceCell`]: a value initialized once, by an async initializer.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::raw::{SchedulePoint, cancel_point};
use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// A cell written at most once, by whichever task first runs its
/// initializer to completion.
///
/// Only one initializer runs at a time; other callers of
/// [`get_or_init`](OnceCell::get_or_init) queue in FIFO order. If the
/// running initializer is cancelled (its future dropped), panics, or (for
/// [`get_or_try_init`](OnceCell::get_or_try_init)) fails, the longest
/// waiter runs its own initializer: nothing hangs.
///
/// ```
/// use arbor_primitives::OnceCell;
///
/// arbor_runtime::run(async {
///     let cell = OnceCell::new();
///     assert_eq!(cell.get(), None);
///     assert_eq!(*cell.get_or_init(|| async { 1 }).await, 1);
///     assert_eq!(*cell.get_or_init(|| async { 2 }).await, 1);
///     assert_eq!(cell.set(3), Err(3));
/// });
/// ```
pub struct OnceCell<T> {
    value: std::cell::OnceCell<T>,
    state: RefCell<State>,
}

struct State {
    /// An initializer holds the right to run.
    initializing: bool,
    /// Grant `true`: you may initialize; `false`: the value is set.
    waiters: WaitQueue<(), bool>,
}

/// A cell's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnceCellStatistics {
    /// Whether the value is set.
    pub initialized: bool,
    /// Whether an initializer is running.
    pub initializing: bool,
    /// Tasks queued behind the running initializer.
    pub tasks_waiting: usize,
}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        OnceCell {
            value: std::cell::OnceCell::new(),
            state: RefCell::new(State {
                initializing: false,
                waiters: WaitQueue::new(),
            }),
        }
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// Whether the value is set.
    pub fn initialized(&self) -> bool {
        self.value.get().is_some()
    }

    /// Set the value unless it is set already (then it is given back).
    ///
    /// Allowed while an initializer runs: queued callers get this value,
    /// and the running initializer's result is discarded when it finishes.
    pub fn set(&self, value: T) -> Result<(), T> {
        self.value.set(value)?;
        self.wake_all();
        Ok(())
    }

    /// The value, initializing it with `init` if it is not set.
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, then, if the
    /// value is set already, a schedule point before returning it (and a
    /// cancel point again after that yield: it took nothing). If it
    /// waits for another task's initializer, or runs `init`, the awaits in
    /// there are its suspensions.
    ///
    /// ```
    /// use arbor_primitives::OnceCell;
    ///
    /// arbor_runtime::run(async {
    ///     let cell = OnceCell::from(1);
    ///     let other = arbor_runtime::spawn(async {});
    ///     assert_eq!(*cell.get_or_init(|| async { 2 }).await, 1);
    ///     assert!(other.is_finished(), "the schedule point let it run");
    /// });
    /// ```
    ///
    /// # Cancel safety
    /// Dropping the future while queued leaves the queue; dropping it (or
    /// a panic) while its initializer runs, or after it was chosen to run
    /// one but before it started, hands the turn to the next waiter.
    /// Inside a cancelled scope it makes no progress, even if the value is
    /// set ([`get`](OnceCell::get) reads it without a checkpoint).
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let result: Result<&T, std::convert::Infallible> =
            self.get_or_try_init(|| async { Ok(init().await) }).await;
        match result {
            Ok(value) => value,
        }
    }

    /// As [`get_or_init`](Self::get_or_init), with a fallible
    /// initializer: on `Err` the cell stays empty, the error is returned,
    /// and the next waiter runs its own initializer.
    ///
    /// A [checkpoint](crate#checkpoints), as
    /// [`get_or_init`](Self::get_or_init).
    ///
    /// # Cancel safety
    /// As [`get_or_init`](Self::get_or_init)'s: dropping the future while
    /// queued leaves the queue, and dropping it while its initializer runs
    /// hands the turn to the next waiter (as an `Err` does).
    pub async fn get_or_try_init<F, Fut, E>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        cancel_point().await;
        if let Some(value) = self.value.get() {
            return Ok(SchedulePoint::new(value).await);
        }
        loop {
            let turn = InitWait {
                cell: self,
                key: None,
            }
            .await;
            if let Some(_turn) = turn {
                // `_turn` hands the turn on when dropped: after success,
                // failure, a panic, or cancellation of this future.
                let value = init().await?;
                // `set` may have won meanwhile; then `value` is dropped.
                let _ = self.value.set(value);
                return Ok(self.value.get().expect("just set"));
            }
            // Woken because the value was set (it waited): no more ado.
            if let Some(value) = self.value.get() {
                return Ok(value);
            }
        }
    }

    /// The value, through exclusive access to the cell.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// The value, if set.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// The cell's counters.
    pub fn statistics(&self) -> OnceCellStatistics {
        let state = self.state.borrow();
        OnceCellStatistics {
            initialized: self.initialized(),
            initializing: state.initializing,
            tasks_waiting: state.waiters.len(),
        }
    }

    /// The value was set: release every waiter.
    fn wake_all(&self) {
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            while let Ok(waker) = state.waiters.grant_front(false) {
                wake.push(waker);
            }
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// The initializer's turn ended: the value is set (release everyone)
    /// or not (the next waiter's turn).
    fn end_turn(&self) {
        if self.initialized() {
            self.state.borrow_mut().initializing = false;
            self.wake_all();
            return;
        }
        let waker = {
            let mut state = self.state.borrow_mut();
            match state.waiters.grant_front(true) {
                Ok(waker) => Some(waker),
                Err(_) => {
                    state.initializing = false;
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.value.get())
            .field("statistics", &self.statistics())
            .finish()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> Self {
        let cell = OnceCell::new();
        let _ = cell.value.set(value);
        cell
    }
}

/// The right to run the initializer; dropping it ends the turn.
struct Turn<'a, T> {
    cell: &'a OnceCell<T>,
}

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        self.cell.end_turn();
    }
}

/// Waits for the turn to initialize (`Some`) or for the value (`None`).
struct InitWait<'a, T> {
    cell: &'a OnceCell<T>,
    key: Option<WaitKey>,
}

impl<'a, T> Future for InitWait<'a, T> {
    type Output = Option<Turn<'a, T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let cell = self.cell;
        let mut state = cell.state.borrow_mut();
        match self.key {
            Some(key) => match state.waiters.take(key) {
                Some(turn) => {
                    drop(state);
                    self.key = None;
                    Poll::Ready(turn.then_some(Turn { cell }))
                }
                None => {
                    state.waiters.set_waker(key, cx.waker());
                    Poll::Pending
                }
            },
            None => {
                if cell.initialized() {
                    return Poll::Ready(None);
                }
                if !state.initializing {
                    state.initializing = true;
                    return Poll::Ready(Some(Turn { cell }));
                }
                let key = state.waiters.push((), cx.waker());
                drop(state);
                self.key = Some(key);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for InitWait<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let cancelled = self.cell.state.borrow_mut().waiters.cancel(key);
        if cancelled == Cancelled::Granted(true) {
            // Chosen to initialize but never ran: pass the turn on.
            self.cell.end_turn();
        }
    }
}
