//! A channel for exactly one value.
//!
//! [`Sender::send`] never waits: it stores the value and wakes the
//! receiver, or hands the value back if the receiver is gone. The
//! [`Receiver`] is a future for the value; it fails with [`RecvError`] if
//! the sender was dropped without sending.
//!
//! ```
//! use arbor_primitives::channel::oneshot;
//!
//! arbor_runtime::run(async {
//!     let (tx, rx) = oneshot::channel();
//!     arbor_runtime::spawn(async move { tx.send(7).unwrap() });
//!     assert_eq!(rx.await, Ok(7));
//!
//!     let (tx, rx) = oneshot::channel::<u8>();
//!     drop(tx);
//!     assert_eq!(rx.await, Err(oneshot::RecvError));
//! });
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Inner<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
    /// The receiver already returned the value (or the error).
    done: bool,
}

/// A one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
        value: None,
        waker: None,
        sender_alive: true,
        receiver_alive: true,
        done: false,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver {
            inner,
            ready: false,
            waited: false,
        },
    )
}

/// A oneshot channel's state, from either end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneshotStatistics {
    /// The sender still exists (has neither sent nor been dropped).
    pub sender_open: bool,
    /// The receiver still exists and has not taken the value.
    pub receiver_open: bool,
    /// A value was sent and waits to be received.
    pub value_waiting: bool,
    /// Whether the receiver is parked waiting (0 or 1).
    pub tasks_waiting: usize,
}

fn statistics<T>(inner: &RefCell<Inner<T>>) -> OneshotStatistics {
    let inner = inner.borrow();
    OneshotStatistics {
        sender_open: inner.sender_alive,
        receiver_open: inner.receiver_alive && !inner.done,
        value_waiting: inner.value.is_some(),
        tasks_waiting: usize::from(inner.waker.is_some()),
    }
}

/// The sender was dropped without sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; the sender may still send one. Await the receiver.
    Empty,
    /// The sender was dropped without sending, or the value was already
    /// received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => {
                f.write_str("no value sent yet; await the receiver to wait for it")
            }
            TryRecvError::Closed => f.write_str(
                "no value will come: the sender was dropped, or it was already received",
            ),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The sending half of a [`oneshot`](self) channel.
pub struct Sender<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Sender<T> {
    /// The channel's state.
    pub fn statistics(&self) -> OneshotStatistics {
        statistics(&self.inner)
    }

    /// Send the value, never waiting.
    ///
    /// # Errors
    /// Hands `value` back if the receiver was dropped.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            if !inner.receiver_alive {
                return Err(value);
            }
            inner.value = Some(value);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped (a send would fail).
    pub fn is_closed(&self) -> bool {
        !self.inner.borrow().receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.sender_alive = false;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a [`oneshot`](self) channel: a future for the
/// value.
///
/// Awaiting it is a checkpoint (see [the channel docs](super#checkpoints)):
/// if the value is already there, other ready tasks still get to run
/// before it is returned.
///
/// # Cancel safety
/// Dropping it drops a value sent but not received (there is nobody else
/// to hand it to) and makes later sends fail. A value found at once stays
/// in the channel over the schedule point and is taken only when
/// returned: dropping an `&mut Receiver` future there leaves it for the
/// receiver's next poll or [`try_recv`](Receiver::try_recv). Inside a
/// cancelled scope it makes no progress. Polling it again after it
/// completed panics.
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
    /// The value was found without waiting and this future yields at its
    /// schedule point: the next poll returns it (it stays in `inner`).
    ready: bool,
    /// A poll registered the waker and returned `Pending` (it waited).
    waited: bool,
}

impl<T> Receiver<T> {
    /// The channel's state.
    pub fn statistics(&self) -> OneshotStatistics {
        statistics(&self.inner)
    }

    /// Take the value if it was sent.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if not yet sent, [`TryRecvError::Closed`] if
    /// it never will be (or was already received).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            inner.done = true;
            Ok(value)
        } else if inner.sender_alive && !inner.done {
            Err(TryRecvError::Empty)
        } else {
            Err(TryRecvError::Closed)
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if std::mem::take(&mut this.ready) {
            // The schedule point's second half: returned whatever was
            // cancelled meanwhile. (Gone only if a `try_recv` took it after
            // an `&mut` future was dropped: then wait as usual.)
            let mut inner = this.inner.borrow_mut();
            if let Some(value) = inner.value.take() {
                inner.done = true;
                return Poll::Ready(Ok(value));
            }
        }
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let mut inner = this.inner.borrow_mut();
        assert!(!inner.done, "oneshot::Receiver polled after it completed");
        if inner.value.is_some() {
            if !this.waited {
                drop(inner);
                if arbor_runtime::scope::schedule_point(cx) {
                    this.ready = true;
                    return Poll::Pending;
                }
                inner = this.inner.borrow_mut();
            }
            inner.done = true;
            Poll::Ready(Ok(inner.value.take().expect("checked above")))
        } else if !inner.sender_alive {
            inner.done = true;
            Poll::Ready(Err(RecvError))
        } else {
            match &mut inner.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            this.waited = true;
            Poll::Pending
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let orphan = {
            let mut inner = self.inner.borrow_mut();
            inner.receiver_alive = false;
            inner.waker = None;
            inner.value.take()
        };
        drop(orphan);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("oneshot::Receiver")
            .field("ready", &inner.value.is_some())
            .field("sender_alive", &inner.sender_alive)
            .finish()
    }
}
