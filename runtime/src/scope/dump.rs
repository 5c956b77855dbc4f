//! `scope::dump`: the live tree as text.

use std::fmt::{self, Write};

use super::tree::{NONE, Owner, ScopeTable};
use crate::executor::{Core, TaskState, TaskSummary};
use crate::task::TaskId;
use crate::time::Instant;

/// What is left to print, innermost last (the walk's explicit stack).
enum Item {
    Node { index: u32, depth: usize },
    Task { at: usize, depth: usize },
}

/// A task id within one runtime's dump: `task 3.0` (index.generation).
struct Short(TaskId);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}.{}", self.0.index, self.0.generation)
    }
}

/// One line per node, indented by depth; under it the tasks spawned into
/// it, each followed by the nodes that task opened there (so a task's
/// nurseries, and their children's tasks, read as its subtree); then the
/// node's other children.
pub(super) fn render(core: &Core) -> String {
    let scopes = core.scopes.borrow();
    let now = core.clock.now();
    let tasks = core.task_list();
    let mut out = String::new();
    let mut stack = vec![Item::Node { index: 0, depth: 0 }];
    while let Some(item) = stack.pop() {
        match item {
            Item::Node { index, depth } => {
                if scopes.at(index).is_none() {
                    continue;
                }
                node_line(&mut out, &scopes, index, depth, now);
                // Pushed in reverse: the stack pops them in this order.
                let here: Vec<usize> = (0..tasks.len())
                    .filter(|&i| tasks[i].scope == index)
                    .collect();
                let children: Vec<u32> = scopes
                    .children(index)
                    .into_iter()
                    .filter(|&c| c != NONE)
                    .collect();
                let owned_by =
                    |c: u32, id: TaskId| scopes.at(c).is_some_and(|n| n.owner == Owner::Task(id));
                for &c in &children {
                    if !here.iter().any(|&t| owned_by(c, tasks[t].id)) {
                        stack.push(Item::Node {
                            index: c,
                            depth: depth + 1,
                        });
                    }
                }
                for &t in here.iter().rev() {
                    for &c in &children {
                        if owned_by(c, tasks[t].id) {
                            stack.push(Item::Node {
                                index: c,
                                depth: depth + 2,
                            });
                        }
                    }
                    stack.push(Item::Task {
                        at: t,
                        depth: depth + 1,
                    });
                }
            }
            Item::Task { at, depth } => task_line(&mut out, &tasks[at], depth, now),
        }
    }
    out
}

fn node_line(out: &mut String, scopes: &ScopeTable, index: u32, depth: usize, now: Instant) {
    let Some(node) = scopes.at(index) else { return };
    let pad = "  ".repeat(depth);
    let _ = write!(out, "{pad}{:?}", node.kind);
    if index == 0 {
        out.push_str(" (root)");
    }
    if let Some(name) = scopes.name_at(index) {
        let _ = write!(out, " {name:?}");
    }
    let _ = write!(out, " #{index}");
    match node.owner {
        Owner::Task(id) => {
            let _ = write!(out, " in {}", Short(id));
        }
        Owner::Root => out.push_str(" in block_on"),
        Owner::Nobody => {}
    }
    if let Some(reason) = node.cancel_called {
        let _ = write!(out, " cancel_called({reason:?})");
    }
    if node.effective {
        out.push_str(" CANCELLED");
    }
    if node.shield {
        out.push_str(" shielded");
    }
    if !node.open {
        out.push_str(" closed");
    }
    if let Some(d) = node.deadline {
        if d >= now {
            let _ = write!(out, " deadline in {:?}", d - now);
        } else {
            let _ = write!(out, " deadline {:?} ago", now - d);
        }
    }
    out.push('\n');
}

/// `- task 3.0 "worker" parked 1.2s at src/foo.rs:12:5`.
fn task_line(out: &mut String, task: &TaskSummary, depth: usize, now: Instant) {
    let pad = "  ".repeat(depth);
    let _ = write!(out, "{pad}- {}", Short(task.id));
    if let Some(name) = &task.name {
        let _ = write!(out, " {name:?}");
    }
    match task.state {
        TaskState::Running => out.push_str(" running"),
        TaskState::Runnable => out.push_str(" runnable"),
        TaskState::Parked { at, since } => {
            let _ = write!(out, " parked {:?}", now.saturating_duration_since(since));
            if let Some(at) = at {
                let _ = write!(out, " at {at}");
            }
        }
    }
    out.push('\n');
}
