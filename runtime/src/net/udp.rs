//! UDP sockets on the runtime's reactor.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};

use crate::io::Async;

/// A UDP socket.
///
/// ```
/// use arbor_runtime::net::UdpSocket;
/// arbor_runtime::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
///
/// # Cancel safety
/// Every async method is cancel safe against scopes: a datagram is sent
/// or received whole or not at all, and one that was (the operation
/// completed without waiting) is kept over the schedule point that
/// follows, which a cancelled scope does not interrupt. Only a task abort
/// at that schedule point drops it: a datagram sent but not reported, or
/// one received and lost. Each method says which.
pub struct UdpSocket {
    inner: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Bind a socket to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// The OS error of `socket` or `bind`, or of registering with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
    }

    /// Wrap a socket made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: Async::new(socket)?,
        })
    }

    /// Set the default peer for [`send`](UdpSocket::send) and filter
    /// [`recv`](UdpSocket::recv) to it. Does not wait: UDP has no handshake.
    ///
    /// # Errors
    /// The `connect` error.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.get_ref().connect(addr)
    }

    /// Send a datagram to `addr`, returning the bytes sent.
    ///
    /// # Errors
    /// The `sendto` error (e.g. `EMSGSIZE`).
    ///
    /// # Cancel safety
    /// A datagram is sent whole or not at all: dropping the future before
    /// it returns means it was not sent, unless the send already succeeded
    /// and the future was dropped at its schedule point by an abort of the
    /// task (a cancelled scope gives it the poll that returns the result).
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.inner.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receive a datagram, returning its length and sender. A datagram
    /// longer than `buf` is truncated.
    ///
    /// # Errors
    /// The `recvfrom` error.
    ///
    /// # Cancel safety
    /// Dropping the future before a datagram arrived consumes none. A
    /// datagram received at once is returned after a schedule point that
    /// a cancelled scope does not interrupt; only aborting the task there
    /// drops it.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// Send a datagram to the connected peer.
    ///
    /// # Errors
    /// The `send` error (e.g. `ECONNREFUSED` after an ICMP error, or
    /// `EDESTADDRREQ` when not connected).
    ///
    /// # Cancel safety
    /// A datagram is sent whole or not at all: dropping the future before
    /// it returns means it was not sent, unless the send already succeeded
    /// and the future was dropped at its schedule point by an abort of the
    /// task (a cancelled scope gives it the poll that returns the result).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| s.send(buf)).await
    }

    /// Receive a datagram from the connected peer.
    ///
    /// # Errors
    /// The `recv` error (e.g. `ECONNREFUSED` after an ICMP error).
    ///
    /// # Cancel safety
    /// Dropping the future before a datagram arrived consumes none. A
    /// datagram received at once is returned after a schedule point that
    /// a cancelled scope does not interrupt; only aborting the task there
    /// drops it.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// The local address.
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}
