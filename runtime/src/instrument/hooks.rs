//! The runtime's side of instruments: the installed list, and the calls
//! into it.
//!
//! The run loop reads one `Cell<bool>` per poll (`active`); everything
//! else here runs only with an instrument installed, out of line. The
//! list is an `Rc<[..]>` replaced on every change, so a call takes a
//! reference count of the current list, releases the borrow, and then
//! calls user code: a hook that adds or removes instruments changes the
//! list for the next event, not the loop in progress.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use super::Instrument;

type Entry = (u64, Rc<dyn Instrument>);

#[derive(Default)]
pub(crate) struct Instruments {
    list: RefCell<Rc<[Entry]>>,
    /// `!list.is_empty()`, readable without a borrow.
    active: Cell<bool>,
    next_id: Cell<u64>,
}

impl Instruments {
    pub(crate) fn new(initial: Vec<Rc<dyn Instrument>>) -> Instruments {
        let this = Instruments::default();
        for instrument in initial {
            this.add(instrument);
        }
        this
    }

    /// Whether any instrument is installed: the run loop's one check.
    #[inline(always)]
    pub(crate) fn active(&self) -> bool {
        self.active.get()
    }

    pub(crate) fn add(&self, instrument: Rc<dyn Instrument>) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let mut list = self.list.borrow_mut();
        let mut entries = list.to_vec();
        entries.push((id, instrument));
        *list = entries.into();
        self.active.set(true);
        id
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut list = self.list.borrow_mut();
        if !list.iter().any(|(i, _)| *i == id) {
            return false;
        }
        let entries: Vec<Entry> = list.iter().filter(|(i, _)| *i != id).cloned().collect();
        self.active.set(!entries.is_empty());
        // The old list (and maybe the instrument) is dropped after the
        // borrow ends: its destructor is user code.
        let old = std::mem::replace(&mut *list, entries.into());
        drop(list);
        drop(old);
        true
    }

    pub(crate) fn ids(&self) -> Vec<u64> {
        self.list.borrow().iter().map(|(id, _)| *id).collect()
    }

    /// Call `hook` on every installed instrument, in order. One that
    /// panics is removed (trio's rule for an instrument that raises).
    #[cold]
    #[inline(never)]
    pub(crate) fn each(&self, method: &str, hook: impl Fn(&dyn Instrument)) {
        let list = self.list.borrow().clone();
        for (id, instrument) in list.iter() {
            if catch_unwind(AssertUnwindSafe(|| hook(&**instrument))).is_err() {
                eprintln!(
                    "arbor: an instrument panicked in {method}; it is removed from the runtime"
                );
                self.remove(*id);
            }
        }
    }
}

/// The calls the runtime makes, each out of line: the caller checks
/// `instruments.active()` first.
impl crate::executor::Core {
    #[cold]
    #[inline(never)]
    pub(crate) fn hook_spawn(&self, task: crate::TaskId, scope: crate::scope::ScopeId) {
        let name = self.task_name(task);
        let event = super::SpawnEvent {
            task,
            name: name.as_deref(),
            scope,
            spawned_by: self.current_task_id(),
        };
        self.instruments.each("on_spawn", |i| i.on_spawn(&event));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn hook_poll_start(&self, task: crate::TaskId) {
        self.instruments
            .each("on_poll_start", |i| i.on_poll_start(task));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn hook_poll_end(&self, task: crate::TaskId) {
        self.instruments
            .each("on_poll_end", |i| i.on_poll_end(task));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn hook_task_exit(&self, task: crate::TaskId, exit: super::TaskExit) {
        self.instruments
            .each("on_task_exit", |i| i.on_task_exit(task, exit));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn hook_park(&self, timeout: Option<std::time::Duration>) {
        self.instruments.each("on_park", |i| i.on_park(timeout));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn hook_unpark(&self) {
        self.instruments.each("on_unpark", |i| i.on_unpark());
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn hook_scope_cancel(
        &self,
        scope: Option<crate::scope::ScopeId>,
        reason: crate::scope::CancelReason,
    ) {
        let event = super::ScopeCancelEvent { scope, reason };
        self.instruments
            .each("on_scope_cancel", |i| i.on_scope_cancel(&event));
    }
}
