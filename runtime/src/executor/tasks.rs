//! The runtime's side of tasks: spawning (also running a task's first step
//! at once), aborting, dropping a task's future as the task, moving a task
//! under another scope, waking, and the shutdown that drops them all.

use std::future::Future;
use std::rc::Rc;

use super::Core;
use crate::instrument::{Counters, TaskExit};
use crate::scope::ScopeId;
use crate::task::local::WithCtx;
use crate::task::raw::RawTask;
use crate::task::state::{AbortAction, WakeAction};
use crate::task::waker::{MAX_TASKS, WakeId};
use crate::task::{JoinHandle, TaskId};

impl Core {
    #[inline]
    pub(crate) fn spawn<F>(
        &self,
        scope: ScopeId,
        name: Option<Rc<str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let (handle, queued) = self.spawn_task_here(scope, name, future);
        if let Some(id) = queued {
            self.run_queue.borrow_mut().push_back(id);
        }
        handle
    }

    /// Spawn a task into `scope` and run its first step now, nested in the
    /// poll in progress (`scope::spawn_now`): it runs as itself (its id,
    /// its waker, its node), and the poll in progress is set aside
    /// meanwhile, as for a drop.
    pub(crate) fn spawn_now<F>(
        &self,
        scope: ScopeId,
        name: Option<Rc<str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let (handle, queued) = self.spawn_task_here(scope, name, future);
        let Some(id) = queued else { return handle };
        let Some(raw) = self.tasks.borrow().get(id.key()).copied() else {
            return handle;
        };
        if raw.state().start_poll() == crate::task::state::StartPoll::Skip {
            return handle;
        }
        let waker = crate::task::waker::waker(WakeId::task(self.key, id.index, id.generation));
        let mut cx = std::task::Context::from_waker(&waker);
        self.counters.polls(1);
        let hooked = self.instruments.active();
        if hooked {
            self.hook_poll_start(id);
        }
        // As its own poll, with its own marks: read `noted` before
        // `as_task` gives the spawner's back.
        let (poll, noted) = self.as_task(id, raw, || (raw.poll(&mut cx), self.poll_noted()));
        if hooked {
            self.hook_poll_end(id);
        }
        self.after_poll(id, raw, poll, || noted);
        handle
    }

    /// Run `f` as task `id`: its id and node current, and the poll in
    /// progress (if any: the running task's, or the root's) set aside with
    /// its provisional scopes and clock reading, then restored.
    fn as_task<R>(&self, id: TaskId, raw: RawTask, f: impl FnOnce() -> R) -> R {
        let current = self.current.replace(Some(id));
        let current_raw = self.current_raw.replace(Some(raw));
        let node = self.current_node.replace(raw.header().scope.get());
        let provisional = self.take_provisional();
        let clock = self.poll_clock.take();
        let holds = self.holds.get();
        let skips = self.skips.replace(0);
        // Not the poller's task-locals either: the task brings its own.
        let locals = crate::task::local::clear();
        let out = f();
        drop(locals);
        self.current.set(current);
        self.current_raw.set(current_raw);
        self.current_node.set(node);
        self.restore_provisional(provisional);
        self.poll_clock.set(clock);
        // Holds made by that task are not the poller's.
        self.holds.set(holds);
        self.skips.set(skips);
        out
    }

    /// `spawn_task`, the task inheriting the task-locals visible here;
    /// with none set it is spawned bare (no wrapper, nothing per poll).
    #[inline]
    fn spawn_task_here<F>(
        &self,
        scope: ScopeId,
        name: Option<Rc<str>>,
        future: F,
    ) -> (JoinHandle<F::Output>, Option<TaskId>)
    where
        F: Future + 'static,
    {
        if crate::task::local::any_set() {
            self.spawn_inheriting(scope, name, future)
        } else {
            self.spawn_task(scope, name, future)
        }
    }

    /// `spawn_task` of a task that starts with a snapshot of the
    /// task-locals visible here. Out of line: the common spawn, with none
    /// set, stays as small as it was.
    #[inline(never)]
    fn spawn_inheriting<F>(
        &self,
        scope: ScopeId,
        name: Option<Rc<str>>,
        future: F,
    ) -> (JoinHandle<F::Output>, Option<TaskId>)
    where
        F: Future + 'static,
    {
        let ctx = crate::task::local::snapshot();
        self.spawn_task(scope, name, WithCtx::new(ctx, future))
    }

    /// Make the task and its handle; `Some(id)` if it is to be run (it
    /// was not cancelled at once by a shutdown in progress).
    #[inline]
    fn spawn_task<F>(
        &self,
        scope: ScopeId,
        name: Option<Rc<str>>,
        future: F,
    ) -> (JoinHandle<F::Output>, Option<TaskId>)
    where
        F: Future + 'static,
    {
        let raw = RawTask::new(future, scope.index());
        let key = self.tasks.borrow_mut().insert(raw);
        let Some(key) = key else {
            // Never polled, so never running: the abort drops it now.
            let _ = raw.state().abort();
            raw.drop_future();
            let _ = raw.state().release_slab();
            raw.release(raw.state().release_handle());
            panic!("too many live tasks in one arbor runtime (at most {MAX_TASKS})");
        };
        let id = TaskId::from_key(self.key, key);
        self.scopes.borrow_mut().attach_task(scope.index());
        let handle = JoinHandle::new(raw, id);
        if let Some(name) = name {
            self.names.borrow_mut().insert(id.index, name);
        }
        self.count_spawn(id, scope);
        if self.shutting_down.get() {
            // Spawned from a destructor during shutdown: nothing will poll
            // it, so cancel it now rather than leak it.
            self.abort(id, raw);
            return (handle, None);
        }
        (handle, Some(id))
    }

    /// Count a spawn and tell the instruments: not generic, so the spawn
    /// inlined into every caller stays small.
    #[inline(never)]
    fn count_spawn(&self, id: TaskId, scope: ScopeId) {
        Counters::bump(&self.counters.spawned, 1);
        if self.instruments.active() {
            self.hook_spawn(id, scope);
        }
    }

    /// Move the running task, with its regions, under `to`: it is detached
    /// from its node and attached to `to`, and its regions hanging right
    /// below the old node move below `to` (everything inside them follows).
    pub(crate) fn move_current_task(&self, to: crate::slab::Key) -> bool {
        let Some(id) = self.current.get() else {
            return false;
        };
        // Regions of this poll without a node yet get one, so they move too.
        self.materialize();
        let Some(raw) = self.tasks.borrow().get(id.key()).copied() else {
            return false;
        };
        let from = raw.header().scope.get();
        let mut wake = Vec::new();
        let moved = self.scopes.borrow_mut().move_task(
            from,
            to,
            crate::scope::tree::Owner::Task(id),
            &mut wake,
        );
        if moved {
            raw.header().scope.set(to.index);
            if self.current_node.get() == from {
                self.current_node.set(to.index);
            }
        }
        self.wake_urgently(wake);
        moved
    }

    /// Abort a task of this runtime: drop its future now, or after its
    /// poll if it is the one running; nothing if it finished or its future
    /// is being dropped already (an abort from its own destructor).
    pub(crate) fn abort(&self, id: TaskId, raw: RawTask) {
        match raw.state().abort() {
            AbortAction::DropNow => self.drop_task_future(id, raw),
            AbortAction::Deferred | AbortAction::Finished => {}
        }
    }

    /// Drop an aborted task's future and release its slot. The destructor
    /// runs as the task (`current_task` names it, and what it spawns goes
    /// where the task would spawn), like its polls did.
    pub(crate) fn drop_task_future(&self, id: TaskId, raw: RawTask) {
        // The destructor is the dropped task's code, not the poller's.
        self.as_task(id, raw, || raw.drop_future());
        // The slab's reference kept `raw` alive through the drop, unless the
        // destructor released it (dropped the runtime): `remove_task` looks
        // the id up before it touches `raw`.
        self.remove_task(id, raw, TaskExit::Dropped);
    }

    /// A wake of `id` on this runtime. The root's and the polled task's
    /// own wakes (a yield, a schedule point) are inlined and touch a few
    /// `Cell`s; any other task is looked up in the slab, out of line.
    #[inline]
    pub(super) fn wake_local(&self, id: WakeId) {
        if id.is_root() {
            self.root_woken.set(true);
            if self.urgent.get() {
                self.root_urgent.set(true);
            }
            return;
        }
        match (self.current.get(), self.current_raw.get()) {
            // The task being polled (or dropped) wakes itself: no slab
            // lookup (the lookup would find it: its slot holds it, with
            // this generation). Running, it is only flagged for requeue.
            (Some(current), Some(raw))
                if current.index == id.index()
                    && current.generation & crate::task::waker::GEN_MASK == id.generation() =>
            {
                if raw.state().wake() == WakeAction::Enqueue {
                    self.enqueue(current);
                }
            }
            _ => self.wake_other(id),
        }
    }

    /// `wake_local` of a task other than the one being polled.
    #[inline(never)]
    fn wake_other(&self, id: WakeId) {
        let found = self
            .tasks
            .borrow()
            .get_masked(id.index(), id.generation(), crate::task::waker::GEN_MASK)
            .map(|(key, raw)| (TaskId::from_key(self.key, key), *raw));
        let Some((id, raw)) = found else { return };
        if raw.state().wake() == WakeAction::Enqueue {
            self.enqueue(id);
        }
    }

    /// A woken task goes on the run queue (the urgent one while a
    /// cancellation wakes what it reached).
    #[inline]
    fn enqueue(&self, id: TaskId) {
        if self.urgent.get() {
            self.urgent_queue.borrow_mut().push_back(id);
        } else {
            self.push_ready(id);
        }
    }

    #[inline]
    pub(super) fn push_ready(&self, id: TaskId) {
        self.run_queue.borrow_mut().push_back(id);
    }

    /// Take a finished (or aborted) task out of the slab and drop the
    /// slab's reference. Runs no user code while a borrow is held. `raw` is
    /// touched only if the slab still held `id` (so it is alive).
    pub(super) fn remove_task(&self, id: TaskId, raw: RawTask, exit: TaskExit) {
        let removed = self.tasks.borrow_mut().remove(id.key());
        if removed.is_none() {
            return;
        }
        let scope = raw.header().scope.get();
        self.scopes.borrow_mut().detach_task(scope);
        if !self.names.borrow().is_empty() {
            let name = self.names.borrow_mut().remove(&id.index);
            drop(name);
        }
        raw.release(raw.state().release_slab());
        if self.instruments.active() {
            self.hook_task_exit(id, exit);
        }
    }

    /// Drop every task's future, then the timers and the reactor.
    pub(super) fn shutdown(&self) {
        self.shutting_down.set(true);
        // First refuse jobs from other threads: a `Handle` call from now on
        // (also from a destructor below) gets `RuntimeGone`. The jobs
        // already queued are dropped here, on the runtime thread, unrun.
        drop(self.remote.close());
        drop(std::mem::take(&mut *self.job_buf.borrow_mut()));
        // Destructors may wake or abort other tasks; loop until empty.
        loop {
            let keys = self.tasks.borrow().keys();
            if keys.is_empty() {
                break;
            }
            for key in keys {
                let raw = self.tasks.borrow().get(key).copied();
                if let Some(raw) = raw {
                    let id = TaskId::from_key(self.key, key);
                    // No task is running: `block_on` borrows the runtime, so
                    // it cannot be dropped during a poll.
                    match raw.state().abort() {
                        AbortAction::DropNow => self.drop_task_future(id, raw),
                        // Finished, or its future is being dropped by a
                        // destructor that dropped this runtime: whoever
                        // drops it finds the slot gone.
                        AbortAction::Finished => self.remove_task(id, raw, TaskExit::Finished),
                        AbortAction::Deferred => {
                            unreachable!("no task runs while its runtime is dropped")
                        }
                    }
                }
            }
        }
        self.run_queue.borrow_mut().clear();
        super::registry::unregister(self.key);
        let mut buf = Vec::new();
        self.remote.drain_into(&mut buf, &mut Vec::new());
    }
}
