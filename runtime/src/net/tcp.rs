//! TCP listeners and streams on the runtime's reactor.

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::addr::{ToSocketAddrs, connect_any};
use super::split::{self, Duplex, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::Async;
use crate::reactor::epoll as sys;
use crate::time::{self, Instant, Sleep};

/// How long `accept` pauses after running out of file descriptors or
/// memory before it tries again: the failed connection stays queued in the
/// kernel, so retrying at once would spin at 100% CPU until something
/// closes. 10 ms keeps the retry cost negligible and the recovery prompt.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Errors of `accept` that say "the process is out of resources", not
/// "this connection is bad".
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

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
    /// Set after an `EMFILE`-like failure: no `accept` before this instant.
    backoff_until: Cell<Option<Instant>>,
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
    #[track_caller]
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        sys::listen(listener.as_fd(), 1024)?;
        TcpListener::from_std(listener)
    }

    /// Bind a listener to `addr` with `SO_REUSEPORT` (and
    /// `SO_REUSEADDR`) set before the bind, backlog 1024: several
    /// listeners, in this process or others of the same user, may then
    /// bind the same address and port, as long as each of them sets the
    /// option (a plain [`bind`](Self::bind) on the port fails with
    /// `EADDRINUSE`). The kernel gives each new connection to one of them,
    /// chosen by a hash of the connection's addresses and ports, so that
    /// one runtime per core (`arbor::per_core`) can each accept its own
    /// connections from its own listener, with no lock and no hand-off
    /// between threads.
    ///
    /// A connection waits in the queue of the listener it was hashed to:
    /// every listener must keep accepting, and a listener closed with
    /// connections queued resets them (Linux does not move them to the
    /// others). Port 0 picks a free port; bind the others to the port the
    /// first one got ([`local_addr`](Self::local_addr)).
    ///
    /// ```
    /// use arbor_runtime::net::{TcpListener, TcpStream};
    /// arbor_runtime::run(async {
    ///     let a = TcpListener::bind_reuseport("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     let addr = a.local_addr().unwrap();
    ///     let b = TcpListener::bind_reuseport(addr).unwrap(); // the same port
    ///     assert_eq!(b.local_addr().unwrap(), addr);
    ///     let _client = TcpStream::connect(addr).await.unwrap();
    ///     // The kernel queued it on one of the two.
    ///     let accepted = accept_either(&a, &b).await;
    ///     assert_eq!(accepted.local_addr().unwrap(), addr);
    /// });
    /// # async fn accept_either(a: &TcpListener, b: &TcpListener) -> TcpStream {
    /// #     use std::future::poll_fn;
    /// #     use std::task::Poll;
    /// #     let (mut fa, mut fb) = (std::pin::pin!(a.accept()), std::pin::pin!(b.accept()));
    /// #     poll_fn(|cx| match (fa.as_mut().poll(cx), fb.as_mut().poll(cx)) {
    /// #         (Poll::Ready(r), _) | (_, Poll::Ready(r)) => Poll::Ready(r.unwrap().0),
    /// #         _ => Poll::Pending,
    /// #     })
    /// #     .await
    /// # }
    /// ```
    ///
    /// # Errors
    /// The OS error of `socket`, `setsockopt`, `bind` or `listen` (e.g.
    /// `EADDRINUSE` if a listener on the port did not set
    /// `SO_REUSEPORT`, or belongs to another user), or of registering
    /// with the reactor.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
        let fd = sys::tcp_socket(&addr)?;
        sys::set_reuse_port(fd.as_fd())?;
        sys::bind(fd.as_fd(), &addr)?;
        sys::listen(fd.as_fd(), 1024)?;
        TcpListener::from_std(std::net::TcpListener::from(fd))
    }

    /// Wrap a listener made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Async::new(listener)?,
            backoff_until: Cell::new(None),
        })
    }

    /// Wait for a connection and accept it.
    ///
    /// # Errors
    /// The OS error of `accept4` or of registering the new stream with the
    /// reactor. After `EMFILE`, `ENFILE`, `ENOBUFS` or `ENOMEM` (out of file
    /// descriptors or memory) the next `accept` on this listener first waits
    /// 10 ms, so an accept loop that logs the error and carries on does not
    /// spin while the pending connection stays queued.
    ///
    /// A checkpoint: if other tasks are ready, it lets them run before it
    /// first looks for a connection (the schedule point comes first here,
    /// so no accepted connection is ever held over a yield).
    ///
    /// # Cancel safety
    /// Dropping the future loses no connection: a connection is taken from
    /// the kernel's queue only in the same poll that returns it.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut backoff = None;
        let mut yielded = false;
        poll_fn(|cx| {
            if crate::io::schedule_point_first(&mut yielded, cx) {
                return Poll::Pending;
            }
            self.poll_accept(cx, &mut backoff)
        })
        .await
    }

    /// A stream of accepted connections: [`accept`](TcpListener::accept)
    /// in a loop. It never ends; errors are items (the loop may go on).
    ///
    /// ```
    /// use arbor_runtime::net::{TcpListener, TcpStream};
    /// use futures_lite::StreamExt;
    /// arbor_runtime::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let _client = TcpStream::connect(addr).await.unwrap();
    ///     let mut incoming = listener.incoming();
    ///     let server = incoming.next().await.unwrap().unwrap();
    ///     assert_eq!(server.local_addr().unwrap(), addr);
    /// });
    /// ```
    ///
    /// # Cancel safety
    /// As for `accept`: dropping a pending `next()` loses no connection.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            backoff: None,
        }
    }

    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        backoff: &mut Option<Sleep>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        if let Some(until) = self.backoff_until.get() {
            let sleep = backoff.get_or_insert_with(|| time::sleep_until(until));
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            *backoff = None;
            self.backoff_until.set(None);
        }
        let (stream, addr) = match self.inner.poll_read_with(cx, |l| l.accept()) {
            Poll::Ready(Ok(accepted)) => accepted,
            Poll::Ready(Err(e)) => {
                if is_resource_exhaustion(&e) {
                    self.backoff_until.set(Some(time::now() + ACCEPT_BACKOFF));
                }
                return Poll::Ready(Err(e));
            }
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(TcpStream::from_std(stream).map(|s| (s, addr)))
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

/// The stream of connections of [`TcpListener::incoming`].
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    backoff: Option<Sleep>,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.listener
            .poll_accept(cx, &mut this.backoff)
            .map(|r| Some(r.map(|(stream, _)| stream)))
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .finish()
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
    /// Connect to `addr` without blocking the thread: resolve it (host
    /// names on a worker thread, see [`lookup_host`](super::lookup_host)),
    /// then for each address in turn a non-blocking `connect`, waiting for
    /// writability and reading `SO_ERROR` if it is in progress. The first
    /// address that connects wins; if none does, the last error is returned.
    ///
    /// ```
    /// use arbor_runtime::net::{TcpListener, TcpStream};
    /// arbor_runtime::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     let port = listener.local_addr().unwrap().port();
    ///     let by_addr = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let by_str = TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    ///     let by_pair = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    /// The OS error, e.g. `ECONNREFUSED` for a closed port, or the
    /// resolver's error.
    ///
    /// # Cancel safety
    /// Dropping the future closes the half-made socket; no connection
    /// survives it. Inside a cancelled scope it makes no attempt.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        connect_any(addr, TcpStream::connect_addr).await
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        super::no_attempt_if_cancelled().await;
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

    /// Borrow the stream as a read half and a write half, which two tasks
    /// (or two branches of a `join`) can use at once.
    ///
    /// ```
    /// use arbor_runtime::net::{TcpListener, TcpStream};
    /// arbor_runtime::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     let (mut rd, mut wr) = server.split();
    ///     client.write_all(b"ping").await.unwrap();
    ///     let mut buf = [0; 4];
    ///     rd.read_exact(&mut buf).await.unwrap();
    ///     wr.write_all(&buf).await.unwrap();
    ///     client.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"ping");
    /// });
    /// ```
    pub fn split(&self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Split the stream into owned halves that can move into two tasks.
    /// Dropping the write half shuts down the write direction;
    /// [`OwnedReadHalf::reunite`] puts the stream back together.
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split::into_split(self)
    }

    /// Wrap a stream made by `std`, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
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
        self.inner
            .shutdown_stream(how, |how| self.inner.get_ref().shutdown(how))
    }
}

split::byte_stream!(TcpStream);

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
