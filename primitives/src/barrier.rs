//! [`Barrier`]: a cyclic rendezvous of `n` tasks.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::waiters::{WaitKey, WaitQueue};

/// A barrier that trips when `n` tasks wait at it, then starts over.
///
/// The task whose arrival trips it is the leader
/// ([`BarrierWaitResult::is_leader`]); it returns without waiting (after a
/// schedule point: [`wait`](Barrier::wait) is a checkpoint), the others
/// are woken in arrival order. The barrier is reusable: the next `n` arrivals
/// form the next generation.
///
/// ```
/// use std::rc::Rc;
/// use arbor_primitives::Barrier;
///
/// arbor_runtime::run(async {
///     let barrier = Rc::new(Barrier::new(2));
///     let b = barrier.clone();
///     let other = arbor_runtime::spawn(async move { b.wait().await.is_leader() });
///     let me = barrier.wait().await.is_leader();
///     let other = other.await.unwrap();
///     assert!(me ^ other, "exactly one leader");
/// });
/// ```
pub struct Barrier {
    state: RefCell<State>,
}

struct State {
    /// Any count from 1 up: only compared, never added to.
    parties: usize,
    /// Bumped by every trip. A `u64`: at one trip per nanosecond it would
    /// take 584 years to wrap, so it is not checked.
    generation: u64,
    /// Everyone who arrived in this generation and has not tripped it.
    waiters: WaitQueue<(), ()>,
}

/// A barrier's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierStatistics {
    /// Tasks needed to trip the barrier.
    pub parties: usize,
    /// Tasks waiting in this generation.
    pub tasks_waiting: usize,
    /// How many times the barrier has tripped.
    pub generation: u64,
}

/// What [`Barrier::wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    is_leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task's arrival tripped the barrier (exactly one per
    /// generation).
    pub fn is_leader(&self) -> bool {
        self.is_leader
    }
}

impl Barrier {
    /// A barrier for `n` tasks.
    ///
    /// # Panics
    /// If `n` is 0: such a barrier could never trip meaningfully.
    #[track_caller]
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "Barrier::new(0): a barrier needs at least one party");
        Barrier {
            state: RefCell::new(State {
                parties: n,
                generation: 0,
                waiters: WaitQueue::new(),
            }),
        }
    }

    /// Arrive and wait until `n` tasks have arrived.
    ///
    /// A [checkpoint](crate#checkpoints): a cancel point, and, for the
    /// arrival that trips the barrier (it does not wait), a schedule point
    /// after tripping it, so the released tasks may run first.
    ///
    /// # Cancel safety
    /// A waiter dropped before the barrier trips leaves it: the count of
    /// arrivals goes back down, so one more task is needed. A waiter dropped
    /// after the barrier tripped (woken but not yet run) changes nothing:
    /// the generation has passed; so does the leader dropped at its
    /// schedule point. Inside a cancelled scope the future makes no
    /// progress, so it never arrives (and never trips the barrier).
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            tripped: false,
        }
    }

    /// Tasks needed to trip the barrier.
    pub fn parties(&self) -> usize {
        self.state.borrow().parties
    }

    /// The barrier's counters.
    pub fn statistics(&self) -> BarrierStatistics {
        let state = self.state.borrow();
        BarrierStatistics {
            parties: state.parties,
            tasks_waiting: state.waiters.len(),
            generation: state.generation,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Barrier").field(&self.statistics()).finish()
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless polled"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<WaitKey>,
    /// This arrival tripped the barrier and yielded at the schedule point:
    /// it is the leader, returned at the next poll.
    tripped: bool,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.tripped {
            // After the schedule point: the generation passed whatever
            // was cancelled meanwhile.
            return Poll::Ready(BarrierWaitResult { is_leader: true });
        }
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        let mut state = self.barrier.state.borrow_mut();
        if let Some(key) = self.key {
            return if state.waiters.take(key).is_some() {
                drop(state);
                self.key = None;
                Poll::Ready(BarrierWaitResult { is_leader: false })
            } else {
                state.waiters.set_waker(key, cx.waker());
                Poll::Pending
            };
        }
        // No overflow: the queue holds fewer than `parties` waiters (the
        // arrival that would make `parties` trips the barrier instead).
        if state.waiters.len() + 1 < state.parties {
            let key = state.waiters.push((), cx.waker());
            drop(state);
            self.key = Some(key);
            return Poll::Pending;
        }
        // This arrival trips the barrier: release everyone, start over.
        state.generation += 1;
        let mut wake: Vec<Waker> = Vec::with_capacity(state.waiters.len());
        while let Ok(waker) = state.waiters.grant_front(()) {
            wake.push(waker);
        }
        drop(state);
        wake.into_iter().for_each(Waker::wake);
        if arbor_runtime::scope::schedule_point(cx) {
            self.tripped = true;
            return Poll::Pending;
        }
        Poll::Ready(BarrierWaitResult { is_leader: true })
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        // Withdrawn: the arrival count (queue length) went down by one.
        // Granted: the generation already tripped; nothing to pass on.
        let _ = self.barrier.state.borrow_mut().waiters.cancel(key);
    }
}
