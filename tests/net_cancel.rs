//! Cancellation of pending socket operations (virtual clock; real I/O).
//!
//! One test function, so that counting `/proc/self/fd` is not disturbed by
//! other tests running in parallel threads.

use std::net::SocketAddr;
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use arbor_nursery::move_on_after;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn cancelled_accept_read_and_connect_leak_nothing() {
    let rt = arbor_runtime::Runtime::builder()
        .virtual_clock()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = open_fds();
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();

        // A pending accept times out and loses nothing.
        assert!(
            move_on_after(Duration::from_secs(1), listener.accept())
                .await
                .is_none()
        );
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());

        // A pending read times out and consumes nothing.
        let mut buf = [0u8; 8];
        assert!(
            move_on_after(Duration::from_secs(1), server.read(&mut buf))
                .await
                .is_none()
        );
        client.write_all(b"intact").await.unwrap();
        server.read_exact(&mut buf[..6]).await.unwrap();
        assert_eq!(&buf[..6], b"intact");

        // A connect future dropped after one poll closes its socket.
        for _ in 0..10 {
            // On loopback the first poll is typically still waiting for
            // writability (EINPROGRESS); either way nothing may leak.
            let _ = futures_lite::future::poll_once(TcpStream::connect(addr)).await;
        }
        // Drain whatever the kernel completed, then drop it all.
        while let Some(Ok((s, _))) =
            move_on_after(Duration::from_millis(10), listener.accept()).await
        {
            drop(s);
        }
        drop((client, server, listener));
        assert_eq!(open_fds(), start);
    });
}
