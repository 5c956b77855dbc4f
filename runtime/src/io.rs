//! Readiness-based I/O on the runtime's reactor.
//!
//! [`Async`] registers any file descriptor with the epoll reactor (once,
//! edge-triggered, for its whole life) and turns "would block" into
//! waiting: [`Async::read_with`] runs a non-blocking operation, and when it
//! reports `WouldBlock` clears the readiness it was based on (only if no
//! newer event arrived meanwhile: readiness is stamped) and parks the task
//! until the reactor sees the fd ready again. The socket types of
//! `arbor::net` build on it.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::context;
use crate::reactor::epoll::set_nonblocking;
use crate::reactor::uring::stream::ReadBuf;
use crate::reactor::{Direction, IoKey, Reactor, ReadyEvent};

/// A file descriptor registered with the runtime's reactor.
///
/// ```
/// use std::io::{Read, Write};
/// arbor_runtime::run(async {
///     let (reader, mut writer) = std::io::pipe().unwrap();
///     let reader = arbor_runtime::io::Async::new(reader).unwrap();
///     let echo = arbor_runtime::spawn(async move {
///         let mut buf = [0u8; 5];
///         let n = reader.read_with(|mut r| r.read(&mut buf)).await.unwrap();
///         buf[..n].to_vec()
///     });
///     writer.write_all(b"hello").unwrap();
///     assert_eq!(echo.await.unwrap(), b"hello");
/// });
/// ```
pub struct Async<T: AsFd> {
    io: Option<T>,
    key: IoKey,
    reactor: Weak<RefCell<Reactor>>,
}

impl<T: AsFd> Async<T> {
    /// Register `io` with the current runtime's reactor, switching its fd
    /// to non-blocking mode.
    ///
    /// # Errors
    /// The `fcntl` or `epoll_ctl` error (e.g. `EPERM` for a regular file,
    /// which epoll does not support).
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn new(io: T) -> io::Result<Async<T>> {
        let fd = io.as_fd().as_raw_fd();
        set_nonblocking(fd)?;
        let reactor = context::expect("arbor::io::Async::new", |core| Rc::downgrade(&core.reactor));
        let key = upgrade(&reactor)?.borrow_mut().register(fd)?;
        Ok(Async {
            io: Some(io),
            key,
            reactor,
        })
    }

    /// The wrapped I/O object.
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("io present until drop")
    }

    /// Deregister and give the I/O object back (still non-blocking).
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self.io.take().expect("io present until drop");
        self.deregister(io.as_fd().as_raw_fd())?;
        Ok(io)
    }

    fn fd(&self) -> RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        match self.reactor.upgrade() {
            Some(reactor) => reactor.borrow_mut().deregister(self.key, fd),
            // The runtime is gone and its epoll fd closed with it.
            None => Ok(()),
        }
    }

    fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        if crate::scope::current_is_cancelled() {
            // Level-triggered cancellation: no I/O in a cancelled scope.
            crate::scope::note_await(std::panic::Location::caller());
            return Poll::Pending;
        }
        let poll = match upgrade(&self.reactor) {
            Ok(reactor) => reactor.borrow_mut().poll_ready(self.key, dir, cx),
            Err(e) => Poll::Ready(Err(e)),
        };
        if poll.is_pending() {
            // Every socket and pipe waits here: the dump names the line.
            crate::scope::note_await(std::panic::Location::caller());
        }
        poll
    }

    fn poll_op<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = match self.poll_ready(dir, cx) {
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(reactor) = self.reactor.upgrade() {
                        reactor.borrow_mut().clear_readiness(self.key, event);
                    }
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Wait until the fd is readable (or closed for reading, or in error).
    ///
    /// # Cancel safety
    /// Dropping the future consumes nothing.
    pub async fn readable(&self) -> io::Result<()> {
        let mut parked = Parked::new(self, Direction::Read);
        poll_fn(|cx| parked.track(cx, |cx| self.poll_ready(Direction::Read, cx).map_ok(drop))).await
    }

    /// Wait until the fd is writable (or closed for writing, or in error).
    ///
    /// # Cancel safety
    /// Dropping the future consumes nothing.
    pub async fn writable(&self) -> io::Result<()> {
        let mut parked = Parked::new(self, Direction::Write);
        poll_fn(|cx| parked.track(cx, |cx| self.poll_ready(Direction::Write, cx).map_ok(drop)))
            .await
    }

    /// Run a non-blocking read-side operation until it does not report
    /// `WouldBlock`, waiting for readability in between.
    ///
    /// A checkpoint: when the fd is known to be ready, other ready tasks
    /// run first (see
    /// [`scope::schedule_point`](crate::scope::schedule_point)), then
    /// `op`; an operation that waits lets them run while it waits.
    ///
    /// # Cancel safety
    /// Dropping the future (a cancelled scope, a timeout, an abort of its
    /// task) loses nothing: `op` either ran to completion and its result
    /// was returned in the same poll, or did not run.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut parked = Parked::new(self, Direction::Read);
        poll_fn(|cx| parked.checkpoint(cx, |cx| self.poll_op(Direction::Read, cx, &mut op))).await
    }

    /// Run a non-blocking write-side operation until it does not report
    /// `WouldBlock`, waiting for writability in between.
    ///
    /// # Cancel safety
    /// As for [`read_with`](Async::read_with).
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut parked = Parked::new(self, Direction::Write);
        poll_fn(|cx| parked.checkpoint(cx, |cx| self.poll_op(Direction::Write, cx, &mut op))).await
    }

    /// Whether an operation in `dir` is known not to wait: readiness seen,
    /// bytes queued by the ring, or room in the send buffer.
    fn ready_hint(&self, dir: Direction) -> bool {
        self.reactor
            .upgrade()
            .is_some_and(|r| r.borrow().ready_hint(self.key, dir))
    }

    /// An operation in `dir` succeeded: the fd was ready.
    fn note_ready(&self, dir: Direction) {
        if let Some(reactor) = self.reactor.upgrade() {
            reactor.borrow_mut().note_ready(self.key, dir);
        }
    }

    /// Poll form of [`read_with`](Async::read_with), for `AsyncRead` impls.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_op(Direction::Read, cx, &mut op)
    }

    /// [`poll_read_with`](Async::poll_read_with) for a stream read of at
    /// most `len` bytes (`op` returns how many it read): a short read
    /// (fewer than `len` bytes, but some) means the kernel's buffer is
    /// drained, so the readiness it was based on is cleared at once (unless
    /// a newer event arrived) and the next read waits for the reactor
    /// instead of paying a `recv` that reports `WouldBlock`. End of stream
    /// and errors are kept: they are not cleared.
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let event = match self.poll_ready(Direction::Read, cx) {
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(reactor) = self.reactor.upgrade() {
                        reactor.borrow_mut().clear_readiness(self.key, event);
                    }
                }
                Ok(n) if n > 0 && n < len => {
                    if let Some(reactor) = self.reactor.upgrade() {
                        reactor.borrow_mut().clear_readiness(self.key, event);
                    }
                    return Poll::Ready(Ok(n));
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// A stream read into `buf` (initialized or not), the backend's way:
    /// on io_uring, out of the bytes the reactor's multishot receive
    /// queued (no syscall); on epoll, by readiness and `syscall` (a
    /// `recv`), as [`poll_read_stream`](Self::poll_read_stream).
    pub(crate) fn poll_read_stream_buf<B: ReadBuf + ?Sized>(
        &self,
        cx: &mut Context<'_>,
        buf: &mut B,
        mut syscall: impl FnMut(&T, &mut B) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        match self.poll_through_ring(|r, cx| r.poll_recv(self.key, cx, &mut *buf), cx) {
            // On epoll, or the ring had no buffer: this read goes by readiness.
            None => {}
            Some(Poll::Ready(Err(e))) if e.kind() == io::ErrorKind::WouldBlock => {}
            Some(poll) => return poll,
        }
        let len = buf.capacity();
        self.poll_read_stream(cx, len, |s| syscall(s, buf))
    }

    /// The future of [`poll_read_stream_buf`](Self::poll_read_stream_buf)
    /// into initialized memory, with the schedule point and the waker
    /// hygiene of [`read_with`](Self::read_with).
    pub(crate) async fn read_stream(
        &self,
        buf: &mut [u8],
        mut syscall: impl FnMut(&T, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut parked = Parked::new(self, Direction::Read);
        poll_fn(|cx| {
            parked.checkpoint(cx, |cx| {
                self.poll_read_stream_buf(cx, &mut *buf, &mut syscall)
            })
        })
        .await
    }

    /// A stream write of `bufs`, the backend's way: on io_uring, copied
    /// into the stream's send buffer and sent with the tick's other
    /// writes (`Pending` only when the buffer is full); on epoll, by
    /// readiness and `syscall` (a `send`).
    pub(crate) fn poll_write_stream(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
        mut syscall: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_through_ring(|r, cx| r.poll_send(self.key, cx, bufs), cx)
            .unwrap_or_else(|| self.poll_op(Direction::Write, cx, &mut syscall))
    }

    /// The future of [`poll_write_stream`](Self::poll_write_stream), with
    /// the schedule point and the waker hygiene of
    /// [`write_with`](Self::write_with).
    pub(crate) async fn write_stream(
        &self,
        bufs: &[io::IoSlice<'_>],
        mut syscall: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut parked = Parked::new(self, Direction::Write);
        poll_fn(|cx| parked.checkpoint(cx, |cx| self.poll_write_stream(cx, bufs, &mut syscall)))
            .await
    }

    /// Ready when every byte written with
    /// [`poll_write_stream`](Self::poll_write_stream) was handed to the
    /// kernel: at once on epoll. On both backends, `Pending` in a
    /// cancelled scope, as every other stream operation is there.
    #[track_caller]
    pub(crate) fn poll_flush_stream(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_through_ring(|r, cx| r.poll_flush(self.key, cx), cx)
            .unwrap_or_else(|| {
                if crate::scope::current_is_cancelled() {
                    crate::scope::note_await(std::panic::Location::caller());
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                }
            })
    }

    /// A byte-stream operation of the io_uring backend: `None` on epoll
    /// (the caller goes by readiness). On io_uring, `Pending` in a
    /// cancelled scope (level-triggered: no I/O there), else `op` on the
    /// reactor; a `Pending` notes its await point for `dump`.
    #[track_caller]
    fn poll_through_ring<R>(
        &self,
        op: impl FnOnce(&mut Reactor, &mut Context<'_>) -> Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<io::Result<R>>> {
        let reactor = match upgrade(&self.reactor) {
            Ok(reactor) => reactor,
            Err(e) => return Some(Poll::Ready(Err(e))),
        };
        let mut reactor = reactor.borrow_mut();
        if !reactor.completes_reads() {
            return None;
        }
        let poll = if crate::scope::current_is_cancelled() {
            Poll::Pending
        } else {
            op(&mut reactor, cx)
        };
        if poll.is_pending() {
            crate::scope::note_await(std::panic::Location::caller());
        }
        Some(poll)
    }

    /// The error of a send that already failed on io_uring; `None` on
    /// epoll, and while no send failed.
    pub(crate) fn stream_write_error(&self) -> Option<io::Error> {
        let reactor = self.reactor.upgrade()?;
        let reactor = reactor.borrow();
        reactor.send_error(self.key)
    }

    /// The future of [`poll_flush_stream`](Self::poll_flush_stream).
    pub(crate) async fn flush_stream(&self) -> io::Result<()> {
        let mut parked = Parked::new(self, Direction::Write);
        poll_fn(|cx| parked.track(cx, |cx| self.poll_flush_stream(cx))).await
    }

    /// A stream shutdown: a write shutdown waits for the bytes still to be
    /// sent on io_uring (the last send's completion does it; the read side
    /// of `Both` goes at once); otherwise `syscall(how)` now.
    pub(crate) fn shutdown_stream(
        &self,
        how: std::net::Shutdown,
        syscall: impl FnOnce(std::net::Shutdown) -> io::Result<()>,
    ) -> io::Result<()> {
        use std::net::Shutdown;
        let deferred = how != Shutdown::Read
            && self
                .reactor
                .upgrade()
                .is_some_and(|r| r.borrow_mut().defer_shutdown(self.key));
        match (deferred, how) {
            (false, how) => syscall(how),
            (true, Shutdown::Both) => syscall(Shutdown::Read),
            (true, _) => Ok(()),
        }
    }

    /// Poll form of [`write_with`](Async::write_with), for `AsyncWrite` impls.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_op(Direction::Write, cx, &mut op)
    }
}

/// The schedule point of an operation whose result cannot be kept over a
/// yield without risk (an accepted connection: dropped there by an abort,
/// it would be closed): it comes first, before anything is taken, at the
/// operation's first poll outside a cancelled scope. True if the caller
/// must return `Pending` now (it was woken).
pub(crate) fn schedule_point_first(yielded: &mut bool, cx: &Context<'_>) -> bool {
    !*yielded && !crate::scope::current_is_cancelled() && {
        *yielded = true;
        crate::scope::schedule_point(cx)
    }
}

/// Remembers the waker an async I/O call left with the reactor while it is
/// pending, and takes it back if the call is dropped (cancelled) then: a
/// cancelled read parks nothing, so a later event on the fd wakes nobody.
struct Parked<'a, T: AsFd> {
    io: &'a Async<T>,
    dir: Direction,
    waker: Option<Waker>,
    /// The operation had to wait (so it already let others run).
    waited: bool,
    /// The schedule point was decided (at the first poll).
    scheduled: bool,
    /// It yielded there.
    yielded: bool,
}

impl<'a, T: AsFd> Parked<'a, T> {
    fn new(io: &'a Async<T>, dir: Direction) -> Self {
        Parked {
            io,
            dir,
            waker: None,
            waited: false,
            scheduled: false,
            yielded: false,
        }
    }

    fn track<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let result = poll(cx);
        self.waker = match result {
            // Cloning an arbor waker copies two words; no refcount.
            Poll::Pending => {
                self.waited = true;
                Some(cx.waker().clone())
            }
            Poll::Ready(_) => None,
        };
        result
    }

    /// `track`, with the operation's schedule point first: when the fd is
    /// known to be ready (so the operation will not wait, which would be
    /// its schedule point), the task yields *before* the operation takes
    /// or sends anything. An abort drops a task's future without polling
    /// it again, so a result held over a yield would be lost with it (bytes
    /// sent or read, and their count never returned).
    ///
    /// An operation that succeeds though the reactor had not seen the fd
    /// ready (its event is not collected yet) is not made to yield after;
    /// it marks the fd ready instead, so the next operation yields first
    /// and a loop of such operations cannot keep the thread.
    fn checkpoint<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        if !self.scheduled {
            self.scheduled = true;
            if !crate::scope::current_is_cancelled()
                && self.io.ready_hint(self.dir)
                && crate::scope::schedule_point(cx)
            {
                self.yielded = true;
                return Poll::Pending;
            }
        }
        let result = self.track(cx, poll);
        if result.is_ready() && !self.waited && !self.yielded {
            self.io.note_ready(self.dir);
        }
        result
    }
}

impl<T: AsFd> Drop for Parked<'_, T> {
    fn drop(&mut self) {
        if let Some(waker) = &self.waker
            && let Some(reactor) = self.io.reactor.upgrade()
        {
            reactor
                .borrow_mut()
                .release_waker(self.io.key, self.dir, waker);
        }
    }
}

fn upgrade(reactor: &Weak<RefCell<Reactor>>) -> io::Result<Rc<RefCell<Reactor>>> {
    reactor.upgrade().ok_or_else(|| {
        io::Error::other("the arbor runtime this I/O object was registered with has been dropped")
    })
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deregister before the fd closes (when `io` drops), so the
            // number cannot be reused while still in the epoll set.
            let _ = self.deregister(io.as_fd().as_raw_fd());
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}
