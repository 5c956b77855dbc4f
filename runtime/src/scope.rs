//! Scope nodes: the tree that tasks are attached to.
//!
//! This is the layer below nurseries and cancel scopes (crate
//! `arbor-nursery`). A scope node is an entry in the runtime's scope slab
//! with a parent; every task is attached to one node when it is spawned
//! ([`spawn_in`]); the root node exists for the runtime's lifetime and is
//! where [`spawn`](crate::spawn) puts tasks. A node is [`open`](open_scope)ed
//! under a parent and [`close`](close_scope)d when its owner is done with
//! it: a closed node accepts no new tasks, and its slot is freed once it is
//! closed and no task or child node is attached to it any more.

use std::fmt;
use std::future::Future;
use std::rc::Rc;

use crate::context;
use crate::slab::{GenSlab, Key};
use crate::task::JoinHandle;

/// Identifies a scope node. See the [module docs](self).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeId(Key);

impl ScopeId {
    /// The runtime's root scope, which is never closed.
    pub const ROOT: ScopeId = ScopeId(Key {
        index: 0,
        generation: 0,
    });

    pub(crate) fn index(self) -> u32 {
        self.0.index
    }

    /// For a task's scope field (which stores only the index): a task
    /// keeps its node alive, so the index names the current occupant.
    pub(crate) fn from_index(index: u32) -> ScopeId {
        ScopeId(Key {
            index,
            generation: 0,
        })
    }
}

impl fmt::Debug for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeId({}.{})", self.0.index, self.0.generation)
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

struct Node {
    parent: Option<u32>,
    open: bool,
    /// Tasks and child nodes attached: the node is freed at zero once closed.
    attached: u32,
}

pub(crate) struct ScopeTable {
    nodes: GenSlab<Node>,
}

impl ScopeTable {
    pub(crate) fn new() -> Self {
        let mut nodes = GenSlab::new(u32::MAX);
        let root = nodes.insert(Node {
            parent: None,
            open: true,
            attached: 0,
        });
        debug_assert_eq!(root.map(ScopeId), Some(ScopeId::ROOT));
        ScopeTable { nodes }
    }

    fn check_open(&self, scope: ScopeId) -> Result<(), SpawnError> {
        match self.nodes.get(scope.0) {
            Some(node) if node.open => Ok(()),
            Some(_) => Err(SpawnError::Closed),
            None => Err(SpawnError::NoSuchScope),
        }
    }

    fn key_of(&self, index: u32) -> Option<Key> {
        self.nodes.get_masked(index, 0, 0).map(|(key, _)| key)
    }

    /// A task or child node joins `scope` (already checked open).
    pub(crate) fn attach(&mut self, scope: ScopeId) {
        if let Some(key) = self.key_of(scope.index())
            && let Some(node) = self.nodes.get_mut(key)
        {
            node.attached += 1;
        }
    }

    /// A task or child node left `scope`; free closed, empty nodes upward.
    pub(crate) fn detach(&mut self, scope: ScopeId) {
        let mut index = Some(scope.index());
        while let Some(i) = index.take() {
            let Some(key) = self.key_of(i) else { return };
            let Some(node) = self.nodes.get_mut(key) else {
                return;
            };
            node.attached -= 1;
            if !node.open && node.attached == 0 {
                index = node.parent;
                self.nodes.remove(key);
            }
        }
    }

    fn open(&mut self, parent: ScopeId) -> Result<ScopeId, SpawnError> {
        self.check_open(parent)?;
        let key = self
            .nodes
            .insert(Node {
                parent: Some(parent.index()),
                open: true,
                attached: 0,
            })
            .expect("scope slab exhausted");
        self.attach(parent);
        Ok(ScopeId(key))
    }

    fn close(&mut self, scope: ScopeId) {
        if scope == ScopeId::ROOT {
            return;
        }
        let Some(node) = self.nodes.get_mut(scope.0) else {
            return;
        };
        if !node.open {
            return;
        }
        node.open = false;
        if node.attached == 0 {
            let parent = node.parent;
            self.nodes.remove(scope.0);
            if let Some(parent) = parent {
                self.detach(ScopeId::from_index(parent));
            }
        }
    }

    fn live_tasks(&self, scope: ScopeId) -> Option<u32> {
        self.nodes.get(scope.0).map(|n| n.attached)
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// Open a new scope node under `parent`.
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
    context::expect("arbor::scope::open_scope", |core| {
        core.scopes.borrow_mut().open(parent)
    })
}

/// Close a scope node: no task can be spawned into it any more. Its slot
/// is freed once its tasks and child nodes are gone. Closing the root, a
/// closed or a stale scope does nothing.
pub fn close_scope(scope: ScopeId) {
    context::with(|core| {
        if let Some(core) = core {
            core.scopes.borrow_mut().close(scope);
        }
    })
}

/// Spawn a task attached to `scope`: the primitive nurseries build on.
/// Fails if the scope was closed or no longer exists; the future is then
/// dropped without being polled.
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
    context::expect("arbor::scope::spawn_in", |core| {
        core.scopes.borrow().check_open(scope)?;
        Ok(core.spawn(scope, name.map(Rc::from), future))
    })
}

/// The scope the running task is attached to (the root in the `block_on`
/// future).
pub fn current_scope() -> ScopeId {
    context::with(|core| {
        let Some(core) = core else {
            return ScopeId::ROOT;
        };
        let Some(task) = crate::current_task() else {
            return ScopeId::ROOT;
        };
        core.task_scope(task.id())
            .and_then(|i| core.scopes.borrow().key_of(i).map(ScopeId))
            .unwrap_or(ScopeId::ROOT)
    })
}

/// Tasks and child scopes attached to `scope`, `None` for a stale id.
pub fn attached(scope: ScopeId) -> Option<u32> {
    context::with(|core| core.and_then(|c| c.scopes.borrow().live_tasks(scope)))
}

/// Scope nodes alive in the current runtime, the root included.
pub fn live_scopes() -> usize {
    context::with(|core| core.map_or(0, |c| c.scopes.borrow().len()))
}
