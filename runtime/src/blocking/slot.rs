//! The completion slot of one blocking job: where the worker thread puts
//! the job's outcome and finds the waker of whoever waits for it.
//!
//! ```text
//!              complete (worker: store, then wake the waker)   take (poll)
//!   Waiting(waker?) ───────────────────────────────────▶ Done(out) ─────────▶ Taken
//!        │                                                   │
//!        │ abandon (the handle is dropped)                   │ abandon: the outcome is
//!        ▼                                                   ▼ dropped by the dropper
//!    Abandoned ──── complete: the worker drops the outcome ────▶ Abandoned
//! ```
//!
//! One mutex guards the state; the waker is woken and values are dropped
//! after it is released (a foreign waker or a destructor may run any
//! code). The waiting side is the runtime thread; `complete` runs on the
//! worker thread. No wake is lost: `complete` sees the waker stored by
//! the last `poll` that returned `Pending` (both under the lock), and a
//! `poll` after `complete` finds `Done`. The loom models at the bottom of
//! `blocking/mod.rs` check this, and the abandon race.

use std::mem;
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::sync::Mutex;

/// A job's outcome: its value, or the payload of its panic.
pub(crate) type Outcome<R> = thread::Result<R>;

pub(crate) struct Slot<R> {
    state: Mutex<State<R>>,
}

enum State<R> {
    Waiting(Option<Waker>),
    Done(Outcome<R>),
    Taken,
    Abandoned,
}

/// What [`Slot::complete`] did with the outcome.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Completed {
    /// Stored for the handle (and its waker, if any, woken).
    Delivered,
    /// The handle was gone: the outcome was dropped on this thread.
    Discarded,
}

/// What [`Slot::abandon`] found.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Abandoned {
    /// The job had not finished: its outcome will be dropped by the worker.
    Running,
    /// The job had finished: its outcome was dropped here.
    Finished,
    /// The outcome had been taken already.
    Taken,
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Self {
        Slot {
            state: Mutex::new(State::Waiting(None)),
        }
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, State<R>> {
        // Nothing that can panic runs under the lock: never poisoned in
        // practice, and the state is consistent between statements anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker thread: the job ended with `out`.
    pub(crate) fn complete(&self, out: Outcome<R>) -> Completed {
        let mut state = self.lock();
        match mem::replace(&mut *state, State::Taken) {
            State::Waiting(waker) => {
                *state = State::Done(out);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
                Completed::Delivered
            }
            State::Abandoned => {
                *state = State::Abandoned;
                drop(state);
                drop(out);
                Completed::Discarded
            }
            State::Done(_) | State::Taken => unreachable!("a blocking job completes once"),
        }
    }

    /// The outcome if it is there, else remember `cx`'s waker.
    ///
    /// # Panics
    /// If the outcome was taken already (polled after completion).
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome<R>> {
        let mut state = self.lock();
        match &mut *state {
            State::Waiting(waker) => {
                let old = match waker {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => waker.replace(cx.waker().clone()),
                };
                drop(state);
                drop(old);
                Poll::Pending
            }
            State::Done(_) => match mem::replace(&mut *state, State::Taken) {
                State::Done(out) => Poll::Ready(out),
                _ => unreachable!("matched Done above"),
            },
            State::Taken => panic!("a BlockingJob was polled after it completed"),
            State::Abandoned => unreachable!("only the handle's drop abandons"),
        }
    }

    /// Whether the job has ended (its outcome is there or was taken).
    pub(crate) fn is_finished(&self) -> bool {
        matches!(&*self.lock(), State::Done(_) | State::Taken)
    }

    /// The handle is dropped: nobody will take the outcome.
    pub(crate) fn abandon(&self) -> Abandoned {
        let old = mem::replace(&mut *self.lock(), State::Abandoned);
        // The waker or the outcome is dropped here, after the lock.
        match old {
            State::Waiting(_) => Abandoned::Running,
            State::Done(_) => Abandoned::Finished,
            State::Taken => Abandoned::Taken,
            State::Abandoned => unreachable!("a handle is dropped once"),
        }
    }
}
