//! [`serve`] and [`Server`]: an accept loop whose connections are nursery
//! children, with graceful shutdown.

use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::{CancelHandle, CancelScope, Nursery, NurseryError, nursery};
use arbor_runtime::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use arbor_runtime::time;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};

use crate::{ArborIo, ArborTimer};

mod drain;
#[cfg(feature = "http2")]
mod sniff;

use drain::{Drain, DrainWatch, drive};
#[cfg(feature = "http2")]
use sniff::{Rewind, sniff};

/// A listener [`Server::serve`] accepts connections from:
/// [`TcpListener`] (whose connections get `TCP_NODELAY`) and
/// [`UnixListener`].
pub trait Listener {
    /// The accepted stream.
    type Io;

    /// Wait for the next connection.
    ///
    /// # Cancel safety
    /// Dropping the future loses no connection (as the listeners' own
    /// `accept`).
    fn accept(&self) -> impl Future<Output = io::Result<Self::Io>>;
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn accept(&self) -> io::Result<TcpStream> {
        let (stream, _peer) = TcpListener::accept(self).await?;
        // Responses are written whole; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Listener for UnixListener {
    type Io = UnixStream;

    async fn accept(&self) -> io::Result<UnixStream> {
        UnixListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// Which protocol [`Server::serve`] speaks on each connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 (and 1.0).
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge (`h2c`: no TLS, no upgrade). Each
    /// connection's streams run as children of a nursery of that
    /// connection.
    #[cfg(feature = "http2")]
    Http2,
    /// HTTP/2 for a client that opens with HTTP/2's connection preface
    /// (prior knowledge), HTTP/1.1 otherwise. The server reads the first
    /// bytes to tell (at most 24, handed on to hyper); a client that sends
    /// too few within [`Server::first_bytes_timeout`] is disconnected.
    #[cfg(feature = "http2")]
    Auto,
}

/// What [`Server::serve`] saw, reported when it returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections that ended cleanly (the client closed, or a graceful
    /// shutdown completed).
    pub finished: u64,
    /// Connections that ended with an error of hyper's: an I/O error, a
    /// malformed request, or one of hyper's timeouts (a client too slow
    /// to send its header within `header_read_timeout`).
    pub failed: u64,
    /// Connections still open at the end of the grace period, dropped.
    pub cut_at_deadline: u64,
    /// Failed `accept` calls; the loop goes on (out of file descriptors,
    /// the listener waits a little first: see [`TcpListener::accept`]).
    pub accept_errors: u64,
}

#[derive(Default)]
struct Counters {
    accepted: Cell<u64>,
    finished: Cell<u64>,
    failed: Cell<u64>,
    cut: Cell<u64>,
    accept_errors: Cell<u64>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// A hyper server on arbor: an accept loop, every connection a child of
/// one nursery, and graceful shutdown.
///
/// When the `shutdown` future given to [`serve`](Server::serve) completes,
/// or the server is cancelled from outside (an enclosing cancel scope),
/// the accept loop's scope is cancelled (the listener is closed: new
/// connections are refused), every open connection is asked to shut down
/// gracefully (hyper's `graceful_shutdown`: an HTTP/1 connection finishes
/// the request in flight and closes; an idle one closes at once; HTTP/2
/// sends `GOAWAY`), and the connections' nursery gets a deadline of now
/// plus the grace period, where the connections still open are dropped.
///
/// HTTP/1 settings are hyper's own [`http1::Builder`], reached through
/// [`http1`](Server::http1); its timer is already [`ArborTimer`], so
/// `header_read_timeout` works (hyper's default is 30 s; it also closes
/// keep-alive connections idle that long).
///
/// ```
/// use arbor_hyper::Server;
/// use arbor_runtime::net::{TcpListener, TcpStream};
/// use hyper::{Request, Response, body::Incoming, service::service_fn};
/// use std::{convert::Infallible, time::Duration};
///
/// arbor_runtime::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let addr = listener.local_addr().unwrap();
///     let service = service_fn(|req: Request<Incoming>| async move {
///         Ok::<_, Infallible>(Response::new(format!("you asked for {}", req.uri())))
///     });
///     let mut server = Server::new().grace(Duration::from_secs(1));
///     server.http1().header_read_timeout(Duration::from_secs(5));
///     // The client's exchange, then shutdown.
///     let client = arbor_runtime::spawn(async move {
///         let client = TcpStream::connect(addr).await.unwrap();
///         client
///             .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
///             .await
///             .unwrap();
///         let mut response = Vec::new();
///         let mut buf = [0u8; 1024];
///         while let n @ 1.. = client.read(&mut buf).await.unwrap() {
///             response.extend_from_slice(&buf[..n]);
///         }
///         response
///     });
///     let stats = server
///         .serve(listener, service, async move {
///             let response = client.await.unwrap();
///             assert!(response.ends_with(b"you asked for /hello"));
///         })
///         .await
///         .unwrap();
///     assert_eq!((stats.accepted, stats.finished), (1, 1));
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    http1: http1::Builder,
    protocol: Protocol,
    grace: Duration,
    first_bytes_timeout: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl Server {
    /// HTTP/1.1 with hyper's defaults and [`ArborTimer`], and a grace
    /// period of 10 seconds.
    pub fn new() -> Self {
        let mut http1 = http1::Builder::new();
        http1.timer(ArborTimer);
        Server {
            http1,
            protocol: Protocol::Http1,
            grace: Duration::from_secs(10),
            first_bytes_timeout: Duration::from_secs(30),
        }
    }

    /// hyper's HTTP/1 settings (`header_read_timeout`, `keep_alive`,
    /// `max_buf_size`, ...).
    pub fn http1(&mut self) -> &mut http1::Builder {
        &mut self.http1
    }

    /// The protocol spoken on each connection.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// With `Protocol::Auto`: how long a new connection may take to send
    /// the bytes that tell HTTP/1 from HTTP/2 (default 30 s, hyper's
    /// default `header_read_timeout`); hyper's own timeouts start after.
    pub fn first_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.first_bytes_timeout = timeout;
        self
    }

    /// How long open connections may go on after shutdown starts.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Serve `service` on every connection of `listener` until `shutdown`
    /// completes (or an enclosing scope is cancelled), then shut down
    /// gracefully (see [`Server`]); returns when the last connection has
    /// ended.
    ///
    /// # Errors
    /// The nursery's error if a connection's task panicked (the panic is
    /// re-raised, as nurseries do) or the server's scope failed.
    ///
    /// # Cancel safety
    /// Cancelling an enclosing scope is the graceful path: the accept
    /// loop stops and the connections get the grace period (they are
    /// shielded from the outer cancellation until its end). Dropping the
    /// future instead drops every connection at once.
    pub async fn serve<L, S, B>(
        &self,
        listener: L,
        service: S,
        shutdown: impl Future<Output = ()> + 'static,
    ) -> Result<ServeStats, NurseryError>
    where
        L: Listener + 'static,
        ArborIo<L::Io>: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
        S: Service<Request<Incoming>, Response = Response<B>> + 'static,
        S::Future: 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let counters = Rc::new(Counters::default());
        let accepting = CancelScope::new();
        let connections = CancelScope::new().shielded(true);
        let drain = Rc::new(Drain::default());
        let stop = StopOnDrop {
            accepting: accepting.handle(),
            connections: connections.handle(),
            drain: drain.clone(),
            grace: self.grace,
        };
        let shared = Rc::new(Shared {
            http1: self.http1.clone(),
            protocol: self.protocol,
            first_bytes_timeout: self.first_bytes_timeout,
            service,
            counters: counters.clone(),
            drain,
        });
        nursery(async move |top| {
            top.spawn(async move {
                let _stop = stop;
                shutdown.await;
            });
            // Shielded: cancelling the server reaches the accept loop
            // (through `StopOnDrop`), not the connections, which end by
            // themselves or at the grace deadline.
            let conns = connections.run(nursery(async move |conns| {
                let _ = accepting.run(accept_loop(listener, conns, shared)).await;
                // The listener was dropped with the loop: new connections
                // are refused while the open ones finish.
            }));
            match conns.await {
                Ok(inner) => inner,
                // The grace deadline dropped the remaining connections.
                Err(_cancelled) => Ok(()),
            }
        })
        .await?;
        Ok(ServeStats {
            accepted: counters.accepted.get(),
            finished: counters.finished.get(),
            failed: counters.failed.get(),
            cut_at_deadline: counters.cut.get(),
            accept_errors: counters.accept_errors.get(),
        })
    }
}

/// Serve `service` over HTTP/1.1 on every connection of `listener`, with
/// [`Server::new`]'s settings, until an enclosing scope is cancelled; then
/// shut down gracefully (see [`Server`]).
///
/// ```no_run
/// use arbor_runtime::net::TcpListener;
/// use hyper::{Request, Response, body::Incoming, service::service_fn};
/// use std::convert::Infallible;
///
/// arbor_runtime::run(async {
///     let listener = TcpListener::bind("127.0.0.1:8080".parse().unwrap()).unwrap();
///     let hello = service_fn(|_: Request<Incoming>| async {
///         Ok::<_, Infallible>(Response::new(String::from("hello\n")))
///     });
///     arbor_hyper::serve(listener, hello).await.unwrap();
/// });
/// ```
///
/// # Errors
/// As [`Server::serve`].
///
/// # Cancel safety
/// As [`Server::serve`]: cancelling an enclosing scope is the graceful
/// shutdown.
pub async fn serve<L, S, B>(listener: L, service: S) -> Result<ServeStats, NurseryError>
where
    L: Listener + 'static,
    ArborIo<L::Io>: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    Server::new()
        .serve(listener, service, std::future::pending())
        .await
}

struct Shared<S> {
    http1: http1::Builder,
    protocol: Protocol,
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    first_bytes_timeout: Duration,
    service: S,
    counters: Rc<Counters>,
    drain: Rc<Drain>,
}

/// Stops the server when dropped, whether shutdown was requested or the
/// server was cancelled from outside.
struct StopOnDrop {
    accepting: CancelHandle,
    connections: CancelHandle,
    drain: Rc<Drain>,
    grace: Duration,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.accepting.cancel_with_reason("shutting down");
        self.connections
            .set_deadline(Some(time::now() + self.grace));
        self.drain.start();
    }
}

async fn accept_loop<L, S, B>(listener: L, conns: Nursery, shared: Rc<Shared<S>>)
where
    L: Listener,
    ArborIo<L::Io>: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    loop {
        match listener.accept().await {
            Ok(io) => {
                bump(&shared.counters.accepted);
                conns.spawn(connection(ArborIo::new(io), shared.clone()));
            }
            Err(_) => bump(&shared.counters.accept_errors),
        }
    }
}

/// Counts the connection as cut unless it ran to its end.
struct CutGuard {
    counters: Rc<Counters>,
    ended: Option<bool>,
}

impl Drop for CutGuard {
    fn drop(&mut self) {
        bump(match self.ended {
            Some(true) => &self.counters.finished,
            Some(false) => &self.counters.failed,
            None => &self.counters.cut,
        });
    }
}

async fn connection<I, S, B>(io: ArborIo<I>, shared: Rc<Shared<S>>)
where
    ArborIo<I>: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut guard = CutGuard {
        counters: shared.counters.clone(),
        ended: None,
    };
    let watch = DrainWatch::new(shared.drain.clone());
    let ok = match shared.protocol {
        Protocol::Http1 => serve_h1(io, &shared, watch).await,
        #[cfg(feature = "http2")]
        Protocol::Http2 => serve_h2(io, &shared, watch).await,
        #[cfg(feature = "http2")]
        Protocol::Auto => {
            let mut io = io;
            match arbor_nursery::move_on_after(shared.first_bytes_timeout, sniff(&mut io)).await {
                Some(Ok((true, prefix))) => serve_h2(Rewind::new(prefix, io), &shared, watch).await,
                Some(Ok((false, prefix))) => {
                    serve_h1(Rewind::new(prefix, io), &shared, watch).await
                }
                // An I/O error, or nothing useful within the timeout.
                Some(Err(_)) | None => false,
            }
        }
    };
    guard.ended = Some(ok);
}

/// Serve HTTP/1 on `io` until it ends; true if it ended cleanly.
async fn serve_h1<I, S, B>(io: I, shared: &Shared<S>, watch: DrainWatch) -> bool
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let conn = shared.http1.serve_connection(io, &shared.service);
    drive(conn, watch).await.is_ok()
}

/// Serve HTTP/2 on `io` until it ends; true if it ended cleanly. The
/// streams are children of this connection's nursery; a panic in one
/// fails the connection, and the nursery's error is re-raised by the
/// server's.
#[cfg(feature = "http2")]
async fn serve_h2<I, S, B>(io: I, shared: &Shared<S>, watch: DrainWatch) -> bool
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    nursery(async move |streams| {
        let conn = hyper::server::conn::http2::Builder::new(crate::ArborExecutor::new(&streams))
            .timer(ArborTimer)
            .serve_connection(io, &shared.service);
        drive(conn, watch).await.is_ok()
    })
    .await
    .unwrap_or(false)
}

impl<S> fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("drain", &self.drain)
            .finish()
    }
}
