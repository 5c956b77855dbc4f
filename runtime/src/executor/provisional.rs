//! Lazy regions: timeouts whose node is made only if something needs it.
//!
//! A lazy [`Region`](crate::scope::Region) polls its code with an entry on
//! this stack instead of a node, at every poll until it has a node (while
//! suspended it keeps only its deadline and a timer entry: see the region
//! docs). The stack belongs to the task poll in progress (it is empty
//! between polls, and set aside while another task's future is dropped
//! inside this poll); entries are pushed and popped in LIFO order by
//! `poll_provisional`, also on unwind.
//!
//! An entry gets its node when something inside needs the current node (a
//! nested region that is not lazy, `cancelled()`,
//! `current_effective_deadline()`, a dump): `materialize` then makes the
//! nodes of every entry that has none yet, outermost first. `made` counts the entries at the bottom of the stack
//! that have their node, so a stack of *n* nested timeouts that suspends
//! makes its *n* nodes in one pass, and each level finds its own already
//! made: O(n) for the whole stack, where scanning it from each level would
//! be O(n²).
//!
//! The deadline counts from entry: it is `poll_now() + timeout`, read when
//! the entry is pushed (see `Core::poll_now` for the clock reading it
//! uses), not when the node is made.

use super::Core;
use crate::scope::tree::NodeOptions;
use crate::scope::{NodeKind, ScopeId};
use crate::slab::Key;
use crate::time::Instant;

/// `Provisional::parent` when the parent is the entry below, whose node
/// did not exist yet at entry.
const PARENT_BELOW: u32 = u32::MAX - 1;

struct Provisional {
    /// `Instant::NEVER` for a region without a deadline.
    deadline: Instant,
    /// Names this entry for the region's cell (`ScopeCell`'s provisional
    /// status), so a handle can find it (and make its node) mid-poll.
    token: u64,
    /// The earliest deadline of this entry and of the entries below it
    /// that it is directly inside (no other region between: a shield
    /// between would keep their cancellation from reaching it).
    cover: Instant,
    /// The entries below that it is directly inside have a deadline no
    /// later than its own.
    covered: bool,
    /// The current node at entry, or [`PARENT_BELOW`].
    parent: u32,
    kind: NodeKind,
    node: Option<Key>,
}

/// The stack of lazy regions entered by the code being polled.
#[derive(Default)]
pub(crate) struct ProvisionalStack {
    entries: Vec<Provisional>,
    /// `entries[..made]` have their node.
    made: usize,
}

impl ProvisionalStack {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What `poll_provisional` learned besides the poll.
pub(crate) struct Provisioned {
    /// The region's node, if something inside needed one.
    pub(crate) node: Option<ScopeId>,
    /// An enclosing lazy region of this poll has a deadline no later than
    /// this one's: its timer (or its own cover's) fires first and drops
    /// this region with it, so this one needs no timer of its own.
    pub(crate) covered: bool,
}

impl Core {
    /// Poll `f` (a lazy region's code) with a provisional entry for the
    /// region, whose deadline is `deadline`.
    #[inline]
    pub(crate) fn poll_provisional<T>(
        &self,
        kind: NodeKind,
        deadline: Instant,
        token: u64,
        node_if_pending: bool,
        f: impl FnOnce() -> T,
    ) -> (T, Provisioned)
    where
        T: Copy + Into<bool>,
    {
        let outer_node = self.current_node.get();
        let depth = {
            let mut stack = self.provisional.borrow_mut();
            let (parent, below_cover) = match stack.entries.last() {
                // Right inside the region below (no node of its own yet):
                // its cover covers us too.
                Some(below) if stack.made < stack.entries.len() => {
                    (PARENT_BELOW, Some(below.cover))
                }
                // Right inside the node of the region below.
                Some(below) if below.node.is_some_and(|n| n.index == outer_node) => {
                    (outer_node, Some(below.cover))
                }
                // Another region lies between (a shield, say): the regions
                // below cannot vouch for a cancellation reaching us.
                Some(_) | None => (outer_node, None),
            };
            stack.entries.push(Provisional {
                deadline,
                token,
                cover: below_cover.map_or(deadline, |c| c.min(deadline)),
                covered: below_cover.is_some_and(|c| c <= deadline),
                parent,
                kind,
                node: None,
            });
            stack.entries.len() - 1
        };
        let pop = PopOnUnwind {
            core: self,
            depth,
            outer_node,
        };
        let poll = f();
        std::mem::forget(pop);
        if node_if_pending && !poll.into() {
            self.materialize();
        }
        let (node, covered) = self.pop_provisional(depth, outer_node);
        let node = node.map(|key| ScopeId::new(self.key, key));
        (poll, Provisioned { node, covered })
    }

    /// Pop entry `depth` (the top) and make the current node what it was
    /// around the entry: the node of the entry below if it has one by now,
    /// else the node current at entry. Returns the entry's node and
    /// whether the entries below cover its deadline.
    #[inline]
    fn pop_provisional(&self, depth: usize, outer_node: u32) -> (Option<Key>, bool) {
        let mut stack = self.provisional.borrow_mut();
        debug_assert_eq!(
            stack.entries.len(),
            depth + 1,
            "provisional regions leave in LIFO order"
        );
        let Some(entry) = stack.entries.pop() else {
            return (None, false);
        };
        stack.made = stack.made.min(stack.entries.len());
        let current = match (entry.parent, stack.entries.last().and_then(|b| b.node)) {
            (PARENT_BELOW, Some(node)) => node.index,
            _ => outer_node,
        };
        self.current_node.set(current);
        (entry.node, entry.covered)
    }

    /// Make the node of every provisional entry that has none, outermost
    /// first, and make the innermost one current.
    pub(crate) fn materialize(&self) {
        let mut stack = self.provisional.borrow_mut();
        if stack.made == stack.entries.len() {
            return;
        }
        let owner = self.current_owner();
        let mut scopes = self.scopes.borrow_mut();
        let mut parent_below = None;
        for i in stack.made..stack.entries.len() {
            if i > 0 {
                parent_below = stack.entries[i - 1].node.map(|k| k.index);
            }
            let e = &stack.entries[i];
            let parent = match e.parent {
                PARENT_BELOW => parent_below.expect("the entry below was made first"),
                parent => parent,
            };
            let opts = NodeOptions {
                deadline: Some(e.deadline).filter(|&d| d != Instant::NEVER),
                ..NodeOptions::default()
            };
            let key = scopes.create(parent, owner, e.kind, opts);
            stack.entries[i].node = Some(key);
            self.current_node.set(key.index);
        }
        stack.made = stack.entries.len();
    }

    /// A fresh token for a provisional entry, and the depth it will have.
    pub(crate) fn next_provisional(&self) -> (usize, u64) {
        let token = self.provisional_tokens.get().wrapping_add(1);
        self.provisional_tokens.set(token);
        (self.provisional.borrow().entries.len(), token)
    }

    /// The node of the provisional entry `depth` if it is still the one
    /// named `token` (made now if it had none), for a handle acting on a
    /// region during its first poll. `None` if that poll is not on the
    /// stack (it was set aside): the caller latches the change in the
    /// cell, and the region applies it when it leaves the stack.
    pub(crate) fn provisional_node(&self, depth: u32, token: u64) -> Option<Key> {
        let found = {
            let stack = self.provisional.borrow();
            stack
                .entries
                .get(depth as usize)
                .is_some_and(|e| e.token == token)
        };
        if !found {
            return None;
        }
        self.materialize();
        self.provisional.borrow().entries[depth as usize].node
    }

    /// Set the stack aside (a task's future is dropped inside another
    /// task's poll: its destructors must not see this poll's entries).
    pub(crate) fn take_provisional(&self) -> ProvisionalStack {
        std::mem::take(&mut *self.provisional.borrow_mut())
    }

    pub(crate) fn restore_provisional(&self, stack: ProvisionalStack) {
        *self.provisional.borrow_mut() = stack;
    }
}

/// Pops a provisional entry whose code panicked, closing its node if one
/// was made, so the stack stays consistent for whoever catches the panic.
struct PopOnUnwind<'a> {
    core: &'a Core,
    depth: usize,
    outer_node: u32,
}

impl Drop for PopOnUnwind<'_> {
    fn drop(&mut self) {
        if let (Some(key), _) = self.core.pop_provisional(self.depth, self.outer_node) {
            self.core.close_node_of_panicked(key);
        }
    }
}
