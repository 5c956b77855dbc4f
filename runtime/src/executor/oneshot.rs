//! A one-shot slot from the runtime thread to any other thread: how a
//! [`RemoteJoinHandle`](crate::RemoteJoinHandle) gets its task's output.
//!
//! ```text
//!             send(v)
//! Waiting ──────────────▶ Done(v) ──recv/poll──▶ Taken
//!    │     Sender dropped
//!    └──────────────────▶ Closed
//! ```
//!
//! The [`Sender`] moves with the job (and then the task) onto the runtime
//! thread; the [`Receiver`] stays with the caller, which waits either by
//! blocking on the condvar ([`Receiver::recv`]) or as a future
//! ([`Receiver::poll_recv`], the waker kept in `Waiting`). The sender
//! finishes exactly once: `send` consumes it, and its drop (the job never
//! ran, or the task was dropped unfinished) closes the slot, so a waiting
//! receiver always wakes. Both the state change and the wake-up happen
//! under, or after, the one lock: the loom model
//! `loom_model_oneshot_send_or_close_wakes_receiver` checks it.

use std::task::{Context, Poll, Waker};

use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

enum State<T> {
    Waiting(Option<Waker>),
    Done(T),
    Closed,
    Taken,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct Sender<T> {
    shared: Option<Arc<Shared<T>>>,
}

pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::Waiting(None)),
        ready: Condvar::new(),
    });
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    pub(crate) fn send(mut self, value: T) {
        self.finish(State::Done(value));
    }

    fn finish(&mut self, to: State<T>) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let waker = {
            let mut state = shared.lock();
            match std::mem::replace(&mut *state, to) {
                State::Waiting(waker) => waker,
                _ => unreachable!("only the sender finishes the slot, once"),
            }
        };
        shared.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.finish(State::Closed);
    }
}

impl<T> Receiver<T> {
    /// Block until the sender finishes: `Some(value)`, or `None` if it was
    /// dropped (or the value was taken already).
    pub(crate) fn recv(&self) -> Option<T> {
        let mut state = self.shared.lock();
        loop {
            match &*state {
                State::Waiting(_) => {
                    state = self
                        .shared
                        .ready
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
                _ => return take(&mut state),
            }
        }
    }

    /// The future form of [`recv`](Self::recv).
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        match &mut *state {
            State::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            _ => Poll::Ready(take(&mut state)),
        }
    }

    /// Whether the sender has finished (a value or a close).
    pub(crate) fn is_finished(&self) -> bool {
        !matches!(&*self.shared.lock(), State::Waiting(_))
    }
}

fn take<T>(state: &mut State<T>) -> Option<T> {
    match std::mem::replace(state, State::Taken) {
        State::Done(value) => Some(value),
        State::Closed => {
            *state = State::Closed;
            None
        }
        State::Taken => None,
        State::Waiting(_) => unreachable!("checked by the caller"),
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;

    /// The runtime thread either sends or drops the sender (a job dropped
    /// at shutdown) while the caller blocks in `recv`: the caller always
    /// wakes, with the value exactly when it was sent.
    #[test]
    fn loom_model_oneshot_send_or_close_wakes_receiver() {
        for send in [true, false] {
            loom::model(move || {
                let (tx, rx) = channel::<u32>();
                let runtime = loom::thread::spawn(move || {
                    if send {
                        tx.send(7);
                    } else {
                        drop(tx);
                    }
                });
                let got = rx.recv();
                runtime.join().unwrap();
                assert_eq!(got, send.then_some(7));
                assert!(rx.is_finished());
            });
        }
    }
}
