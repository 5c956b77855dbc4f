//! The task tree (trio's `Task.parent_nursery` and `child_nurseries`) and
//! the await points [`dump`](super::dump) shows.

use std::panic::Location;

use super::ScopeId;
use super::tree::{NodeKind, Owner};
use crate::context;
use crate::executor::Core;
use crate::task::TaskId;

/// The nursery `task` belongs to: the nearest node of kind
/// [`NodeKind::Nursery`] at or above the node it was spawned into (for a
/// nursery's child, that nursery). `None` for a task spawned outside any
/// nursery (with [`spawn`](crate::spawn), at the root), a finished task,
/// or a task of a runtime that is gone.
///
/// A nursery gets its node lazily, when its body first suspends or it
/// first spawns (see [`dump`](super::dump)); its children always have
/// one to name.
///
/// ```
/// use arbor_runtime::scope::{self, NodeKind, Region, ScopeCell};
/// arbor_runtime::run(async {
///     let free = arbor_runtime::spawn(std::future::pending::<()>());
///     assert_eq!(scope::parent_nursery(free.id()), None);
///     // What `arbor::nursery` does underneath: a nursery region, and a
///     // child spawned into its node.
///     let nursery = Region::new(ScopeCell::new(), NodeKind::Nursery, async {
///         let node = scope::current_scope();
///         let child = scope::spawn_in(node, None, async {}).unwrap();
///         assert_eq!(scope::parent_nursery(child.id()), Some(node));
///         child.await.unwrap();
///     });
///     let mut nursery = std::pin::pin!(nursery);
///     std::future::poll_fn(|cx| match nursery.as_mut().poll_inner(cx) {
///         scope::Step::Ready(()) => std::task::Poll::Ready(()),
///         _ => std::task::Poll::Pending,
///     })
///     .await;
///     free.abort();
/// });
/// ```
pub fn parent_nursery(task: TaskId) -> Option<ScopeId> {
    context::with_runtime(task.runtime, |core| {
        let scopes = core.scopes.borrow();
        let mut index = core.task_scope(task)?;
        loop {
            let node = scopes.at(index)?;
            if node.kind == NodeKind::Nursery {
                return scopes.key_of(index).map(|key| ScopeId::new(core.key, key));
            }
            if index == 0 {
                return None;
            }
            index = node.parent;
        }
    })
    .flatten()
}

/// The nurseries `task` has open now (trio's `child_nurseries`): the
/// alive nodes of kind [`NodeKind::Nursery`] it owns, outermost first.
/// Empty for a finished task or one of a runtime that is gone.
///
/// A nursery that has not needed a node yet (its body has not suspended
/// and nothing was spawned into it) is not listed, except when the task
/// asks about itself: its own regions get their nodes for the call.
///
/// ```
/// arbor_runtime::run(async {
///     let me = arbor_runtime::spawn(async {
///         let id = arbor_runtime::current_task_id().unwrap();
///         arbor_runtime::scope::child_nurseries(id)
///     });
///     assert!(me.await.unwrap().is_empty(), "no nursery open");
/// });
/// ```
pub fn child_nurseries(task: TaskId) -> Vec<ScopeId> {
    context::with_runtime(task.runtime, |core| {
        if core.task_scope(task).is_none() {
            return Vec::new();
        }
        if crate::current_task_id() == Some(task) {
            core.materialize();
        }
        owned_nurseries(core, task)
    })
    .unwrap_or_default()
}

/// The nursery nodes owned by `task`, in tree order (preorder).
fn owned_nurseries(core: &Core, task: TaskId) -> Vec<ScopeId> {
    let scopes = core.scopes.borrow();
    let mut out = Vec::new();
    let mut stack = vec![0u32];
    while let Some(index) = stack.pop() {
        let Some(node) = scopes.at(index) else {
            continue;
        };
        if node.kind == NodeKind::Nursery
            && node.owner == Owner::Task(task)
            && let Some(key) = scopes.key_of(index)
        {
            out.push(ScopeId::new(core.key, key));
        }
        // `children` is newest first: pushed as is, the oldest pops first.
        stack.extend(scopes.children(index));
    }
    out
}

/// Note that the code being polled is about to return `Pending`, waiting
/// at `at`: [`dump`](super::dump) shows it as the task's await point
/// until its next poll. The first note of a poll wins (the innermost
/// wait: a leaf future is polled before the timeout or nursery around it
/// decides to wait as well). One thread-local read and a store; nothing
/// outside a task.
///
/// For futures that wait (arbor's own call it in theirs): capture the
/// caller's location where the future is made (`#[track_caller]` on its
/// constructor, [`Location::caller`]) so the dump names the user's line.
///
/// ```
/// use std::future::poll_fn;
/// use std::panic::Location;
/// use std::task::Poll;
/// arbor_runtime::run(async {
///     let here = Location::caller();
///     let waiter = arbor_runtime::spawn_named("waiter", poll_fn(move |_cx| {
///         arbor_runtime::scope::note_await(here);
///         Poll::<()>::Pending // (a real future keeps the waker to wake)
///     }));
///     arbor_runtime::yield_now().await;
///     let text = arbor_runtime::scope::dump();
///     assert!(text.contains(&format!("at {here}")), "{text}");
///     waiter.abort();
/// });
/// ```
#[inline]
pub fn note_await(at: &'static Location<'static>) {
    context::with(|core| {
        if let Some(core) = core {
            core.note_await(at);
        }
    });
}
