//! The decision of a [`Region`](super::Region), in one non-generic copy:
//! whatever the type of the code a region wraps, only polling and dropping
//! that code are monomorphized (`Region::poll_inner`); everything here is
//! shared, which keeps deep nests of differently typed regions small in
//! the instruction cache. See the parent module for the rules.

use std::task::Context;

use super::{Lazy, Phase};
use crate::context;
use crate::executor::Core;
use crate::scope::{CancelReason, NodeKind, ScopeCell, ScopeId};
use crate::time::Instant;
use crate::time::wheel::TimerKey;

/// What `drive` asks of the code.
pub(super) enum Act<'a, 'b> {
    /// Poll it; true if it completed (its output is kept by the caller).
    Poll(&'a mut Context<'b>),
    /// Drop it.
    Drop,
}

pub(super) type Code<'c> = dyn FnMut(Act<'_, '_>) -> bool + 'c;

/// [`Step`] without the output.
pub(super) enum Raw {
    Ready,
    Pending,
    Caught(CancelReason),
    Dropped,
}

/// The region's state, borrowed for one poll.
pub(super) struct Drive<'a> {
    pub(super) cell: &'a ScopeCell,
    pub(super) name: &'a dyn Fn() -> Option<std::rc::Rc<str>>,
    pub(super) kind: NodeKind,
    pub(super) lazy: Lazy,
    pub(super) polled: &'a mut bool,
    pub(super) held: &'a mut bool,
    pub(super) phase: &'a mut Phase,
}

/// One poll of a region whose code is still there: the whole decision.
/// (Everything is passed by reference: the state was just written field
/// by field, and copying it whole would read it back wider than it was
/// written, which stalls.)
#[track_caller]
pub(super) fn drive(state: &mut Drive<'_>, code: &mut Code<'_>, cx: &mut Context<'_>) -> Raw {
    context::expect("polling an arbor scope", |core| {
        drive_in(core, state, code, cx)
    })
}

#[inline]
fn drive_in(core: &Core, state: &mut Drive<'_>, code: &mut Code<'_>, cx: &mut Context<'_>) -> Raw {
    {
        let cell = state.cell;
        let id = match *state.phase {
            Phase::In(id) => {
                assert_eq!(
                    id.runtime, core.key,
                    "an arbor scope was polled in a runtime other than the one it was entered in"
                );
                id
            }
            Phase::Closed => return Raw::Pending,
            Phase::Light {
                deadline,
                timer,
                runtime,
            } => {
                assert_eq!(
                    runtime, core.key,
                    "an arbor scope was polled in a runtime other than the one it was entered in"
                );
                if let Some(timer) = timer
                    && !*state.held
                    && core.timers.borrow().is_fired(timer)
                {
                    return drop_light(core, state, code, deadline, timer);
                }
                return poll_light(core, state, code, deadline, timer, cx);
            }
            Phase::Unentered => {
                let id = core.enter_region(cell, state.kind, (state.name)());
                *state.phase = Phase::In(id);
                id
            }
        };
        if core.begin_region_poll(id.key, cx.waker(), *state.polled && !*state.held) {
            return drop_and_report(core, code, cell, id);
        }
        *state.polled = true;
        let holds = core.holds.get();
        let ready = core.poll_in_region(id.key, || code(Act::Poll(cx)));
        *state.held = core.holds.get() != holds;
        if ready {
            Raw::Ready
        } else {
            decide_after_pending(core, state, code, id, cx)
        }
    }
}

/// A light region's deadline passed: drop the code, as a node would.
fn drop_light(
    core: &Core,
    state: &mut Drive<'_>,
    code: &mut Code<'_>,
    deadline: Instant,
    timer: TimerKey,
) -> Raw {
    core.timers.borrow_mut().remove(timer);
    *state.phase = Phase::Closed;
    code(Act::Drop);
    let cell = state.cell;
    cell.exited(Some(CancelReason::Deadline), Some(deadline), false);
    if core.instruments.active() {
        core.hook_scope_cancel(None, CancelReason::Deadline);
    }
    if core.current_cancelled() {
        // An enclosing cancellation is visible too.
        return Raw::Dropped;
    }
    cell.set_caught();
    Raw::Caught(CancelReason::Deadline)
}

/// Poll a lazy region's code with a provisional entry: it stays light
/// (no node; a timer entry unless an enclosing lazy region covers its
/// deadline) unless something inside made its node.
#[inline]
fn poll_light(
    core: &Core,
    state: &mut Drive<'_>,
    code: &mut Code<'_>,
    deadline: Instant,
    timer: Option<TimerKey>,
    cx: &mut Context<'_>,
) -> Raw {
    *state.polled = true;
    let (_, token) = core.next_provisional();
    let holds = core.holds.get();
    let (ready, got) =
        core.poll_provisional(state.kind, deadline, token, false, || code(Act::Poll(cx)));
    *state.held = core.holds.get() != holds;
    settle_light(core, state, code, ready, got, deadline, timer, cx)
}

/// After a lazy region's provisional poll: close, become a node region,
/// or stay light with the right timer.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle_light(
    core: &Core,
    state: &mut Drive<'_>,
    code: &mut Code<'_>,
    ready: bool,
    got: crate::executor::Provisioned,
    deadline: Instant,
    timer: Option<TimerKey>,
    cx: &mut Context<'_>,
) -> Raw {
    let cell = state.cell;
    match (ready, got.node) {
        (true, node) => {
            if let Some(timer) = timer {
                core.timers.borrow_mut().remove(timer);
            }
            if let Some(id) = node {
                // Something inside needed the node: close it.
                core.adopt_node(id, cell, None);
                core.close_region(id, cell);
            } else if state.lazy == Lazy::UntilSuspend {
                cell.done_without_node();
            }
            *state.phase = Phase::Closed;
            Raw::Ready
        }
        (false, Some(id)) => {
            // From now on a node region: the node arms its own timer.
            if let Some(timer) = timer {
                core.timers.borrow_mut().remove(timer);
            }
            core.adopt_node(id, cell, (state.name)());
            *state.phase = Phase::In(id);
            core.set_region_waker(id.key, cx.waker());
            decide_after_pending(core, state, code, id, cx)
        }
        (false, None) => {
            if let Some(timer) = timer
                && !got.covered
                && core.timers.borrow().is_fired(timer)
            {
                // The deadline passed before or during this poll; its
                // wake-up was spent on a poll something inside held.
                if !*state.held {
                    return drop_light(core, state, code, deadline, timer);
                }
                cx.waker().wake_by_ref();
            }
            let timer = match (timer, got.covered) {
                (Some(timer), false) => {
                    core.timers.borrow_mut().set_waker(timer, cx.waker());
                    Some(timer)
                }
                (Some(timer), true) => {
                    core.timers.borrow_mut().remove(timer);
                    None
                }
                (None, false) => {
                    let tick = core.clock.tick_for(deadline);
                    Some(core.timers.borrow_mut().insert(tick, cx.waker().clone()))
                }
                (None, true) => None,
            };
            *state.phase = Phase::Light {
                deadline,
                timer,
                runtime: core.key,
            };
            Raw::Pending
        }
    }
}

/// The code suspended: drop it now if the region must, else arm the
/// deadline. If something inside held, the code gets the next poll first;
/// a region that must drop then wakes its task for that poll (the holder
/// may be gone: a `cancelled()` polled once and dropped wakes no one),
/// and drops at the end of it unless something holds again.
fn decide_after_pending(
    core: &Core,
    state: &mut Drive<'_>,
    code: &mut Code<'_>,
    id: ScopeId,
    cx: &Context<'_>,
) -> Raw {
    if core.region_must_drop(id.key) {
        if !*state.held {
            return drop_and_report(core, code, state.cell, id);
        }
        cx.waker().wake_by_ref();
    }
    core.arm_node(id.key);
    Raw::Pending
}

/// Drop the code (its destructors run with no borrow held), then decide
/// who catches: see the module docs.
fn drop_and_report(core: &Core, code: &mut Code<'_>, cell: &ScopeCell, id: ScopeId) -> Raw {
    code(Act::Drop);
    match core.region_caught(id.key) {
        Some(reason) => {
            cell.set_caught();
            Raw::Caught(reason)
        }
        None => Raw::Dropped,
    }
}
