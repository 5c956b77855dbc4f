//! TCP listeners and streams on the runtime's reactor.

use std::fmt;
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::io::Async;

use crate::reactor::epoll as sys;

/// A TCP socket server, listening for connections.
///
/// ```
/// use arbor_runtime::net::{TcpListener, TcpStream};
/// arbor_runtime::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = TcpStream::connect(addr).await.unwrap();
///     let (server, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     assert_eq!(server.peer_addr().unwrap(), peer);
/// });
/// ```
pub struct TcpListener {
    inner: Async<std::net::TcpListener>,
}

impl TcpListener {
    /// Bind a listener to `addr` (port 0 picks a free port), with a
    /// backlog of 1024 pending connections (`std`'s 128 makes bursts of
    /// connects wait for a SYN retransmission, a full second).
    ///
    /// # Errors
    /// The OS error of `socket`, `bind` or `listen` (e.g. `EADDRINUSE`),
    /// or of registering with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        sys::listen(listener.as_fd(), 1024)?;
        TcpListener::from_std(listener)
    }

    /// Wrap a listener made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Async::new(listener)?,
        })
    }

    /// Wait for a connection and accept it.
    ///
    /// # Errors
    /// The OS error of `accept4` (e.g. `EMFILE`), or of registering the
    /// new stream with the reactor.
    ///
    /// # Cancel safety
    /// Dropping the future loses no connection: a connection is taken from
    /// the kernel's queue only in the same poll that returns it.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.inner.read_with(|l| l.accept()).await?;
        Ok((TcpStream::from_std(stream)?, addr))
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}

/// A TCP connection.
///
/// Reads and writes are available as inherent `async fn`s and through
/// [`futures_io::AsyncRead`] / [`futures_io::AsyncWrite`]. Writes use
/// `MSG_NOSIGNAL`, so writing to a closed peer returns `EPIPE` (or
/// `ECONNRESET`) instead of raising `SIGPIPE`.
pub struct TcpStream {
    inner: Async<std::net::TcpStream>,
}

impl TcpStream {
    /// Connect to `addr` without blocking the thread: a non-blocking
    /// `connect`, then, if it is in progress, waiting for writability and
    /// reading `SO_ERROR`.
    ///
    /// # Errors
    /// The OS error, e.g. `ECONNREFUSED` for a closed port.
    ///
    /// # Cancel safety
    /// Dropping the future closes the half-made socket; no connection
    /// survives it.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = sys::tcp_socket(&addr)?;
        let connected = sys::connect(fd.as_fd(), &addr)?;
        let stream = TcpStream::from_std(std::net::TcpStream::from(fd))?;
        if !connected {
            stream.inner.writable().await?;
            if let Some(e) = sys::take_error(stream.as_fd())? {
                return Err(e);
            }
        }
        Ok(stream)
    }

    /// Wrap a stream made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: Async::new(stream)?,
        })
    }

    /// The remote address.
    ///
    /// # Errors
    /// The `getpeername` error (e.g. `ENOTCONN`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Set `TCP_NODELAY` (disable Nagle's algorithm).
    ///
    /// # Errors
    /// The `setsockopt` error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Shut down the read half, the write half (the peer reads EOF), or both.
    ///
    /// # Errors
    /// The `shutdown` error (e.g. `ENOTCONN`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Read some bytes into `buf`; `Ok(0)` is end of stream (or an empty `buf`).
    ///
    /// # Errors
    /// The `read` error (e.g. `ECONNRESET`).
    ///
    /// # Cancel safety
    /// Dropping the future consumes no bytes.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| (&*s).read(buf)).await
    }

    /// Write some bytes of `buf`, returning how many were written.
    ///
    /// # Errors
    /// The `send` error (e.g. `EPIPE`, `ECONNRESET`).
    ///
    /// # Cancel safety
    /// Dropping the future writes nothing more: either the whole `send`
    /// ran (and its count was returned) or none did.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| sys::send(s.as_fd(), buf)).await
    }

    /// Read exactly `buf.len()` bytes.
    ///
    /// # Errors
    /// `UnexpectedEof` if the stream ends first, or the `read` error.
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped call may have consumed a prefix into `buf`.
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Write all of `buf`.
    ///
    /// # Errors
    /// `WriteZero` if the socket accepts no bytes, or the `send` error.
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped call may have written a prefix of `buf`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read_with(cx, |s| (&*s).read(buf))
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_write_with(cx, |s| sys::send(s.as_fd(), buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_write_with(cx, |s| sys::send_vectored(s.as_fd(), bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes go straight to the kernel; there is no userspace buffer.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

// Shared-reference impls (as smol's `&Async<T>`), so a reader and a writer
// task can share one stream.

impl futures_io::AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read_with(cx, |s| (&*s).read(buf))
    }
}

impl futures_io::AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_write_with(cx, |s| sys::send(s.as_fd(), buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_write_with(cx, |s| sys::send_vectored(s.as_fd(), bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes go straight to the kernel; there is no userspace buffer.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}
