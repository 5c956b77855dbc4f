//! A small JSON service on hyper and arbor, with graceful shutdown.
//!
//! ```text
//! cargo run --release --example http                          # self-test, see below
//! cargo run --release --example http -- server 127.0.0.1:8080 # until Ctrl-C
//! curl -s localhost:8080/hello?name=arbor                     # {"greeting":"hello, arbor"}
//! ```
//!
//! Routes (every answer is JSON):
//! - `GET /` lists the routes;
//! - `GET /hello?name=NAME` greets;
//! - `POST /count` adds one to a counter kept in an `Rc<Cell<u64>>`
//!   (arbor runs the service on one thread: no `Arc`, no `Mutex`) and
//!   returns it; `GET /count` reads it;
//! - `POST /echo` answers `{"bytes":N}`, the length of the request body;
//! - anything else is a 404 `{"error":"not found"}`.
//!
//! `arbor_hyper::Server` runs every connection as a child of one nursery;
//! Ctrl-C stops accepting, lets the requests in flight finish, and closes
//! the connections (those still open after the grace period are cut).
//! With no arguments the example serves on 127.0.0.1, sends itself a few
//! requests, prints the answers and shuts down.

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use arbor_hyper::{ServeStats, Server};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::{Service, service_fn};
use hyper::{Method, Request, Response, StatusCode};

/// The service: the routes above, sharing one counter.
pub fn service(
    counter: Rc<Cell<u64>>,
) -> impl Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible> {
    service_fn(move |req| route(req, counter.clone()))
}

async fn route(
    req: Request<Incoming>,
    counter: Rc<Cell<u64>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => (
            StatusCode::OK,
            r#"{"routes":["GET /hello?name=NAME","GET /count","POST /count","POST /echo"]}"#
                .to_owned(),
        ),
        (&Method::GET, "/hello") => {
            let name = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("name=")))
                .unwrap_or("world");
            (
                StatusCode::OK,
                format!(
                    r#"{{"greeting":{}}}"#,
                    json_string(&format!("hello, {name}"))
                ),
            )
        }
        (&Method::GET, "/count") => (StatusCode::OK, format!(r#"{{"count":{}}}"#, counter.get())),
        (&Method::POST, "/count") => {
            counter.set(counter.get() + 1);
            (StatusCode::OK, format!(r#"{{"count":{}}}"#, counter.get()))
        }
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => (
                StatusCode::OK,
                format!(r#"{{"bytes":{}}}"#, body.to_bytes().len()),
            ),
            Err(_) => (
                StatusCode::BAD_REQUEST,
                r#"{"error":"unreadable body"}"#.to_owned(),
            ),
        },
        _ => (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// `s` as a JSON string literal (quotes, backslashes and control
/// characters escaped).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Serve the JSON service on `listener` until `shutdown` completes, then
/// shut down gracefully.
///
/// # Errors
/// A nursery error if a connection's task panicked.
///
/// # Cancel safety
/// As [`Server::serve`]: cancelling an enclosing scope shuts down
/// gracefully; dropping the future drops every connection.
pub async fn run_server(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + 'static,
) -> Result<ServeStats, arbor::NurseryError> {
    let mut server = Server::new().grace(Duration::from_secs(5));
    server.http1().header_read_timeout(Duration::from_secs(10));
    server
        .serve(listener, service(Rc::default()), shutdown)
        .await
}

/// One request over a fresh connection (`connection: close`); returns
/// the status line and the body.
///
/// # Errors
/// Connect or I/O errors, `InvalidData` for a malformed response.
///
/// # Cancel safety
/// Dropping the future closes the connection.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(String, String)> {
    let stream = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await? {
            0 => break,
            n => response.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8(response)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no header end"))?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = arbor::Runtime::new()?;
    match args.first().map(String::as_str) {
        None => rt.block_on(self_test()),
        Some("server") => {
            let addr = args.get(1).map_or("127.0.0.1:8080", String::as_str);
            rt.block_on(async {
                let listener = TcpListener::bind(addr.parse()?)?;
                println!(
                    "http: serving on http://{}; Ctrl-C stops",
                    listener.local_addr()?
                );
                let ctrl_c = arbor::signal::ctrl_c();
                let stats = run_server(listener, async move {
                    if ctrl_c.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
                .await?;
                println!("http: stopped: {stats:?}");
                Ok(())
            })
        }
        Some(other) => Err(format!("unknown mode {other:?}: use server").into()),
    }
}

async fn self_test() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    println!("http: serving on http://{addr}");
    let client = async move {
        for (method, path, body) in [
            ("GET", "/", ""),
            ("GET", "/hello?name=arbor", ""),
            ("POST", "/count", ""),
            ("POST", "/count", ""),
            ("GET", "/count", ""),
            ("POST", "/echo", r#"{"some":"json"}"#),
            ("GET", "/nowhere", ""),
        ] {
            match request(addr, method, path, body).await {
                Ok((status, body)) => println!("http: {method} {path} -> {status} {body}"),
                Err(e) => println!("http: {method} {path} failed: {e}"),
            }
        }
    };
    let stats = run_server(listener, client).await?;
    println!("http: stopped: {stats:?}");
    Ok(())
}
