//! The receiving end of a channel.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::{ChannelStatistics, RecvError, Shared, State, TryRecvError};
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
    stream_key: Option<WaitKey>,
}

impl<T> Receiver<T> {
    pub(super) fn new(shared: Shared<T>) -> Self {
        Receiver {
            shared,
            closed: Cell::new(false),
            stream_key: None,
        }
    }

    /// Wait for the next item. Awaiting it behaves as
    /// `async fn recv(&self) -> Result<T, RecvError>`.
    ///
    /// # Errors
    /// [`RecvError::Closed`] at the end of the stream (every sender closed,
    /// buffer drained), [`RecvError::ClosedHandle`] when this handle was
    /// closed.
    ///
    /// # Cancel safety
    /// Dropping the future consumes nothing: before an item was handed to
    /// it, it just leaves the queue; after (but before it ran), the item
    /// goes to the next waiting receiver or back to the front of the
    /// buffer. Inside a cancelled scope it makes no progress.
    pub fn recv(&self) -> Receiving<'_, T> {
        Receiving {
            receiver: self,
            key: None,
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
    /// buffered items and makes every send fail, handing its item back;
    /// queued receives of closed handles then end with `ClosedHandle`.
    /// Closing twice is a no-op.
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let mut wake = Vec::new();
        let discarded = self.shared.borrow_mut().release_receiver(&mut wake);
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

/// Poll a receive waiting as `key` (shared by [`Receiving`] and the
/// `Stream` impl).
fn poll_recv<T>(
    shared: &RefCell<State<T>>,
    key: &mut Option<WaitKey>,
    handle_closed: bool,
    cx: &mut Context<'_>,
) -> Poll<Result<T, RecvError>> {
    if arbor_runtime::scope::current_is_cancelled() {
        // Level-triggered: nothing is taken; a granted item stays granted
        // and is passed on when the scope drops the waiter.
        return Poll::Pending;
    }
    let mut state = shared.borrow_mut();
    if let Some(k) = *key {
        match state.recv_waiters.take(k) {
            Some(Some(item)) => {
                *key = None;
                let mut wake = Vec::new();
                state.landed(&mut wake);
                drop(state);
                wake.into_iter().for_each(Waker::wake);
                return Poll::Ready(Ok(item));
            }
            // Woken to look again (the last sender or receiver closed): an
            // item a dropped receiver put back may still be buffered.
            Some(None) => *key = None,
            None => {
                state.recv_waiters.set_waker(k, cx.waker());
                return Poll::Pending;
            }
        }
    }
    if handle_closed {
        return Poll::Ready(Err(RecvError::ClosedHandle));
    }
    let mut wake = None;
    let out = match state.try_recv(&mut wake) {
        Ok(item) => Poll::Ready(Ok(item)),
        Err(TryRecvError::Empty) => {
            *key = Some(state.recv_waiters.push((), cx.waker()));
            Poll::Pending
        }
        Err(TryRecvError::Closed | TryRecvError::ClosedHandle) => {
            Poll::Ready(Err(RecvError::Closed))
        }
    };
    drop(state);
    if let Some(waker) = wake {
        waker.wake();
    }
    out
}

/// A receive waiting as `key` was dropped: pass on an item it was given.
fn cancel_recv<T>(shared: &RefCell<State<T>>, key: WaitKey) {
    let mut wake = None;
    let mut ended = Vec::new();
    let orphan = {
        let mut state = shared.borrow_mut();
        match state.recv_waiters.cancel(key) {
            Cancelled::Granted(Some(item)) => {
                let orphan = state.requeue(item, &mut wake);
                // Back in the buffer or with the next receiver, unless no
                // receiver is left: then it is dropped, and that may end
                // the stream for receives queued on closed handles.
                state.landed(&mut ended);
                orphan
            }
            Cancelled::Granted(None) | Cancelled::Withdrawn => None,
        }
    };
    drop(orphan);
    wake.into_iter().chain(ended).for_each(Waker::wake);
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    /// The next item, or `None` at the end of the stream or once this
    /// handle is closed.
    ///
    /// # Cancel safety
    /// A `Stream` has no future of its own, so the wait lives in the
    /// receiver: dropping a `next()` future leaves it registered, and an
    /// item handed to it is kept for this receiver's next poll. Dropping
    /// the receiver withdraws the wait and passes such an item on, as for
    /// [`Receiver::recv`].
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let closed = this.closed.get();
        poll_recv(&this.shared, &mut this.stream_key, closed, cx).map(Result::ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.shared.borrow().buf.len(), None)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        if !self.closed.get() {
            // Cannot overflow: see `State::senders`.
            self.shared.borrow_mut().receivers += 1;
        }
        Receiver {
            shared: self.shared.clone(),
            closed: Cell::new(self.closed.get()),
            stream_key: None,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(key) = self.stream_key.take() {
            cancel_recv(&self.shared, key);
        }
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
    key: Option<WaitKey>,
}

impl<T> Future for Receiving<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let closed = this.receiver.closed.get();
        poll_recv(&this.receiver.shared, &mut this.key, closed, cx)
    }
}

impl<T> Drop for Receiving<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            cancel_recv(&self.receiver.shared, key);
        }
    }
}

impl<T> fmt::Debug for Receiving<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiving")
            .field("queued", &self.key.is_some())
            .finish()
    }
}
