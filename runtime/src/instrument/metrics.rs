//! The runtime's counters and their snapshot, [`RuntimeMetrics`].
//!
//! The counters are plain `Cell`s bumped where the run loop already does
//! the work they count, mostly once per batch rather than once per item
//! (polls are added per tick's batch, reactor events per `epoll_wait`),
//! so keeping them costs nothing measurable whether anyone reads them or
//! not.

use std::cell::Cell;

use crate::context;
use crate::executor::Core;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) spawned: Cell<u64>,
    /// Polls started, counting each batch whole (see `skipped`).
    polls_started: Cell<u64>,
    /// Queued tasks found aborted or finished when their turn came: in
    /// `polls_started`, not polled.
    pub(crate) skipped: Cell<u64>,
    pub(crate) parks: Cell<u64>,
    pub(crate) reactor_events: Cell<u64>,
    pub(crate) remote_wakes: Cell<u64>,
}

impl Counters {
    #[inline(always)]
    pub(crate) fn bump(cell: &Cell<u64>, by: u64) {
        cell.set(cell.get().wrapping_add(by));
    }

    #[inline(always)]
    pub(crate) fn polls(&self, by: u64) {
        Self::bump(&self.polls_started, by);
    }
}

/// A snapshot of a runtime's counters, from its start until the call.
/// Compare two snapshots to measure a stretch of work.
///
/// ```
/// arbor_runtime::run(async {
///     let before = arbor_runtime::instrument::metrics();
///     let task = arbor_runtime::spawn(async { arbor_runtime::yield_now().await });
///     task.await.unwrap();
///     let after = arbor_runtime::instrument::metrics();
///     assert_eq!(after.tasks_spawned - before.tasks_spawned, 1);
///     assert_eq!(after.polls - before.polls, 2); // the yield makes two polls
///     assert_eq!(after.tasks_alive, 0);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Tasks spawned so far.
    pub tasks_spawned: u64,
    /// Tasks alive now: spawned and not yet finished or dropped.
    pub tasks_alive: usize,
    /// Task polls so far (the `block_on` future's polls are not counted).
    pub polls: u64,
    /// Times the runtime thread blocked waiting for I/O, a wake from
    /// another thread or a timer (the same parks as
    /// [`Instrument::on_park`](super::Instrument::on_park)).
    pub parks: u64,
    /// Timers armed now: sleeps, deadlines of entered scopes and timeouts.
    pub timers_armed: usize,
    /// Readiness events the reactor delivered so far (one per fd per
    /// `epoll_wait` that reported it).
    pub reactor_events: u64,
    /// Wakes of this runtime's tasks that came from other threads so far
    /// (a `to_thread` job finishing, a waker woken elsewhere).
    pub remote_wakes: u64,
}

impl Core {
    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        let c = &self.counters;
        RuntimeMetrics {
            tasks_spawned: c.spawned.get(),
            tasks_alive: self.live_tasks(),
            polls: c.polls_started.get().wrapping_sub(c.skipped.get()),
            parks: c.parks.get(),
            timers_armed: self.timers.borrow().armed(),
            reactor_events: c.reactor_events.get(),
            remote_wakes: c.remote_wakes.get(),
        }
    }
}

/// The counters of the current runtime (see [`RuntimeMetrics`]).
///
/// # Panics
/// Outside a runtime. [`Runtime::metrics`](crate::Runtime::metrics) reads
/// them from outside `block_on`.
#[track_caller]
pub fn metrics() -> RuntimeMetrics {
    context::expect("arbor::instrument::metrics", |core| core.metrics())
}
