//! What the io_uring backend's completion I/O must keep of the readiness
//! model: written bytes are delivered even when the stream or the runtime
//! goes away first, a write shutdown follows the bytes, and streams whose
//! readers stall do not starve the others of receive buffers. `.ci/run`
//! runs this file on both backends (`ARBOR_IO_BACKEND`); on epoll it pins
//! the behaviour the io_uring backend must match.

use std::io::Read;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await.unwrap() {
            0 => return all,
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[arbor::test]
async fn bytes_written_before_the_stream_drops_reach_the_peer() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let data = pattern(1024 * 1024);
    let sent = data.clone();
    let writer = arbor::spawn(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&sent).await.unwrap();
        // Dropped at once: on io_uring most of it is still in the
        // stream's send buffer.
    });
    let (server, _) = listener.accept().await.unwrap();
    let got = read_to_end(&server).await;
    writer.await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes arrive in order");
}

#[arbor::test]
async fn a_write_shutdown_comes_after_the_bytes() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let data = pattern(300 * 1024);
    client.write_all(&data).await.unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let got = read_to_end(&server).await;
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
    // The read side is still open: the server can answer.
    server.write_all(b"bye").await.unwrap();
    server.flush().await.unwrap();
    let mut buf = [0u8; 3];
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"bye");
}

#[test]
fn bytes_written_before_the_runtime_drops_reach_the_peer() {
    let listener = std::net::TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        stream.read_to_end(&mut all).unwrap();
        all
    });
    let data = pattern(64 * 1024);
    let sent = data.clone();
    arbor::run(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&sent).await.unwrap();
        // Returned at once: the runtime is dropped with the bytes queued.
    });
    assert!(reader.join().unwrap() == data);
}

// A real clock (`arbor::run`, not the test macro's virtual one): a
// starved stream spins through the reactor, which would keep virtual time
// from reaching the deadline.
#[test]
fn stalled_readers_do_not_starve_another_stream() {
    let done = arbor::run(arbor::fail_after(
        Duration::from_secs(60),
        stalled_readers(),
    ));
    assert!(done.is_ok(), "a stream waited for other streams' readers");
}

async fn stalled_readers() {
    // Enough stalled streams, each with more bytes queued than a stream
    // may hold in the ring's buffers, to use them all up on io_uring.
    const STALLED: usize = 160;
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..STALLED {
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(&pattern(64 * 1024)).await.unwrap();
        // One read arms the stream's receive; then nobody reads it.
        let mut one = [0u8; 1];
        server.read_exact(&mut one).await.unwrap();
        held.push((client, server));
    }
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    for round in 0..20u8 {
        client.write_all(&[round; 100]).await.unwrap();
        let mut buf = [0u8; 100];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, [round; 100]);
    }
    // The stalled streams lost nothing either.
    for (client, server) in held.iter().take(3) {
        client.shutdown(Shutdown::Write).unwrap();
        let rest = read_to_end(server).await;
        assert!(rest[..] == pattern(64 * 1024)[1..]);
    }
}

#[arbor::test]
async fn a_write_queued_in_the_tick_its_stream_drops_goes_to_that_stream() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    // Queued, and the stream dropped before the runtime submits anything:
    // the send must still name this socket, not whatever file gets its
    // number next.
    server.write_all(b"answer").await.unwrap();
    drop(server);
    let (c2, s2) = arbor::net::UnixStream::pair().unwrap();
    let mut back = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match client.read(&mut buf).await.unwrap() {
            0 => break,
            n => back.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(back, b"answer");
    drop(s2);
    assert_eq!(
        c2.read(&mut buf).await.unwrap(),
        0,
        "the new socket got nothing"
    );
}

/// Writes until one fails, waiting for each with `flush`: the error a
/// reset peer makes our sends fail with.
async fn first_failure(stream: &TcpStream) -> std::io::Error {
    for _ in 0..10_000 {
        match stream.write(b"x").await {
            Err(e) => return e,
            Ok(_) => {
                if let Err(e) = stream.flush().await {
                    return e;
                }
            }
        }
    }
    panic!("no write failed after the peer reset the connection");
}

#[test]
fn a_failed_send_is_reported_by_write_error_and_every_later_write() {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
    let rt = arbor::Runtime::new().unwrap();
    let backend = rt.io_backend();
    rt.block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"never read").await.unwrap();
        client.flush().await.unwrap();
        assert!(client.write_error().is_none(), "nothing failed yet");
        // Closed with unread bytes: the kernel resets the connection.
        drop(server);
        let failure = first_failure(&client).await;
        assert!(
            matches!(failure.kind(), ConnectionReset | BrokenPipe),
            "{failure}"
        );
        match backend {
            // A write copies its bytes and returns; its send's failure
            // sticks to the stream.
            arbor::IoBackend::IoUring => {
                let known = client.write_error().expect("the failed send is known");
                assert_eq!(known.kind(), failure.kind());
                let next = client.write(b"more").await.unwrap_err();
                assert_eq!(next.kind(), failure.kind());
                assert_eq!(client.flush().await.unwrap_err().kind(), failure.kind());
            }
            // Each write reports its own `send`'s error.
            _ => {
                assert!(client.write_error().is_none());
                assert!(client.write(b"more").await.is_err());
            }
        }
    });
}

#[arbor::test]
async fn flush_makes_no_progress_in_a_cancelled_scope_on_either_backend() {
    let (a, b) = arbor::net::UnixStream::pair().unwrap();
    a.write_all(b"queued").await.unwrap();
    // Level-triggered cancellation: a stream operation inside an already
    // cancelled scope stays pending, and the scope's owner drops it.
    assert!(
        arbor::move_on_after(Duration::ZERO, a.flush())
            .await
            .is_none()
    );
    // The bytes were written all the same, and a flush outside it works.
    a.flush().await.unwrap();
    let mut buf = [0u8; 6];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"queued");
}
