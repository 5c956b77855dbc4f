//! Scopes, low-level: the tree that cancel scopes, nurseries and tasks hang
//! off, and the one guard that runs code inside it.
//!
//! This is the layer below `arbor-nursery` (as `trio.lowlevel` is below
//! trio): most programs use `arbor::CancelScope`, `arbor::nursery` and the
//! timeouts instead. Everything public here is safe to call in any order:
//! nothing a task does through it can break another task's scopes.
//!
//! # The model
//!
//! The runtime keeps a tree of nodes in a slab. A scope's code runs inside
//! a [`Region`], which makes the scope's node under the *current node*
//! when first polled, polls the code with its node current, and closes the
//! node when done. A region's settings (own cancel, deadline, shield) and
//! outcome live in a [`ScopeCell`] that handles share; a task spawned into
//! a node ([`spawn_in`]) has that node as its current node.
//!
//! Cancelling a scope (its cell's `cancel`, or its deadline passing:
//! deadlines are timer-wheel entries, made only for regions that have one
//! and suspend) marks its node and every unshielded node below it
//! *effectively cancelled* and wakes the code in each, in the same
//! scheduler tick. Arbor operations ([`time::sleep`](crate::time::sleep),
//! [`io::Async`](crate::io::Async), [`yield_now`](crate::yield_now), ...)
//! check [`current_is_cancelled`] and make no progress in a cancelled node,
//! so nothing first polled there takes effect; the region then drops its
//! code at that suspension (see [`Region`] for exactly when, and who
//! reports the cancellation as caught).

mod cell;
mod dump;
mod entry;
mod notice;
mod region;
mod tasks;
pub(crate) mod tree;

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::task::Context;

pub use cell::{CellRef, ScopeCell};
pub use entry::entry_checkpoint;
pub use notice::{CancelledFuture, cancelled};
pub use region::{Region, Step};
pub use tasks::{child_nurseries, note_await, parent_nursery};
pub(crate) use tree::ScopeTable;
pub use tree::{CancelReason, NodeKind};

use crate::context;
use crate::executor::Core;
use crate::slab::Key;
use crate::task::JoinHandle;
use crate::time::Instant;

/// Identifies a scope node of one runtime. See the [module docs](self).
///
/// The id names its runtime, so a node of one runtime is never confused
/// with the node at the same index of another runtime on the same thread:
/// an operation on it happens in its own runtime (entered for the call if
/// another one is running), or, once that runtime is gone, not at all.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeId {
    pub(crate) key: Key,
    pub(crate) runtime: u32,
}

/// `ScopeId::ROOT`'s runtime: whichever is current.
const CURRENT_RUNTIME: u32 = u32::MAX;

impl ScopeId {
    /// The root node of the runtime that is current when the id is used,
    /// which is never closed or cancelled.
    pub const ROOT: ScopeId = ScopeId {
        key: Key {
            index: 0,
            generation: 0,
        },
        runtime: CURRENT_RUNTIME,
    };

    pub(crate) fn new(runtime: u32, key: Key) -> ScopeId {
        ScopeId { key, runtime }
    }

    pub(crate) fn index(self) -> u32 {
        self.key.index
    }
}

impl fmt::Debug for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runtime == CURRENT_RUNTIME {
            return f.write_str("ScopeId(root)");
        }
        write!(
            f,
            "ScopeId({}.{}.{})",
            self.runtime, self.key.index, self.key.generation
        )
    }
}

/// Run `f` with `scope`'s runtime current (see [`context::with_runtime`]);
/// `None` if that runtime is gone (or, for the root, none is running).
#[inline]
fn with_scope<R>(scope: ScopeId, f: impl FnOnce(&Core) -> R) -> Option<R> {
    if scope.runtime == CURRENT_RUNTIME {
        context::with(|core| core.map(f))
    } else {
        context::with_runtime(scope.runtime, f)
    }
}

/// Why a task could not be spawned into a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The scope was closed: its owner no longer accepts new tasks.
    Closed,
    /// The scope id is stale: the node no longer exists.
    NoSuchScope,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Closed => f.write_str(
                "cannot spawn into a closed scope: its owner has finished; \
                 spawn into an open scope instead",
            ),
            SpawnError::NoSuchScope => {
                f.write_str("cannot spawn into a scope that no longer exists (stale ScopeId)")
            }
        }
    }
}

impl std::error::Error for SpawnError {}

/// The deadline that applies to the code running now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EffectiveDeadline {
    /// No enclosing scope (up to the first shield) has a deadline.
    None,
    /// The earliest deadline of the enclosing scopes.
    At(Instant),
    /// The current scope is already cancelled.
    Cancelled,
}

/// Whether tasks can be spawned into `scope` (a node of `core`) now.
fn check_open(core: &Core, scope: ScopeId) -> Result<(), SpawnError> {
    let scopes = core.scopes.borrow();
    let key = match scope.runtime {
        CURRENT_RUNTIME => scopes.key_of(scope.index()),
        _ => Some(scope.key),
    };
    match key.and_then(|k| scopes.get(k)) {
        Some(node) if node.open => Ok(()),
        Some(_) => Err(SpawnError::Closed),
        None => Err(SpawnError::NoSuchScope),
    }
}

#[track_caller]
fn core_op<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    context::expect(what, f)
}

/// Open a bare node under `parent`: tasks can be spawned into it until it
/// is closed. Nothing runs in a bare node and nothing cancels it (unless
/// an enclosing scope does); its tasks inherit the scopes above it.
///
/// ```
/// use arbor_runtime::scope::{self, ScopeId, SpawnError};
/// arbor_runtime::run(async {
///     let s = scope::open_scope(ScopeId::ROOT).unwrap();
///     let h = scope::spawn_in(s, None, async { 1 }).unwrap();
///     assert_eq!(h.await.unwrap(), 1);
///     let parked = scope::spawn_in(s, None, std::future::pending::<()>()).unwrap();
///     scope::close_scope(s);
///     assert_eq!(scope::spawn_in(s, None, async {}).unwrap_err(), SpawnError::Closed);
///     parked.abort(); // the last task left: the closed node is freed
///     assert_eq!(scope::spawn_in(s, None, async {}).unwrap_err(), SpawnError::NoSuchScope);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn open_scope(parent: ScopeId) -> Result<ScopeId, SpawnError> {
    let open = |core: &Core| {
        let mut scopes = core.scopes.borrow_mut();
        match scopes.get(parent.key) {
            Some(node) if node.open => {}
            Some(_) => return Err(SpawnError::Closed),
            None => return Err(SpawnError::NoSuchScope),
        }
        let key = scopes.create(
            parent.index(),
            tree::Owner::Nobody,
            NodeKind::Bare,
            tree::NodeOptions::default(),
        );
        Ok(ScopeId::new(core.key, key))
    };
    if parent.runtime == CURRENT_RUNTIME {
        return core_op("arbor::scope::open_scope", open);
    }
    with_scope(parent, open).unwrap_or(Err(SpawnError::NoSuchScope))
}

/// Close a bare node made by [`open_scope`]: nothing more can be spawned
/// into it, and its slot is freed once no task is attached. Closing the
/// root, a stale node or a node that is not bare (a region's, which only
/// its region closes) does nothing.
pub fn close_scope(scope: ScopeId) {
    if scope == ScopeId::ROOT {
        return;
    }
    with_scope(scope, |core| {
        let bare = core
            .scopes
            .borrow()
            .get(scope.key)
            .is_some_and(|n| n.kind == NodeKind::Bare);
        if bare {
            let closed = core.scopes.borrow_mut().close(scope.key);
            drop(closed);
        }
    });
}

/// Spawn a task attached to `scope`: it runs with `scope` as its current
/// node, so scopes it enters hang below it and a cancellation of `scope`
/// reaches them. Fails if the scope was closed or no longer exists; the
/// future is then dropped without being polled.
///
/// # Panics
/// Outside a runtime.
#[inline]
#[track_caller]
pub fn spawn_in<F>(
    scope: ScopeId,
    name: Option<&str>,
    future: F,
) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
{
    let spawn = |core: &Core| {
        check_open(core, scope)?;
        Ok(core.spawn(scope, name.map(Rc::from), future))
    };
    if scope.runtime == CURRENT_RUNTIME {
        return core_op("arbor::scope::spawn_in", spawn);
    }
    with_scope(scope, spawn).unwrap_or(Err(SpawnError::NoSuchScope))
}

/// Spawn a task into `scope` and run its first step now, inside the poll
/// in progress, before returning: the task runs as itself (its own id, so
/// the locks it takes are its own; its own waker; `scope` as its node),
/// while the caller's poll is set aside. Then it is an ordinary task. For
/// starting a child in its caller's context (`Nursery::start`): its first
/// step always runs, even if `scope` is cancelled. Fails, dropping the
/// future unpolled, if the scope was closed or no longer exists.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use arbor_runtime::scope::{self, ScopeId};
/// arbor_runtime::run(async {
///     let ran = Rc::new(Cell::new(false));
///     let r = ran.clone();
///     let h = scope::spawn_now(ScopeId::ROOT, None, async move { r.set(true) }).unwrap();
///     assert!(ran.get() && h.is_finished(), "ran before spawn_now returned");
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn_now<F>(
    scope: ScopeId,
    name: Option<&str>,
    future: F,
) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
{
    let spawn = |core: &Core| {
        check_open(core, scope)?;
        Ok(core.spawn_now(scope, name.map(Rc::from), future))
    };
    if scope.runtime == CURRENT_RUNTIME
        || context::with(|c| c.is_some_and(|c| c.key == scope.runtime))
    {
        return core_op("arbor::scope::spawn_now", spawn);
    }
    Err(SpawnError::NoSuchScope)
}

/// Move the task running now under `scope`, with its regions: from now on
/// `scope`'s cancellations, not those of where it was spawned, reach it.
/// For a child started in its caller's context that its nursery now takes
/// over (`TaskStatus::started`). Returns false, changing nothing, outside
/// a task (in the `block_on` root future), if `scope` is closed, gone or
/// of another runtime, or if it lies inside the task's own regions.
pub fn move_current_task(scope: ScopeId) -> bool {
    context::with(|core| {
        let Some(core) = core else { return false };
        if scope.runtime != core.key && scope.runtime != CURRENT_RUNTIME {
            return false;
        }
        let key = match scope.runtime {
            CURRENT_RUNTIME => core.scopes.borrow().key_of(scope.index()),
            _ => Some(scope.key),
        };
        key.is_some_and(|k| core.move_current_task(k))
    })
}

/// A schedule point after an operation took effect (trio's
/// `cancel_shielded_checkpoint`): returns `true` if the caller must yield
/// now. Then the task has been woken, and the caller must return
/// `Pending`, keep the operation's result and return it at its next poll,
/// whatever was cancelled meanwhile: the regions around it give it that
/// poll before they drop anything, so nothing taken is lost. Returns
/// `false` (the caller returns the result at once) if no other code is
/// ready to run: the yield would only come straight back. A task that
/// loops on operations completing at once still yields every 128 of them,
/// so timers and I/O are never starved. Outside a runtime: `false`.
///
/// Every public async operation of arbor ends this way unless it had to
/// wait (then it already let others run); see the crate docs of
/// `arbor-primitives` on checkpoints.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// arbor_runtime::run(async {
///     let other = arbor_runtime::spawn(async { "ran in between" });
///     let mut result = None;
///     let value = poll_fn(|cx| {
///         if let Some(v) = result.take() {
///             return Poll::Ready(v); // the next poll: hand the result over
///         }
///         let v = 42; // the operation takes effect
///         if arbor_runtime::scope::schedule_point(cx) {
///             result = Some(v);
///             return Poll::Pending;
///         }
///         Poll::Ready(v)
///     })
///     .await;
///     assert_eq!(value, 42);
///     assert!(other.is_finished(), "the other task ran at the schedule point");
/// });
/// ```
#[inline]
pub fn schedule_point(cx: &Context<'_>) -> bool {
    context::with(|core| core.is_some_and(|c| c.schedule_point(cx.waker())))
}

/// The runtime's side of a checkpoint, for the code being polled: the
/// cancel check, who is running and the schedule point, all through one
/// read of the thread-local context ([`with_checkpoint`]). Each method
/// behaves as its free-standing counterpart ([`current_is_cancelled`],
/// [`running`](crate::running), [`schedule_point`]); outside a runtime
/// they say "not cancelled", `None` and `false`.
#[derive(Clone, Copy)]
pub struct Checkpoint<'a> {
    core: Option<&'a Core>,
}

impl Checkpoint<'_> {
    /// As [`current_is_cancelled`].
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.core.is_some_and(Core::current_cancelled)
    }

    /// As [`running`](crate::running).
    #[inline]
    pub fn running(&self) -> Option<crate::Running> {
        self.core.map(Core::running)
    }

    /// As [`schedule_point`].
    #[inline]
    pub fn schedule_point(&self, cx: &Context<'_>) -> bool {
        self.core.is_some_and(|c| c.schedule_point(cx.waker()))
    }
}

impl fmt::Debug for Checkpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("in_runtime", &self.core.is_some())
            .finish()
    }
}

/// Run `f` with the runtime's side of a checkpoint ([`Checkpoint`]): for
/// an operation's hot path that needs the cancel check, the running task
/// and the schedule point, with one thread-local access for all three.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// arbor_runtime::run(async {
///     let mut done = false;
///     poll_fn(|cx| {
///         arbor_runtime::scope::with_checkpoint(|cp| {
///             if cp.is_cancelled() {
///                 return Poll::Pending;
///             }
///             if done {
///                 return Poll::Ready(());
///             }
///             assert!(cp.running().is_some());
///             // ...the operation takes effect here...
///             if cp.schedule_point(cx) {
///                 done = true;
///                 return Poll::Pending;
///             }
///             Poll::Ready(())
///         })
///     })
///     .await;
/// });
/// ```
#[inline]
pub fn with_checkpoint<R>(f: impl FnOnce(&Checkpoint<'_>) -> R) -> R {
    context::with(|core| f(&Checkpoint { core }))
}

/// Whether the code running now is in an effectively cancelled node: arbor
/// operations check this and make no progress when it is true.
#[inline]
pub fn current_is_cancelled() -> bool {
    context::with(|core| core.is_some_and(Core::current_cancelled))
}

/// The node the code running now is in (the root outside any scope).
pub fn current_scope() -> ScopeId {
    context::with(|core| {
        let Some(core) = core else {
            return ScopeId::ROOT;
        };
        core.materialize();
        let index = core.current_node.get();
        core.scopes
            .borrow()
            .key_of(index)
            .map_or(ScopeId::ROOT, |key| ScopeId::new(core.key, key))
    })
}

/// The deadline that applies to the code running now: the earliest one
/// walking outward from the current node, stopping after the first
/// shielded node, or [`EffectiveDeadline::Cancelled`] inside a cancelled
/// region.
pub fn current_effective_deadline() -> EffectiveDeadline {
    context::with(|core| {
        let Some(core) = core else {
            return EffectiveDeadline::None;
        };
        core.materialize();
        match core
            .scopes
            .borrow()
            .effective_deadline(core.current_node.get())
        {
            Err(()) => EffectiveDeadline::Cancelled,
            Ok(Some(at)) => EffectiveDeadline::At(at),
            Ok(None) => EffectiveDeadline::None,
        }
    })
}

/// The node `scope` hangs off: `None` for the root or a stale id.
///
/// ```
/// use arbor_runtime::scope::{self, NodeKind, Region, ScopeCell, ScopeId};
/// arbor_runtime::run(async {
///     let outer = scope::current_scope();
///     let region = Region::new(ScopeCell::new(), NodeKind::Scope, async {
///         arbor_runtime::yield_now().await; // suspended: it has a node now
///         scope::current_scope()
///     });
///     let mut region = std::pin::pin!(region);
///     let inner = std::future::poll_fn(|cx| match region.as_mut().poll_inner(cx) {
///         scope::Step::Ready(id) => std::task::Poll::Ready(id),
///         _ => std::task::Poll::Pending,
///     })
///     .await;
///     assert_eq!(scope::parent_scope(inner), Some(outer));
///     assert_eq!(scope::parent_scope(ScopeId::ROOT), None);
/// });
/// ```
pub fn parent_scope(scope: ScopeId) -> Option<ScopeId> {
    with_scope(scope, |core| {
        let scopes = core.scopes.borrow();
        let node = scopes.get(scope.key)?;
        if scope.key == scopes.key_of(0)? {
            return None;
        }
        scopes
            .key_of(node.parent)
            .map(|key| ScopeId::new(core.key, key))
    })
    .flatten()
}

/// Live tasks spawned into `scope`, `None` for a stale id.
pub fn live_tasks(scope: ScopeId) -> Option<u32> {
    with_scope(scope, |c| c.scopes.borrow().get(scope.key).map(|n| n.tasks)).flatten()
}

/// Scope nodes alive in the current runtime, the root included.
pub fn live_scopes() -> usize {
    context::with(|core| core.map_or(0, |c| c.scopes.borrow().len()))
}

/// The live tree of scopes and tasks of the current runtime, as text: for
/// debugging hangs. Empty outside a runtime.
///
/// One line per node, indented by depth; under it the tasks spawned into
/// it, each followed (indented further) by the nodes it opened: its
/// nurseries, their children's tasks below them, and so on. So the text
/// reads task → its nurseries → their tasks ([`parent_nursery`] and
/// [`child_nurseries`] give the same relation as ids). A task line says
/// `running`, `runnable` (on the run queue) or `parked <time> at <where>`:
/// the innermost arbor wait it is suspended in ([`note_await`]; for
/// `sleep`, the primitives' waits, channels and `JoinHandle` the user's
/// line that made the future, for `async fn` operations a line inside
/// arbor) and for how long. A task parked in a future of its own that
/// noted nothing shows `parked <time>` alone.
///
/// The time parked is counted from the clock's last reading before the
/// task went idle, not a reading of its own (that would cost a clock read
/// per poll): the run loop reads the clock after every park, whenever
/// timers are due and every few dozen task polls (its reactor check), and
/// so do `time::now` and new timers. It can therefore overstate the real
/// time by the work done since that reading, typically microseconds, at
/// most one run-loop tick's worth of polls. With a virtual clock (without
/// a rate) it is exact.
///
/// A region that never needed a node (a timeout whose code is parked with
/// only a timer, a scope, a nursery or a child that has not suspended
/// yet) has no line of its own: its code shows under the region around
/// it.
///
/// ```
/// arbor_runtime::run(async {
///     let _h = arbor_runtime::spawn_named("idle", std::future::pending::<()>());
///     arbor_runtime::yield_now().await;
///     let text = arbor_runtime::scope::dump();
///     assert!(text.contains("root") && text.contains("\"idle\" parked"), "{text}");
/// });
/// ```
///
/// A sample (a nursery in task #1, its child #2 asleep):
///
/// ```text
/// Root (root) #0
///   - task 1.0 "server" parked 1.5s at src/main.rs:20:29
///     Nursery #1 in task 1.0
///       - task 2.0 "worker" parked 1.5s at src/main.rs:14:17
///         Child "worker" #2 in task 2.0
///       - task 3.0 "logger" runnable
///         Child "logger" #3 in task 3.0
/// ```
pub fn dump() -> String {
    context::with(|core| {
        core.map(|core| {
            core.materialize();
            dump::render(core)
        })
        .unwrap_or_default()
    })
}
