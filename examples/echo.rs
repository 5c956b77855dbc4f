//! An echo server and a load generator on arbor, with graceful shutdown.
//!
//! ```text
//! cargo run --release --example echo                          # self-test, see below
//! cargo run --release --example echo -- server 127.0.0.1:7000 # until Ctrl-C
//! cargo run --release --example echo -- server 127.0.0.1:7000 --cores 2
//! cargo run --release --example echo -- load 127.0.0.1:7000 [CONNS] [MSGS] [--cores N]
//! ```
//!
//! With `--cores N` the server runs one arbor runtime per core
//! (`arbor::per_core`), each pinned to its CPU and accepting on its own
//! `SO_REUSEPORT` listener on the same port: the kernel spreads the
//! connections over the cores, and nothing is shared between them. Ctrl-C
//! shuts the group down: every core's server is cancelled from outside,
//! which is graceful too (see `serve`). The load generator takes `--cores
//! N` as well, splitting its connections over N runtimes, so that a single
//! client thread is not what limits the measurement.
//!
//! The server runs every connection as a child of one nursery. Ctrl-C
//! cancels the accept loop's scope (the listener closes, new connections are
//! refused) and gives the open connections a grace period: their nursery is
//! shielded from the server's cancellation and gets a deadline of
//! now + grace, so a client in the middle of a conversation can finish, and
//! one that never stops is cut off at the deadline.
//!
//! With no arguments the example tests itself on 127.0.0.1: a server, a load
//! run (32 connections × 1,000 round trips), a slow client that is still
//! talking when the example sends itself SIGINT (it finishes within the
//! grace period), and an idle client that never closes (cut at the deadline).

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use arbor::per_core::{CoreGroup, PerCore};
use arbor::time::{self, Instant};
use arbor::{CancelHandle, CancelScope, NurseryError, nursery};

/// What the server saw, reported when `serve` returns.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections that ended by themselves (the client closed, or an I/O
    /// error such as a reset).
    pub finished: u64,
    /// Connections still open at the end of the grace period, dropped.
    pub cut_at_deadline: u64,
    /// Failed `accept` calls (e.g. `EMFILE`); the loop carries on.
    pub accept_errors: u64,
}

#[derive(Default)]
struct Counters {
    accepted: Cell<u64>,
    finished: Cell<u64>,
    cut: Cell<u64>,
    accept_errors: Cell<u64>,
}

/// Stops the server when dropped, whether because shutdown was requested
/// or because the server itself was cancelled from outside: cancel the
/// accept loop, give the connections until now + grace.
struct StopOnDrop {
    accepting: CancelHandle,
    connections: CancelHandle,
    grace: Duration,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.accepting.cancel_with_reason("shutting down");
        self.connections
            .set_deadline(Some(time::now() + self.grace));
    }
}

/// Serve echo on `listener` until `shutdown` completes, then stop
/// accepting and let open connections finish within `grace`.
///
/// # Errors
/// A nursery error if a connection task panicked.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + 'static,
    grace: Duration,
) -> Result<ServerStats, NurseryError> {
    let counters = Rc::new(Counters::default());
    let accepting = CancelScope::new();
    let connections = CancelScope::new().shielded(true);
    let stop = StopOnDrop {
        accepting: accepting.handle(),
        connections: connections.handle(),
        grace,
    };
    let c = counters.clone();
    nursery(async move |top| {
        top.spawn(async move {
            let _stop = stop;
            shutdown.await;
        });
        // Shielded: cancelling the server reaches the accept loop (its
        // own scope, cancelled by `StopOnDrop`), not the connections,
        // which end by themselves or at the grace deadline.
        let conns = connections.run(nursery(async move |conns| {
            let _ = accepting.run(accept_loop(listener, conns, c)).await;
            // The listener was dropped with the loop: from here on, new
            // connections are refused while the open ones finish.
        }));
        match conns.await {
            Ok(inner) => inner,
            // The grace deadline dropped the remaining connections.
            Err(_cancelled) => Ok(()),
        }
    })
    .await?;
    Ok(ServerStats {
        accepted: counters.accepted.get(),
        finished: counters.finished.get(),
        cut_at_deadline: counters.cut.get(),
        accept_errors: counters.accept_errors.get(),
    })
}

async fn accept_loop(listener: TcpListener, conns: arbor::Nursery, counters: Rc<Counters>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                counters.accepted.set(counters.accepted.get() + 1);
                conns.spawn(echo_connection(stream, counters.clone()));
            }
            Err(e) => {
                // EMFILE and friends: accept itself backs off, so logging
                // and carrying on does not spin.
                eprintln!("echo: accept failed: {e}");
                counters.accept_errors.set(counters.accept_errors.get() + 1);
            }
        }
    }
}

/// Counts the connection as cut unless it ran to its end.
struct CutGuard {
    counters: Rc<Counters>,
    done: bool,
}

impl Drop for CutGuard {
    fn drop(&mut self) {
        let counter = if self.done {
            &self.counters.finished
        } else {
            &self.counters.cut
        };
        counter.set(counter.get() + 1);
    }
}

async fn echo_connection(stream: TcpStream, counters: Rc<Counters>) {
    let mut guard = CutGuard {
        counters,
        done: false,
    };
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    guard.done = true;
}

/// What one core of [`serve_on_cores`] returns: its stats, or its error
/// as text (a `NurseryError` holds `!Send` errors, and stays on its core).
pub type CoreServed = Result<ServerStats, String>;

/// Serve echo on `addr` with one runtime per core ([`PerCore`]): each core
/// binds its own `SO_REUSEPORT` listener on the address (with port 0,
/// core 0 picks the port and the others bind the same) and runs [`serve`]
/// until the group is shut down ([`CoreGroup::shutdown`]), which cancels
/// every core's server from outside: it stops accepting and gives its
/// open connections `grace`. Returns once every core is listening, with
/// the address they share.
///
/// # Errors
/// A core that cannot start (its CPU), or cannot bind: the other cores
/// are then shut down and joined.
pub fn serve_on_cores(
    addr: SocketAddr,
    cores: PerCore,
    grace: Duration,
) -> io::Result<(CoreGroup<CoreServed>, SocketAddr)> {
    // Core 0 binds first; the others learn its port (or its failure).
    let (port_tx, port_rx) = mpsc::channel::<Option<u16>>();
    let (port_tx, port_rx) = (Mutex::new(port_tx), Mutex::new(port_rx));
    let (bound_tx, bound_rx) = mpsc::channel::<io::Result<SocketAddr>>();
    let bound_tx = Mutex::new(bound_tx);
    let group = cores.spawn(move |core| {
        let report = |bound: &io::Result<TcpListener>| {
            let addr = match bound {
                Ok(listener) => listener.local_addr(),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            let _ = bound_tx.lock().unwrap().send(addr);
        };
        let bound = if core.index == 0 {
            let bound = TcpListener::bind_reuseport(addr);
            // Reported before the others learn the port, so that core 0's
            // error is the one `serve_on_cores` returns.
            report(&bound);
            let port = bound.as_ref().ok().and_then(|l| l.local_addr().ok());
            for _ in 1..core.cores {
                let _ = port_tx.lock().unwrap().send(port.map(|a| a.port()));
            }
            bound
        } else {
            let bound = match port_rx.lock().unwrap().recv() {
                Ok(Some(port)) => TcpListener::bind_reuseport(SocketAddr::new(addr.ip(), port)),
                _ => Err(io::Error::other("core 0 could not bind")),
            };
            report(&bound);
            bound
        };
        async move {
            let served = match bound {
                Ok(listener) => serve(listener, std::future::pending(), grace)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("bind: {e}")),
            };
            // An `Err` stops the other cores (`per_core`), like a
            // nursery child's.
            served
        }
    })?;
    let count = group.cores();
    let mut shared = None;
    for _ in 0..count {
        match bound_rx.recv() {
            Ok(Ok(a)) => shared = shared.or(Some(a)),
            Ok(Err(e)) => {
                group.shutdown();
                drop(group.join());
                return Err(e);
            }
            Err(_) => break,
        }
    }
    let addr = shared.ok_or_else(|| io::Error::other("no core bound"))?;
    Ok((group, addr))
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadStats {
    /// Completed round trips (message written, echo read and checked).
    pub round_trips: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Open `conns` connections to `addr`; on each, send `msgs` messages of
/// `size` bytes and check every echo.
///
/// # Errors
/// The nursery's error group: connect or I/O errors, or `InvalidData` if
/// an echo differs from what was sent.
pub async fn load(
    addr: SocketAddr,
    conns: usize,
    msgs: usize,
    size: usize,
) -> Result<LoadStats, NurseryError> {
    let start = Instant::now();
    let round_trips = Rc::new(Cell::new(0u64));
    nursery(async |n| {
        for id in 0..conns {
            let round_trips = round_trips.clone();
            n.spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let mut back = vec![0u8; size];
                for i in 0..msgs {
                    let msg: Vec<u8> = (0..size).map(|b| (id + i + b) as u8).collect();
                    stream.write_all(&msg).await?;
                    stream.read_exact(&mut back).await?;
                    if back != msg {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad echo"));
                    }
                    round_trips.set(round_trips.get() + 1);
                }
                Ok(())
            });
        }
    })
    .await?;
    Ok(LoadStats {
        round_trips: round_trips.get(),
        elapsed: start.elapsed(),
    })
}

/// Completes at the next Ctrl-C (SIGINT). The listener is registered now,
/// so a Ctrl-C any time after this call counts.
pub fn ctrl_c() -> impl Future<Output = ()> + 'static {
    let signal = arbor::signal::ctrl_c();
    async move {
        if let Err(e) = signal.await {
            eprintln!("echo: cannot listen for Ctrl-C ({e}); serving until killed");
            std::future::pending::<()>().await;
        }
    }
}

const GRACE: Duration = Duration::from_secs(1);

/// Takes `--cores N` out of `args`.
fn take_cores(args: &mut Vec<String>) -> Result<Option<usize>, Box<dyn std::error::Error>> {
    let Some(at) = args.iter().position(|a| a == "--cores") else {
        return Ok(None);
    };
    let n = args.get(at + 1).ok_or("--cores needs a number")?.parse()?;
    args.drain(at..at + 2);
    if n == 0 {
        return Err("--cores must be at least 1".into());
    }
    Ok(Some(n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let cores = take_cores(&mut args)?;
    let rt = arbor::Runtime::new()?;
    match args.first().map(String::as_str) {
        None => rt.block_on(self_test()),
        Some("server") => {
            let addr: SocketAddr = args
                .get(1)
                .map_or("127.0.0.1:7000", String::as_str)
                .parse()?;
            match cores {
                None => rt.block_on(async {
                    let listener = TcpListener::bind(addr)?;
                    println!("echo: serving on {}; Ctrl-C stops", listener.local_addr()?);
                    let stats = serve(listener, ctrl_c(), GRACE).await?;
                    println!("echo: stopped: {stats:?}");
                    Ok(())
                }),
                Some(n) => serve_cores(&rt, addr, n),
            }
        }
        Some("load") => {
            let addr: SocketAddr = args
                .get(1)
                .ok_or("usage: load ADDR [CONNS] [MSGS] [--cores N]")?
                .parse()?;
            let conns = args.get(2).map_or(Ok(32), |s| s.parse())?;
            let msgs = args.get(3).map_or(Ok(1000), |s| s.parse())?;
            let stats = match cores {
                None => rt.block_on(load(addr, conns, msgs, 64))?,
                Some(n) => load_on_cores(addr, conns, msgs, n)?,
            };
            report(&stats);
            Ok(())
        }
        Some(other) => Err(format!("unknown mode {other:?}: use server or load").into()),
    }
}

/// `server ADDR --cores N`: the group serves until Ctrl-C (or until a core
/// fails), then shuts down and reports every core.
fn serve_cores(
    rt: &arbor::Runtime,
    addr: SocketAddr,
    cores: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (group, addr) = serve_on_cores(addr, PerCore::new(cores), GRACE)?;
    println!(
        "echo: serving on {addr} on {cores} core{} (one SO_REUSEPORT listener each); Ctrl-C stops",
        if cores == 1 { "" } else { "s" }
    );
    rt.block_on(async {
        let mut signal = std::pin::pin!(ctrl_c());
        // Ctrl-C, or a core that stopped by itself (it failed, and shut
        // the group down).
        while arbor::move_on_after(Duration::from_millis(100), signal.as_mut())
            .await
            .is_none()
            && !group.is_finished()
        {}
    });
    group.shutdown();
    let mut failed = false;
    for (i, outcome) in group.join().into_iter().enumerate() {
        match outcome {
            Ok(Ok(stats)) => println!("echo: core {i} stopped: {stats:?}"),
            Ok(Err(e)) => {
                failed = true;
                eprintln!("echo: core {i} failed: {e}");
            }
            Err(e) => {
                failed = true;
                eprintln!("echo: core {i}: {e}");
            }
        }
    }
    if failed {
        return Err("a core failed".into());
    }
    Ok(())
}

/// `load ... --cores N`: the connections split over N runtimes (unpinned:
/// the OS places them beside the server), round trips summed, the wall
/// time the slowest core's.
fn load_on_cores(
    addr: SocketAddr,
    conns: usize,
    msgs: usize,
    cores: usize,
) -> Result<LoadStats, Box<dyn std::error::Error>> {
    let outcomes = PerCore::new(cores).pin(false).run(move |core| async move {
        let mine = conns / core.cores + usize::from(core.index < conns % core.cores);
        load(addr, mine, msgs, 64).await.map_err(|e| e.to_string())
    })?;
    let mut total = LoadStats {
        round_trips: 0,
        elapsed: Duration::ZERO,
    };
    // A failing core cancels the others: report its error, not their
    // cancellation.
    let mut cancelled = None;
    for outcome in outcomes {
        match outcome {
            Ok(stats) => {
                let stats = stats?;
                total.round_trips += stats.round_trips;
                total.elapsed = total.elapsed.max(stats.elapsed);
            }
            Err(e) if e.is_cancelled() => cancelled = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match cancelled {
        Some(e) => Err(e.into()),
        None => Ok(total),
    }
}

fn report(stats: &LoadStats) {
    println!(
        "echo: {} round trips of 64 B in {:.1} ms ({:.0} per second)",
        stats.round_trips,
        stats.elapsed.as_secs_f64() * 1e3,
        stats.round_trips as f64 / stats.elapsed.as_secs_f64()
    );
}

async fn self_test() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    println!("echo: serving on {addr}");
    let server = arbor::spawn(serve(listener, ctrl_c(), GRACE));

    let stats = load(addr, 32, 1000, 64).await?;
    report(&stats);

    // A slow client still talking after Ctrl-C, and an idle one that never
    // closes.
    let slow = arbor::spawn(async move {
        let stream = TcpStream::connect(addr).await?;
        let mut buf = [0u8; 5];
        for _ in 0..5 {
            stream.write_all(b"hello").await?;
            stream.read_exact(&mut buf).await?;
            time::sleep(Duration::from_millis(100)).await;
        }
        io::Result::Ok(())
    });
    let idle = TcpStream::connect(addr).await?;
    time::sleep(Duration::from_millis(50)).await;

    println!("echo: sending myself SIGINT (as Ctrl-C would)");
    raise_sigint();
    time::sleep(Duration::from_millis(50)).await;
    match TcpStream::connect(addr).await {
        Err(e) => println!("echo: a new connection after Ctrl-C is refused: {e}"),
        Ok(_) => return Err("the server still accepted after Ctrl-C".into()),
    }
    slow.await??;
    println!("echo: the slow client finished inside the grace period");
    let stats = server.await??;
    println!("echo: server stopped: {stats:?}");
    let mut buf = [0u8; 1];
    let n = idle.read(&mut buf).await.unwrap_or(0);
    println!("echo: the idle client was cut at the deadline (read {n} bytes: EOF)");
    Ok(())
}

fn raise_sigint() {
    // SAFETY: `raise` only sends a signal to this thread; our SIGINT
    // handler is installed (by `ctrl_c()`), so the process is not killed.
    unsafe { libc::raise(libc::SIGINT) };
}
