//! The reactor's vocabulary: readiness bits, the keys of registrations,
//! the directions a task waits in, and stamped readiness events.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use super::uring;

/// A set of readiness bits.
#[derive(Copy, Clone, PartialEq, Eq, Default)]
pub struct Ready(pub(super) u8);

impl Ready {
    /// No readiness.
    pub const EMPTY: Ready = Ready(0);
    /// A read may make progress.
    pub const READABLE: Ready = Ready(1);
    /// A write may make progress.
    pub const WRITABLE: Ready = Ready(1 << 1);
    /// The peer will send no more data (EOF / `EPOLLRDHUP` / `EPOLLHUP`).
    pub const READ_CLOSED: Ready = Ready(1 << 2);
    /// Writes can no longer succeed (`EPOLLHUP`, or `EPOLLERR` with `EPOLLOUT`).
    pub const WRITE_CLOSED: Ready = Ready(1 << 3);
    /// An error is pending on the fd (`EPOLLERR`); relevant to both directions.
    pub const ERROR: Ready = Ready(1 << 4);

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether all bits of `other` are set.
    pub const fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    pub(super) const fn without(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl BitOrAssign for Ready {
    fn bitor_assign(&mut self, rhs: Ready) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Ready {
    type Output = Ready;
    fn bitand(self, rhs: Ready) -> Ready {
        Ready(self.0 & rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Ready, &str); 5] = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        let mut set = f.debug_set();
        for (bit, name) in NAMES {
            if self.contains(bit) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// Handle to a registration; stale once deregistered (generation check).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct IoKey {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl IoKey {
    pub(super) fn token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    pub(super) fn from_token(token: u64) -> IoKey {
        IoKey {
            index: token as u32,
            generation: (token >> 32) as u32,
        }
    }
}

/// An I/O direction a task can wait on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Waiting to read.
    Read,
    /// Waiting to write.
    Write,
}

impl Direction {
    /// This direction's bit in `ScheduledIo::polled`.
    pub(super) const fn bit(self) -> u8 {
        match self {
            Direction::Read => 1,
            Direction::Write => 2,
        }
    }

    /// The io_uring poll that watches this direction.
    pub(super) const fn poll_kind(self) -> uring::OpKind {
        match self {
            Direction::Read => uring::OpKind::PollRead,
            Direction::Write => uring::OpKind::PollWrite,
        }
    }

    /// Bits that let an operation in this direction make progress (even if
    /// only to report EOF or an error).
    pub(super) const fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready(Ready::READABLE.0 | Ready::READ_CLOSED.0 | Ready::ERROR.0),
            Direction::Write => Ready(Ready::WRITABLE.0 | Ready::WRITE_CLOSED.0 | Ready::ERROR.0),
        }
    }
}

/// Readiness observed by [`Reactor::poll_ready`], stamped with the entry's tick.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ReadyEvent {
    /// The entry's tick when the readiness was observed.
    pub tick: u32,
    /// The readiness bits relevant to the polled direction.
    pub ready: Ready,
}
