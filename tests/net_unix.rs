//! Unix domain sockets: streams, datagrams, errors, cancellation, fds.
//!
//! Every test takes the shared side of `FDS`; the fd-count test takes the
//! exclusive side, so no other test opens descriptors while it counts.

mod support;

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream, UnixDatagram, UnixListener, UnixStream};
use arbor::{fail_after, move_on_after};
use futures_lite::future::poll_once;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use support::{open_fds, virtual_rt};

static FDS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(PoisonError::into_inner)
}

/// A unique socket path in the temp dir (pid + counter), removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("arbor-{}-{n}-{tag}.sock", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A std listener on `path` whose backlog is `backlog` (0: one pending
/// connection, then `EAGAIN`).
fn std_listener_with_backlog(path: &TempPath, backlog: i32) -> std::os::unix::net::UnixListener {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    // SAFETY: `listen` takes no pointers and the fd is open for the call.
    let ret = unsafe { libc::listen(listener.as_fd().as_raw_fd(), backlog) };
    assert_eq!(ret, 0, "{}", io::Error::last_os_error());
    listener
}

#[test]
fn stream_round_trip_through_listener() {
    let _fds = shared();
    let path = TempPath::new("round-trip");
    arbor::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_ref())
        );
        assert!(format!("{listener:?}").contains("UnixListener"));
        let server = arbor::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
            (peer.is_unnamed(), stream.local_addr().unwrap())
        });
        let client = UnixStream::connect(&path).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_ref())
        );
        assert!(client.local_addr().unwrap().is_unnamed());
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        let (peer_unnamed, server_local) = server.await.unwrap();
        assert!(peer_unnamed);
        assert_eq!(server_local.as_pathname(), Some(path.as_ref()));
    });
}

#[test]
fn one_mib_with_partial_reads_and_writes() {
    const LEN: usize = 1 << 20;
    let _fds = shared();
    let path = TempPath::new("mib");
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    arbor::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        let reader = arbor::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (mut got, mut reads, mut buf) = (Vec::with_capacity(LEN), 0, [0u8; 4093]);
            loop {
                // Alternate the inherent read and `AsyncRead for &UnixStream`.
                let n = if reads % 2 == 0 {
                    stream.read(&mut buf).await.unwrap()
                } else {
                    AsyncReadExt::read(&mut &stream, &mut buf).await.unwrap()
                };
                if n == 0 {
                    break;
                }
                reads += 1;
                got.extend_from_slice(&buf[..n]);
            }
            (got, reads)
        });
        let mut client = UnixStream::connect(&path).await.unwrap();
        for (i, chunk) in data.chunks(7919).enumerate() {
            if i % 2 == 0 {
                AsyncWriteExt::write_all(&mut client, chunk).await.unwrap();
            } else {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                let mut done = 0;
                while done < chunk.len() {
                    let bufs = if done < a.len() {
                        [IoSlice::new(&a[done..]), IoSlice::new(b)]
                    } else {
                        [IoSlice::new(&[]), IoSlice::new(&b[done - a.len()..])]
                    };
                    done += client.write_vectored(&bufs).await.unwrap();
                }
            }
        }
        client.flush().await.unwrap();
        client.close().await.unwrap();
        let (got, reads) = reader.await.unwrap();
        assert!(reads > 1, "partial reads expected");
        assert!(got == expected, "payload corrupted");
    });
}

#[test]
fn shutdown_write_makes_the_peer_read_eof() {
    let _fds = shared();
    let path = TempPath::new("half-close");
    arbor::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        let mut client = UnixStream::connect(&path).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"question").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"question");
        // The other direction still works.
        server.write_all(b"answer").await.unwrap();
        drop(server);
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"answer");
    });
}

#[test]
fn stream_pair_round_trip_with_shared_reader_and_writer() {
    let _fds = shared();
    arbor::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        // One task reads through `&UnixStream` while another writes through it.
        let reader = arbor::spawn({
            let a = a.clone();
            async move {
                let mut got = Vec::new();
                (&*a).read_to_end(&mut got).await.unwrap();
                got
            }
        });
        let mut writer: &UnixStream = &a;
        AsyncWriteExt::write_all(&mut writer, b"to b")
            .await
            .unwrap();
        writer.close().await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"to b");
        assert_eq!(
            b.read(&mut buf).await.unwrap(),
            0,
            "a closed its write half"
        );
        b.write_all(b"to a").await.unwrap();
        drop(b);
        assert_eq!(reader.await.unwrap(), b"to a");
    });
}

#[test]
fn shared_tcp_stream_reference_is_async_read_and_write() {
    let _fds = shared();
    arbor::run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (mut c, mut s) = (&client, &server);
        c.write_all(b"ref").await.unwrap();
        c.flush().await.unwrap();
        c.close().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ref");
    });
}

#[test]
fn datagrams_between_bound_sockets_name_their_sender() {
    let _fds = shared();
    let (pa, pb) = (TempPath::new("dgram-a"), TempPath::new("dgram-b"));
    arbor::run(async {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        assert_eq!(a.local_addr().unwrap().as_pathname(), Some(pa.as_ref()));
        let echo = arbor::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            let from = from.as_pathname().unwrap().to_owned();
            b.send_to(&buf[..n], &from).await.unwrap();
            from
        });
        assert_eq!(a.send_to(b"ping", &pb).await.unwrap(), 4);
        let mut buf = [0u8; 64];
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            (&buf[..n], from.as_pathname()),
            (&b"ping"[..], Some(pb.as_ref()))
        );
        assert_eq!(echo.await.unwrap(), pa.0);
    });
}

#[test]
fn connected_datagrams_send_and_recv() {
    let _fds = shared();
    let server_path = TempPath::new("dgram-server");
    arbor::run(async {
        let server = UnixDatagram::bind(&server_path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        assert!(client.peer_addr().is_err(), "not connected yet");
        client.connect(&server_path).unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(server_path.as_ref())
        );
        assert_eq!(client.send(b"one").await.unwrap(), 3);
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        assert!(from.is_unnamed(), "an unbound sender has no name");
        // A datagram longer than the buffer is truncated.
        client.send(b"truncated").await.unwrap();
        let mut small = [0u8; 4];
        assert_eq!(server.recv(&mut small).await.unwrap(), 4);
        assert_eq!(&small, b"trun");
        client.shutdown(Shutdown::Write).unwrap();
        let err = client.send(b"late").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn datagram_pair_round_trip() {
    let _fds = shared();
    arbor::run(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"first").await.unwrap();
        a.send(b"second").await.unwrap();
        let mut buf = [0u8; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"first");
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"second");
        b.send(b"back").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert!(format!("{a:?}").contains("UnixDatagram"));
    });
}

#[test]
fn datagram_senders_wait_for_a_full_receiver_queue() {
    // The receiver's queue holds few datagrams (net.unix.max_dgram_qlen),
    // so both senders hit EAGAIN and must be woken as the reader drains.
    const COUNT: u32 = 2000;
    let _fds = shared();
    let (pr, ps) = (TempPath::new("flood-r"), TempPath::new("flood-s"));
    arbor::run(async {
        let receiver = UnixDatagram::bind(&pr).unwrap();
        let unconnected = UnixDatagram::bind(&ps).unwrap();
        let connected = UnixDatagram::unbound().unwrap();
        connected.connect(&pr).unwrap();
        let reader = arbor::spawn(async move {
            let (mut next_named, mut next_unnamed) = (0u32, 0u32);
            let mut buf = [0u8; 4];
            while next_named < COUNT || next_unnamed < COUNT {
                let (n, from) = receiver.recv_from(&mut buf).await.unwrap();
                assert_eq!(n, 4);
                let next = if from.is_unnamed() {
                    &mut next_unnamed
                } else {
                    &mut next_named
                };
                assert_eq!(u32::from_le_bytes(buf), *next, "order within a sender");
                *next += 1;
            }
        });
        let by_path = arbor::spawn(async move {
            for i in 0..COUNT {
                unconnected.send_to(&i.to_le_bytes(), &pr).await.unwrap();
            }
        });
        fail_after(Duration::from_secs(20), async {
            for i in 0..COUNT {
                connected.send(&i.to_le_bytes()).await.unwrap();
            }
            by_path.await.unwrap();
            reader.await.unwrap();
        })
        .await
        .expect("a sender was never woken");
    });
}

/// Polls `fut` to completion, counting its polls.
async fn count_polls<F: Future>(fut: F) -> (F::Output, usize) {
    let mut fut = std::pin::pin!(fut);
    let mut polls = 0;
    let out = std::future::poll_fn(|cx| {
        polls += 1;
        fut.as_mut().poll(cx)
    })
    .await;
    (out, polls)
}

#[test]
fn sends_to_a_stalled_receiver_wait_without_spinning() {
    // Linux makes every refused unconnected send report the sender
    // writable again: waiting for writability would spin for the whole
    // stall. `send_to` backs off on a timer; a connected `send` is woken
    // exactly once the queue drains.
    let _fds = shared();
    let (pr, ps) = (TempPath::new("stall-r"), TempPath::new("stall-s"));
    arbor::run(async {
        let receiver = UnixDatagram::bind(&pr).unwrap();
        let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
        filler.set_nonblocking(true).unwrap();
        for connected in [false, true] {
            let mut queued = 0;
            while filler.send_to(b"fill", &pr).is_ok() {
                queued += 1;
            }
            let sender = UnixDatagram::bind(&ps).unwrap();
            let path = pr.0.clone();
            let send = arbor::spawn(count_polls(async move {
                if connected {
                    sender.connect(&path).unwrap();
                    sender.send(b"mine").await
                } else {
                    sender.send_to(b"mine", &path).await
                }
            }));
            arbor::time::sleep(Duration::from_millis(100)).await;
            let mut buf = [0u8; 8];
            for _ in 0..queued {
                assert_eq!(receiver.recv(&mut buf).await.unwrap(), 4);
            }
            let (sent, polls) = send.await.unwrap();
            assert_eq!(sent.unwrap(), 4);
            let n = receiver.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"mine");
            let limit = if connected { 4 } else { 20 };
            assert!(polls <= limit, "connected: {connected}, {polls} polls");
            std::fs::remove_file(&ps).unwrap();
        }
    });
}

#[test]
fn connect_to_a_missing_path_is_not_found() {
    let _fds = shared();
    let path = TempPath::new("missing");
    arbor::run(async {
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let socket = UnixDatagram::unbound().unwrap();
        let err = socket.send_to(b"x", &path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = socket.connect(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let long = std::env::temp_dir().join("x".repeat(120));
        let err = UnixStream::connect(&long).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn connect_to_a_stale_socket_file_is_refused() {
    let _fds = shared();
    let path = TempPath::new("stale");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.0.exists(), "the socket file outlives its listener");
    arbor::run(async {
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn binding_an_existing_path_is_addr_in_use() {
    let _fds = shared();
    let path = TempPath::new("in-use");
    arbor::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let err = UnixDatagram::bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(listener);
        // The file stays after the drop, and still blocks a new bind.
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    });
}

#[test]
fn write_to_a_closed_peer_is_epipe_not_sigpipe() {
    // Restore the default SIGPIPE action (std ignores it at startup), so a
    // missing MSG_NOSIGNAL would kill this test process.
    // SAFETY: installing SIG_DFL for SIGPIPE has no memory-safety
    // preconditions; every socket write in this binary uses MSG_NOSIGNAL.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let _fds = shared();
    arbor::run(async {
        for how in 0..3 {
            let (mut a, b) = UnixStream::pair().unwrap();
            drop(b);
            let chunk = [7u8; 1024];
            let res = match how {
                0 => a.write(&chunk).await,
                1 => a.write_vectored(&[IoSlice::new(&chunk)]).await,
                _ => AsyncWriteExt::write(&mut &a, &chunk).await,
            };
            // On io_uring the write is queued and sent with the tick's
            // others: its error comes from the flush (and every write
            // after). On epoll it comes from the write itself.
            let res = match res {
                Ok(_) => a.flush().await,
                Err(e) => Err(e),
            };
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
            let again = a.write(&chunk).await.unwrap_err();
            assert_eq!(again.kind(), io::ErrorKind::BrokenPipe, "the error sticks");
        }
    });
}

#[test]
fn dropped_accept_read_and_connect_lose_nothing() {
    let _fds = shared();
    let path = TempPath::new("cancel");
    virtual_rt().block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        // A timed-out accept and one dropped after a poll lose nothing.
        assert!(
            move_on_after(Duration::from_secs(1), listener.accept())
                .await
                .is_none()
        );
        assert!(poll_once(listener.accept()).await.is_none());
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();

        // A timed-out read and one dropped after a poll consume nothing.
        let mut buf = [0u8; 8];
        assert!(
            move_on_after(Duration::from_secs(1), server.read(&mut buf))
                .await
                .is_none()
        );
        assert!(poll_once(server.read(&mut buf)).await.is_none());
        client.write_all(b"intact").await.unwrap();
        server.read_exact(&mut buf[..6]).await.unwrap();
        assert_eq!(&buf[..6], b"intact");

        // A connect in an already cancelled scope makes no attempt.
        assert!(
            move_on_after(Duration::ZERO, UnixStream::connect(&path))
                .await
                .is_none()
        );
        assert!(
            move_on_after(Duration::from_secs(1), listener.accept())
                .await
                .is_none(),
            "a cancelled connect queued a connection"
        );
    });
}

#[test]
fn connect_to_a_full_backlog_waits_until_the_listener_accepts() {
    let _fds = shared();
    let path = TempPath::new("backlog");
    arbor::run(async {
        let listener = UnixListener::from_std(std_listener_with_backlog(&path, 0)).unwrap();
        // Fill the backlog: connects complete until one has to wait.
        let mut queued = Vec::new();
        let waiting = loop {
            let mut connect = Box::pin(UnixStream::connect(path.0.clone()));
            match poll_once(connect.as_mut()).await {
                Some(stream) => queued.push(stream.unwrap()),
                None => break connect,
            }
            assert!(queued.len() < 64, "the backlog never filled");
        };
        let waiting = arbor::spawn(waiting);
        let late = arbor::spawn(UnixStream::connect(path.0.clone()));
        // Each accept frees a slot; the waiting connects get in by backoff.
        let mut accepted = Vec::new();
        for _ in 0..queued.len() + 2 {
            let accept = fail_after(Duration::from_secs(10), listener.accept());
            accepted.push(accept.await.expect("a connect never retried").unwrap());
        }
        let waiting = waiting.await.unwrap().unwrap();
        let late = late.await.unwrap().unwrap();
        for (i, client) in queued.iter().chain([&waiting, &late]).enumerate() {
            client.write_all(&[i as u8]).await.unwrap();
        }
        let mut seen = Vec::new();
        for (server, _) in &accepted {
            let mut b = [0u8; 1];
            server.read_exact(&mut b).await.unwrap();
            seen.push(b[0]);
        }
        seen.sort();
        assert_eq!(seen, (0..accepted.len() as u8).collect::<Vec<_>>());
    });
}

#[test]
fn open_fd_count_is_unchanged_after_connections_incl_cancelled_ones() {
    let _alone = FDS.write().unwrap_or_else(PoisonError::into_inner);
    let outside = open_fds();
    arbor::run(async {
        let start = open_fds();
        for _ in 0..10 {
            let path = TempPath::new("fds");
            let listener = UnixListener::bind(&path).unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            server.read_exact(&mut b).await.unwrap();
            assert!(poll_once(listener.accept()).await.is_none());
            let (p1, p2) = UnixStream::pair().unwrap();
            let (d1, d2) = UnixDatagram::pair().unwrap();
            let missing = TempPath::new("fds-missing");
            assert!(UnixStream::connect(&missing).await.is_err());
            assert!(UnixListener::bind(&path).is_err());
            // Connects cancelled while they wait on a full backlog.
            let full = TempPath::new("fds-full");
            let full_listener =
                UnixListener::from_std(std_listener_with_backlog(&full, 0)).unwrap();
            let mut filled = Vec::new();
            for _ in 0..4 {
                if let Some(stream) = poll_once(UnixStream::connect(&full)).await {
                    filled.push(stream.unwrap());
                }
            }
            assert!(filled.len() < 4, "some connects waited and were dropped");
            drop((
                listener,
                client,
                server,
                p1,
                p2,
                d1,
                d2,
                full_listener,
                filled,
            ));
        }
        assert_eq!(open_fds(), start);
    });
    assert_eq!(open_fds(), outside);
}

#[test]
fn hundred_concurrent_echo_connections() {
    const CLIENTS: usize = 100;
    let _fds = shared();
    let path = TempPath::new("echo");
    arbor::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = arbor::spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..CLIENTS {
                let (stream, _) = listener.accept().await.unwrap();
                echoes.push(arbor::spawn(async move {
                    let mut buf = [0u8; 1024];
                    stream.read_exact(&mut buf).await.unwrap();
                    stream.write_all(&buf).await.unwrap();
                }));
            }
            for echo in echoes {
                echo.await.unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let path = path.0.clone();
                arbor::spawn(async move {
                    let stream = UnixStream::connect(&path).await.unwrap();
                    let msg = [i as u8; 1024];
                    stream.write_all(&msg).await.unwrap();
                    let mut buf = [0u8; 1024];
                    stream.read_exact(&mut buf).await.unwrap();
                    assert_eq!(buf, msg);
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        server.await.unwrap();
    });
}
