//! The tour's TCP service: a line protocol on 127.0.0.1 that misbehaves on
//! purpose, so that the client's timeouts and retries have work to do.
//!
//! A request is `GET <id> <attempt>\n`; the reply is `OK <id> <value>\n`.
//! Faults depend only on the request, so a run's retries and timeouts are
//! the same every time:
//!
//! - a request whose id is 3 mod 7, on its first attempt, is answered
//!   after [`SLOW_REPLY`] (longer than the client's per-attempt timeout);
//! - a request whose id is 5 mod 11 (and not slow), on its first attempt,
//!   gets its connection closed without a reply;
//! - everything else is answered after a few milliseconds.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use arbor::{Nursery, time};

/// How long a slow reply takes.
pub const SLOW_REPLY: Duration = Duration::from_millis(400);

/// The fault the service injects into a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answered normally.
    None,
    /// Answered after [`SLOW_REPLY`].
    Slow,
    /// The connection is closed instead of answered.
    Drop,
}

/// The fault for request `id`'s `attempt` (1-based).
pub fn fault(id: u64, attempt: u32) -> Fault {
    if attempt > 1 {
        Fault::None
    } else if id % 7 == 3 {
        Fault::Slow
    } else if id % 11 == 5 {
        Fault::Drop
    } else {
        Fault::None
    }
}

/// The value the service answers for `id`; the workers check it.
pub fn value_of(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % 1_000_003
}

/// What the service did, shared with the caller while it runs.
#[derive(Debug, Default)]
pub struct ServiceStats {
    /// Connections accepted.
    pub connections: Cell<u64>,
    /// Requests answered.
    pub answered: Cell<u64>,
    /// Connections closed on purpose.
    pub dropped: Cell<u64>,
}

/// Accept connections forever, each one a child of `conns`. Ends only when
/// cancelled (the caller's scope), which closes the listener and, with the
/// nursery, every open connection.
pub async fn serve(listener: TcpListener, conns: Nursery, stats: Rc<ServiceStats>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                stats.connections.set(stats.connections.get() + 1);
                conns.spawn_named("connection", connection(stream, stats.clone()));
            }
            // EMFILE and friends: accept backs off by itself.
            Err(e) => eprintln!("tour: accept failed: {e}"),
        }
    }
}

async fn connection(stream: TcpStream, stats: Rc<ServiceStats>) {
    let _ = stream.set_nodelay(true);
    let mut lines = LineReader::default();
    loop {
        let line = match lines.next_line(&stream).await {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => return,
        };
        let Some((id, attempt)) = parse_request(&line) else {
            let _ = stream.write_all(b"ERR bad request\n").await;
            return;
        };
        match fault(id, attempt) {
            Fault::Drop => {
                stats.dropped.set(stats.dropped.get() + 1);
                return;
            }
            Fault::Slow => time::sleep(SLOW_REPLY).await,
            // A little latency that differs per request.
            Fault::None => time::sleep(Duration::from_micros(500 + id % 5 * 500)).await,
        }
        let reply = format!("OK {id} {}\n", value_of(id));
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        stats.answered.set(stats.answered.get() + 1);
    }
}

fn parse_request(line: &str) -> Option<(u64, u32)> {
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "GET" {
        return None;
    }
    let id = words.next()?.parse().ok()?;
    let attempt = words.next()?.parse().ok()?;
    words.next().is_none().then_some((id, attempt))
}

/// Lines from a stream, with what was read past the last line kept for the
/// next call.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
}

impl LineReader {
    /// The next line without its `\n`; `None` at a clean end of stream.
    ///
    /// Cancel safety: bytes read are kept in `self`, so a cancelled call
    /// loses nothing; but the tour discards a connection whose request was
    /// cancelled anyway, since its reply may still be on the way.
    pub async fn next_line(&mut self, stream: &TcpStream) -> std::io::Result<Option<String>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return String::from_utf8(line[..end].to_vec())
                    .map(Some)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
            }
            let mut chunk = [0u8; 512];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
