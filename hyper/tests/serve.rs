//! End-to-end: hyper served by `arbor_hyper` over 127.0.0.1 and Unix
//! sockets, hyper's own timeouts on arbor's clock, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use arbor_hyper::Server;
use arbor_runtime::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use arbor_runtime::{Runtime, time};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};

/// A runtime whose clock is virtual and jumps once every task has been
/// blocked 10 ms (real) with nothing arriving: hyper's 30 s timeouts pass
/// at once, and loopback bytes in flight are never skipped over.
fn virtual_rt() -> Runtime {
    Runtime::builder()
        .autojump(Duration::from_millis(10))
        .build()
        .unwrap()
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `/hello` → 200 "hello", `/slow` → 200 "slow" after 2 s, `/stuck`
/// never answers, anything else 404.
async fn routes(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/hello" => (StatusCode::OK, "hello"),
        "/slow" => {
            time::sleep(Duration::from_secs(2)).await;
            (StatusCode::OK, "slow")
        }
        "/stuck" => std::future::pending().await,
        _ => (StatusCode::NOT_FOUND, "no such page"),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    Ok(response)
}

/// Read until end of stream (or a reset, which also ends it).
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Read one response with a `content-length` (headers and body).
async fn read_response(stream: &TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if out.len() >= end + 4 + len {
                return text;
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed mid-response: {text:?}");
        out.extend_from_slice(&buf[..n]);
    }
}

fn status_and_body(response: &str) -> (&str, &str) {
    let status = response.lines().next().unwrap();
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    (status, body)
}

#[test]
fn keep_alive_requests_are_answered_with_exact_bodies() {
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let first = read_response(&stream).await;
            stream
                .write_all(b"GET /missing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let second = String::from_utf8(read_to_end(&stream).await).unwrap();
            (first, second)
        });
        let stats = Server::new()
            .serve(listener, service_fn(routes), async move {
                let (first, second) = client.await.unwrap();
                assert_eq!(status_and_body(&first), ("HTTP/1.1 200 OK", "hello"));
                assert_eq!(
                    status_and_body(&second),
                    ("HTTP/1.1 404 Not Found", "no such page")
                );
            })
            .await
            .unwrap();
        assert_eq!(stats.accepted, 1);
        assert_eq!(stats.finished, 1);
    });
}

#[test]
fn header_read_timeout_cuts_a_client_that_stalls_mid_header() {
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = Server::new();
        server.http1().header_read_timeout(Duration::from_secs(5));
        let client = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            // Half a header, then nothing: only the server's timeout can
            // end this connection.
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nho")
                .await
                .unwrap();
            read_to_end(&stream).await
        });
        let stats = server
            .serve(listener, service_fn(routes), async move {
                let response = client.await.unwrap();
                // Closed without an answer to the request: no 200.
                assert!(!response.starts_with(b"HTTP/1.1 200"), "{response:?}");
            })
            .await
            .unwrap();
        assert_eq!(stats.accepted, 1);
        assert_eq!(stats.failed, 1, "{stats:?}");
        assert_eq!(stats.cut_at_deadline, 0);
    });
}

#[test]
fn an_idle_keep_alive_connection_is_closed_by_the_header_read_timeout() {
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = Server::new();
        server.http1().header_read_timeout(Duration::from_secs(5));
        let client = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let response = read_response(&stream).await;
            // Idle after one answered request: the server closes it.
            let rest = read_to_end(&stream).await;
            (response, rest)
        });
        let stats = server
            .serve(listener, service_fn(routes), async move {
                let (response, rest) = client.await.unwrap();
                assert_eq!(status_and_body(&response), ("HTTP/1.1 200 OK", "hello"));
                assert!(!rest.starts_with(b"HTTP/1.1 200"), "{rest:?}");
            })
            .await
            .unwrap();
        assert_eq!(stats.accepted, 1);
        assert_eq!(stats.cut_at_deadline, 0);
        assert_eq!(stats.finished + stats.failed, 1);
    });
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight_and_cuts_a_stuck_one() {
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(read_to_end(&stream).await).unwrap()
        });
        let stuck = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /stuck HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            read_to_end(&stream).await
        });
        let idle = TcpStream::connect(addr).await.unwrap();
        let stats = Server::new()
            .grace(Duration::from_secs(10))
            .serve(listener, service_fn(routes), async move {
                // Shut down while /slow is in flight (it takes 2 s).
                time::sleep(Duration::from_secs(1)).await;
            })
            .await
            .unwrap();
        // /slow was answered, then closed (graceful shutdown of a
        // keep-alive connection).
        let slow = slow.await.unwrap();
        assert_eq!(status_and_body(&slow), ("HTTP/1.1 200 OK", "slow"));
        // /stuck got no answer: cut at the grace deadline.
        assert_eq!(stuck.await.unwrap(), b"");
        // The idle connection was closed at once.
        assert_eq!(read_to_end(&idle).await, b"");
        // New connections are refused.
        assert!(TcpStream::connect(addr).await.is_err());
        assert_eq!(
            (stats.accepted, stats.finished, stats.cut_at_deadline),
            (3, 2, 1),
            "{stats:?}"
        );
    });
}

#[test]
fn cancelling_the_enclosing_scope_is_a_graceful_shutdown() {
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(read_to_end(&stream).await).unwrap()
        });
        let served = arbor_nursery::move_on_after(
            Duration::from_secs(1),
            arbor_hyper::serve(listener, service_fn(routes)),
        )
        .await;
        let stats = served
            .expect("serve returned after the graceful shutdown")
            .unwrap();
        assert_eq!(stats.finished, 1);
        let slow = slow.await.unwrap();
        assert_eq!(status_and_body(&slow), ("HTTP/1.1 200 OK", "slow"));
    });
}

#[test]
fn unix_sockets_are_served() {
    let path = std::env::temp_dir().join(format!("arbor-hyper-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    virtual_rt().block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let client_path = path.clone();
        let client = arbor_runtime::spawn(async move {
            let stream = UnixStream::connect(&client_path).await.unwrap();
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                out.extend_from_slice(&buf[..n]);
            }
            String::from_utf8(out).unwrap()
        });
        Server::new()
            .serve(listener, service_fn(routes), async move {
                let response = client.await.unwrap();
                assert_eq!(status_and_body(&response), ("HTTP/1.1 200 OK", "hello"));
            })
            .await
            .unwrap();
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_hyper_client_over_arbor_io() {
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = arbor_runtime::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(arbor_hyper::ArborIo::new(stream))
                    .await
                    .unwrap();
            let driver = arbor_runtime::spawn(conn);
            let mut bodies = Vec::new();
            for path in ["/hello", "/nope", "/hello"] {
                let req = Request::get(path)
                    .header("host", "x")
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap();
                let response = sender.send_request(req).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                bodies.push((status, body));
            }
            drop(sender);
            driver.await.unwrap().unwrap();
            bodies
        });
        Server::new()
            .serve(listener, service_fn(routes), async move {
                let bodies = client.await.unwrap();
                assert_eq!(
                    bodies,
                    [
                        (StatusCode::OK, Bytes::from_static(b"hello")),
                        (StatusCode::NOT_FOUND, Bytes::from_static(b"no such page")),
                        (StatusCode::OK, Bytes::from_static(b"hello")),
                    ]
                );
            })
            .await
            .unwrap();
    });
}

#[cfg(feature = "http2")]
#[test]
fn http2_with_prior_knowledge() {
    use arbor_hyper::{ArborExecutor, ArborTimer, Protocol};
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = arbor_runtime::spawn(async move {
            arbor_nursery::nursery(async |n| {
                let stream = TcpStream::connect(addr).await.unwrap();
                let (sender, conn) =
                    hyper::client::conn::http2::Builder::new(ArborExecutor::new(&n))
                        .timer(ArborTimer)
                        .handshake(arbor_hyper::ArborIo::new(stream))
                        .await
                        .unwrap();
                // The connection's driver: a child, ended when the senders are gone.
                drop(n.spawn(conn));
                // Two requests at once on one connection.
                let get = |path: &'static str| {
                    let mut sender = sender.clone();
                    async move {
                        let req = Request::get(path)
                            .body(http_body_util::Empty::<Bytes>::new())
                            .unwrap();
                        let response = sender.send_request(req).await.unwrap();
                        let status = response.status();
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        (status, body)
                    }
                };
                let both = futures_lite::future::zip(get("/slow"), get("/hello")).await;
                drop(sender);
                both
            })
            .await
            .unwrap()
        });
        Server::new()
            .protocol(Protocol::Http2)
            .serve(listener, service_fn(routes), async move {
                let (slow, hello) = client.await.unwrap();
                assert_eq!(slow, (StatusCode::OK, Bytes::from_static(b"slow")));
                assert_eq!(hello, (StatusCode::OK, Bytes::from_static(b"hello")));
            })
            .await
            .unwrap();
    });
}

#[cfg(feature = "http2")]
#[test]
fn auto_speaks_http1_and_http2_and_drops_a_silent_client() {
    use arbor_hyper::{ArborExecutor, ArborTimer, Protocol};
    virtual_rt().block_on(async {
        let listener = TcpListener::bind(any_port()).unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = arbor_runtime::spawn(async move {
            // Connects and says nothing: disconnected after the timeout.
            let silent = TcpStream::connect(addr).await.unwrap();
            // HTTP/1.1.
            let stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let h1 = String::from_utf8(read_to_end(&stream).await).unwrap();
            // HTTP/2 with prior knowledge.
            let h2 = arbor_nursery::nursery(async |n| {
                let stream = TcpStream::connect(addr).await.unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http2::Builder::new(ArborExecutor::new(&n))
                        .timer(ArborTimer)
                        .handshake(arbor_hyper::ArborIo::new(stream))
                        .await
                        .unwrap();
                drop(n.spawn(conn));
                let req = Request::get("/hello")
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap();
                let response = sender.send_request(req).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, body)
            })
            .await
            .unwrap();
            let silent = read_to_end(&silent).await;
            (h1, h2, silent)
        });
        let stats = Server::new()
            .protocol(Protocol::Auto)
            .first_bytes_timeout(Duration::from_secs(5))
            .serve(listener, service_fn(routes), async move {
                let (h1, h2, silent) = clients.await.unwrap();
                assert_eq!(status_and_body(&h1), ("HTTP/1.1 200 OK", "hello"));
                assert_eq!(h2, (StatusCode::OK, Bytes::from_static(b"hello")));
                assert_eq!(silent, b"");
            })
            .await
            .unwrap();
        assert_eq!(stats.accepted, 3);
        assert_eq!(stats.finished + stats.failed, 3, "{stats:?}");
    });
}
