//! The [`Sleep`] future: one timer-wheel entry, created at first poll.

use std::future::Future;
use std::pin::Pin;
use std::rc::Weak;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Instant;
use super::wheel::TimerKey;
use crate::context;
use crate::executor::Core;

/// Wait until `duration` has passed on the runtime's clock.
///
/// ```
/// use std::time::Duration;
/// arbor_runtime::run(async {
///     let start = arbor_runtime::time::now();
///     arbor_runtime::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
///
/// # Panics
/// Outside a runtime (the deadline is computed from the runtime's clock).
#[track_caller]
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    let mut sleep = sleep_until(super::now() + duration);
    // At least a tick away now: the first poll can register at once, not
    // read the clock a second time. If the poll comes after the deadline
    // anyway, the wheel files the entry as due and fires it at the end of
    // this tick.
    sleep.ahead = duration >= super::clock::TICK;
    sleep
}

/// Wait until `deadline` on the runtime's clock. A deadline in the past
/// completes at the first poll, without touching the timer wheel; like
/// every arbor operation it is still a checkpoint (other ready tasks run
/// first: see [`scope::schedule_point`](crate::scope::schedule_point)).
///
/// # Cancel safety
/// Dropping it removes its timer entry; nothing else is affected.
#[track_caller]
#[inline]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
        yielded: false,
        ahead: false,
        at: std::panic::Location::caller(),
    }
}

/// A future that completes at a deadline. See [`sleep`].
///
/// Cancel safety: dropping it removes its timer entry (O(1)); nothing else
/// is affected. Inside a cancelled scope it makes no progress.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    entry: Option<Entry>,
    /// The deadline had passed at the first poll, which yielded (a
    /// schedule point): the next poll completes.
    yielded: bool,
    /// Made by `sleep` at least a wheel tick before its deadline: the
    /// first poll registers without reading the clock (one read per
    /// sleep).
    ahead: bool,
    /// Where it was made: its await point in `scope::dump`.
    at: &'static std::panic::Location<'static>,
}

#[derive(Debug)]
struct Entry {
    core: Weak<Core>,
    key: TimerKey,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed on the runtime's clock.
    pub fn is_elapsed(&self) -> bool {
        context::with(|core| core.is_some_and(|c| c.clock.now() >= self.deadline))
    }

    /// Move the deadline, reusing the timer entry. A later deadline only
    /// updates the entry (the wheel re-files it lazily when its old slot
    /// comes up); an earlier one re-files it at once.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.ahead = false;
        if let Some(entry) = &self.entry
            && let Some(core) = entry.core.upgrade()
        {
            let tick = core.clock.tick_for(deadline);
            let mut timers = core.timers.borrow_mut();
            if timers.is_fired(entry.key) {
                // A fired entry has no waker to re-arm with: free it and
                // register again at the next poll.
                timers.remove(entry.key);
                drop(timers);
                self.entry = None;
            } else {
                timers.reset_deadline(entry.key, tick);
            }
        }
    }

    fn poll_inner(&mut self, core: &Core, cx: &mut Context<'_>) -> Poll<()> {
        if core.current_cancelled() {
            // Level-triggered cancellation: no progress in a cancelled scope.
            core.note_await(self.at);
            return Poll::Pending;
        }
        match &self.entry {
            None => {
                if std::mem::take(&mut self.yielded) {
                    return Poll::Ready(());
                }
                if !self.ahead && core.clock.now() >= self.deadline {
                    // A checkpoint even when there is nothing to wait for.
                    if core.schedule_point(cx.waker()) {
                        self.yielded = true;
                        return Poll::Pending;
                    }
                    return Poll::Ready(());
                }
                let tick = core.clock.tick_for(self.deadline);
                let key = core.timers.borrow_mut().insert(tick, cx.waker().clone());
                self.entry = Some(Entry {
                    core: core.weak_self.clone(),
                    key,
                });
                core.note_await(self.at);
                Poll::Pending
            }
            Some(entry) => {
                let mut timers = core.timers.borrow_mut();
                if timers.is_fired(entry.key) {
                    timers.remove(entry.key);
                    drop(timers);
                    self.entry = None;
                    Poll::Ready(())
                } else {
                    timers.set_waker(entry.key, cx.waker());
                    core.note_await(self.at);
                    Poll::Pending
                }
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        context::expect("polling arbor::time::Sleep", |core| {
            if let Some(entry) = &this.entry {
                assert!(
                    std::ptr::eq(entry.core.as_ptr(), core),
                    "a Sleep was polled on a different runtime than the one it registered with"
                );
            }
            this.poll_inner(core, cx)
        })
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take()
            && let Some(core) = entry.core.upgrade()
        {
            core.timers.borrow_mut().remove(entry.key);
        }
    }
}
