//! Socket syscalls that `std::net` does not offer: a non-blocking
//! `connect`, `SO_ERROR`, a listen backlog, sends with `MSG_NOSIGNAL` so
//! a closed peer never raises `SIGPIPE`, and `recv` into uninitialized
//! memory, and `SO_REUSEPORT` listeners. Used by `crate::net`.

use std::io::{self, IoSlice};
use std::mem::{self, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::cvt;

/// Creates a non-blocking, close-on-exec TCP socket for `addr`'s family.
pub(crate) fn tcp_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `socket` takes no pointers; a non-negative result is a fresh
    // fd owned by nobody else, so `OwnedFd` may take it.
    let fd = cvt(unsafe { libc::socket(domain, ty, 0) })?;
    // SAFETY: `fd` was just returned by `socket` and is owned by us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets `SO_REUSEADDR` and `SO_REUSEPORT` on `fd` (before `bind`): with
/// `SO_REUSEPORT`, several sockets of the same user may bind the same
/// address and port, and the kernel spreads incoming connections over the
/// listening ones by a hash of the connection's 4-tuple.
pub(crate) fn set_reuse_port(fd: BorrowedFd<'_>) -> io::Result<()> {
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        let on: libc::c_int = 1;
        // SAFETY: `on` is valid for reads of `size_of::<c_int>()` bytes,
        // the length passed, and outlives the call; `fd` is a valid open
        // fd for its lifetime.
        let ret = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const on).cast::<libc::c_void>(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        cvt(ret)?;
    }
    Ok(())
}

/// Binds `fd` to `addr`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid socket address of `len` bytes and
    // outlives the call; `fd` is a valid open fd for its lifetime.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const storage).cast::<libc::sockaddr>(),
            len,
        )
    };
    cvt(ret).map(drop)
}

/// `listen`s, or re-`listen`s on an already listening socket to change
/// its backlog (Linux allows this; `std` always uses 128).
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: `listen` takes no pointers; `fd` is a valid open fd for its
    // lifetime.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// A `sockaddr_in`/`sockaddr_in6` in storage big enough for either.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: `sockaddr_storage` is plain old data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: plain old data; all-zero is valid.
            let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            // SAFETY: `sockaddr_storage` is larger than and suitably
            // aligned for `sockaddr_in`; we write one value into it.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: plain old data; all-zero is valid.
            let mut sin6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: `sockaddr_storage` is larger than and suitably
            // aligned for `sockaddr_in6`; we write one value into it.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Starts connecting `fd` to `addr`. `Ok(true)`: connected at once;
/// `Ok(false)`: in progress (`EINPROGRESS`, or `EINTR`, after which the
/// connect also continues asynchronously); `Err`: failed at once.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<bool> {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid socket address of `len` bytes and
    // outlives the call; `fd` is a valid open fd for its lifetime.
    let ret = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&raw const storage).cast::<libc::sockaddr>(),
            len,
        )
    };
    match cvt(ret) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and clears the socket's pending error (`SO_ERROR`).
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes and `len` is the size of
    // `err`; `fd` is a valid open fd for its lifetime.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast::<libc::c_void>(),
            &mut len,
        )
    };
    cvt(ret)?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

/// `send` with `MSG_NOSIGNAL`: a closed peer yields `EPIPE`, not `SIGPIPE`.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes during the
    // call; `fd` is a valid open fd for its lifetime.
    let ret = unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast::<libc::c_void>(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    cvt(ret).map(|n| n as usize)
}

/// Vectored [`send`]: `sendmsg` with `MSG_NOSIGNAL`.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `msghdr` is plain old data; all-zero (no name, no control
    // data) is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix; the
    // kernel only reads through the pointer. Cap at IOV_MAX (1024).
    msg.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: `msg` points at `bufs`, which is valid for the call, with a
    // count not exceeding its length; `fd` is a valid open fd.
    let ret = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    cvt(ret).map(|n| n as usize)
}

/// `recv` into memory that may be uninitialized (hyper's read buffers):
/// returns how many bytes the kernel wrote, all at the front of `buf`.
/// `MaybeUninit<u8>` has the layout of `u8`, and the kernel never reads
/// the buffer, so its being uninitialized does not matter.
pub(crate) fn recv_uninit(fd: BorrowedFd<'_>, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    let len = buf.len();
    let ptr = buf.as_mut_ptr().cast::<libc::c_void>();
    // SAFETY: `ptr` is valid for writes of `len` bytes for the call, and
    // the kernel writes at most `len`; `fd` is an open fd for its lifetime.
    let ret = unsafe { libc::recv(fd.as_raw_fd(), ptr, len, 0) };
    cvt(ret).map(|n| n as usize)
}

/// `shutdown(fd, SHUT_WR)`: the peer reads end of stream after the bytes
/// already sent.
pub(crate) fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes no pointers; a bad fd is reported as EBADF.
    cvt(unsafe { libc::shutdown(fd, libc::SHUT_WR) }).map(drop)
}

/// A close-on-exec duplicate of `fd` (`F_DUPFD_CLOEXEC`).
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes and returns plain integers; a
    // bad fd is reported as EBADF.
    let dup = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}
