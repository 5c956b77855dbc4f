//! The `tokio-io` feature: tokio's `AsyncRead`/`AsyncWrite` on arbor's
//! streams, driven by arbor alone (no tokio runtime anywhere), with
//! `tokio-util`'s codecs on top.
#![cfg(feature = "tokio-io")]

use std::net::SocketAddr;

use arbor_runtime::net::{TcpListener, TcpStream, UnixStream};
use futures_lite::StreamExt;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Framed, FramedRead, FramedWrite, LinesCodec};

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Both directions of the traits exist for every stream type and half.
#[test]
fn every_stream_and_half_has_the_traits() {
    fn read<T: AsyncRead>() {}
    fn write<T: AsyncWrite>() {}
    read::<TcpStream>();
    write::<TcpStream>();
    read::<&TcpStream>();
    write::<&TcpStream>();
    read::<UnixStream>();
    write::<UnixStream>();
    read::<&UnixStream>();
    write::<&UnixStream>();
    read::<arbor_runtime::net::ReadHalf<'_, TcpStream>>();
    write::<arbor_runtime::net::WriteHalf<'_, TcpStream>>();
    read::<arbor_runtime::net::OwnedReadHalf<UnixStream>>();
    write::<arbor_runtime::net::OwnedWriteHalf<UnixStream>>();
}

/// A line protocol with `Framed` + `LinesCodec` over an arbor TCP pair: the
/// server task answers each line, the client checks the answers.
#[test]
fn framed_lines_over_tcp() {
    arbor_runtime::run(async {
        let (client, server) = tcp_pair().await;
        let server = arbor_runtime::spawn(async move {
            let mut lines = Framed::new(server, LinesCodec::new());
            let mut seen = 0;
            while let Some(line) = lines.next().await {
                let line = line.unwrap();
                lines.send(format!("echo: {line}")).await.unwrap();
                seen += 1;
            }
            seen
        });
        let mut lines = Framed::new(client, LinesCodec::new());
        for word in ["one", "two", "three"] {
            lines.send(word).await.unwrap();
            let answer = lines.next().await.unwrap().unwrap();
            assert_eq!(answer, format!("echo: {word}"));
        }
        // `close` reaches `poll_shutdown`: the server reads end of stream.
        SinkExt::<&str>::close(&mut lines).await.unwrap();
        assert_eq!(server.await.unwrap(), 3);
    });
}

/// `FramedRead`/`FramedWrite` over owned halves in two tasks.
#[test]
fn framed_over_owned_halves() {
    arbor_runtime::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (_a_rd, a_wr) = a.into_split();
        let (b_rd, _b_wr) = b.into_split();
        let writer = arbor_runtime::spawn(async move {
            let mut out = FramedWrite::new(a_wr, LinesCodec::new());
            for i in 0..100 {
                out.send(i.to_string()).await.unwrap();
            }
            // Dropping the owned write half shuts the direction down.
        });
        let mut input = FramedRead::new(b_rd, LinesCodec::new());
        let mut got = Vec::new();
        while let Some(line) = input.next().await {
            got.push(line.unwrap().parse::<u32>().unwrap());
        }
        writer.await.unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    });
}

/// `AsyncReadExt::read_buf` into a large `Vec`'s spare capacity (never
/// initialized) and `read_to_end`: every byte arrives intact, and the
/// `Vec`'s length counts only what was read.
#[test]
fn read_into_a_large_uninitialized_buffer() {
    arbor_runtime::run(async {
        let (mut client, mut server) = tcp_pair().await;
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = arbor_runtime::spawn(async move {
            server.write_all(&sent).await.unwrap();
            AsyncWriteExt::shutdown(&mut server).await.unwrap(); // end of stream
        });

        // One read into 4 MiB of spare capacity: some bytes, all correct.
        let mut buf = Vec::with_capacity(4 << 20);
        let n = client.read_buf(&mut buf).await.unwrap();
        assert!(n > 0);
        assert_eq!(buf.len(), n);
        assert_eq!(buf[..], data[..n]);

        // The rest with `read_to_end`, which reads into spare capacity too.
        client.read_to_end(&mut buf).await.unwrap();
        writer.await.unwrap();
        assert_eq!(buf.len(), data.len());
        assert!(buf == data);
    });
}

/// `read` into a plain slice, vectored writes, and `&UnixStream` as a
/// reader and a writer at once.
#[test]
fn read_write_and_vectored_on_shared_references() {
    arbor_runtime::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let bufs = [
            std::io::IoSlice::new(b"hello, "),
            std::io::IoSlice::new(b"tokio "),
            std::io::IoSlice::new(b"traits"),
        ];
        assert!(AsyncWrite::is_write_vectored(&&a));
        // One `sendmsg`: a socketpair takes 19 bytes at once.
        assert_eq!((&a).write_vectored(&bufs).await.unwrap(), 19);
        AsyncWriteExt::shutdown(&mut &a).await.unwrap();
        let mut text = String::new();
        (&b).read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hello, tokio traits");

        let mut small = [0u8; 4];
        assert_eq!(AsyncReadExt::read(&mut &b, &mut small).await.unwrap(), 0);
    });
}
