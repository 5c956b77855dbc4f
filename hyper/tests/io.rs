//! `ArborIo`'s flush: it commits the bytes without waiting for io_uring's
//! completions, and still reports a send that failed.

use std::future::poll_fn;
use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
use std::pin::Pin;
use std::task::Poll;

use arbor_hyper::ArborIo;
use arbor_runtime::net::{TcpListener, TcpStream};
use arbor_runtime::{IoBackend, Runtime};
use hyper::rt::Write;

/// One `poll_write` of `bytes` and one `poll_flush`, in the same poll (a
/// failed write is returned as it is).
async fn write_and_flush(io: &mut ArborIo<TcpStream>, bytes: &[u8]) -> Poll<std::io::Result<()>> {
    poll_fn(|cx| {
        match Pin::new(&mut *io).poll_write(cx, bytes) {
            Poll::Ready(Ok(n)) => assert_eq!(n, bytes.len()),
            Poll::Ready(Err(e)) => return Poll::Ready(Poll::Ready(Err(e))),
            Poll::Pending => panic!("the write was not taken at once"),
        }
        Poll::Ready(Pin::new(&mut *io).poll_flush(cx))
    })
    .await
}

#[test]
fn flush_commits_at_once_and_reports_a_failed_send() {
    let rt = Runtime::new().unwrap();
    let backend = rt.io_backend();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let mut io = ArborIo::new(client);
        assert!(
            matches!(
                write_and_flush(&mut io, b"never read").await,
                Poll::Ready(Ok(()))
            ),
            "flush does not wait for the send"
        );
        // The bytes go out with no more help from the adapter.
        io.get_ref().flush().await.unwrap();
        drop(peer); // unread bytes: the kernel resets the connection
        let failure = loop {
            if let Poll::Ready(Err(e)) = write_and_flush(&mut io, b"x").await {
                break e;
            }
            if let Err(e) = io.get_ref().flush().await {
                break e;
            }
        };
        assert!(
            matches!(failure.kind(), ConnectionReset | BrokenPipe),
            "{failure}"
        );
        if backend == IoBackend::IoUring {
            // The failure was learned from the send's completion: the
            // adapter's flush reports it without waiting.
            match poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_flush(cx))).await {
                Poll::Ready(Err(e)) => assert_eq!(e.kind(), failure.kind()),
                other => panic!("the failed send was not reported: {other:?}"),
            }
        }
    });
}
