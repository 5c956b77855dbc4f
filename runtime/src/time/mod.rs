//! Time on the runtime's monotonic clock: [`Instant`], [`sleep`],
//! [`interval`], and the virtual clock's [`advance`].
//!
//! Deadlines are instants of the runtime's own clock (never wall-clock
//! time). Timers live in a hierarchical timer wheel (`wheel`) with 1 ms
//! resolution: a sleep completes at the first millisecond tick at or after
//! its deadline, never before it. Registration is lazy: a [`Sleep`] that is
//! never polled touches nothing.

pub(crate) mod clock;
mod instant;
mod interval;
mod sleep;
pub(crate) mod wheel;

use std::time::Duration;

use crate::context;

pub use instant::Instant;
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};

/// The current time on the runtime's clock.
///
/// # Panics
/// Outside a runtime: a virtual-clock runtime has its own time, so there
/// is no meaningful answer there.
#[track_caller]
pub fn now() -> Instant {
    context::expect("arbor::time::now", |core| core.clock.now())
}

/// Timer-wheel entries armed in the current runtime (sleeps waiting and
/// scope deadlines): for tests and debugging. Zero outside a runtime.
pub fn armed_timers() -> usize {
    context::with(|core| core.map_or(0, |c| c.timers.borrow().armed()))
}

/// Move a virtual clock forward by `by`; timers whose deadline is passed
/// fire at the run loop's next step.
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let t0 = arbor_runtime::time::now();
///     arbor_runtime::time::advance(Duration::from_millis(250));
///     assert_eq!(arbor_runtime::time::now() - t0, Duration::from_millis(250));
/// });
/// ```
///
/// # Panics
/// Outside a runtime, or on a runtime with the real clock.
#[track_caller]
pub fn advance(by: Duration) {
    context::expect("arbor::time::advance", |core| {
        assert!(
            core.clock.advance(by),
            "arbor::time::advance needs a runtime built with Builder::virtual_clock()"
        );
        // Scopes entered from now on count from the new time.
        core.poll_clock.set(None);
        core.fire_timers();
    })
}
