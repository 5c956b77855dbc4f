//! TLS over arbor's TCP on 127.0.0.1: `examples/tls.rs` (included by
//! path) with `futures-rustls` (rustls, `ring` provider) and a certificate
//! made here by `rcgen`.

#[allow(dead_code)] // `main` is the example's own.
#[path = "../examples/tls.rs"]
mod tls;

use std::sync::Arc;

use arbor::net::TcpListener;
use futures_rustls::{TlsAcceptor, TlsConnector};

/// The example's exchange: a server child and a client child in one
/// nursery, a handshake, three lines there and back.
#[test]
fn handshake_and_lines_in_one_nursery() {
    let (answers, served) =
        arbor::run(tls::exchange(&["hello", "tls on arbor", "goodbye"])).unwrap();
    assert_eq!(answers, ["HELLO", "TLS ON ARBOR", "GOODBYE"]);
    assert_eq!(served, 3);
}

/// A line far larger than a TLS record (16 KiB) and than the socket
/// buffers: many records each way, with partial writes and reads.
#[test]
fn a_large_line_crosses_many_records() {
    let (cert, key) = tls::make_certificate();
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(cert.clone(), key)));
    let connector = TlsConnector::from(Arc::new(tls::client_config(cert)));
    let long: String = (0..1_000_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let answers = arbor::run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        arbor::nursery(async |n| {
            let server = n.spawn(async move { tls::serve_one(&listener, acceptor).await });
            let answers = tls::talk(addr, connector, &[&long]).await.unwrap();
            assert_eq!(server.await.unwrap(), 1);
            answers
        })
        .await
        .unwrap()
    });
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0], long.to_uppercase());
}

/// The certificate is really checked: a client that trusts another
/// certificate fails the handshake, and so does the server's accept.
#[test]
fn an_untrusted_certificate_fails_the_handshake() {
    let (cert, key) = tls::make_certificate();
    let (other, _) = tls::make_certificate();
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(cert, key)));
    let connector = TlsConnector::from(Arc::new(tls::client_config(other)));
    let (server, client) = arbor::run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        futures_lite::future::zip(
            tls::serve_one(&listener, acceptor),
            tls::talk(addr, connector, &["never sent"]),
        )
        .await
    });
    let client = client.unwrap_err().to_string();
    assert!(
        client.contains("UnknownIssuer") || client.contains("invalid peer certificate"),
        "client: {client}"
    );
    assert!(server.is_err(), "the server's handshake fails too");
}
