//! The crate's only calls into `libc`: opening a pidfd, signalling through
//! it, and switching a pipe end back to blocking mode.
//!
//! Everything else goes through `std::process` (fork, exec, `waitpid`)
//! and `arbor_runtime::io::Async` (epoll). Miri cannot run any of this
//! (it has no `fork`), so these calls are not in the Miri subset.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `-1`/errno to `io::Error`, for the `long` that `syscall(2)` returns.
fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `-1`/errno to `io::Error`, for the `int` that `fcntl(2)` returns.
fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    cvt(ret.into()).map(|_| ret)
}

/// A pidfd for the child `pid` (`pidfd_open(2)`, Linux 5.3+), close-on-exec
/// as every pidfd is. It becomes readable when the process exits.
///
/// `pid` must be an unreaped child of this process: only then is it
/// certain to name that child (a pid is not reused before it is reaped).
///
/// # Errors
/// `Unsupported` with an explanation when the kernel has no `pidfd_open`
/// (`ENOSYS`: older than 5.3, or a seccomp filter that hides it); the OS
/// error otherwise.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    let flags: libc::c_uint = 0;
    // SAFETY: `pidfd_open` takes a pid and flags by value and touches no
    // memory of ours; it returns a new fd or -1.
    let fd = match cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) }) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "pidfd_open(2) is not available (ENOSYS): arbor::process watches child \
                 processes through pidfds, which need Linux 5.3 or newer (and a seccomp \
                 policy that allows pidfd_open); the child was killed and reaped",
            ));
        }
        Err(e) => return Err(e),
    };
    let fd = libc::c_int::try_from(fd).expect("the kernel returns fds that fit a c_int");
    // SAFETY: `fd` was just returned by `pidfd_open`, so it is open and
    // owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Send `signal` to the process `pidfd` refers to (`pidfd_send_signal(2)`,
/// Linux 5.1+). A process that exited and is not yet reaped still accepts
/// it (and ignores it); `ESRCH` means it is gone altogether.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: libc::c_int) -> io::Result<()> {
    let info: *const libc::siginfo_t = std::ptr::null();
    let flags: libc::c_uint = 0;
    // SAFETY: `pidfd` is a live fd borrowed for the call; a null `info`
    // asks the kernel to fill in the usual `kill(2)` siginfo, so no memory
    // of ours is read.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            info,
            flags,
        )
    })
    .map(drop)
}

/// Clear `O_NONBLOCK` on `fd`'s open file description (a pipe end handed
/// to another process as its stdio expects blocking I/O).
pub(crate) fn set_blocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL takes and returns plain integers; `fd` is live for
    // the call.
    let flags = cvt_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above, F_SETFL with an integer argument.
        cvt_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
    }
    Ok(())
}
