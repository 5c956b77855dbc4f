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
//! handle can reach its cell, no shield) makes no node unless something
//! inside needs one (a nested region that is not lazy, `cancelled()`, the
//! effective deadline, a dump). At each poll it records itself on the
//! runtime's provisional stack and polls its code in its parent's node; if
//! the code suspends, the region keeps only its deadline (counted from
//! entry) and a timer entry that wakes the task: when that entry has fired
//! the deadline has passed, and the next poll drops the code as a node's
//! cancellation would. Nothing inside can tell the difference: code in a
//! region whose deadline passed is never polled again, and whatever needs
//! the node gets it made, with the deadline. So a suspended timeout costs a
//! timer entry and, per poll, a push and a pop, like a timeout in tokio;
//! one that completes without suspending costs the push and pop only.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

mod drive;

use drive::{Act, Drive, Raw, drive, settle_light};

use super::cell::CellRef;
use super::{CancelReason, NodeKind, ScopeId};
use crate::context;
use crate::executor::Core;
use crate::time::Instant;
use crate::time::wheel::TimerKey;

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

/// How a region may run without a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lazy {
    /// Always a node from the first poll (a nursery's).
    No,
    /// A timeout: no node even while suspended, unless something needs it.
    Light,
    /// A plain scope or a nursery child: no node in its first poll if its
    /// cell has nothing set then; a node once it suspends (a handle may
    /// act on it later).
    UntilSuspend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Unentered,
    /// A lazy region suspended without a node: its deadline, and the timer
    /// entry (with the task's waker) that fires at it, or none while an
    /// enclosing lazy region's deadline is no later (it drops us first).
    Light {
        deadline: Instant,
        timer: Option<TimerKey>,
        runtime: u32,
    },
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
    #[project = RegionProj]
    pub struct Region<C: CellRef, F> {
        // Declared first: dropped before the region closes, so scopes
        // nested in the code close before this one.
        #[pin]
        inner: Option<F>,
        cell: C,
        kind: NodeKind,
        lazy: Lazy,
        polled: bool,
        // Something inside held at the last poll (`Core::hold`): the next
        // poll polls the code even if the region is cancelled.
        held: bool,
        phase: Phase,
    }

    impl<C: CellRef, F> PinnedDrop for Region<C, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            this.inner.set(None);
            // Tag first: the phase was just written narrowly (reading it
            // back whole would stall on store forwarding).
            if matches!(*this.phase, Phase::Closed | Phase::Unentered) {
                return;
            }
            match std::mem::replace(this.phase, Phase::Closed) {
                // Dropped from outside (or the task is aborted): a nursery's
                // children go with it.
                Phase::In(id) => {
                    with_region_core(id, |core| {
                        if *this.kind == NodeKind::Nursery {
                            core.abort_tasks_in(id.index());
                        }
                        core.close_region(id, this.cell.cell());
                    });
                }
                light @ Phase::Light { .. } => remove_light_timer(light),
                Phase::Unentered | Phase::Closed => {}
            }
        }
    }
}

/// A light region is closed: its timer entry (if it has one) goes.
fn remove_light_timer(phase: Phase) {
    if let Phase::Light {
        timer: Some(timer),
        runtime,
        ..
    } = phase
    {
        context::with_runtime(runtime, |core| core.timers.borrow_mut().remove(timer));
    }
}

fn with_region_core<R>(id: ScopeId, f: impl FnOnce(&Core) -> R) -> Option<R> {
    super::with_scope(id, f)
}

impl<C: CellRef, F> Region<C, F> {
    /// A region of `kind` around `inner`, entered at its first poll. A
    /// scope or child region whose cell has nothing set then runs that
    /// poll with no node, and gets one only if its code suspends.
    ///
    /// A cell is run by one region: if handles to it could reach a second
    /// region, reserve it first with [`ScopeCell::claim`](super::ScopeCell::claim)
    /// (as `CancelScope::run` does).
    #[inline]
    pub fn new(cell: C, kind: NodeKind, inner: F) -> Self {
        let lazy = match kind {
            NodeKind::Scope | NodeKind::Child => Lazy::UntilSuspend,
            _ => Lazy::No,
        };
        Region {
            inner: Some(inner),
            cell,
            kind,
            lazy,
            polled: false,
            held: false,
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
    #[inline]
    pub fn lazy(cell: C, kind: NodeKind, inner: F) -> Self {
        let lazy = if cell.cell().lazy_ok() {
            Lazy::Light
        } else {
            Lazy::UntilSuspend
        };
        Region {
            inner: Some(inner),
            cell,
            kind,
            lazy,
            polled: false,
            held: false,
            phase: Phase::Unentered,
        }
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
            Phase::Closed | Phase::Light { .. } => None,
            Phase::Unentered => {
                let id = context::expect("entering an arbor scope", |core| {
                    core.enter_region(this.cell.cell(), *this.kind, this.cell.name())
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
        if matches!(*this.phase, Phase::Closed | Phase::Unentered) {
            *this.phase = Phase::Closed;
            return;
        }
        match std::mem::replace(this.phase, Phase::Closed) {
            Phase::In(id) => {
                with_region_core(id, |core| core.close_region(id, this.cell.cell()));
            }
            light @ Phase::Light { .. } => remove_light_timer(light),
            Phase::Unentered | Phase::Closed => {}
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
        let this = self.project();
        if this.inner.is_none() {
            return Step::Pending;
        }
        let mut inner = this.inner;
        let mut output = None;
        // The fast paths of lazy regions: a first poll (the code often
        // completes at once, and then nothing but a provisional push and
        // pop happened), and a timeout's poll while an enclosing timeout
        // covers its deadline (no node, no timer: the same push and pop).
        let lazy = match (*this.lazy, *this.phase) {
            (Lazy::Light, Phase::Unentered) => Some((true, None)),
            (Lazy::UntilSuspend, Phase::Unentered) if this.cell.cell().is_plain() => {
                Some((false, None))
            }
            (
                Lazy::Light,
                Phase::Light {
                    deadline,
                    timer: None,
                    runtime,
                },
            ) => Some((true, Some((deadline, runtime)))),
            _ => None,
        };
        if let Some((light, light_deadline)) = lazy {
            let kind = *this.kind;
            let cell = this.cell.cell();
            let (ready, got, deadline, runtime, held) = context::expect(
                "polling an arbor scope",
                |core| {
                    let deadline = match light_deadline {
                        Some((deadline, runtime)) => {
                            assert_eq!(
                                runtime, core.key,
                                "an arbor scope was polled in a runtime other than the one it was entered in"
                            );
                            deadline
                        }
                        None if light => core.poll_now() + cell.timeout().unwrap_or_default(),
                        None => Instant::NEVER,
                    };
                    let (depth, token) = core.next_provisional();
                    if !light {
                        cell.set_provisional(depth, core.key, token);
                    }
                    let holds = core.holds.get();
                    let (poll, got) = core.poll_provisional(kind, deadline, token, !light, || {
                        let f = inner.as_mut().as_pin_mut().expect("checked above");
                        match f.poll(cx) {
                            Poll::Ready(value) => {
                                output = Some(value);
                                true
                            }
                            Poll::Pending => false,
                        }
                    });
                    (poll, got, deadline, core.key, core.holds.get() != holds)
                },
            );
            *this.polled = true;
            *this.held = held;
            match (ready, got.node) {
                (true, None) => {
                    if !light {
                        cell.done_without_node();
                    }
                    *this.phase = Phase::Closed;
                    return Step::Ready(output.take().expect("the code completed"));
                }
                (false, None) if light && got.covered => {
                    if light_deadline.is_none() {
                        *this.phase = Phase::Light {
                            deadline,
                            timer: None,
                            runtime,
                        };
                    }
                    return Step::Pending;
                }
                _ => {}
            }
            let mut code = |act: Act<'_, '_>| match act {
                Act::Poll(_) => false,
                Act::Drop => {
                    inner.set(None);
                    false
                }
            };
            let mut state = Drive {
                cell,
                name: &|| this.cell.name(),
                kind,
                lazy: *this.lazy,
                polled: this.polled,
                held: this.held,
                phase: this.phase,
            };
            let raw = context::expect("polling an arbor scope", |core| {
                settle_light(core, &mut state, &mut code, ready, got, deadline, None, cx)
            });
            return match raw {
                Raw::Ready => Step::Ready(output.take().expect("the code completed")),
                Raw::Pending => Step::Pending,
                Raw::Caught(reason) => Step::Caught(reason),
                Raw::Dropped => Step::Dropped,
            };
        }
        Self::drive_generic(
            this.cell,
            this.kind,
            this.lazy,
            this.polled,
            this.held,
            this.phase,
            inner,
            cx,
        )
    }

    /// Every poll but a lazy region's first: the decision in `drive`.
    #[allow(clippy::too_many_arguments)]
    fn drive_generic(
        cell: &C,
        kind: &NodeKind,
        lazy: &Lazy,
        polled: &mut bool,
        held: &mut bool,
        phase: &mut Phase,
        mut inner: Pin<&mut Option<F>>,
        cx: &mut Context<'_>,
    ) -> Step<F::Output> {
        let mut output = None;
        // Only polling and dropping the code depend on its type; the rest
        // (`drive`) is one copy however many region types a program nests,
        // which keeps deep nests of timeouts small in the instruction cache.
        let mut code = |act: Act<'_, '_>| match act {
            Act::Poll(cx) => match inner.as_mut().as_pin_mut().map(|f| f.poll(cx)) {
                Some(Poll::Ready(value)) => {
                    output = Some(value);
                    true
                }
                _ => false,
            },
            Act::Drop => {
                inner.set(None);
                false
            }
        };
        let mut state = Drive {
            cell: cell.cell(),
            name: &|| cell.name(),
            kind: *kind,
            lazy: *lazy,
            polled,
            held,
            phase,
        };
        match drive(&mut state, &mut code, cx) {
            Raw::Ready => Step::Ready(output.take().expect("the code completed")),
            Raw::Pending => Step::Pending,
            Raw::Caught(reason) => Step::Caught(reason),
            Raw::Dropped => Step::Dropped,
        }
    }
}
