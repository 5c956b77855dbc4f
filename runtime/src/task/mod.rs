//! Tasks: the unit the executor schedules.
//!
//! # Ownership: who touches what, when
//!
//! A task is one heap allocation (`raw.rs`): a `Header` with
//! its state bits, the scope it belongs to and the join waker, followed by a
//! union holding first the future, then its output. The allocation has two
//! lasting owners: the runtime's task slab (until the task finishes or is
//! aborted) and the [`JoinHandle`] (until it is dropped), plus a third,
//! brief one while the future is being dropped (`DROPPING`). The last owner
//! to let go frees it. All owners live on the runtime thread, so the header
//! is made of `Cell`s and no atomic is involved.
//!
//! Wakers do not own the task. A [`Waker`](std::task::Waker) carries the
//! runtime's registry key and the task's slab index and generation packed
//! into its data word (`waker.rs`): cloning and dropping it is a copy, and a
//! wake resolves the id through the slab, so a waker outliving its task (or
//! its runtime) finds nothing and does nothing.
//!
//! Only the runtime's own code touches a task, always with that runtime
//! current: the run loop, and [`JoinHandle::abort`], which enters the
//! task's runtime if another one (or none) is running. So a future's
//! destructor always runs inside its runtime, as the task.
//!
//! # Lifecycle
//!
//! ```text
//!            spawn                 run loop pops: start_poll
//!   (new) ──────────▶ SCHEDULED ─────────────────────────▶ RUNNING
//!                        ▲  ▲                                │ │ │
//!             wake       │  │ end_poll_pending: Requeue      │ │ │ Ready or panic:
//!          (Enqueue)     │  └────────────────────────────────┘ │ │ begin_drop (in raw::finish)
//!                        │                                     │ ▼
//!                      IDLE ◀───── end_poll_pending: Idle ─────┘ DROPPING ──finish_drop──▶ COMPLETE
//!                        │                                         ▲                         │
//!                        └──── abort: DropNow, begin_drop ─────────┘          slot released (remove_task),
//!                                                                             output taken or dropped
//! ```
//!
//! An abort requested while the task is `RUNNING` (a task aborting itself
//! through its own handle) is deferred: `end_poll_pending` returns `Abort`
//! and the run loop drops the future right after the poll. An aborted task
//! that was `SCHEDULED` loses its slot at once; its queued id then finds
//! the slot gone (generations never repeat) and is skipped.
//!
//! `DROPPING` covers the future's destructor, which is user code and may
//! re-enter the task: abort it (an abort-on-drop guard holding its own
//! handle, or two tasks guarding each other), wake it, drop its last
//! handle, or drop its whole runtime. While it is set, aborts and wakes
//! find the task finished, and the allocation stays alive until the
//! destructor has returned and the output is stored.

//! # Bookkeeping per task
//!
//! Beyond the future itself a task costs its header (48 bytes, see
//! `header_size`: 16 of them the await point and park time that
//! `scope::dump` shows) and its slab slot (16 bytes): 64 bytes. The union shares
//! space between the future and its output, so the output only adds bytes
//! when it is larger than the future. The test
//! `bookkeeping_is_64_bytes_per_task` in `executor` checks this.

mod join;
pub(crate) mod local;
pub(crate) mod raw;
pub(crate) mod state;
pub(crate) mod waker;

use std::any::Any;
use std::fmt;

pub use join::JoinHandle;
pub use local::{AccessError, LocalKey, TaskLocalFuture};

/// Identifies a task for its lifetime: its runtime, a slab index and a
/// generation, so an id is never reused by a later task, and two tasks of
/// different runtimes on one thread never share an id (a lock owned by a
/// task of one runtime is not owned by a task of another).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId {
    pub(crate) runtime: u32,
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Identifies a runtime among those alive in the process (ids of dropped
/// runtimes may be reused). Tells apart the `block_on` root futures of two
/// runtimes on one thread, as [`TaskId`] tells apart their tasks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RuntimeId(pub(crate) u32);

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "runtime {}", self.0)
    }
}

impl TaskId {
    /// The runtime the task belongs to.
    pub fn runtime(self) -> RuntimeId {
        RuntimeId(self.runtime)
    }

    pub(crate) fn key(self) -> crate::slab::Key {
        crate::slab::Key {
            index: self.index,
            generation: self.generation,
        }
    }

    pub(crate) fn from_key(runtime: u32, key: crate::slab::Key) -> Self {
        TaskId {
            runtime,
            index: key.index,
            generation: key.generation,
        }
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TaskId({}.{}.{})",
            self.runtime, self.index, self.generation
        )
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {}.{} of runtime {}",
            self.index, self.generation, self.runtime
        )
    }
}

/// Why a task produced no output: it was cancelled (its future dropped
/// before completion) or it panicked.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panicked(Box<dyn Any + Send>),
}

impl JoinError {
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        JoinError {
            repr: Repr::Panicked(payload),
        }
    }

    /// The task's future was dropped before it completed (aborted, or the
    /// runtime shut down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked; the panic was caught at the poll boundary.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic payload, to re-raise with [`std::panic::resume_unwind`].
    /// Gives the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            Repr::Panicked(payload) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked(p) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(|s| s.as_str())),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panicked(_) => write!(f, "JoinError::Panicked({:?})", self.panic_message()),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str(
                "task was cancelled: its future was dropped before it completed \
                 (it was aborted or its runtime shut down)",
            ),
            Repr::Panicked(_) => write!(
                f,
                "task panicked{}; use JoinError::try_into_panic and \
                 std::panic::resume_unwind to propagate the panic",
                self.panic_message()
                    .map(|m| format!(" with `{m}`"))
                    .unwrap_or_default()
            ),
        }
    }
}

impl std::error::Error for JoinError {}
