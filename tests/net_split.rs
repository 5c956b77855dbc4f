//! Stream halves, `&TcpStream` as a reader/writer, `incoming`, and
//! connecting by name.

use std::net::SocketAddr;

use arbor::net::{TcpListener, TcpStream, lookup_host};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(any_port()).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[arbor::test]
async fn borrowed_halves_read_and_write_concurrently() {
    let (client, server) = connected_pair().await;
    let (mut rd, mut wr) = server.split();
    // Echo 64 KiB in 1 KiB chunks while the client writes it all and
    // then reads it back: reading and writing must overlap or the
    // socket buffers would not matter; both halves are polled at once.
    let echo = async {
        let mut buf = [0u8; 1024];
        for _ in 0..64 {
            rd.read_exact(&mut buf).await.unwrap();
            wr.write_all(&buf).await.unwrap();
        }
    };
    let talk = async {
        let data: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let (mut crd, mut cwr) = client.split();
        let send = cwr.write_all(&data);
        let mut back = vec![0u8; data.len()];
        let recv = crd.read_exact(&mut back);
        let (a, b) = futures_lite::future::zip(send, recv).await;
        a.unwrap();
        b.unwrap();
        assert_eq!(back, data);
    };
    futures_lite::future::zip(echo, talk).await;
    assert_eq!(
        rd.stream().peer_addr().unwrap(),
        client.local_addr().unwrap()
    );
}

#[arbor::test]
async fn owned_halves_move_into_tasks_and_reunite() {
    let (client, server) = connected_pair().await;
    let (mut rd, mut wr) = server.into_split();
    let reader = arbor::spawn(async move {
        let mut buf = [0u8; 5];
        rd.read_exact(&mut buf).await.unwrap();
        (rd, buf)
    });
    let writer = arbor::spawn(async move {
        wr.write_all(b"world").await.unwrap();
        wr
    });
    client.write_all(b"hello").await.unwrap();
    let (rd, buf) = reader.await.unwrap();
    let wr = writer.await.unwrap();
    assert_eq!(&buf, b"hello");
    let mut back = [0u8; 5];
    client.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"world");

    let server = rd.reunite(wr).unwrap();
    // Reuniting did not shut anything down: the stream still works.
    server.write_all(b"again").await.unwrap();
    client.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"again");
}

#[arbor::test]
async fn reuniting_halves_of_different_streams_hands_both_back() {
    let (a, _a_peer) = connected_pair().await;
    let (b, _b_peer) = connected_pair().await;
    let (a_rd, _a_wr) = a.into_split();
    let (_b_rd, b_wr) = b.into_split();
    let err = a_rd.reunite(b_wr).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tried to reunite halves of two different streams"
    );
    // Both halves came back intact and still name their streams.
    assert_ne!(
        err.0.stream().local_addr().unwrap(),
        err.1.stream().local_addr().unwrap()
    );
}

#[arbor::test]
async fn dropping_the_owned_write_half_ends_the_peers_stream() {
    let (client, server) = connected_pair().await;
    let (mut rd, wr) = server.into_split();
    drop(wr);
    let mut buf = [0u8; 8];
    assert_eq!(client.read(&mut buf).await.unwrap(), 0, "peer sees EOF");
    // The read direction is still open.
    client.write_all(b"late").await.unwrap();
    rd.read_exact(&mut buf[..4]).await.unwrap();
    assert_eq!(&buf[..4], b"late");
}

#[arbor::test]
async fn a_shared_reference_is_a_reader_and_a_writer() {
    let (client, server) = connected_pair().await;
    let mut w = &client;
    w.write_all(b"via &TcpStream").await.unwrap();
    w.close().await.unwrap();
    let mut got = String::new();
    let mut r = &server;
    r.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "via &TcpStream");
}

#[arbor::test]
async fn incoming_yields_each_connection() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut peers: Vec<_> = listener
        .incoming()
        .take(5)
        .map(|s| s.unwrap().peer_addr().unwrap())
        .collect()
        .await;
    let mut expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    peers.sort();
    expected.sort();
    assert_eq!(peers, expected);
}

#[arbor::test]
async fn connect_by_string_and_by_host_name() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let port = listener.local_addr().unwrap().port();
    let by_str = TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    assert_eq!(by_str.peer_addr().unwrap().port(), port);
    // "localhost" goes through getaddrinfo on a worker thread. It may
    // resolve to ::1 first, where nothing listens: connect then tries
    // the next address, so it still succeeds.
    let by_name = TcpStream::connect(("localhost", port)).await.unwrap();
    assert!(by_name.peer_addr().unwrap().ip().is_loopback());
}

#[arbor::test]
async fn lookup_host_resolves_names_off_thread_and_rejects_junk() {
    // While the worker resolves, the runtime keeps running tasks.
    let ticker = arbor::spawn(async {
        for _ in 0..3 {
            arbor::yield_now().await;
        }
        "ticked"
    });
    let addrs = lookup_host("localhost:443").await.unwrap();
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 443)
    );
    assert_eq!(ticker.await.unwrap(), "ticked");

    let err = lookup_host("no port here").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = TcpStream::connect("256.1.1.1").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[arbor::test]
async fn a_dropped_lookup_is_abandoned_without_harm() {
    // Poll once so the worker starts (it may even have finished), then
    // drop the future: the worker's result is discarded.
    let _ = futures_lite::future::poll_once(Box::pin(lookup_host(("localhost", 80)))).await;
    // The runtime is fine and a second lookup works.
    assert!(!lookup_host(("localhost", 80)).await.unwrap().is_empty());
}

#[arbor::test]
async fn unix_streams_split_too() {
    let (a, b) = arbor::net::UnixStream::pair().unwrap();
    let (mut rd, mut wr) = a.into_split();
    let echo = arbor::spawn(async move {
        let mut buf = [0u8; 3];
        rd.read_exact(&mut buf).await.unwrap();
        wr.write_all(&buf).await.unwrap();
        // Dropping the write half ends b's stream.
    });
    let (mut brd, mut bwr) = b.split();
    bwr.write_all(b"abc").await.unwrap();
    let mut got = Vec::new();
    brd.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"abc");
    echo.await.unwrap();
}
