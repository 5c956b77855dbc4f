//! The io_uring backend's completions: readiness from the polls, and the
//! byte streams' receives and sends (see `uring::stream` and
//! `uring::send` for their protocols).

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::uring::{self, Cqe, OpKind, stream::ReadBuf};
use super::{Backend, Direction, IoKey, Reactor, ScheduledIo, deliver, entry, entry_mut, epoll};

/// How long dropping a runtime waits for written bytes to be sent, at
/// most (a peer that reads nothing would hold it forever).
const DROP_FLUSH_ROUNDS: usize = 50;
const DROP_FLUSH_WAIT: Duration = Duration::from_millis(10);

fn deregistered() -> io::Error {
    io::Error::other("I/O resource was deregistered")
}

/// Keeps `cx`'s waker in `slot` (replacing a different one).
fn park(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl Reactor {
    /// Whether byte streams read and write through the reactor
    /// ([`poll_recv`](Self::poll_recv), [`poll_send`](Self::poll_send))
    /// rather than by readiness and syscalls: the io_uring backend.
    pub fn completes_reads(&self) -> bool {
        matches!(self.backend, Backend::Uring { .. })
    }

    /// Reads from the stream registered as `key` into `buf`: bytes its
    /// multishot receive queued, end of stream, or its error; otherwise
    /// arms the receive if it is not in flight, keeps `cx`'s waker as the
    /// reader and returns `Pending`. `WouldBlock`: the ring ran out of
    /// buffers for this stream, read this time by readiness and `recv`.
    pub(crate) fn poll_recv<B: ReadBuf + ?Sized>(
        &mut self,
        key: IoKey,
        cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<io::Result<usize>> {
        let Backend::Uring { uring, .. } = &mut self.backend else {
            return Poll::Ready(Err(io::Error::other("completion I/O needs io_uring")));
        };
        let Some(io) = entry_mut(&mut self.slots, key) else {
            return Poll::Ready(Err(deregistered()));
        };
        let bufs = match uring.bufs() {
            Ok(bufs) => bufs,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let recv = io.recv.get_or_insert_default();
        if let Some(result) = recv.read(bufs, buf) {
            return Poll::Ready(result);
        }
        if recv.take_starved() {
            return Poll::Ready(Err(io::ErrorKind::WouldBlock.into()));
        }
        if recv.needs_arming() {
            let user_data = uring::tag(key.token(), OpKind::Recv);
            if let Err(e) = uring.recv_multishot(io.fd, user_data) {
                return Poll::Ready(Err(e));
            }
            recv.set_armed();
        }
        park(&mut io.reader, cx);
        Poll::Pending
    }

    /// Writes as much of `bufs` as the stream's send buffer has room for,
    /// queueing a `SEND` if none is in flight; with no room, keeps `cx`'s
    /// waker as the writer and returns `Pending`. A failed send's error
    /// is returned from then on.
    pub(crate) fn poll_send(
        &mut self,
        key: IoKey,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Backend::Uring { uring, .. } = &mut self.backend else {
            return Poll::Ready(Err(io::Error::other("completion I/O needs io_uring")));
        };
        let Some(io) = entry_mut(&mut self.slots, key) else {
            return Poll::Ready(Err(deregistered()));
        };
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let send = io.send.get_or_insert_default();
        let was_idle = send.is_idle();
        let (n, op) = match send.write(bufs) {
            Ok(written) => written,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(op) = op {
            let user_data = uring::tag(key.token(), OpKind::Send);
            // `op` points into the stream's `in_flight` buffer: a
            // deregistered entry with a send in flight is kept
            // (`keep_sending`), and the reactor's drop waits for the kernel.
            // SAFETY: `SendState` leaves `in_flight` untouched and alive
            // until this send's completion (the lines above say why).
            let queued = unsafe { uring.send(io.fd, &op, user_data) };
            if let Err(e) = queued {
                return Poll::Ready(Err(e));
            }
        }
        if n == 0 {
            park(&mut io.writer, cx);
            return Poll::Pending;
        }
        if was_idle {
            self.unsent_streams += 1;
        }
        Poll::Ready(Ok(n))
    }

    /// Ready when every byte written to the stream was sent (or a send
    /// failed: its error); otherwise keeps `cx`'s waker as the writer.
    pub(crate) fn poll_flush(&mut self, key: IoKey, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(io) = entry_mut(&mut self.slots, key) else {
            return Poll::Ready(Err(deregistered()));
        };
        let Some(send) = &io.send else {
            return Poll::Ready(Ok(()));
        };
        match send.flushed() {
            Some(result) => Poll::Ready(result),
            None => {
                park(&mut io.writer, cx);
                Poll::Pending
            }
        }
    }

    /// The error a send of the stream failed with, if one did.
    pub(crate) fn send_error(&self, key: IoKey) -> Option<io::Error> {
        entry(&self.slots, key)?.send.as_ref()?.sticky_error()
    }

    /// A write shutdown of the stream: `true` if bytes are still to be
    /// sent, so the last send's completion will do it; `false`: do it now.
    pub(crate) fn defer_shutdown(&mut self, key: IoKey) -> bool {
        entry_mut(&mut self.slots, key)
            .and_then(|io| io.send.as_mut())
            .is_some_and(|send| send.defer_shutdown())
    }

    /// The entry of a stream deregistered with bytes unsent: it keeps a
    /// duplicate of the fd (the caller closes its own) and its send state,
    /// and is freed by the completion that ends the sending. Returns
    /// whether the entry stays, and the error if the bytes were given up:
    /// with no duplicate (`EMFILE`), the send in flight is cancelled and
    /// the entry freed; if even the cancel fails, the kernel may still
    /// read the buffer, so the entry stays (its completion finds it).
    pub(super) fn keep_sending(
        uring: &mut uring::Uring,
        key: IoKey,
        io: &mut ScheduledIo,
    ) -> (bool, io::Result<()>) {
        io.reader = None;
        io.writer = None;
        // The caller's fd is open until it closes it after we return.
        match epoll::dup_cloexec(io.fd) {
            Ok(dup) => {
                io.fd = dup.as_fd().as_raw_fd();
                io.closing = Some(dup);
                (true, Ok(()))
            }
            Err(e) => match uring.cancel_now(uring::tag(key.token(), OpKind::Send)) {
                Ok(()) => (false, Err(e)),
                Err(cancel) => (true, Err(cancel)),
            },
        }
    }

    /// Applies a batch of completions. Returns whether the eventfd fired.
    pub(super) fn complete_all(&mut self, cqes: &[Cqe]) -> io::Result<bool> {
        let mut woken = false;
        for cqe in cqes {
            if cqe.user_data == uring::WAKER_TOKEN {
                woken = true;
                self.rearm_waker(cqe)?;
                continue;
            }
            let Some((token, kind)) = uring::untag(cqe.user_data) else {
                continue;
            };
            match kind {
                OpKind::PollRead => self.complete_poll(token, Direction::Read, cqe)?,
                OpKind::PollWrite => self.complete_poll(token, Direction::Write, cqe)?,
                OpKind::Recv => self.complete_recv(token, cqe)?,
                OpKind::Send => self.complete_send(token, cqe)?,
            }
        }
        Ok(woken)
    }

    fn uring(&mut self) -> &mut uring::Uring {
        match &mut self.backend {
            Backend::Uring { uring, .. } => uring,
            Backend::Epoll { .. } => unreachable!("io_uring completions on epoll"),
        }
    }

    fn rearm_waker(&mut self, cqe: &Cqe) -> io::Result<()> {
        let Backend::Uring {
            uring, waker_fd, ..
        } = &mut self.backend
        else {
            return Ok(());
        };
        match *waker_fd {
            Some(fd) if cqe.flags & uring::sys::CQE_F_MORE == 0 => {
                uring.poll_add(fd, uring::WAKER_TOKEN)
            }
            _ => Ok(()),
        }
    }

    fn complete_poll(&mut self, token: u64, dir: Direction, cqe: &Cqe) -> io::Result<()> {
        if cqe.res >= 0 {
            let ready = epoll::ready_from_epoll(cqe.res as u32);
            deliver(&mut self.slots, &mut self.pending_wakers, token, ready);
        }
        // The kernel ended the multishot poll (its completion ring
        // overflowed, say): arm it again while the entry lives (and is not
        // closing). An error (the fd was closed behind our back) ends it
        // for good, and the next wait arms it again.
        let more = cqe.flags & uring::sys::CQE_F_MORE != 0;
        if more {
            return Ok(());
        }
        let Some(io) = entry_mut(&mut self.slots, IoKey::from_token(token)) else {
            return Ok(());
        };
        if cqe.res >= 0 && io.closing.is_none() && io.polled & dir.bit() != 0 {
            let fd = io.fd;
            self.uring().poll_add(fd, cqe.user_data)?;
        } else {
            io.polled &= !dir.bit();
        }
        Ok(())
    }

    fn complete_recv(&mut self, token: u64, cqe: &Cqe) -> io::Result<()> {
        let Backend::Uring { uring, .. } = &mut self.backend else {
            return Ok(());
        };
        let Some(bufs) = uring.bufs_if_any() else {
            return Ok(());
        };
        let io =
            entry_mut(&mut self.slots, IoKey::from_token(token)).filter(|io| io.closing.is_none());
        let Some(io) = io else {
            // The stream is gone: its bytes go nowhere.
            uring::stream::give_back(bufs, cqe);
            return Ok(());
        };
        let recv = io.recv.get_or_insert_default();
        let after = recv.complete(bufs, cqe);
        if after.wake {
            self.pending_wakers.extend(io.reader.take());
        }
        if after.cancel {
            uring.cancel(cqe.user_data)?;
        }
        Ok(())
    }

    fn complete_send(&mut self, token: u64, cqe: &Cqe) -> io::Result<()> {
        let key = IoKey::from_token(token);
        let Backend::Uring { uring, .. } = &mut self.backend else {
            return Ok(());
        };
        // An entry with a send in flight is never freed: it is live here.
        let Some(io) = entry_mut(&mut self.slots, key) else {
            return Ok(());
        };
        let Some(send) = io.send.as_mut() else {
            return Ok(());
        };
        let after = send.complete(cqe.res);
        if let Some(op) = &after.next {
            // SAFETY: as in `poll_send`: the bytes are `in_flight`.
            unsafe { uring.send(io.fd, op, cqe.user_data) }?;
        }
        if after.shutdown_now {
            // `io.fd` is open: the stream's, or our duplicate. An error
            // (the peer reset) leaves nothing to shut down.
            let _ = epoll::shutdown_write(io.fd);
        }
        let idle = send.is_idle();
        self.pending_wakers.extend(io.writer.take());
        if idle {
            self.unsent_streams -= 1;
            if io.closing.is_some() {
                self.free_closing(key);
            }
        }
        Ok(())
    }

    /// Frees the entry of a stream whose owner is gone, once its bytes
    /// are sent: the duplicate fd closes with it.
    fn free_closing(&mut self, key: IoKey) {
        let slot = &mut self.slots[key.index as usize];
        let io = slot.io.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.registered -= 1;
        if let Some(mut io) = io
            && let Some(recv) = io.recv.as_mut()
            && let Some(bufs) = self.uring().bufs_if_any()
        {
            recv.release(bufs);
        }
    }

    /// Gives written bytes a bounded chance to be sent before the runtime
    /// goes away (a write returned `Ok`: the bytes are the kernel's to
    /// send, as they would be on epoll).
    pub(super) fn finish_sends_before_drop(&mut self) {
        for _ in 0..DROP_FLUSH_ROUNDS {
            if self.unsent_streams == 0 {
                return;
            }
            if self.poll(Some(DROP_FLUSH_WAIT), &mut drop).is_err() {
                return;
            }
        }
    }
}
