//! The runtime's monotonic clock: real or virtual.
//!
//! Both count nanoseconds in a `u64` ([`Instant`]). The real clock reads
//! `std::time::Instant` (CLOCK_MONOTONIC) relative to a process-wide base,
//! so instants of different real-clock runtimes compare. The virtual clock
//! starts at zero and only moves when the run loop parks with nothing
//! runnable (to the next timer deadline) or when `advance` is called.
//!
//! # The autojump threshold
//!
//! When the virtual clock jumps is the run loop's decision (`park` in
//! `executor/run.rs`), not this file's. With a threshold of zero
//! (`Builder::virtual_clock`) it jumps as soon as nothing is runnable and
//! a non-blocking look at the reactor and the remote queue finds nothing:
//! I/O and other threads never get real time, so a socket read or a
//! `to_thread` job loses to any timer. With a threshold `t`
//! (`Builder::autojump(t)`, trio's `autojump_threshold`) the run loop
//! first blocks for `t` of real time, in `epoll_wait` or on its futex,
//! where I/O readiness and cross-thread wakes end the wait; it jumps only
//! if the whole `t` passed with nothing becoming runnable. Any arrival
//! that makes work starts the next idle period, and so the threshold,
//! afresh. A pending `wait_all_tasks_blocked` waiter holds the jump: it
//! is woken first (trio's rule).
//!
//! The timer wheel counts 1 ms ticks from the runtime's creation. A
//! deadline maps to the first tick at or after it (`tick_for`), the current
//! time to the last tick at or before it (`now_tick`), so a timer never
//! fires early.
//!
//! # The ends of time
//!
//! `Instant + Duration` saturates, so "sleep forever" (`Duration::MAX`,
//! or anything past about 584 years of nanoseconds) becomes the instant
//! `u64::MAX`, which this clock treats as *never*: it maps to the wheel's
//! [`NEVER`] tick (a dormant entry that parks its task at no cost) and no
//! clock ever reaches it. A virtual clock stops at [`LAST`], one
//! nanosecond before; at `LAST` every finite deadline has passed, so
//! `now_tick` then reports the tick of `LAST` itself (rounded up, unlike
//! any other reading) and everything but a *never* fires. A far deadline
//! therefore fires exactly when the clock reaches it, however far.

use std::cell::Cell;
use std::sync::LazyLock;
use std::time::Duration;

use super::Instant;
use super::wheel::NEVER;

const NANOS_PER_TICK: u64 = 1_000_000;

/// The instant that never comes (where `Instant + Duration` saturates).
const NEVER_NANOS: u64 = u64::MAX;
/// The last instant a clock can show.
const LAST: u64 = NEVER_NANOS - 1;

static BASE: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);

pub(crate) struct Clock {
    /// `Some` for a virtual clock: the current time.
    virtual_now: Option<Cell<u64>>,
    /// The instant of wheel tick 0.
    start: u64,
}

fn real_now() -> u64 {
    u64::try_from(BASE.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Clock {
    pub(crate) fn new_real() -> Clock {
        Clock {
            virtual_now: None,
            start: real_now(),
        }
    }

    pub(crate) fn new_virtual() -> Clock {
        Clock {
            virtual_now: Some(Cell::new(0)),
            start: 0,
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_now.is_some()
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(match &self.virtual_now {
            Some(now) => now.get(),
            None => real_now(),
        })
    }

    /// The wheel tick at which a timer for `deadline` fires: [`NEVER`]
    /// for the instant that never comes.
    pub(crate) fn tick_for(&self, deadline: Instant) -> u64 {
        if deadline.nanos() == NEVER_NANOS {
            return NEVER;
        }
        deadline
            .nanos()
            .saturating_sub(self.start)
            .div_ceil(NANOS_PER_TICK)
    }

    /// The last tick every deadline of which has passed: the last tick that
    /// has fully begun, or at the end of time ([`LAST`]) the tick of every
    /// finite deadline.
    pub(crate) fn now_tick(&self) -> u64 {
        let now = self.now();
        if now.nanos() >= LAST {
            return self.tick_for(Instant::from_nanos(LAST));
        }
        now.nanos().saturating_sub(self.start) / NANOS_PER_TICK
    }

    /// Real time left until `tick` begins.
    pub(crate) fn until_tick(&self, tick: u64) -> Duration {
        let at = self
            .start
            .saturating_add(tick.saturating_mul(NANOS_PER_TICK));
        Duration::from_nanos(at.saturating_sub(self.now().nanos()))
    }

    /// Virtual clock: jump to `tick` (never backwards, never past [`LAST`]).
    pub(crate) fn advance_to_tick(&self, tick: u64) {
        if let Some(now) = &self.virtual_now {
            let at = self
                .start
                .saturating_add(tick.saturating_mul(NANOS_PER_TICK))
                .min(LAST);
            now.set(now.get().max(at));
        }
    }

    /// Virtual clock: move forward by `by` (stopping at [`LAST`]). Returns
    /// false on a real clock.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        match &self.virtual_now {
            Some(now) => {
                let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
                now.set(now.get().saturating_add(by).min(LAST));
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_now_rounds_down() {
        let clock = Clock::new_virtual();
        assert_eq!(clock.tick_for(Instant::from_nanos(1)), 1);
        assert_eq!(clock.tick_for(Instant::from_nanos(2_000_000)), 2);
        assert!(clock.advance(Duration::from_nanos(1_999_999)));
        assert_eq!(clock.now_tick(), 1);
        clock.advance_to_tick(1);
        assert_eq!(clock.now().nanos(), 1_999_999, "never backwards");
        clock.advance_to_tick(3);
        assert_eq!(clock.now().nanos(), 3_000_000);
    }

    #[test]
    fn the_saturated_instant_is_never_and_the_end_of_time_passes_every_other_deadline() {
        let clock = Clock::new_virtual();
        assert_eq!(clock.tick_for(Instant::from_nanos(u64::MAX)), NEVER);
        // A deadline in the last, partial tick.
        let last_tick = clock.tick_for(Instant::from_nanos(LAST));
        assert_eq!(clock.tick_for(Instant::from_nanos(LAST - 1)), last_tick);
        clock.advance_to_tick(last_tick);
        assert_eq!(clock.now().nanos(), LAST, "stops one short of never");
        assert_eq!(clock.now_tick(), last_tick);
        assert!(clock.advance(Duration::MAX));
        assert_eq!(clock.now().nanos(), LAST);
    }
}
