//! The state a cancel scope's holder and its handles share.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use arbor_runtime::scope::{self, CancelReason, Deadline, NodeKind, NodeOptions, ScopeId};
use arbor_runtime::time::{self, Instant};

/// Where a cancel scope is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Created, not yet entered: settings are only recorded.
    Idle,
    /// Entered: settings go to the runtime's node.
    Entered(ScopeId),
    /// Exited: nothing has an effect any more.
    Exited,
}

/// A cancel scope's user-visible state. Kept inline in a timeout future,
/// or behind an `Rc` when handles exist.
#[derive(Debug)]
pub(crate) struct ScopeState {
    pub(crate) phase: Cell<Phase>,
    pub(crate) cancel_called: Cell<bool>,
    pub(crate) caught: Cell<bool>,
    pub(crate) reason: RefCell<Option<Box<str>>>,
    pub(crate) deadline: Cell<Option<Instant>>,
    /// Relative deadline, turned into an absolute one at entry.
    pub(crate) timeout: Cell<Option<Duration>>,
    pub(crate) shield: Cell<bool>,
    /// Set at exit when the scope's own deadline had cancelled it.
    pub(crate) by_deadline: Cell<bool>,
}

impl ScopeState {
    pub(crate) const fn new() -> Self {
        ScopeState {
            phase: Cell::new(Phase::Idle),
            cancel_called: Cell::new(false),
            caught: Cell::new(false),
            reason: RefCell::new(None),
            deadline: Cell::new(None),
            timeout: Cell::new(None),
            shield: Cell::new(false),
            by_deadline: Cell::new(false),
        }
    }

    pub(crate) fn node(&self) -> Option<ScopeId> {
        match self.phase.get() {
            Phase::Entered(id) => Some(id),
            _ => None,
        }
    }

    /// Create the runtime node under the current one.
    pub(crate) fn enter(&self, kind: NodeKind, name: Option<&str>) -> ScopeId {
        let deadline = match (self.deadline.get(), self.timeout.take()) {
            (Some(at), None) => Some(Deadline::At(at)),
            (None, Some(after)) => Some(Deadline::After(after)),
            // Both: the earlier wins, so the clock must be read here.
            (Some(at), Some(after)) => Some(Deadline::At(at.min(time::now() + after))),
            (None, None) => None,
        };
        let id = scope::enter(
            kind,
            NodeOptions {
                shield: self.shield.get(),
                cancelled: self.cancel_called.get().then_some(CancelReason::Explicit),
                name: name.map(Into::into),
                // A deadline already past cancels the node on entry.
                deadline,
            },
        );
        self.phase.set(Phase::Entered(id));
        if deadline.is_some() {
            self.deadline.set(scope::deadline(id));
        }
        id
    }

    /// Take over a node made for a provisional scope.
    pub(crate) fn adopt(&self, id: ScopeId) {
        self.phase.set(Phase::Entered(id));
        self.deadline.set(scope::deadline(id));
    }

    pub(crate) fn exit(&self) {
        if let Phase::Entered(id) = self.phase.replace(Phase::Exited) {
            // Keep what the node knew: it is freed now.
            match scope::cancel_called(id) {
                Some(CancelReason::Deadline) => {
                    self.by_deadline.set(!self.cancel_called.get());
                    self.cancel_called.set(true);
                }
                Some(CancelReason::Explicit) => self.cancel_called.set(true),
                None => {}
            }
            scope::exit(id);
        }
    }

    pub(crate) fn cancel(&self, reason: Option<Box<str>>) {
        if !self.cancel_called.replace(true) {
            *self.reason.borrow_mut() = reason;
        }
        if let Some(id) = self.node() {
            scope::cancel(id, CancelReason::Explicit);
        }
    }

    /// Whether the scope's own cancel was called (by a handle or by its
    /// deadline).
    pub(crate) fn is_cancel_called(&self) -> bool {
        self.cancel_called.get()
            || self
                .node()
                .is_some_and(|id| scope::cancel_called(id).is_some())
    }

    /// Whether the scope's own deadline (not a handle) cancelled it.
    pub(crate) fn cancelled_by_deadline(&self) -> bool {
        match self.node() {
            Some(id) => {
                scope::cancel_called(id) == Some(CancelReason::Deadline)
                    && !self.cancel_called.get()
            }
            None => self.by_deadline.get(),
        }
    }

    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        self.timeout.set(None);
        self.deadline.set(deadline);
        if let Some(id) = self.node() {
            scope::set_deadline(id, deadline);
        }
    }

    pub(crate) fn set_shield(&self, shield: bool) {
        self.shield.set(shield);
        if let Some(id) = self.node() {
            scope::set_shield(id, shield);
        }
    }
}
