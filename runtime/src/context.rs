//! The thread-local pointer to the runtime that is running on this thread,
//! and the list of every runtime that lives on it.
//!
//! `CURRENT` is set by `block_on` (and briefly by `Runtime::spawn`, the
//! runtime's drop and [`with_runtime`]) through an [`Entered`] guard, which
//! restores the previous value when it goes out of scope, also on unwind.
//!
//! A runtime is `!Send`, so everything that belongs to it (tasks, join
//! handles, scope ids) is used on the thread it was built on. When such a
//! thing is used while another runtime, or none, is current (a join handle
//! of runtime A aborted from a task of runtime B, or after `block_on`
//! returned), [`with_runtime`] finds its runtime in `RUNTIMES` and enters
//! it for the call: a task's future is always dropped, and a scope always
//! changed, with its own runtime current.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::rc::{Rc, Weak};

use crate::executor::Core;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
    /// Every runtime alive on this thread, by key (a handful at most).
    static RUNTIMES: RefCell<Vec<(u32, Weak<Core>)>> = const { RefCell::new(Vec::new()) };
}

/// A runtime was built on this thread.
pub(crate) fn register_runtime(core: &Rc<Core>) {
    RUNTIMES.with(|r| r.borrow_mut().push((core.key, Rc::downgrade(core))));
}

/// A runtime of this thread is being dropped.
pub(crate) fn unregister_runtime(key: u32) {
    // During thread-local destruction the list may be gone already.
    let _ = RUNTIMES.try_with(|r| r.borrow_mut().retain(|(k, _)| *k != key));
}

/// Run `f` with the runtime whose key is `key` current: at once if it is
/// the current one, else by entering it for the call. `None` if no runtime
/// with that key lives on this thread (it was dropped, and with it
/// everything `f` could have touched).
#[inline]
pub(crate) fn with_runtime<R>(key: u32, f: impl FnOnce(&Core) -> R) -> Option<R> {
    let current = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    // SAFETY: as in `with`: a non-null pointer is kept alive by the
    // `Entered` guard that set it, further down this thread's stack.
    if let Some(core) = unsafe { current.as_ref() }
        && core.key == key
    {
        return Some(f(core));
    }
    let core = find_runtime(key)?;
    let _entered = enter(&core, true);
    Some(f(&core))
}

/// The runtime of this thread with key `key`, if it is alive.
#[cold]
fn find_runtime(key: u32) -> Option<Rc<Core>> {
    RUNTIMES
        .try_with(|r| {
            r.borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, weak)| weak.upgrade())
        })
        .ok()
        .flatten()
}

/// Restores the previous context on drop.
pub(crate) struct Entered {
    previous: *const Core,
    /// Keeps the core alive while it is reachable through the pointer.
    _core: Rc<Core>,
}

/// Make `core` the current runtime. `nested_ok` allows entering while
/// another runtime is current (only for the runtime's own drop).
pub(crate) fn enter(core: &Rc<Core>, nested_ok: bool) -> Entered {
    let previous = CURRENT.with(|c| c.replace(Rc::as_ptr(core)));
    if !previous.is_null() && !nested_ok {
        CURRENT.with(|c| c.set(previous));
        panic!(
            "cannot block on a runtime from inside a running arbor runtime: \
             block_on would block the thread its tasks run on; await the \
             future instead, or spawn it"
        );
    }
    Entered {
        previous,
        _core: core.clone(),
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Run `f` with the current runtime, or `None` outside one.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    // SAFETY: a non-null pointer was set by `enter`, whose `Entered` guard
    // holds an `Rc` to the core and resets the pointer when dropped; the
    // guard lives on this thread's stack below us, so the core is alive.
    f(unsafe { ptr.as_ref() })
}

/// Run `f` with the current runtime; panics with `what` outside one.
#[inline]
#[track_caller]
pub(crate) fn expect<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    // The check and the panic are in this body, not in the closure given
    // to `with` (which has no caller location to pass on): so the panic
    // points at the user's line through the `#[track_caller]` chain.
    if !CURRENT.try_with(|c| !c.get().is_null()).unwrap_or(false) {
        panic!("{what} must be called from inside an arbor runtime (within block_on)");
    }
    with(|core| f(core.expect("checked just above")))
}
