//! Stream I/O (feature `stream`): a program may own a `UnixStream::pair()`
//! (made when the program starts, inside the runtime). Its ops write
//! chunks to the first stream (`write` of 1..=64 KiB whose bytes name the
//! chunk and the position in it) and read from the second one, in tasks
//! that scopes, timeouts and aborts may cancel; a drain task of the
//! harness reads the second stream all along, so no write waits forever.
//!
//! The ledger keeps the count each `write` returned (only once it
//! returned, in the order they returned) and every byte any read got (in
//! the order the reads returned). At the end the harness flushes (or
//! not), shuts the write side down and lets the drain read to end of
//! stream; then the bytes read must be exactly the concatenation of
//! `chunk[..n]` for every write that returned `Ok(n)`, in that order:
//! nothing lost, nothing twice, no byte of a write that never returned
//! (the streams' cancel safety: a dropped `read` consumes no bytes, a
//! dropped `write` writes nothing).
//!
//! Two tasks waiting in the same direction of a stream at once is not
//! supported (the reactor keeps one waiter per direction), so the ops
//! take turns: a write or a flush holds the write turn over its call, a
//! read (the drain's too) the read turn. Every op waits under a timeout
//! (an hour if the program gives none), so a body frozen by a
//! cancellation while it holds a turn cannot hang the program.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor::move_on_after;
use arbor::net::UnixStream;
use arbor::primitives::Semaphore;

use super::super::program::StreamSpec;
use super::super::world::{Book, Kind, TaskRec, World};
use super::{Cx, Kept, bounded, ms};

/// The bound of a wait the program gives no timeout, in ms.
const AN_HOUR: u32 = 3_600_000;

/// The longest chunk a `write` sends.
pub const MAX_CHUNK: usize = 64 * 1024;

/// The program's stream pair and its ledger.
pub struct StreamWorld {
    book: Rc<Book>,
    spec: StreamSpec,
    /// (write side, read side), made when the program starts.
    pair: RefCell<Option<Rc<(UnixStream, UnixStream)>>>,
    write_turn: Semaphore,
    read_turn: Semaphore,
    /// The length of each chunk made (its id is its index).
    chunks: RefCell<Vec<usize>>,
    /// `(chunk, n)` of each `write` that returned `Ok(n)`, in return order.
    acked: RefCell<Vec<(usize, usize)>>,
    /// Every byte the reads got, in the order they returned (see `got`).
    got: RefCell<Vec<u8>>,
    /// The write side was shut down: end of stream is expected.
    shut: Cell<bool>,
    drain: RefCell<Option<arbor::JoinHandle<()>>>,
}

/// Chunk `id`'s first `len` bytes: byte `p` is byte `p % 8` of the
/// little-endian word `(id + 1) << 32 | p / 8`, so any 8 bytes read name
/// their chunk and place.
fn chunk(id: usize, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    let mut k = 0;
    while bytes.len() < len {
        bytes.extend_from_slice(&(((id as u64 + 1) << 32) | k).to_le_bytes());
        k += 1;
    }
    bytes.truncate(len);
    bytes
}

impl StreamWorld {
    pub fn new(book: &Rc<Book>, spec: StreamSpec) -> Rc<StreamWorld> {
        Rc::new(StreamWorld {
            book: book.clone(),
            spec,
            pair: RefCell::new(None),
            write_turn: Semaphore::new(1),
            read_turn: Semaphore::new(1),
            chunks: RefCell::new(Vec::new()),
            acked: RefCell::new(Vec::new()),
            got: RefCell::new(Vec::new()),
            shut: Cell::new(false),
            drain: RefCell::new(None),
        })
    }

    /// Drop the streams and the drain's handle.
    pub fn clear(&self) {
        self.pair.borrow_mut().take();
        self.drain.borrow_mut().take();
    }

    fn pair(&self) -> Option<Rc<(UnixStream, UnixStream)>> {
        self.pair.borrow().clone()
    }

    fn bad(&self, what: String) {
        self.book.violation(Kind::StreamBytes, what);
    }

    /// A read returned: record its bytes (`Ok(0)` is end of stream, fine
    /// only after the shutdown). Gives whether to read on.
    fn got(&self, who: &str, out: std::io::Result<usize>, buf: &[u8]) -> bool {
        match out {
            Ok(0) => {
                if !self.shut.get() {
                    self.bad(format!(
                        "{who}: end of stream before the write side was shut down"
                    ));
                }
                false
            }
            Ok(n) => {
                self.got.borrow_mut().extend_from_slice(&buf[..n]);
                true
            }
            Err(e) => {
                self.bad(format!("{who}: read failed: {e}"));
                false
            }
        }
    }

    /// Where the 16 bytes from `at` of what was read come from: a chunk
    /// and a position, if they match one.
    fn whence(&self, got: &[u8], at: usize) -> String {
        let acked = self.acked.borrow();
        for size in [16, 8] {
            let window = &got[at..(at + size).min(got.len())];
            for (id, &len) in self.chunks.borrow().iter().enumerate() {
                let c = chunk(id, len);
                if let Some(p) = c.windows(window.len()).position(|w| w == window) {
                    let fate = match acked.iter().find(|a| a.0 == id) {
                        Some(&(_, n)) => format!("its write returned Ok({n}) of {len}"),
                        None => format!("its write of {len} never returned"),
                    };
                    return format!("byte {p} of chunk {id} ({fate})");
                }
            }
        }
        let window = &got[at..(at + 16).min(got.len())];
        format!("{window:02x?}, from no chunk")
    }

    /// After the end of stream: the bytes read are the acknowledged
    /// prefixes, in order.
    fn check(&self) {
        let got = self.got.borrow();
        let acked = self.acked.borrow();
        let mut at = 0;
        for (k, &(id, n)) in acked.iter().enumerate() {
            let want = chunk(id, n);
            let end = (at + n).min(got.len());
            let differs = got[at..end] != want[..end - at];
            if let Some(d) = (at..end).find(|&i| differs && got[i] != want[i - at]) {
                self.bad(format!(
                    "stream byte {d}: expected byte {} of chunk {id} (write {k} of {}, which returned Ok({n})), got {}",
                    d - at,
                    acked.len(),
                    self.whence(&got, d)
                ));
                return;
            }
            if end < at + n {
                self.bad(format!(
                    "the reads got {} bytes, the writes that returned count {}: lost from byte {} of chunk {id} (write {k} of {}, which returned Ok({n})) on",
                    got.len(),
                    acked.iter().map(|a| a.1).sum::<usize>(),
                    end - at,
                    acked.len()
                ));
                return;
            }
            at += n;
        }
        if got.len() > at {
            self.bad(format!(
                "the reads got {} bytes, the writes that returned count {at}: byte {at} on is extra, {}",
                got.len(),
                self.whence(&got, at)
            ));
        }
    }
}

/// A stream op under [`Kept`], noting (for coverage) a drop right after
/// the yield at its schedule point.
struct Watched<F: Future> {
    kept: Kept<F>,
    done: bool,
    what: String,
    task: Rc<TaskRec>,
    s: Rc<StreamWorld>,
}

impl<F: Future> Watched<F> {
    fn new(cx: &Cx, s: &Rc<StreamWorld>, what: String, inner: F) -> Self {
        Watched {
            kept: Kept::new(inner),
            done: false,
            what,
            task: cx.task.clone(),
            s: s.clone(),
        }
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = (F::Output, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = Pin::new(&mut self.kept).poll(cx);
        self.done = out.is_ready();
        out
    }
}

impl<F: Future> Drop for Watched<F> {
    fn drop(&mut self) {
        // Dropped right after a yield at its schedule point. Since the
        // schedule point of a stream read or write comes before its
        // syscall (`Parked::checkpoint`), nothing was taken there: an
        // abort now is no loss, and the byte ledger proves it (a byte of
        // a write that never returned, or a byte a dropped read consumed,
        // fails the check at the end). Counted for coverage only.
        if self.done || !self.kept.yielded {
            return;
        }
        let s = &self.s;
        let (what, task) = (&self.what, self.task.id);
        let aborted = self.task.doomed(&s.book);
        s.book.count("stream ops dropped at their schedule point");
        s.book.log(|| {
            format!(
                "{what} (task {task}{}) was dropped at its schedule point, before its syscall",
                if aborted { ", aborted" } else { "" }
            )
        });
    }
}

/// When the program starts: make the pair and start the drain.
pub fn start(w: &World) {
    let Some(s) = w.stream.clone() else {
        return;
    };
    let (a, b) = UnixStream::pair().expect("UnixStream::pair");
    if let Some(size) = s.spec.sndbuf {
        // A small send buffer: writes fill it, return short counts and wait.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&a));
        let size: libc::c_int = size;
        // SAFETY: a valid socket, and a c_int option of its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(
            rc,
            0,
            "setsockopt(SO_SNDBUF): {}",
            std::io::Error::last_os_error()
        );
    }
    let pair = Rc::new((a, b));
    *s.pair.borrow_mut() = Some(pair.clone());
    let drain = arbor::spawn(async move {
        let mut buf = vec![0; MAX_CHUNK];
        // How long the drain waits for bytes, then pauses: a read of the
        // program gets its turn in the pause, or after each drain read.
        let mut idle = 1;
        loop {
            if s.spec.drain_pause > 0 {
                arbor::time::sleep(ms(s.spec.drain_pause)).await;
            }
            let turn = s.read_turn.acquire().await;
            let out = move_on_after(ms(idle), pair.1.read(&mut buf)).await;
            drop(turn);
            match out {
                Some(out) => {
                    if !s.got("the drain", out, &buf) {
                        return;
                    }
                    idle = 1;
                }
                None => {
                    s.book.count("stream drain reads timed out");
                    arbor::time::sleep(ms(idle)).await;
                    idle = (idle * 2).min(1024);
                }
            }
        }
    });
    *w.stream.as_ref().expect("a stream").drain.borrow_mut() = Some(drain);
}

/// When the program has ended: flush (maybe), shut the write side down,
/// let the drain read to the end, and check the bytes.
pub async fn finish(w: &World) {
    let Some(s) = &w.stream else {
        return;
    };
    let Some(pair) = s.pair() else {
        return;
    };
    if s.spec.final_flush
        && let Err(e) = pair.0.flush().await
    {
        s.bad(format!("the final flush failed: {e}"));
    }
    s.shut.set(true);
    if let Err(e) = pair.0.shutdown(Shutdown::Write) {
        s.bad(format!("shutdown(Write) failed: {e}"));
    }
    let drain = s.drain.borrow_mut().take();
    if let Some(drain) = drain
        && let Err(e) = drain.await
    {
        s.bad(format!("the drain task failed: {e}"));
    }
    s.book.count("stream pairs checked");
    *s.book
        .counts
        .borrow_mut()
        .entry("stream bytes read")
        .or_default() += s.got.borrow().len() as u64;
    s.check();
}

fn limit(timeout: Option<u32>) -> Option<u32> {
    Some(timeout.unwrap_or(AN_HOUR))
}

/// `write` a new chunk of `len` bytes, taking the write turn.
pub async fn write(cx: &Cx, len: usize, timeout: Option<u32>) {
    let Some(s) = cx.w.stream.clone() else {
        return;
    };
    let Some(pair) = s.pair() else {
        return;
    };
    let id = {
        let mut chunks = s.chunks.borrow_mut();
        chunks.push(len);
        chunks.len() - 1
    };
    let data = chunk(id, len);
    let op = async {
        let turn = s.write_turn.acquire().await;
        let what = format!("the write of chunk {id} ({len} bytes)");
        let out = Watched::new(cx, &s, what, pair.0.write(&data)).await;
        drop(turn);
        out
    };
    match bounded(limit(timeout), op).await {
        Some((Ok(n), kept)) => {
            cx.progressed_unless_kept("UnixStream::write", kept);
            // The drain reads all along and the peer stays open: no send
            // can have failed (on epoll this is always `None`).
            if let Some(e) = pair.0.write_error() {
                s.bad(format!("a send failed: {e}"));
            }
            s.acked.borrow_mut().push((id, n));
            s.book.count("stream writes returned");
            cx.log(|| format!("wrote {n} of chunk {id} ({len} bytes)"));
            if n == 0 || n > len {
                s.bad(format!(
                    "write of chunk {id} ({len} bytes) returned Ok({n})"
                ));
            }
        }
        Some((Err(e), _)) => s.bad(format!("write of chunk {id} ({len} bytes) failed: {e}")),
        None => {
            s.book.count("stream writes dropped");
            cx.log(|| format!("write of chunk {id} timed out"));
        }
    }
}

/// `count` reads of at most `max` bytes, taking the read turn for each.
pub async fn read(cx: &Cx, max: usize, count: u32, timeout: Option<u32>) {
    let Some(s) = cx.w.stream.clone() else {
        return;
    };
    let Some(pair) = s.pair() else {
        return;
    };
    let mut buf = vec![0; max];
    for _ in 0..count {
        let op = async {
            let turn = s.read_turn.acquire().await;
            let what = format!("a read of {max} bytes");
            let out = Watched::new(cx, &s, what, pair.1.read(&mut buf)).await;
            drop(turn);
            out
        };
        let Some((out, kept)) = bounded(limit(timeout), op).await else {
            s.book.count("stream reads dropped");
            cx.log(|| "read timed out".into());
            break;
        };
        cx.progressed_unless_kept("UnixStream::read", kept);
        if let Ok(n) = out {
            cx.log(|| format!("read {n} bytes"));
            s.book.count("stream reads returned");
        }
        if !s.got(&format!("a read (task {})", cx.task.id), out, &buf) {
            break;
        }
    }
}

/// `flush`, taking the write turn.
pub async fn flush(cx: &Cx, timeout: Option<u32>) {
    let Some(s) = cx.w.stream.clone() else {
        return;
    };
    let Some(pair) = s.pair() else {
        return;
    };
    let op = async {
        let turn = s.write_turn.acquire().await;
        let out = Kept::new(pair.0.flush()).await;
        drop(turn);
        out
    };
    match bounded(limit(timeout), op).await {
        // In a cancelled scope `flush` makes no progress on either backend.
        Some((Ok(()), kept)) => {
            cx.progressed_unless_kept("UnixStream::flush", kept);
            s.book.count("stream flushes returned");
        }
        Some((Err(e), _)) => s.bad(format!("flush failed: {e}")),
        None => s.book.count("stream flushes dropped"),
    }
}
