//! [`CancelScope`] and its [`CancelHandle`].

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use arbor_runtime::scope::NodeKind;
use arbor_runtime::time::Instant;

use crate::scoped::Scoped;
use crate::state::{Phase, ScopeState};

/// A region of code that can be cancelled as a unit, explicitly through a
/// [`CancelHandle`] or by a deadline.
///
/// [`run`](CancelScope::run) wraps a future: it completes with the
/// future's output, or with [`Cancelled`](crate::Cancelled) when the scope
/// was cancelled and dropped the future. Cancellation is prompt (the task
/// is woken and the future dropped at its next poll, even if it was parked
/// on a timer an hour away) and level-triggered (arbor operations in the
/// scope make no further progress). A scope entered already cancelled
/// still runs its future until the first suspension.
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
    state: Rc<ScopeState>,
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
            state: Rc::new(ScopeState::new()),
        }
    }

    /// Cancel the scope at `deadline` (on the runtime's clock). A deadline
    /// already past when the scope is entered cancels it on entry.
    pub fn with_deadline(self, deadline: Instant) -> Self {
        self.state.set_deadline(Some(deadline));
        self
    }

    /// Cancel the scope `timeout` after it is entered.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.state.timeout.set(Some(timeout));
        self
    }

    /// Shield the scope: cancellation of enclosing scopes does not reach
    /// it (its own handle and deadline still do).
    pub fn shielded(self, shield: bool) -> Self {
        self.state.shield.set(shield);
        self
    }

    /// A handle that can cancel the scope or change its deadline and
    /// shield, from any task on this thread, before, while and after it runs.
    pub fn handle(&self) -> CancelHandle {
        CancelHandle::new(self.state.clone())
    }

    /// Run `future` inside the scope.
    ///
    /// # Panics
    /// If the scope was already run: a scope is entered once.
    #[track_caller]
    pub fn run<F: Future>(
        &self,
        future: F,
    ) -> impl Future<Output = Result<F::Output, crate::Cancelled>> + use<F> {
        assert!(
            self.state.phase.get() == Phase::Idle,
            "a CancelScope can only be run once; make a new one"
        );
        Scoped::new(self.state.clone(), NodeKind::Scope, future)
    }

    /// Cancel the scope (same as `self.handle().cancel()`).
    pub fn cancel(&self) {
        self.state.cancel(None);
    }

    /// Whether the scope's cancel was called, by a handle or its deadline.
    pub fn cancel_called(&self) -> bool {
        self.state.is_cancel_called()
    }

    /// Whether this scope dropped its future because it was cancelled
    /// (false when an enclosing scope did, or the future finished first).
    pub fn cancelled_caught(&self) -> bool {
        self.state.caught.get()
    }

    /// The scope's deadline, if it has one (a timeout becomes one at entry).
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline.get()
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_state(f, "CancelScope", &self.state)
    }
}

/// Cancels a [`CancelScope`] or moves its deadline; cheap to clone.
///
/// A handle works before the scope is entered (the scope then starts
/// cancelled), while it runs (cancellation reaches every task inside it),
/// and after it exits (nothing happens). It is `!Send`: it belongs to the
/// runtime thread, like the scope.
#[derive(Clone)]
pub struct CancelHandle {
    owner: Rc<dyn HasScope>,
}

/// Something that holds a scope's state inline (a scope, a nursery, a
/// child), so a handle costs no allocation of its own.
pub(crate) trait HasScope {
    fn scope_state(&self) -> &ScopeState;
}

impl HasScope for ScopeState {
    fn scope_state(&self) -> &ScopeState {
        self
    }
}

impl CancelHandle {
    pub(crate) fn new(owner: Rc<dyn HasScope>) -> Self {
        CancelHandle { owner }
    }

    fn state(&self) -> &ScopeState {
        self.owner.scope_state()
    }

    /// Cancel the scope. Idempotent.
    pub fn cancel(&self) {
        self.state().cancel(None);
    }

    /// Cancel the scope, recording why (shown by
    /// [`Cancelled::reason`](crate::Cancelled::reason) and in dumps).
    pub fn cancel_with_reason(&self, reason: impl Into<String>) {
        self.state().cancel(Some(reason.into().into_boxed_str()));
    }

    /// Whether the scope's cancel was called, by a handle or its deadline.
    pub fn is_cancel_called(&self) -> bool {
        self.state().is_cancel_called()
    }

    /// Whether the scope dropped its future because it was cancelled.
    pub fn cancelled_caught(&self) -> bool {
        self.state().caught.get()
    }

    /// The scope's deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.state().deadline.get()
    }

    /// Move (or clear) the deadline. Later never un-cancels; a deadline
    /// already past cancels the scope at once (its code is dropped at its
    /// next suspension).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.state().set_deadline(deadline);
    }

    /// Turn the shield on or off. Turning it off while an enclosing scope
    /// is cancelled lets that cancellation in at once.
    pub fn set_shield(&self, shield: bool) {
        self.state().set_shield(shield);
    }

    /// Whether the scope is shielded.
    pub fn shield(&self) -> bool {
        self.state().shield.get()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_state(f, "CancelHandle", self.state())
    }
}

fn debug_state(f: &mut fmt::Formatter<'_>, name: &str, state: &ScopeState) -> fmt::Result {
    f.debug_struct(name)
        .field("phase", &state.phase.get())
        .field("cancel_called", &state.is_cancel_called())
        .field("cancelled_caught", &state.caught.get())
        .field("deadline", &state.deadline.get())
        .field("shield", &state.shield.get())
        .finish()
}
