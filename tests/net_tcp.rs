//! TCP behaviour over loopback.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[arbor::test]
async fn accept_connect_round_trip() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = arbor_runtime::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), peer);
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(&buf).await.unwrap();
        peer
    });
    let client = TcpStream::connect(addr).await.unwrap();
    client.set_nodelay(true).unwrap();
    assert_eq!(client.peer_addr().unwrap(), addr);
    client.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    assert_eq!(server.await.unwrap(), client.local_addr().unwrap());
}

#[arbor::test]
async fn one_mib_with_partial_reads_and_writes() {
    const LEN: usize = 1 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = arbor_runtime::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut got = Vec::with_capacity(LEN);
        let mut buf = [0u8; 4093];
        let mut reads = 0;
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            reads += 1;
            got.extend_from_slice(&buf[..n]);
        }
        (got, reads)
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    // Odd-sized chunks through the `AsyncWrite` impl, some vectored.
    let mut sent = 0;
    for (i, chunk) in data.chunks(7919).enumerate() {
        if i % 2 == 0 {
            client.write_all(chunk).await.unwrap();
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
        sent += chunk.len();
    }
    client.flush().await.unwrap();
    client.close().await.unwrap();
    assert_eq!(sent, LEN);
    let (got, reads) = reader.await.unwrap();
    assert!(reads > 1, "partial reads expected");
    assert!(got == expected, "payload corrupted");
}

#[arbor::test]
async fn half_close() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
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
}

#[arbor::test]
async fn connect_to_closed_port_is_refused() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[arbor::test]
async fn write_to_closed_peer_is_an_error_not_sigpipe() {
    // Restore the default SIGPIPE action (std ignores it at startup), so a
    // missing MSG_NOSIGNAL would kill this test process.
    // SAFETY: installing SIG_DFL for SIGPIPE has no memory-safety
    // preconditions; every socket write in this binary uses MSG_NOSIGNAL.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    for vectored in [false, true] {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop(server);
        let chunk = vec![7u8; 64 * 1024];
        let mut error = None;
        for _ in 0..100 {
            let res = if vectored {
                client.write_vectored(&[IoSlice::new(&chunk)]).await
            } else {
                client.write(&chunk).await
            };
            if let Err(e) = res {
                error = Some(e);
                break;
            }
            arbor_runtime::time::sleep(Duration::from_millis(1)).await;
        }
        let kind = error.expect("writes to a closed peer must fail").kind();
        assert!(
            matches!(
                kind,
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{kind:?}"
        );
    }
}

#[arbor::test]
async fn connect_within_deadline() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = arbor_nursery::fail_after(Duration::from_millis(50), TcpStream::connect(addr))
        .await
        .expect("loopback connect is fast")
        .unwrap();
    let (_server, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, stream.local_addr().unwrap());
}

#[arbor::test]
async fn a_thousand_connections_open_at_once() {
    const CLIENTS: usize = 1000;
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = arbor_runtime::spawn(async move {
        // Accept every connection before echoing any, so all 1,000 are
        // open (and their clients parked in a read) at the same time.
        let mut streams = Vec::new();
        for _ in 0..CLIENTS {
            streams.push(listener.accept().await.unwrap().0);
        }
        let echoes: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                arbor_runtime::spawn(async move {
                    let mut buf = [0u8; 1024];
                    stream.read_exact(&mut buf).await.unwrap();
                    stream.write_all(&buf).await.unwrap();
                })
            })
            .collect();
        for echo in echoes {
            echo.await.unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            arbor_runtime::spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
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
}

#[arbor::test]
async fn ipv6_loopback_connect_when_available() {
    // Skipped (passes) on hosts without IPv6.
    let Ok(listener) = TcpListener::bind("[::1]:0".parse().unwrap()) else {
        return;
    };
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).await.unwrap();
    let (_server, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
}

#[arbor::test]
async fn binding_a_port_in_use_is_addr_in_use() {
    let first = TcpListener::bind(any_port()).unwrap();
    let err = TcpListener::bind(first.local_addr().unwrap()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
}

#[arbor::test]
async fn a_reset_mid_stream_fails_the_parked_read() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    server.write_all(b"first").await.unwrap();
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).await.unwrap();
    // The client parks in a read; then the server aborts the connection:
    // SO_LINGER with a zero timeout makes close send RST, not FIN.
    let reader = arbor_runtime::spawn(async move {
        let mut buf = [0u8; 5];
        client.read(&mut buf).await
    });
    arbor_runtime::yield_now().await;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid `struct linger` of the size passed,
    // and the fd is open for the duration of the call.
    let ret = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&server),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(ret, 0);
    drop(server);
    let err = reader.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[arbor::test]
async fn poll_read_uninit_fills_the_front_and_a_short_read_waits_for_the_reactor() {
    use std::future::poll_fn;
    let listener = TcpListener::bind(any_port()).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    client.write_all(b"hello").await.unwrap();
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    let n = poll_fn(|cx| server.poll_read_uninit(cx, buf.spare_capacity_mut()))
        .await
        .unwrap();
    // SAFETY: `poll_read_uninit` initialized the first `n` elements.
    unsafe { buf.set_len(n) };
    assert_eq!(buf, b"hello");
    // The short read cleared readiness: the next poll parks, and the next
    // bytes wake it.
    let mut rest = Vec::with_capacity(64);
    let pending = futures_lite::future::poll_once(poll_fn(|cx| {
        server.poll_read_uninit(cx, rest.spare_capacity_mut())
    }))
    .await;
    assert!(pending.is_none());
    client.write_all(b" world").await.unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let n = poll_fn(|cx| server.poll_read_uninit(cx, rest.spare_capacity_mut()))
        .await
        .unwrap();
    // SAFETY: as above.
    unsafe { rest.set_len(n) };
    assert_eq!(rest, b" world");
    let mut more = Vec::<u8>::with_capacity(8);
    let eof = poll_fn(|cx| server.poll_read_uninit(cx, more.spare_capacity_mut()))
        .await
        .unwrap();
    assert_eq!(eof, 0);
}

/// `.ci/run` runs the net tests once per backend through `ARBOR_IO_BACKEND`:
/// this checks that the runtime really got the one named.
#[test]
fn the_runtime_runs_on_the_backend_the_environment_names() {
    use arbor::IoBackend;
    let rt = arbor::Runtime::new().unwrap();
    match std::env::var("ARBOR_IO_BACKEND").as_deref() {
        Ok("epoll") => assert_eq!(rt.io_backend(), IoBackend::Epoll),
        Ok("io_uring") => assert_eq!(rt.io_backend(), IoBackend::IoUring),
        _ => assert_ne!(rt.io_backend(), IoBackend::Auto),
    }
    let forced = arbor::Runtime::builder()
        .io_backend(IoBackend::Epoll)
        .build()
        .unwrap();
    assert_eq!(forced.io_backend(), IoBackend::Epoll);
}
