//! The thread-local pointer to the runtime that is running on this thread.
//!
//! Set by `block_on` (and briefly by `Runtime::spawn` and the runtime's
//! drop) through an [`Entered`] guard, which restores the previous value
//! when it goes out of scope, also on unwind.

use std::cell::Cell;
use std::ptr;
use std::rc::Rc;

use crate::executor::Core;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
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
    with(|core| match core {
        Some(core) => f(core),
        None => panic!("{what} must be called from inside an arbor runtime (within block_on)"),
    })
}
