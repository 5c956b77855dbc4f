//! The sending end of a channel.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{ChannelStatistics, HandleId, SendError, SendWait, Shared, TrySendError};
use crate::waiters::{Cancelled, WaitKey};

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
    /// This handle's id in its channel's queue entries.
    id: HandleId,
    /// Sends of this handle with an entry in the channel's queue (queued,
    /// or granted and not yet polled): [`close`](Sender::close) walks the
    /// queue only when there are some.
    waiting: Cell<usize>,
}

// Items are never pinned (they live in queues and buffers, moved in and
// out), so a handle is `Unpin` whatever `T` is.
impl<T> Unpin for Sender<T> {}

impl<T> Sender<T> {
    pub(super) fn new(shared: Shared<T>, id: HandleId) -> Self {
        Sender {
            shared,
            closed: Cell::new(false),
            id,
            waiting: Cell::new(0),
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
    #[track_caller]
    pub fn send(&self, item: T) -> Sending<'_, T> {
        Sending {
            sender: self,
            item: Some(item),
            wait: None,
            sent: false,
            at: std::panic::Location::caller(),
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
            let mut state = self.shared.borrow_mut();
            if self.waiting.get() > 0 {
                // This handle's queued sends get their items back; those
                // granted before the close (item taken, or handed back)
                // keep that outcome.
                let id = self.id;
                state.send_waiters.grant_matching(
                    |w| {
                        (w.handle == id).then(|| {
                            Err(SendError::ClosedHandle(
                                w.item.take().expect("a queued sender holds its item"),
                            ))
                        })
                    },
                    &mut wake,
                );
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
        // A closed handle's clone is closed: it never queues, so it may
        // share the id.
        let id = if self.closed.get() {
            self.id
        } else {
            let mut state = self.shared.borrow_mut();
            // Cannot overflow: see `State::senders`.
            state.senders += 1;
            state.new_handle()
        };
        Sender {
            shared: self.shared.clone(),
            closed: Cell::new(self.closed.get()),
            id,
            waiting: Cell::new(0),
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
    /// While it has an entry in the channel's queue: its key.
    wait: Option<WaitKey>,
    /// The send took effect without waiting and this future yields at its
    /// schedule point: the next poll returns `Ok(())`.
    sent: bool,
    /// Where `send` was called: the task's await point in `arbor::dump`.
    at: &'static std::panic::Location<'static>,
}

// The item is never pinned: it is moved into the channel.
impl<T> Unpin for Sending<'_, T> {}

impl<T> Sending<'_, T> {
    /// The send left the channel's queue (took its grant or withdrew).
    fn left_queue(&mut self) {
        self.wait = None;
        let waiting = &self.sender.waiting;
        waiting.set(waiting.get() - 1);
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
        let sender = this.sender;
        if let Some(key) = this.wait {
            // Queued: granted by a receiver (item taken), the last
            // receiver closing, or this handle closing (item back)?
            let mut state = sender.shared.borrow_mut();
            return match state.send_waiters.take(key) {
                Some(granted) => {
                    drop(state);
                    this.left_queue();
                    Poll::Ready(granted)
                }
                None => {
                    state.send_waiters.set_waker_at(key, cx.waker(), this.at);
                    Poll::Pending
                }
            };
        }
        let item = this.item.take().expect("Sending polled after it completed");
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
                let wait = SendWait {
                    handle: sender.id,
                    item: Some(item),
                };
                this.wait = Some(state.send_waiters.push_at(wait, cx.waker(), this.at));
                sender.waiting.set(sender.waiting.get() + 1);
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
        let Some(key) = self.wait else {
            return;
        };
        self.left_queue();
        let (wake, wait, cancelled) = {
            let mut state = self.sender.shared.borrow_mut();
            let (wait, cancelled) = state.send_waiters.cancel_with_data(key);
            // Harmless if nothing changed: a withdrawn head may have held
            // back a sender behind it.
            (state.refill(), wait, cancelled)
        };
        // Drop the withdrawn item (or one handed back) outside the borrow:
        // its own Drop may use this channel.
        drop(wait);
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
