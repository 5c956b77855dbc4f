//! Wakers that own nothing: the data word is a packed id.
//!
//! ```text
//!  63            44 43            24 23             0
//! ┌────────────────┬────────────────┬────────────────┐
//! │  runtime key   │ generation (lo)│   slab index   │
//! └────────────────┴────────────────┴────────────────┘
//! ```
//!
//! Clone and drop copy or forget an integer: no atomic, no allocation. A
//! wake on the runtime's own thread (found through the thread-local
//! context) checks the slab and pushes the task on the run queue; a wake
//! anywhere else goes through the global registry to the runtime's remote
//! queue. A stale id (the task ended, the slot was reused, the runtime is
//! gone) finds nothing. The generation is truncated to 20 bits, so a waker
//! could only reach a new occupant after a million reuses of the same slot
//! while it was kept, and then the wake would be spurious, which futures
//! must tolerate anyway.

use std::task::{RawWaker, RawWakerVTable, Waker};

const INDEX_BITS: u32 = 24;
const GEN_BITS: u32 = 20;
const RT_BITS: u32 = 20;

/// Largest slab index a task may have; the index above it names the
/// `block_on` root future.
pub(crate) const MAX_TASKS: u32 = (1 << INDEX_BITS) - 1;
const ROOT_INDEX: u32 = MAX_TASKS;
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
pub(crate) const RT_MASK: u32 = (1 << RT_BITS) - 1;

const _: () = assert!(
    usize::BITS == 64,
    "arbor packs waker ids into a 64-bit word"
);
const _: () = assert!(INDEX_BITS + GEN_BITS + RT_BITS == 64);

/// The packed identity a waker carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct WakeId(u64);

impl WakeId {
    pub(crate) fn task(runtime: u32, index: u32, generation: u32) -> WakeId {
        debug_assert!(index < MAX_TASKS && runtime <= RT_MASK);
        WakeId(
            (u64::from(runtime) << (INDEX_BITS + GEN_BITS))
                | (u64::from(generation & GEN_MASK) << INDEX_BITS)
                | u64::from(index),
        )
    }

    pub(crate) fn root(runtime: u32) -> WakeId {
        WakeId::task(runtime, 0, 0).with_index(ROOT_INDEX)
    }

    fn with_index(self, index: u32) -> WakeId {
        WakeId((self.0 & !u64::from(MAX_TASKS)) | u64::from(index))
    }

    pub(crate) fn runtime(self) -> u32 {
        (self.0 >> (INDEX_BITS + GEN_BITS)) as u32
    }

    pub(crate) fn index(self) -> u32 {
        (self.0 & u64::from(MAX_TASKS)) as u32
    }

    pub(crate) fn generation(self) -> u32 {
        ((self.0 >> INDEX_BITS) as u32) & GEN_MASK
    }

    pub(crate) fn is_root(self) -> bool {
        self.index() == ROOT_INDEX
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);

fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    crate::executor::wake(WakeId(data.addr() as u64));
}

fn drop(_: *const ()) {}

static SCOPE_TIMER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_scope_timer, wake_scope_timer, wake_scope_timer, drop);

fn clone_scope_timer(data: *const ()) -> RawWaker {
    RawWaker::new(data, &SCOPE_TIMER_VTABLE)
}

fn wake_scope_timer(data: *const ()) {
    crate::executor::scope_deadline(WakeId(data.addr() as u64));
}

/// The waker a scope's deadline entry in the timer wheel fires: the id
/// names a scope node, not a task. Only the run loop wakes it.
pub(crate) fn scope_timer_waker(id: WakeId) -> Waker {
    let raw = RawWaker::new(
        std::ptr::without_provenance(id.0 as usize),
        &SCOPE_TIMER_VTABLE,
    );
    // SAFETY: as for `waker`: the data word is a plain integer.
    unsafe { Waker::from_raw(raw) }
}

/// The id `waker` carries if it is an arbor task (or root) waker: lets the
/// runtime act on a wake of its own waker without the vtable call.
#[inline]
pub(crate) fn id_of(waker: &Waker) -> Option<WakeId> {
    std::ptr::eq(waker.vtable(), &VTABLE).then(|| WakeId(waker.data().addr() as u64))
}

/// A waker for the given id. Costs nothing to make, clone or drop.
pub(crate) fn waker(id: WakeId) -> Waker {
    // No provenance: the data word is an integer, never dereferenced.
    let raw = RawWaker::new(std::ptr::without_provenance(id.0 as usize), &VTABLE);
    // SAFETY: the vtable functions treat the data word as a plain integer:
    // they never dereference it, so any value is valid, on any thread, for
    // any length of time, which is the RawWaker contract.
    unsafe { Waker::from_raw(raw) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let id = WakeId::task(RT_MASK, MAX_TASKS - 1, 0xABCD_EFFF);
        assert_eq!(id.runtime(), RT_MASK);
        assert_eq!(id.index(), MAX_TASKS - 1);
        assert_eq!(id.generation(), 0xABCD_EFFF & GEN_MASK);
        assert!(!id.is_root());
        let root = WakeId::root(7);
        assert!(root.is_root());
        assert_eq!(root.runtime(), 7);
    }
}
