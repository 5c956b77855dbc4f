//! The real clock's one syscall: `clock_gettime(CLOCK_MONOTONIC)`.

/// Nanoseconds on `CLOCK_MONOTONIC` (since an unspecified start, the
/// boot on Linux; never goes back). glibc answers from the vDSO without
/// entering the kernel. Read directly rather than through
/// `std::time::Instant`, whose `duration_since` and `as_nanos` cost more
/// than the read itself (a register and cancel of a sleep did two of
/// them).
#[inline]
pub(crate) fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    // CLOCK_MONOTONIC is always supported on Linux, so the call cannot
    // fail (the only errors are a bad clock id or a bad pointer).
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(ret, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    // Both fields are non-negative for this clock.
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}
