//! The bits of a task's lifecycle state, kept in a `Cell` in its header.
//!
//! Only the runtime thread touches them (the header is reached through the
//! task slab or a `!Send` [`JoinHandle`](super::JoinHandle)), so a plain
//! `Cell<u32>` suffices: no atomics.

use std::cell::Cell;

/// The task is in the run queue.
const SCHEDULED: u32 = 1 << 0;
/// The task's future is being polled right now.
const RUNNING: u32 = 1 << 1;
/// A wake arrived while `RUNNING`: requeue after the poll.
const NOTIFIED: u32 = 1 << 2;
/// The stage holds the future.
const HAS_FUTURE: u32 = 1 << 3;
/// The stage holds the output (`Result<T, JoinError>`).
const HAS_OUTPUT: u32 = 1 << 4;
/// A [`JoinHandle`](super::JoinHandle) still refers to the task.
const JOIN_HANDLE: u32 = 1 << 5;
/// The task slab still holds the task.
const IN_SLAB: u32 = 1 << 6;
/// `abort` was called while the task was running: drop the future after the poll.
const ABORT: u32 = 1 << 7;

/// A task's lifecycle state.
pub(crate) struct State(Cell<u32>);

/// What a wake must do.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeAction {
    /// The task was idle: push it on the run queue.
    Enqueue,
    /// Nothing to do: already queued, flagged for requeue, or finished.
    Nothing,
}

/// What the run loop does with a task it popped from the queue.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartPoll {
    /// Poll the future.
    Poll,
    /// The future is gone (aborted while queued, defensively): release the slot.
    Reap,
}

/// What happens after a poll returned `Pending`.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterPending {
    /// Woken during the poll: back on the run queue.
    Requeue,
    /// Parked until a wake.
    Idle,
    /// `abort` was called during the poll: drop the future now.
    Abort,
}

impl State {
    /// A freshly spawned task: future present, queued, in the slab, with a handle.
    pub(crate) fn new_spawned() -> Self {
        State(Cell::new(HAS_FUTURE | SCHEDULED | IN_SLAB | JOIN_HANDLE))
    }

    fn get(&self) -> u32 {
        self.0.get()
    }

    fn set(&self, bits: u32) {
        self.0.set(bits)
    }

    /// `IDLE -> SCHEDULED` on wake; `RUNNING -> RUNNING|NOTIFIED`.
    pub(crate) fn wake(&self) -> WakeAction {
        let s = self.get();
        if s & HAS_FUTURE == 0 || s & (SCHEDULED | NOTIFIED) != 0 {
            WakeAction::Nothing
        } else if s & RUNNING != 0 {
            self.set(s | NOTIFIED);
            WakeAction::Nothing
        } else {
            self.set(s | SCHEDULED);
            WakeAction::Enqueue
        }
    }

    /// `SCHEDULED -> RUNNING` when popped from the run queue.
    pub(crate) fn start_poll(&self) -> StartPoll {
        let s = self.get() & !SCHEDULED;
        if s & HAS_FUTURE == 0 {
            self.set(s);
            StartPoll::Reap
        } else {
            self.set(s | RUNNING);
            StartPoll::Poll
        }
    }

    /// `RUNNING -> IDLE | SCHEDULED` after a `Pending` poll.
    pub(crate) fn end_poll_pending(&self) -> AfterPending {
        let s = self.get() & !RUNNING;
        if s & ABORT != 0 {
            self.set(s & !(ABORT | NOTIFIED));
            AfterPending::Abort
        } else if s & NOTIFIED != 0 {
            self.set((s & !NOTIFIED) | SCHEDULED);
            AfterPending::Requeue
        } else {
            self.set(s);
            AfterPending::Idle
        }
    }

    /// `RUNNING -> COMPLETE` after a `Ready` poll, or abort of an idle or
    /// queued task: the future was dropped and the output stored.
    pub(crate) fn complete(&self) {
        let s = self.get();
        self.set((s & !(RUNNING | NOTIFIED | ABORT | HAS_FUTURE)) | HAS_OUTPUT);
    }

    /// Whether the future is being polled (abort must then be deferred).
    pub(crate) fn is_running(&self) -> bool {
        self.get() & RUNNING != 0
    }

    /// Whether the future is still there (not completed, not aborted).
    pub(crate) fn has_future(&self) -> bool {
        self.get() & HAS_FUTURE != 0
    }

    /// Whether the output is waiting to be taken.
    pub(crate) fn has_output(&self) -> bool {
        self.get() & HAS_OUTPUT != 0
    }

    /// Whether the task is on the run queue.
    pub(crate) fn is_scheduled(&self) -> bool {
        self.get() & SCHEDULED != 0
    }

    /// Request an abort of a running task; done by `end_poll_pending`.
    pub(crate) fn request_abort(&self) {
        self.set(self.get() | ABORT)
    }

    /// The output was moved out to the join handle.
    pub(crate) fn take_output(&self) {
        self.set(self.get() & !HAS_OUTPUT)
    }

    /// Drop the slab's reference. Returns whether the allocation is now unowned.
    pub(crate) fn release_slab(&self) -> Release {
        let s = self.get() & !IN_SLAB;
        self.set(s);
        Release::from_bits(s)
    }

    /// Drop the join handle's reference. Returns whether the allocation is now unowned.
    pub(crate) fn release_handle(&self) -> Release {
        let s = self.get() & !JOIN_HANDLE;
        self.set(s);
        Release::from_bits(s)
    }
}

/// The outcome of dropping one of the task's two references.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// The other reference remains: keep the allocation.
    Shared,
    /// No reference remains: deallocate now.
    Dealloc,
}

impl Release {
    fn from_bits(s: u32) -> Self {
        if s & (IN_SLAB | JOIN_HANDLE) == 0 {
            Release::Dealloc
        } else {
            Release::Shared
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_while_running_requeues_once() {
        let s = State::new_spawned();
        assert_eq!(s.wake(), WakeAction::Nothing, "already queued");
        assert_eq!(s.start_poll(), StartPoll::Poll);
        assert_eq!(s.wake(), WakeAction::Nothing);
        assert_eq!(s.wake(), WakeAction::Nothing);
        assert_eq!(s.end_poll_pending(), AfterPending::Requeue);
        assert_eq!(s.start_poll(), StartPoll::Poll);
        assert_eq!(s.end_poll_pending(), AfterPending::Idle);
        assert_eq!(s.wake(), WakeAction::Enqueue);
    }

    #[test]
    fn abort_during_poll_wins_over_notify() {
        let s = State::new_spawned();
        assert_eq!(s.start_poll(), StartPoll::Poll);
        assert_eq!(s.wake(), WakeAction::Nothing);
        s.request_abort();
        assert_eq!(s.end_poll_pending(), AfterPending::Abort);
    }

    #[test]
    fn completed_task_ignores_wakes_and_frees_after_both_releases() {
        let s = State::new_spawned();
        assert_eq!(s.start_poll(), StartPoll::Poll);
        s.complete();
        assert!(s.has_output());
        assert_eq!(s.release_slab(), Release::Shared);
        assert_eq!(s.wake(), WakeAction::Nothing);
        assert_eq!(s.release_handle(), Release::Dealloc);
    }
}
