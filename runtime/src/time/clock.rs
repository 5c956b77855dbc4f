//! The runtime's monotonic clock: real or virtual.
//!
//! Both count nanoseconds in a `u64` ([`Instant`]). The real clock reads
//! CLOCK_MONOTONIC (one vDSO call, no conversion through
//! `std::time::Instant`), whose origin is the same for every runtime, so
//! instants of different real-clock runtimes compare. The virtual clock
//! starts at zero and only moves when the run loop parks with nothing
//! runnable (to the next timer deadline) or when `advance` is called.
//! A virtual clock with a rate (`Builder::virtual_clock_rate`, trio's
//! `MockClock(rate=...)`) also runs by itself at `rate` × real time, and
//! still jumps: it keeps an anchor (a virtual and a real reading) that
//! each jump moves.
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
use std::time::Duration;

use super::Instant;
use super::wheel::NEVER;

const NANOS_PER_TICK: u64 = 1_000_000;
/// The wheel's tick: a deadline at least this far ahead is never due at
/// once.
pub(crate) const TICK: Duration = Duration::from_nanos(NANOS_PER_TICK);

/// The instant that never comes (where `Instant + Duration` saturates).
const NEVER_NANOS: u64 = u64::MAX;
/// The last instant a clock can show.
const LAST: u64 = NEVER_NANOS - 1;

pub(crate) struct Clock {
    source: Source,
    /// The instant of wheel tick 0.
    start: u64,
    /// The last reading taken ([`Clock::now`], or a virtual jump): a
    /// coarse "now" that costs nothing to read (`Clock::last`).
    last: Cell<u64>,
}

/// Where the time comes from.
enum Source {
    /// CLOCK_MONOTONIC. `std::time::Instant` reads the same clock on
    /// Linux: `std_at` was read right after the reading `start`, so a std
    /// instant converts without reading either clock again.
    Real { std_at: std::time::Instant },
    /// A virtual clock: the current time, moved only by jumps.
    Virtual(Cell<u64>),
    /// A virtual clock that also runs at `rate` × real time: it showed
    /// `virtual_at` when the real clock showed `real_at` (re-anchored at
    /// every jump).
    Scaled {
        rate: f64,
        virtual_at: Cell<u64>,
        real_at: Cell<u64>,
    },
}

/// CLOCK_MONOTONIC in nanoseconds: the same origin for every runtime of
/// the process (and every process: the boot), so real instants compare.
#[inline]
fn real_now() -> u64 {
    crate::reactor::epoll::monotonic_nanos()
}

impl Clock {
    pub(crate) fn new_real() -> Clock {
        let start = real_now();
        Clock {
            source: Source::Real {
                std_at: std::time::Instant::now(),
            },
            start,
            last: Cell::new(start),
        }
    }

    /// A virtual clock starting at zero that also runs at `rate` × real
    /// time (`rate` finite and ≥ 0; 0: only jumps move it).
    pub(crate) fn new_virtual(rate: f64) -> Clock {
        debug_assert!(rate.is_finite() && rate >= 0.0);
        let source = if rate == 0.0 {
            Source::Virtual(Cell::new(0))
        } else {
            Source::Scaled {
                rate,
                virtual_at: Cell::new(0),
                real_at: Cell::new(real_now()),
            }
        };
        Clock {
            source,
            start: 0,
            last: Cell::new(0),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        !matches!(self.source, Source::Real { .. })
    }

    pub(crate) fn now(&self) -> Instant {
        let now = match &self.source {
            Source::Real { .. } => real_now(),
            Source::Virtual(now) => now.get(),
            Source::Scaled { .. } => self.scaled_now(),
        };
        self.last.set(now);
        Instant::from_nanos(now)
    }

    /// The instant of a `std::time::Instant`. On the real clock, the same
    /// moment, with no clock read; on a virtual clock, now plus the real
    /// time until it (minus the real time since it, for a past one), so
    /// that a std deadline's duration passes in virtual time.
    pub(crate) fn instant_of_std(&self, instant: std::time::Instant) -> Instant {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let (base, std_base) = match &self.source {
            Source::Real { std_at } => (self.start, *std_at),
            Source::Virtual(_) | Source::Scaled { .. } => {
                (self.now().nanos(), std::time::Instant::now())
            }
        };
        let at = match instant.checked_duration_since(std_base) {
            Some(after) => base.saturating_add(nanos(after)),
            None => base.saturating_sub(nanos(std_base - instant)),
        };
        Instant::from_nanos(at)
    }

    /// The last reading taken, in nanoseconds: behind the true time by
    /// however long ago someone last read the clock (the run loop does
    /// after a park, when timers are due and every `event_interval`
    /// polls). A virtual clock without a rate is exact.
    #[inline]
    pub(crate) fn last(&self) -> u64 {
        self.last.get()
    }

    #[inline(never)]
    fn scaled_now(&self) -> u64 {
        let Source::Scaled {
            rate,
            virtual_at,
            real_at,
        } = &self.source
        else {
            unreachable!("only called on a scaled clock")
        };
        let real = real_now().saturating_sub(real_at.get());
        // `as` saturates: a run of centuries at a huge rate stops at LAST.
        let ran = (real as f64 * rate) as u64;
        virtual_at.get().saturating_add(ran).min(LAST)
    }

    /// Virtual clock: show `nanos` from now on (the caller keeps it
    /// monotonic and at most [`LAST`]).
    fn set_virtual(&self, nanos: u64) {
        self.last.set(nanos);
        match &self.source {
            Source::Real { .. } => {}
            Source::Virtual(now) => now.set(nanos),
            Source::Scaled {
                virtual_at,
                real_at,
                ..
            } => {
                virtual_at.set(nanos);
                real_at.set(real_now());
            }
        }
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

    /// Time on this clock left until `tick` begins.
    pub(crate) fn until_tick(&self, tick: u64) -> Duration {
        let at = self
            .start
            .saturating_add(tick.saturating_mul(NANOS_PER_TICK));
        Duration::from_nanos(at.saturating_sub(self.now().nanos()))
    }

    /// Real time until this clock reaches `tick` by itself: `None` for a
    /// virtual clock without a rate, which gets there only by a jump.
    pub(crate) fn real_until_tick(&self, tick: u64) -> Option<Duration> {
        match &self.source {
            Source::Real { .. } => Some(self.until_tick(tick)),
            Source::Virtual(_) => None,
            Source::Scaled { rate, .. } => {
                let left = self.until_tick(tick).as_secs_f64() / rate;
                // Too large for a Duration: never, in practice. Waking a
                // hair early just parks again for the rest.
                Some(Duration::try_from_secs_f64(left).unwrap_or(Duration::MAX))
            }
        }
    }

    /// Virtual clock: jump to `tick` (never backwards, never past [`LAST`]).
    pub(crate) fn advance_to_tick(&self, tick: u64) {
        if self.is_virtual() {
            let at = self
                .start
                .saturating_add(tick.saturating_mul(NANOS_PER_TICK))
                .min(LAST);
            self.set_virtual(self.now().nanos().max(at));
        }
    }

    /// Virtual clock: move forward by `by` (stopping at [`LAST`]). Returns
    /// false on a real clock.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        if !self.is_virtual() {
            return false;
        }
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.set_virtual(self.now().nanos().saturating_add(by).min(LAST));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_std_instant_is_the_same_moment_on_the_real_clock() {
        let clock = Clock::new_real();
        let before = clock.now().nanos();
        let std_now = std::time::Instant::now();
        let after = clock.now().nanos();
        let converted = clock.instant_of_std(std_now).nanos();
        // The base pair was read one after the other: allow a few µs.
        let slack = 5_000;
        assert!(
            before - slack <= converted && converted <= after + slack,
            "{before} <= {converted} <= {after}"
        );
        let later = clock
            .instant_of_std(std_now + Duration::from_secs(3))
            .nanos();
        assert_eq!(later - converted, 3_000_000_000);
        let earlier = clock
            .instant_of_std(std_now - Duration::from_millis(1))
            .nanos();
        assert_eq!(converted - earlier, 1_000_000);
    }

    #[test]
    fn a_std_deadline_passes_in_virtual_time() {
        let clock = Clock::new_virtual(0.0);
        assert!(clock.advance(Duration::from_secs(10)));
        let ten = Duration::from_secs(10).as_nanos() as u64;
        let ahead = clock.instant_of_std(std::time::Instant::now() + Duration::from_secs(30));
        let left = ahead.nanos() - ten;
        assert!(
            (29_000_000_000..=30_000_000_000).contains(&left),
            "{left} ns left of 30 s"
        );
        let past = clock.instant_of_std(std::time::Instant::now() - Duration::from_secs(4));
        assert!(past.nanos() <= ten - 4_000_000_000);
        let long_past = clock.instant_of_std(std::time::Instant::now() - Duration::from_secs(60));
        assert_eq!(long_past.nanos(), 0, "saturates at the clock's origin");
    }

    #[test]
    fn deadlines_round_up_and_now_rounds_down() {
        let clock = Clock::new_virtual(0.0);
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
        let clock = Clock::new_virtual(0.0);
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

    #[test]
    fn a_scaled_clock_runs_by_itself_and_jumps_like_a_virtual_one() {
        let clock = Clock::new_virtual(1000.0);
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(1));
        // At least 1 ms real at 1000×: at least a second.
        assert!(clock.now() - t0 >= Duration::from_secs(1));
        let before = clock.now();
        assert!(clock.advance(Duration::from_secs(3600)));
        assert!(clock.now() - before >= Duration::from_secs(3600));
        let tick = clock.now_tick() + 10_000_000;
        let real = clock.real_until_tick(tick).unwrap();
        assert!(
            real <= Duration::from_secs(10),
            "10^4 s virtual is 10 s real"
        );
        clock.advance_to_tick(tick);
        assert!(clock.now_tick() >= tick);
        assert_eq!(clock.real_until_tick(tick), Some(Duration::ZERO));
        assert_eq!(Clock::new_virtual(0.0).real_until_tick(tick), None);
        assert!(!Clock::new_real().advance(Duration::from_secs(1)));
    }
}
