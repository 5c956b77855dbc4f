//! `tcp_echo`: one listener and 32 client connections on 127.0.0.1, all on
//! one thread; every client sends 10,000 messages of 64 bytes, each read back
//! from the echo before the next. arbor (`arbor::net`) vs tokio
//! current_thread (`tokio::net`) vs async-io on async-executor (run as
//! smol runs it, `async_io::block_on(ex.run(..))`, so the blocked thread
//! drives async-io's reactor), `TCP_NODELAY` on both ends everywhere, plus
//! two floors without any runtime: `syscall-floor`, the same reads and
//! writes on blocking std sockets in lockstep (four syscalls per message),
//! and `epoll-floor`, a hand-written edge-triggered epoll loop over
//! non-blocking sockets (the six syscalls per message that any readiness
//! runtime makes: edge triggering means reading until `EAGAIN`).
//!
//! ```text
//! cargo bench -p arbor-benches --bench net && cargo bench -p arbor-benches --bench ratios
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use async_executor::LocalExecutor;
use criterion::Criterion;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 32;
const MESSAGES: usize = 10_000;
const MSG: [u8; 64] = [7; 64];

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

fn arbor_echo(rt: &arbor::Runtime) {
    rt.block_on(async {
        let listener = arbor::net::TcpListener::bind(loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = arbor::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (conn, _) = listener.accept().await.expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                conns.push(arbor::spawn(async move {
                    let mut buf = [0u8; 64];
                    while conn.read_exact(&mut buf).await.is_ok() {
                        conn.write_all(&buf).await.expect("echo");
                    }
                }));
            }
            for c in conns {
                c.await.expect("echo task");
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                arbor::spawn(async move {
                    let conn = arbor::net::TcpStream::connect(addr).await.expect("connect");
                    conn.set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; 64];
                    for _ in 0..MESSAGES {
                        conn.write_all(&MSG).await.expect("send");
                        conn.read_exact(&mut buf).await.expect("recv");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.expect("client");
        }
        server.await.expect("server");
    })
}

fn tokio_echo(rt: &tokio::runtime::Runtime, local: &tokio::task::LocalSet) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    local.block_on(rt, async {
        let listener = tokio::net::TcpListener::bind(loopback())
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::task::spawn_local(async move {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (mut conn, _) = listener.accept().await.expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                conns.push(tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 64];
                    while conn.read_exact(&mut buf).await.is_ok() {
                        conn.write_all(&buf).await.expect("echo");
                    }
                }));
            }
            for c in conns {
                c.await.expect("echo task");
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::task::spawn_local(async move {
                    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    conn.set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; 64];
                    for _ in 0..MESSAGES {
                        conn.write_all(&MSG).await.expect("send");
                        conn.read_exact(&mut buf).await.expect("recv");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.expect("client");
        }
        server.await.expect("server");
    })
}

fn async_io_echo(ex: &'static LocalExecutor<'static>) {
    async_io::block_on(ex.run(async {
        let listener = async_io::Async::<TcpListener>::bind(loopback()).expect("bind");
        let addr = listener.get_ref().local_addr().expect("addr");
        let server = ex.spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (mut conn, _) = listener.accept().await.expect("accept");
                conn.get_ref().set_nodelay(true).expect("nodelay");
                conns.push(ex.spawn(async move {
                    let mut buf = [0u8; 64];
                    while conn.read_exact(&mut buf).await.is_ok() {
                        conn.write_all(&buf).await.expect("echo");
                    }
                }));
            }
            for c in conns {
                c.await;
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                ex.spawn(async move {
                    let mut conn = async_io::Async::<TcpStream>::connect(addr)
                        .await
                        .expect("connect");
                    conn.get_ref().set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; 64];
                    for _ in 0..MESSAGES {
                        conn.write_all(&MSG).await.expect("send");
                        conn.read_exact(&mut buf).await.expect("recv");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
        server.await;
    }))
}

/// The same four syscalls per message and connection (client write, server
/// read, server write, client read) in lockstep on blocking sockets.
fn syscall_floor() {
    let listener = TcpListener::bind(loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let pairs: Vec<(TcpStream, TcpStream)> = (0..CLIENTS)
        .map(|_| {
            let client = TcpStream::connect(addr).expect("connect");
            client.set_nodelay(true).expect("nodelay");
            let (server, _) = listener.accept().expect("accept");
            server.set_nodelay(true).expect("nodelay");
            (client, server)
        })
        .collect();
    let mut buf = [0u8; 64];
    for _ in 0..MESSAGES {
        for (mut client, mut server) in pairs.iter().map(|(c, s)| (c, s)) {
            client.write_all(&MSG).expect("send");
            server.read_exact(&mut buf).expect("server recv");
            server.write_all(&buf).expect("echo");
            client.read_exact(&mut buf).expect("recv");
        }
    }
}

/// What a readiness-based runtime cannot avoid: a hand-written
/// edge-triggered epoll loop over the same non-blocking sockets, with no
/// runtime, tasks or wakers. Edge triggering obliges it to read until
/// `EAGAIN`, so per message it makes the same six syscalls as arbor and
/// tokio (two of them failing reads) and one `epoll_wait` per batch of
/// events; the blocking `syscall-floor` needs only four.
fn epoll_floor() {
    use std::io::ErrorKind::WouldBlock;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    let listener = TcpListener::bind(loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Socket 2c is client c, socket 2c + 1 its server side.
    let mut socks = Vec::with_capacity(2 * CLIENTS);
    for _ in 0..CLIENTS {
        let client = TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        for s in [client, server] {
            s.set_nodelay(true).expect("nodelay");
            s.set_nonblocking(true).expect("nonblocking");
            socks.push(s);
        }
    }
    // SAFETY: epoll_create1 takes no pointers; a non-negative result is a
    // fresh fd that only this OwnedFd owns.
    let ep = unsafe { OwnedFd::from_raw_fd(libc::epoll_create1(libc::EPOLL_CLOEXEC)) };
    for (i, s) in socks.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: both fds are open and `ev` is a valid epoll_event.
        let ret =
            unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
        assert_eq!(ret, 0, "epoll_ctl");
    }
    let mut sent = [0usize; CLIENTS];
    let mut fill = vec![0usize; socks.len()];
    let mut bufs = vec![[0u8; 64]; socks.len()];
    for c in 0..CLIENTS {
        (&socks[2 * c]).write_all(&MSG).expect("send");
        sent[c] = 1;
    }
    let mut done = 0;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    while done < CLIENTS {
        // SAFETY: `events` is valid for writes of 64 entries.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 64, -1) };
        assert!(n >= 0, "epoll_wait");
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let mut sock = &socks[i];
            loop {
                match sock.read(&mut bufs[i][fill[i]..]) {
                    Ok(0) => panic!("unexpected EOF"),
                    Ok(k) => fill[i] += k,
                    Err(e) if e.kind() == WouldBlock => break,
                    Err(e) => panic!("recv: {e}"),
                }
                if fill[i] < 64 {
                    continue;
                }
                fill[i] = 0;
                let c = i / 2;
                if i % 2 == 1 {
                    sock.write_all(&bufs[i]).expect("echo");
                } else if sent[c] < MESSAGES {
                    sock.write_all(&MSG).expect("send");
                    sent[c] += 1;
                } else {
                    done += 1;
                }
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut group = c.benchmark_group("tcp_echo");
    let arbor = arbor::Runtime::new().expect("arbor runtime");
    group.bench_function("arbor", |b| b.iter(|| arbor_echo(&arbor)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    group.bench_function("tokio", |b| b.iter(|| tokio_echo(&rt, &local)));
    let ex: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
    group.bench_function("async-executor", |b| b.iter(|| async_io_echo(ex)));
    group.bench_function("syscall-floor", |b| b.iter(syscall_floor));
    group.bench_function("epoll-floor", |b| b.iter(epoll_floor));
    group.finish();
    c.final_summary();
}
