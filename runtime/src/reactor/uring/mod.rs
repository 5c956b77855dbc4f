//! The io_uring backend of the reactor: the same readiness model as epoll,
//! carried by the ring, plus completion-based stream I/O.
//!
//! # Readiness through the ring
//!
//! A registered fd gets a multishot `POLL_ADD` per direction, `EPOLLIN |
//! EPOLLRDHUP` or `EPOLLOUT`, armed the first time a task waits for that
//! direction and kept until the fd is deregistered. A multishot poll
//! posts a completion on each wakeup of the fd's wait queue that matches
//! its mask, which is epoll's edge-triggered contract: the reactor's
//! readiness stamps (see the parent module) work unchanged, and so does
//! everything built on [`Async`](crate::io::Async). Arming checks the
//! fd's state, so readiness that came before the first wait is reported.
//! A poll the kernel ends (a completion without `CQE_F_MORE`) is armed
//! again. A byte stream reads and writes through the ring and never waits
//! for readiness (but to connect): its socket's wait queue then carries
//! no poll, and a packet wakes only its receive. Arming costs no syscall
//! (the `POLL_ADD` rides on the next `io_uring_enter`); deregistering
//! submits the `POLL_REMOVE`s at once, so the ring drops its reference to
//! the file before the caller closes the fd (a listener's port is free
//! again when `drop` returns).
//!
//! # One `io_uring_enter` per tick, or none
//!
//! Submissions queue in the ring until the reactor is polled; one
//! `io_uring_enter` then submits them and collects completions. The ring
//! is set up with `DEFER_TASKRUN` where the kernel has it (6.1+), so the
//! kernel posts completions only inside that call and flags
//! `IORING_SQ_TASKRUN` when some are waiting: the executor's periodic
//! non-blocking poll makes no syscall at all when nothing was queued and
//! nothing happened (epoll's costs an `epoll_wait` every time).
//!
//! # Tokens
//!
//! A completion's `user_data` is the registration's token (`generation <<
//! 32 | index`) with the operation's kind in the index's top three bits,
//! so a slot index stays below 2^29 under this backend. [`WAKER_TOKEN`]
//! (all ones) is the eventfd's poll; [`IGNORED_TOKEN`] and a removal's
//! token are reserved (their kind bits are `0b111`, which no operation
//! has).

pub(crate) mod buf_ring;
pub(crate) mod send;
pub(crate) mod stream;
pub(crate) mod sys;

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use buf_ring::BufRing;
pub(crate) use sys::Cqe;
use sys::{Ring, Sqe};

/// `user_data` of the wakeup eventfd's poll (the same token as epoll's).
pub(crate) const WAKER_TOKEN: u64 = u64::MAX;
/// `user_data` of operations whose completion is dropped unread.
pub(crate) const IGNORED_TOKEN: u64 = u64::MAX - 1;
/// `user_data` of a poll removal, whose result `poll_remove` reads itself.
const REMOVE_TOKEN: u64 = u64::MAX - 2;

/// Attempts of a poll removal the kernel answers `EALREADY` (the poll was
/// delivering an event; the `enter` that reported it also ran the
/// delivery, so the next attempt finds it idle).
const REMOVE_ATTEMPTS: usize = 8;

/// Submission slots: pushes beyond this between two polls submit early.
const SQ_ENTRIES: u32 = 256;
/// Completion slots (16 bytes each). A burst past them is kept by the
/// kernel (`NODROP`); the multishot operations it ends are armed again.
const CQ_ENTRIES: u32 = 1024;

/// What a completion is about, from the top bits of its token's index.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// The registration's multishot poll for reading.
    PollRead = 0,
    /// Its multishot poll for writing.
    PollWrite = 1,
    /// Its multishot receive.
    Recv = 2,
    /// Its send in flight.
    Send = 3,
}

const KIND_SHIFT: u32 = 29;
const KIND_MASK: u64 = 0b111;
/// Slot indices this backend can encode.
pub(crate) const MAX_INDEX: u32 = (1 << KIND_SHIFT) - 1;

/// `token` (a registration's) tagged with `kind`.
pub(crate) fn tag(token: u64, kind: OpKind) -> u64 {
    token | ((kind as u64) << KIND_SHIFT)
}

/// Splits a completion's `user_data` into the registration's token and
/// the kind; `None` for the reserved tokens (kind bits `0b111`).
pub(crate) fn untag(user_data: u64) -> Option<(u64, OpKind)> {
    let kind = match (user_data >> KIND_SHIFT) & KIND_MASK {
        0 => OpKind::PollRead,
        1 => OpKind::PollWrite,
        2 => OpKind::Recv,
        3 => OpKind::Send,
        _ => return None,
    };
    Some((user_data & !(KIND_MASK << KIND_SHIFT), kind))
}

/// The poll mask of a poll kind (errors and hang-ups are always
/// reported): a reader waits for input or the peer's close, a writer for
/// room; the wakeup eventfd's poll is a reader's.
fn poll_mask(kind: OpKind) -> u32 {
    match kind {
        OpKind::PollWrite => libc::EPOLLOUT as u32,
        _ => (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
    }
}

/// The ring, as the reactor drives it.
pub(crate) struct Uring {
    // Declared first, so dropped first: no operation outlives `bufs`.
    ring: Ring,
    /// The provided buffers of stream receives, made at the first one.
    bufs: Option<BufRing>,
    /// Completions reaped outside `wait` (by a synchronous removal),
    /// handed out by the next `wait`.
    stashed: Vec<Cqe>,
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ring.fmt(f)
    }
}

impl Uring {
    /// Sets up a ring, or says why the kernel refused.
    pub(crate) fn new() -> io::Result<Uring> {
        Ok(Uring {
            ring: Ring::new(SQ_ENTRIES, CQ_ENTRIES)?,
            bufs: None,
            stashed: Vec::new(),
        })
    }

    /// Queues `sqe`, submitting what is queued first if the ring is full.
    ///
    /// # Safety
    /// As [`Ring::push`]: memory `sqe` points to stays valid until the
    /// operation's last completion is reaped.
    pub(crate) unsafe fn push(&mut self, sqe: &Sqe) -> io::Result<()> {
        loop {
            // SAFETY: forwarded to our caller.
            if unsafe { self.ring.push(sqe) } {
                return Ok(());
            }
            self.ring.enter(false, None)?;
        }
    }

    /// Queues a multishot poll of `fd`, completing with `user_data`: a
    /// registration's read or write poll (by its tag), or the wakeup
    /// eventfd's ([`WAKER_TOKEN`]).
    pub(crate) fn poll_add(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        let kind = untag(user_data).map_or(OpKind::PollRead, |(_, kind)| kind);
        let mask = poll_mask(kind);
        // `poll32_events` is stored half-word swapped on big-endian hosts.
        #[cfg(target_endian = "big")]
        let mask = mask.rotate_left(16);
        let sqe = Sqe {
            opcode: sys::OP_POLL_ADD,
            fd,
            len: sys::POLL_ADD_MULTI,
            op_flags: mask,
            user_data,
            ..Sqe::default()
        };
        // SAFETY: a poll points to no memory.
        unsafe { self.push(&sqe) }
    }

    /// Removes the poll queued with `user_data`, and returns only when the
    /// kernel has let go of it, so the ring holds no reference to the file
    /// when the caller closes the fd (a socket closes, a port is free).
    pub(crate) fn poll_remove(&mut self, user_data: u64) -> io::Result<()> {
        self.remove_now(sys::OP_POLL_REMOVE, 0, user_data)
    }

    /// Cancels the operation queued with `user_data` (a stream's receive)
    /// and returns only when the kernel has let go of it, as
    /// [`poll_remove`](Self::poll_remove).
    pub(crate) fn cancel_now(&mut self, user_data: u64) -> io::Result<()> {
        self.remove_now(sys::OP_ASYNC_CANCEL, 0, user_data)
    }

    /// A removal (`POLL_REMOVE` or `ASYNC_CANCEL`), submitted at once and
    /// waited for.
    ///
    /// An operation that is delivering an event when the removal arrives
    /// makes it fail with `EALREADY` and stays armed: the removal is
    /// retried (the `enter` that reported it ran the delivery). `ENOENT`
    /// means the operation had already ended. Other completions reaped on
    /// the way are kept for the next [`wait`](Self::wait).
    fn remove_now(&mut self, opcode: u8, op_flags: u32, user_data: u64) -> io::Result<()> {
        for _ in 0..REMOVE_ATTEMPTS {
            let sqe = Sqe {
                opcode,
                addr: user_data,
                op_flags,
                user_data: REMOVE_TOKEN,
                ..Sqe::default()
            };
            // SAFETY: a removal points to no memory (`addr` is a tag).
            unsafe { self.push(&sqe) }?;
            self.ring.enter(false, None)?;
            let mut result = None;
            let stashed = &mut self.stashed;
            self.ring.reap(|cqe| match cqe.user_data {
                REMOVE_TOKEN => result = Some(cqe.res),
                _ => stashed.push(cqe),
            });
            match result.map(|res| -res) {
                Some(0 | libc::ENOENT) => return Ok(()),
                // Delivering (EALREADY), or not answered yet: again.
                Some(libc::EALREADY) | None => {}
                // ASYNC_CANCEL with CANCEL_ALL answers with a count.
                Some(n) if n < 0 => return Ok(()),
                Some(errno) => return Err(io::Error::from_raw_os_error(errno)),
            }
        }
        Err(io::Error::other(
            "io_uring: an operation could not be removed (the kernel kept answering EALREADY)",
        ))
    }

    /// Asks the kernel to cancel the operation queued with `user_data`,
    /// without waiting: it completes with `-ECANCELED` (or its result, if
    /// it won the race).
    pub(crate) fn cancel(&mut self, user_data: u64) -> io::Result<()> {
        let sqe = Sqe {
            opcode: sys::OP_ASYNC_CANCEL,
            flags: sys::IOSQE_CQE_SKIP_SUCCESS,
            addr: user_data,
            user_data: IGNORED_TOKEN,
            ..Sqe::default()
        };
        // SAFETY: a cancel points to no memory (`addr` is a tag).
        unsafe { self.push(&sqe) }
    }

    /// The provided buffers, set up and registered at the first call.
    pub(crate) fn bufs(&mut self) -> io::Result<&mut BufRing> {
        if self.bufs.is_none() {
            let bufs = BufRing::new(stream::RING_BUFFERS, stream::BUFFER_SIZE)?;
            self.ring.register_buf_ring(&bufs, stream::BUFFER_GROUP)?;
            self.bufs = Some(bufs);
        }
        Ok(self.bufs.as_mut().expect("just set"))
    }

    /// The provided buffers, if a receive ever set them up.
    pub(crate) fn bufs_if_any(&mut self) -> Option<&mut BufRing> {
        self.bufs.as_mut()
    }

    /// Queues a multishot receive on stream `fd` into the provided
    /// buffers, completing with `user_data`. Call [`bufs`](Self::bufs)
    /// first.
    pub(crate) fn recv_multishot(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        debug_assert!(self.bufs.is_some(), "receive before the buffers exist");
        let sqe = Sqe {
            opcode: sys::OP_RECV,
            flags: sys::IOSQE_BUFFER_SELECT,
            ioprio: sys::RECV_MULTISHOT,
            fd,
            buf_group: stream::BUFFER_GROUP,
            user_data,
            ..Sqe::default()
        };
        // SAFETY: the kernel writes only into the provided buffers, which
        // live as long as the ring (`Uring`'s field order).
        unsafe { self.push(&sqe) }
    }

    /// Queues a `SEND` of `op`'s bytes on stream `fd` (`MSG_NOSIGNAL`: a
    /// closed peer is `EPIPE`, not a signal), completing with `user_data`.
    ///
    /// # Safety
    /// `op`'s bytes stay valid and unchanged until the send's completion
    /// is reaped, or the ring is dropped.
    pub(crate) unsafe fn send(
        &mut self,
        fd: RawFd,
        op: &send::SendOp,
        user_data: u64,
    ) -> io::Result<()> {
        let sqe = Sqe {
            opcode: sys::OP_SEND,
            fd,
            addr: op.ptr as u64,
            len: u32::try_from(op.len).unwrap_or(u32::MAX),
            op_flags: libc::MSG_NOSIGNAL as u32,
            user_data,
            ..Sqe::default()
        };
        // SAFETY: forwarded to our caller.
        unsafe { self.push(&sqe) }
    }

    /// Cancels every operation in flight and waits until the kernel let
    /// go of them: the runtime is going away, and with it the buffers.
    pub(crate) fn cancel_all(&mut self) -> io::Result<()> {
        self.remove_now(
            sys::OP_ASYNC_CANCEL,
            sys::ASYNC_CANCEL_ALL | sys::ASYNC_CANCEL_ANY,
            0,
        )
    }

    /// Submits what is queued and collects completions into `out`.
    /// `Some(ZERO)` does not block, and makes no syscall when nothing is
    /// queued and the kernel flags nothing waiting; otherwise blocks until
    /// a completion or `timeout` (`None`: no limit).
    pub(crate) fn wait(&mut self, out: &mut Vec<Cqe>, timeout: Option<Duration>) -> io::Result<()> {
        out.clear();
        out.append(&mut self.stashed);
        // Buffers the reads emptied since the last wait go back first.
        if let Some(bufs) = &mut self.bufs {
            bufs.publish();
        }
        let blocking = timeout != Some(Duration::ZERO) && out.is_empty();
        let idle = self.ring.unsubmitted() == 0 && !self.ring.needs_enter();
        if blocking || !idle {
            // Already-posted completions end a blocking wait at once.
            self.ring.enter(blocking, timeout)?;
        }
        self.ring.reap(|cqe| out.push(cqe));
        Ok(())
    }

    /// Submits what is queued without waiting for anything (no syscall
    /// when nothing is).
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        if self.ring.unsubmitted() == 0 {
            return Ok(());
        }
        self.ring.enter(false, None)
    }
}

#[cfg(test)]
mod tests;
