//! [`CapacityLimiter`]: trio's per-borrower tokens, handed out in FIFO order.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use arbor_runtime::{Running, RuntimeId, TaskId};

use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// Who holds a [`CapacityLimiter`] token: a task, the `block_on` root
/// future, or any id you choose (`Borrower::from(42u64)`).
///
/// A borrower holds at most one token of a given limiter at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Borrower(Kind);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Task(TaskId),
    Root(RuntimeId),
    Outside,
    Id(u64),
    /// One `to_thread` call (trio's per-call placeholder borrower).
    Thread(u64),
}

impl Borrower {
    /// The task being polled now; the `block_on` root future (and code
    /// outside any task) counts as one more distinct borrower.
    pub fn current() -> Self {
        match arbor_runtime::running() {
            Some(Running::Task(id)) => Borrower(Kind::Task(id)),
            Some(Running::Root(runtime)) => Borrower(Kind::Root(runtime)),
            None => Borrower(Kind::Outside),
        }
    }

    /// A borrower named by a number of your choosing; never equal to a
    /// task's borrower.
    pub const fn from_id(id: u64) -> Self {
        Borrower(Kind::Id(id))
    }
}

impl Borrower {
    /// A borrower for one `to_thread` call, unequal to every other (trio
    /// borrows on behalf of a placeholder per call, so one task may run
    /// several calls at once). Limiters are per thread, so a per-thread
    /// count is enough.
    pub(crate) fn thread_call() -> Self {
        thread_local!(static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
        Borrower(Kind::Thread(NEXT.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        })))
    }
}

impl From<u64> for Borrower {
    fn from(id: u64) -> Self {
        Borrower::from_id(id)
    }
}

impl From<TaskId> for Borrower {
    fn from(id: TaskId) -> Self {
        Borrower(Kind::Task(id))
    }
}

#[track_caller]
fn assert_tokens(total_tokens: usize) {
    assert!(
        total_tokens >= 1,
        "a CapacityLimiter needs at least 1 token (got 0): nobody could ever pass it"
    );
}

/// A limit on how many borrowers may run a section at once (trio's and
/// anyio's `CapacityLimiter`).
///
/// Each borrower (by default the current task) holds at most one token.
/// FIFO and hand-off fair: a released token goes straight to the longest
/// waiter, so [`try_acquire`](CapacityLimiter::try_acquire) fails while
/// anyone waits. [`set_total_tokens`](CapacityLimiter::set_total_tokens)
/// may be called at any time, up or down, to and from
/// [unbounded](CapacityLimiter::UNBOUNDED).
///
/// Acquiring is a [checkpoint](crate#checkpoints): a token taken without
/// waiting is followed by a yield if other code is ready, unless the
/// limiter was built [`with_fast_acquire`](CapacityLimiter::with_fast_acquire).
///
/// ```
/// use arbor_primitives::{Borrower, CapacityLimiter, LimiterError};
///
/// arbor_runtime::run(async {
///     let limiter = CapacityLimiter::new(1);
///     let guard = limiter.acquire().await;
///     // The same borrower may not take a second token.
///     assert_eq!(limiter.try_acquire().unwrap_err(), LimiterError::AlreadyBorrowing);
///     assert_eq!(limiter.try_acquire_on_behalf_of(Borrower::from(7)).unwrap_err(), LimiterError::WouldBlock);
///     drop(guard);
///     assert_eq!(limiter.available_tokens(), 1);
/// });
/// ```
pub struct CapacityLimiter {
    state: RefCell<State>,
    /// Fast mode: no schedule point when an acquire does not wait.
    fast: bool,
}

struct State {
    /// The limit, any `usize` from 1: it is only compared with
    /// `borrowers.len()` (and subtracted from with `saturating_sub`),
    /// never added to. [`CapacityLimiter::UNBOUNDED`] (`usize::MAX`) is a
    /// count `borrowers` can never reach.
    total: usize,
    /// Each borrower with the ticket of its current token.
    borrowers: HashMap<Borrower, u64>,
    /// Bumped by every token lent. A `u64`: at one per nanosecond it would
    /// take 584 years to wrap, so it is not checked.
    next_ticket: u64,
    /// Waiters ask for a token for a borrower; the grant is the ticket.
    waiters: WaitQueue<Borrower, u64>,
}

/// A limiter's counters, as trio reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimiterStatistics {
    /// Tokens held now (may exceed `total_tokens` after it was lowered).
    pub borrowed_tokens: usize,
    /// The current limit.
    pub total_tokens: usize,
    /// Who holds the tokens, in no particular order.
    pub borrowers: Vec<Borrower>,
    /// Tasks queued in `acquire*`.
    pub tasks_waiting: usize,
}

/// Errors of [`CapacityLimiter`] operations. Nothing changes on error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimiterError {
    /// `try_acquire*` found no token free, or other tasks waiting first.
    WouldBlock,
    /// The borrower already holds (or already waits for) a token.
    AlreadyBorrowing,
    /// The borrower holds no token to release.
    NotBorrowing,
}

impl fmt::Display for LimiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimiterError::WouldBlock => {
                "no token available without waiting (or other tasks are waiting first); use acquire to wait"
            }
            LimiterError::AlreadyBorrowing => {
                "this borrower already holds or waits for a token of this limiter; release it first or use another borrower"
            }
            LimiterError::NotBorrowing => {
                "this borrower holds no token of this limiter; release only what was acquired on its behalf"
            }
        })
    }
}

impl std::error::Error for LimiterError {}

impl CapacityLimiter {
    /// The total of an unbounded limiter (trio's `math.inf`):
    /// `usize::MAX`, a number of borrowers that can never exist at once,
    /// so nobody ever waits. Counts stay exact: with `k` tokens borrowed,
    /// [`available_tokens`](CapacityLimiter::available_tokens) is
    /// `usize::MAX - k`. Pass it to [`new`](CapacityLimiter::new) or
    /// [`set_total_tokens`](CapacityLimiter::set_total_tokens), or use
    /// [`unbounded`](CapacityLimiter::unbounded).
    pub const UNBOUNDED: usize = usize::MAX;

    /// A limiter with `total_tokens` tokens
    /// ([`UNBOUNDED`](CapacityLimiter::UNBOUNDED) for no limit).
    ///
    /// # Panics
    /// If `total_tokens` is 0 (as in trio and AnyIO: a limiter nobody can
    /// pass is a bug; hold the tokens yourself to close it for a while).
    #[track_caller]
    pub fn new(total_tokens: usize) -> Self {
        assert_tokens(total_tokens);
        CapacityLimiter {
            state: RefCell::new(State {
                total: total_tokens,
                borrowers: HashMap::new(),
                next_ticket: 0,
                waiters: WaitQueue::new(),
            }),
            fast: false,
        }
    }

    /// A limiter with no limit (trio's `CapacityLimiter(math.inf)`): it
    /// still counts its borrowers, and a limit can be set later with
    /// [`set_total_tokens`](CapacityLimiter::set_total_tokens).
    ///
    /// ```
    /// use arbor_primitives::{Borrower, CapacityLimiter};
    ///
    /// arbor_runtime::run(async {
    ///     let limiter = CapacityLimiter::unbounded();
    ///     assert!(limiter.is_unbounded());
    ///     let guards: Vec<_> = (0..1000)
    ///         .map(|i| limiter.try_acquire_on_behalf_of(Borrower::from(i)).unwrap())
    ///         .collect();
    ///     assert_eq!(limiter.borrowed_tokens(), 1000);
    ///     limiter.set_total_tokens(10); // new borrowers wait until 991 are back
    ///     assert!(limiter.try_acquire().is_err());
    ///     drop(guards);
    /// });
    /// ```
    pub fn unbounded() -> Self {
        CapacityLimiter::new(Self::UNBOUNDED)
    }

    /// Fast mode (AnyIO's `fast_acquire`) if `fast`: an acquire that does
    /// not wait is then a cancel point but not a schedule point (it never
    /// yields). Acquires that wait are unchanged.
    ///
    /// ```
    /// use arbor_primitives::CapacityLimiter;
    ///
    /// arbor_runtime::run(async {
    ///     let limiter = CapacityLimiter::new(1).with_fast_acquire(true);
    ///     let other = arbor_runtime::spawn(async {});
    ///     drop(limiter.acquire().await.unwrap()); // free: no yield
    ///     assert!(!other.is_finished());
    /// });
    /// ```
    pub fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// Wait for a token for the current task ([`Borrower::current`],
    /// taken when the future is first polled).
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, if a token
    /// was free, a schedule point after taking it (not in fast mode).
    ///
    /// Resolves to `Err(AlreadyBorrowing)` (at once) if the task holds or
    /// waits for a token already.
    ///
    /// # Cancel safety
    /// Dropping the future before it is granted leaves the queue and takes
    /// nothing; dropping it after it was granted (but before it ran), or
    /// at the schedule point after it took a free token, hands the token
    /// to the next waiter (or back to the limiter). Inside a cancelled
    /// scope it makes no progress; once it took the token, it returns it
    /// at its next poll even if its scope was cancelled meanwhile.
    pub fn acquire(&self) -> LimiterAcquire<'_> {
        LimiterAcquire {
            limiter: self,
            borrower: None,
            key: None,
            taken: None,
        }
    }

    /// Wait for a token for `borrower`. As [`acquire`](Self::acquire): a
    /// [checkpoint](crate#checkpoints), and nothing is lost when dropped.
    pub fn acquire_on_behalf_of(&self, borrower: Borrower) -> LimiterAcquire<'_> {
        LimiterAcquire {
            limiter: self,
            borrower: Some(borrower),
            key: None,
            taken: None,
        }
    }

    /// Take a token for the current task without waiting.
    pub fn try_acquire(&self) -> Result<LimiterGuard<'_>, LimiterError> {
        self.try_acquire_on_behalf_of(Borrower::current())
    }

    /// Take a token for `borrower` without waiting.
    ///
    /// # Errors
    /// [`LimiterError::AlreadyBorrowing`] first, then
    /// [`LimiterError::WouldBlock`] if no token is free or anyone waits.
    pub fn try_acquire_on_behalf_of(
        &self,
        borrower: Borrower,
    ) -> Result<LimiterGuard<'_>, LimiterError> {
        let mut state = self.state.borrow_mut();
        state.check_new(borrower)?;
        if state.waiters.is_empty() && state.borrowers.len() < state.total {
            let ticket = state.lend(borrower);
            Ok(LimiterGuard {
                limiter: self,
                borrower,
                ticket,
            })
        } else {
            Err(LimiterError::WouldBlock)
        }
    }

    /// [`acquire_on_behalf_of`](Self::acquire_on_behalf_of) through an
    /// `Rc`: the token outlives any borrow of the limiter (`to_thread`
    /// keeps it until an abandoned thread ends). Same checkpoint and
    /// cancel safety: the token becomes owned at the poll that returns it.
    pub(crate) async fn acquire_owned_on_behalf_of(
        self: Rc<Self>,
        borrower: Borrower,
    ) -> Result<OwnedLimiterGuard, LimiterError> {
        let guard = self.acquire_on_behalf_of(borrower).await?;
        let ticket = guard.ticket;
        std::mem::forget(guard);
        Ok(OwnedLimiterGuard {
            limiter: self,
            borrower,
            ticket,
        })
    }

    /// Release the current task's token (one kept with
    /// [`LimiterGuard::forget`]).
    pub fn release(&self) -> Result<(), LimiterError> {
        self.release_on_behalf_of(Borrower::current())
    }

    /// Release `borrower`'s token and hand it to the next waiter.
    ///
    /// # Errors
    /// [`LimiterError::NotBorrowing`] if it holds none; nothing changes.
    pub fn release_on_behalf_of(&self, borrower: Borrower) -> Result<(), LimiterError> {
        self.give_back(borrower, None)
    }

    /// Return a token (only if its ticket matches, when given) and serve
    /// waiters.
    fn give_back(&self, borrower: Borrower, ticket: Option<u64>) -> Result<(), LimiterError> {
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            match state.borrowers.get(&borrower) {
                Some(&t) if ticket.is_none_or(|want| want == t) => {
                    state.borrowers.remove(&borrower);
                }
                _ => return Err(LimiterError::NotBorrowing),
            }
            state.serve(&mut wake);
        }
        wake.into_iter().for_each(Waker::wake);
        Ok(())
    }

    /// Change the limit. Raising it admits waiters at once, in FIFO order
    /// ([`UNBOUNDED`](CapacityLimiter::UNBOUNDED) admits them all);
    /// lowering it (also from unbounded) below the tokens borrowed takes
    /// nothing back (`available_tokens` is 0 until enough are released).
    ///
    /// # Panics
    /// If `total_tokens` is 0; the limit is then unchanged.
    #[track_caller]
    pub fn set_total_tokens(&self, total_tokens: usize) {
        assert_tokens(total_tokens);
        let mut wake: Vec<Waker> = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            state.total = total_tokens;
            state.serve(&mut wake);
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// The current limit ([`UNBOUNDED`](CapacityLimiter::UNBOUNDED) if
    /// there is none).
    pub fn total_tokens(&self) -> usize {
        self.state.borrow().total
    }

    /// Whether the limiter has no limit (its total is
    /// [`UNBOUNDED`](CapacityLimiter::UNBOUNDED)).
    pub fn is_unbounded(&self) -> bool {
        self.total_tokens() == Self::UNBOUNDED
    }

    /// Tokens held now.
    pub fn borrowed_tokens(&self) -> usize {
        self.state.borrow().borrowers.len()
    }

    /// Tokens free now (`total - borrowed`, never below 0).
    pub fn available_tokens(&self) -> usize {
        let state = self.state.borrow();
        state.total.saturating_sub(state.borrowers.len())
    }

    /// trio's statistics.
    pub fn statistics(&self) -> LimiterStatistics {
        let state = self.state.borrow();
        LimiterStatistics {
            borrowed_tokens: state.borrowers.len(),
            total_tokens: state.total,
            borrowers: state.borrowers.keys().copied().collect(),
            tasks_waiting: state.waiters.len(),
        }
    }
}

impl State {
    fn check_new(&self, borrower: Borrower) -> Result<(), LimiterError> {
        // A `to_thread` call's borrower is made fresh for the call: it
        // cannot hold or wait for a token yet, so skip the waiter scan
        // (linear in the waiters, which a fan-out of calls makes long).
        if matches!(borrower.0, Kind::Thread(_)) {
            return Ok(());
        }
        if self.borrowers.contains_key(&borrower) || self.waiters.iter().any(|b| *b == borrower) {
            Err(LimiterError::AlreadyBorrowing)
        } else {
            Ok(())
        }
    }

    fn lend(&mut self, borrower: Borrower) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.borrowers.insert(borrower, ticket);
        ticket
    }

    /// Grant tokens to the head waiters while there are any (strict FIFO).
    fn serve(&mut self, wake: &mut Vec<Waker>) {
        while self.borrowers.len() < self.total {
            let Some(&borrower) = self.waiters.front() else {
                break;
            };
            let ticket = self.lend(borrower);
            match self.waiters.grant_front(ticket) {
                Ok(waker) => wake.push(waker),
                Err(_) => unreachable!("front() just saw a waiter"),
            }
        }
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CapacityLimiter")
            .field(&self.statistics())
            .finish()
    }
}

/// The future of [`CapacityLimiter::acquire`] and
/// [`acquire_on_behalf_of`](CapacityLimiter::acquire_on_behalf_of).
#[must_use = "futures do nothing unless polled"]
pub struct LimiterAcquire<'a> {
    limiter: &'a CapacityLimiter,
    /// `None` until first polled for `acquire` (the current task).
    borrower: Option<Borrower>,
    key: Option<WaitKey>,
    /// Taken without waiting, held over the schedule point: returned at
    /// the next poll, or released with the future.
    taken: Option<LimiterGuard<'a>>,
}

impl<'a> Future for LimiterAcquire<'a> {
    type Output = Result<LimiterGuard<'a>, LimiterError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(guard) = self.taken.take() {
            // After the schedule point: ours whatever was cancelled.
            return Poll::Ready(Ok(guard));
        }
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: a grant stays unused and is passed on when
            // the scope drops this future.
            return Poll::Pending;
        }
        let limiter = self.limiter;
        let borrower = *self.borrower.get_or_insert_with(Borrower::current);
        let mut state = limiter.state.borrow_mut();
        match self.key {
            Some(key) => match state.waiters.take(key) {
                Some(ticket) => {
                    drop(state);
                    self.key = None;
                    Poll::Ready(Ok(LimiterGuard {
                        limiter,
                        borrower,
                        ticket,
                    }))
                }
                None => {
                    state.waiters.set_waker(key, cx.waker());
                    Poll::Pending
                }
            },
            None => {
                if let Err(e) = state.check_new(borrower) {
                    return Poll::Ready(Err(e));
                }
                if state.waiters.is_empty() && state.borrowers.len() < state.total {
                    let ticket = state.lend(borrower);
                    drop(state);
                    let guard = LimiterGuard {
                        limiter,
                        borrower,
                        ticket,
                    };
                    if !limiter.fast && arbor_runtime::scope::schedule_point(cx) {
                        self.taken = Some(guard);
                        return Poll::Pending;
                    }
                    return Poll::Ready(Ok(guard));
                }
                let key = state.waiters.push(borrower, cx.waker());
                drop(state);
                self.key = Some(key);
                Poll::Pending
            }
        }
    }
}

impl Drop for LimiterAcquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let cancelled = self.limiter.state.borrow_mut().waiters.cancel(key);
        if let Cancelled::Granted(ticket) = cancelled
            && let Some(borrower) = self.borrower
        {
            // Granted but never ran: the token goes to the next waiter.
            let _ = self.limiter.give_back(borrower, Some(ticket));
        }
    }
}

/// A token held for a borrower; dropping it releases the token.
#[must_use = "dropping the guard releases the token at once"]
pub struct LimiterGuard<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    ticket: u64,
}

impl LimiterGuard<'_> {
    /// Who holds the token.
    pub fn borrower(&self) -> Borrower {
        self.borrower
    }

    /// Keep the token borrowed after the guard is gone; release it with
    /// [`CapacityLimiter::release_on_behalf_of`] (trio's manual style).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for LimiterGuard<'_> {
    fn drop(&mut self) {
        // A token already released by hand (and perhaps borrowed again
        // under a new ticket) is left alone.
        let _ = self.limiter.give_back(self.borrower, Some(self.ticket));
    }
}

/// A token held through an `Rc` of its limiter; dropping it releases the
/// token (on the limiter's thread: it is `!Send`, like the limiter).
pub(crate) struct OwnedLimiterGuard {
    limiter: Rc<CapacityLimiter>,
    borrower: Borrower,
    ticket: u64,
}

impl Drop for OwnedLimiterGuard {
    fn drop(&mut self) {
        let _ = self.limiter.give_back(self.borrower, Some(self.ticket));
    }
}

impl fmt::Debug for LimiterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterGuard")
            .field("borrower", &self.borrower)
            .finish()
    }
}
