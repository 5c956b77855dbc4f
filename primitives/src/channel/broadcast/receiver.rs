//! The receiving half of a broadcast channel and its `recv` future.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{BroadcastStatistics, Lagged, RecvError, State, TryRecvError, subscribe};
use crate::waiters::WaitKey;

/// The receiving half of a [`broadcast`](super) channel.
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

impl<T> Receiver<T> {
    /// A receiver that reads from position `next` on (the caller counted
    /// it in `receivers`).
    pub(super) fn at(shared: Rc<RefCell<State<T>>>, next: u64) -> Self {
        Receiver {
            shared,
            next,
            stream_key: None,
        }
    }
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
    /// A checkpoint (see [the channel docs](super::super#checkpoints)): an item
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
