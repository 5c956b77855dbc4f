//! Thin, safe wrappers over the Linux syscalls the reactor needs.
//!
//! This module (this file and its `socket`, `unix`, `signal`, `futex` and
//! `affinity` submodules) is the only place that calls `libc`. Every syscall result
//! goes through [`cvt`] (or [`cvt_retry`], which also retries `EINTR`), so
//! error handling is uniform: `-1` becomes `io::Error::last_os_error()`.
//!
//! # Epoll mode: edge-triggered, registered once
//!
//! Each fd is registered exactly once, for its whole lifetime, with
//! `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`. Edge-triggered mode means no
//! syscall per I/O operation: `EPOLLONESHOT` would need an `EPOLL_CTL_MOD`
//! re-arm after every event, and level-triggered mode would keep reporting a
//! readable socket nobody is waiting on, turning the loop into a spin. The cost
//! of edge triggering is that the kernel reports a *transition* only once, so
//! readiness must be remembered in userspace and cleared only after an
//! operation actually returned `WouldBlock` (see `ScheduledIo` in the parent
//! module). This is the design of mio (`src/sys/unix/selector/epoll.rs`, used
//! by tokio) and of trio's `_io_epoll.py`, whose long comment argues the same
//! trade-off against one-shot re-arming.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::Ready;

mod affinity;
#[cfg(not(loom))]
mod futex;
mod monotonic;
pub(crate) mod signal;
mod socket;
mod unix;
#[cfg(test)]
pub(crate) use affinity::allowed_cpus;
pub(crate) use affinity::{CpuMask, pin_current_thread};
#[cfg(not(loom))]
pub(crate) use futex::{futex_wait, futex_wake};
pub(crate) use monotonic::monotonic_nanos;
pub(crate) use socket::*;
pub(crate) use unix::*;

/// Syscall return values that signal failure with `-1` and set `errno`.
pub(crate) trait SysRet: Copy + PartialEq {
    /// The failure sentinel, `-1`.
    const MINUS_ONE: Self;
}

impl SysRet for libc::c_int {
    const MINUS_ONE: Self = -1;
}

impl SysRet for libc::ssize_t {
    const MINUS_ONE: Self = -1;
}

/// Turns a `-1`/`errno` syscall result into an `io::Error`.
///
/// Generic over `c_int` and `ssize_t` because `read`/`write` return the latter
/// and truncating a byte count to `c_int` would be wrong.
pub(crate) fn cvt<T: SysRet>(ret: T) -> io::Result<T> {
    if ret == T::MINUS_ONE {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], but re-issues the syscall while it fails with `EINTR`.
///
/// The closure is called again on each retry, so callers can recompute
/// arguments (e.g. a shrinking timeout).
pub(crate) fn cvt_retry<T: SysRet>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Which directions to watch. Registration always adds `EPOLLET`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Interest(u32);

impl Interest {
    /// Readable, including peer half-close (`EPOLLRDHUP`).
    pub const READABLE: Interest = Interest((libc::EPOLLIN | libc::EPOLLRDHUP) as u32);
    /// Writable.
    pub const WRITABLE: Interest = Interest(libc::EPOLLOUT as u32);
    /// Both directions: what the reactor uses for every I/O fd.
    pub const BOTH: Interest = Interest(Self::READABLE.0 | Self::WRITABLE.0);
}

/// Maps epoll event bits to [`Ready`] (same interpretation as mio).
pub(crate) fn ready_from_epoll(bits: u32) -> Ready {
    let has = |flag: libc::c_int| bits & flag as u32 != 0;
    let mut ready = Ready::EMPTY;
    if has(libc::EPOLLIN) || has(libc::EPOLLPRI) {
        ready |= Ready::READABLE;
    }
    if has(libc::EPOLLOUT) {
        ready |= Ready::WRITABLE;
    }
    // EPOLLHUP means both halves are gone; EPOLLRDHUP only the peer's writes.
    if has(libc::EPOLLHUP) || has(libc::EPOLLRDHUP) {
        ready |= Ready::READ_CLOSED;
    }
    if has(libc::EPOLLHUP) || (has(libc::EPOLLOUT) && has(libc::EPOLLERR)) {
        ready |= Ready::WRITE_CLOSED;
    }
    if has(libc::EPOLLERR) {
        ready |= Ready::ERROR;
    }
    ready
}

/// Converts a timeout to epoll's milliseconds, rounding UP so that a
/// sub-millisecond deadline sleeps 1 ms instead of busy-polling with 0.
/// `None` is `-1`: block until an event.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => d
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
    }
}

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// Creates an epoll instance (close-on-exec).
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; any flag value is checked by the kernel.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest.0 | libc::EPOLLET as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid, live epoll_event for the duration of the call;
        // the kernel copies it and keeps no pointer.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Registers `fd` edge-triggered; events carry `token`.
    pub fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Removes `fd` from the interest list.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL since Linux 2.6.9.
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })?;
        Ok(())
    }

    /// Waits for events, replacing the contents of `events`.
    ///
    /// `EINTR` is retried with the time remaining, so a signal neither surfaces
    /// as an error nor extends the wait past the original deadline.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let list = &mut events.list;
        list.clear();
        let cap = list.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
        let n = cvt_retry(|| {
            let ms = match deadline {
                Some(d) => timeout_ms(Some(d.saturating_duration_since(Instant::now()))),
                // No timeout (-1), or one so large the deadline overflowed (clamped).
                None => timeout_ms(timeout),
            };
            // SAFETY: `list` has room for `cap` entries; the kernel writes at most `cap`.
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), list.as_mut_ptr(), cap, ms) }
        })?;
        // SAFETY: epoll_wait initialized the first `n` (0 <= n <= cap) entries.
        unsafe { list.set_len(n as usize) };
        Ok(())
    }
}

impl AsFd for Epoll {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A reusable buffer of epoll events.
pub struct Events {
    list: Vec<libc::epoll_event>,
}

impl Events {
    /// A buffer receiving at most `capacity` (at least 1) events per wait.
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity.max(1)),
        }
    }

    /// The events of the last wait as `(token, readiness)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Ready)> + '_ {
        // Copy the fields out: epoll_event is packed on x86_64, so no references.
        self.list.iter().map(|ev| {
            let (token, bits) = (ev.u64, ev.events);
            (token, ready_from_epoll(bits))
        })
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A non-blocking eventfd used to wake a reactor blocked in `epoll_wait` from
/// other threads.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

// Written from other threads: fail the build if that ever stops being sound.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EventFd>();
};

impl EventFd {
    /// Creates a non-blocking, close-on-exec eventfd with counter 0.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds 1 to the counter. Every write is a new edge for an
    /// edge-triggered epoll, even while the counter is already non-zero, so
    /// the runtime never needs to read it back (as in mio's eventfd waker).
    pub fn notify(&self) -> io::Result<()> {
        match write(self.fd.as_raw_fd(), &1u64.to_ne_bytes()) {
            // The counter would overflow (after 2^64 - 2 unread writes): the
            // write made no edge, so reset the counter and write again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.drain()?;
                write(self.fd.as_raw_fd(), &1u64.to_ne_bytes()).map(drop)
            }
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    /// Resets the counter to 0 so the next `notify` produces a new edge.
    pub fn drain(&self) -> io::Result<()> {
        let mut buf = [0u8; 8];
        loop {
            match read(self.fd.as_raw_fd(), &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Put `fd` in non-blocking mode (`O_NONBLOCK`), keeping its other flags.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return plain integers; a bad fd is
    // reported as EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

#[cfg(test)]
/// A non-blocking, close-on-exec pipe: `(read end, write end)`.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two c_ints for the kernel to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: on success both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
/// A non-blocking, close-on-exec Unix stream socket pair.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a valid array of two c_ints for the kernel to fill.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    // SAFETY: on success both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `read(2)`; on a non-blocking fd, "no data" is `ErrorKind::WouldBlock`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let n = cvt_retry(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `write(2)`; on a non-blocking fd, "buffer full" is `ErrorKind::WouldBlock`.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
    let n = cvt_retry(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rounds_up_to_whole_ms() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(500))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(20))), 20);
        assert_eq!(timeout_ms(Some(Duration::from_micros(20_001))), 21);
        assert_eq!(timeout_ms(Some(Duration::MAX)), libc::c_int::MAX);
    }

    #[test]
    fn cvt_maps_minus_one_to_errno() {
        // SAFETY: close on an fd that is certainly not open only sets errno.
        let err = cvt(unsafe { libc::close(-1) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(cvt(3 as libc::c_int).unwrap(), 3);
    }

    #[test]
    fn epoll_bits_map_to_ready() {
        let r = ready_from_epoll((libc::EPOLLIN | libc::EPOLLRDHUP) as u32);
        assert!(r.contains(Ready::READABLE | Ready::READ_CLOSED));
        assert!(!r.contains(Ready::WRITE_CLOSED));
        let r = ready_from_epoll((libc::EPOLLOUT | libc::EPOLLERR) as u32);
        assert!(r.contains(Ready::WRITABLE | Ready::WRITE_CLOSED | Ready::ERROR));
    }
}
