//! The runtime's monotonic clock: real or virtual.
//!
//! Both count nanoseconds in a `u64` ([`Instant`]). The real clock reads
//! `std::time::Instant` (CLOCK_MONOTONIC) relative to a process-wide base,
//! so instants of different real-clock runtimes compare. The virtual clock
//! starts at zero and only moves when the run loop parks with nothing
//! runnable (to the next timer deadline) or when `advance` is called.
//!
//! The timer wheel counts 1 ms ticks from the runtime's creation. A
//! deadline maps to the first tick at or after it (`tick_for`), the current
//! time to the last tick at or before it (`now_tick`), so a timer never
//! fires early.

use std::cell::Cell;
use std::sync::LazyLock;
use std::time::Duration;

use super::Instant;

const NANOS_PER_TICK: u64 = 1_000_000;

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

    /// The wheel tick at which a timer for `deadline` fires.
    pub(crate) fn tick_for(&self, deadline: Instant) -> u64 {
        deadline
            .nanos()
            .saturating_sub(self.start)
            .div_ceil(NANOS_PER_TICK)
    }

    /// The last tick that has fully begun.
    pub(crate) fn now_tick(&self) -> u64 {
        self.now().nanos().saturating_sub(self.start) / NANOS_PER_TICK
    }

    /// Real time left until `tick` begins.
    pub(crate) fn until_tick(&self, tick: u64) -> Duration {
        let at = self
            .start
            .saturating_add(tick.saturating_mul(NANOS_PER_TICK));
        Duration::from_nanos(at.saturating_sub(self.now().nanos()))
    }

    /// Virtual clock: jump to `tick` (never backwards).
    pub(crate) fn advance_to_tick(&self, tick: u64) {
        if let Some(now) = &self.virtual_now {
            let at = self
                .start
                .saturating_add(tick.saturating_mul(NANOS_PER_TICK));
            now.set(now.get().max(at));
        }
    }

    /// Virtual clock: move forward by `by`. Returns false on a real clock.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        match &self.virtual_now {
            Some(now) => {
                let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
                now.set(now.get().saturating_add(by));
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
}
