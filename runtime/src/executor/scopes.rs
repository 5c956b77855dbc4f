//! The runtime's side of scopes: entering and leaving nodes (also lazily),
//! cancelling them with their deadlines in the timer wheel, and waking the
//! code a cancellation reaches within the current tick.

use std::task::Waker;

use super::{Core, TaskSummary};
use crate::scope::{CancelReason, Deadline, NodeKind, NodeOptions, Owner, ScopeId};
use crate::slab::Key;
use crate::task::TaskId;
use crate::task::raw::RawTask;
use crate::task::waker::WakeId;
use crate::time::Instant;

/// A timeout scope whose node is created only if something needs it.
pub(crate) struct Provisional {
    kind: NodeKind,
    timeout: std::time::Duration,
    /// `current_node` when it was entered.
    parent: u32,
    /// Entered while the next outer provisional scope had no node yet: its
    /// parent is that scope's node, once there is one.
    under_outer: bool,
    owner: Owner,
    node: Option<Key>,
}

impl Core {
    /// Every live task, for `scope::dump`.
    pub(crate) fn task_list(&self) -> Vec<TaskSummary> {
        let tasks = self.tasks.borrow();
        let names = self.names.borrow();
        tasks
            .keys()
            .into_iter()
            .filter_map(|key| {
                let raw = *tasks.get(key)?;
                let state = raw.state();
                Some(TaskSummary {
                    id: TaskId::from_key(self.key, key),
                    name: names.get(&key.index).cloned(),
                    scope: raw.header().scope.get(),
                    state: if state.is_running() {
                        "running"
                    } else if state.is_scheduled() {
                        "scheduled"
                    } else {
                        "parked"
                    },
                })
            })
            .collect()
    }

    /// Abort every task spawned into the node at `index` (a scan of the task
    /// slab: this is the rare path of a nursery dropped from outside).
    pub(crate) fn abort_tasks_in(&self, index: u32) {
        let doomed: Vec<(TaskId, RawTask)> = {
            let tasks = self.tasks.borrow();
            tasks
                .keys()
                .into_iter()
                .filter_map(|key| {
                    let raw = *tasks.get(key)?;
                    (raw.header().scope.get() == index)
                        .then_some((TaskId::from_key(self.key, key), raw))
                })
                .collect()
        };
        for (id, raw) in doomed {
            // Still there? An earlier abort's destructors may have ended it.
            if self.tasks.borrow().get(id.key()).is_some() {
                self.abort(id, raw);
            }
        }
    }

    /// Whether the code being polled is in an effectively cancelled node:
    /// one `Cell` read while nothing is cancelled.
    #[inline]
    pub(crate) fn current_cancelled(&self) -> bool {
        self.cancelled_nodes.get() > 0 && self.current_node_cancelled()
    }

    #[inline(never)]
    fn current_node_cancelled(&self) -> bool {
        self.scopes
            .borrow()
            .is_cancelled_at(self.current_node.get())
    }

    pub(crate) fn enter_provisional(&self, kind: NodeKind, timeout: std::time::Duration) -> usize {
        let owner = match self.current.get() {
            Some(id) => Owner::Task(id),
            None => Owner::Root,
        };
        let mut stack = self.provisional.borrow_mut();
        let under_outer = stack.last().is_some_and(|outer| outer.node.is_none());
        stack.push(Provisional {
            kind,
            timeout,
            parent: self.current_node.get(),
            under_outer,
            owner,
            node: None,
        });
        stack.len() - 1
    }

    /// Create the nodes of every provisional scope (a nested scope, a
    /// query of the current scope or its deadline needs them) and make the
    /// innermost one current.
    pub(crate) fn materialize(&self) {
        let pending: Vec<usize> = {
            let stack = self.provisional.borrow();
            (0..stack.len())
                .filter(|&i| stack[i].node.is_none())
                .collect()
        };
        if pending.is_empty() {
            return;
        }
        let now = self.clock.now();
        for i in pending {
            let (parent, owner, kind, timeout) = {
                let stack = self.provisional.borrow();
                let e = &stack[i];
                let parent = match e.under_outer {
                    true => stack[i - 1].node.map_or(e.parent, |k| k.index),
                    false => e.parent,
                };
                (parent, e.owner, e.kind, e.timeout)
            };
            let key = self
                .scopes
                .borrow_mut()
                .create(parent, owner, kind, NodeOptions::default());
            if let Some(node) = self.scopes.borrow_mut().get_mut(key) {
                node.deadline = Some(now + timeout);
            }
            self.provisional.borrow_mut()[i].node = Some(key);
            self.current_node.set(key.index);
        }
    }

    /// Pop provisional scope `depth`; with `keep`, materialize it first.
    /// Returns its node if it has one, and restores the current node.
    pub(crate) fn leave_provisional(&self, depth: usize, keep: bool) -> Option<ScopeId> {
        if keep {
            self.materialize();
        }
        let mut stack = self.provisional.borrow_mut();
        debug_assert_eq!(
            stack.len(),
            depth + 1,
            "provisional scopes leave in LIFO order"
        );
        let entry = stack.pop()?;
        let current = match stack.last() {
            Some(outer) if entry.under_outer => outer.node.map_or(entry.parent, |k| k.index),
            _ => entry.parent,
        };
        self.current_node.set(current);
        entry.node.map(|key| ScopeId::new(self.key, key))
    }

    pub(crate) fn enter_node(&self, kind: NodeKind, mut opts: NodeOptions) -> ScopeId {
        self.materialize();
        let owner = match self.current.get() {
            Some(id) => Owner::Task(id),
            None => Owner::Root,
        };
        let deadline = opts.deadline.take();
        let key = self
            .scopes
            .borrow_mut()
            .create(self.current_node.get(), owner, kind, opts);
        if let Some(deadline) = deadline {
            // One clock read: the timer entry waits for `arm_node`.
            let now = self.clock.now();
            let at = match deadline {
                Deadline::At(at) => at,
                Deadline::After(timeout) => now + timeout,
            };
            if let Some(node) = self.scopes.borrow_mut().get_mut(key) {
                node.deadline = Some(at);
            }
            if at <= now {
                self.cancel_node(key, CancelReason::Deadline);
            }
        }
        ScopeId::new(self.key, key)
    }

    pub(crate) fn cancel_node(&self, key: Key, reason: CancelReason) {
        let mut wake = Vec::new();
        let timer = {
            let mut scopes = self.scopes.borrow_mut();
            scopes.cancel(key, reason, &mut wake);
            // A cancelled scope's deadline can change nothing any more.
            scopes.get_mut(key).and_then(|n| n.timer.take())
        };
        if let Some(timer) = timer {
            self.timers.borrow_mut().remove(timer);
        }
        self.wake_urgently(wake);
    }

    /// Wake the code a cancellation reached, to run in the current tick.
    pub(crate) fn wake_urgently(&self, wakers: Vec<Waker>) {
        let was = self.urgent.replace(true);
        wakers.into_iter().for_each(Waker::wake);
        self.urgent.set(was);
    }

    /// Record a node's deadline; cancel it now if the deadline has passed,
    /// else (once armed) keep its timer entry in step.
    pub(crate) fn set_node_deadline(&self, key: Key, deadline: Option<Instant>) {
        let (open, cancelled, armed, timer) = {
            let mut scopes = self.scopes.borrow_mut();
            let Some(node) = scopes.get_mut(key) else {
                return;
            };
            node.deadline = deadline;
            (
                node.open,
                node.cancel_called.is_some(),
                node.armed,
                node.timer,
            )
        };
        if !open || cancelled {
            return;
        }
        if deadline.is_some_and(|d| d <= self.clock.now()) {
            self.cancel_node(key, CancelReason::Deadline);
            return;
        }
        if !armed {
            return;
        }
        let Some(deadline) = deadline else {
            if let Some(timer) = timer {
                self.timers.borrow_mut().remove(timer);
                if let Some(node) = self.scopes.borrow_mut().get_mut(key) {
                    node.timer = None;
                }
            }
            return;
        };
        let tick = self.clock.tick_for(deadline);
        let mut timers = self.timers.borrow_mut();
        match timer {
            // Later: the entry stays where it is and is re-filed lazily.
            Some(timer) if !timers.is_fired(timer) => timers.reset_deadline(timer, tick),
            _ => {
                if let Some(timer) = timer {
                    timers.remove(timer);
                }
                let waker = crate::task::waker::scope_timer_waker(WakeId::task(
                    self.key,
                    key.index,
                    key.generation,
                ));
                let timer = timers.insert(tick, waker);
                drop(timers);
                if let Some(node) = self.scopes.borrow_mut().get_mut(key) {
                    node.timer = Some(timer);
                }
            }
        }
    }

    /// The code in a node suspended: from now on its deadline needs a timer.
    pub(crate) fn arm_node(&self, key: Key) {
        let deadline = {
            let mut scopes = self.scopes.borrow_mut();
            let Some(node) = scopes.get_mut(key) else {
                return;
            };
            if node.armed {
                return;
            }
            node.armed = true;
            node.deadline
        };
        if deadline.is_some() {
            self.set_node_deadline(key, deadline);
        }
    }

    /// A scope's deadline timer fired (see `task::waker::scope_timer_waker`).
    pub(crate) fn deadline_fired(&self, id: WakeId) {
        let found = self
            .scopes
            .borrow()
            .get_masked_key(id.index(), id.generation());
        let Some(key) = found else { return };
        let (due, timer) = {
            let mut scopes = self.scopes.borrow_mut();
            let Some(node) = scopes.get_mut(key) else {
                return;
            };
            let due = node.deadline.is_some_and(|d| d <= self.clock.now());
            (due, if due { node.timer.take() } else { None })
        };
        if let Some(timer) = timer {
            self.timers.borrow_mut().remove(timer);
        }
        if due {
            self.cancel_node(key, CancelReason::Deadline);
        }
    }
}
