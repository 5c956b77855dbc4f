//! The io_uring ABI and the ring's shared memory: with `buf_ring.rs` (the
//! provided buffers), the io_uring backend's `unsafe`.
//!
//! The kernel and this process share three mappings: the submission ring
//! (head, tail, flags, and an index array), the completion ring (head,
//! tail, and the completion entries) and the submission entries. The
//! protocol, from `io_uring_setup(2)` and liburing:
//!
//! - We own the SQ tail and the CQ head; the kernel owns the SQ head and
//!   the CQ tail. Each side publishes its index with a release store and
//!   reads the other's with an acquire load, so an entry written before a
//!   tail store is visible to whoever loads that tail.
//! - An SQE slot is ours to write from the moment `tail - head < entries`
//!   until we publish the tail past it; the kernel copies it out at
//!   submission (`IORING_FEAT_SUBMIT_STABLE`), so the slot, and anything
//!   the SQE points at *only for submission*, may be reused after
//!   `io_uring_enter` returns. Memory an operation reads or writes while
//!   in flight (a send's bytes, a provided buffer) must live until its
//!   completion: that is the callers' contract, stated on [`Ring::push`].
//! - A CQE is ours to read between our head and the kernel's tail; storing
//!   the head past it hands the slot back.
//!
//! Layouts are `#[repr(C)]` copies of `<linux/io_uring.h>`, with their
//! sizes asserted at compile time.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::buf_ring::BufRing;
use crate::reactor::epoll::cvt;

// Opcodes (`enum io_uring_op`).
pub(crate) const OP_POLL_ADD: u8 = 6;
pub(crate) const OP_POLL_REMOVE: u8 = 7;
pub(crate) const OP_ASYNC_CANCEL: u8 = 14;
pub(crate) const OP_SEND: u8 = 26;
pub(crate) const OP_RECV: u8 = 27;

// `sqe.flags`.
pub(crate) const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
pub(crate) const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

// `sqe.len` of a poll, `sqe.ioprio` of a receive, `sqe.op_flags` of a
// cancel.
pub(crate) const POLL_ADD_MULTI: u32 = 1 << 0;
pub(crate) const RECV_MULTISHOT: u16 = 1 << 1;
pub(crate) const ASYNC_CANCEL_ALL: u32 = 1 << 0;
pub(crate) const ASYNC_CANCEL_ANY: u32 = 1 << 2;

// `cqe.flags`.
pub(crate) const CQE_F_BUFFER: u32 = 1 << 0;
pub(crate) const CQE_F_MORE: u32 = 1 << 1;
/// The upper 16 bits of a `CQE_F_BUFFER` completion's flags: the buffer id.
pub(crate) const CQE_BUFFER_SHIFT: u32 = 16;

// Setup flags.
const SETUP_CQSIZE: u32 = 1 << 3;
const SETUP_CLAMP: u32 = 1 << 4;
const SETUP_COOP_TASKRUN: u32 = 1 << 8;
const SETUP_TASKRUN_FLAG: u32 = 1 << 9;
const SETUP_SINGLE_ISSUER: u32 = 1 << 12;
const SETUP_DEFER_TASKRUN: u32 = 1 << 13;

// Features the backend relies on (`io_uring_params.features`).
const FEAT_SINGLE_MMAP: u32 = 1 << 0;
const FEAT_NODROP: u32 = 1 << 1;
const FEAT_SUBMIT_STABLE: u32 = 1 << 2;
const FEAT_EXT_ARG: u32 = 1 << 8;

// `sq_ring->flags`.
const SQ_CQ_OVERFLOW: u32 = 1 << 1;
const SQ_TASKRUN: u32 = 1 << 2;

// `io_uring_enter` flags.
const ENTER_GETEVENTS: u32 = 1 << 0;
const ENTER_EXT_ARG: u32 = 1 << 3;

// `io_uring_register` opcodes.
const REGISTER_PBUF_RING: u32 = 22;

const OFF_SQ_RING: i64 = 0;
const OFF_SQES: i64 = 0x1000_0000;

#[repr(C)]
#[derive(Default)]
struct SqringOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqringOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqringOffsets,
    cq_off: CqringOffsets,
}

/// A submission queue entry (`struct io_uring_sqe`, 64 bytes), with the
/// unions flattened to the members this backend uses.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Sqe {
    pub(crate) opcode: u8,
    pub(crate) flags: u8,
    /// A receive's `RECV_*` flags.
    pub(crate) ioprio: u16,
    pub(crate) fd: i32,
    pub(crate) off: u64,
    /// A buffer's address, or the target `user_data` of a remove/cancel.
    pub(crate) addr: u64,
    pub(crate) len: u32,
    /// `poll32_events`, `msg_flags` or `cancel_flags`, by opcode.
    pub(crate) op_flags: u32,
    pub(crate) user_data: u64,
    /// `buf_group` of a receive with `IOSQE_BUFFER_SELECT`.
    pub(crate) buf_group: u16,
    pub(crate) personality: u16,
    pub(crate) splice_fd_in: i32,
    pub(crate) addr3: u64,
    pub(crate) pad: u64,
}

/// A completion queue entry (`struct io_uring_cqe`, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cqe {
    pub(crate) user_data: u64,
    /// The operation's result: a count, a poll mask, or `-errno`.
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    pad: u16,
    resv: [u64; 3],
}

#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

const _: () = {
    assert!(size_of::<Params>() == 120);
    assert!(size_of::<Sqe>() == 64);
    assert!(size_of::<Cqe>() == 16);
    assert!(size_of::<BufReg>() == 40);
    assert!(size_of::<GeteventsArg>() == 24);
};

/// An owned `mmap` of the ring fd, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: &OwnedFd, len: usize, offset: i64) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of the ring fd at a kernel-defined
        // offset; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    /// A pointer `offset` bytes into the mapping, checked against its
    /// length (the offsets come from the kernel, but a bad one must not
    /// become an out-of-bounds pointer).
    fn at<T>(&self, offset: u32, count: usize) -> io::Result<NonNull<T>> {
        let end = (offset as usize).checked_add(count * size_of::<T>());
        if end.is_none_or(|end| end > self.len)
            || !(offset as usize).is_multiple_of(align_of::<T>())
        {
            return Err(io::Error::other("io_uring ring offset out of bounds"));
        }
        // SAFETY: `offset + count * size_of::<T>() <= len` was just checked,
        // so the result stays inside the mapping.
        Ok(unsafe { self.ptr.add(offset as usize) }.cast())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly one mapping made in `new`, and no
        // pointer into it outlives the `Ring` that owns this `Mapping`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// An io_uring instance: its fd, its mappings and our side of both rings.
///
/// Single-threaded (`!Send`, through its raw pointers): with
/// `IORING_SETUP_SINGLE_ISSUER` only the creating thread may submit.
pub(crate) struct Ring {
    // Pointers into `rings`/`sqe_map`, valid while they are.
    sq_head: NonNull<AtomicU32>,
    sq_tail: NonNull<AtomicU32>,
    sq_flags: NonNull<AtomicU32>,
    sq_mask: u32,
    sq_entries: u32,
    sqes: NonNull<Sqe>,
    /// Our SQ tail, ahead of the published one by the entries pushed since
    /// the last `enter`.
    sq_local_tail: u32,
    cq_head: NonNull<AtomicU32>,
    cq_tail: NonNull<AtomicU32>,
    cq_mask: u32,
    cqes: NonNull<Cqe>,
    /// Deferred task running: completions are posted only inside `enter`,
    /// and the kernel flags `SQ_TASKRUN` when some are waiting.
    deferred: bool,
    _sqe_map: Mapping,
    _rings: Mapping,
    fd: OwnedFd,
}

impl Ring {
    /// Sets up a ring of `entries` submission slots and `cq_entries`
    /// completion slots, with deferred task running where the kernel has
    /// it (6.1+), else cooperative. A burst past the completion ring's
    /// size is kept by the kernel (`NODROP`) but ends multishot
    /// operations (the reactor arms them again).
    ///
    /// # Errors
    /// `io_uring_setup`'s error (`ENOSYS`, or `EPERM` where a seccomp
    /// filter or `kernel.io_uring_disabled` forbids it), or `Unsupported`
    /// if the kernel lacks a feature the backend relies on.
    pub(crate) fn new(entries: u32, cq_entries: u32) -> io::Result<Ring> {
        let preferred = [
            SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN | SETUP_TASKRUN_FLAG,
            SETUP_COOP_TASKRUN | SETUP_TASKRUN_FLAG,
            0,
        ];
        let mut last = None;
        for flags in preferred {
            let mut params = Params {
                flags: flags | SETUP_CLAMP | SETUP_CQSIZE,
                cq_entries,
                ..Params::default()
            };
            // SAFETY: `params` is a live, writable io_uring_params that the
            // kernel reads and fills in; it keeps no pointer to it.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_setup,
                    entries,
                    &mut params as *mut Params,
                )
            };
            match cvt(ret as libc::c_int) {
                // SAFETY: a fresh fd from io_uring_setup, owned by nobody else.
                Ok(fd) => return Ring::map(unsafe { OwnedFd::from_raw_fd(fd) }, &params),
                // An older kernel rejects flags it does not know: try fewer.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
    }

    fn map(fd: OwnedFd, p: &Params) -> io::Result<Ring> {
        let needed = FEAT_SINGLE_MMAP | FEAT_NODROP | FEAT_SUBMIT_STABLE | FEAT_EXT_ARG;
        if p.features & needed != needed {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring: the kernel lacks SINGLE_MMAP, NODROP, SUBMIT_STABLE or EXT_ARG (5.11+)",
            ));
        }
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * size_of::<u32>();
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>();
        // One mapping holds both rings (FEAT_SINGLE_MMAP).
        let rings = Mapping::new(&fd, sq_len.max(cq_len), OFF_SQ_RING)?;
        let sqe_map = Mapping::new(&fd, p.sq_entries as usize * size_of::<Sqe>(), OFF_SQES)?;
        let read_u32 = |offset: u32| -> io::Result<u32> {
            let ptr = rings.at::<u32>(offset, 1)?;
            // SAFETY: in bounds and aligned (`at`), initialized by the kernel.
            Ok(unsafe { ptr.read() })
        };
        let sq_mask = read_u32(p.sq_off.ring_mask)?;
        let cq_mask = read_u32(p.cq_off.ring_mask)?;
        let array = rings.at::<u32>(p.sq_off.array, p.sq_entries as usize)?;
        for i in 0..p.sq_entries {
            // SAFETY: `array` has `sq_entries` slots (checked by `at`), and
            // the kernel reads it only for submitted entries: none yet.
            // Slot i always names SQE i, so it is written once, here.
            unsafe { array.add(i as usize).write(i) };
        }
        let deferred = p.flags & SETUP_DEFER_TASKRUN != 0;
        let sq_head = rings.at::<AtomicU32>(p.sq_off.head, 1)?;
        let sq_tail = rings.at::<AtomicU32>(p.sq_off.tail, 1)?;
        // SAFETY: in bounds and aligned; only we store the SQ tail.
        let sq_local_tail = unsafe { sq_tail.as_ref() }.load(Ordering::Relaxed);
        Ok(Ring {
            sq_head,
            sq_tail,
            sq_flags: rings.at(p.sq_off.flags, 1)?,
            sq_mask,
            sq_entries: p.sq_entries,
            sqes: sqe_map.at(0, p.sq_entries as usize)?,
            sq_local_tail,
            cq_head: rings.at(p.cq_off.head, 1)?,
            cq_tail: rings.at(p.cq_off.tail, 1)?,
            cq_mask,
            cqes: rings.at(p.cq_off.cqes, p.cq_entries as usize)?,
            deferred,
            _sqe_map: sqe_map,
            _rings: rings,
            fd,
        })
    }

    fn atomic(&self, ptr: NonNull<AtomicU32>) -> &AtomicU32 {
        // SAFETY: every pointer passed here points into `_rings`, which
        // lives as long as `self`, and was checked in bounds and aligned.
        // The kernel accesses these words atomically too.
        unsafe { ptr.as_ref() }
    }

    /// Entries pushed and not yet handed to the kernel.
    pub(crate) fn unsubmitted(&self) -> u32 {
        self.sq_local_tail
            .wrapping_sub(self.atomic(self.sq_head).load(Ordering::Acquire))
    }

    /// Queues `sqe` for the next [`enter`](Self::enter). Returns `false`
    /// (and queues nothing) if the submission ring is full: submit first.
    ///
    /// # Safety
    /// Every pointer in `sqe` (a buffer's `addr`) must stay valid, and not
    /// be otherwise accessed in a conflicting way, until the operation's
    /// last completion has been reaped ([`Cqe`] without `CQE_F_MORE`), or
    /// until the ring is dropped.
    pub(crate) unsafe fn push(&mut self, sqe: &Sqe) -> bool {
        if self.unsubmitted() >= self.sq_entries {
            return false;
        }
        let index = self.sq_local_tail & self.sq_mask;
        // SAFETY: `index < sq_entries` (the mask), so the slot is inside
        // `sqes`; the kernel no longer reads it (it is between its head and
        // our unpublished tail).
        unsafe { self.sqes.add(index as usize).write(*sqe) };
        self.sq_local_tail = self.sq_local_tail.wrapping_add(1);
        true
    }

    /// Whether the kernel has completions for us that an `enter` would
    /// post (deferred task running), or posted ones wait in the overflow
    /// list: an `enter` is needed even with nothing to submit.
    pub(crate) fn needs_enter(&self) -> bool {
        let flags = self.atomic(self.sq_flags).load(Ordering::Relaxed);
        flags & (SQ_TASKRUN | SQ_CQ_OVERFLOW) != 0
    }

    /// Submits every queued entry and, with `wait`, blocks until at least
    /// one completion is posted or `timeout` passes (`None`: no limit).
    /// Without `wait`, still runs deferred completions (`GETEVENTS` with a
    /// minimum of 0). `EINTR` and the timeout's `ETIME` are not errors.
    pub(crate) fn enter(&mut self, wait: bool, timeout: Option<Duration>) -> io::Result<()> {
        self.atomic(self.sq_tail)
            .store(self.sq_local_tail, Ordering::Release);
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
        });
        let arg = GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts
                .as_ref()
                .map_or(0, |ts| ts as *const libc::timespec as u64),
        };
        let to_submit = self.unsubmitted();
        // SAFETY: `arg` and the timespec it points to are live for the whole
        // call; the kernel copies both and keeps no pointer. The SQEs being
        // submitted were written by `push`, whose contract covers the memory
        // they point to.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd.as_raw_fd(),
                to_submit,
                u32::from(wait),
                ENTER_GETEVENTS | ENTER_EXT_ARG,
                &arg as *const GeteventsArg,
                size_of::<GeteventsArg>(),
            )
        };
        match cvt(ret as libc::c_int) {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                // Interrupted or timed out: the caller's loop goes on. EBUSY:
                // the completion ring is full (NODROP kept the overflow):
                // reap, then enter again. EAGAIN: the kernel could not
                // allocate for a submission now; the entries stay queued.
                Some(libc::EINTR | libc::ETIME | libc::EBUSY | libc::EAGAIN) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Calls `f` on every posted completion, oldest first, then hands
    /// their slots back to the kernel. Returns how many there were.
    pub(crate) fn reap(&mut self, mut f: impl FnMut(Cqe)) -> usize {
        let head = self.atomic(self.cq_head).load(Ordering::Relaxed);
        let tail = self.atomic(self.cq_tail).load(Ordering::Acquire);
        let mut at = head;
        while at != tail {
            // SAFETY: `at & cq_mask` indexes inside `cqes`; entries between
            // our head and the kernel's tail (acquire-loaded above) are
            // written and ours until the head moves past them.
            let cqe = unsafe { self.cqes.add((at & self.cq_mask) as usize).read() };
            at = at.wrapping_add(1);
            f(cqe);
        }
        self.atomic(self.cq_head).store(tail, Ordering::Release);
        tail.wrapping_sub(head) as usize
    }

    /// Registers `ring` as provided-buffer group `group`.
    pub(crate) fn register_buf_ring(&self, ring: &BufRing, group: u16) -> io::Result<()> {
        let reg = BufReg {
            ring_addr: ring.entries_addr(),
            ring_entries: ring.len(),
            bgid: group,
            ..BufReg::default()
        };
        // SAFETY: `reg` is live for the call; the ring memory it names is
        // page-aligned, `len` entries long, and owned by the `BufRing`,
        // which the reactor drops only after this ring (field order).
        let ret = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.fd.as_raw_fd(),
                REGISTER_PBUF_RING,
                &reg as *const BufReg,
                1,
            )
        };
        cvt(ret as libc::c_int).map(drop)
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("fd", &self.fd)
            .field("sq_entries", &self.sq_entries)
            .field("deferred", &self.deferred)
            .finish_non_exhaustive()
    }
}
