//! Memory object streams: AnyIO's `create_memory_object_stream`, for arbor.
//!
//! [`bounded`]`(n)` buffers up to `n` items (`n == 0` is a rendezvous: a
//! send completes only when a receiver takes the item); [`unbounded`]
//! never makes a sender wait. Both give a cloneable [`Sender`] and a
//! cloneable [`Receiver`]; each item goes to exactly one receiver, in FIFO
//! order, and waiting receivers are served in the order they began
//! waiting. Also here: [`oneshot`], [`watch`] and [`mod@broadcast`]
//! (every receiver sees every item).
//!
//! # State
//!
//! One `RefCell<State>` per channel holds the buffer, the open-handle
//! counts and two FIFO wait queues:
//!
//! - queued **senders** keep their item in their queue entry; a receiver
//!   takes it straight out of the head entry (rendezvous) or moves it into
//!   the buffer when room opens, granting the sender `Ok(())`. When the
//!   last receiver closes, each queued sender is granted `Err(item)`: its
//!   item comes back.
//! - queued **receivers** are granted `Some(item)` by a sender (direct
//!   hand-off), or `None` when the last sender or receiver closes (or
//!   their own handle does), telling them to look again (and find the end,
//!   an item a dropped receiver put back, or their handle closed).
//!
//! Every queue entry carries the id of the handle its operation was made
//! on (each handle, clones too, gets its own), and each handle counts its
//! operations that have an entry: closing a handle with some walks the
//! queue and grants its own queued entries (see *Closing*). So a wait
//! costs one entry in one queue, and closing a handle without waiting
//! operations touches no queue.
//!
//! Invariants: receivers queue only while the buffer is empty and no
//! sender is queued; senders queue only while there is no room (or other
//! senders are queued first) and no receiver is queued. So `try_send` and
//! `try_recv` never barge past a queued task.
//!
//! # Closing
//!
//! A handle closes when dropped or by `close()`; a closed handle's
//! operations fail with a `ClosedHandle` error. Closing a handle wakes the
//! operations blocked on *that* handle (trio): a waiting send fails with
//! [`SendError::ClosedHandle`], handing its item back, a waiting receive
//! with [`RecvError::ClosedHandle`]; one that was already granted
//! (its item taken by a receiver, or an item handed to it) completes with
//! that instead. (A queued send is granted `ClosedHandle` with its item
//! taken out of its entry; a queued receive is granted "look again" and
//! then finds its handle closed.) Operations of other clones are not
//! disturbed. When the
//! last sender closes, receivers drain the buffer and then get
//! [`RecvError::Closed`] (end of stream; the [`Stream`](futures_core::Stream)
//! impl yields `None`). The end waits for items in flight too: an item
//! handed to a receiver that has not run yet (or held by a receive at its
//! schedule point) may still come back (if that receive is dropped), so
//! other receivers keep waiting until it lands. When the last receiver
//! closes, buffered items are dropped and every send (queued or new) fails
//! with [`SendError::Closed`], handing its item back.
//!
//! # Checkpoints
//!
//! [`Sender::send`] and [`Receiver::recv`] (and the async operations of
//! [`oneshot`], [`watch`] and [`mod@broadcast`]) are checkpoints in trio's
//! order: inside a cancelled arbor scope they make no progress; otherwise
//! they make the non-blocking attempt, and if that took effect without
//! waiting, they still yield once when other code is ready to run (a
//! schedule point, [`arbor_runtime::scope::schedule_point`]), keeping the
//! result for the next poll, which returns it whatever was cancelled
//! meanwhile. So a producer looping on `send` into a channel with room
//! lets the consumer and every other ready task run between its sends.
//! An operation that had to wait already let others run and returns at
//! once when woken. Failures (closed, end of stream) return at once. The
//! `try_` forms never yield; the [`Stream`](futures_core::Stream) impl
//! returns an item it finds ready without a schedule point (it is a poll
//! API).
//!
//! # Cancellation
//!
//! A dropped send that was still queued withdraws its item: it was never
//! sent. A send whose item a receiver already took, or that took effect
//! and is yielding at its schedule point, counts as sent (the receiver or
//! the buffer has the item). A dropped receive consumes nothing: an item
//! already handed to it, or taken and held over its schedule point, goes
//! to the next queued receiver, or back to the *front* of the buffer (the
//! next receive gets it; for a rendezvous channel too, whose sender has
//! already completed). That may briefly leave more items buffered than
//! the capacity (senders wait until it drains below it again). Inside a
//! cancelled arbor scope, sends and receives make no progress.
//!
//! ```
//! use arbor_primitives::channel;
//!
//! arbor_runtime::run(async {
//!     let (tx, rx) = channel::bounded::<u32>(1);
//!     let producer = arbor_runtime::spawn(async move {
//!         for i in 0..3 {
//!             tx.send(i).await.unwrap();
//!         }
//!         // Dropping `tx` (the last sender) ends the stream.
//!     });
//!     let mut got = Vec::new();
//!     while let Ok(i) = rx.recv().await {
//!         got.push(i);
//!     }
//!     assert_eq!(got, [0, 1, 2]);
//!     producer.await.unwrap();
//! });
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;

use crate::waiters::WaitQueue;

/// Names a handle among those of its channel (see `State::next_handle`).
pub(crate) type HandleId = u64;

pub mod broadcast;
mod error;
pub mod oneshot;
mod receiver;
mod sender;
pub mod watch;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
pub use receiver::{Receiver, Receiving};
pub use sender::{Sender, Sending};

/// A channel buffering at most `capacity` items; `0` makes a rendezvous
/// channel, where a send completes only when a receiver takes the item.
///
/// Any `capacity` is allowed: it is only compared with the items buffered,
/// and the buffer grows as items arrive (nothing is reserved up front), so
/// `bounded(usize::MAX)` behaves as [`unbounded`].
///
/// ```
/// use arbor_primitives::channel::{self, TrySendError};
///
/// let (tx, rx) = channel::bounded::<&str>(1);
/// tx.try_send("a").unwrap();
/// assert!(matches!(tx.try_send("b"), Err(TrySendError::Full("b"))));
/// assert_eq!(rx.try_recv(), Ok("a"));
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    new_channel(Some(capacity))
}

/// A channel whose buffer grows without limit: sends never wait.
///
/// ```
/// use arbor_primitives::channel::{self, TryRecvError};
///
/// let (tx, rx) = channel::unbounded();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.statistics().current_buffer_used, 1000);
/// assert_eq!((0..1000).map(|_| rx.try_recv().unwrap()).sum::<i32>(), 499500);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new_channel(None)
}

/// A [`mod@broadcast`] channel retaining at most `capacity` items: every
/// receiver sees every item sent after it subscribed. Same as
/// [`broadcast::channel`].
///
/// # Panics
/// If `capacity` is 0.
///
/// ```
/// use arbor_primitives::channel;
///
/// let (tx, mut rx1) = channel::broadcast(8);
/// let mut rx2 = rx1.resubscribe();
/// tx.send("hi").unwrap();
/// assert_eq!((rx1.try_recv(), rx2.try_recv()), (Ok("hi"), Ok("hi")));
/// ```
pub fn broadcast<T: Clone>(capacity: usize) -> (broadcast::Sender<T>, broadcast::Receiver<T>) {
    broadcast::channel(capacity)
}

fn new_channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(State {
        buf: VecDeque::new(),
        cap,
        senders: 1,
        receivers: 1,
        in_flight: 0,
        next_handle: 2,
        send_waiters: WaitQueue::new(),
        recv_waiters: WaitQueue::new(),
    }));
    (Sender::new(shared.clone(), 0), Receiver::new(shared, 1))
}

/// A channel's counters, as AnyIO's `MemoryObjectStreamStatistics` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelStatistics {
    /// Items in the buffer now.
    pub current_buffer_used: usize,
    /// The buffer's capacity; `None` for an unbounded channel.
    pub max_buffer_size: Option<usize>,
    /// Sender handles not yet closed.
    pub open_send_streams: usize,
    /// Receiver handles not yet closed.
    pub open_receive_streams: usize,
    /// Sends queued, waiting for room or for a receiver.
    pub tasks_waiting_send: usize,
    /// Receives queued, waiting for an item.
    pub tasks_waiting_receive: usize,
}

pub(crate) type Shared<T> = Rc<RefCell<State<T>>>;

pub(crate) struct State<T> {
    buf: VecDeque<T>,
    /// Any `usize`: only compared with `buf.len()`, never added to.
    cap: Option<usize>,
    /// Open handles. Bounded by the `Rc`'s strong count (every handle holds
    /// a clone, and `Rc` aborts before that count wraps), so `+= 1` on
    /// clone cannot overflow; each `-= 1` closes a handle counted once.
    senders: usize,
    receivers: usize,
    /// Items granted to queued receives that have not yet taken them (or
    /// been dropped, passing them on), and items held by receives at their
    /// schedule point. The stream does not
    /// end while any is in flight: a dropped receive may still put one
    /// back. Each is owned by one allocated entry or one live future, so it
    /// cannot overflow; `landed` takes back one that was counted.
    in_flight: usize,
    /// The id the next handle (a clone) gets; a `u64` never wraps.
    next_handle: HandleId,
    /// Queued senders hold `Some(item)` until a receiver takes it; they are
    /// granted `Ok(())` (item taken), `Err(Closed(item))` (receivers gone)
    /// or `Err(ClosedHandle(item))` (their own handle closed).
    send_waiters: WaitQueue<SendWait<T>, Result<(), SendError<T>>>,
    /// Queued receivers, by handle, are granted `Some(item)`, or `None`:
    /// "look again", once no sender (or no receiver) is left, or their own
    /// handle closed, so they cannot wait any more.
    recv_waiters: WaitQueue<HandleId, Option<T>>,
}

/// A queued send: the handle it was made on and its item.
pub(crate) struct SendWait<T> {
    handle: HandleId,
    item: Option<T>,
}

impl<T> State<T> {
    /// An id for a new handle.
    fn new_handle(&mut self) -> HandleId {
        let id = self.next_handle;
        self.next_handle += 1;
        id
    }

    fn has_room(&self) -> bool {
        self.cap.is_none_or(|cap| self.buf.len() < cap)
    }

    fn statistics(&self) -> ChannelStatistics {
        ChannelStatistics {
            current_buffer_used: self.buf.len(),
            max_buffer_size: self.cap,
            open_send_streams: self.senders,
            open_receive_streams: self.receivers,
            tasks_waiting_send: self.send_waiters.len(),
            tasks_waiting_receive: self.recv_waiters.len(),
        }
    }

    /// Deliver `item` without waiting: to the head receiver, else into the
    /// buffer if there is room and no sender is queued first.
    #[inline]
    fn try_send(&mut self, item: T, wake: &mut Option<Waker>) -> Result<(), TrySendError<T>> {
        if self.receivers == 0 {
            return Err(TrySendError::Closed(item));
        }
        if !self.recv_waiters.is_empty() {
            match self.recv_waiters.grant_front(Some(item)) {
                Ok(waker) => *wake = Some(waker),
                Err(_) => unreachable!("a receiver is queued"),
            }
            self.in_flight += 1;
            return Ok(());
        }
        if self.send_waiters.is_empty() && self.has_room() {
            self.buf.push_back(item);
            Ok(())
        } else {
            Err(TrySendError::Full(item))
        }
    }

    /// Take the next item without waiting: from the buffer, else straight
    /// from the head queued sender.
    #[inline]
    fn try_recv(&mut self, wake: &mut Option<Waker>) -> Result<T, TryRecvError> {
        if let Some(item) = self.buf.pop_front() {
            *wake = self.refill();
            return Ok(item);
        }
        if let Some(item) = self.take_from_sender(wake) {
            return Ok(item);
        }
        if self.is_ended() {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Take the head queued sender's item, granting it `Ok(())`.
    #[inline]
    fn take_from_sender(&mut self, wake: &mut Option<Waker>) -> Option<T> {
        let mut item = None;
        *wake = Some(self.send_waiters.grant_front_with(|w| {
            item = w.item.take();
            Ok(())
        })?);
        Some(item.expect("a queued sender holds its item"))
    }

    /// Move queued senders' items into the buffer while there is room.
    /// Room opens one slot at a time, so at most one sender is served.
    fn refill(&mut self) -> Option<Waker> {
        let mut wake = None;
        if self.has_room()
            && let Some(item) = self.take_from_sender(&mut wake)
        {
            self.buf.push_back(item);
        }
        wake
    }

    /// An item granted to a receiver that was dropped before taking it:
    /// hand it to the next queued receiver, or back to the front of the
    /// buffer. With no receiver left it is returned, to be dropped by the
    /// caller once its borrow is released.
    fn requeue(&mut self, item: T, wake: &mut Option<Waker>) -> Option<T> {
        if self.receivers == 0 {
            return Some(item);
        }
        match self.recv_waiters.grant_front(Some(item)) {
            Ok(waker) => {
                *wake = Some(waker);
                self.in_flight += 1;
            }
            Err(Some(item)) => self.buf.push_front(item),
            Err(None) => unreachable!("requeue grants Some"),
        }
        None
    }

    /// No item is left or can come: no sender, nothing buffered, queued or
    /// in flight.
    #[inline]
    fn is_ended(&self) -> bool {
        self.senders == 0
            && self.in_flight == 0
            && self.buf.is_empty()
            && self.send_waiters.is_empty()
    }

    /// A queued receiver took (or, dropped, gave up) its granted item.
    /// Says whether that was the last one before the end: the caller then
    /// ends the stream for the queued receivers (`end_receivers`).
    #[inline]
    fn landed(&mut self) -> bool {
        self.in_flight -= 1;
        self.is_ended()
    }

    /// End the stream for every queued receiver.
    fn end_receivers(&mut self, wake: &mut Vec<Waker>) {
        while let Ok(waker) = self.recv_waiters.grant_front(None) {
            wake.push(waker);
        }
    }

    /// One sender handle closed. Once none is left, queued receivers (who
    /// only queue on an empty buffer with no queued sender) see the end.
    fn release_sender(&mut self, wake: &mut Vec<Waker>) {
        self.senders -= 1;
        if self.is_ended() {
            self.end_receivers(wake);
        }
    }

    /// One receiver handle closed. Once none is left, the buffer is
    /// returned (to be dropped by the caller) and queued senders get their
    /// items back. (Closing a handle grants its own queued receives first,
    /// so none should be left; any still queued are ended.)
    fn release_receiver(&mut self, wake: &mut Vec<Waker>) -> VecDeque<T> {
        self.receivers -= 1;
        if self.receivers > 0 {
            return VecDeque::new();
        }
        while let Some(waker) = self.send_waiters.grant_front_with(|w| {
            Err(SendError::Closed(
                w.item.take().expect("a queued sender holds its item"),
            ))
        }) {
            wake.push(waker);
        }
        self.end_receivers(wake);
        std::mem::take(&mut self.buf)
    }
}
