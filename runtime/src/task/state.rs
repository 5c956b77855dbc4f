//! The bits of a task's lifecycle state, kept in a `Cell` in its header.
//!
//! Only the runtime thread touches them (the header is reached through the
//! task slab or a `!Send` [`JoinHandle`](super::JoinHandle)), so a plain
//! `Cell<u32>` suffices: no atomics.
//!
//! The bits form three groups:
//!
//! - the *stage* (exactly one of `HAS_FUTURE`, `DROPPING`, `HAS_OUTPUT`,
//!   or none once the output was taken): which field of the task's union
//!   is live, and whether the future is being dropped right now;
//! - the *schedule* (`SCHEDULED`, `RUNNING`, `NOTIFIED`, `ABORT`), which
//!   only means something while the stage is `HAS_FUTURE`;
//! - the *owners* (`IN_SLAB`, `JOIN_HANDLE`, and `DROPPING` again): the
//!   allocation is freed when the last of them is released.
//!
//! `DROPPING` is what makes a future's destructor safe to re-enter. The
//! destructor is user code: it may abort its own task (an abort-on-drop
//! guard holding its own handle), drop the runtime, or wake the task. While
//! the bit is set the task counts as finished for [`State::abort`] and
//! [`State::wake`], so nothing starts a second drop, and it counts as an
//! owner for [`Release`], so the allocation outlives the destructor even if
//! both other owners let go inside it.

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
/// The future is being dropped (its destructor is on the stack): the task
/// is finished for aborts and wakes, and the allocation is kept alive.
const DROPPING: u32 = 1 << 8;

const OWNERS: u32 = IN_SLAB | JOIN_HANDLE | DROPPING;

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
    /// The future is gone or going (whoever dropped it releases the slot):
    /// nothing to poll.
    Skip,
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

/// What an abort request must do.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AbortAction {
    /// The task is idle or queued: drop its future now (`begin_drop`).
    DropNow,
    /// The task is being polled (it aborts itself): recorded, and the run
    /// loop drops the future when the poll returns.
    Deferred,
    /// The future is already gone or being dropped: nothing to do.
    Finished,
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
            StartPoll::Skip
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

    /// Someone asked to abort the task. See [`AbortAction`].
    pub(crate) fn abort(&self) -> AbortAction {
        let s = self.get();
        if s & HAS_FUTURE == 0 {
            AbortAction::Finished
        } else if s & RUNNING != 0 {
            self.set(s | ABORT);
            AbortAction::Deferred
        } else {
            AbortAction::DropNow
        }
    }

    /// `HAS_FUTURE -> DROPPING`: the caller is about to drop the future in
    /// place (after a `Ready` poll, or for an abort that returned
    /// `DropNow` or `AfterPending::Abort`). From here on the task is
    /// finished for wakes and aborts, and the allocation is held.
    pub(crate) fn begin_drop(&self) {
        let s = self.get();
        debug_assert!(s & HAS_FUTURE != 0, "begin_drop without a future");
        let schedule = SCHEDULED | RUNNING | NOTIFIED | ABORT;
        self.set((s & !(HAS_FUTURE | schedule)) | DROPPING);
    }

    /// `DROPPING -> HAS_OUTPUT`: the future is dropped and the output
    /// written. Releases the drop's hold on the allocation.
    pub(crate) fn finish_drop(&self) -> Release {
        let s = self.get();
        debug_assert!(s & DROPPING != 0, "finish_drop without begin_drop");
        let s = (s & !DROPPING) | HAS_OUTPUT;
        self.set(s);
        Release::from_bits(s)
    }

    /// Whether the future is being polled.
    pub(crate) fn is_running(&self) -> bool {
        self.get() & RUNNING != 0
    }

    /// Whether the output is still to come: the future is there or is
    /// being dropped right now.
    pub(crate) fn output_pending(&self) -> bool {
        self.get() & (HAS_FUTURE | DROPPING) != 0
    }

    /// Whether the output is waiting to be taken.
    pub(crate) fn has_output(&self) -> bool {
        self.get() & HAS_OUTPUT != 0
    }

    /// Whether the task is on the run queue.
    pub(crate) fn is_scheduled(&self) -> bool {
        self.get() & SCHEDULED != 0
    }

    /// The output was moved out to the join handle.
    pub(crate) fn take_output(&self) {
        self.set(self.get() & !HAS_OUTPUT)
    }

    /// Drop the slab's reference. Says whether the allocation is now unowned.
    pub(crate) fn release_slab(&self) -> Release {
        let s = self.get() & !IN_SLAB;
        self.set(s);
        Release::from_bits(s)
    }

    /// Drop the join handle's reference. Says whether the allocation is now unowned.
    pub(crate) fn release_handle(&self) -> Release {
        let s = self.get() & !JOIN_HANDLE;
        self.set(s);
        Release::from_bits(s)
    }
}

/// The outcome of dropping one of the task's references.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// Another reference remains: keep the allocation.
    Shared,
    /// No reference remains: deallocate now.
    Dealloc,
}

impl Release {
    fn from_bits(s: u32) -> Self {
        if s & OWNERS == 0 {
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
        assert_eq!(s.abort(), AbortAction::Deferred);
        assert_eq!(s.end_poll_pending(), AfterPending::Abort);
    }

    #[test]
    fn completed_task_ignores_wakes_and_frees_after_both_releases() {
        let s = State::new_spawned();
        assert_eq!(s.start_poll(), StartPoll::Poll);
        s.begin_drop();
        assert_eq!(s.finish_drop(), Release::Shared);
        assert!(s.has_output());
        assert_eq!(s.release_slab(), Release::Shared);
        assert_eq!(s.wake(), WakeAction::Nothing);
        assert_eq!(s.abort(), AbortAction::Finished);
        assert_eq!(s.release_handle(), Release::Dealloc);
    }

    #[test]
    fn a_dropping_task_is_finished_for_aborts_and_wakes_and_keeps_its_allocation() {
        let s = State::new_spawned();
        assert_eq!(s.start_poll(), StartPoll::Poll);
        assert_eq!(s.end_poll_pending(), AfterPending::Idle);
        assert_eq!(s.abort(), AbortAction::DropNow);
        s.begin_drop();
        // Re-entered from the future's destructor:
        assert_eq!(s.abort(), AbortAction::Finished);
        assert_eq!(s.wake(), WakeAction::Nothing);
        assert!(s.output_pending() && !s.has_output());
        assert_eq!(s.release_handle(), Release::Shared);
        assert_eq!(s.release_slab(), Release::Shared, "the drop holds it");
        assert_eq!(s.finish_drop(), Release::Dealloc);
    }

    #[test]
    fn a_queued_task_popped_after_its_drop_began_is_skipped() {
        let s = State::new_spawned();
        s.begin_drop();
        assert_eq!(s.start_poll(), StartPoll::Skip);
    }
}
