//! UDP behaviour over loopback.

use std::net::SocketAddr;

use arbor::net::UdpSocket;

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[arbor::test]
async fn udp_round_trip() {
    let a = UdpSocket::bind(any_port()).unwrap();
    let b = UdpSocket::bind(any_port()).unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let echo = arbor_runtime::spawn(async move {
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        b.send_to(&buf[..n], from).await.unwrap();
        // Then a connected exchange.
        b.connect(from).unwrap();
        let n = b.recv(&mut buf).await.unwrap();
        b.send(&buf[..n]).await.unwrap();
    });
    assert_eq!(a.send_to(b"ping", b_addr).await.unwrap(), 4);
    let mut buf = [0u8; 64];
    let (n, from) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], b_addr));
    a.connect(b_addr).unwrap();
    assert_eq!(a.send(b"pong!").await.unwrap(), 5);
    let n = a.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"pong!");
    echo.await.unwrap();
    assert_ne!(a_addr, b_addr);
}
