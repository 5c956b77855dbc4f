//! The reactor through `io::Async`: readiness on pipes and socket pairs.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use arbor::io::Async;
use arbor::{spawn, yield_now};

#[arbor::test]
async fn pipe_read_parks_until_the_writer_writes() {
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let reader = spawn(async move {
        let mut buf = vec![0u8; 64];
        let n = r.read_with(|mut r| r.read(&mut buf)).await.unwrap();
        buf.truncate(n);
        buf
    });
    for _ in 0..3 {
        yield_now().await;
    }
    assert!(!reader.is_finished(), "nothing written yet");
    w.write_all(b"ping").unwrap();
    assert_eq!(reader.await.unwrap(), b"ping");
}

#[arbor::test]
async fn large_transfer_over_a_socketpair_with_partial_reads_and_writes() {
    const LEN: usize = 4 << 20;
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let writer = spawn(async move {
        let mut off = 0;
        let mut writes = 0;
        while off < data.len() {
            off += a.write_with(|mut s| s.write(&data[off..])).await.unwrap();
            writes += 1;
        }
        writes
    });
    let reader = spawn(async move {
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 64 * 1024];
        while got.len() < LEN {
            let n = b.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            assert!(n > 0, "unexpected EOF");
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let writes = writer.await.unwrap();
    assert!(writes > 1, "the socket buffer forced partial writes");
    assert!(reader.await.unwrap() == expected);
}

#[arbor::test]
async fn peer_close_makes_a_parked_reader_see_eof() {
    let (a, b) = UnixStream::pair().unwrap();
    let a = Async::new(a).unwrap();
    let reader = spawn(async move {
        let mut buf = [0u8; 8];
        a.read_with(|mut s| s.read(&mut buf)).await
    });
    yield_now().await;
    drop(b);
    assert_eq!(reader.await.unwrap().unwrap(), 0);
}

#[test]
fn io_object_outliving_its_runtime_reports_an_error() {
    let rt = arbor::Runtime::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let a = rt.block_on(async { Async::new(a).unwrap() });
    drop(rt);
    let err = arbor::run(async { a.readable().await.unwrap_err() });
    assert!(err.to_string().contains("has been dropped"), "{err}");
}
