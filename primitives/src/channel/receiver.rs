//! The receiving end of a channel.

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::{ChannelStatistics, HandleId, RecvError, Shared, State, TryRecvError};
use crate::waiters::{Cancelled, WaitKey};

/// The receiving end of a [`bounded`](super::bounded) or
/// [`unbounded`](super::unbounded) channel.
///
/// Cloneable (a clone of a closed handle is closed too); each item goes to
/// exactly one receiver. Also a [`Stream`] that ends when the channel
/// does (or when this handle is closed).
///
/// ```
/// use futures_lite::StreamExt;
/// use arbor_primitives::channel::{self, RecvError};
///
/// arbor_runtime::run(async {
///     let (tx, mut rx) = channel::unbounded();
///     tx.try_send("a").unwrap();
///     tx.try_send("b").unwrap();
///     drop(tx);
///     assert_eq!(rx.recv().await, Ok("a"));
///     assert_eq!(rx.next().await, Some("b"));
///     assert_eq!(rx.recv().await, Err(RecvError::Closed));
/// });
/// ```
pub struct Receiver<T> {
    shared: Shared<T>,
    closed: Cell<bool>,
    /// The wait of the `Stream` impl, which has no future of its own.
    stream_key: Cell<Option<WaitKey>>,
    /// This handle's id in its channel's queue entries.
    id: HandleId,
    /// Receives (`recv` futures, not the `Stream` wait) of this handle
    /// with an entry in the channel's queue (queued, or granted and not yet
    /// polled): [`close`](Receiver::close) walks the queue only when there
    /// are some.
    waiting: Cell<usize>,
}

// Items are never pinned (they live in queues and buffers, moved in and
// out), so a handle is `Unpin` whatever `T` is.
impl<T> Unpin for Receiver<T> {}

impl<T> Receiver<T> {
    pub(super) fn new(shared: Shared<T>, id: HandleId) -> Self {
        Receiver {
            shared,
            closed: Cell::new(false),
            stream_key: Cell::new(None),
            id,
            waiting: Cell::new(0),
        }
    }

    /// Wait for the next item. Awaiting it behaves as
    /// `async fn recv(&self) -> Result<T, RecvError>`.
    ///
    /// A checkpoint (see [the module docs](super#checkpoints)): a receive
    /// that finds an item at once still lets other ready tasks run before
    /// it returns the item.
    ///
    /// # Errors
    /// [`RecvError::Closed`] at the end of the stream (every sender closed,
    /// buffer drained), [`RecvError::ClosedHandle`] when this handle was
    /// closed, before or while the receive waited.
    ///
    /// # Cancel safety
    /// Dropping the future consumes nothing: before an item was handed to
    /// it, it just leaves the queue; after (but before it ran), or while it
    /// yields at its schedule point holding an item it took, the item goes
    /// to the next waiting receiver or back to the *front* of the buffer
    /// (so the next receive gets it: FIFO order is kept). Inside a
    /// cancelled scope it makes no progress (and takes nothing).
    #[track_caller]
    pub fn recv(&self) -> Receiving<'_, T> {
        Receiving {
            receiver: self,
            wait: None,
            held: None,
            at: Location::caller(),
        }
    }

    /// Take the next item if one is ready: buffered, or offered by a
    /// waiting sender.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if none is ready but senders remain,
    /// [`TryRecvError::Closed`] at the end of the stream,
    /// [`TryRecvError::ClosedHandle`] when this handle was closed.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        if self.closed.get() {
            return Err(TryRecvError::ClosedHandle);
        }
        let mut wake = None;
        let out = self.shared.borrow_mut().try_recv(&mut wake);
        if let Some(waker) = wake {
            waker.wake();
        }
        out
    }

    /// Close this handle (AnyIO's `aclose`); later receives on it fail
    /// with `ClosedHandle`. Closing the last open receiver drops the
    /// buffered items and makes every send fail, handing its item back.
    /// Closing twice is a no-op.
    ///
    /// Receives of this handle that are waiting are woken (trio): each
    /// fails with [`RecvError::ClosedHandle`], unless a sender had already
    /// handed it an item (then it returns that item). Receives waiting on
    /// other clones are not disturbed.
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        // A `Stream` wait left behind by a dropped `next()` (none can be
        // in progress: `poll_next` borrows the receiver mutably).
        if let Some(key) = self.stream_key.take() {
            cancel_recv(&self.shared, key);
        }
        let mut wake = Vec::new();
        let discarded = {
            let mut state = self.shared.borrow_mut();
            if self.waiting.get() > 0 {
                // This handle's queued receives look again and find it
                // closed; those handed an item before the close keep it.
                let id = self.id;
                state
                    .recv_waiters
                    .grant_matching(|&mut h| (h == id).then_some(None), &mut wake);
            }
            state.release_receiver(&mut wake)
        };
        // Outside the borrow: an item's Drop may use this channel.
        drop(discarded);
        wake.into_iter().for_each(Waker::wake);
    }

    /// Whether this handle was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The channel's counters.
    pub fn statistics(&self) -> ChannelStatistics {
        self.shared.borrow().statistics()
    }
}

/// The non-blocking attempt of a receive (after its cancel check): the
/// outcome, or the key it queued under. `count` (a receive that may hold
/// the item over its schedule point): an item taken is counted in flight
/// under the same borrow, before the sender it freed is woken (a waker may
/// run code), so the end of the stream is never decided under it; the
/// caller takes it back with [`land`] when it returns the item.
fn attempt<T>(
    receiver: &Receiver<T>,
    count: bool,
    cx: &Context<'_>,
    at: &'static Location<'static>,
) -> Result<Result<T, RecvError>, WaitKey> {
    if receiver.closed.get() {
        return Ok(Err(RecvError::ClosedHandle));
    }
    let shared = &receiver.shared;
    let mut wake = None;
    let mut state = shared.borrow_mut();
    let out = match state.try_recv(&mut wake) {
        Ok(item) => {
            if count {
                state.in_flight += 1;
            }
            Ok(Ok(item))
        }
        Err(TryRecvError::Empty) => Err(state.recv_waiters.push_at(receiver.id, cx.waker(), at)),
        Err(TryRecvError::Closed | TryRecvError::ClosedHandle) => Ok(Err(RecvError::Closed)),
    };
    drop(state);
    if let Some(waker) = wake {
        waker.wake();
    }
    out
}

/// What a queued receive found in the channel's queue.
enum Queued<T> {
    /// A sender handed it this item (it has landed: no longer in flight).
    Item(T),
    /// Woken to look again (the last sender or receiver closed, or its own
    /// handle): an item a dropped receiver put back may still be buffered.
    LookAgain,
    /// Still waiting; its waker was refreshed.
    Waiting,
}

/// A queued receive is polled: its grant, taken (and an item landed)
/// under one borrow, or its waker refreshed.
#[inline]
fn poll_queued<T>(
    shared: &RefCell<State<T>>,
    key: WaitKey,
    cx: &Context<'_>,
    at: &'static Location<'static>,
) -> Queued<T> {
    let mut state = shared.borrow_mut();
    match state.recv_waiters.take(key) {
        Some(Some(item)) => {
            if state.landed() {
                end_stream(state);
            }
            Queued::Item(item)
        }
        Some(None) => Queued::LookAgain,
        None => {
            state.recv_waiters.set_waker_at(key, cx.waker(), at);
            Queued::Waiting
        }
    }
}

/// An item counted in flight (granted to a receive, or held at its
/// schedule point) reached its caller: that may have been the last one
/// before the end.
#[inline]
fn land<T>(shared: &RefCell<State<T>>) {
    let mut state = shared.borrow_mut();
    if state.landed() {
        end_stream(state);
    }
}

/// The last item in flight landed with no sender left: end the stream for
/// the queued receivers, waking them once the borrow is released.
#[cold]
#[inline(never)]
fn end_stream<T>(mut state: RefMut<'_, State<T>>) {
    let mut wake = Vec::new();
    state.end_receivers(&mut wake);
    drop(state);
    wake.into_iter().for_each(Waker::wake);
}

/// An item counted in flight whose receive was dropped: hand it to the
/// next queued receiver or back to the front of the buffer.
fn pass_on<T>(shared: &RefCell<State<T>>, item: T) {
    let mut wake = None;
    let mut ended = Vec::new();
    let orphan = {
        let mut state = shared.borrow_mut();
        let orphan = state.requeue(item, &mut wake);
        // Back in the buffer or with the next receiver, unless no receiver
        // is left: then it is dropped, and that may end the stream for
        // receives queued on closed handles.
        if state.landed() {
            state.end_receivers(&mut ended);
        }
        orphan
    };
    drop(orphan);
    wake.into_iter().chain(ended).for_each(Waker::wake);
}

/// A receive queued as `key` was dropped: pass on an item it was given.
fn cancel_recv<T>(shared: &RefCell<State<T>>, key: WaitKey) {
    let cancelled = shared.borrow_mut().recv_waiters.cancel(key);
    match cancelled {
        Cancelled::Granted(Some(item)) => pass_on(shared, item),
        Cancelled::Granted(None) | Cancelled::Withdrawn => {}
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    /// The next item, or `None` at the end of the stream or once this
    /// handle is closed.
    ///
    /// # Checkpoints
    /// `Stream` is a poll API, not an async operation of arbor: a
    /// `poll_next` that finds an item at once returns it without a
    /// schedule point (it cannot keep a result across polls of a future it
    /// does not own). A loop over `next()` that always finds items ready
    /// therefore does not yield; await [`Receiver::recv`] (a full
    /// checkpoint) where other tasks must get a turn. It is still a cancel
    /// point: inside a cancelled scope it makes no progress.
    ///
    /// # Cancel safety
    /// A `Stream` has no future of its own, so the wait lives in the
    /// receiver: dropping a `next()` future leaves it registered, and an
    /// item handed to it is kept for this receiver's next poll. Closing or
    /// dropping the receiver withdraws the wait and passes such an item
    /// on, as for [`Receiver::recv`].
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: nothing is taken; a granted item stays
            // granted for the next poll.
            return Poll::Pending;
        }
        let this = self.get_mut();
        if let Some(key) = this.stream_key.get() {
            match poll_queued(&this.shared, key, cx, Location::caller()) {
                Queued::Item(item) => {
                    this.stream_key.set(None);
                    return Poll::Ready(Some(item));
                }
                Queued::LookAgain => this.stream_key.set(None),
                Queued::Waiting => return Poll::Pending,
            }
        }
        match attempt(this, false, cx, Location::caller()) {
            Ok(out) => Poll::Ready(out.ok()),
            Err(key) => {
                this.stream_key.set(Some(key));
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.shared.borrow().buf.len(), None)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // A closed handle's clone is closed: it never queues, so it may
        // share the id.
        let id = if self.closed.get() {
            self.id
        } else {
            let mut state = self.shared.borrow_mut();
            // Cannot overflow: see `State::senders`.
            state.receivers += 1;
            state.new_handle()
        };
        Receiver {
            shared: self.shared.clone(),
            closed: Cell::new(self.closed.get()),
            stream_key: Cell::new(None),
            id,
            waiting: Cell::new(0),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Also withdraws a `Stream` wait (none is left on a closed handle:
        // `close` withdrew it, and `poll_next` then never waits).
        self.close();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("closed", &self.closed.get())
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Receiving<'a, T> {
    receiver: &'a Receiver<T>,
    /// While it has an entry in the channel's queue: its key.
    wait: Option<WaitKey>,
    /// An item taken without waiting, kept over the schedule point for the
    /// next poll (counted in flight, so the stream does not end under it).
    held: Option<T>,
    /// Where `recv` was called: the task's await point in `arbor::dump`.
    at: &'static Location<'static>,
}

// The item is never pinned: it is moved out to the caller.
impl<T> Unpin for Receiving<'_, T> {}

impl<T> Receiving<'_, T> {
    /// The receive left the channel's queue (took its grant or withdrew).
    fn left_queue(&mut self) {
        self.wait = None;
        let waiting = &self.receiver.waiting;
        waiting.set(waiting.get() - 1);
    }
}

impl<T> Future for Receiving<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let receiver = this.receiver;
        if let Some(item) = this.held.take() {
            // The schedule point's second half: the item was taken, so it
            // is returned whatever was cancelled meanwhile.
            land(&receiver.shared);
            return Poll::Ready(Ok(item));
        }
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: nothing is taken; a granted item stays
            // granted and is passed on when the scope drops the waiter.
            return Poll::Pending;
        }
        let waited = this.wait.is_some();
        if let Some(key) = this.wait {
            // Queued: handed an item, or told to look again (the end, or
            // this handle closed)?
            match poll_queued(&receiver.shared, key, cx, this.at) {
                Queued::Waiting => return Poll::Pending,
                Queued::Item(item) => {
                    this.left_queue();
                    return Poll::Ready(Ok(item));
                }
                Queued::LookAgain => this.left_queue(),
            }
        }
        match attempt(receiver, !waited, cx, this.at) {
            Ok(Ok(item)) if !waited => {
                // Counted in flight by `attempt`: see `State::in_flight`.
                if arbor_runtime::scope::schedule_point(cx) {
                    this.held = Some(item);
                    return Poll::Pending;
                }
                land(&receiver.shared);
                Poll::Ready(Ok(item))
            }
            Ok(out) => Poll::Ready(out),
            Err(key) => {
                this.wait = Some(key);
                receiver.waiting.set(receiver.waiting.get() + 1);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Receiving<'_, T> {
    fn drop(&mut self) {
        let shared = &self.receiver.shared;
        if let Some(item) = self.held.take() {
            pass_on(shared, item);
        }
        if let Some(key) = self.wait {
            self.left_queue();
            // Withdraw, or pass on an item it was handed.
            cancel_recv(&self.receiver.shared, key);
        }
    }
}

impl<T> fmt::Debug for Receiving<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiving")
            .field("queued", &self.wait.is_some())
            .field("holding", &self.held.is_some())
            .finish()
    }
}
