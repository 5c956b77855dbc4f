//! Unix domain datagram sockets on the runtime's reactor.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::unix::{BACKLOG_RETRY_FIRST, BACKLOG_RETRY_MAX};
use crate::io::Async;
use crate::reactor::epoll as sys;

/// A Unix domain datagram socket.
///
/// The socket file of a bound socket stays when it is dropped (as in `std`).
///
/// ```
/// use arbor_runtime::net::UnixDatagram;
/// let dir = std::env::temp_dir();
/// let pid = std::process::id();
/// let (pa, pb) = (dir.join(format!("arbor-doc-da-{pid}.sock")), dir.join(format!("arbor-doc-db-{pid}.sock")));
/// arbor_runtime::run(async {
///     let a = UnixDatagram::bind(&pa).unwrap();
///     let b = UnixDatagram::bind(&pb).unwrap();
///     a.send_to(b"ping", &pb).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from.as_pathname()), (&b"ping"[..], Some(pa.as_path())));
/// });
/// std::fs::remove_file(&pa).unwrap();
/// std::fs::remove_file(&pb).unwrap();
/// ```
///
/// # Cancel safety
/// Every async method is cancel safe: a datagram is sent or received in
/// the same poll that returns, so a dropped future sent or lost nothing.
pub struct UnixDatagram {
    inner: Async<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Create a socket bound to a new socket file at `path`.
    ///
    /// # Errors
    /// The OS error of `socket` or `bind` (`EADDRINUSE` when `path`
    /// exists, `ENOENT` when its directory does not), or of registering
    /// with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// Create a socket bound to no path: it can send, and receive replies
    /// only once connected (a receiver sees an unnamed sender).
    ///
    /// # Errors
    /// The `socket` error, or that of registering with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A pair of sockets connected to each other (`socketpair`).
    ///
    /// # Errors
    /// The `socketpair` error, or that of registering with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Wrap a socket made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Async::new(socket)?,
        })
    }

    /// Set the default peer for [`send`](UnixDatagram::send) and receive
    /// only from it. Does not wait: datagrams have no handshake.
    ///
    /// # Errors
    /// The `connect` error: `ENOENT` for a missing path, `ECONNREFUSED`
    /// when no socket is bound to it.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// Send a datagram to the socket bound at `path`, returning the bytes
    /// sent. Waits while the receiver's queue is full.
    ///
    /// Linux has no readiness event for room in another socket's queue
    /// (worse, each refused attempt reports this socket writable again,
    /// which would make waiting for writability a busy loop), so a send
    /// refused with `EAGAIN` is retried on the same timer backoff as
    /// [`UnixStream::connect`](super::UnixStream::connect): 1 ms doubling to 100 ms. A
    /// [connected](UnixDatagram::connect) socket's [`send`](UnixDatagram::send)
    /// is woken exactly when the peer's queue has room instead.
    ///
    /// # Errors
    /// The `sendto` error: `ENOENT` for a missing path, `ECONNREFUSED`
    /// when no socket is bound to it, `EMSGSIZE` for a datagram larger
    /// than the send buffer.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future sent nothing.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        let mut pause = BACKLOG_RETRY_FIRST;
        loop {
            // One attempt per wake: `WouldBlock` comes back out here (the
            // readiness stays set) instead of waiting on a write edge.
            match self.inner.write_with(|s| Ok(s.send_to(buf, path))).await? {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::time::sleep(pause).await;
                    pause = (pause * 2).min(BACKLOG_RETRY_MAX);
                }
                sent => return sent,
            }
        }
    }

    /// Receive a datagram, returning its length and sender (unnamed for an
    /// unbound sender). A datagram longer than `buf` is truncated.
    ///
    /// # Errors
    /// The `recvfrom` error.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future received nothing.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// Send a datagram to the connected peer.
    ///
    /// # Errors
    /// The `send` error: `ENOTCONN` when not connected, `ECONNREFUSED`
    /// once the peer is closed, `EPIPE` after a write shutdown.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future sent nothing.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| sys::send(s.as_fd(), buf)).await
    }

    /// Receive a datagram from the connected peer. A datagram longer than
    /// `buf` is truncated.
    ///
    /// # Errors
    /// The `recv` error.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future received nothing.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// The local address (unnamed for an unbound socket).
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// The `getpeername` error (`ENOTCONN` when not connected).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shut down receiving, sending (later sends fail with `EPIPE`), or both.
    ///
    /// # Errors
    /// The `shutdown` error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}
