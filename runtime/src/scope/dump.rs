//! `scope::dump`: the live tree as text.

use std::fmt::Write;

use super::tree::{NONE, Owner};
use crate::executor::Core;

/// One line per node, indented by depth, followed by the tasks spawned
/// into it. Walks with an explicit stack.
pub(super) fn render(core: &Core) -> String {
    let scopes = core.scopes.borrow();
    let now = core.clock.now();
    let tasks = core.task_list();
    let mut out = String::new();
    let mut stack = vec![(0u32, 0usize)];
    while let Some((index, depth)) = stack.pop() {
        let Some(node) = scopes.at(index) else {
            continue;
        };
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
                let _ = write!(out, " in {id}");
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
        for task in tasks.iter().filter(|t| t.scope == index) {
            let _ = write!(out, "{pad}  - {}", task.id);
            if let Some(name) = &task.name {
                let _ = write!(out, " {name:?}");
            }
            let _ = writeln!(out, " {}", task.state);
        }
        for child in scopes.children(index) {
            if child != NONE {
                stack.push((child, depth + 1));
            }
        }
    }
    out
}
