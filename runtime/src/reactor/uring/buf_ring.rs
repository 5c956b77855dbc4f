//! The provided-buffer ring that multishot receives fill: its entries in
//! a mapping shared with the kernel, its buffers in one heap block. With
//! `sys.rs`, the only `unsafe` of the io_uring backend.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// `struct io_uring_buf`: one entry of a provided-buffer ring.
#[repr(C)]
pub(super) struct BufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    /// Entry 0's `resv` is the ring's tail (`struct io_uring_buf_ring`).
    resv: u16,
}

const _: () = assert!(size_of::<BufEntry>() == 16);

/// A provided-buffer ring: `len` buffers of `size` bytes that the kernel
/// picks from for multishot receives, and that we hand back after copying
/// out of them.
///
/// The ring entries live in an anonymous mapping (page-aligned, as the
/// kernel requires); the buffers in one heap block, reached only through
/// raw pointers: the kernel writes into any buffer it holds at any time,
/// so no Rust reference ever spans the block, only the one buffer a
/// completion handed us. Both must outlive the io_uring they are
/// registered with: `Uring` declares its ring before its buffers, so the
/// ring (and with it every operation) is gone first.
pub(crate) struct BufRing {
    entries: NonNull<BufEntry>,
    map_len: usize,
    len: u32,
    size: u32,
    /// Our tail: buffers given back, published or not.
    tail: u16,
    /// Whether `tail` moved since the last publish.
    dirty: bool,
    data: NonNull<u8>,
    data_len: usize,
}

impl BufRing {
    /// `len` (a power of two, at most 32768) buffers of `size` bytes, all
    /// handed to the kernel.
    pub(crate) fn new(len: u16, size: u32) -> io::Result<BufRing> {
        assert!(len.is_power_of_two() && len <= 1 << 15);
        let map_len = usize::from(len) * size_of::<BufEntry>();
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let entries =
            NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        let data_len = usize::from(len) * size as usize;
        let data = Box::into_raw(vec![0u8; data_len].into_boxed_slice());
        let mut ring = BufRing {
            entries,
            map_len,
            len: u32::from(len),
            size,
            tail: 0,
            dirty: false,
            // A boxed slice's pointer is never null.
            data: NonNull::new(data.cast()).expect("Box pointer"),
            data_len,
        };
        for bid in 0..len {
            ring.give(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// The address of the ring entries, for their registration.
    pub(super) fn entries_addr(&self) -> u64 {
        self.entries.as_ptr() as u64
    }

    /// How many buffers the ring has.
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    /// Buffer `bid`'s first `len` bytes, as the kernel filled them.
    ///
    /// Call only for a buffer a completion named and that was not given
    /// back since: the kernel does not touch it until [`give`](Self::give).
    pub(crate) fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(u32::from(bid) < self.len, "buffer id {bid} out of range");
        let start = usize::from(bid) * self.size as usize;
        let len = len.min(self.size as usize);
        // SAFETY: `start + len <= data_len` (bid < len, len <= size), inside
        // the live allocation. The kernel wrote this buffer before posting
        // the completion we reaped (acquire on the CQ tail) and does not
        // write it again until it is given back, which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(start), len) }
    }

    /// Writes `bytes` into buffer `bid`, as the kernel does (tests).
    #[cfg(test)]
    pub(crate) fn fill_as_kernel(&mut self, bid: u16, bytes: &[u8]) {
        assert!(u32::from(bid) < self.len && bytes.len() <= self.size as usize);
        let start = usize::from(bid) * self.size as usize;
        // SAFETY: in bounds (checked above), through the block's own raw
        // pointer; no reference to the block exists while `&mut self` is held.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.data.as_ptr().add(start),
                bytes.len(),
            );
        }
    }

    /// Queues buffer `bid` for the kernel to fill again (visible to it
    /// after [`publish`](Self::publish)).
    pub(crate) fn give(&mut self, bid: u16) {
        assert!(u32::from(bid) < self.len, "buffer id {bid} out of range");
        let slot = u32::from(self.tail) & (self.len - 1);
        // In bounds: bid < len, so the offset is below data_len.
        let addr = self
            .data
            .as_ptr()
            .wrapping_add(usize::from(bid) * self.size as usize) as u64;
        // SAFETY: `slot < len`, inside the mapping. The kernel reads an
        // entry only between its head and the published tail, and this
        // slot is past the published tail. `resv` of entry 0 is the tail
        // word: writing only addr/len/bid leaves it alone.
        unsafe {
            let entry = self.entries.add(slot as usize).as_ptr();
            (&raw mut (*entry).addr).write(addr);
            (&raw mut (*entry).len).write(self.size);
            (&raw mut (*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        self.dirty = true;
    }

    /// Publishes the buffers given back since the last call.
    pub(crate) fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        // SAFETY: the tail is the `resv` field of entry 0 (offset 14), a
        // 2-aligned u16 inside the mapping, shared with the kernel, which
        // reads it with an acquire load.
        let tail = unsafe {
            &*self
                .entries
                .as_ptr()
                .cast::<u8>()
                .add(14)
                .cast::<AtomicU16>()
        };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`.
        unsafe { libc::munmap(self.entries.as_ptr().cast(), self.map_len) };
        let data = std::ptr::slice_from_raw_parts_mut(self.data.as_ptr(), self.data_len);
        // SAFETY: the pointer and length of the boxed slice leaked in
        // `new`; the ring registered with it is gone (see the type's docs).
        drop(unsafe { Box::from_raw(data) });
    }
}
