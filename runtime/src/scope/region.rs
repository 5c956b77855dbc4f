//! [`Region`]: the one guard that owns the life of a scope region. Every
//! cancel scope, timeout, shield, nursery body and nursery child runs its
//! code through one, and it is the only place that decides when a
//! cancelled scope drops what it wraps.
//!
//! # Life of a region
//!
//! ```text
//!  first poll_inner: enter ──▶ poll inside ──▶ decide ──▶ Pending: arm the deadline's timer
//!  (lazy: no node yet,            │  ▲           │
//!   see below)                    │  └─ next ────┘──▶ drop the code ──▶ Caught(reason) / Dropped
//!                                 ▼      poll_inner
//!                              Ready(output)                close (or drop): the node goes,
//!                                                           the cell takes its settings back
//! ```
//!
//! **Decide.** Before polling (when the region was polled before) and
//! after a `Pending` poll, the region asks the tree whether its code must
//! be dropped: the node is effectively cancelled and nothing inside it
//! must finish first (`ScopeTable::must_drop`). The check before the poll
//! is what keeps cancelled code from running on (a parked body is dropped,
//! not polled again, even if a non-arbor future woke it); the check after
//! is what delivers a cancellation that happened during the poll; the very
//! first poll always runs, so a region entered already cancelled runs its
//! code to its first suspension (trio's "a task always starts").
//!
//! **Drop, then report.** Once the code is dropped (its destructors have
//! run), the region reports `Caught(reason)` if its own cancel was called
//! and no enclosing cancellation is visible to it, else `Dropped`: the
//! cancellation came from outside, and the caller must run none of the
//! region's surroundings (it stays pending; an enclosing region of the
//! same task drops it in this same poll, or the task's boundary, a nursery
//! child, ends the task as cancelled). Deciding after the drop is what
//! makes a cancellation that became visible during the drop keep moving
//! outward.
//!
//! **Lazy entry.** A region made with [`Region::lazy`] (a timeout: no
//! handle can reach its cell, no shield) creates no node at its first
//! poll: it records itself on the runtime's provisional stack and polls
//! its code in its parent's node. If the code completes, nothing was made;
//! if it suspends (or anything inside needs the current node), the node is
//! made then, with the deadline counted from entry. A nested timeout so
//! costs a push and a pop until something suspends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::cell::{CellRef, Status};
use super::{CancelReason, NodeKind, ScopeId};
use crate::context;
use crate::executor::Core;

/// What one [`Region::poll_inner`] did.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// The code completed. The region is still open (a nursery keeps it
    /// open for its children): [`close`](Region::close) it when done.
    Ready(T),
    /// The code is parked (or there is no code left to poll).
    Pending,
    /// The region's own cancellation dropped the code: the scope caught
    /// it (`cancelled_caught` is now true).
    Caught(CancelReason),
    /// An enclosing cancellation dropped the code. Nothing around the
    /// region may run on: stay pending, and let the enclosing region (or
    /// the task's end) finish the job.
    Dropped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Unentered,
    In(ScopeId),
    Closed,
}

pin_project! {
    /// Runs a future inside a scope: enters the scope at the first poll,
    /// polls the future with the scope current, drops it when the scope's
    /// cancellation must take effect, arms the deadline's timer at the
    /// first suspension, and closes the scope when closed or dropped. See
    /// the module docs for the rules; [`ScopeCell`](super::ScopeCell) has
    /// an example.
    pub struct Region<C: CellRef, F> {
        // Declared first: dropped before the region closes, so scopes
        // nested in the code close before this one.
        #[pin]
        inner: Option<F>,
        cell: C,
        kind: NodeKind,
        name: Option<std::rc::Rc<str>>,
        lazy: bool,
        polled: bool,
        phase: Phase,
    }

    impl<C: CellRef, F> PinnedDrop for Region<C, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            this.inner.set(None);
            if let Phase::In(id) = std::mem::replace(this.phase, Phase::Closed) {
                // Dropped from outside (or the task is aborted): a nursery's
                // children go with it.
                with_region_core(id, |core| {
                    if *this.kind == NodeKind::Nursery {
                        core.abort_tasks_in(id.index());
                    }
                    core.close_region(id, this.cell.cell());
                });
            }
        }
    }
}

fn with_region_core<R>(id: ScopeId, f: impl FnOnce(&Core) -> R) -> Option<R> {
    super::with_scope(id, f)
}

impl<C: CellRef, F> Region<C, F> {
    /// A region of `kind` around `inner`, entered (a node made) at its
    /// first poll.
    pub fn new(cell: C, kind: NodeKind, inner: F) -> Self {
        Region {
            inner: Some(inner),
            cell,
            kind,
            name: None,
            lazy: false,
            polled: false,
            phase: Phase::Unentered,
        }
    }

    /// A region whose node is made only if its code suspends or something
    /// inside needs it: for a timeout, whose cell nothing else can reach
    /// (no handle). Only a cell with a non-zero relative timeout and
    /// nothing else set (no deadline, shield or cancel) is entered lazily:
    /// its deadline is still ahead at entry, so its code would see no
    /// cancellation yet with a node either. Any other is entered as by
    /// [`Region::new`] (a zero timeout is cancelled at entry).
    pub fn lazy(cell: C, kind: NodeKind, inner: F) -> Self {
        let c = cell.cell();
        let lazy = c.status() == Status::Idle
            && c.timeout().is_some_and(|t| !t.is_zero())
            && !c.shield()
            && c.deadline().is_none()
            && c.cancel_called().is_none();
        let mut region = Region::new(cell, kind, inner);
        region.lazy = lazy;
        region
    }

    /// Name the region, for dumps.
    pub fn named(mut self, name: Option<std::rc::Rc<str>>) -> Self {
        self.name = name;
        self
    }

    /// The scope's cell.
    pub fn cell(&self) -> &C {
        &self.cell
    }

    /// Whether the code is still there (not completed, not dropped).
    pub fn has_inner(&self) -> bool {
        self.inner.is_some()
    }

    /// Enter the region now, if it was not entered yet, and return its
    /// node (for a nursery: where its children are spawned). `None` once
    /// closed.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn enter(self: Pin<&mut Self>) -> Option<ScopeId> {
        let this = self.project();
        match *this.phase {
            Phase::In(id) => Some(id),
            Phase::Closed => None,
            Phase::Unentered => {
                let id = context::expect("entering an arbor scope", |core| {
                    core.enter_region(this.cell.cell(), *this.kind, this.name.clone())
                });
                *this.phase = Phase::In(id);
                Some(id)
            }
        }
    }

    /// Drop the code now (a nursery whose body panicked), without closing.
    pub fn drop_inner(self: Pin<&mut Self>) {
        self.project().inner.set(None);
    }

    /// Drop the code if it is still there and close the region: the node
    /// goes (once nothing is attached to it), the deadline's timer is
    /// cancelled, the cell takes its settings back. Idempotent.
    pub fn close(self: Pin<&mut Self>) {
        let mut this = self.project();
        this.inner.set(None);
        if let Phase::In(id) = std::mem::replace(this.phase, Phase::Closed) {
            with_region_core(id, |core| core.close_region(id, this.cell.cell()));
        } else {
            *this.phase = Phase::Closed;
        }
    }
}

impl<C: CellRef, F: Future> Region<C, F> {
    /// Poll the code inside the region; see [`Step`] and the module docs.
    ///
    /// # Panics
    /// Outside a runtime, or in a runtime other than the one the region
    /// was entered in. A panic of the code propagates (the region stays
    /// consistent and can still be closed or dropped).
    #[track_caller]
    pub fn poll_inner(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Step<F::Output> {
        let mut this = self.project();
        if this.inner.is_none() {
            return Step::Pending;
        }
        context::expect("polling an arbor scope", |core| {
            let cell = this.cell.cell();
            let id = match *this.phase {
                Phase::In(id) => {
                    assert_eq!(
                        id.runtime, core.key,
                        "an arbor scope was polled in a runtime other than the one it was entered in"
                    );
                    id
                }
                Phase::Closed => return Step::Pending,
                Phase::Unentered if *this.lazy => {
                    *this.polled = true;
                    let inner = this.inner.as_mut().as_pin_mut().expect("checked above");
                    let timeout = cell.timeout().unwrap_or_default();
                    match core.poll_provisional(*this.kind, timeout, || inner.poll(cx)) {
                        (Poll::Ready(output), node) => {
                            if let Some(id) = node {
                                // Something inside needed the node: close it.
                                cell.entered(id);
                                core.close_region(id, cell);
                            }
                            *this.phase = Phase::Closed;
                            return Step::Ready(output);
                        }
                        (Poll::Pending, node) => {
                            let id = node.expect("a suspended provisional scope has a node");
                            cell.entered(id);
                            *this.phase = Phase::In(id);
                            core.set_region_waker(id.key, cx.waker());
                            return decide_after_pending(core, this.inner, cell, id);
                        }
                    }
                }
                Phase::Unentered => {
                    let id = core.enter_region(cell, *this.kind, this.name.clone());
                    *this.phase = Phase::In(id);
                    id
                }
            };
            core.set_region_waker(id.key, cx.waker());
            if *this.polled && core.region_must_drop(id.key) {
                return drop_and_report(core, this.inner, cell, id);
            }
            *this.polled = true;
            let inner = this.inner.as_mut().as_pin_mut().expect("checked above");
            match core.poll_in_region(id.key, || inner.poll(cx)) {
                Poll::Ready(output) => Step::Ready(output),
                Poll::Pending => decide_after_pending(core, this.inner, cell, id),
            }
        })
    }
}

fn decide_after_pending<F: Future>(
    core: &Core,
    inner: Pin<&mut Option<F>>,
    cell: &super::ScopeCell,
    id: ScopeId,
) -> Step<F::Output> {
    if core.region_must_drop(id.key) {
        drop_and_report(core, inner, cell, id)
    } else {
        core.arm_node(id.key);
        Step::Pending
    }
}

/// Drop the code (its destructors run with no borrow held), then decide
/// who catches: see the module docs.
fn drop_and_report<F: Future>(
    core: &Core,
    mut inner: Pin<&mut Option<F>>,
    cell: &super::ScopeCell,
    id: ScopeId,
) -> Step<F::Output> {
    inner.set(None);
    match core.region_caught(id.key) {
        Some(reason) => {
            cell.set_caught();
            Step::Caught(reason)
        }
        None => Step::Dropped,
    }
}
