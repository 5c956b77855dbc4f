//! The io_uring backend of the reactor: the same readiness model as epoll,
//! carried by the ring, plus completion-based stream I/O.
//!
//! # Readiness through the ring
//!
//! Every registered fd gets one multishot `POLL_ADD` for `EPOLLIN |
//! EPOLLOUT | EPOLLRDHUP`. A multishot poll posts a completion on each
//! wakeup of the fd's wait queue, which is epoll's edge-triggered
//! contract: the reactor's readiness stamps (see the parent module) work
//! unchanged, and so does everything built on [`Async`](crate::io::Async).
//! A poll the kernel ends (a completion without `CQE_F_MORE`) is armed
//! again. Registering costs no syscall (the `POLL_ADD` rides on the next
//! `io_uring_enter`); deregistering submits its `POLL_REMOVE` at once, so
//! the ring drops its reference to the file before the caller closes the
//! fd (a listener's port is free again when `drop` returns).
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
//! 32 | index`) with the operation's kind in the index's top two bits, so
//! a slot index stays below 2^30 under this backend. [`WAKER_TOKEN`]
//! (all ones) is the eventfd's poll; [`IGNORED_TOKEN`] and a removal's
//! token are reserved (their kind bits are `0b11`, which no operation has).

pub(crate) mod sys;

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

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

/// What a completion is about, from the top bits of its token's index.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// The registration's multishot poll.
    Poll = 0,
    /// Its multishot receive.
    Recv = 1,
    /// Its send in flight.
    Send = 2,
}

const KIND_SHIFT: u32 = 30;
/// Slot indices this backend can encode.
pub(crate) const MAX_INDEX: u32 = (1 << KIND_SHIFT) - 1;

/// `token` (a registration's) tagged with `kind`.
pub(crate) fn tag(token: u64, kind: OpKind) -> u64 {
    token | ((kind as u64) << KIND_SHIFT)
}

/// Splits a completion's `user_data` into the registration's token and
/// the kind; `None` for the reserved tokens.
pub(crate) fn untag(user_data: u64) -> Option<(u64, OpKind)> {
    if matches!(user_data, WAKER_TOKEN | IGNORED_TOKEN | REMOVE_TOKEN) {
        return None;
    }
    let kind = match (user_data >> KIND_SHIFT) & 0b11 {
        0 => OpKind::Poll,
        1 => OpKind::Recv,
        2 => OpKind::Send,
        _ => return None,
    };
    Some((user_data & !(0b11 << KIND_SHIFT), kind))
}

/// The poll mask every registration watches (as epoll's `Interest::BOTH`;
/// errors and hang-ups are always reported).
const POLL_MASK: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP) as u32;

/// The ring, as the reactor drives it.
pub(crate) struct Uring {
    ring: Ring,
    /// Completions reaped outside `wait` (by `poll_remove`), handed out by
    /// the next `wait`.
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
            ring: Ring::new(SQ_ENTRIES)?,
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

    /// Queues a multishot poll of `fd` for [`POLL_MASK`] (the eventfd's
    /// [`WAKER_TOKEN`]: `EPOLLIN` alone, so draining it, a writable edge,
    /// posts nothing), completing with `user_data`.
    pub(crate) fn poll_add(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        let mask = if user_data == WAKER_TOKEN {
            libc::EPOLLIN as u32
        } else {
            POLL_MASK
        };
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
    ///
    /// A poll that is delivering an event when the removal arrives makes
    /// it fail with `EALREADY` and stays armed: the removal is retried
    /// (the `enter` that reported it ran the delivery). `ENOENT` means the
    /// poll had already ended. Other completions reaped on the way are
    /// kept for the next [`wait`](Self::wait).
    pub(crate) fn poll_remove(&mut self, user_data: u64) -> io::Result<()> {
        for _ in 0..REMOVE_ATTEMPTS {
            let sqe = Sqe {
                opcode: sys::OP_POLL_REMOVE,
                addr: user_data,
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
                Some(errno) => return Err(io::Error::from_raw_os_error(errno)),
            }
        }
        Err(io::Error::other(
            "io_uring: a poll could not be removed (the kernel kept answering EALREADY)",
        ))
    }

    /// Submits what is queued and collects completions into `out`.
    /// `Some(ZERO)` does not block, and makes no syscall when nothing is
    /// queued and the kernel flags nothing waiting; otherwise blocks until
    /// a completion or `timeout` (`None`: no limit).
    pub(crate) fn wait(&mut self, out: &mut Vec<Cqe>, timeout: Option<Duration>) -> io::Result<()> {
        out.clear();
        out.append(&mut self.stashed);
        let blocking = timeout != Some(Duration::ZERO) && out.is_empty();
        let idle = self.ring.unsubmitted() == 0 && !self.ring.needs_enter();
        if blocking || !idle {
            // Already-posted completions end a blocking wait at once.
            self.ring.enter(blocking, timeout)?;
        }
        self.ring.reap(|cqe| out.push(cqe));
        Ok(())
    }

    /// Submits what is queued without waiting for anything.
    #[cfg(test)]
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        if self.ring.unsubmitted() == 0 {
            return Ok(());
        }
        self.ring.enter(false, None)
    }
}

#[cfg(test)]
mod tests;
