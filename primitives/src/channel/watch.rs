//! A single-value channel that keeps only the latest value.
//!
//! The [`Sender`] replaces the value and wakes every receiver waiting in
//! [`Receiver::changed`]. Each receiver remembers the version it last saw,
//! so a change that happened while it was not waiting is not missed, and
//! several changes in a row are seen as one.
//!
//! ```
//! use arbor_primitives::channel::watch;
//!
//! arbor_runtime::run(async {
//!     let (tx, rx) = watch::channel("idle");
//!     let rx2 = rx.clone();
//!     let waiter = arbor_runtime::spawn(async move {
//!         rx2.changed().await.unwrap();
//!         *rx2.borrow_and_update()
//!     });
//!     arbor_runtime::yield_now().await;
//!     tx.send("busy");
//!     assert_eq!(waiter.await.unwrap(), "busy");
//!     assert_eq!(*rx.borrow(), "busy");
//!     drop(tx);
//!     assert!(rx.changed().await.is_ok(), "rx had not seen \"busy\" yet");
//!     assert_eq!(rx.changed().await, Err(watch::RecvError));
//! });
//! ```

use std::cell::{Cell, Ref, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::waiters::{WaitKey, WaitQueue};

struct Shared<T> {
    value: RefCell<T>,
    state: RefCell<State>,
}

struct State {
    /// Bumped by every send. A `u64`: at one send per nanosecond it would
    /// take 584 years to wrap, so it is not checked.
    version: u64,
    sender_alive: bool,
    /// Receivers alive. Each holds a clone of the `Rc`, which aborts
    /// before its strong count wraps, so this cannot overflow.
    receivers: usize,
    /// Receivers in `changed`; every send grants all of them.
    waiters: WaitQueue<(), ()>,
}

/// A watch channel's state, from either end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchStatistics {
    /// How many values were sent (the current value's version).
    pub version: u64,
    /// The sender still exists.
    pub sender_open: bool,
    /// Receivers alive.
    pub receivers: usize,
    /// Receivers parked in `changed`.
    pub tasks_waiting: usize,
}

fn statistics(state: &RefCell<State>) -> WatchStatistics {
    let state = state.borrow();
    WatchStatistics {
        version: state.version,
        sender_open: state.sender_alive,
        receivers: state.receivers,
        tasks_waiting: state.waiters.len(),
    }
}

/// A watch channel holding `initial`.
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: RefCell::new(initial),
        state: RefCell::new(State {
            version: 0,
            sender_alive: true,
            receivers: 1,
            waiters: WaitQueue::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver {
            shared,
            seen: Cell::new(0),
        },
    )
}

/// The sender is gone and this receiver has seen the last value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the watch sender was dropped and its last value was already seen; no change will come",
        )
    }
}

impl std::error::Error for RecvError {}

fn notify_all(state: &RefCell<State>, bump: bool) {
    let mut wake = Vec::new();
    {
        let mut state = state.borrow_mut();
        if bump {
            state.version += 1;
        }
        while let Ok(waker) = state.waiters.grant_front(()) {
            wake.push(waker);
        }
    }
    wake.into_iter().for_each(Waker::wake);
}

/// The sending half of a [`watch`](self) channel.
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// The channel's state.
    pub fn statistics(&self) -> WatchStatistics {
        statistics(&self.shared.state)
    }

    /// Replace the value and notify every receiver. Sending works with no
    /// receiver left too (see [`subscribe`](Sender::subscribe)).
    ///
    /// # Panics
    /// If a [`Ref`] from `borrow` is still alive (hold none across a
    /// point where the sender may send).
    pub fn send(&self, value: T) {
        drop(self.send_replace(value));
    }

    /// As [`send`](Sender::send), returning the previous value.
    ///
    /// # Panics
    /// As for `send`.
    pub fn send_replace(&self, value: T) -> T {
        let old = std::mem::replace(&mut *self.value_mut(), value);
        notify_all(&self.shared.state, true);
        old
    }

    /// Modify the value in place and notify every receiver.
    ///
    /// # Panics
    /// As for `send`, and if `modify` panics (receivers are then not
    /// notified).
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        modify(&mut *self.value_mut());
        notify_all(&self.shared.state, true);
    }

    fn value_mut(&self) -> std::cell::RefMut<'_, T> {
        self.shared
            .value
            .try_borrow_mut()
            .expect("watch::Sender cannot change the value while a Ref from borrow() is alive; drop it first")
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.value.borrow()
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.shared.state.borrow_mut();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: Cell::new(state.version),
        }
    }

    /// Receivers alive.
    pub fn receiver_count(&self) -> usize {
        self.shared.state.borrow().receivers
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.state.borrow_mut().sender_alive = false;
        notify_all(&self.shared.state, false);
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("value", &self.shared.value)
            .finish()
    }
}

/// The receiving half of a [`watch`](self) channel; cloneable (a clone
/// has seen what the original has seen).
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
    seen: Cell<u64>,
}

impl<T> Receiver<T> {
    /// The channel's state.
    pub fn statistics(&self) -> WatchStatistics {
        statistics(&self.shared.state)
    }

    /// The current value, without marking it seen.
    ///
    /// Do not hold the `Ref` while the sender may send: that send panics.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.value.borrow()
    }

    /// The current value, marking it seen.
    ///
    /// Do not hold the `Ref` while the sender may send: that send panics.
    pub fn borrow_and_update(&self) -> Ref<'_, T> {
        self.seen.set(self.shared.state.borrow().version);
        self.shared.value.borrow()
    }

    /// Whether there is a value this receiver has not seen.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone and the last value was seen.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.borrow();
        if state.version != self.seen.get() {
            Ok(true)
        } else if state.sender_alive {
            Ok(false)
        } else {
            Err(RecvError)
        }
    }

    /// Wait for a value newer than the last one this receiver saw, and
    /// mark it seen. Completes at once if there already is one. Awaiting it
    /// behaves as `async fn changed(&self) -> Result<(), RecvError>`.
    ///
    /// A checkpoint (see [the channel docs](super#checkpoints)): if there
    /// already is a newer value, other ready tasks still get to run before
    /// it returns.
    ///
    /// # Errors
    /// [`RecvError`] once the sender is gone and the last value was seen.
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing: the change stays unseen and the
    /// next `changed` completes at once. A change found at once is marked
    /// seen only when `changed` returns, so dropping the future at its
    /// schedule point leaves it unseen too. Inside a cancelled scope it
    /// makes no progress.
    pub fn changed(&self) -> Changed<'_, T> {
        Changed {
            receiver: self,
            key: None,
            ready: false,
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.state.borrow_mut().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.state.borrow_mut().receivers -= 1;
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("value", &self.shared.value)
            .field("seen", &self.seen.get())
            .finish()
    }
}

/// The future of [`Receiver::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a, T> {
    receiver: &'a Receiver<T>,
    key: Option<WaitKey>,
    /// A change was found without waiting and this future yields at its
    /// schedule point: the next poll marks the value seen and returns.
    ready: bool,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if std::mem::take(&mut this.ready) {
            // The schedule point's second half: returned whatever was
            // cancelled meanwhile, marking the newest value seen.
            let version = this.receiver.shared.state.borrow().version;
            this.receiver.seen.set(version);
            return Poll::Ready(Ok(()));
        }
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let mut state = this.receiver.shared.state.borrow_mut();
        let waited = this.key.is_some();
        if let Some(key) = this.key {
            if state.waiters.take(key).is_none() {
                state.waiters.set_waker(key, cx.waker());
                return Poll::Pending;
            }
            this.key = None;
        }
        if state.version != this.receiver.seen.get() {
            if !waited {
                drop(state);
                if arbor_runtime::scope::schedule_point(cx) {
                    this.ready = true;
                    return Poll::Pending;
                }
                state = this.receiver.shared.state.borrow_mut();
            }
            this.receiver.seen.set(state.version);
            Poll::Ready(Ok(()))
        } else if !state.sender_alive {
            Poll::Ready(Err(RecvError))
        } else {
            this.key = Some(state.waiters.push((), cx.waker()));
            Poll::Pending
        }
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A notification is a broadcast: every waiter got its own, and
            // the version stays unseen, so there is nothing to pass on.
            let _ = self.receiver.shared.state.borrow_mut().waiters.cancel(key);
        }
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("queued", &self.key.is_some())
            .field("ready", &self.ready)
            .finish()
    }
}
