//! Completion-based receives for byte streams: a multishot `RECV` per
//! stream picks buffers from the runtime's provided-buffer ring, and reads
//! copy out of them.
//!
//! One `RECV` with `RECV_MULTISHOT | IOSQE_BUFFER_SELECT` stays armed per
//! stream from its first read: the kernel posts a completion for each
//! chunk that arrives, naming the buffer it filled, and no read makes a
//! syscall. The filled buffers queue on the stream ([`RecvState`]) until
//! a read copies them out; a buffer is handed back to the ring as soon as
//! it is empty. So a dropped read loses nothing (the bytes wait in the
//! queue), and the kernel never writes into memory the stream owns: only
//! into the ring's buffers, which live as long as the ring.
//!
//! The multishot receive ends (a completion without `CQE_F_MORE`) at end
//! of stream (`0`), on an error, when the ring ran out of buffers, or when
//! the reactor cancelled it because the stream's queue grew past
//! [`MAX_QUEUED`] buffers (a reader that does not keep up must not take
//! every buffer from the other streams; the next read that finds the
//! queue empty arms it again). Out of buffers (`ENOBUFS`: many streams
//! hold full queues), the stream is *starved*: its next read falls back
//! to readiness and a `recv` syscall into the caller's memory, so no
//! stream waits for another's reader; the read after that tries the ring
//! again.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;

use super::buf_ring::BufRing;
use super::sys::{CQE_BUFFER_SHIFT, CQE_F_BUFFER, CQE_F_MORE, Cqe};

/// Buffers in the ring: a power of two.
pub(crate) const RING_BUFFERS: u16 = 1024;
/// Bytes per buffer.
pub(crate) const BUFFER_SIZE: u32 = 4096;
/// The provided-buffer group every stream receives from.
pub(crate) const BUFFER_GROUP: u16 = 0;
/// Filled buffers one stream may hold before its receive is cancelled.
pub(crate) const MAX_QUEUED: usize = 8;

/// Where a read copies to: initialized or uninitialized memory.
pub(crate) trait ReadBuf {
    fn capacity(&self) -> usize;
    /// Copies `src` to `at..at + src.len()`.
    fn fill(&mut self, at: usize, src: &[u8]);
}

impl ReadBuf for [u8] {
    fn capacity(&self) -> usize {
        self.len()
    }
    fn fill(&mut self, at: usize, src: &[u8]) {
        self[at..at + src.len()].copy_from_slice(src);
    }
}

impl ReadBuf for [MaybeUninit<u8>] {
    fn capacity(&self) -> usize {
        self.len()
    }
    fn fill(&mut self, at: usize, src: &[u8]) {
        // `write_copy_of_slice` is newer than the MSRV; this compiles to
        // the same copy.
        for (dst, &byte) in self[at..at + src.len()].iter_mut().zip(src) {
            dst.write(byte);
        }
    }
}

/// How the stream's receiving ended, after its queued bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum End {
    Eof,
    Error(i32),
}

/// One stream's receive side.
#[derive(Debug, Default)]
pub(crate) struct RecvState {
    /// A multishot receive is in flight (until its last completion).
    armed: bool,
    /// Its cancellation was requested (the queue is full).
    cancelling: bool,
    /// Filled buffers, oldest first: `(buffer id, length)`.
    queue: VecDeque<(u16, u32)>,
    /// Bytes of the front buffer already read.
    offset: usize,
    end: Option<End>,
    /// The ring had no buffer for the last receive.
    starved: bool,
}

/// What the reactor does after a receive completion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AfterRecv {
    /// Wake the reader: bytes, end of stream or an error arrived, or the
    /// receive ended for want of buffers and must be armed again.
    pub(crate) wake: bool,
    /// Cancel the receive: the queue is full.
    pub(crate) cancel: bool,
}

impl RecvState {
    /// Whether a multishot receive must be armed before the reader waits.
    pub(crate) fn needs_arming(&self) -> bool {
        !self.armed && self.end.is_none()
    }

    /// The ring ran out of buffers for this stream's receive: `true` once,
    /// telling the caller to read this time by readiness and a syscall
    /// (nothing is queued and no receive is in flight, so the order of
    /// the bytes holds).
    pub(crate) fn take_starved(&mut self) -> bool {
        let starved = self.starved && !self.armed && self.queue.is_empty();
        if starved {
            self.starved = false;
        }
        starved
    }

    /// Marks the receive armed (its SQE is queued).
    pub(crate) fn set_armed(&mut self) {
        self.armed = true;
        self.cancelling = false;
    }

    /// Whether a read would not wait: bytes are queued, or the stream
    /// ended.
    pub(crate) fn has_news(&self) -> bool {
        !self.queue.is_empty() || self.end.is_some()
    }

    /// Whether a receive is in flight.
    pub(crate) fn is_armed(&self) -> bool {
        self.armed
    }

    /// Copies queued bytes into `dst`, handing emptied buffers back to
    /// `bufs`. `None`: nothing queued and the stream has not ended, so the
    /// reader must wait. `Some(Ok(0))`: end of stream (or an empty `dst`);
    /// an error is reported once, then end of stream.
    pub(crate) fn read<B: ReadBuf + ?Sized>(
        &mut self,
        bufs: &mut BufRing,
        dst: &mut B,
    ) -> Option<io::Result<usize>> {
        if dst.capacity() == 0 {
            return Some(Ok(0));
        }
        let mut copied = 0;
        while let Some(&(bid, len)) = self.queue.front() {
            let src = &bufs.filled(bid, len as usize)[self.offset..];
            let n = src.len().min(dst.capacity() - copied);
            dst.fill(copied, &src[..n]);
            copied += n;
            self.offset += n;
            if self.offset == len as usize {
                self.queue.pop_front();
                self.offset = 0;
                bufs.give(bid);
            }
            if copied == dst.capacity() {
                break;
            }
        }
        if copied > 0 {
            return Some(Ok(copied));
        }
        match self.end? {
            End::Eof => Some(Ok(0)),
            End::Error(errno) => {
                self.end = Some(End::Eof);
                Some(Err(io::Error::from_raw_os_error(errno)))
            }
        }
    }

    /// Records a completion of this stream's receive.
    pub(crate) fn complete(&mut self, bufs: &mut BufRing, cqe: &Cqe) -> AfterRecv {
        let more = cqe.flags & CQE_F_MORE != 0;
        if !more {
            self.armed = false;
            self.cancelling = false;
        }
        let wake = match cqe.res {
            res if res > 0 => match buffer_id(cqe) {
                Some(bid) => {
                    self.queue.push_back((bid, res as u32));
                    true
                }
                None => false,
            },
            0 => {
                give_back(bufs, cqe);
                self.end = Some(End::Eof);
                true
            }
            // Out of buffers: the next read falls back to a syscall.
            res if res == -libc::ENOBUFS => {
                give_back(bufs, cqe);
                self.starved = !more;
                !more
            }
            // Cancelled by us: armed again by the next read that finds
            // the queue empty.
            res if res == -libc::ECANCELED => {
                give_back(bufs, cqe);
                !more
            }
            res => {
                give_back(bufs, cqe);
                self.end = Some(End::Error(-res));
                true
            }
        };
        let cancel = self.armed && !self.cancelling && self.queue.len() >= MAX_QUEUED;
        if cancel {
            self.cancelling = true;
        }
        AfterRecv { wake, cancel }
    }

    /// Hands every queued buffer back (the stream is going away).
    pub(crate) fn release(&mut self, bufs: &mut BufRing) {
        for (bid, _) in self.queue.drain(..) {
            bufs.give(bid);
        }
        self.offset = 0;
    }
}

/// The buffer a completion filled, if it names one.
fn buffer_id(cqe: &Cqe) -> Option<u16> {
    (cqe.flags & CQE_F_BUFFER != 0).then_some((cqe.flags >> CQE_BUFFER_SHIFT) as u16)
}

/// Hands back the buffer of a completion whose stream is gone or that
/// carried no bytes.
pub(crate) fn give_back(bufs: &mut BufRing, cqe: &Cqe) {
    if let Some(bid) = buffer_id(cqe) {
        bufs.give(bid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cqe(res: i32, bid: Option<u16>, more: bool) -> Cqe {
        let mut flags = if more { CQE_F_MORE } else { 0 };
        if let Some(bid) = bid {
            flags |= CQE_F_BUFFER | (u32::from(bid) << CQE_BUFFER_SHIFT);
        }
        Cqe {
            user_data: 0,
            res,
            flags,
        }
    }

    /// Fills buffer `bid` as the kernel would have.
    fn kernel_fills(bufs: &mut BufRing, bid: u16, bytes: &[u8]) {
        bufs.fill_as_kernel(bid, bytes);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn reads_copy_across_buffers_and_keep_what_does_not_fit() {
        let mut bufs = BufRing::new(4, 8).unwrap();
        let mut recv = RecvState::default();
        assert!(recv.needs_arming());
        recv.set_armed();
        kernel_fills(&mut bufs, 2, b"hello");
        kernel_fills(&mut bufs, 0, b" world");
        let after = recv.complete(&mut bufs, &cqe(5, Some(2), true));
        assert_eq!(
            after,
            AfterRecv {
                wake: true,
                cancel: false
            }
        );
        recv.complete(&mut bufs, &cqe(6, Some(0), true));

        let mut out = [0u8; 7];
        assert_eq!(recv.read(&mut bufs, &mut out[..]).unwrap().unwrap(), 7);
        assert_eq!(&out, b"hello w");
        let mut rest = [MaybeUninit::<u8>::uninit(); 16];
        assert_eq!(recv.read(&mut bufs, &mut rest[..]).unwrap().unwrap(), 4);
        // Nothing queued, nothing ended: the reader waits.
        assert!(recv.read(&mut bufs, &mut out[..]).is_none());
        assert!(!recv.needs_arming(), "still armed");
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn end_of_stream_comes_after_the_bytes_and_an_error_once() {
        let mut bufs = BufRing::new(4, 8).unwrap();
        let mut recv = RecvState::default();
        recv.set_armed();
        kernel_fills(&mut bufs, 1, b"ab");
        recv.complete(&mut bufs, &cqe(2, Some(1), true));
        recv.complete(&mut bufs, &cqe(0, None, false));
        let mut out = [0u8; 8];
        assert_eq!(recv.read(&mut bufs, &mut out[..]).unwrap().unwrap(), 2);
        assert_eq!(recv.read(&mut bufs, &mut out[..]).unwrap().unwrap(), 0);
        assert_eq!(recv.read(&mut bufs, &mut out[..]).unwrap().unwrap(), 0);
        assert!(!recv.needs_arming(), "an ended stream is not armed again");

        let mut recv = RecvState::default();
        recv.set_armed();
        recv.complete(&mut bufs, &cqe(-libc::ECONNRESET, None, false));
        let err = recv.read(&mut bufs, &mut out[..]).unwrap().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET));
        assert_eq!(recv.read(&mut bufs, &mut out[..]).unwrap().unwrap(), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn running_out_of_buffers_wakes_the_reader_to_arm_again() {
        let mut bufs = BufRing::new(4, 8).unwrap();
        let mut recv = RecvState::default();
        recv.set_armed();
        let after = recv.complete(&mut bufs, &cqe(-libc::ENOBUFS, None, false));
        assert!(after.wake);
        assert!(recv.take_starved(), "this read goes by syscall");
        assert!(!recv.take_starved(), "once");
        assert!(recv.needs_arming(), "the next tries the ring again");
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_full_queue_asks_for_one_cancel() {
        let mut bufs = BufRing::new(64, 8).unwrap();
        let mut recv = RecvState::default();
        recv.set_armed();
        let mut cancels = 0;
        for bid in 0..(MAX_QUEUED as u16 + 4) {
            cancels += usize::from(recv.complete(&mut bufs, &cqe(1, Some(bid), true)).cancel);
        }
        assert_eq!(cancels, 1);
        // The cancel lands: the next read that empties the queue arms again.
        recv.complete(&mut bufs, &cqe(-libc::ECANCELED, None, false));
        assert!(recv.needs_arming());
        let mut out = [0u8; 1024];
        assert_eq!(
            recv.read(&mut bufs, &mut out[..]).unwrap().unwrap(),
            MAX_QUEUED + 4
        );
    }
}
