//! The runtime's side of scope regions: entering and closing nodes for a
//! [`Region`](crate::scope::Region) (lazily in `provisional.rs`), the drop
//! decision's queries, cancelling nodes with their deadlines in the timer
//! wheel, and waking the code a cancellation reaches within the current
//! tick.

use std::rc::Rc;
use std::task::Waker;

use super::{Core, TaskState, TaskSummary};
use crate::scope::tree::{NodeOptions, Owner};
use crate::scope::{CancelReason, NodeKind, ScopeCell, ScopeId, ScopeTable};
use crate::slab::Key;
use crate::task::TaskId;
use crate::task::raw::RawTask;
use crate::task::waker::WakeId;
use crate::time::Instant;

impl Core {
    /// Every live task, for `scope::dump`.
    pub(crate) fn task_list(&self) -> Vec<TaskSummary> {
        let tasks = self.tasks.borrow();
        let names = self.names.borrow();
        tasks
            .keys()
            .into_iter()
            .filter_map(|key| {
                let raw = *tasks.get(key)?;
                let state = raw.state();
                let header = raw.header();
                Some(TaskSummary {
                    id: TaskId::from_key(self.key, key),
                    name: names.get(&key.index).cloned(),
                    scope: header.scope.get(),
                    state: if state.is_running() {
                        TaskState::Running
                    } else if state.is_scheduled() {
                        TaskState::Runnable
                    } else {
                        TaskState::Parked {
                            at: header.await_at.get(),
                            since: crate::time::Instant::from_nanos(header.parked_since.get()),
                        }
                    },
                })
            })
            .collect()
    }

    /// The index of the node task `id` of this runtime is attached to,
    /// `None` if it is gone.
    pub(crate) fn task_scope(&self, id: TaskId) -> Option<u32> {
        if id.runtime != self.key {
            return None;
        }
        let tasks = self.tasks.borrow();
        tasks.get(id.key()).map(|raw| raw.header().scope.get())
    }

    /// Note where the code being polled suspends (`scope::note_await`):
    /// the first note of a poll wins, the innermost wait, as a leaf is
    /// polled before the combinator around it decides to wait too.
    #[inline]
    pub(crate) fn note_await(&self, at: &'static std::panic::Location<'static>) {
        let marks = self.skips.get();
        if marks & super::NOTED == 0
            && let Some(raw) = self.current_raw.get()
        {
            raw.header().await_at.set(Some(at));
            self.skips.set(marks | super::NOTED);
        }
    }

    /// Whether the poll in progress noted its await point.
    #[inline]
    pub(crate) fn poll_noted(&self) -> bool {
        self.skips.get() & super::NOTED != 0
    }

    /// Abort every task spawned into the node at `index` (a scan of the task
    /// slab: this is the rare path of a nursery dropped from outside).
    pub(crate) fn abort_tasks_in(&self, index: u32) {
        let doomed: Vec<(TaskId, RawTask)> = {
            let tasks = self.tasks.borrow();
            tasks
                .keys()
                .into_iter()
                .filter_map(|key| {
                    let raw = *tasks.get(key)?;
                    (raw.header().scope.get() == index)
                        .then_some((TaskId::from_key(self.key, key), raw))
                })
                .collect()
        };
        for (id, raw) in doomed {
            // Still there? An earlier abort's destructors may have ended it.
            if self.tasks.borrow().get(id.key()).is_some() {
                self.abort(id, raw);
            }
        }
    }

    /// Whether the code being polled is in an effectively cancelled node:
    /// one `Cell` read while nothing is cancelled.
    #[inline]
    pub(crate) fn current_cancelled(&self) -> bool {
        self.cancelled_nodes.get() > 0 && self.current_node_cancelled()
    }

    #[inline(never)]
    fn current_node_cancelled(&self) -> bool {
        self.scopes
            .borrow()
            .is_cancelled_at(self.current_node.get())
    }

    /// Who runs the code being polled.
    pub(crate) fn current_owner(&self) -> Owner {
        match self.current.get() {
            Some(id) => Owner::Task(id),
            None => Owner::Root,
        }
    }

    /// The clock reading a scope entered now counts its deadline from: read
    /// once per task poll (at the first scope entry that needs it) and
    /// reused until the poll ends or the virtual clock is advanced. So a
    /// timeout's deadline counts from entry, at most the time this poll has
    /// run since that first reading earlier, and a loop entering many
    /// timeouts in one poll reads the clock once.
    pub(crate) fn poll_now(&self) -> Instant {
        match self.poll_clock.get() {
            Some(now) => now,
            None => {
                let now = self.clock.now();
                self.poll_clock.set(Some(now));
                now
            }
        }
    }

    /// Enter a region: make its node under the current node, owned by the
    /// code running now, with the cell's settings (which the node owns from
    /// now on). A deadline already passed cancels it at once.
    pub(crate) fn enter_region(
        &self,
        cell: &ScopeCell,
        kind: NodeKind,
        name: Option<Rc<str>>,
    ) -> ScopeId {
        self.materialize();
        let (cancelled, deadline, shield) = cell.entry_settings(|| self.poll_now());
        let opts = NodeOptions {
            shield,
            cancelled,
            name,
            deadline,
        };
        let key = self.scopes.borrow_mut().create(
            self.current_node.get(),
            self.current_owner(),
            kind,
            opts,
        );
        let id = ScopeId::new(self.key, key);
        cell.entered(id);
        if cancelled.is_none() && deadline.is_some_and(|d| d <= self.poll_now()) {
            self.cancel_node(key, CancelReason::Deadline);
        }
        id
    }

    /// A lazy region got its node: the cell hands its settings over, with
    /// whatever a handle latched meanwhile (normally nothing).
    pub(crate) fn adopt_node(&self, id: ScopeId, cell: &ScopeCell, name: Option<Rc<str>>) {
        let (cancel, deadline, shield) = cell.latches();
        cell.entered(id);
        if let Some(name) = name {
            self.scopes.borrow_mut().set_name(id.key, name);
        }
        if let Some(reason) = cancel {
            self.cancel_node(id.key, reason);
        }
        if deadline.is_some() && self.node_deadline(id.key) != deadline {
            self.set_node_deadline(id.key, deadline);
        }
        if shield && !self.node_shield(id.key) {
            self.set_node_shield(id.key, true);
        }
    }

    /// Close a region: the node hands its settings back to the cell, its
    /// timer is cancelled, and it is freed once nothing is attached.
    pub(crate) fn close_region(&self, id: ScopeId, cell: &ScopeCell) {
        let (waker, watchers, closed) = self.scopes.borrow_mut().close(id.key);
        if let Some(closed) = closed {
            if let Some(timer) = closed.timer {
                self.timers.borrow_mut().remove(timer);
            }
            cell.exited(closed.cancel_called, closed.deadline, closed.shield);
        }
        drop((waker, watchers));
    }

    /// The node of a provisional region whose code panicked.
    pub(crate) fn close_node_of_panicked(&self, key: Key) {
        let (waker, watchers, closed) = self.scopes.borrow_mut().close(key);
        if let Some(timer) = closed.and_then(|c| c.timer) {
            self.timers.borrow_mut().remove(timer);
        }
        drop((waker, watchers));
    }

    /// Remember the waker of the code polling in a region, to wake it when
    /// the region is cancelled.
    pub(crate) fn set_region_waker(&self, key: Key, waker: &Waker) {
        let old = {
            let mut scopes = self.scopes.borrow_mut();
            match scopes.get_mut(key) {
                Some(node) => match &node.waker {
                    Some(w) if w.will_wake(waker) => None,
                    _ => node.waker.replace(waker.clone()),
                },
                None => None,
            }
        };
        // A foreign waker's drop may run arbitrary code: not under the borrow.
        drop(old);
    }

    pub(crate) fn region_must_drop(&self, key: Key) -> bool {
        self.cancelled_nodes.get() > 0 && self.scopes.borrow_mut().must_drop(key)
    }

    pub(crate) fn region_caught(&self, key: Key) -> Option<CancelReason> {
        self.scopes.borrow().caught(key)
    }

    /// A region is about to poll its code. `may_drop`: it polled before
    /// and nothing inside was held at that poll (see [`Core::hold`]). Says
    /// whether the code must be dropped instead (the node is effectively
    /// cancelled and nothing inside must finish first:
    /// `ScopeTable::has_blocker`); if not, remembers the waker to wake on
    /// cancellation. One lookup of the node.
    pub(crate) fn begin_region_poll(&self, key: Key, waker: &Waker, may_drop: bool) -> bool {
        let mut scopes = self.scopes.borrow_mut();
        let Some(node) = scopes.get(key) else {
            return false;
        };
        if may_drop && node.effective && !scopes.has_blocker(key.index) {
            // About to be dropped: no waker to remember.
            return true;
        }
        let node = scopes.get_mut(key).expect("looked up above");
        let old = match &node.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => node.waker.replace(waker.clone()),
        };
        drop(scopes);
        // A foreign waker's drop may run arbitrary code: not under the borrow.
        drop(old);
        false
    }

    /// Something in the code being polled must get the next poll of its
    /// task before any region around it drops it: an operation that took
    /// effect and yields before returning its result (a schedule point),
    /// or a `cancelled()` future waiting to see a cancellation. Every
    /// region records whether a hold happened during its poll (it compares
    /// `holds` around the poll) and, if so, polls instead of dropping next
    /// time.
    pub(crate) fn hold(&self) {
        self.holds.set(self.holds.get().wrapping_add(1));
    }

    /// A schedule point after an operation took effect: must the caller
    /// yield now? Yes if other code is ready to run (a task queued, the
    /// root future woken) or this poll has skipped 128 schedule points in a
    /// row (so a task looping on operations that complete at once still
    /// lets timers and I/O in); then the caller is woken and held (it gets
    /// the next poll, whatever is cancelled meanwhile). No otherwise: a
    /// yield that would find nothing else to do costs this check only.
    /// The check is inlined into the caller; the yield is not.
    #[inline]
    pub(crate) fn schedule_point(&self, waker: &Waker) -> bool {
        const SKIP_BUDGET: u32 = 128;
        let skips = self.skips.get();
        if skips & !super::NOTED < SKIP_BUDGET && !self.other_code_ready() {
            self.skips.set(skips + 1);
            return false;
        }
        self.yield_at_schedule_point(waker);
        true
    }

    #[inline(never)]
    fn yield_at_schedule_point(&self, waker: &Waker) {
        self.skips.set(self.skips.get() & super::NOTED);
        self.hold();
        self.wake_by_ref(waker);
    }

    /// Whether code other than what is being polled is ready to run: a
    /// task queued, or the root future woken while a task is polled.
    #[inline]
    fn other_code_ready(&self) -> bool {
        (self.current.get().is_some() && self.root_woken.get())
            || !self.run_queue.borrow().is_empty()
            || !self.urgent_queue.borrow().is_empty()
    }

    /// `waker.wake_by_ref()`, without the trip through the thread-local
    /// context when it is an arbor waker of this runtime (the current
    /// one): exactly what its vtable would end up doing.
    #[inline]
    pub(crate) fn wake_by_ref(&self, waker: &Waker) {
        match crate::task::waker::id_of(waker) {
            Some(id) if id.runtime() == self.key => self.wake_local(id),
            _ => waker.wake_by_ref(),
        }
    }

    /// Run `f` (a poll of a region's code) with the region's node current;
    /// restored also on unwind.
    #[inline]
    pub(crate) fn poll_in_region<R>(&self, key: Key, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Core, u32);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.current_node.set(self.1);
            }
        }
        let _restore = Restore(self, self.current_node.replace(key.index));
        f()
    }

    /// A `cancelled()` future is polled: whether the code running now is in
    /// an effectively cancelled node. If not, `waker` is woken when it
    /// becomes so (registered in `watch`, the future's own entry in the
    /// node's watchers, replaced if the future moved to another node), and
    /// the future holds (see [`Core::hold`]): while it is awaited, the
    /// regions around it let it see the cancellation before dropping the
    /// code.
    pub(crate) fn notice_cancel(&self, waker: &Waker, watch: &mut Option<Watch>) -> bool {
        self.materialize();
        let index = self.current_node.get();
        let mut scopes = self.scopes.borrow_mut();
        let Some(key) = scopes.key_of(index) else {
            return false;
        };
        let stale = watch.take_if(|w| w.key != key);
        if let Some(stale) = stale {
            forget_watch(&mut scopes, stale);
        }
        let node = scopes.get_mut(key).expect("key_of found it");
        if node.effective {
            if let Some(done) = watch.take() {
                forget_watch(&mut scopes, done);
            }
            return true;
        }
        let watchers = node.watchers.get_or_insert_with(Box::default);
        match watch {
            Some(w) => match watchers.iter_mut().find(|(id, _)| *id == w.id) {
                Some((_, old)) if old.will_wake(waker) => {}
                Some((_, old)) => *old = waker.clone(),
                None => watchers.push((w.id, waker.clone())),
            },
            None => {
                let id = self.next_watch.get();
                self.next_watch.set(id.wrapping_add(1));
                watchers.push((id, waker.clone()));
                *watch = Some(Watch { key, id });
            }
        }
        drop(scopes);
        self.hold();
        false
    }

    /// A `cancelled()` future that registered `watch` is dropped: remove
    /// its entry (nothing if the node is gone or already took it).
    pub(crate) fn forget_watch(&self, watch: Watch) {
        // Never borrowed here in practice (user code does not run while
        // the table is borrowed); if it were, the entry would only wait
        // for the node's cancel or close.
        let removed = match self.scopes.try_borrow_mut() {
            Ok(mut scopes) => forget_watch(&mut scopes, watch),
            Err(_) => None,
        };
        // A foreign waker's destructor may run code: not under the borrow.
        drop(removed);
    }

    /// The node's own cancel, latching a deadline that has passed (its
    /// timer may not have fired yet).
    pub(crate) fn node_cancel_called(&self, key: Key) -> Option<CancelReason> {
        let (called, deadline) = {
            let scopes = self.scopes.borrow();
            let node = scopes.get(key)?;
            (node.cancel_called, node.deadline)
        };
        if called.is_none() && deadline.is_some_and(|d| d <= self.clock.now()) {
            self.cancel_node(key, CancelReason::Deadline);
            return Some(CancelReason::Deadline);
        }
        called
    }

    pub(crate) fn node_deadline(&self, key: Key) -> Option<Instant> {
        self.scopes.borrow().get(key).and_then(|n| n.deadline)
    }

    pub(crate) fn node_shield(&self, key: Key) -> bool {
        self.scopes.borrow().get(key).is_some_and(|n| n.shield)
    }

    pub(crate) fn set_node_shield(&self, key: Key, shield: bool) {
        let mut wake = Vec::new();
        self.scopes.borrow_mut().set_shield(key, shield, &mut wake);
        self.wake_urgently(wake);
    }

    pub(crate) fn cancel_node(&self, key: Key, reason: CancelReason) {
        let mut wake = Vec::new();
        let (called, timer) = {
            let mut scopes = self.scopes.borrow_mut();
            let called = scopes.cancel(key, reason, &mut wake);
            // A cancelled scope's deadline can change nothing any more.
            (called, scopes.get_mut(key).and_then(|n| n.timer.take()))
        };
        if let Some(timer) = timer {
            self.timers.borrow_mut().remove(timer);
        }
        if called && self.instruments.active() {
            self.hook_scope_cancel(Some(ScopeId::new(self.key, key)), reason);
        }
        self.wake_urgently(wake);
    }

    /// Wake the code a cancellation reached, to run in the current tick.
    pub(crate) fn wake_urgently(&self, wakers: Vec<Waker>) {
        let was = self.urgent.replace(true);
        wakers.into_iter().for_each(Waker::wake);
        self.urgent.set(was);
    }

    /// Move a node's deadline (a handle's `set_deadline`): a deadline at
    /// or before now cancels it now; once armed, the timer entry follows.
    pub(crate) fn set_node_deadline(&self, key: Key, deadline: Option<Instant>) {
        let (open, cancelled, armed) = {
            let mut scopes = self.scopes.borrow_mut();
            let Some(node) = scopes.get_mut(key) else {
                return;
            };
            node.deadline = deadline;
            (node.open, node.cancel_called.is_some(), node.armed)
        };
        if !open || cancelled {
            return;
        }
        if deadline.is_some_and(|d| d <= self.clock.now()) {
            self.cancel_node(key, CancelReason::Deadline);
        } else if armed {
            self.file_timer(key, deadline);
        }
    }

    /// The code in a node suspended: from now on its deadline needs a
    /// timer. No clock read: a deadline already passed is filed as due and
    /// fires at the run loop's next timer step.
    pub(crate) fn arm_node(&self, key: Key) {
        let deadline = {
            let mut scopes = self.scopes.borrow_mut();
            let Some(node) = scopes.get_mut(key) else {
                return;
            };
            if node.armed {
                return;
            }
            node.armed = true;
            if node.cancel_called.is_some() {
                return;
            }
            node.deadline
        };
        if deadline.is_some() {
            self.file_timer(key, deadline);
        }
    }

    /// Keep an armed node's timer entry in step with its deadline: a later
    /// deadline only updates the entry (the wheel re-files it lazily).
    fn file_timer(&self, key: Key, deadline: Option<Instant>) {
        let timer = self.scopes.borrow().get(key).and_then(|n| n.timer);
        let Some(deadline) = deadline else {
            if let Some(timer) = timer {
                self.timers.borrow_mut().remove(timer);
                if let Some(node) = self.scopes.borrow_mut().get_mut(key) {
                    node.timer = None;
                }
            }
            return;
        };
        let tick = self.clock.tick_for(deadline);
        let mut timers = self.timers.borrow_mut();
        match timer {
            Some(timer) if !timers.is_fired(timer) => timers.reset_deadline(timer, tick),
            _ => {
                if let Some(timer) = timer {
                    timers.remove(timer);
                }
                let waker = crate::task::waker::scope_timer_waker(WakeId::task(
                    self.key,
                    key.index,
                    key.generation,
                ));
                let timer = timers.insert(tick, waker);
                drop(timers);
                if let Some(node) = self.scopes.borrow_mut().get_mut(key) {
                    node.timer = Some(timer);
                }
            }
        }
    }

    /// A scope's deadline timer fired (see `task::waker::scope_timer_waker`).
    pub(crate) fn deadline_fired(&self, id: WakeId) {
        let found = self
            .scopes
            .borrow()
            .get_masked_key(id.index(), id.generation());
        let Some(key) = found else { return };
        let (due, timer) = {
            let mut scopes = self.scopes.borrow_mut();
            let Some(node) = scopes.get_mut(key) else {
                return;
            };
            let due = node.deadline.is_some_and(|d| d <= self.clock.now());
            (due, if due { node.timer.take() } else { None })
        };
        if let Some(timer) = timer {
            self.timers.borrow_mut().remove(timer);
        }
        if due {
            self.cancel_node(key, CancelReason::Deadline);
        }
    }
}

/// A `cancelled()` future's entry in a node's watchers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    key: Key,
    id: u64,
}

/// Remove `watch`'s entry, returning its waker (to drop outside the
/// borrow).
fn forget_watch(scopes: &mut ScopeTable, watch: Watch) -> Option<Waker> {
    let watchers = scopes.get_mut(watch.key)?.watchers.as_mut()?;
    let at = watchers.iter().position(|(id, _)| *id == watch.id)?;
    Some(watchers.swap_remove(at).1)
}
