//! The scope tree: nodes, their cancellation state, and the walk that
//! carries a cancellation down to every node it covers.
//!
//! This is the "cancel status" half of trio's design (`CancelStatus`); the
//! half a user holds (`CancelScope`, a nursery) lives in `arbor-nursery`
//! and only refers to a node by its [`ScopeId`](super::ScopeId).
//!
//! A node is *effectively cancelled* when its own cancel was called, or
//! when its parent is effectively cancelled and it is not shielded. That
//! bit is cached in every node and updated by [`ScopeTable::recompute`], an
//! explicit-stack walk over the subtree whose state changed, which also
//! collects the waker of every node that became cancelled: cancelling a
//! scope wakes exactly the code inside it.

use std::cell::Cell;
use std::rc::Rc;
use std::task::Waker;

use crate::slab::{GenSlab, Key};
use crate::task::TaskId;
use crate::time::Instant;
use crate::time::wheel::TimerKey;

pub(crate) const NONE: u32 = u32::MAX;

/// Who runs the code inside a node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Owner {
    /// A bare node (the root, or one made by `open_scope`).
    Nobody,
    /// The `block_on` root future.
    Root,
    Task(TaskId),
}

/// What a node stands for (for the drop decision and for dumps).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeKind {
    /// The runtime's root.
    Root,
    /// A node made with [`open_scope`](super::open_scope).
    Bare,
    /// A cancel scope entered by a task.
    Scope,
    /// A nursery's scope: its children's nodes hang below it.
    Nursery,
    /// A nursery child's private scope.
    Child,
}

/// Why a node's own cancel was called.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CancelReason {
    /// `cancel()` on a handle.
    Explicit,
    /// The node's deadline passed.
    Deadline,
}

pub(crate) struct Node {
    pub(crate) parent: u32,
    first_child: u32,
    next_sibling: u32,
    prev_sibling: u32,
    children: u32,
    /// Live tasks spawned into this node.
    pub(crate) tasks: u32,
    pub(crate) owner: Owner,
    pub(crate) kind: NodeKind,
    /// Accepting spawns; for an entered scope: not yet exited.
    pub(crate) open: bool,
    pub(crate) cancel_called: Option<CancelReason>,
    pub(crate) effective: bool,
    pub(crate) shield: bool,
    pub(crate) deadline: Option<Instant>,
    pub(crate) timer: Option<TimerKey>,
    /// The deadline gets a timer entry only once the code inside first
    /// suspends (`scope::arm`): a scope that completes without suspending
    /// never touches the timer wheel.
    pub(crate) armed: bool,
    /// `cancelled()` futures waiting in this node: they must see the
    /// cancellation before the node's code is dropped.
    pub(crate) noticers: u32,
    /// The waker of the code polling inside the node: woken on cancel.
    pub(crate) waker: Option<Waker>,
    /// Further wakers to wake on cancel (`scope::watch`).
    pub(crate) watchers: Vec<Waker>,
    pub(crate) name: Option<Rc<str>>,
}

/// Settings of a node being created.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Not cancelled by its ancestors.
    pub shield: bool,
    /// Cancelled on creation (a handle cancelled before entry, a past deadline).
    pub cancelled: Option<CancelReason>,
    /// A name for dumps.
    pub name: Option<Rc<str>>,
    /// A deadline, absolute or relative to entry (see [`Deadline`]).
    pub deadline: Option<Deadline>,
}

/// A node's deadline as given at entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// At this instant; already past means cancelled on entry.
    At(Instant),
    /// This long after entry (read from the clock once, at entry).
    After(std::time::Duration),
}

/// Whether the wrapper polling a node must drop its inner future now.
#[must_use]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decision {
    /// Not cancelled, or an enclosing scope of the same task will catch
    /// the cancellation, or a shielded region or a nursery with live
    /// children inside must finish first.
    Continue,
    /// This node is the outermost cancelled one of its task: drop the
    /// inner future and complete as cancelled.
    Catch,
}

pub(crate) struct ScopeTable {
    nodes: GenSlab<Node>,
    /// Nodes now effectively cancelled: while zero, no code is in a
    /// cancelled scope and `current_cancelled` needs no lookup. Shared
    /// with `Core`, which reads it without borrowing the table.
    cancelled_nodes: Rc<Cell<usize>>,
    /// Reused by walks, so they do not allocate per cancellation.
    stack: Vec<u32>,
}

impl ScopeTable {
    pub(crate) fn new() -> Self {
        let mut nodes = GenSlab::new(NONE);
        let root = nodes.insert(Node::new(
            NONE,
            Owner::Nobody,
            NodeKind::Root,
            NodeOptions::default(),
        ));
        debug_assert_eq!(root.map(|k| k.index), Some(0));
        ScopeTable {
            nodes,
            cancelled_nodes: Rc::new(Cell::new(0)),
            stack: Vec::new(),
        }
    }

    /// The count of effectively cancelled nodes, kept up to date by the
    /// table (for `Core`'s hot check).
    pub(crate) fn cancelled_nodes(&self) -> Rc<Cell<usize>> {
        self.cancelled_nodes.clone()
    }

    fn add_cancelled(&self, n: usize) {
        self.cancelled_nodes.set(self.cancelled_nodes.get() + n);
    }

    fn sub_cancelled(&self, n: usize) {
        self.cancelled_nodes.set(self.cancelled_nodes.get() - n);
    }

    pub(crate) fn get(&self, key: Key) -> Option<&Node> {
        self.nodes.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut Node> {
        self.nodes.get_mut(key)
    }

    /// The key of the node now at `index` (tasks and walks store indices:
    /// a node with tasks or children is never freed, so it is current).
    pub(crate) fn key_of(&self, index: u32) -> Option<Key> {
        self.nodes.get_masked(index, 0, 0).map(|(key, _)| key)
    }

    /// Look up by index and a waker's truncated generation.
    pub(crate) fn get_masked_key(&self, index: u32, generation: u32) -> Option<Key> {
        self.nodes
            .get_masked(index, generation, crate::task::waker::GEN_MASK)
            .map(|(key, _)| key)
    }

    /// Whether the node at `index` is effectively cancelled (the hot check
    /// of every arbor operation: no lookup while nothing is cancelled).
    pub(crate) fn is_cancelled_at(&self, index: u32) -> bool {
        self.cancelled_nodes.get() > 0 && self.at(index).is_some_and(|n| n.effective)
    }

    pub(crate) fn at(&self, index: u32) -> Option<&Node> {
        self.nodes.get_masked(index, 0, 0).map(|(_, n)| n)
    }

    fn at_mut(&mut self, index: u32) -> Option<&mut Node> {
        self.nodes.at_index_mut(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Create a node under `parent` (an open node's index).
    pub(crate) fn create(
        &mut self,
        parent: u32,
        owner: Owner,
        kind: NodeKind,
        opts: NodeOptions,
    ) -> Key {
        let parent_effective = self.at(parent).is_some_and(|p| p.effective);
        let mut node = Node::new(parent, owner, kind, opts);
        node.effective = node.cancel_called.is_some() || (!node.shield && parent_effective);
        self.add_cancelled(usize::from(node.effective));
        let key = self.nodes.insert(node).expect("scope slab exhausted");
        let old_first = {
            let p = self.at_mut(parent).expect("parent node is alive");
            p.children += 1;
            std::mem::replace(&mut p.first_child, key.index)
        };
        if let Some(old) = self.at_mut(old_first) {
            old.prev_sibling = key.index;
        }
        self.nodes.get_mut(key).expect("just inserted").next_sibling = old_first;
        key
    }

    /// The node's owner is done with it (scope exited, nursery closed):
    /// free it now if nothing is attached, else when the last thing leaves.
    /// Returns the timer to cancel, if it had one.
    pub(crate) fn close(&mut self, key: Key) -> Option<TimerKey> {
        let node = self.nodes.get_mut(key)?;
        node.open = false;
        node.waker = None;
        node.watchers = Vec::new();
        let timer = node.timer.take();
        self.free_upward(key.index);
        timer
    }

    pub(crate) fn attach_task(&mut self, index: u32) {
        if let Some(node) = self.at_mut(index) {
            node.tasks += 1;
        }
    }

    pub(crate) fn detach_task(&mut self, index: u32) {
        if let Some(node) = self.at_mut(index) {
            node.tasks -= 1;
            self.free_upward(index);
        }
    }

    /// Free closed nodes with nothing attached, from `index` up.
    fn free_upward(&mut self, mut index: u32) {
        while let Some(key) = self.key_of(index) {
            let node = self.nodes.get(key).expect("key_of found it");
            if node.open || node.children > 0 || node.tasks > 0 || node.kind == NodeKind::Root {
                return;
            }
            let (parent, prev, next) = (node.parent, node.prev_sibling, node.next_sibling);
            self.sub_cancelled(usize::from(node.effective));
            self.nodes.remove(key);
            if let Some(n) = self.at_mut(prev) {
                n.next_sibling = next;
            } else if let Some(p) = self.at_mut(parent) {
                p.first_child = next;
            }
            if let Some(n) = self.at_mut(next) {
                n.prev_sibling = prev;
            }
            match self.at_mut(parent) {
                Some(p) => p.children -= 1,
                None => return,
            }
            index = parent;
        }
    }

    /// Call the node's own cancel. Wakers of every node that became
    /// effectively cancelled are pushed to `wake`.
    pub(crate) fn cancel(&mut self, key: Key, reason: CancelReason, wake: &mut Vec<Waker>) {
        let Some(node) = self.nodes.get_mut(key) else {
            return;
        };
        if node.cancel_called.is_some() {
            return;
        }
        node.cancel_called = Some(reason);
        self.recompute(key.index, wake);
    }

    pub(crate) fn set_shield(&mut self, key: Key, shield: bool, wake: &mut Vec<Waker>) {
        let Some(node) = self.nodes.get_mut(key) else {
            return;
        };
        node.shield = shield;
        self.recompute(key.index, wake);
    }

    /// Re-derive `effective` for `start` and, where it changed, below it.
    fn recompute(&mut self, start: u32, wake: &mut Vec<Waker>) {
        let mut stack = std::mem::take(&mut self.stack);
        stack.push(start);
        while let Some(index) = stack.pop() {
            let Some(node) = self.at(index) else { continue };
            let parent_effective = self.at(node.parent).is_some_and(|p| p.effective);
            let effective = node.cancel_called.is_some() || (!node.shield && parent_effective);
            if effective == node.effective {
                continue;
            }
            if effective {
                self.add_cancelled(1);
            } else {
                self.sub_cancelled(1);
            }
            let node = self.at_mut(index).expect("looked up above");
            node.effective = effective;
            if effective {
                wake.extend(node.waker.clone());
                wake.append(&mut node.watchers);
            }
            let mut child = node.first_child;
            while let Some(c) = self.at(child) {
                stack.push(child);
                child = c.next_sibling;
            }
        }
        self.stack = stack;
    }

    /// See [`Decision`].
    pub(crate) fn decision(&mut self, key: Key) -> Decision {
        let Some(node) = self.nodes.get(key) else {
            return Decision::Continue;
        };
        if !node.effective {
            return Decision::Continue;
        }
        if !node.shield
            && let Some(parent) = self.at(node.parent)
            && parent.effective
            && parent.owner == node.owner
        {
            return Decision::Continue;
        }
        if node.noticers > 0 || self.has_blocker(key.index) {
            Decision::Continue
        } else {
            Decision::Catch
        }
    }

    /// Is there, below `index` and in the same task, a shielded region
    /// still running, a nursery with live children, or a `cancelled()`
    /// future about to notice?
    fn has_blocker(&mut self, index: u32) -> bool {
        let Some(owner) = self.at(index).map(|n| n.owner) else {
            return false;
        };
        let mut stack = std::mem::take(&mut self.stack);
        let mut child = self.at(index).map_or(NONE, |n| n.first_child);
        let mut found = false;
        loop {
            while let Some(c) = self.at(child) {
                if c.owner == owner {
                    let shield_running = c.shield && c.open && !c.effective;
                    let nursery_waiting = c.kind == NodeKind::Nursery && c.tasks > 0;
                    if shield_running || nursery_waiting || (c.effective && c.noticers > 0) {
                        found = true;
                        break;
                    }
                    stack.push(c.first_child);
                }
                child = c.next_sibling;
            }
            if found {
                break;
            }
            match stack.pop() {
                Some(next) => child = next,
                None => break,
            }
        }
        stack.clear();
        self.stack = stack;
        found
    }

    /// The earliest deadline that applies at `index`: walking outward,
    /// stopping after the first shielded node. `Err(())` when the node is
    /// already effectively cancelled.
    pub(crate) fn effective_deadline(&self, index: u32) -> Result<Option<Instant>, ()> {
        let Some(node) = self.at(index) else {
            return Ok(None);
        };
        if node.effective {
            return Err(());
        }
        let mut best: Option<Instant> = None;
        let mut at = Some(node);
        while let Some(n) = at {
            if let Some(d) = n.deadline {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
            if n.shield {
                break;
            }
            at = self.at(n.parent);
        }
        Ok(best)
    }

    /// Indices of the children of `index`, newest first (for dumps).
    pub(crate) fn children(&self, index: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut child = self.at(index).map_or(NONE, |n| n.first_child);
        while let Some(c) = self.at(child) {
            out.push(child);
            child = c.next_sibling;
        }
        out
    }
}

impl Node {
    fn new(parent: u32, owner: Owner, kind: NodeKind, opts: NodeOptions) -> Node {
        Node {
            parent,
            first_child: NONE,
            next_sibling: NONE,
            prev_sibling: NONE,
            children: 0,
            tasks: 0,
            owner,
            kind,
            open: true,
            cancel_called: opts.cancelled,
            effective: false,
            shield: opts.shield,
            deadline: None,
            timer: None,
            armed: false,
            noticers: 0,
            waker: None,
            watchers: Vec::new(),
            name: opts.name,
        }
    }
}
