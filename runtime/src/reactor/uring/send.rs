//! Completion-based sends for byte streams: writes are copied into the
//! stream's buffer and sent by the ring, one `SEND` in flight per stream.
//!
//! A write copies its bytes into `pending` and returns at once (up to
//! [`MAX_UNSENT`] bytes not yet sent: past that a write waits for room).
//! When no `SEND` is in flight, `pending` becomes `in_flight` and a `SEND`
//! of it is queued; it reaches the kernel with the next `io_uring_enter`,
//! together with every other stream's, so a tick's writes cost one
//! syscall in all. `in_flight` is never touched while its `SEND` is in
//! flight (the kernel reads it), which is why the bytes written meanwhile
//! collect in a second buffer. Bytes go out in the order written: a short
//! send is followed by a `SEND` of the rest before anything else.
//!
//! A failed send (`EPIPE`, `ECONNRESET`) drops what was not sent and
//! sticks: every later write and flush reports it. A flush waits until
//! nothing is unsent. A write shutdown waits too: the FIN must follow the
//! bytes. A stream dropped with bytes unsent keeps going without its
//! owner (the reactor holds a duplicate of its fd) until they are sent or
//! fail.

use std::io::{self, IoSlice};

/// Bytes a stream may hold unsent before a write waits.
pub(crate) const MAX_UNSENT: usize = 256 * 1024;

/// One stream's send side.
#[derive(Debug, Default)]
pub(crate) struct SendState {
    /// The bytes of the `SEND` in flight; `sent` of them are done.
    in_flight: Vec<u8>,
    sent: usize,
    /// A `SEND` is in flight.
    busy: bool,
    /// Bytes written since the `SEND` in flight was queued.
    pending: Vec<u8>,
    /// The errno of a failed send: sticky.
    error: Option<i32>,
    /// A write shutdown waits for the bytes.
    shutdown_pending: bool,
}

/// A `SEND` to queue: `len` bytes at `ptr`, which stay valid until its
/// completion (they are `in_flight`, untouched until then).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SendOp {
    pub(crate) ptr: *const u8,
    pub(crate) len: usize,
}

/// What the reactor does after a send completion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AfterSend {
    /// The next `SEND` to queue, if bytes remain.
    pub(crate) next: Option<SendOp>,
    /// Everything is sent (or failed): shut the write side down now, if
    /// that was asked for.
    pub(crate) shutdown_now: bool,
}

impl SendState {
    /// Bytes written and not yet sent.
    pub(crate) fn unsent(&self) -> usize {
        self.in_flight.len() - self.sent + self.pending.len()
    }

    /// Whether a write would not wait: there is room, or a send failed
    /// (the write reports it).
    pub(crate) fn has_room(&self) -> bool {
        self.error.is_some() || self.unsent() < MAX_UNSENT
    }

    /// Whether nothing is left to send (or it failed).
    pub(crate) fn is_idle(&self) -> bool {
        !self.busy && self.pending.is_empty()
    }

    /// The error a send failed with: every later write and flush reports it.
    pub(crate) fn sticky_error(&self) -> Option<io::Error> {
        self.error.map(io::Error::from_raw_os_error)
    }

    /// Copies as much of `bufs` as there is room for. `Ok(0)` with a
    /// non-empty `bufs`: no room, wait for a completion. The returned op,
    /// if any, must be queued now.
    pub(crate) fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<(usize, Option<SendOp>)> {
        if let Some(e) = self.sticky_error() {
            return Err(e);
        }
        let mut room = MAX_UNSENT.saturating_sub(self.unsent());
        let mut taken = 0;
        for buf in bufs {
            let n = buf.len().min(room);
            self.pending.extend_from_slice(&buf[..n]);
            taken += n;
            room -= n;
            if room == 0 {
                break;
            }
        }
        Ok((taken, self.start()))
    }

    /// Starts a `SEND` of `pending` if none is in flight.
    fn start(&mut self) -> Option<SendOp> {
        if self.busy || self.pending.is_empty() {
            return None;
        }
        // The old in-flight buffer is done: reuse its allocation.
        self.in_flight.clear();
        std::mem::swap(&mut self.in_flight, &mut self.pending);
        self.sent = 0;
        self.busy = true;
        Some(self.op())
    }

    fn op(&self) -> SendOp {
        let rest = &self.in_flight[self.sent..];
        SendOp {
            ptr: rest.as_ptr(),
            len: rest.len(),
        }
    }

    /// Records the completion of the `SEND` in flight (`res`: bytes sent
    /// or `-errno`).
    pub(crate) fn complete(&mut self, res: i32) -> AfterSend {
        self.busy = false;
        let next = if res < 0 {
            self.error = Some(-res);
            self.in_flight.clear();
            self.pending.clear();
            self.sent = 0;
            None
        } else {
            self.sent += res as usize;
            if self.sent < self.in_flight.len() {
                // A short send: the rest goes first.
                self.busy = true;
                Some(self.op())
            } else {
                self.start()
            }
        };
        let shutdown_now = self.shutdown_pending && self.is_idle();
        if shutdown_now {
            self.shutdown_pending = false;
        }
        AfterSend { next, shutdown_now }
    }

    /// Whether a flush is done: `Some(Ok)` when nothing is unsent, the
    /// sticky error if a send failed, `None` to wait.
    pub(crate) fn flushed(&self) -> Option<io::Result<()>> {
        match self.sticky_error() {
            Some(e) => Some(Err(e)),
            None if self.is_idle() => Some(Ok(())),
            None => None,
        }
    }

    /// A write shutdown: `true` if it must wait for the bytes (it is then
    /// done by the completion that sends the last of them).
    pub(crate) fn defer_shutdown(&mut self) -> bool {
        if self.is_idle() {
            return false;
        }
        self.shutdown_pending = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(state: &mut SendState, bytes: &[u8]) -> (usize, Option<SendOp>) {
        state.write(&[IoSlice::new(bytes)]).unwrap()
    }

    fn bytes(op: &SendOp) -> Vec<u8> {
        // SAFETY: test only: the op's bytes are `in_flight`, alive and
        // unchanged until the next call on the state.
        unsafe { std::slice::from_raw_parts(op.ptr, op.len) }.to_vec()
    }

    #[test]
    fn one_send_in_flight_and_the_rest_batched_in_order() {
        let mut s = SendState::default();
        let (n, op) = written(&mut s, b"ab");
        assert_eq!(n, 2);
        let op = op.expect("first write starts a send");
        assert_eq!(bytes(&op), b"ab");
        // In flight: later writes wait in `pending`, batched.
        assert_eq!(written(&mut s, b"cd"), (2, None));
        assert_eq!(written(&mut s, b"ef"), (2, None));
        assert_eq!(s.unsent(), 6);
        assert!(s.flushed().is_none());
        // A short send: the rest of "ab" first, then "cdef".
        let after = s.complete(1);
        assert_eq!(bytes(after.next.as_ref().unwrap()), b"b");
        let after = s.complete(1);
        assert_eq!(bytes(after.next.as_ref().unwrap()), b"cdef");
        let after = s.complete(4);
        assert_eq!(
            after,
            AfterSend {
                next: None,
                shutdown_now: false
            }
        );
        assert_eq!(s.unsent(), 0);
        assert!(s.flushed().unwrap().is_ok());
    }

    #[test]
    fn a_write_takes_only_the_room_left() {
        let mut s = SendState::default();
        let big = vec![1u8; MAX_UNSENT + 10];
        let (n, op) = s.write(&[IoSlice::new(&big)]).unwrap();
        assert_eq!(n, MAX_UNSENT);
        assert!(op.is_some());
        assert_eq!(written(&mut s, b"x"), (0, None), "no room: wait");
        s.complete(10);
        assert_eq!(written(&mut s, &big).0, 10);
    }

    #[test]
    fn a_failed_send_sticks_and_drops_the_unsent_bytes() {
        let mut s = SendState::default();
        written(&mut s, b"ab");
        written(&mut s, b"cd");
        let after = s.complete(-libc::EPIPE);
        assert_eq!(after.next, None);
        assert_eq!(s.unsent(), 0);
        for _ in 0..2 {
            let err = s.write(&[IoSlice::new(b"x")]).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
            let err = s.flushed().unwrap().unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
        }
    }

    #[test]
    fn a_write_shutdown_waits_for_the_bytes() {
        let mut s = SendState::default();
        assert!(!s.defer_shutdown(), "nothing unsent: at once");
        written(&mut s, b"ab");
        written(&mut s, b"cd");
        assert!(s.defer_shutdown());
        assert!(!s.complete(2).shutdown_now, "\"cd\" still to send");
        assert!(s.complete(2).shutdown_now);
    }
}
