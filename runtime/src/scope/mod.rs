//! Scope nodes: the tree that cancel scopes, nurseries and tasks hang off.
//!
//! This is the layer below `arbor-nursery`. The runtime keeps a tree of
//! nodes in a slab. A node is entered by a task (a cancel scope, a
//! nursery, a nursery child's private scope) or opened bare with
//! [`open_scope`]; tasks are spawned into a node with [`spawn_in`]. The
//! run loop tracks the *current node* of the code being polled: a task's
//! own node while its future is polled, and whatever node a wrapper
//! selects with [`poll_in`] while it polls its inner future.
//!
//! Cancelling a node ([`cancel`], or its deadline passing: deadlines are
//! timer-wheel entries, created only for nodes that have one) marks it and
//! every unshielded node below it *effectively cancelled* and wakes the
//! code polling in each of them. A wrapper asks [`decision`] after each
//! poll of its inner future whether it is the outermost cancelled node of
//! its task and nothing shielded inside must finish first: if so it drops
//! the inner future. Arbor operations ([`time::sleep`](crate::time::sleep),
//! [`io::Async`](crate::io::Async), [`yield_now`](crate::yield_now), ...)
//! check [`current_is_cancelled`] and make no progress in a cancelled node,
//! so nothing first polled there takes effect.

mod dump;
mod tree;

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::task::Waker;

pub use tree::{CancelReason, Deadline, Decision, NodeKind, NodeOptions};
pub(crate) use tree::{Owner, ScopeTable};

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

fn core_op<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    context::expect(what, f)
}

/// Open a bare node under `parent`: tasks can be spawned into it until it
/// is closed.
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
            Owner::Nobody,
            NodeKind::Bare,
            NodeOptions::default(),
        );
        Ok(ScopeId::new(core.key, key))
    };
    if parent.runtime == CURRENT_RUNTIME {
        return core_op("arbor::scope::open_scope", open);
    }
    with_scope(parent, open).unwrap_or(Err(SpawnError::NoSuchScope))
}

/// Close a node: nothing more can be spawned into it, its deadline timer
/// is cancelled, and its slot is freed once no task or child node is
/// attached. Closing the root, a closed or a stale node does nothing.
pub fn close_scope(scope: ScopeId) {
    if scope == ScopeId::ROOT {
        return;
    }
    with_scope(scope, |core| {
        let timer = core.scopes.borrow_mut().close(scope.key);
        if let Some(timer) = timer {
            core.timers.borrow_mut().remove(timer);
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
pub fn spawn_in<F>(
    scope: ScopeId,
    name: Option<&str>,
    future: F,
) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
{
    let spawn = |core: &Core| {
        match core.scopes.borrow().get(scope.key) {
            Some(node) if node.open => {}
            Some(_) => return Err(SpawnError::Closed),
            None => return Err(SpawnError::NoSuchScope),
        }
        Ok(core.spawn(scope, name.map(Rc::from), future))
    };
    if scope.runtime == CURRENT_RUNTIME {
        return core_op("arbor::scope::spawn_in", spawn);
    }
    with_scope(scope, spawn).unwrap_or(Err(SpawnError::NoSuchScope))
}

/// Abort every task spawned into `scope`: their futures are dropped now
/// (a task aborting itself is dropped when its poll returns). For dropping
/// a nursery's children with it; costs a scan of the runtime's tasks.
pub fn abort_tasks(scope: ScopeId) {
    with_scope(scope, |core| {
        if core.scopes.borrow().get(scope.key).is_some() {
            core.abort_tasks_in(scope.index());
        }
    });
}

/// Enter a timeout scope without creating its node: the node (and the
/// clock read for its deadline, `timeout` from then) is made only if
/// something needs it while the wrapper polls its inner future: a nested
/// scope, [`current_scope`], [`current_effective_deadline`], or the inner
/// future suspending ([`leave_provisional`] with `keep`). A future that
/// completes without suspending so costs a push and a pop. Only for scopes
/// nobody else can cancel or move (no handle), unshielded, with a
/// relative deadline. Returns the depth to pass to [`leave_provisional`].
///
/// # Panics
/// Outside a runtime.
pub fn enter_provisional(kind: NodeKind, timeout: std::time::Duration) -> usize {
    core_op("arbor::scope::enter_provisional", |core| {
        core.enter_provisional(kind, timeout)
    })
}

/// Leave provisional scope `depth` (the innermost): with `keep` (its
/// future suspended) its node is created if it was not yet; returns the
/// node if there is one, which the caller then owns (and must [`exit`]).
pub fn leave_provisional(depth: usize, keep: bool) -> Option<ScopeId> {
    context::with(|core| core.and_then(|c| c.leave_provisional(depth, keep)))
}

/// Create a node under the current node, owned by the code running now,
/// and return it. The caller polls inside it with [`poll_in`] and must
/// [`exit`] it when done (also when dropped).
///
/// # Panics
/// Outside a runtime.
pub fn enter(kind: NodeKind, opts: NodeOptions) -> ScopeId {
    core_op("arbor::scope::enter", |core| core.enter_node(kind, opts))
}

/// Leave a node entered with [`enter`]: its deadline timer is cancelled
/// and a pending cancellation dies with it.
pub fn exit(scope: ScopeId) {
    close_scope(scope)
}

/// Run `f` (a poll of an inner future) with `scope` as the current node.
pub fn poll_in<R>(scope: ScopeId, f: impl FnOnce() -> R) -> R {
    struct Restore<'a>(&'a Core, u32);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            self.0.current_node.set(self.1);
        }
    }
    context::with(|core| match core {
        Some(core) if core.key == scope.runtime || scope.runtime == CURRENT_RUNTIME => {
            let _restore = Restore(core, core.current_node.replace(scope.index()));
            f()
        }
        _ => f(),
    })
}

/// Remember the waker of the code polling in `scope`, to wake it when the
/// scope is cancelled.
pub fn set_waker(scope: ScopeId, waker: &Waker) {
    let mut old = None;
    with_node(scope, |node| match &node.waker {
        Some(w) if w.will_wake(waker) => {}
        _ => old = node.waker.replace(waker.clone()),
    });
    // A foreign waker's drop may run arbitrary code: not under the borrow.
    drop(old);
}

/// Also wake `waker` when `scope` becomes cancelled (for a future that
/// waits for cancellation under a combinator with its own waker).
pub fn watch(scope: ScopeId, waker: &Waker) {
    with_node(scope, |node| {
        if !node.effective && !node.watchers.iter().any(|w| w.will_wake(waker)) {
            node.watchers.push(waker.clone());
        }
    });
}

/// Must the wrapper polling `scope` drop its inner future now?
pub fn decision(scope: ScopeId) -> Decision {
    with_scope(scope, |c| c.scopes.borrow_mut().decision(scope.key)).unwrap_or(Decision::Continue)
}

/// Call `scope`'s own cancel: it and every unshielded node below it are
/// cancelled, and the code in them is woken. Idempotent; a stale id is
/// ignored.
pub fn cancel(scope: ScopeId, reason: CancelReason) {
    with_scope(scope, |core| core.cancel_node(scope.key, reason));
}

/// Why `scope`'s own cancel was called, if it was.
pub fn cancel_called(scope: ScopeId) -> Option<CancelReason> {
    with_scope(scope, |c| {
        c.scopes
            .borrow()
            .get(scope.key)
            .and_then(|n| n.cancel_called)
    })
    .flatten()
}

/// Whether `scope` is effectively cancelled (its own cancel, or an
/// unshielded ancestor's).
pub fn is_cancelled(scope: ScopeId) -> bool {
    with_scope(scope, |c| {
        c.scopes
            .borrow()
            .get(scope.key)
            .is_some_and(|n| n.effective)
    })
    .unwrap_or(false)
}

/// Set or clear `scope`'s deadline. Moving it later only updates the timer
/// entry; a deadline at or before now cancels the scope at once. A scope
/// without a deadline has no timer entry, and one with a deadline gets it
/// only once [`arm`]ed.
pub fn set_deadline(scope: ScopeId, deadline: Option<Instant>) {
    with_scope(scope, |core| core.set_node_deadline(scope.key, deadline));
}

/// The code in `scope` suspended (its wrapper's inner future returned
/// `Pending`): give the deadline its timer entry now. Until then a
/// deadline costs nothing but a comparison, so a scope whose future
/// completes without suspending never touches the timer wheel.
pub fn arm(scope: ScopeId) {
    with_scope(scope, |core| core.arm_node(scope.key));
}

/// A `cancelled()`-style future starts (`true`) or stops (`false`) waiting
/// in `scope`: while one waits, the scope's wrapper lets it see the
/// cancellation (and run to its next suspension) before dropping the code.
pub fn notice(scope: ScopeId, waiting: bool) {
    with_node(scope, |node| {
        if waiting {
            node.noticers += 1;
        } else {
            node.noticers = node.noticers.saturating_sub(1);
        }
    });
}

/// `scope`'s deadline.
pub fn deadline(scope: ScopeId) -> Option<Instant> {
    with_scope(scope, |c| {
        c.scopes.borrow().get(scope.key).and_then(|n| n.deadline)
    })
    .flatten()
}

/// Shield `scope` from its ancestors' cancellation, or stop shielding it
/// (then a pending outer cancellation reaches it at once).
pub fn set_shield(scope: ScopeId, shield: bool) {
    with_scope(scope, |core| {
        let mut wake = Vec::new();
        core.scopes
            .borrow_mut()
            .set_shield(scope.key, shield, &mut wake);
        core.wake_urgently(wake);
    });
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
/// ```
/// arbor_runtime::run(async {
///     let _h = arbor_runtime::spawn_named("idle", std::future::pending::<()>());
///     arbor_runtime::yield_now().await;
///     let text = arbor_runtime::scope::dump();
///     assert!(text.contains("root") && text.contains("\"idle\""), "{text}");
/// });
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

fn with_node(scope: ScopeId, f: impl FnOnce(&mut tree::Node)) {
    with_scope(scope, |core| {
        if let Some(node) = core.scopes.borrow_mut().get_mut(scope.key) {
            f(node)
        }
    });
}
