//! The instruments' view of a run (issue 14): an `Instrument` installed
//! before the program spawns anything keeps a ledger of spawns, polls,
//! exits and scope cancellations, and the checks compare it with itself
//! and with the runtime's metrics: every task spawned exits exactly once
//! (by the runtime's drop at the latest), is polled only between its
//! spawn and its exit, each poll start is closed by the end of that same
//! poll (polls nest only when a task starts another at once), each scope
//! reports its cancellation at most once, and the metrics count the
//! spawns, polls and live tasks the hooks saw.

use std::cell::RefCell;
use std::collections::HashSet;

use arbor::TaskId;
use arbor::instrument::{Instrument, RuntimeMetrics, ScopeCancelEvent, SpawnEvent, TaskExit};
use arbor::lowlevel::ScopeId;

use super::world::{Book, Kind};

#[derive(Default)]
pub struct Ledger(RefCell<State>);

#[derive(Default)]
struct State {
    spawned: HashSet<TaskId>,
    exited: HashSet<TaskId>,
    /// Polls in progress, innermost last.
    polling: Vec<TaskId>,
    polls: u64,
    cancelled: HashSet<ScopeId>,
}

impl State {
    fn live(&self, task: TaskId, what: &str) {
        if !self.spawned.contains(&task) {
            self.error(format!("{what} of {task}, which was never spawned"));
        } else if self.exited.contains(&task) {
            self.error(format!("{what} of {task} after it exited"));
        }
    }

    fn error(&self, text: String) {
        // Kept in a side list: the hooks run while `self` is borrowed.
        ERRORS.with(|e| e.borrow_mut().push(text));
    }
}

thread_local! {
    static ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl Instrument for Ledger {
    fn on_spawn(&self, event: &SpawnEvent<'_>) {
        let mut s = self.0.borrow_mut();
        if !s.spawned.insert(event.task) {
            s.error(format!("{} spawned twice", event.task));
        }
    }

    fn on_poll_start(&self, task: TaskId) {
        let mut s = self.0.borrow_mut();
        s.live(task, "a poll");
        if s.polling.contains(&task) {
            s.error(format!("{task} polled inside its own poll"));
        }
        s.polling.push(task);
        s.polls += 1;
    }

    fn on_poll_end(&self, task: TaskId) {
        let mut s = self.0.borrow_mut();
        match s.polling.pop() {
            Some(t) if t == task => {}
            other => s.error(format!(
                "the end of {task}'s poll, while {other:?} was polled"
            )),
        }
    }

    fn on_task_exit(&self, task: TaskId, _exit: TaskExit) {
        let mut s = self.0.borrow_mut();
        s.live(task, "the exit");
        if s.polling.contains(&task) {
            s.error(format!("{task} exited while its poll was still open"));
        }
        s.exited.insert(task);
    }

    fn on_scope_cancel(&self, event: &ScopeCancelEvent) {
        let mut s = self.0.borrow_mut();
        if let Some(scope) = event.scope
            && !s.cancelled.insert(scope)
        {
            s.error(format!("{scope:?} reported its cancellation twice"));
        }
    }
}

impl Ledger {
    /// At the end of the program, inside the runtime: the metrics agree
    /// with what the hooks saw.
    pub fn check_metrics(&self, book: &Book, m: RuntimeMetrics) {
        let s = self.0.borrow();
        let live = s.spawned.len() - s.exited.len();
        let seen = (s.spawned.len() as u64, s.polls, live);
        let counted = (m.tasks_spawned, m.polls, m.tasks_alive);
        if seen != counted {
            book.violation(
                Kind::Instruments,
                format!(
                    "the hooks saw (spawned, polls, alive) = {seen:?}, the metrics say {counted:?}"
                ),
            );
        }
    }

    /// After the runtime is dropped: every task exited, no poll is open,
    /// and no hook saw anything out of order.
    pub fn check_end(&self, book: &Book) {
        let s = self.0.borrow();
        let never: Vec<_> = s.spawned.difference(&s.exited).collect();
        if !never.is_empty() {
            book.violation(
                Kind::Instruments,
                format!("spawned, never reported exited: {never:?}"),
            );
        }
        if !s.polling.is_empty() {
            book.violation(
                Kind::Instruments,
                format!("polls never ended: {:?}", s.polling),
            );
        }
        for e in ERRORS.with(|e| std::mem::take(&mut *e.borrow_mut())) {
            book.violation(Kind::Instruments, e);
        }
    }
}
