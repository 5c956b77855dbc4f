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
use std::rc::Rc;

use crate::waiters::WaitQueue;

mod error;
mod receiver;

pub use error::{Lagged, RecvError, SendError, TryRecvError};
pub use receiver::{Receiver, Recv};

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
    let rx = Receiver::at(shared.clone(), 0);
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
    Receiver::at(shared.clone(), state.tail())
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
