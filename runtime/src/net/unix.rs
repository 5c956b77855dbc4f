//! Unix domain sockets on the runtime's reactor: [`UnixListener`],
//! [`UnixStream`] and (in `unix_datagram`) [`UnixDatagram`](super::UnixDatagram), bound to
//! filesystem paths.
//!
//! Each wraps its `std::os::unix::net` counterpart in [`Async`]. As in
//! `std`, dropping a bound socket does not remove its socket file: remove
//! it yourself (binding an existing path fails with `EADDRINUSE`).
//!
//! # Timer retries where Linux gives no readiness event
//!
//! [`UnixStream::connect`] to a full listener backlog and
//! [`UnixDatagram::send_to`](super::UnixDatagram::send_to) to a full receive queue fail with `EAGAIN`
//! and no event tells when room frees up, so both retry on a timer (1 ms
//! doubling to 100 ms); their docs say more. A connected
//! [`UnixDatagram::send`](super::UnixDatagram::send) is woken by Linux exactly and needs no timer.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::split::{self, Duplex, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::Async;
use crate::reactor::epoll as sys;

/// The first pause before retrying a connect or `send_to` refused with
/// `EAGAIN` by a full listener backlog or receive queue.
pub(super) const BACKLOG_RETRY_FIRST: Duration = Duration::from_millis(1);
/// The longest pause between such retries.
pub(super) const BACKLOG_RETRY_MAX: Duration = Duration::from_millis(100);

/// A Unix domain socket server, listening for connections on a path.
///
/// The socket file stays when the listener is dropped (as in `std`).
///
/// ```
/// use arbor_runtime::net::{UnixListener, UnixStream};
/// let path = std::env::temp_dir().join(format!("arbor-doc-l-{}.sock", std::process::id()));
/// arbor_runtime::run(async {
///     let listener = UnixListener::bind(&path).unwrap();
///     let client = UnixStream::connect(&path).await.unwrap();
///     let (server, _peer) = listener.accept().await.unwrap();
///     client.write_all(b"hi").await.unwrap();
///     let mut buf = [0u8; 2];
///     server.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
///     assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixListener {
    inner: Async<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Create the socket file at `path` and listen on it, with a backlog
    /// of 1024 pending connections (as [`TcpListener`](super::TcpListener)).
    ///
    /// # Errors
    /// The OS error of `socket`, `bind` or `listen`: `EADDRINUSE` when
    /// `path` exists (even a stale socket file), `ENOENT` when its
    /// directory does not, `InvalidInput` for a path longer than 107
    /// bytes; or the error of registering with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        sys::listen(listener.as_fd(), 1024)?;
        UnixListener::from_std(listener)
    }

    /// Wrap a listener made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Async::new(listener)?,
        })
    }

    /// Wait for a connection and accept it. The peer's address is usually
    /// unnamed (clients rarely bind).
    ///
    /// # Errors
    /// The OS error of `accept4` (e.g. `EMFILE`), or of registering the
    /// new stream with the reactor.
    ///
    /// A checkpoint: if other tasks are ready, it lets them run before it
    /// first looks for a connection (the schedule point comes first here,
    /// so no accepted connection is ever held over a yield).
    ///
    /// # Cancel safety
    /// Dropping the future loses no connection: a connection is taken from
    /// the kernel's queue only in the same poll that returns it.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let mut yielded = false;
        let (stream, addr) = poll_fn(|cx: &mut Context<'_>| {
            if crate::io::schedule_point_first(&mut yielded, cx) {
                return Poll::Pending;
            }
            self.inner.poll_read_with(cx, |l| l.accept())
        })
        .await?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// The address (path) this listener is bound to.
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}

/// A Unix domain stream connection.
///
/// Reads and writes are available as inherent `async fn`s and through
/// [`futures_io::AsyncRead`] / [`futures_io::AsyncWrite`], implemented for
/// both `UnixStream` and `&UnixStream` (so one task can read while another
/// writes through a shared reference). Writes use `MSG_NOSIGNAL`, so
/// writing to a closed peer returns `EPIPE` instead of raising `SIGPIPE`.
///
/// ```
/// use arbor_runtime::net::UnixStream;
/// arbor_runtime::run(async {
///     let (a, b) = UnixStream::pair().unwrap();
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0u8; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub struct UnixStream {
    inner: Async<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connect to the listener at `path` without blocking the thread.
    ///
    /// A non-blocking unix-stream `connect` never waits: it queues the
    /// connection on the listener at once, or fails. When the listener's
    /// backlog is full it fails with `EAGAIN`, and no readiness event
    /// tells when room frees up, so the attempt is retried on a timer,
    /// pausing 1 ms, then twice as long each time up to 100 ms, until it
    /// succeeds or fails otherwise (a blocking `connect` would wait as
    /// long; wrap the call in a timeout to bound it). A connect first
    /// polled inside a cancelled scope makes no attempt.
    ///
    /// # Errors
    /// The OS error: `ENOENT` when `path` does not exist, `ECONNREFUSED`
    /// when nothing listens on it (e.g. a socket file left behind by a
    /// dropped listener), `EACCES` without write permission on it,
    /// `InvalidInput` for a path longer than 107 bytes.
    ///
    /// # Cancel safety
    /// Dropping the future closes its socket; no connection survives it.
    /// The future is pending only between attempts refused with `EAGAIN`,
    /// so a dropped connect has queued nothing on the listener.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        super::no_attempt_if_cancelled().await;
        let fd = sys::unix_stream_socket()?;
        let mut pause = BACKLOG_RETRY_FIRST;
        loop {
            match sys::unix_connect(fd.as_fd(), path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::time::sleep(pause).await;
                    pause = (pause * 2).min(BACKLOG_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
        // Registered only once connected: epoll reports an unconnected
        // stream socket as hung up, and that readiness would stick.
        UnixStream::from_std(std::os::unix::net::UnixStream::from(fd))
    }

    /// A connected pair of streams (`socketpair`).
    ///
    /// # Errors
    /// The `socketpair` error, or that of registering with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wrap a connected stream made by `std`, switching it to non-blocking
    /// mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Async::new(stream)?,
        })
    }

    /// The remote address (the listener's path for a connected client,
    /// usually unnamed for an accepted stream).
    ///
    /// # Errors
    /// The `getpeername` error (e.g. `ENOTCONN`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address (usually unnamed for a client).
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Shut down the read half, the write half (the peer reads EOF), or both.
    ///
    /// # Errors
    /// The `shutdown` error (e.g. `ENOTCONN`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner
            .shutdown_stream(how, |how| self.inner.get_ref().shutdown(how))
    }

    /// Borrow the stream as a read half and a write half, usable at once
    /// from two tasks or two branches of a `join`.
    pub fn split(&self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Split the stream into owned halves that can move into two tasks.
    /// Dropping the write half shuts down the write direction;
    /// [`OwnedReadHalf::reunite`] puts the stream back together.
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split::into_split(self)
    }
}

split::byte_stream!(UnixStream);

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}
