//! A point on the runtime's clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A point in time on the runtime's monotonic clock, in nanoseconds.
///
/// On the real clock instants count from a process-wide base, so instants
/// from different runtimes compare; on a virtual clock they count from the
/// runtime's start (zero).
///
/// ```
/// use std::time::Duration;
/// arbor_runtime::run(async {
///     let t = arbor_runtime::time::Instant::now();
///     assert!(t + Duration::from_secs(1) > t);
///     assert_eq!((t + Duration::from_secs(1)) - t, Duration::from_secs(1));
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The instant that never comes: what `Instant + Duration` saturates
    /// to. A deadline at `NEVER` never fires (a sleep until it parks
    /// forever at no cost), and no clock ever reaches it.
    pub const NEVER: Instant = Instant(u64::MAX);

    pub(crate) const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    pub(crate) const fn nanos(self) -> u64 {
        self.0
    }

    /// The current time on the running runtime's clock.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn now() -> Instant {
        super::now()
    }

    /// The instant of a [`std::time::Instant`] on the running runtime's
    /// clock, for deadlines that come from code outside arbor (hyper's
    /// timer, a library's `Instant::now() + timeout`).
    ///
    /// On the real clock it is the same moment, found without reading a
    /// clock. On a virtual clock it is [`now`](Self::now) plus the real
    /// time left until `instant` (or minus the real time since it), so a
    /// std deadline set `d` ahead fires when the virtual clock has moved
    /// `d`. Saturates at the clock's origin and at [`NEVER`](Self::NEVER).
    ///
    /// ```
    /// use std::time::Duration;
    /// arbor_runtime::run(async {
    ///     let std_deadline = std::time::Instant::now() + Duration::from_secs(60);
    ///     let deadline = arbor_runtime::time::Instant::from_std(std_deadline);
    ///     let left = deadline - arbor_runtime::time::Instant::now();
    ///     assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn from_std(instant: std::time::Instant) -> Instant {
        crate::context::expect("arbor::time::Instant::from_std", |core| {
            core.clock.instant_of_std(instant)
        })
    }

    /// Time since `earlier`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time since `earlier`, `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// `self + d`, `None` on overflow (about 584 years of nanoseconds).
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|d| self.0.checked_add(d))
            .map(Instant)
    }

    /// `self - d`, `None` before the clock's origin.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|d| self.0.checked_sub(d))
            .map(Instant)
    }

    /// `self + d`, clamped to the far future.
    pub fn saturating_add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant(u64::MAX))
    }

    /// Time elapsed since this instant on the running runtime's clock.
    #[track_caller]
    pub fn elapsed(self) -> Duration {
        super::now().saturating_duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the far future rather than overflowing.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the clock's origin.
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d).unwrap_or(Instant(0))
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", Duration::from_nanos(self.0))
    }
}
