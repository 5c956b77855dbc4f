//! Opening and dropping sockets leaks no file descriptors.
//!
//! Alone in its file (its own test process): other tests in parallel
//! threads would change the count of `/proc/self/fd`.

use std::net::SocketAddr;

use arbor::net::{TcpListener, TcpStream, UdpSocket};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn fd_count_is_unchanged_after_dropping_sockets() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let outside = open_fds();
    arbor_runtime::run(async move {
        let start = open_fds();
        for _ in 0..20 {
            let listener = TcpListener::bind(any).unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            server.read_exact(&mut b).await.unwrap();
            let refused = {
                let gone = TcpListener::bind(any).unwrap();
                let addr = gone.local_addr().unwrap();
                drop(gone);
                TcpStream::connect(addr).await
            };
            assert!(refused.is_err());
            let u1 = UdpSocket::bind(any).unwrap();
            let u2 = UdpSocket::bind(any).unwrap();
            u1.send_to(b"d", u2.local_addr().unwrap()).await.unwrap();
            u2.recv_from(&mut b).await.unwrap();
            let std_stream = std::net::TcpStream::connect(addr).unwrap();
            let wrapped = TcpStream::from_std(std_stream).unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            drop((listener, client, server, u1, u2, wrapped, accepted));
        }
        assert_eq!(open_fds(), start);
    });
    assert_eq!(open_fds(), outside);
}
