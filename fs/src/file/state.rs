//! A [`File`](super::File)'s buffers and its one operation in flight.
//!
//! # Who owns what
//!
//! - `rbuf`: read-ahead, `buf[pos..end]` not yet handed to the user. The
//!   OS cursor is `rbuf.unread()` bytes ahead of the user's position.
//! - `wbuf`: bytes writes have accepted and no hop has taken yet. The OS
//!   cursor is that many bytes behind the user's position.
//! - `op`: the hop in flight, if any. It owns the bytes it writes and the
//!   buffer it reads into; the File owns it (not the future that started
//!   it), so dropping that future loses nothing. Every operation first
//!   settles it ([`State::poll_op`]) and applies its report
//!   ([`State::apply`]), except a write, which may fill `wbuf` meanwhile
//!   (double buffering).
//! - `write_err`: the error of a write nobody waits for (a write returns
//!   once its bytes are copied), or of an operation whose future was
//!   dropped; the next write, flush, sync or `set_len` reports it.
//!
//! A plan ([`plan::Plan`]) rewinds the read-ahead only when it has to (it
//! writes, seeks, truncates, or hands the file back); until then reads are
//! served from `rbuf`, except when `wbuf` holds bytes: they go first, so
//! the read-ahead behind them is stale. While a plan rewinds, the
//! read-ahead waits in the op (`InFlight::stash`): it is the next data
//! again if the file turns out to have no cursor or the rewind fails.
//!
//! ```text
//!            start(action)                     poll_op: apply(done)
//!   no op ─────────────────▶ op in flight ──────────────────────────▶ no op
//!   (rbuf, wbuf filled       (wbuf may fill,    (rbuf: the read bytes or the
//!    by reads and writes)     nothing else)      stash; wbuf's buffer back as
//!                                                `spare`; errors to `write_err`)
//! ```

use std::fs::File as StdFile;
use std::io::{self, SeekFrom};
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::plan::{Action, Done, Plan, Ran, Rewound};
use crate::hop::{Hop, cancelled};

/// The most a hop reads ahead, and the most `wbuf` holds before a write
/// hop (tokio's `File` uses the same 2 MiB).
pub(crate) const MAX_BUF: usize = 2 * 1024 * 1024;

/// The first read-ahead; each read that fills it doubles it, up to
/// [`MAX_BUF`], and a seek starts over.
pub(crate) const FIRST_READ: usize = 64 * 1024;

/// Read-ahead: `buf[pos..end]` is unread.
#[derive(Default)]
struct ReadBuf {
    /// `buf.len()` is how much of it is initialized (zeroed once, on the
    /// worker, then reused), not how much is filled.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl ReadBuf {
    fn unread(&self) -> usize {
        self.end - self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos == self.end
    }

    fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.unread());
        dst[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    /// Append everything unread to `dst`: handing over the allocation if
    /// `dst` is empty, else copying.
    fn drain_into(&mut self, dst: &mut Vec<u8>) {
        if self.is_empty() {
            return;
        }
        if dst.is_empty() && self.pos == 0 {
            self.buf.truncate(self.end);
            mem::swap(dst, &mut self.buf);
            self.buf.clear();
        } else {
            dst.extend_from_slice(&self.buf[self.pos..self.end]);
        }
        self.pos = 0;
        self.end = 0;
    }

    fn append(&mut self, data: &[u8]) {
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(data);
        self.end = self.buf.len();
    }

    /// The allocation, for the next read into it (nothing is unread).
    fn take_vec(&mut self) -> Vec<u8> {
        debug_assert!(self.is_empty());
        self.pos = 0;
        self.end = 0;
        let buf = mem::take(&mut self.buf);
        // A `read_to_end` may have left a big one: not kept for reads.
        if buf.capacity() > MAX_BUF {
            Vec::new()
        } else {
            buf
        }
    }
}

/// The hop in flight and what the File set aside for it.
struct InFlight {
    hop: Hop<Done>,
    /// Read-ahead the plan rewinds over: void if the rewind succeeds, the
    /// next data again if not.
    stash: Option<ReadBuf>,
    /// The length a `Read` action asked for (0 for other actions).
    read_len: usize,
}

/// What an operation did, as the one who waits for it sees it.
pub(super) enum Outcome {
    /// It did not run, and nothing failed: a read on a file without a
    /// cursor, whose read-ahead is the next data.
    Skipped,
    /// An earlier step (the rewind or the write) failed with this error,
    /// and the action did not run.
    Failed(io::Error),
    /// A read: `filled` bytes are in the read-ahead now.
    Read {
        filled: usize,
        result: io::Result<()>,
    },
    Seek(io::Result<u64>),
    Unit(io::Result<()>),
}

pub(super) struct State {
    pub(super) std: Arc<StdFile>,
    op: Option<InFlight>,
    rbuf: ReadBuf,
    wbuf: Vec<u8>,
    /// A write buffer a finished hop gave back, for the next one.
    spare: Vec<u8>,
    write_err: Option<io::Error>,
    /// The next read-ahead's length.
    read_len: usize,
    /// False once a rewind found the file has no cursor.
    seekable: bool,
    /// The target of the seek `poll_seek` started, while it is in flight
    /// (any other operation clears it): see `File`'s `AsyncSeek` docs.
    trait_seek: Option<SeekFrom>,
}

impl State {
    pub(super) fn new(std: StdFile) -> Self {
        State {
            std: Arc::new(std),
            op: None,
            rbuf: ReadBuf::default(),
            wbuf: Vec::new(),
            spare: Vec::new(),
            write_err: None,
            read_len: FIRST_READ,
            seekable: true,
            trait_seek: None,
        }
    }

    /// Bytes accepted by writes and not yet handed to a worker.
    pub(super) fn buffered_writes(&self) -> usize {
        self.wbuf.len()
    }

    /// Whether a hop is in flight.
    pub(super) fn in_flight(&self) -> bool {
        self.op.is_some()
    }

    /// Whether reads may be served from the read-ahead: not while bytes
    /// written after it wait to go first (they make it stale), unless the
    /// file has no cursor.
    fn read_ahead_valid(&self) -> bool {
        !self.rbuf.is_empty() && (self.wbuf.is_empty() || !self.seekable)
    }

    /// Start a hop that runs `action` after the rewind and the write.
    fn start(&mut self, action: Action) {
        debug_assert!(self.op.is_none(), "one hop at a time");
        let unread = self.rbuf.unread();
        let rewind =
            if unread > 0 && self.seekable && (!self.wbuf.is_empty() || action.needs_position()) {
                unread
            } else {
                0
            };
        let stash = (rewind > 0).then(|| mem::take(&mut self.rbuf));
        let read_len = match &action {
            Action::Read { len, .. } => *len,
            _ => 0,
        };
        let plan = Plan {
            file: self.std.clone(),
            rewind: rewind as u64,
            write: mem::replace(&mut self.wbuf, mem::take(&mut self.spare)),
            action,
        };
        self.trait_seek = None;
        self.op = Some(InFlight {
            hop: Hop::start(move || plan.run()),
            stash,
            read_len,
        });
    }

    /// A `Read` action of `len` bytes, into the read-ahead's allocation
    /// when it is free.
    fn read_action(&mut self, len: usize) -> Action {
        let buf = if self.rbuf.is_empty() {
            self.rbuf.take_vec()
        } else {
            Vec::new()
        };
        Action::Read { buf, len }
    }

    /// Wait for the hop in flight (there must be one) and apply its report.
    fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let op = self.op.as_mut().expect("poll_op with a hop in flight");
        let done = ready!(op.hop.poll(cx));
        let InFlight {
            stash, read_len, ..
        } = self.op.take().expect("checked above");
        Poll::Ready(match done {
            Ok(done) => self.apply(done, stash, read_len),
            // The runtime is shutting down: whatever the hop carried is
            // lost; the read-ahead it set aside is still unread.
            Err(e) => {
                if let Some(stash) = stash {
                    self.rbuf = stash;
                }
                Outcome::Failed(e)
            }
        })
    }

    /// Fold a hop's report into the buffers; the action's own result is
    /// for the caller.
    fn apply(&mut self, done: Done, stash: Option<ReadBuf>, read_len: usize) -> Outcome {
        match done.rewound {
            Rewound::Yes => drop(stash),
            Rewound::NotSeekable | Rewound::No => {
                if done.rewound == Rewound::NotSeekable {
                    self.seekable = false;
                }
                if let Some(stash) = stash {
                    debug_assert!(self.rbuf.is_empty());
                    self.rbuf = stash;
                }
            }
        }
        if self.spare.capacity() == 0 {
            self.spare = done.write;
        }
        match (done.action, done.write_error) {
            (Ran::Skipped, Some(e)) => Outcome::Failed(e),
            (Ran::Skipped, None) => Outcome::Skipped,
            (ran, write_error) => {
                // The action ran, so nothing before it failed.
                debug_assert!(write_error.is_none());
                match ran {
                    Ran::Read {
                        buf,
                        filled,
                        result,
                    } => {
                        if self.rbuf.is_empty() {
                            self.rbuf = ReadBuf {
                                buf,
                                pos: 0,
                                end: filled,
                            };
                        } else {
                            // A `read_to_end` behind unread read-ahead: the
                            // cursor was past it, so this comes next.
                            self.rbuf.append(&buf[..filled]);
                        }
                        if read_len > 0 && filled == read_len {
                            self.read_len = (self.read_len * 2).min(MAX_BUF);
                        }
                        Outcome::Read { filled, result }
                    }
                    Ran::Seek(result) => {
                        if result.is_ok() {
                            self.read_len = FIRST_READ;
                        }
                        Outcome::Seek(result)
                    }
                    Ran::Unit(result) => Outcome::Unit(result),
                    Ran::Skipped => unreachable!("matched above"),
                }
            }
        }
    }

    /// The outcome of an operation whose future is gone: bytes read are in
    /// the read-ahead already; an error of a step that changes the file
    /// is kept for the next write, flush, sync or `set_len`; a read or
    /// seek error is dropped (the next read or seek meets it again).
    fn orphan(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Failed(e) | Outcome::Unit(Err(e)) => {
                self.write_err.get_or_insert(e);
            }
            Outcome::Skipped | Outcome::Read { .. } | Outcome::Seek(_) | Outcome::Unit(Ok(())) => {}
        }
    }

    /// Wait for the hop in flight, if any, as an orphan.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.op.is_some() {
            let outcome = ready!(self.poll_op(cx));
            self.orphan(outcome);
        }
        Poll::Ready(())
    }

    /// An operation its caller owns (the inherent async methods): settle
    /// the hop in flight, start the one `action` returns (once: `started`
    /// remembers), and wait for its outcome. `None` from `action`: nothing
    /// to do, no hop.
    pub(super) fn poll_owned(
        &mut self,
        cx: &mut Context<'_>,
        started: &mut bool,
        action: impl FnOnce(&mut Self) -> Option<Action>,
    ) -> Poll<Option<Outcome>> {
        if cancelled() {
            return Poll::Pending;
        }
        if !*started {
            ready!(self.poll_settle(cx));
            *started = true;
            match action(self) {
                Some(action) => self.start(action),
                None => return Poll::Ready(None),
            }
        }
        self.poll_op(cx).map(Some)
    }

    /// `AsyncRead::poll_read`.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if cancelled() {
            return Poll::Pending;
        }
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if self.op.is_some() {
                match ready!(self.poll_op(cx)) {
                    // End of file, or the read failed with nothing read.
                    Outcome::Read { filled: 0, result } if self.rbuf.is_empty() => {
                        return Poll::Ready(result.map(|()| 0));
                    }
                    other => self.orphan(other),
                }
                continue;
            }
            if self.read_ahead_valid() {
                return Poll::Ready(Ok(self.rbuf.copy_to(dst)));
            }
            let len = dst.len().max(self.read_len).min(MAX_BUF);
            let action = self.read_action(len);
            self.start(action);
        }
    }

    /// `AsyncWrite::poll_write`: copy into `wbuf`; a full `wbuf` goes to
    /// a worker (while a previous hop runs, the next bytes fill a second
    /// buffer).
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        if cancelled() {
            return Poll::Pending;
        }
        if self.op.is_some()
            && let Poll::Ready(outcome) = self.poll_op(cx)
        {
            self.orphan(outcome);
        }
        if let Some(e) = self.write_err.take() {
            return Poll::Ready(Err(e));
        }
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.wbuf.len() >= MAX_BUF {
            if self.op.is_some() {
                // Both buffers are full: woken when the hop ends.
                return Poll::Pending;
            }
            self.start(Action::Flush);
        }
        let n = src.len().min(MAX_BUF - self.wbuf.len());
        self.wbuf.extend_from_slice(&src[..n]);
        if self.wbuf.len() >= MAX_BUF && self.op.is_none() {
            self.start(Action::Flush);
        }
        Poll::Ready(Ok(n))
    }

    /// `AsyncWrite::poll_flush`: every accepted byte written (and the
    /// first error of those nobody waited for).
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if cancelled() {
            return Poll::Pending;
        }
        loop {
            ready!(self.poll_settle(cx));
            if self.wbuf.is_empty() {
                return Poll::Ready(self.write_err.take().map_or(Ok(()), Err));
            }
            self.start(Action::Flush);
        }
    }

    /// `AsyncSeek::poll_seek`.
    pub(super) fn poll_seek(
        &mut self,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        if cancelled() {
            return Poll::Pending;
        }
        loop {
            if self.op.is_some() {
                // The seek this method started, to the same target: taken
                // as this call's (see `File`'s `AsyncSeek` docs).
                let mine = self.trait_seek == Some(pos);
                match ready!(self.poll_op(cx)) {
                    Outcome::Seek(result) if mine => return Poll::Ready(result),
                    Outcome::Failed(e) if mine => return Poll::Ready(Err(e)),
                    other => self.orphan(other),
                }
                continue;
            }
            self.start(Action::Seek(pos));
            self.trait_seek = Some(pos);
        }
    }

    /// Move the unread read-ahead to the end of `dst`, if reads may be
    /// served from it.
    pub(super) fn drain_read_ahead(&mut self, dst: &mut Vec<u8>) {
        if self.read_ahead_valid() {
            self.rbuf.drain_into(dst);
        }
    }

    /// A `ReadToEnd` action, into the read-ahead's allocation when free.
    pub(super) fn read_to_end_action(&mut self) -> Action {
        let buf = if self.rbuf.is_empty() {
            self.rbuf.take_vec()
        } else {
            Vec::new()
        };
        Action::ReadToEnd { buf }
    }

    /// Whether handing the file back needs a hop first: bytes to write,
    /// or read-ahead to step back over.
    pub(super) fn needs_sync(&self) -> bool {
        !self.wbuf.is_empty() || (self.seekable && !self.rbuf.is_empty())
    }

    /// Whether an error is kept for the next write-side operation.
    pub(super) fn has_write_err(&self) -> bool {
        self.write_err.is_some()
    }

    /// The error kept for the next write-side operation, if any.
    pub(super) fn take_write_err(&mut self) -> Option<io::Error> {
        self.write_err.take()
    }

    /// Everything but the file itself, moved out (for the `File`'s drop:
    /// a task finishes the writes with it).
    pub(super) fn take(&mut self) -> State {
        State {
            std: self.std.clone(),
            op: self.op.take(),
            rbuf: mem::take(&mut self.rbuf),
            wbuf: mem::take(&mut self.wbuf),
            spare: Vec::new(),
            write_err: self.write_err.take(),
            read_len: self.read_len,
            seekable: self.seekable,
            trait_seek: None,
        }
    }

    /// The bytes still to write, as a plan to run on this thread (for a
    /// `File` dropped outside any runtime). A hop in flight is dropped:
    /// nothing can wait for it without a runtime.
    pub(super) fn unwritten_plan(&mut self) -> Option<Plan> {
        self.op = None;
        if self.wbuf.is_empty() {
            return None;
        }
        let rewind = if self.seekable { self.rbuf.unread() } else { 0 };
        Some(Plan {
            file: self.std.clone(),
            rewind: rewind as u64,
            write: mem::take(&mut self.wbuf),
            action: Action::Flush,
        })
    }
}
