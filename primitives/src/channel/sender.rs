//! The sending end of a channel.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{ChannelStatistics, SendError, Shared, TrySendError};
use crate::waiters::{Cancelled, WaitKey, WaitQueue};

/// The sending end of a [`bounded`](super::bounded) or
/// [`unbounded`](super::unbounded) channel.
///
/// Cloning makes another open handle (a clone of a closed handle is
/// closed too). The stream ends when every handle is closed, by drop or
/// by [`close`](Sender::close).
///
/// ```
/// use arbor_primitives::channel::{self, SendError};
///
/// arbor_runtime::run(async {
///     let (tx, rx) = channel::bounded(4);
///     let tx2 = tx.clone();
///     tx.send(1).await.unwrap();
///     tx2.send(2).await.unwrap();
///     drop(rx);
///     assert!(matches!(tx.send(3).await, Err(SendError::Closed(3))));
/// });
/// ```
pub struct Sender<T> {
    shared: Shared<T>,
    closed: Cell<bool>,
    /// This handle's sends queued in the channel, each entry holding its
    /// key in the channel's queue: [`close`](Sender::close) withdraws them
    /// and grants each its outcome here (its item back, or `Ok` if a
    /// receiver took it first). Empty unless a send of this handle waits.
    blocked: RefCell<WaitQueue<WaitKey, Result<(), SendError<T>>>>,
}

// Items are never pinned (they live in queues and buffers, moved in and
// out), so a handle is `Unpin` whatever `T` is.
impl<T> Unpin for Sender<T> {}

impl<T> Sender<T> {
    pub(super) fn new(shared: Shared<T>) -> Self {
        Sender {
            shared,
            closed: Cell::new(false),
            blocked: RefCell::new(WaitQueue::new()),
        }
    }

    /// Send `item`, waiting for room in the buffer (or, for a rendezvous
    /// channel, for a receiver to take it). Awaiting it behaves as
    /// `async fn send(&self, item: T) -> Result<(), SendError<T>>`.
    ///
    /// A checkpoint (see [the module docs](super#checkpoints)): a send
    /// that completes without waiting still lets other ready tasks run
    /// before it returns, so a producer looping on `send` into a channel
    /// with room does not starve them.
    ///
    /// # Errors
    /// [`SendError::Closed`] if every receiver is closed (also when that
    /// happens while waiting), [`SendError::ClosedHandle`] if this handle
    /// was closed, before or while the send waited. Both hand the item
    /// back.
    ///
    /// # Cancel safety
    /// Dropping the future while it waits withdraws the item: it was not
    /// sent and no receiver will see it (it is dropped with the future).
    /// If a receiver already took the item (rendezvous hand-off, or it was
    /// moved into the buffer), or the send took effect at once and the
    /// future is only yielding at its schedule point, the send counts as
    /// done: the next poll gives `Ok(())`, and dropping the future instead
    /// loses nothing, the receiver has the item. Inside a cancelled scope
    /// it makes no progress (and sends nothing).
    pub fn send(&self, item: T) -> Sending<'_, T> {
        Sending {
            sender: self,
            item: Some(item),
            wait: None,
            sent: false,
        }
    }

    /// Send `item` if that needs no waiting: a receiver is waiting, or the
    /// buffer has room and no other sender waits first.
    ///
    /// # Errors
    /// [`TrySendError::Full`], [`TrySendError::Closed`],
    /// [`TrySendError::ClosedHandle`], each handing the item back.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        if self.closed.get() {
            return Err(TrySendError::ClosedHandle(item));
        }
        let mut wake = None;
        let out = self.shared.borrow_mut().try_send(item, &mut wake);
        if let Some(waker) = wake {
            waker.wake();
        }
        out
    }

    /// Close this handle (AnyIO's `aclose`); later sends on it fail with
    /// `ClosedHandle`. Closing the last open sender ends the stream once
    /// receivers drain the buffer. Closing twice is a no-op.
    ///
    /// Sends of this handle that are waiting are woken (trio): each fails
    /// with [`SendError::ClosedHandle`], handing its item back (no
    /// receiver will see it), unless a receiver had already taken its
    /// item (then it completes with `Ok(())`). Sends waiting on other
    /// clones are not disturbed.
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let mut wake = Vec::new();
        {
            let mut blocked = self.blocked.borrow_mut();
            let mut state = self.shared.borrow_mut();
            let withdrew = !blocked.is_empty();
            while let Some(&key) = blocked.front() {
                let (slot, cancelled) = state.send_waiters.cancel_with_data(key);
                let outcome = match cancelled {
                    Cancelled::Withdrawn => Err(SendError::ClosedHandle(
                        slot.expect("a queued sender holds its item"),
                    )),
                    // Its item was taken (or handed back) before the close.
                    Cancelled::Granted(granted) => granted.map_err(SendError::Closed),
                };
                match blocked.grant_front(outcome) {
                    Ok(waker) => wake.push(waker),
                    Err(_) => unreachable!("a send of this handle is queued"),
                }
            }
            if withdrew {
                // A withdrawn head may have held back a sender behind it.
                wake.extend(state.refill());
            }
            state.release_sender(&mut wake);
        }
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

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        if !self.closed.get() {
            // Cannot overflow: see `State::senders`.
            self.shared.borrow_mut().senders += 1;
        }
        Sender {
            shared: self.shared.clone(),
            closed: Cell::new(self.closed.get()),
            blocked: RefCell::new(WaitQueue::new()),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.closed.get())
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless polled"]
pub struct Sending<'a, T> {
    sender: &'a Sender<T>,
    /// The item until it is sent or queued (a queued item lives in the
    /// wait-queue entry).
    item: Option<T>,
    /// While queued: the key in the channel's queue and the key in the
    /// handle's `blocked` queue.
    wait: Option<(WaitKey, WaitKey)>,
    /// The send took effect without waiting and this future yields at its
    /// schedule point: the next poll returns `Ok(())`.
    sent: bool,
}

// The item is never pinned: it is moved into the channel.
impl<T> Unpin for Sending<'_, T> {}

impl<T> Sending<'_, T> {
    /// A queued send: its outcome if granted (by a receiver, the last
    /// receiver closing, or this handle closing), else refresh its wakers.
    fn poll_queued(
        &mut self,
        (key, handle_key): (WaitKey, WaitKey),
        cx: &Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let mut blocked = self.sender.blocked.borrow_mut();
        if let Some(outcome) = blocked.take(handle_key) {
            // `close` already took the entry out of the channel's queue.
            self.wait = None;
            return Poll::Ready(outcome);
        }
        let mut state = self.sender.shared.borrow_mut();
        match state.send_waiters.take(key) {
            Some(granted) => {
                let left = blocked.cancel(handle_key);
                debug_assert!(matches!(left, Cancelled::Withdrawn));
                self.wait = None;
                Poll::Ready(granted.map_err(SendError::Closed))
            }
            None => {
                state.send_waiters.set_waker(key, cx.waker());
                blocked.set_waker(handle_key, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> Future for Sending<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if std::mem::take(&mut this.sent) {
            // The schedule point's second half: the send took effect, so
            // it completes whatever was cancelled meanwhile.
            return Poll::Ready(Ok(()));
        }
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: nothing happens; the scope drops this future.
            return Poll::Pending;
        }
        if let Some(wait) = this.wait {
            return this.poll_queued(wait, cx);
        }
        let item = this.item.take().expect("Sending polled after it completed");
        let sender = this.sender;
        if sender.closed.get() {
            return Poll::Ready(Err(SendError::ClosedHandle(item)));
        }
        let mut wake = None;
        let mut state = sender.shared.borrow_mut();
        match state.try_send(item, &mut wake) {
            Ok(()) => {
                drop(state);
                if let Some(waker) = wake {
                    waker.wake();
                }
                if arbor_runtime::scope::schedule_point(cx) {
                    this.sent = true;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(()))
            }
            Err(TrySendError::Full(item)) => {
                let key = state.send_waiters.push(Some(item), cx.waker());
                let handle_key = sender.blocked.borrow_mut().push(key, cx.waker());
                this.wait = Some((key, handle_key));
                Poll::Pending
            }
            Err(TrySendError::Closed(item) | TrySendError::ClosedHandle(item)) => {
                Poll::Ready(Err(SendError::Closed(item)))
            }
        }
    }
}

impl<T> Drop for Sending<'_, T> {
    fn drop(&mut self) {
        let Some((key, handle_key)) = self.wait.take() else {
            return;
        };
        let closed_outcome = match self.sender.blocked.borrow_mut().cancel(handle_key) {
            Cancelled::Granted(outcome) => Some(outcome),
            Cancelled::Withdrawn => None,
        };
        if let Some(outcome) = closed_outcome {
            // `close` already withdrew it; drop a handed-back item here,
            // outside every borrow.
            drop(outcome);
            return;
        }
        let (wake, item, cancelled) = {
            let mut state = self.sender.shared.borrow_mut();
            let (item, cancelled) = state.send_waiters.cancel_with_data(key);
            // Harmless if nothing changed: a withdrawn head may have held
            // back a sender behind it.
            (state.refill(), item, cancelled)
        };
        // Drop the withdrawn item (or one handed back) outside the borrow:
        // its own Drop may use this channel.
        drop(item);
        match cancelled {
            Cancelled::Withdrawn | Cancelled::Granted(Ok(())) => {}
            Cancelled::Granted(Err(returned)) => drop(returned),
        }
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sending<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sending")
            .field("queued", &self.wait.is_some())
            .field("sent", &self.sent)
            .finish()
    }
}
