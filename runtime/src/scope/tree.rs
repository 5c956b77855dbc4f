//! The scope tree: nodes, their cancellation state, and the walk that
//! carries a cancellation down to every node it covers.
//!
//! This is the "cancel status" half of trio's design (`CancelStatus`); the
//! half a user holds is a [`ScopeCell`](super::ScopeCell), which owns a
//! scope's settings while the scope is not entered and hands them to its
//! node for the time it is (see `cell.rs`).
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

/// What a region stands for: how it takes part in the drop decision, and
/// how dumps show it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeKind {
    /// The runtime's root.
    Root,
    /// A node made with [`open_scope`](super::open_scope): tasks hang off
    /// it, no code runs in it, nothing cancels it.
    Bare,
    /// A cancel scope (also a timeout or a shield).
    Scope,
    /// A nursery's scope: its children's tasks hang below it, and while it
    /// is open (its children are finishing) an enclosing region waits.
    Nursery,
    /// A nursery child's private scope, the boundary of its task.
    Child,
}

/// Why a scope's own cancel was called. The first cause wins: a scope
/// cancelled by its deadline and then explicitly still says `Deadline`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CancelReason {
    /// `cancel()` on a handle.
    Explicit,
    /// The scope's deadline passed.
    Deadline,
    /// A nursery's child or body failed (an `Err` or a panic).
    Failure,
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
    /// suspends: a scope that completes without suspending never touches
    /// the timer wheel.
    pub(crate) armed: bool,
    /// The waker of the code polling inside the node: woken on cancel.
    pub(crate) waker: Option<Waker>,
    /// Further wakers to wake on cancel: one per pending `cancelled()`
    /// future, under the id it was registered with (it removes its entry
    /// when dropped, so a node that outlives many such futures, the root
    /// above all, does not collect them). Boxed: most nodes have none, and
    /// a node is one pointer smaller than with a `Vec` inline.
    #[allow(clippy::box_collection)]
    pub(crate) watchers: Option<Box<Vec<(u64, Waker)>>>,
    /// Has a name in `ScopeTable::names` (names are rare: kept aside, so
    /// nodes stay small).
    pub(crate) named: bool,
}

/// Settings of a node being created.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeOptions {
    /// Not cancelled by its ancestors.
    pub(crate) shield: bool,
    /// Cancelled on creation (a handle cancelled before entry).
    pub(crate) cancelled: Option<CancelReason>,
    /// A name for dumps.
    pub(crate) name: Option<Rc<str>>,
    /// The absolute deadline.
    pub(crate) deadline: Option<Instant>,
}

/// What a node knew when it was closed: the settings its scope's cell
/// takes back, and the timer to cancel.
#[derive(Debug)]
pub(crate) struct Closed {
    pub(crate) cancel_called: Option<CancelReason>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) shield: bool,
    pub(crate) timer: Option<TimerKey>,
}

pub(crate) struct ScopeTable {
    nodes: GenSlab<Node>,
    /// Nodes now effectively cancelled: while zero, no code is in a
    /// cancelled scope and `current_cancelled` needs no lookup. Shared
    /// with `Core`, which reads it without borrowing the table.
    cancelled_nodes: Rc<Cell<usize>>,
    /// Reused by walks, so they do not allocate per cancellation.
    stack: Vec<u32>,
    /// Names of the named nodes, by index (for dumps).
    names: std::collections::HashMap<u32, Rc<str>>,
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
            names: std::collections::HashMap::new(),
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
    #[inline]
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
        mut opts: NodeOptions,
    ) -> Key {
        let (parent_effective, old_first) = {
            let p = self.at(parent).expect("parent node is alive");
            (p.effective, p.first_child)
        };
        let name = opts.name.take();
        let mut node = Node::new(parent, owner, kind, opts);
        node.effective = node.cancel_called.is_some() || (!node.shield && parent_effective);
        node.next_sibling = old_first;
        node.named = name.is_some();
        self.add_cancelled(usize::from(node.effective));
        let key = self.nodes.insert(node).expect("scope slab exhausted");
        let p = self.at_mut(parent).expect("parent node is alive");
        p.children += 1;
        p.first_child = key.index;
        if let Some(old) = self.at_mut(old_first) {
            old.prev_sibling = key.index;
        }
        if let Some(name) = name {
            self.names.insert(key.index, name);
        }
        key
    }

    /// Name a node (for dumps).
    pub(crate) fn set_name(&mut self, key: Key, name: Rc<str>) {
        if let Some(node) = self.nodes.get_mut(key) {
            node.named = true;
            self.names.insert(key.index, name);
        }
    }

    /// The name of the node at `index`.
    pub(crate) fn name_at(&self, index: u32) -> Option<&Rc<str>> {
        self.at(index)
            .filter(|n| n.named)
            .and_then(|_| self.names.get(&index))
    }

    /// The node's owner is done with it (scope exited, nursery closed):
    /// free it now if nothing is attached, else when the last thing leaves.
    /// Hands back its wakers (to drop outside the table's borrow: dropping
    /// a foreign waker may run code) and, unless it was closed already,
    /// what it knew and the timer to cancel.
    #[allow(clippy::box_collection, clippy::type_complexity)]
    pub(crate) fn close(
        &mut self,
        key: Key,
    ) -> (
        Option<Waker>,
        Option<Box<Vec<(u64, Waker)>>>,
        Option<Closed>,
    ) {
        let Some(node) = self.nodes.get_mut(key) else {
            return (None, None, None);
        };
        let wakers = (node.waker.take(), node.watchers.take());
        if !node.open {
            return (wakers.0, wakers.1, None);
        }
        node.open = false;
        let closed = Closed {
            cancel_called: node.cancel_called,
            deadline: node.deadline,
            shield: node.shield,
            timer: node.timer.take(),
        };
        self.free_upward(key.index);
        (wakers.0, wakers.1, Some(closed))
    }

    pub(crate) fn attach_task(&mut self, index: u32) {
        if let Some(node) = self.at_mut(index) {
            node.tasks += 1;
        }
    }

    pub(crate) fn detach_task(&mut self, index: u32) {
        if let Some(node) = self.at_mut(index) {
            node.tasks -= 1;
            // Most detaches leave the node in use (the root, an open
            // nursery): decided here, without the walk's setup.
            if node.is_unused() {
                self.free_upward(index);
            }
        }
    }

    /// Free closed nodes with nothing attached, from `index` up.
    fn free_upward(&mut self, mut index: u32) {
        while let Some(key) = self.key_of(index) {
            let node = self.nodes.get(key).expect("key_of found it");
            if !node.is_unused() {
                return;
            }
            let (parent, named) = (node.parent, node.named);
            self.sub_cancelled(usize::from(node.effective));
            self.unlink(index);
            self.nodes.discard(key);
            if named {
                self.names.remove(&index);
            }
            if self.at(parent).is_none() {
                return;
            }
            index = parent;
        }
    }

    /// Take the node at `index` out of its parent's child list.
    fn unlink(&mut self, index: u32) {
        let Some(node) = self.at(index) else { return };
        let (parent, prev, next) = (node.parent, node.prev_sibling, node.next_sibling);
        if let Some(n) = self.at_mut(prev) {
            n.next_sibling = next;
        } else if let Some(p) = self.at_mut(parent) {
            p.first_child = next;
        }
        if let Some(n) = self.at_mut(next) {
            n.prev_sibling = prev;
        }
        if let Some(p) = self.at_mut(parent) {
            p.children -= 1;
        }
    }

    /// Move the node at `key`, with its subtree, under the open node
    /// `parent`, and re-derive what is cancelled there (wakers of nodes
    /// that became cancelled go to `wake`). False, and nothing changed, if
    /// either is gone, `parent` is closed, or `parent` is in the subtree.
    pub(crate) fn reparent(&mut self, key: Key, parent: Key, wake: &mut Vec<Waker>) -> bool {
        if self.nodes.get(key).is_none() || !self.nodes.get(parent).is_some_and(|p| p.open) {
            return false;
        }
        if self.is_inside(parent.index, key.index) {
            return false;
        }
        let old_parent = self.at(key.index).map_or(NONE, |n| n.parent);
        self.unlink(key.index);
        let old_first = {
            let p = self.at_mut(parent.index).expect("checked above");
            p.children += 1;
            std::mem::replace(&mut p.first_child, key.index)
        };
        if let Some(old) = self.at_mut(old_first) {
            old.prev_sibling = key.index;
        }
        let node = self.at_mut(key.index).expect("checked above");
        node.parent = parent.index;
        node.prev_sibling = NONE;
        node.next_sibling = old_first;
        self.recompute(key.index, wake);
        // The old parent may have been waiting only for this node.
        self.free_upward(old_parent);
        true
    }

    /// Whether the node at `index` is `ancestor` or lies below it.
    fn is_inside(&self, mut index: u32, ancestor: u32) -> bool {
        while let Some(node) = self.at(index) {
            if index == ancestor {
                return true;
            }
            index = node.parent;
        }
        false
    }

    /// Move a task of `owner` attached at `from` to the open node `to`:
    /// its attachment, and its regions hanging right below `from`. False,
    /// and nothing changed, if `to` is closed or gone, or lies inside one
    /// of those regions.
    pub(crate) fn move_task(
        &mut self,
        from: u32,
        to: Key,
        owner: Owner,
        wake: &mut Vec<Waker>,
    ) -> bool {
        if !self.nodes.get(to).is_some_and(|n| n.open) {
            return false;
        }
        let mut regions = Vec::new();
        let mut child = self.at(from).map_or(NONE, |n| n.first_child);
        while let Some(c) = self.at(child) {
            if c.owner == owner {
                regions.push(child);
            }
            child = c.next_sibling;
        }
        if regions.iter().any(|&r| self.is_inside(to.index, r)) {
            return false;
        }
        for &r in &regions {
            if let Some(key) = self.key_of(r) {
                self.reparent(key, to, wake);
            }
        }
        if let Some(node) = self.at_mut(to.index) {
            node.tasks += 1;
        }
        self.detach_task(from);
        true
    }

    /// Call the node's own cancel. Wakers of every node that became
    /// effectively cancelled are pushed to `wake`. False if the node is
    /// gone or was cancelled already (the first cause stays).
    pub(crate) fn cancel(&mut self, key: Key, reason: CancelReason, wake: &mut Vec<Waker>) -> bool {
        let Some(node) = self.nodes.get_mut(key) else {
            return false;
        };
        if node.cancel_called.is_some() {
            return false;
        }
        node.cancel_called = Some(reason);
        self.recompute(key.index, wake);
        true
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
                if let Some(watchers) = node.watchers.take() {
                    wake.extend(watchers.into_iter().map(|(_, w)| w));
                }
            }
            let mut child = node.first_child;
            while let Some(c) = self.at(child) {
                stack.push(child);
                child = c.next_sibling;
            }
        }
        self.stack = stack;
    }

    /// Must the guard of the region at `key` drop the code inside it now?
    /// Yes when the region is effectively cancelled and nothing inside it,
    /// in the same task, must finish first: a shielded region still open
    /// (it runs to completion, or catches its own cancellation), or a
    /// nursery still open (its children are finishing, and it has a result
    /// to report). (Code that holds, `Core::hold`, is the region's own
    /// business: it polls instead of asking.)
    pub(crate) fn must_drop(&mut self, key: Key) -> bool {
        let Some(node) = self.nodes.get(key) else {
            return false;
        };
        node.effective && !self.has_blocker(key.index)
    }

    /// After a guard dropped the code of the region at `key`: the reason
    /// to report as caught, if the region's own cancel was called and no
    /// enclosing cancellation is visible to it (it is shielded, or its
    /// parent is not cancelled: trio's rule). `None` means the
    /// cancellation came from outside and keeps moving outward.
    pub(crate) fn caught(&self, key: Key) -> Option<CancelReason> {
        let node = self.nodes.get(key)?;
        let outer_visible = !node.shield && self.at(node.parent).is_some_and(|p| p.effective);
        node.cancel_called.filter(|_| !outer_visible)
    }

    /// Is there, below `index` and in the same task, a region that must
    /// finish before `index`'s code is dropped (see [`Self::must_drop`])?
    pub(crate) fn has_blocker(&mut self, index: u32) -> bool {
        let Some((owner, first_child)) = self.at(index).map(|n| (n.owner, n.first_child)) else {
            return false;
        };
        if first_child == NONE {
            return false;
        }
        let mut stack = std::mem::take(&mut self.stack);
        let mut child = first_child;
        let mut found = false;
        loop {
            while let Some(c) = self.at(child) {
                if c.owner == owner {
                    let shield_open = c.shield && c.open;
                    let nursery_open = c.kind == NodeKind::Nursery && c.open;
                    if shield_open || nursery_open {
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
    /// Closed, with no task and no child node: nothing can reach it any
    /// more, so it is freed. The root never is.
    #[inline]
    fn is_unused(&self) -> bool {
        !self.open && self.children == 0 && self.tasks == 0 && self.kind != NodeKind::Root
    }

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
            deadline: opts.deadline,
            timer: None,
            armed: false,
            waker: None,
            watchers: None,
            named: false,
        }
    }
}
