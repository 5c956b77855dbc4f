//! TLS over arbor's TCP with `futures-rustls` (rustls, the `ring`
//! provider): a server and a client in one nursery on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example tls
//! ```
//!
//! The certificate is made when the program starts (`rcgen`, self-signed
//! for `localhost`), and the client trusts exactly that certificate. The
//! server answers each line it reads with the line upper-cased; the client
//! sends a few lines, prints the answers, and closes, which ends the
//! server's connection (TLS `close_notify`, then the TCP write half).
//!
//! arbor's `TcpStream` implements `futures_io::AsyncRead`/`AsyncWrite`,
//! which is all `futures-rustls` asks of a transport: no adapter is needed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use arbor::net::{TcpListener, TcpStream};
use futures_lite::io::BufReader;
use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
use futures_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};

/// A self-signed certificate for `localhost` and its private key.
pub fn make_certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("rcgen makes a certificate");
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    (made.cert.der().clone(), key.into())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config that presents `cert`.
pub fn server_config(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> ServerConfig {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a valid certificate and key")
}

/// A client config that trusts `root` alone.
pub fn client_config(root: CertificateDer<'static>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(root).expect("a valid root certificate");
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Serve one TLS connection from `listener`: answer each line with the
/// line upper-cased until the client closes. Returns how many lines.
pub async fn serve_one(listener: &TcpListener, acceptor: TlsAcceptor) -> io::Result<usize> {
    let (tcp, _) = listener.accept().await?;
    let tls = acceptor.accept(tcp).await?;
    let (reader, mut writer) = futures_lite::io::split(tls);
    let mut lines = BufReader::new(reader).lines();
    let mut count = 0;
    while let Some(line) = futures_lite::StreamExt::next(&mut lines).await {
        let line = line?;
        writer
            .write_all(format!("{}\n", line.to_uppercase()).as_bytes())
            .await?;
        writer.flush().await?;
        count += 1;
    }
    writer.close().await?;
    Ok(count)
}

/// Connect to `addr` as `localhost`, send each of `lines`, and return the
/// server's answers in order.
pub async fn talk(
    addr: SocketAddr,
    connector: TlsConnector,
    lines: &[&str],
) -> io::Result<Vec<String>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a valid DNS name");
    let tls = connector.connect(name, tcp).await?;
    let (reader, mut writer) = futures_lite::io::split(tls);
    let mut reader = BufReader::new(reader);
    let mut answers = Vec::new();
    for line in lines {
        writer.write_all(format!("{line}\n").as_bytes()).await?;
        writer.flush().await?;
        let mut answer = String::new();
        reader.read_line(&mut answer).await?;
        answers.push(answer.trim_end().to_string());
    }
    // `close_notify`, then the TCP write half: the server's reader ends.
    writer.close().await?;
    Ok(answers)
}

/// A server and a client in one nursery: one handshake, `lines` there and
/// back. Returns the answers and how many lines the server handled.
pub async fn exchange(lines: &'static [&'static str]) -> io::Result<(Vec<String>, usize)> {
    let (cert, key) = make_certificate();
    let acceptor = TlsAcceptor::from(Arc::new(server_config(cert.clone(), key)));
    let connector = TlsConnector::from(Arc::new(client_config(cert)));
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    let addr = listener.local_addr()?;
    arbor::nursery(async |n| {
        let server = n.spawn(async move { serve_one(&listener, acceptor).await });
        let client = n.spawn(talk(addr, connector, lines));
        // A failed child (an `io::Error`) cancels the other one and is
        // the nursery's error.
        let answers = client.await?;
        let served = server.await?;
        Ok::<_, arbor::ChildError>((answers, served))
    })
    .await
    .map_err(|e| io::Error::other(e.to_string()))
}

fn main() {
    let lines = &["hello", "tls on arbor", "goodbye"];
    let (answers, served) = arbor::run(exchange(lines)).expect("the TLS exchange");
    for (line, answer) in lines.iter().zip(&answers) {
        println!("{line:>14} -> {answer}");
    }
    println!("server handled {served} lines over TLS on 127.0.0.1");
}
