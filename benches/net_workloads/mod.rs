//! The networking workloads on three runtimes, each written as its users
//! write it, shared by the paired runner `paired_net` (and by any runner
//! that takes `workloads()`). Everything runs on one thread over
//! 127.0.0.1, with `TCP_NODELAY` on both ends of every TCP connection:
//!
//! - arbor: `arbor::Runtime::new()`, `arbor::spawn`, `arbor::net`.
//! - tokio: a current_thread runtime with `enable_all()` (as
//!   `#[tokio::main(flavor = "current_thread")]` builds it), tasks in a
//!   `LocalSet` (`spawn_local`), `tokio::net` with `AsyncReadExt` /
//!   `AsyncWriteExt`.
//! - async-executor: set up as smol sets it up, a `LocalExecutor` run by
//!   `async_io::block_on(ex.run(..))`, so the thread that blocks drives
//!   async-io's reactor itself (under `futures_lite::future::block_on` the
//!   reactor stays on async-io's helper thread and every wakeup crosses
//!   threads); sockets are `async_io::Async<std::net::..>` (what
//!   `async-net` / `smol::net` wrap) with `futures_lite`'s I/O traits.
//!
//! The workloads:
//!
//! - `tcp_echo`: an echo server (an accept loop spawning a task per
//!   connection, each echoing 64-byte messages until EOF) and 32 client
//!   tasks, each connecting and making 1,000 round trips of 64 bytes
//!   (write, then read the echo back, compared with what was sent).
//!   `NET_ECHO_MSGS=10000` runs criterion's `net` size. Timed: all of it
//!   (bind, connects, round trips, teardown), as in `benches/net.rs`.
//! - `idle_conns`: the same server with 2,000 idle connections (each
//!   accepted, echoed once, then parked in a read on the server side and
//!   held open by the client) plus 4 busy ones making 5,000 round trips
//!   each. Timed: the busy traffic only (each side times itself; setup and
//!   teardown of the 4,004 connections are outside). Needs about 4,100
//!   file descriptors: `workloads()` raises the soft `RLIMIT_NOFILE` to
//!   the hard limit, and the side panics up front if that is not enough.
//! - `udp_pingpong`: two connected UDP sockets and two tasks; one sends a
//!   64-byte datagram and waits for its echo, 20,000 times; the other
//!   receives and sends back. Timed: all of it.

#![allow(dead_code)] // each runner uses its own subset

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_io::Async;

use crate::pairing::{self, Side, Workload, workload};

/// Bytes per message (TCP) or datagram (UDP).
pub const MSG_LEN: usize = 64;
/// `tcp_echo`'s client connections.
pub const CLIENTS: usize = 32;
/// `tcp_echo`'s round trips per connection, unless `NET_ECHO_MSGS` says.
pub const ECHO_MSGS: usize = 1_000;
/// `idle_conns`'s idle connections.
pub const IDLE: usize = 2_000;
/// `idle_conns`'s busy connections.
pub const BUSY: usize = 4;
/// `idle_conns`'s round trips per busy connection.
pub const BUSY_MSGS: usize = 5_000;
/// `udp_pingpong`'s round trips.
pub const UDP_ROUND_TRIPS: usize = 20_000;

/// Side names, as every three-runtime runner reports them.
pub const ARBOR: &str = "arbor";
pub const TOKIO: &str = "tokio";
pub const ASYNC_EXECUTOR: &str = "async-executor";

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

/// `tcp_echo`'s round trips per connection: `NET_ECHO_MSGS` or 2,000.
pub fn echo_msgs() -> usize {
    std::env::var("NET_ECHO_MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ECHO_MSGS)
}

/// The message a client sends on round trip `i` of connection `id`.
fn message(id: usize, i: usize) -> [u8; MSG_LEN] {
    let mut msg = [0x5a; MSG_LEN];
    msg[0] = id as u8;
    msg[1] = (id >> 8) as u8;
    msg[2] = i as u8;
    msg[3] = (i >> 8) as u8;
    msg
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the soft
/// limit now in force.
pub fn raise_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to write to.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit to read.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// File descriptors `idle_conns` needs: both ends of every connection,
/// plus room for the runtimes' own (epoll, eventfd, listener, stdio).
pub fn idle_conns_fds() -> libc::rlim_t {
    2 * (IDLE + BUSY) as libc::rlim_t + 64
}

fn check_fds() {
    let have = raise_nofile();
    assert!(
        have >= idle_conns_fds(),
        "idle_conns needs {} file descriptors, RLIMIT_NOFILE allows {have} (raise the hard limit: ulimit -Hn)",
        idle_conns_fds()
    );
}

/// An async-executor side set up as smol sets it up: a fresh
/// `LocalExecutor` (untimed), then `body` to completion under
/// `async_io::block_on`, which drives the reactor on this thread (timed).
pub fn async_executor<F: Future>(
    body: impl Fn(Rc<LocalExecutor<'static>>) -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let ex = Rc::new(LocalExecutor::new());
        let start = Instant::now();
        async_io::block_on(ex.run(body(ex.clone())));
        start.elapsed()
    }
}

/// An async-executor side whose body times itself.
pub fn async_executor_timed<F: Future<Output = Duration>>(
    body: impl Fn(Rc<LocalExecutor<'static>>) -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let ex = Rc::new(LocalExecutor::new());
        async_io::block_on(ex.run(body(ex.clone())))
    }
}

// Re-exported for the bench targets that glob-import this module.
#[allow(unused_imports)]
pub use crate::setup::tokio_rt;

/// The three workloads, each with its "arbor", "tokio" and
/// "async-executor" sides (raises the fd limit for `idle_conns`).
pub fn workloads() -> Vec<Workload> {
    let have = raise_nofile();
    if have < idle_conns_fds() {
        eprintln!(
            "warning: idle_conns needs {} file descriptors and RLIMIT_NOFILE allows {have}: it will fail",
            idle_conns_fds()
        );
    }
    let n = echo_msgs();
    vec![
        workload(
            "tcp_echo",
            vec![
                Side::arbor(ARBOR, pairing::arbor(move || arbor_tcp_echo(n))),
                Side::peer(TOKIO, pairing::tokio(tokio_rt, move || tokio_tcp_echo(n))),
                Side::peer(
                    ASYNC_EXECUTOR,
                    async_executor(move |ex| smol_tcp_echo(ex, n)),
                ),
            ],
        ),
        workload(
            "idle_conns",
            vec![
                Side::arbor(ARBOR, {
                    let run = pairing::arbor_timed(arbor_idle_conns);
                    move || {
                        check_fds();
                        run()
                    }
                }),
                Side::peer(TOKIO, {
                    let run = pairing::tokio_timed(tokio_rt, tokio_idle_conns);
                    move || {
                        check_fds();
                        run()
                    }
                }),
                Side::peer(ASYNC_EXECUTOR, {
                    let run = async_executor_timed(smol_idle_conns);
                    move || {
                        check_fds();
                        run()
                    }
                }),
            ],
        ),
        workload(
            "udp_pingpong",
            vec![
                Side::arbor(ARBOR, pairing::arbor(arbor_udp_pingpong)),
                Side::peer(TOKIO, pairing::tokio(tokio_rt, tokio_udp_pingpong)),
                Side::peer(ASYNC_EXECUTOR, async_executor(smol_udp_pingpong)),
            ],
        ),
    ]
}

// arbor

/// Accept `conns` connections, a task per connection echoing 64-byte
/// messages until EOF; returns once every connection is closed.
async fn arbor_echo_server(listener: arbor::net::TcpListener, conns: usize) {
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (conn, _) = listener.accept().await.expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        tasks.push(arbor::spawn(async move {
            let mut buf = [0u8; MSG_LEN];
            while conn.read_exact(&mut buf).await.is_ok() {
                conn.write_all(&buf).await.expect("echo");
            }
        }));
    }
    for t in tasks {
        t.await.expect("echo task");
    }
}

async fn arbor_connect(addr: SocketAddr) -> arbor::net::TcpStream {
    let conn = arbor::net::TcpStream::connect(addr).await.expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    conn
}

/// `n` round trips on connection `id`; returns the bytes echoed.
async fn arbor_round_trips(conn: &arbor::net::TcpStream, id: usize, n: usize) -> usize {
    let mut buf = [0u8; MSG_LEN];
    for i in 0..n {
        let msg = message(id, i);
        conn.write_all(&msg).await.expect("send");
        conn.read_exact(&mut buf).await.expect("recv");
        assert_eq!(buf, msg, "echo");
    }
    n * MSG_LEN
}

pub async fn arbor_tcp_echo(n: usize) {
    let listener = arbor::net::TcpListener::bind(loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = arbor::spawn(arbor_echo_server(listener, CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            arbor::spawn(async move {
                let conn = arbor_connect(addr).await;
                arbor_round_trips(&conn, id, n).await
            })
        })
        .collect();
    let mut echoed = 0;
    for c in clients {
        echoed += c.await.expect("client");
    }
    assert_eq!(echoed, CLIENTS * n * MSG_LEN);
    server.await.expect("server");
}

pub async fn arbor_idle_conns() -> Duration {
    let listener = arbor::net::TcpListener::bind(loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = arbor::spawn(arbor_echo_server(listener, IDLE + BUSY));
    let mut conns = Vec::with_capacity(IDLE + BUSY);
    for id in 0..IDLE + BUSY {
        let conn = arbor_connect(addr).await;
        // Accepted, echoed once: its server task is parked in a read.
        arbor_round_trips(&conn, id, 1).await;
        conns.push(conn);
    }
    let busy = conns.split_off(IDLE);
    let start = Instant::now();
    let tasks: Vec<_> = busy
        .into_iter()
        .enumerate()
        .map(|(id, conn)| {
            arbor::spawn(async move { arbor_round_trips(&conn, id, BUSY_MSGS).await })
        })
        .collect();
    let mut echoed = 0;
    for t in tasks {
        echoed += t.await.expect("busy client");
    }
    let elapsed = start.elapsed();
    assert_eq!(echoed, BUSY * BUSY_MSGS * MSG_LEN);
    drop(conns);
    server.await.expect("server");
    elapsed
}

pub async fn arbor_udp_pingpong() {
    let a = arbor::net::UdpSocket::bind(loopback()).expect("bind");
    let b = arbor::net::UdpSocket::bind(loopback()).expect("bind");
    a.connect(b.local_addr().expect("addr")).expect("connect");
    b.connect(a.local_addr().expect("addr")).expect("connect");
    let pong = arbor::spawn(async move {
        let mut buf = [0u8; MSG_LEN];
        for _ in 0..UDP_ROUND_TRIPS {
            let n = b.recv(&mut buf).await.expect("pong recv");
            b.send(&buf[..n]).await.expect("pong send");
        }
    });
    let ping = arbor::spawn(async move {
        let mut buf = [0u8; MSG_LEN];
        let mut echoed = 0;
        for i in 0..UDP_ROUND_TRIPS {
            let msg = message(0, i);
            a.send(&msg).await.expect("ping send");
            let n = a.recv(&mut buf).await.expect("ping recv");
            assert_eq!(buf[..n], msg, "echo");
            echoed += n;
        }
        echoed
    });
    assert_eq!(
        ping.await.expect("ping"),
        UDP_ROUND_TRIPS * MSG_LEN,
        "bytes echoed"
    );
    pong.await.expect("pong");
}

// tokio

async fn tokio_echo_server(listener: tokio::net::TcpListener, conns: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (mut conn, _) = listener.accept().await.expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        tasks.push(tokio::task::spawn_local(async move {
            let mut buf = [0u8; MSG_LEN];
            while conn.read_exact(&mut buf).await.is_ok() {
                conn.write_all(&buf).await.expect("echo");
            }
        }));
    }
    for t in tasks {
        t.await.expect("echo task");
    }
}

async fn tokio_connect(addr: SocketAddr) -> tokio::net::TcpStream {
    let conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    conn
}

async fn tokio_round_trips(conn: &mut tokio::net::TcpStream, id: usize, n: usize) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; MSG_LEN];
    for i in 0..n {
        let msg = message(id, i);
        conn.write_all(&msg).await.expect("send");
        conn.read_exact(&mut buf).await.expect("recv");
        assert_eq!(buf, msg, "echo");
    }
    n * MSG_LEN
}

pub async fn tokio_tcp_echo(n: usize) {
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::task::spawn_local(tokio_echo_server(listener, CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::task::spawn_local(async move {
                let mut conn = tokio_connect(addr).await;
                tokio_round_trips(&mut conn, id, n).await
            })
        })
        .collect();
    let mut echoed = 0;
    for c in clients {
        echoed += c.await.expect("client");
    }
    assert_eq!(echoed, CLIENTS * n * MSG_LEN);
    server.await.expect("server");
}

pub async fn tokio_idle_conns() -> Duration {
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::task::spawn_local(tokio_echo_server(listener, IDLE + BUSY));
    let mut conns = Vec::with_capacity(IDLE + BUSY);
    for id in 0..IDLE + BUSY {
        let mut conn = tokio_connect(addr).await;
        tokio_round_trips(&mut conn, id, 1).await;
        conns.push(conn);
    }
    let busy = conns.split_off(IDLE);
    let start = Instant::now();
    let tasks: Vec<_> = busy
        .into_iter()
        .enumerate()
        .map(|(id, mut conn)| {
            tokio::task::spawn_local(
                async move { tokio_round_trips(&mut conn, id, BUSY_MSGS).await },
            )
        })
        .collect();
    let mut echoed = 0;
    for t in tasks {
        echoed += t.await.expect("busy client");
    }
    let elapsed = start.elapsed();
    assert_eq!(echoed, BUSY * BUSY_MSGS * MSG_LEN);
    drop(conns);
    server.await.expect("server");
    elapsed
}

pub async fn tokio_udp_pingpong() {
    let a = tokio::net::UdpSocket::bind(loopback()).await.expect("bind");
    let b = tokio::net::UdpSocket::bind(loopback()).await.expect("bind");
    a.connect(b.local_addr().expect("addr"))
        .await
        .expect("connect");
    b.connect(a.local_addr().expect("addr"))
        .await
        .expect("connect");
    let pong = tokio::task::spawn_local(async move {
        let mut buf = [0u8; MSG_LEN];
        for _ in 0..UDP_ROUND_TRIPS {
            let n = b.recv(&mut buf).await.expect("pong recv");
            b.send(&buf[..n]).await.expect("pong send");
        }
    });
    let ping = tokio::task::spawn_local(async move {
        let mut buf = [0u8; MSG_LEN];
        let mut echoed = 0;
        for i in 0..UDP_ROUND_TRIPS {
            let msg = message(0, i);
            a.send(&msg).await.expect("ping send");
            let n = a.recv(&mut buf).await.expect("ping recv");
            assert_eq!(buf[..n], msg, "echo");
            echoed += n;
        }
        echoed
    });
    assert_eq!(
        ping.await.expect("ping"),
        UDP_ROUND_TRIPS * MSG_LEN,
        "bytes echoed"
    );
    pong.await.expect("pong");
}

// async-executor + async-io, as smol runs them

async fn smol_echo_server(
    ex: Rc<LocalExecutor<'static>>,
    listener: Async<TcpListener>,
    conns: usize,
) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (mut conn, _) = listener.accept().await.expect("accept");
        conn.get_ref().set_nodelay(true).expect("nodelay");
        tasks.push(ex.spawn(async move {
            let mut buf = [0u8; MSG_LEN];
            while conn.read_exact(&mut buf).await.is_ok() {
                conn.write_all(&buf).await.expect("echo");
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

async fn smol_connect(addr: SocketAddr) -> Async<TcpStream> {
    let conn = Async::<TcpStream>::connect(addr).await.expect("connect");
    conn.get_ref().set_nodelay(true).expect("nodelay");
    conn
}

async fn smol_round_trips(conn: &mut Async<TcpStream>, id: usize, n: usize) -> usize {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; MSG_LEN];
    for i in 0..n {
        let msg = message(id, i);
        conn.write_all(&msg).await.expect("send");
        conn.read_exact(&mut buf).await.expect("recv");
        assert_eq!(buf, msg, "echo");
    }
    n * MSG_LEN
}

pub async fn smol_tcp_echo(ex: Rc<LocalExecutor<'static>>, n: usize) {
    let listener = Async::<TcpListener>::bind(loopback()).expect("bind");
    let addr = listener.get_ref().local_addr().expect("addr");
    let server = ex.spawn(smol_echo_server(ex.clone(), listener, CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            ex.spawn(async move {
                let mut conn = smol_connect(addr).await;
                smol_round_trips(&mut conn, id, n).await
            })
        })
        .collect();
    let mut echoed = 0;
    for c in clients {
        echoed += c.await;
    }
    assert_eq!(echoed, CLIENTS * n * MSG_LEN);
    server.await;
}

pub async fn smol_idle_conns(ex: Rc<LocalExecutor<'static>>) -> Duration {
    let listener = Async::<TcpListener>::bind(loopback()).expect("bind");
    let addr = listener.get_ref().local_addr().expect("addr");
    let server = ex.spawn(smol_echo_server(ex.clone(), listener, IDLE + BUSY));
    let mut conns = Vec::with_capacity(IDLE + BUSY);
    for id in 0..IDLE + BUSY {
        let mut conn = smol_connect(addr).await;
        smol_round_trips(&mut conn, id, 1).await;
        conns.push(conn);
    }
    let busy = conns.split_off(IDLE);
    let start = Instant::now();
    let tasks: Vec<_> = busy
        .into_iter()
        .enumerate()
        .map(|(id, mut conn)| {
            ex.spawn(async move { smol_round_trips(&mut conn, id, BUSY_MSGS).await })
        })
        .collect();
    let mut echoed = 0;
    for t in tasks {
        echoed += t.await;
    }
    let elapsed = start.elapsed();
    assert_eq!(echoed, BUSY * BUSY_MSGS * MSG_LEN);
    drop(conns);
    server.await;
    elapsed
}

pub async fn smol_udp_pingpong(ex: Rc<LocalExecutor<'static>>) {
    let a = Async::<UdpSocket>::bind(loopback()).expect("bind");
    let b = Async::<UdpSocket>::bind(loopback()).expect("bind");
    a.get_ref()
        .connect(b.get_ref().local_addr().expect("addr"))
        .expect("connect");
    b.get_ref()
        .connect(a.get_ref().local_addr().expect("addr"))
        .expect("connect");
    let pong = ex.spawn(async move {
        let mut buf = [0u8; MSG_LEN];
        for _ in 0..UDP_ROUND_TRIPS {
            let n = b.recv(&mut buf).await.expect("pong recv");
            b.send(&buf[..n]).await.expect("pong send");
        }
    });
    let ping = ex.spawn(async move {
        let mut buf = [0u8; MSG_LEN];
        let mut echoed = 0;
        for i in 0..UDP_ROUND_TRIPS {
            let msg = message(0, i);
            a.send(&msg).await.expect("ping send");
            let n = a.recv(&mut buf).await.expect("ping recv");
            assert_eq!(buf[..n], msg, "echo");
            echoed += n;
        }
        echoed
    });
    assert_eq!(ping.await, UDP_ROUND_TRIPS * MSG_LEN, "bytes echoed");
    pong.await;
}
