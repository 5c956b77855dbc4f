//! Instruments: hooks the runtime calls at its scheduling events (trio's
//! `Instrument`, tokio's task hooks), and the runtime's counters.
//!
//! An [`Instrument`] sees every task spawned, every poll start and end,
//! every task exit, every park of the runtime thread and every
//! cancellation of a scope. Install one for the whole life of a runtime
//! with [`Builder::instrument`](crate::Builder::instrument), or add and
//! remove one from inside a running runtime with [`add`] and [`remove`]
//! (trio's `add_instrument`/`remove_instrument`).
//!
//! With none installed the hooks cost one predictable branch per poll:
//! the run loop checks a flag, not a list. With some installed, each hook
//! is a dynamic call per instrument.
//!
//! [`RuntimeMetrics`] is a snapshot of counters the runtime keeps anyway
//! (tasks spawned and alive, polls, parks, timers armed, reactor events,
//! wakes from other threads): [`metrics`], or
//! [`Runtime::metrics`](crate::Runtime::metrics) from outside `block_on`.
//!
//! With the `tracing` feature, `TracingInstrument` opens a
//! [`tracing`](https://docs.rs/tracing) span per task.
//!
//! # When the hooks run, and what they may do
//!
//! On the runtime thread, synchronously, never while the runtime holds a
//! borrow of its own state: a hook may read the runtime
//! ([`dump`](crate::scope::dump), [`metrics`]), wake and spawn tasks, and
//! cancel scopes. It must not block, and the hooks of a poll
//! (`on_poll_start`, `on_poll_end`) run between polls, at the root (no
//! task current: what they spawn goes to the root scope). `on_spawn` runs
//! inside the spawner's code, right after the task was made and before it
//! first runs; `on_scope_cancel` inside the code that cancelled. A hook
//! that spawns on every spawn recurses without end: that is the hook's
//! bug.
//!
//! A hook that panics is removed from the runtime (trio does the same
//! with an instrument that raises): the panic message is printed by the
//! panic hook as usual, then a line saying which instrument method
//! panicked, and the runtime carries on without it.
//!
//! The future given to `block_on` is not a task: its polls are not
//! reported.

mod hooks;
mod metrics;
#[cfg(feature = "tracing")]
mod tracing;

use std::rc::Rc;
use std::time::Duration;

use crate::context;
use crate::scope::{CancelReason, ScopeId};
use crate::task::TaskId;

pub(crate) use hooks::Instruments;
pub(crate) use metrics::Counters;
pub use metrics::{RuntimeMetrics, metrics};
#[cfg(feature = "tracing")]
pub use tracing::TracingInstrument;

/// Hooks the runtime calls at its scheduling events. Every method does
/// nothing by default: implement the ones you need. See the [module
/// docs](self) for when they run and what they may do.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use arbor_runtime::instrument::{self, Instrument};
/// use arbor_runtime::TaskId;
///
/// #[derive(Default)]
/// struct PollCounter(Cell<u32>);
/// impl Instrument for PollCounter {
///     fn on_poll_start(&self, _task: TaskId) {
///         self.0.set(self.0.get() + 1);
///     }
/// }
///
/// arbor_runtime::run(async {
///     let counter = Rc::new(PollCounter::default());
///     let id = instrument::add(counter.clone());
///     let task = arbor_runtime::spawn(async {
///         arbor_runtime::yield_now().await; // a second poll
///     });
///     task.await.unwrap();
///     instrument::remove(id);
///     assert_eq!(counter.0.get(), 2);
/// });
/// ```
pub trait Instrument: 'static {
    /// A task was spawned: it exists and has not run yet.
    fn on_spawn(&self, task: &SpawnEvent<'_>) {
        let _ = task;
    }

    /// A poll of `task` is about to start.
    fn on_poll_start(&self, task: TaskId) {
        let _ = task;
    }

    /// A poll of `task` ended (it suspended, or it finished: then
    /// [`on_task_exit`](Self::on_task_exit) follows).
    fn on_poll_end(&self, task: TaskId) {
        let _ = task;
    }

    /// `task` is gone from the runtime: its future returned (or panicked),
    /// or was dropped by an abort, a cancellation or the runtime's drop.
    fn on_task_exit(&self, task: TaskId, exit: TaskExit) {
        let _ = (task, exit);
    }

    /// The runtime thread is about to block: nothing is runnable, and it
    /// waits for I/O, a wake from another thread or the next timer, for
    /// at most `timeout` (`None`: no timer). A virtual clock's jump to the
    /// next timer is not a park.
    fn on_park(&self, timeout: Option<Duration>) {
        let _ = timeout;
    }

    /// The runtime thread woke from the park [`on_park`](Self::on_park)
    /// reported.
    fn on_unpark(&self) {}

    /// A scope's cancellation took effect: its code will be dropped at its
    /// next suspension. Once per scope (the first cause).
    fn on_scope_cancel(&self, event: &ScopeCancelEvent) {
        let _ = event;
    }
}

/// Forwarding, so a shared instrument (`Rc`, `Arc`) can be installed while
/// its owner keeps a handle to read it.
impl<I: Instrument + ?Sized> Instrument for std::sync::Arc<I> {
    fn on_spawn(&self, task: &SpawnEvent<'_>) {
        (**self).on_spawn(task)
    }
    fn on_poll_start(&self, task: TaskId) {
        (**self).on_poll_start(task)
    }
    fn on_poll_end(&self, task: TaskId) {
        (**self).on_poll_end(task)
    }
    fn on_task_exit(&self, task: TaskId, exit: TaskExit) {
        (**self).on_task_exit(task, exit)
    }
    fn on_park(&self, timeout: Option<Duration>) {
        (**self).on_park(timeout)
    }
    fn on_unpark(&self) {
        (**self).on_unpark()
    }
    fn on_scope_cancel(&self, event: &ScopeCancelEvent) {
        (**self).on_scope_cancel(event)
    }
}

/// What [`Instrument::on_spawn`] is told about a new task.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SpawnEvent<'a> {
    /// The new task.
    pub task: TaskId,
    /// Its name, if it was spawned with one.
    pub name: Option<&'a str>,
    /// The scope it was spawned into (a nursery's child scope, or the root).
    pub scope: ScopeId,
    /// The task whose code spawned it; `None` when the future given to
    /// `block_on`, a hook, or code outside `block_on` did.
    pub spawned_by: Option<TaskId>,
}

/// How a task left the runtime ([`Instrument::on_task_exit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskExit {
    /// Its future returned or panicked (its join handle tells which).
    Finished,
    /// Its future was dropped before it finished: an abort, a
    /// cancellation that dropped it, or the runtime's drop.
    Dropped,
}

/// What [`Instrument::on_scope_cancel`] is told about a cancellation.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ScopeCancelEvent {
    /// The scope, or `None` for a timeout whose deadline passed while it
    /// had no scope node (a lazy region: the code inside was parked on
    /// nothing but its timer, so the runtime never gave it one).
    pub scope: Option<ScopeId>,
    /// Why it was cancelled.
    pub reason: CancelReason,
}

/// Names an instrument added with [`add`], for [`remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstrumentId(u64);

/// Add `instrument` to the current runtime; it sees events from now on,
/// until [`remove`]d or the runtime is dropped. The same instrument may
/// be added twice (and then sees every event twice).
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn add(instrument: Rc<dyn Instrument>) -> InstrumentId {
    context::expect("arbor::instrument::add", |core| {
        InstrumentId(core.instruments.add(instrument))
    })
}

/// Remove an instrument [`add`]ed to the current runtime: true if it was
/// still installed (false if it was removed already, or panicked).
/// Instruments given to the [`Builder`](crate::Builder) can be removed
/// too: [`installed`] lists their ids.
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn remove(id: InstrumentId) -> bool {
    context::expect("arbor::instrument::remove", |core| {
        core.instruments.remove(id.0)
    })
}

/// The ids of the instruments installed in the current runtime, in the
/// order they are called: the [`Builder`](crate::Builder)'s first, then
/// those [`add`]ed. Empty outside a runtime.
pub fn installed() -> Vec<InstrumentId> {
    context::with(|core| {
        core.map(|c| c.instruments.ids().into_iter().map(InstrumentId).collect())
            .unwrap_or_default()
    })
}
