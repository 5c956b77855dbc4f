//! [`ScopeCell`]: the half of a cancel scope a user holds (trio's
//! `CancelScope`), apart from the node in the scope tree that carries its
//! cancellation (trio's `CancelStatus`).
//!
//! # Who owns which setting when
//!
//! A scope's settings are its own cancel (and why), its deadline and its
//! shield. Each has exactly one owner at a time:
//!
//! ```text
//!   Idle ──── enter (Region's first poll) ────▶ Entered(node) ──── close ────▶ Exited
//!   the cell owns them        the node owns them; the cell        the cell owns them
//!                              forwards every call to it           again (handed back)
//! ```
//!
//! A region whose cell has nothing set may run its first poll with no
//! node at all (`Provisional`): if its code completes, it never gets one.
//! The cell then keeps owning its settings; a handle that changes one
//! meanwhile also makes the node and changes it there, so the code sees
//! the change at once, as it would with a node from the start.
//!
//! Only a [`Region`](super::Region) enters and closes a cell, in one place
//! each (`Core::enter_region`, `Core::close_region`). Everything a handle
//! can do (cancel, read or move the deadline, shield) is safe in any
//! order, before, during and after the scope runs, from any task of the
//! runtime's thread: before entry it is recorded, while entered it acts on
//! the node (in the scope's own runtime), after exit nothing changes but
//! what is reported.
//!
//! What only the cell knows: the relative timeout (resolved to a deadline
//! at entry), whether the scope caught its cancellation, and the text of an
//! explicit cancel.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{CancelReason, ScopeId, with_scope};
use crate::context;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Idle,
    /// In its region's first poll, with no node yet: a provisional entry
    /// (`depth` on the runtime's stack, named `token`) stands for it. A
    /// handle acting now makes the node (and acts on it) and also latches
    /// the change here, which the region applies when it gets its node.
    Provisional {
        depth: u32,
        runtime: u32,
        token: u64,
    },
    Entered(ScopeId),
    Exited,
}

/// A cancel scope's settings and outcome, shared by the scope's
/// [`Region`](super::Region) and its handles. Low-level: `arbor`'s
/// `CancelScope`, nurseries and timeouts are built on it.
///
/// ```
/// use std::time::Duration;
/// use arbor_runtime::scope::{CancelReason, NodeKind, Region, ScopeCell, Step};
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let cell = ScopeCell::new();
///     cell.set_timeout(Duration::from_secs(1));
///     let mut region = std::pin::pin!(Region::new(
///         &cell,
///         NodeKind::Scope,
///         arbor_runtime::time::sleep(Duration::from_secs(60)),
///     ));
///     let step = std::future::poll_fn(|cx| match region.as_mut().poll_inner(cx) {
///         Step::Pending => std::task::Poll::Pending,
///         other => std::task::Poll::Ready(other),
///     })
///     .await;
///     assert!(matches!(step, Step::Caught(CancelReason::Deadline)));
///     assert!(cell.cancelled_caught());
/// });
/// ```
pub struct ScopeCell {
    status: Cell<Status>,
    claimed: Cell<bool>,
    /// Owned here while not entered.
    cancel: Cell<Option<CancelReason>>,
    /// Owned here while not entered.
    deadline: Cell<Option<Instant>>,
    /// Owned here while not entered.
    shield: Cell<bool>,
    /// A deadline relative to entry, until entry resolves it.
    timeout: Cell<Option<Duration>>,
    caught: Cell<bool>,
    text: Cell<Option<Box<str>>>,
}

impl Default for ScopeCell {
    fn default() -> Self {
        Self::new()
    }
}

/// A reference to a [`ScopeCell`] that a [`Region`](super::Region) can
/// hold: the cell itself (kept inline, no allocation), an `Rc` of it, or a
/// type that contains one (a nursery's shared state).
pub trait CellRef {
    /// The cell.
    fn cell(&self) -> &ScopeCell;

    /// A name for the region in dumps (a nursery child's).
    fn name(&self) -> Option<Rc<str>> {
        None
    }
}

impl CellRef for ScopeCell {
    #[inline]
    fn cell(&self) -> &ScopeCell {
        self
    }
}

impl<T: CellRef + ?Sized> CellRef for Rc<T> {
    #[inline]
    fn cell(&self) -> &ScopeCell {
        (**self).cell()
    }

    fn name(&self) -> Option<Rc<str>> {
        (**self).name()
    }
}

impl<T: CellRef + ?Sized> CellRef for &T {
    #[inline]
    fn cell(&self) -> &ScopeCell {
        (**self).cell()
    }

    fn name(&self) -> Option<Rc<str>> {
        (**self).name()
    }
}

impl ScopeCell {
    /// A scope with no deadline, no shield, not cancelled.
    #[inline]
    pub const fn new() -> Self {
        ScopeCell {
            status: Cell::new(Status::Idle),
            claimed: Cell::new(false),
            cancel: Cell::new(None),
            deadline: Cell::new(None),
            shield: Cell::new(false),
            timeout: Cell::new(None),
            caught: Cell::new(false),
            text: Cell::new(None),
        }
    }

    /// Nothing set and not entered: a region may run its first poll
    /// without a node.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.status.get() == Status::Idle
            && self.cancel.get().is_none()
            && self.deadline.get().is_none()
            && self.timeout.get().is_none()
            && !self.shield.get()
    }

    pub(crate) fn set_provisional(&self, depth: usize, runtime: u32, token: u64) {
        self.status.set(Status::Provisional {
            depth: depth as u32,
            runtime,
            token,
        });
    }

    /// A region that ran without a node is done.
    pub(crate) fn done_without_node(&self) {
        self.status.set(Status::Exited);
    }

    /// Act on the node of a provisional region, made for the purpose, if
    /// its entry is on the stack (see [`Status::Provisional`]).
    fn on_provisional_node(&self, f: impl FnOnce(&crate::executor::Core, crate::slab::Key)) {
        if let Status::Provisional {
            depth,
            runtime,
            token,
        } = self.status.get()
        {
            context::with_runtime(runtime, |core| {
                if let Some(key) = core.provisional_node(depth, token) {
                    f(core, key);
                }
            });
        }
    }

    /// Latches set while provisional, for the node the region got.
    pub(crate) fn latches(&self) -> (Option<CancelReason>, Option<Instant>, bool) {
        (self.cancel.get(), self.deadline.get(), self.shield.get())
    }

    /// Can a region of this cell be entered lazily: not entered yet, a
    /// non-zero relative timeout and nothing else set?
    #[inline]
    pub(crate) fn lazy_ok(&self) -> bool {
        self.status.get() == Status::Idle
            && self.timeout.get().is_some_and(|t| !t.is_zero())
            && !self.shield.get()
            && self.deadline.get().is_none()
            && self.cancel.get().is_none()
    }

    /// A cell with only a relative timeout: a timeout's, made in one go.
    #[inline]
    pub const fn with_timeout(timeout: Duration) -> Self {
        ScopeCell {
            status: Cell::new(Status::Idle),
            claimed: Cell::new(false),
            cancel: Cell::new(None),
            deadline: Cell::new(None),
            shield: Cell::new(false),
            timeout: Cell::new(Some(timeout)),
            caught: Cell::new(false),
            text: Cell::new(None),
        }
    }

    /// Reserve the cell for the one region that will run it: `false` if it
    /// was reserved before (a scope is entered once).
    pub fn claim(&self) -> bool {
        !self.claimed.replace(true)
    }

    /// The node, while entered.
    pub fn id(&self) -> Option<ScopeId> {
        match self.status.get() {
            Status::Entered(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the scope was entered and has not been closed yet.
    pub fn is_entered(&self) -> bool {
        self.id().is_some()
    }

    /// Cancel the scope `timeout` after it is entered (before entry only;
    /// the deadline counts from entry, see `Region`). With an absolute
    /// deadline too, the earlier one wins.
    pub fn set_timeout(&self, timeout: Duration) {
        if self.status.get() == Status::Idle {
            self.timeout.set(Some(timeout));
        }
    }

    /// The relative timeout not yet resolved by entry.
    pub fn timeout(&self) -> Option<Duration> {
        match self.status.get() {
            Status::Idle => self.timeout.get(),
            _ => None,
        }
    }

    /// Call the scope's own cancel. The first cause wins; idempotent. While
    /// entered, every task in the scope is woken and the scope's code is
    /// dropped at its next suspension; before entry the scope starts
    /// cancelled; after exit nothing happens.
    pub fn cancel(&self, reason: CancelReason) {
        match self.status.get() {
            Status::Entered(id) => {
                with_scope(id, |core| core.cancel_node(id.key, reason));
            }
            Status::Idle | Status::Exited => {
                if self.cancel.get().is_none() {
                    self.cancel.set(Some(reason));
                }
            }
            Status::Provisional { .. } => {
                if self.cancel.get().is_none() {
                    self.cancel.set(Some(reason));
                }
                self.on_provisional_node(|core, key| core.cancel_node(key, reason));
            }
        }
    }

    /// [`cancel`](Self::cancel) with [`CancelReason::Explicit`], recording
    /// `text` (the first text given wins).
    pub fn cancel_with_text(&self, text: impl Into<String>) {
        let old = self.text.take();
        self.text
            .set(Some(old.unwrap_or_else(|| text.into().into_boxed_str())));
        self.cancel(CancelReason::Explicit);
    }

    /// The text given to [`cancel_with_text`](Self::cancel_with_text).
    pub fn text(&self) -> Option<String> {
        let text = self.text.take();
        let copy = text.as_deref().map(String::from);
        self.text.set(text);
        copy
    }

    /// Why the scope's own cancel was called, if it was. A deadline that
    /// has passed counts (and is latched: moving the deadline later does
    /// not un-cancel the scope), even before entry or before its timer
    /// fired (trio's `cancel_called`).
    pub fn cancel_called(&self) -> Option<CancelReason> {
        match self.status.get() {
            Status::Entered(id) => with_scope(id, |core| core.node_cancel_called(id.key)).flatten(),
            Status::Idle | Status::Provisional { .. } => {
                if self.cancel.get().is_none()
                    && let Some(deadline) = self.deadline.get()
                    && context::with(|core| core.is_some_and(|c| c.clock.now() >= deadline))
                {
                    self.cancel.set(Some(CancelReason::Deadline));
                }
                self.cancel.get()
            }
            Status::Exited => self.cancel.get(),
        }
    }

    /// Whether the scope dropped its code because of its own cancellation
    /// (false when an enclosing scope's cancellation did, or the code
    /// finished first).
    pub fn cancelled_caught(&self) -> bool {
        self.caught.get()
    }

    pub(crate) fn set_caught(&self) {
        self.caught.set(true);
    }

    /// The scope's deadline (a relative timeout becomes one at entry).
    pub fn deadline(&self) -> Option<Instant> {
        match self.status.get() {
            Status::Entered(id) => with_scope(id, |core| core.node_deadline(id.key)).flatten(),
            Status::Idle | Status::Provisional { .. } | Status::Exited => self.deadline.get(),
        }
    }

    /// Move or clear the deadline (it replaces a relative timeout not yet
    /// resolved). A deadline at or before now cancels the scope; moving it
    /// later never un-cancels it. While entered, a later deadline only
    /// updates the timer entry (re-filed lazily).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        match self.status.get() {
            Status::Entered(id) => {
                with_scope(id, |core| core.set_node_deadline(id.key, deadline));
            }
            Status::Idle => {
                self.timeout.set(None);
                self.deadline.set(deadline);
            }
            Status::Provisional { .. } => {
                self.deadline.set(deadline);
                self.on_provisional_node(|core, key| core.set_node_deadline(key, deadline));
            }
            Status::Exited => self.deadline.set(deadline),
        }
    }

    /// Whether the scope is shielded from enclosing cancellations.
    pub fn shield(&self) -> bool {
        match self.status.get() {
            Status::Entered(id) => with_scope(id, |core| core.node_shield(id.key)).unwrap_or(false),
            Status::Idle | Status::Provisional { .. } | Status::Exited => self.shield.get(),
        }
    }

    /// Shield the scope or stop shielding it. Turning the shield off while
    /// an enclosing scope is cancelled lets that cancellation in at once.
    pub fn set_shield(&self, shield: bool) {
        match self.status.get() {
            Status::Entered(id) => {
                with_scope(id, |core| core.set_node_shield(id.key, shield));
            }
            Status::Provisional { .. } => {
                self.shield.set(shield);
                self.on_provisional_node(|core, key| core.set_node_shield(key, shield));
            }
            Status::Idle | Status::Exited => self.shield.set(shield),
        }
    }

    /// Entry: the settings move to the node (the caller made it from
    /// [`entry_settings`](Self::entry_settings)).
    pub(crate) fn entered(&self, id: ScopeId) {
        self.timeout.set(None);
        self.status.set(Status::Entered(id));
    }

    /// What the node is created with: cancel latch, absolute deadline
    /// (`now` resolves a relative timeout), shield.
    pub(crate) fn entry_settings(
        &self,
        now: impl FnOnce() -> Instant,
    ) -> (Option<CancelReason>, Option<Instant>, bool) {
        let deadline = match (self.deadline.get(), self.timeout.get()) {
            (at, None) => at,
            (None, Some(after)) => Some(now() + after),
            (Some(at), Some(after)) => Some(at.min(now() + after)),
        };
        (self.cancel.get(), deadline, self.shield.get())
    }

    /// Exit: the node hands its settings back.
    pub(crate) fn exited(
        &self,
        cancel: Option<CancelReason>,
        deadline: Option<Instant>,
        shield: bool,
    ) {
        self.status.set(Status::Exited);
        // The node had every cancel, the first cause first.
        if cancel.is_some() {
            self.cancel.set(cancel);
        }
        self.deadline.set(deadline);
        self.shield.set(shield);
    }
}

impl fmt::Debug for ScopeCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeCell")
            .field("status", &self.status.get())
            .field("cancel_called", &self.cancel_called())
            .field("cancelled_caught", &self.caught.get())
            .field("deadline", &self.deadline())
            .field("shield", &self.shield())
            .finish()
    }
}
