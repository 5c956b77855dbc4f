//! A channel where every receiver sees every item (tokio's `broadcast`,
//! single-threaded).
//!
//! [`channel`]`(capacity)` (also [`channel::broadcast`](fn@super::broadcast))
//! gives a cloneable [`Sender`] and a [`Receiver`]. Each receiver sees
//! every item sent after it subscribed ([`Sender::subscribe`],
//! [`Receiver::resubscribe`]), in order; a [`Receiver::clone`] starts
//! where the original stands. Items are cloned out to each receiver.
//!
//! A send never waits: the channel retains at most `capacity` items, and
//! a send into a full channel drops the oldest one. A receiver that falls
//! more than `capacity` items behind is told how many it missed
//! ([`RecvError::Lagged`]) and continues from the oldest item still
//! retained. When every sender is gone, each receiver drains what is
//! retained for it and then gets [`RecvError::Closed`].
//!
//! # State
//!
//! One `RefCell<State>` holds the retained items as a ring of slots with
//! consecutive positions (`head` is the position of the oldest), the
//! handle counts and one wait queue of receivers. Each receiver keeps the
//! position it reads next. A slot counts the receivers that still have to
//! read it (`rem`): those alive that subscribed at or before it and have
//! not read it. Receivers read in order, so the slots every receiver has
//! read form a prefix of the ring; they are dropped at once (an item is
//! kept only while someone may still read it), and the slot dropped for
//! room is always the oldest. A receiver whose position is below `head`
//! has lagged.
//!
//! # Checkpoints and cancellation
//!
//! [`Receiver::recv`] is a checkpoint (see [the channel docs](super#checkpoints)).
//! It consumes nothing until it returns: an item found at once is cloned
//! and kept over the schedule point while the receiver's position stays
//! put, so a receive dropped at any point leaves the receiver where it
//! was, and the next receive returns the same item (unless it was dropped
//! for room meanwhile: then that counts as lagged). Waiting receivers are
//! woken by every send; a dropped wait has nothing to pass on.
//!
//! ```
//! use arbor_primitives::channel::{self, broadcast::RecvError};
//!
//! arbor_runtime::run(async {
//!     let (tx, mut rx1) = channel::broadcast::<u32>(2);
//!     let mut rx2 = tx.subscribe();
//!     let reader = arbor_runtime::spawn(async move {
//!         let mut got = Vec::new();
//!         while let Ok(v) = rx2.recv().await {
//!             got.push(v);
//!         }
//!         got
//!     });
//!     for i in 1..=4 {
//!         assert_eq!(tx.send(i), Ok(2), "two receivers will see it");
//!         arbor_runtime::yield_now().await; // `reader` keeps up
//!     }
//!     drop(tx);
//!     assert_eq!(reader.await.unwrap(), [1, 2, 3, 4]);
//!     // rx1 did not read: 1 and 2 were dropped for room.
//!     assert_eq!(rx1.recv().await, Err(RecvError::Lagged(2)));
//!     assert_eq!(rx1.recv().await, Ok(3));
//!     assert_eq!(rx1.recv().await, Ok(4));
//!     assert_eq!(rx1.recv().await, Err(RecvError::Closed));
//! });
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::waiters::{WaitKey, WaitQueue};

/// A broadcast channel retaining at most `capacity` items.
///
/// # Panics
/// If `capacity` is 0: a broadcast channel must hold at least the item
/// being sent.
///
/// ```
/// use arbor_primitives::channel::broadcast::{self, TryRecvError};
///
/// let (tx, mut rx) = broadcast::channel(2);
/// let mut late = tx.subscribe();
/// tx.send("a").unwrap();
/// let mut later = tx.subscribe(); // sees only what comes next
/// tx.send("b").unwrap();
/// assert_eq!((rx.try_recv(), rx.try_recv()), (Ok("a"), Ok("b")));
/// assert_eq!(late.try_recv(), Ok("a"));
/// assert_eq!(later.try_recv(), Ok("b"));
/// assert_eq!(later.try_recv(), Err(TryRecvError::Empty));
/// ```
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "broadcast::channel capacity must be at least 1 (a send keeps the item for the receivers)"
    );
    let shared = Rc::new(RefCell::new(State {
        slots: VecDeque::new(),
        head: 0,
        capacity,
        senders: 1,
        receivers: 1,
        waiters: WaitQueue::new(),
    }));
    let rx = Receiver {
        shared: shared.clone(),
        next: 0,
        stream_key: None,
    };
    (Sender { shared }, rx)
}

struct Slot<T> {
    value: T,
    /// Receivers that still have to read this slot (at least 1: a slot
    /// every receiver read is dropped).
    rem: usize,
}

struct State<T> {
    /// Retained items, oldest first; at most `capacity`.
    slots: VecDeque<Slot<T>>,
    /// Position of `slots[0]` (of the next send when empty). A `u64`: at
    /// one send per nanosecond it takes 584 years to wrap.
    head: u64,
    capacity: usize,
    /// Handles alive. Each holds a clone of the `Rc`, which aborts before
    /// its strong count wraps, so these cannot overflow.
    senders: usize,
    receivers: usize,
    /// Receivers waiting for the next send (or the end); every send grants
    /// all of them: "look again".
    waiters: WaitQueue<(), ()>,
}

impl<T> State<T> {
    /// The position the next send gets.
    fn tail(&self) -> u64 {
        self.head + self.slots.len() as u64
    }

    /// The slot at `pos`, if still retained.
    fn slot_mut(&mut self, pos: u64) -> Option<&mut Slot<T>> {
        let index = usize::try_from(pos.checked_sub(self.head)?).ok()?;
        self.slots.get_mut(index)
    }

    /// Drop the slots every receiver has read (a prefix), returning them so
    /// the caller drops the values outside its borrow.
    fn pop_read(&mut self) -> Vec<T> {
        let mut done = Vec::new();
        while self.slots.front().is_some_and(|s| s.rem == 0) {
            let slot = self.slots.pop_front().expect("checked above");
            self.head += 1;
            done.push(slot.value);
        }
        done
    }

    /// A receiver at `next` reads the slot at `pos` (its own position or,
    /// lagged, the oldest): it no longer counts in that slot.
    /// Returns the slot's value if it was the last reader.
    fn consume(&mut self, pos: u64) -> Option<T> {
        let slot = self.slot_mut(pos)?;
        slot.rem -= 1;
        if slot.rem == 0 {
            // Read by everyone: by the prefix property it is the oldest.
            debug_assert_eq!(pos, self.head);
            self.head += 1;
            return self.slots.pop_front().map(|s| s.value);
        }
        None
    }

    /// Count (`add`) or uncount a receiver at `next` in every retained
    /// slot it has not read. Returns the values of slots no one has left
    /// to read.
    fn count_reader(&mut self, next: u64, add: bool) -> Vec<T> {
        let from = usize::try_from(next.saturating_sub(self.head)).unwrap_or(usize::MAX);
        for slot in self.slots.iter_mut().skip(from) {
            if add {
                slot.rem += 1;
            } else {
                slot.rem -= 1;
            }
        }
        self.pop_read()
    }

    fn statistics(&self) -> BroadcastStatistics {
        BroadcastStatistics {
            retained: self.slots.len(),
            capacity: self.capacity,
            senders: self.senders,
            receivers: self.receivers,
            tasks_waiting: self.waiters.len(),
        }
    }
}

/// Grant every waiting receiver (they look again), waking them one at a
/// time outside the borrow; no allocation.
fn wake_all<T>(shared: &RefCell<State<T>>) {
    let mut n = shared.borrow().waiters.len();
    while n > 0 {
        let granted = shared.borrow_mut().waiters.grant_front(());
        match granted {
            Ok(waker) => waker.wake(),
            Err(()) => break,
        }
        n -= 1;
    }
}

/// A broadcast channel's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BroadcastStatistics {
    /// Items retained for receivers that have not read them yet.
    pub retained: usize,
    /// The most items retained.
    pub capacity: usize,
    /// Senders alive.
    pub senders: usize,
    /// Receivers alive.
    pub receivers: usize,
    /// Receivers waiting in `recv` (or a `Stream` poll) for the next item.
    pub tasks_waiting: usize,
}

/// [`Sender::send`] found no receiver; the item is handed back.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no broadcast receiver is alive; the item is handed back (into_inner), subscribe one first",
        )
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv`] returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and this receiver read every item retained
    /// for it.
    Closed,
    /// This receiver fell behind by more than the capacity: that many
    /// items were dropped before it read them. The next receive returns
    /// the oldest item still retained.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => {
                f.write_str("every broadcast sender is gone and every item was received")
            }
            RecvError::Lagged(n) => write!(
                f,
                "this receiver fell behind and missed {n} items; receive again to continue from the oldest retained one (or raise the capacity)"
            ),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No item is ready now, but senders remain; use `recv` to wait.
    Empty,
    /// Every sender is gone and this receiver read every item retained
    /// for it.
    Closed,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => {
                f.write_str("no item is ready without waiting; use recv to wait")
            }
            TryRecvError::Closed => RecvError::Closed.fmt(f),
            TryRecvError::Lagged(n) => RecvError::Lagged(*n).fmt(f),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The `Stream` impl's error: this receiver missed that many items (as
/// [`RecvError::Lagged`]); the stream goes on with the oldest retained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        RecvError::Lagged(self.0).fmt(f)
    }
}

impl std::error::Error for Lagged {}

impl From<Lagged> for RecvError {
    fn from(lagged: Lagged) -> Self {
        RecvError::Lagged(lagged.0)
    }
}

/// The sending half of a [`broadcast`](self) channel; cloneable. The
/// channel closes (after receivers drain) when every sender is dropped.
///
/// ```
/// use arbor_primitives::channel::broadcast;
///
/// let (tx, rx) = broadcast::channel::<u8>(4);
/// let tx2 = tx.clone();
/// assert_eq!(tx2.send(1), Ok(1));
/// drop(rx);
/// assert_eq!(tx.send(2).unwrap_err().into_inner(), 2, "nobody to see it");
/// ```
pub struct Sender<T> {
    shared: Rc<RefCell<State<T>>>,
}

impl<T: Clone> Sender<T> {
    /// Send `value` to every receiver alive now, never waiting; returns how
    /// many will see it. If `capacity` items are retained already, the
    /// oldest is dropped: receivers that had not read it will see
    /// [`RecvError::Lagged`].
    ///
    /// # Errors
    /// [`SendError`] (handing `value` back) if no receiver is alive.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let (receivers, overwritten) = {
            let mut state = self.shared.borrow_mut();
            if state.receivers == 0 {
                return Err(SendError(value));
            }
            let rem = state.receivers;
            state.slots.push_back(Slot { value, rem });
            let overwritten = if state.slots.len() > state.capacity {
                state.head += 1;
                state.slots.pop_front()
            } else {
                None
            };
            (rem, overwritten)
        };
        // Outside the borrow: the value's Drop may use this channel.
        drop(overwritten);
        wake_all(&self.shared);
        Ok(receivers)
    }

    /// A new receiver that sees the items sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }
}

impl<T> Sender<T> {
    /// Receivers alive (each will see the next item).
    pub fn receiver_count(&self) -> usize {
        self.shared.borrow().receivers
    }

    /// The channel's counters.
    pub fn statistics(&self) -> BroadcastStatistics {
        self.shared.borrow().statistics()
    }
}

fn subscribe<T>(shared: &Rc<RefCell<State<T>>>) -> Receiver<T> {
    let mut state = shared.borrow_mut();
    state.receivers += 1;
    Receiver {
        shared: shared.clone(),
        next: state.tail(),
        stream_key: None,
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.borrow_mut();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            // Waiting receivers look again and find the end.
            wake_all(&self.shared);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender")
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// The receiving half of a [`broadcast`](self) channel.
///
/// A `Clone` starts where the original stands (it will see the same
/// items); [`resubscribe`](Receiver::resubscribe) starts at the next send.
/// Also a [`Stream`] of `Result<T, Lagged>` that ends when the channel
/// does.
///
/// ```
/// use futures_lite::StreamExt;
/// use arbor_primitives::channel::broadcast::{self, Lagged};
///
/// arbor_runtime::run(async {
///     let (tx, mut rx) = broadcast::channel(2);
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
///     let mut twin = rx.clone();
///     drop(tx);
///     assert_eq!(rx.collect::<Vec<_>>().await, [Err(Lagged(1)), Ok(1), Ok(2)]);
///     assert_eq!(twin.recv().await, Err(broadcast::RecvError::Lagged(1)));
/// });
/// ```
pub struct Receiver<T> {
    shared: Rc<RefCell<State<T>>>,
    /// The position this receiver reads next.
    next: u64,
    /// The wait of the `Stream` impl, which has no future of its own.
    stream_key: Option<WaitKey>,
}

/// What a receiver finds at its position, without consuming it.
enum Peek<T> {
    /// The item at this position (cloned).
    Item(u64, T),
    Lagged(u64),
    Closed,
    Empty,
}

impl<T: Clone> Receiver<T> {
    /// Wait for the next item. Awaiting it behaves as
    /// `async fn recv(&mut self) -> Result<T, RecvError>`.
    ///
    /// A checkpoint (see [the channel docs](super#checkpoints)): an item
    /// found at once is returned after other ready tasks got to run.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] if items were dropped before this receiver
    /// read them (the next receive continues from the oldest retained one;
    /// returned at once, no schedule point), [`RecvError::Closed`] once
    /// every sender is gone and every item retained for this receiver was
    /// read.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is consumed until the future returns an item.
    /// Dropping it while it waits, or while it yields at its schedule point
    /// holding a clone, leaves the receiver where it was: the next receive
    /// returns the same item (or reports it lagged, if it was dropped for
    /// room meanwhile). Inside a cancelled scope it makes no progress.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            key: None,
            held: None,
        }
    }

    /// Take the next item if one is retained for this receiver.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if none is and senders remain,
    /// [`TryRecvError::Lagged`] as [`RecvError::Lagged`],
    /// [`TryRecvError::Closed`] at the end.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.peek() {
            Peek::Item(pos, value) => {
                self.consume(pos);
                Ok(value)
            }
            Peek::Lagged(n) => Err(TryRecvError::Lagged(n)),
            Peek::Closed => Err(TryRecvError::Closed),
            Peek::Empty => Err(TryRecvError::Empty),
        }
    }

    /// The item at this receiver's position, cloned (under a shared
    /// borrow: `T::clone` must not send on this channel). A lag moves the
    /// position to the oldest retained item and is reported at once.
    fn peek(&mut self) -> Peek<T> {
        let state = self.shared.borrow();
        if self.next < state.head {
            let missed = state.head - self.next;
            self.next = state.head;
            return Peek::Lagged(missed);
        }
        let index = usize::try_from(self.next - state.head).unwrap_or(usize::MAX);
        match state.slots.get(index) {
            Some(slot) => Peek::Item(self.next, slot.value.clone()),
            None if state.senders == 0 => Peek::Closed,
            None => Peek::Empty,
        }
    }
}

impl<T> Receiver<T> {
    /// The item at `pos` (this receiver's position when peeked) was
    /// returned: move past it. If it was dropped for room meanwhile, the
    /// receiver lags by what was dropped after it.
    fn consume(&mut self, pos: u64) {
        debug_assert_eq!(pos, self.next);
        self.next = pos + 1;
        let done = self.shared.borrow_mut().consume(pos);
        drop(done);
    }

    /// A new receiver that sees the items sent from now on (not those
    /// retained for this one).
    pub fn resubscribe(&self) -> Receiver<T> {
        subscribe(&self.shared)
    }

    /// The channel's counters.
    pub fn statistics(&self) -> BroadcastStatistics {
        self.shared.borrow().statistics()
    }
}

impl<T> Clone for Receiver<T> {
    /// A receiver at the same position: it will see the same items as
    /// this one (and the same lag, if this one lagged).
    fn clone(&self) -> Self {
        let mut state = self.shared.borrow_mut();
        state.receivers += 1;
        let none = state.count_reader(self.next, true);
        debug_assert!(none.is_empty());
        Receiver {
            shared: self.shared.clone(),
            next: self.next,
            stream_key: None,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let done = {
            let mut state = self.shared.borrow_mut();
            if let Some(key) = self.stream_key.take() {
                // A notification is a broadcast: nothing to pass on.
                let _ = state.waiters.cancel(key);
            }
            state.receivers -= 1;
            state.count_reader(self.next, false)
        };
        // Outside the borrow: a value's Drop may use this channel.
        drop(done);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// A wait registered as `key`: `true` if it was woken (look again), else
/// its waker is refreshed.
fn woken<T>(shared: &RefCell<State<T>>, key: WaitKey, cx: &Context<'_>) -> bool {
    let mut state = shared.borrow_mut();
    if state.waiters.take(key).is_some() {
        return true;
    }
    state.waiters.set_waker(key, cx.waker());
    false
}

fn wait<T>(shared: &RefCell<State<T>>, cx: &Context<'_>) -> WaitKey {
    shared.borrow_mut().waiters.push((), cx.waker())
}

impl<T: Clone> Stream for Receiver<T> {
    type Item = Result<T, Lagged>;

    /// The next item, `Err(Lagged(n))` when this receiver missed `n`
    /// items (the stream goes on), `None` at the end.
    ///
    /// # Checkpoints
    /// As for the other channels' streams: `poll_next` is a cancel point
    /// but returns an item it finds ready without a schedule point (a poll
    /// API keeps no result across polls); await [`Receiver::recv`] for a
    /// full checkpoint.
    ///
    /// # Cancel safety
    /// The wait lives in the receiver; dropping a `next()` future loses
    /// nothing (no item is consumed before it is returned).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let this = self.get_mut();
        if let Some(key) = this.stream_key {
            if !woken(&this.shared, key, cx) {
                return Poll::Pending;
            }
            this.stream_key = None;
        }
        match this.peek() {
            Peek::Item(pos, value) => {
                this.consume(pos);
                Poll::Ready(Some(Ok(value)))
            }
            Peek::Lagged(n) => Poll::Ready(Some(Err(Lagged(n)))),
            Peek::Closed => Poll::Ready(None),
            Peek::Empty => {
                this.stream_key = Some(wait(&this.shared, cx));
                Poll::Pending
            }
        }
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    key: Option<WaitKey>,
    /// An item found without waiting (its position and a clone), kept
    /// over the schedule point; consumed when returned.
    held: Option<(u64, T)>,
}

// The item is never pinned: it is moved out to the caller.
impl<T> Unpin for Recv<'_, T> {}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some((pos, value)) = this.held.take() {
            // The schedule point's second half: returned whatever was
            // cancelled meanwhile.
            this.receiver.consume(pos);
            return Poll::Ready(Ok(value));
        }
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let waited = this.key.is_some();
        if let Some(key) = this.key {
            if !woken(&this.receiver.shared, key, cx) {
                return Poll::Pending;
            }
            this.key = None;
        }
        match this.receiver.peek() {
            Peek::Item(pos, value) => {
                if !waited && arbor_runtime::scope::schedule_point(cx) {
                    this.held = Some((pos, value));
                    return Poll::Pending;
                }
                this.receiver.consume(pos);
                Poll::Ready(Ok(value))
            }
            Peek::Lagged(n) => Poll::Ready(Err(RecvError::Lagged(n))),
            Peek::Closed => Poll::Ready(Err(RecvError::Closed)),
            Peek::Empty => {
                this.key = Some(wait(&this.receiver.shared, cx));
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A notification is a broadcast: nothing to pass on.
            let _ = self.receiver.shared.borrow_mut().waiters.cancel(key);
        }
        // A held clone is dropped; the receiver did not move.
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv")
            .field("queued", &self.key.is_some())
            .field("holding", &self.held.is_some())
            .finish()
    }
}
