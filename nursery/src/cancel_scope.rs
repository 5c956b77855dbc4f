//! [`CancelScope`] and its [`CancelHandle`].

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use arbor_runtime::scope::{CancelReason, CellRef, ScopeCell};
use arbor_runtime::time::Instant;

use crate::scoped::Scoped;

/// A region of code that can be cancelled as a unit, explicitly through a
/// [`CancelHandle`] or by a deadline.
///
/// [`run`](CancelScope::run) wraps a future: it completes with the
/// future's output, or with [`Cancelled`](crate::Cancelled) when the scope
/// caught its own cancellation and dropped the future. Cancellation is
/// prompt (the task is woken and the future dropped at its next poll, even
/// if it was parked on a timer an hour away) and level-triggered (arbor
/// operations in the scope make no further progress). A scope entered
/// already cancelled still runs its future until the first suspension.
/// A cancellation of an enclosing scope is not caught here: it passes
/// through to the scope that was cancelled, and so do errors the future
/// returns.
///
/// ```
/// use std::time::Duration;
/// use arbor_nursery::CancelScope;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let scope = CancelScope::new().with_timeout(Duration::from_secs(5));
///     let out = scope.run(arbor_runtime::time::sleep(Duration::from_secs(3600))).await;
///     assert!(out.is_err());
///     assert!(scope.cancel_called() && scope.cancelled_caught());
/// });
/// ```
pub struct CancelScope {
    cell: Rc<ScopeCell>,
}

impl Default for CancelScope {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelScope {
    /// A scope with no deadline and no shield.
    pub fn new() -> Self {
        CancelScope {
            cell: Rc::new(ScopeCell::new()),
        }
    }

    /// Cancel the scope at `deadline` (on the runtime's clock). A deadline
    /// already past when the scope is entered cancels it on entry.
    pub fn with_deadline(self, deadline: Instant) -> Self {
        self.cell.set_deadline(Some(deadline));
        self
    }

    /// Cancel the scope `timeout` after it is entered (counted from entry;
    /// see the crate docs on the clock reading used).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.cell.set_timeout(timeout);
        self
    }

    /// Shield the scope: cancellation of enclosing scopes does not reach
    /// it (its own handle and deadline still do).
    pub fn shielded(self, shield: bool) -> Self {
        self.cell.set_shield(shield);
        self
    }

    /// A handle that can cancel the scope or change its deadline and
    /// shield, from any task on this thread, before, while and after it runs.
    pub fn handle(&self) -> CancelHandle {
        CancelHandle::new(self.cell.clone())
    }

    /// Run `future` inside the scope.
    ///
    /// # Cancel safety
    /// Dropping the returned future drops `future` and leaves the scope
    /// (nothing else is affected).
    ///
    /// # Panics
    /// If the scope was already run: a scope is entered once.
    #[track_caller]
    pub fn run<F: Future>(
        &self,
        future: F,
    ) -> impl Future<Output = Result<F::Output, crate::Cancelled>> + use<F> {
        assert!(
            self.cell.claim(),
            "a CancelScope can only be run once; make a new one"
        );
        Scoped::new(self.cell.clone(), future)
    }

    /// Cancel the scope (same as `self.handle().cancel()`).
    pub fn cancel(&self) {
        self.cell.cancel(CancelReason::Explicit);
    }

    /// Whether the scope's cancel was called, by a handle or its deadline
    /// (a deadline that has passed counts, even before the scope runs).
    pub fn cancel_called(&self) -> bool {
        self.cell.cancel_called().is_some()
    }

    /// What cancelled the scope first, if anything did.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.cell.cancel_called()
    }

    /// Whether this scope dropped its future because it was cancelled
    /// (false when an enclosing scope did, or the future finished first).
    pub fn cancelled_caught(&self) -> bool {
        self.cell.cancelled_caught()
    }

    /// The scope's deadline, if it has one (a timeout becomes one at entry).
    pub fn deadline(&self) -> Option<Instant> {
        self.cell.deadline()
    }

    /// Whether the scope is shielded.
    pub fn shield(&self) -> bool {
        self.cell.shield()
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_cell(f, "CancelScope", &self.cell)
    }
}

/// Cancels a [`CancelScope`] (or a nursery, or a nursery child) or moves
/// its deadline; cheap to clone.
///
/// A handle works before the scope is entered (the scope then starts
/// cancelled), while it runs (cancellation reaches every task inside it),
/// and after it exits (nothing happens). It is `!Send`: it belongs to the
/// runtime thread, like the scope; [`remote`](CancelHandle::remote) gives
/// a `Send` one for other threads.
#[derive(Clone)]
pub struct CancelHandle {
    pub(crate) owner: Rc<dyn CellRef>,
}

impl CancelHandle {
    pub(crate) fn new(owner: Rc<dyn CellRef>) -> Self {
        CancelHandle { owner }
    }

    fn cell(&self) -> &ScopeCell {
        self.owner.cell()
    }

    /// Cancel the scope. Idempotent; the first cause wins.
    pub fn cancel(&self) {
        self.cell().cancel(CancelReason::Explicit);
    }

    /// Cancel the scope, recording why (shown by
    /// [`Cancelled::reason`](crate::Cancelled::reason)).
    pub fn cancel_with_reason(&self, reason: impl Into<String>) {
        self.cell().cancel_with_text(reason);
    }

    /// Whether the scope's cancel was called, by a handle or its deadline.
    pub fn cancel_called(&self) -> bool {
        self.cell().cancel_called().is_some()
    }

    /// What cancelled the scope first, if anything did.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.cell().cancel_called()
    }

    /// Whether the scope dropped its future because it was cancelled.
    pub fn cancelled_caught(&self) -> bool {
        self.cell().cancelled_caught()
    }

    /// The scope's deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.cell().deadline()
    }

    /// Move (or clear) the deadline. Later never un-cancels; a deadline
    /// already past cancels the scope at once (its code is dropped at its
    /// next suspension).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.cell().set_deadline(deadline);
    }

    /// Turn the shield on or off. Turning it off while an enclosing scope
    /// is cancelled lets that cancellation in at once.
    pub fn set_shield(&self, shield: bool) {
        self.cell().set_shield(shield);
    }

    /// Whether the scope is shielded.
    pub fn shield(&self) -> bool {
        self.cell().shield()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_cell(f, "CancelHandle", self.cell())
    }
}

fn debug_cell(f: &mut fmt::Formatter<'_>, name: &str, cell: &ScopeCell) -> fmt::Result {
    f.debug_struct(name)
        .field("entered", &cell.is_entered())
        .field("cancel_called", &cell.cancel_called())
        .field("cancelled_caught", &cell.cancelled_caught())
        .field("deadline", &cell.deadline())
        .field("shield", &cell.shield())
        .finish()
}
