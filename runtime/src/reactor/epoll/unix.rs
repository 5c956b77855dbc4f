//! Unix-domain socket syscalls that `std::os::unix::net` has no
//! non-blocking form of: a non-blocking, close-on-exec `AF_UNIX` stream
//! socket and a non-blocking `connect` to a filesystem path (std's
//! `UnixStream::connect` blocks the thread while the listener's backlog is
//! full). Used by `crate::net::unix`.
//!
//! # Connect never pends on Linux, but may say `EAGAIN`
//!
//! Unlike TCP, a non-blocking `AF_UNIX` stream `connect` has no handshake
//! to wait for: it either queues the connection on the listener at once or
//! fails at once. It never returns `EINPROGRESS`. When the listener's
//! accept queue is full (more than its `listen` backlog pending), it fails
//! with `EAGAIN`, and no readiness event on the connecting socket ever says
//! that the queue has room again (the socket is not connected, so epoll
//! reports only `EPOLLHUP` for it). The caller must retry the `connect`
//! itself; `net::unix` does so with a timer backoff. A failed attempt
//! leaves the socket unconnected, so the same fd can be retried.

use std::ffi::OsStr;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{cvt, cvt_retry};

/// Creates a non-blocking, close-on-exec, unconnected `AF_UNIX` stream
/// socket.
pub(crate) fn unix_stream_socket() -> io::Result<OwnedFd> {
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `socket` takes no pointers; a non-negative result is a fresh
    // fd owned by nobody else, so `OwnedFd` may take it.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, ty, 0) })?;
    // SAFETY: `fd` was just returned by `socket` and is owned by us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Connects the non-blocking `AF_UNIX` stream socket `fd` to the socket
/// file at `path`. `Ok(())`: connected (queued on the listener);
/// `Err` of kind `WouldBlock` (`EAGAIN`): the listener's backlog is full,
/// try again later (see the module docs); any other `Err`: failed, e.g.
/// `ENOENT` (no such file) or `ECONNREFUSED` (nobody listening on it).
/// `EINTR` is retried.
pub(crate) fn unix_connect(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let (addr, len) = sockaddr_un(path.as_os_str())?;
    // SAFETY: `addr` is a valid `sockaddr_un` whose first `len` bytes hold
    // the family and a NUL-terminated path, and it outlives the call; `fd`
    // is a valid open fd for its lifetime.
    cvt_retry(|| unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            len,
        )
    })
    .map(drop)
}

/// A `sockaddr_un` for a filesystem `path`, and its length including the
/// terminating NUL.
///
/// # Errors
/// `InvalidInput` for an empty path, a path containing a NUL byte, or one
/// too long for `sun_path` (107 bytes on Linux).
fn sockaddr_un(path: &OsStr) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    let bytes = path.as_bytes();
    // SAFETY: `sockaddr_un` is plain old data; all-zero is valid (and makes
    // the byte after the copied path the terminating NUL).
    let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let invalid = |msg: &'static str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    if bytes.is_empty() {
        return invalid("unix socket path is empty");
    }
    if bytes.contains(&0) {
        return invalid("unix socket path contains a NUL byte");
    }
    if bytes.len() >= addr.sun_path.len() {
        return invalid("unix socket path is longer than sun_path (107 bytes)");
    }
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let len = mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_un_holds_a_nul_terminated_path() {
        let (addr, len) = sockaddr_un(OsStr::new("/tmp/a.sock")).unwrap();
        assert_eq!(addr.sun_family, libc::AF_UNIX as libc::sa_family_t);
        let offset = mem::offset_of!(libc::sockaddr_un, sun_path);
        assert_eq!(len as usize, offset + "/tmp/a.sock".len() + 1);
        assert_eq!(addr.sun_path[10], b'k' as libc::c_char);
        assert_eq!(addr.sun_path[11], 0);
    }

    #[test]
    fn sockaddr_un_rejects_bad_paths() {
        let long = "x".repeat(108);
        for bad in ["", "a\0b", long.as_str()] {
            let err = sockaddr_un(OsStr::new(bad)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(sockaddr_un(OsStr::new(&long[1..])).is_ok());
    }
}
