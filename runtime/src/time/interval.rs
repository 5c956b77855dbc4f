//! Periodic ticks with a policy for ticks that were missed.

use std::future::{Future as _, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Instant, Sleep, sleep_until};

/// What an [`Interval`] does when ticks were missed because the task did
/// not call [`tick`](Interval::tick) in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the
    /// original schedule (`start + n * period`).
    #[default]
    Burst,
    /// Fire once now, then schedule the next tick a full period from now:
    /// the schedule shifts by the delay.
    Delay,
    /// Fire once now, drop the missed ticks and continue on the original
    /// schedule at the next multiple of the period after now.
    Skip,
}

/// Ticks every `period`, the first tick completing at once.
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let start = arbor_runtime::time::now();
///     let mut every = arbor_runtime::time::interval(Duration::from_secs(10));
///     for n in 0..3 {
///         assert_eq!(every.tick().await - start, Duration::from_secs(10 * n));
///     }
/// });
/// ```
///
/// # Panics
/// If `period` is zero, or outside a runtime.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(super::now(), period)
}

/// Ticks at `start`, `start + period`, ...
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "an interval's period must be non-zero");
    Interval {
        period,
        next: start,
        sleep: sleep_until(start),
        missed: MissedTickBehavior::default(),
    }
}

/// A stream of ticks on the runtime's clock. See [`interval`].
///
/// It is also a [`futures_core::Stream`] that never ends: each item is the
/// instant a tick was scheduled for, as [`tick`](Interval::tick) returns.
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let start = arbor_runtime::time::now();
///     let ticks: Vec<_> = arbor_runtime::time::interval(Duration::from_secs(2))
///         .take(3)
///         .map(|at| at - start)
///         .collect()
///         .await;
///     assert_eq!(ticks, [0, 2, 4].map(Duration::from_secs));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    /// The scheduled instant of the next tick.
    next: Instant,
    sleep: Sleep,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Wait for the next tick; returns the instant it was scheduled for.
    /// A checkpoint: a tick that is already due is returned after a
    /// schedule point, and in a cancelled scope it makes no progress.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes consumes no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll form of [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.next;
        let now = super::now();
        let on_schedule = scheduled + self.period;
        self.next = if now < on_schedule {
            on_schedule
        } else {
            match self.missed {
                MissedTickBehavior::Burst => on_schedule,
                MissedTickBehavior::Delay => now + self.period,
                MissedTickBehavior::Skip => {
                    let period = self.period.as_nanos();
                    let behind = (now - scheduled).as_nanos();
                    let periods = u32::try_from(behind / period + 1).unwrap_or(u32::MAX);
                    scheduled + self.period.saturating_mul(periods)
                }
            }
        };
        self.sleep.reset(self.next);
        Poll::Ready(scheduled)
    }

    /// Set the missed-tick policy.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The missed-tick policy.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restart the schedule: the next tick is one period from now.
    #[track_caller]
    pub fn reset(&mut self) {
        self.next = super::now() + self.period;
        self.sleep.reset(self.next);
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}
