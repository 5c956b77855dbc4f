//! The run loop: a short sequence of named steps.
//!
//! ```text
//! loop {
//!     poll the root future if it was woken
//!     run_batch        every task runnable at the start of the tick, once,
//!                      then the code cancellations reached during it
//!     poll the reactor without blocking, every `event_interval` task polls
//!     (no syscall while no fd is registered); between those polls just
//!     take the remote wake queue (one atomic load when empty)
//!     fire_timers      wake sleepers whose deadline passed
//!     if nothing is runnable: park  (epoll_wait until the next deadline,
//!                                    or jump the virtual clock to it)
//! }
//! ```
//!
//! Parking has a slower form, `park_until_idle`, taken only when someone
//! waits for idleness (a `wait_all_tasks_blocked` waiter) or the clock is
//! a virtual one that does not jump at once (a nonzero autojump threshold,
//! or a rate). It blocks for the cushion or threshold of real time and acts (wakes
//! the waiters, jumps the clock) only if nothing became runnable meanwhile.
//!
//! Tasks woken during a tick run in the next one, so a task that wakes
//! itself forever yields to the timers, the reactor and every other task
//! once per tick.

use std::cell::RefCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Core;
use super::park::Via;
use super::queue::SplitMix64;
use crate::instrument::{Counters, TaskExit};
use crate::task::TaskId;
use crate::task::raw::RawTask;
use crate::task::state::{AfterPending, StartPoll};
use crate::task::waker::{WakeId, waker};

pub(super) fn block_on<F: Future>(core: &Rc<Core>, future: F) -> F::Output {
    let mut future = pin!(future);
    let root_waker = waker(WakeId::root(core.key));
    let mut cx = Context::from_waker(&root_waker);
    core.root_woken.set(true);
    let mut poll_root = || {
        core.root_woken.set(false);
        core.root_urgent.set(false);
        core.current_node.set(0);
        core.poll_clock.set(None);
        core.skips.set(0);
        let poll = future.as_mut().poll(&mut cx);
        debug_assert!(core.provisional.borrow().is_empty());
        poll
    };
    loop {
        if core.root_woken.get()
            && let Poll::Ready(output) = poll_root()
        {
            return output;
        }
        core.run_batch();
        // Code a cancellation reached during this tick is dropped in it.
        while core.root_urgent.get() {
            if let Poll::Ready(output) = poll_root() {
                return output;
            }
            core.run_urgent();
        }
        core.end_tick();
    }
}

impl Core {
    /// The steps of a tick after the task polls: the reactor (or just the
    /// remote queue), the timers, and parking if nothing is runnable. One
    /// call (not generic, so its steps inline here) whose checks cost a
    /// few loads when there is nothing to do.
    fn end_tick(&self) {
        if self.polls_since_io.get() >= self.event_interval {
            self.poll_io_due();
        } else {
            self.drain_remote();
        }
        self.fire_timers();
        if !self.has_work() {
            self.park();
        }
    }

    #[inline]
    fn has_work(&self) -> bool {
        self.root_woken.get()
            || !self.run_queue.borrow().is_empty()
            || !self.urgent_queue.borrow().is_empty()
    }

    /// Poll every task that is runnable now, once, in FIFO order (or a
    /// seeded permutation of it, `Builder::seed`), then the tasks
    /// cancellations reached meanwhile.
    fn run_batch(&self) {
        let batch = self.run_queue.borrow().len();
        // Unseeded, this is the only cost: one predictable branch a tick.
        if let Some(rng) = &self.shuffle {
            self.shuffle_batch(rng, batch);
        }
        self.counters.polls(batch as u64);
        // One check of the instruments per tick: the loop without them
        // has no hook code at all.
        if self.instruments.active() {
            self.poll_batch::<true>(batch);
        } else {
            self.poll_batch::<false>(batch);
        }
        self.polls_since_io
            .set(self.polls_since_io.get().saturating_add(batch as u32));
        if !self.urgent_queue.borrow().is_empty() {
            self.run_urgent();
        }
    }

    #[inline(always)]
    fn poll_batch<const HOOKED: bool>(&self, batch: usize) {
        for _ in 0..batch {
            let Some(id) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            self.poll_task::<HOOKED>(id);
        }
    }

    /// Permute the batch (`Builder::seed`); out of line, so the unseeded
    /// loop keeps its registers.
    #[cold]
    #[inline(never)]
    fn shuffle_batch(&self, rng: &RefCell<SplitMix64>, batch: usize) {
        self.run_queue
            .borrow_mut()
            .shuffle_front(batch, &mut rng.borrow_mut());
    }

    /// Poll the tasks a cancellation woke, until none is left.
    fn run_urgent(&self) {
        loop {
            let next = self.urgent_queue.borrow_mut().pop_front();
            match next {
                Some(id) => {
                    self.counters.polls(1);
                    if self.instruments.active() {
                        self.poll_task::<true>(id);
                    } else {
                        self.poll_task::<false>(id);
                    }
                }
                None => return,
            }
        }
    }

    /// Poll a queued task; the caller counted the poll (`counters.polls`),
    /// so a task found gone or not to be polled counts as skipped.
    /// `HOOKED`: call the instruments' poll hooks (the caller read
    /// `instruments.active()`; one added meanwhile sees the next tick's
    /// polls).
    fn poll_task<const HOOKED: bool>(&self, id: TaskId) {
        let Some(raw) = self.tasks.borrow().get(id.key()).copied() else {
            return self.skipped_poll();
        };
        if raw.state().start_poll() == StartPoll::Skip {
            return self.skipped_poll();
        }
        // An arbor waker's drop does nothing: skip its vtable call.
        let waker = ManuallyDrop::new(waker(WakeId::task(self.key, id.index, id.generation)));
        let mut cx = Context::from_waker(&waker);
        if HOOKED {
            self.hook_poll_start(id);
        }
        self.current.set(Some(id));
        self.current_raw.set(Some(raw));
        self.current_node.set(raw.header().scope.get());
        self.poll_clock.set(None);
        // Also clears `NOTED`: this poll notes its own await point.
        self.skips.set(0);
        let poll = raw.poll(&mut cx);
        debug_assert!(self.provisional.borrow().is_empty());
        self.current.set(None);
        self.current_raw.set(None);
        self.current_node.set(0);
        if HOOKED {
            self.hook_poll_end(id);
        }
        // `skips` still holds this poll's marks: read only if it parks.
        self.after_poll(id, raw, poll, || self.poll_noted());
    }

    #[cold]
    fn skipped_poll(&self) {
        Counters::bump(&self.counters.skipped, 1);
    }

    /// What follows a task's poll: release a finished task's slot, requeue
    /// or park a pending one, drop one that aborted itself. `noted`: did
    /// the poll note its await point (`note_await`)? Asked only if the
    /// task parks.
    #[inline(always)]
    pub(super) fn after_poll(
        &self,
        id: TaskId,
        raw: RawTask,
        poll: Poll<()>,
        noted: impl FnOnce() -> bool,
    ) {
        match poll {
            Poll::Ready(()) => self.remove_task(id, raw, TaskExit::Finished),
            Poll::Pending => match raw.state().end_poll_pending() {
                AfterPending::Requeue => self.push_ready(id),
                AfterPending::Idle => {
                    // Parked with no note: an earlier poll's is stale. (A
                    // requeued task shows as runnable, so only this path
                    // pays, not every poll.)
                    if !noted() {
                        raw.header().await_at.set(None);
                    }
                    // The clock's last reading, not a read per poll (`dump`).
                    raw.header().parked_since.set(self.clock.last());
                }
                AfterPending::Abort => self.drop_task_future(id, raw),
            },
        }
    }

    /// The periodic non-blocking reactor poll. With no fd registered there
    /// is no readiness to collect: skip the syscall. (The doorbell rings
    /// only a parked runtime, so no eventfd edge is missed either.)
    #[inline(never)]
    fn poll_io_due(&self) {
        // Keeps `Clock::last` (the time parked in `dump`) coarse but fresh
        // while tasks keep running: one read per `event_interval` polls.
        self.clock.now();
        if self.reactor.borrow().registrations() == 0 {
            self.polls_since_io.set(0);
            self.drain_remote();
        } else {
            self.poll_reactor_now();
        }
    }

    /// Collect ready I/O without blocking, then the remote queue.
    fn poll_reactor_now(&self) {
        self.polls_since_io.set(0);
        self.collect_io(Some(Duration::ZERO));
        self.drain_remote();
    }

    /// Block until I/O, a cross-thread wake or `timeout` (`None`: no
    /// timer), then collect ready I/O and the remote queue. With no fd
    /// registered only a wake or the timer can end the wait, so the thread
    /// parks on a futex instead of `epoll_wait` (see `park.rs`). The park
    /// consumes the doorbell before the queue is drained, so a push that
    /// races with us either lands in this drain or rings the next park.
    fn block_for_events(&self, timeout: Option<Duration>) {
        self.polls_since_io.set(0);
        let via = if self.reactor.borrow().registrations() == 0 {
            Via::Futex
        } else {
            Via::Epoll
        };
        Counters::bump(&self.counters.parks, 1);
        let hooked = self.instruments.active();
        if hooked {
            self.hook_park(timeout);
        }
        self.remote
            .doorbell()
            .park(via, timeout, |timeout| self.collect_io(timeout));
        // Refresh `Clock::last` for `dump` after the wait. With a timer
        // armed, `fire_timers` (which every caller runs next) reads the
        // clock anyway: one read, not two, per park.
        if self.timers.borrow().armed() == 0 {
            self.clock.now();
        }
        if hooked {
            self.hook_unpark();
        }
        self.drain_remote();
    }

    /// One `epoll_wait`, waking the tasks whose fds are ready.
    fn collect_io(&self, timeout: Option<Duration>) {
        let mut wakers = std::mem::take(&mut *self.wake_buf.borrow_mut());
        let result = self
            .reactor
            .borrow_mut()
            .poll(timeout, &mut |w| wakers.push(w));
        if let Err(e) = result {
            // epoll_wait only fails on a bad fd or buffer: a runtime bug.
            panic!("arbor reactor: epoll_wait failed: {e}");
        }
        Counters::bump(&self.counters.reactor_events, wakers.len() as u64);
        for w in wakers.drain(..) {
            w.wake();
        }
        *self.wake_buf.borrow_mut() = wakers;
    }

    /// Take the remote wake queue: one atomic load when it is empty.
    #[inline]
    fn drain_remote(&self) {
        if self.remote.has_pending() {
            self.drain_remote_now();
        }
    }

    /// Wake the ids, then run the jobs ([`Handle`](crate::Handle)'s), in
    /// the order they were pushed, at the root (no task current, the root
    /// node current), with no borrow held. A job that panics unwinds out
    /// of `block_on`; the jobs after it in this batch are dropped unrun.
    #[inline(never)]
    fn drain_remote_now(&self) {
        let mut ids = std::mem::take(&mut *self.remote_buf.borrow_mut());
        let mut jobs = std::mem::take(&mut *self.job_buf.borrow_mut());
        self.remote.drain_into(&mut ids, &mut jobs);
        Counters::bump(&self.counters.remote_wakes, ids.len() as u64);
        for id in ids.drain(..) {
            self.wake_local(id);
        }
        *self.remote_buf.borrow_mut() = ids;
        if !jobs.is_empty() {
            debug_assert!(self.current.get().is_none());
            self.current_node.set(0);
            self.poll_clock.set(None);
            for job in jobs.drain(..) {
                job.run();
            }
        }
        *self.job_buf.borrow_mut() = jobs;
    }

    /// Wake every sleeper whose deadline has passed, in deadline order.
    #[inline]
    pub(crate) fn fire_timers(&self) {
        if self.timers.borrow().armed() != 0 {
            self.fire_due_timers();
        }
    }

    #[inline(never)]
    fn fire_due_timers(&self) {
        let now = self.clock.now_tick();
        let mut wakers = std::mem::take(&mut *self.wake_buf.borrow_mut());
        self.timers.borrow_mut().poll(now, &mut |w| wakers.push(w));
        for w in wakers.drain(..) {
            w.wake();
        }
        *self.wake_buf.borrow_mut() = wakers;
    }

    /// Nothing is runnable: wait for I/O, a remote wake or the next timer.
    fn park(&self) {
        let next = self.timers.borrow().next_expiration();
        if self.idle.first_cushion().is_some() {
            return self.park_until_idle(next);
        }
        if self.clock.is_virtual() {
            if self.autojump != Some(Duration::ZERO) {
                return self.park_until_idle(next);
            }
            // First see whether I/O or a remote wake has work for us.
            self.poll_reactor_now();
            if self.has_work() {
                return;
            }
            match next {
                Some(tick) => {
                    self.clock.advance_to_tick(tick);
                    self.fire_timers();
                }
                None => self.block_for_events(None),
            }
        } else {
            let timeout = next.map(|tick| self.clock.until_tick(tick));
            self.block_for_events(timeout);
            self.fire_timers();
        }
    }

    /// The park when something waits for the runtime to stay idle, or the
    /// clock is a virtual one that does not jump at once: a
    /// `wait_all_tasks_blocked` waiter (its cushion), an autojump clock
    /// with a timer to jump to (its threshold), or a clock with a rate.
    /// Wait that long in real time; if nothing became runnable meanwhile,
    /// wake the waiters with the smallest cushion, or else jump. As in
    /// trio, a pending waiter rules out the jump (it is woken instead),
    /// and a timer due (in real time) before the idle wait would end just
    /// ends the park, as in the plain one.
    #[inline(never)]
    fn park_until_idle(&self, next: Option<u64>) {
        // Real time until the next timer fires by itself: never on a
        // virtual clock without a rate, which only moves by jumps.
        let timer = next.and_then(|tick| self.clock.real_until_tick(tick));
        let sooner = |idle: Duration| timer.is_none_or(|t| idle < t);
        match (self.idle.first_cushion(), self.autojump) {
            (Some(cushion), _) if sooner(cushion) => {
                if self.stays_idle_for(cushion) {
                    self.idle.wake(cushion);
                }
            }
            (None, Some(threshold))
                if self.clock.is_virtual() && next.is_some() && sooner(threshold) =>
            {
                if self.stays_idle_for(threshold) {
                    // Nothing ran meanwhile, but a remote job may have
                    // moved the timers: read them again.
                    if let Some(tick) = self.timers.borrow().next_expiration() {
                        self.clock.advance_to_tick(tick);
                    }
                    self.fire_timers();
                }
            }
            _ => {
                self.block_for_events(timer);
                self.fire_timers();
            }
        }
    }

    /// Wait for events until `idle` of real time has passed with nothing
    /// becoming runnable: true then, false as soon as something does. A
    /// wake that makes nothing runnable (a spurious one, a task already
    /// queued) does not end the wait early.
    fn stays_idle_for(&self, idle: Duration) -> bool {
        let until = std::time::Instant::now().checked_add(idle);
        loop {
            let left = until.map(|u| u.saturating_duration_since(std::time::Instant::now()));
            if left == Some(Duration::ZERO) {
                self.poll_reactor_now();
            } else {
                self.block_for_events(left);
            }
            self.fire_timers();
            if self.has_work() {
                return false;
            }
            if until.is_some_and(|u| std::time::Instant::now() >= u) {
                return true;
            }
        }
    }
}
