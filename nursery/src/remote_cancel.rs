//! [`RemoteCancelHandle`]: cancel a scope from another thread.
//!
//! A scope's cell is `Rc`-shared and lives on the runtime thread, so what
//! crosses threads is only a token. [`CancelHandle::remote`] (on the
//! runtime thread) files a `Weak` to the scope's owner under a fresh token
//! in a per-runtime table ([`runtime_local`]); the remote handle holds the
//! token and a runtime [`Handle`]. Its [`cancel`](RemoteCancelHandle::cancel)
//! sends a job over the runtime's remote queue (the one cross-thread wakes
//! use, one doorbell); the job runs on the runtime thread at a tick's end,
//! looks the token up and calls the cell's ordinary `cancel`, so a remote
//! cancel has exactly a local cancel's meaning at the moment it lands:
//! before the scope is entered it starts cancelled, while it runs its code
//! is dropped (in that same tick), after it closed nothing happens. A
//! token whose scope was dropped altogether finds a dead `Weak`: a no-op.
//! Dead entries are pruned as the table grows (amortised, on insert).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::{Rc, Weak};

use arbor_runtime::scope::{CancelReason, CellRef};
use arbor_runtime::{Handle, RuntimeGone, runtime_local};

use crate::CancelHandle;

/// The runtime's table of scopes reachable from other threads.
#[derive(Default)]
struct Table {
    next: Cell<u64>,
    cells: RefCell<HashMap<u64, Weak<dyn CellRef>>>,
    /// Prune dead entries when the table reaches this size.
    prune_at: Cell<usize>,
}

impl Table {
    fn insert(&self, owner: Weak<dyn CellRef>) -> u64 {
        let token = self.next.get();
        self.next.set(token + 1);
        let mut cells = self.cells.borrow_mut();
        if cells.len() >= self.prune_at.get() {
            cells.retain(|_, w| w.strong_count() > 0);
            self.prune_at.set((cells.len() * 2).max(16));
        }
        cells.insert(token, owner);
        token
    }

    fn get(&self, token: u64) -> Option<Rc<dyn CellRef>> {
        self.cells.borrow().get(&token).and_then(Weak::upgrade)
    }
}

/// Runs on the runtime thread: cancel the scope filed under `token`, if it
/// still exists (no borrow of the table is held while it cancels).
fn cancel_on_runtime(token: u64, text: Option<String>) {
    let owner = runtime_local(Table::default).get(token);
    if let Some(owner) = owner {
        match text {
            Some(text) => owner.cell().cancel_with_text(text),
            None => owner.cell().cancel(CancelReason::Explicit),
        }
    }
}

impl CancelHandle {
    /// A handle that cancels this scope from any thread
    /// (`Send + Sync + Clone`), through the runtime running now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor_nursery::CancelScope;
    ///
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let scope = CancelScope::new();
    ///     let remote = scope.handle().remote();
    ///     std::thread::spawn(move || remote.cancel().unwrap());
    ///     let out = scope.run(arbor_runtime::time::sleep(Duration::from_secs(3600))).await;
    ///     assert!(out.is_err() && scope.cancelled_caught());
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a runtime (the remote handle sends its cancels to the
    /// runtime current at this call, which must be the scope's).
    #[track_caller]
    pub fn remote(&self) -> RemoteCancelHandle {
        let handle = Handle::current();
        let token = runtime_local(Table::default).insert(Rc::downgrade(&self.owner));
        RemoteCancelHandle { handle, token }
    }
}

/// Cancels a scope from any thread: see [`CancelHandle::remote`].
///
/// A cancel travels to the runtime thread and takes effect there at the
/// end of a scheduler tick (while the runtime is in `block_on`), with the
/// meaning a local [`CancelHandle::cancel`] would have at that moment:
/// the scope's code is dropped if it is running, it starts cancelled if
/// not entered yet, and nothing happens if it already closed or was
/// dropped.
///
/// ```
/// use arbor_nursery::CancelScope;
///
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let scope = CancelScope::new();
/// let remote = rt.block_on(async { scope.handle().remote() });
/// std::thread::spawn(move || remote.cancel().unwrap()).join().unwrap();
/// rt.block_on(arbor_runtime::yield_now()); // the cancel lands
/// assert!(scope.cancel_called()); // not entered yet: it will start cancelled
/// ```
#[derive(Clone)]
pub struct RemoteCancelHandle {
    handle: Handle,
    token: u64,
}

impl RemoteCancelHandle {
    /// Cancel the scope (idempotent; the first cause wins).
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let scope = arbor_nursery::CancelScope::new();
    /// let remote = rt.block_on(async { scope.handle().remote() });
    /// drop(rt);
    /// assert!(remote.cancel().is_err()); // the runtime is gone
    /// ```
    ///
    /// # Errors
    /// [`RuntimeGone`] if the runtime is dropped or shutting down.
    pub fn cancel(&self) -> Result<(), RuntimeGone<()>> {
        let token = self.token;
        self.handle
            .call_soon(move || cancel_on_runtime(token, None))
            .map_err(|_| RuntimeGone(()))
    }

    /// Cancel the scope, recording why (shown by
    /// [`Cancelled::reason`](crate::Cancelled::reason)).
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let scope = arbor_nursery::CancelScope::new();
    /// let remote = rt.block_on(async { scope.handle().remote() });
    /// std::thread::spawn(move || remote.cancel_with_reason("operator said stop").unwrap())
    ///     .join()
    ///     .unwrap();
    /// rt.block_on(arbor_runtime::yield_now());
    /// assert!(scope.cancel_called());
    /// ```
    ///
    /// # Errors
    /// [`RuntimeGone`] if the runtime is dropped or shutting down.
    pub fn cancel_with_reason(&self, reason: impl Into<String>) -> Result<(), RuntimeGone<()>> {
        let (token, text) = (self.token, reason.into());
        self.handle
            .call_soon(move || cancel_on_runtime(token, Some(text)))
            .map_err(|_| RuntimeGone(()))
    }
}

impl fmt::Debug for RemoteCancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCancelHandle")
            .field("runtime", &self.handle.runtime_id())
            .field("token", &self.token)
            .finish()
    }
}
