//! The listener slot protocol, apart from the `static`s and the syscalls so
//! that the loom models below run the very code the signal handler runs.
//!
//! A slot is `busy << 40 | signo << 32 | fd`, or `0` when free. The handler
//! [`acquire`]s a busy reference (CAS), writes to the fd, and drops the
//! [`Busy`] guard (`fetch_sub`). A listener's drop [`free`]s its slot with a
//! CAS from exactly its own value (no busy reference) to `0`, and closes
//! the fd only after. Generic over [`Atomic64`]: the production table is
//! std's `AtomicU64`s, the models' are loom's. Every function here is
//! async-signal-safe: atomics only, no allocation, no lock.

use std::os::fd::RawFd;

use crate::sync::{Atomic64, Ordering::SeqCst};

const FD_MASK: u64 = 0xFFFF_FFFF;
const SIGNO_SHIFT: u32 = 32;
const SIGNO_MASK: u64 = 0xFF;
/// One busy reference (a handler writing to the slot's eventfd).
pub(super) const BUSY_ONE: u64 = 1 << 40;

pub(super) fn pack(signo: i32, fd: RawFd) -> u64 {
    (signo as u64) << SIGNO_SHIFT | u64::from(fd as u32)
}

pub(super) fn signo_of(slot: u64) -> i32 {
    ((slot >> SIGNO_SHIFT) & SIGNO_MASK) as i32
}

pub(super) fn fd_of(slot: u64) -> RawFd {
    (slot & FD_MASK) as u32 as RawFd
}

/// Takes the first free slot for a listener whose packed value is `value`;
/// `None` when every slot is in use.
pub(super) fn claim<A: Atomic64>(slots: &[A], value: u64) -> Option<&A> {
    slots
        .iter()
        .find(|slot| slot.compare_exchange(0, value, SeqCst, SeqCst).is_ok())
}

/// A busy reference on a slot: while it lives the slot cannot be freed, so
/// its fd stays open. Dropping it releases the reference.
pub(super) struct Busy<'a, A: Atomic64> {
    slot: &'a A,
    fd: RawFd,
}

impl<A: Atomic64> Busy<'_, A> {
    pub(super) fn fd(&self) -> RawFd {
        self.fd
    }
}

impl<A: Atomic64> Drop for Busy<'_, A> {
    #[inline]
    fn drop(&mut self) {
        self.slot.fetch_sub(BUSY_ONE, SeqCst);
    }
}

/// Takes a busy reference on `slot` if it holds a listener of `signo`.
///
/// A failed CAS means another handler's reference came or went, or the slot
/// was freed or reused: look again. Never skips a slot of `signo` because
/// another handler holds it (the count lets both write).
#[inline]
pub(super) fn acquire<A: Atomic64>(slot: &A, signo: i32) -> Option<Busy<'_, A>> {
    let mut current = slot.load(SeqCst);
    while current != 0 && signo_of(current) == signo {
        match slot.compare_exchange_weak(current, current + BUSY_ONE, SeqCst, SeqCst) {
            Ok(_) => {
                return Some(Busy {
                    slot,
                    fd: fd_of(current),
                });
            }
            Err(now) => current = now,
        }
    }
    None
}

/// Frees `slot` if it is exactly `value`: a listener's slot with no busy
/// reference. `false` while a handler holds one.
#[must_use = "the slot is still taken when this returns false"]
pub(super) fn try_free<A: Atomic64>(slot: &A, value: u64) -> bool {
    slot.compare_exchange_weak(value, 0, SeqCst, SeqCst).is_ok()
}

/// Frees the listener slot `slot`, which holds `value` plus any busy
/// references, waiting for those to be dropped. Its fd may be closed once
/// this returns. Spinning is bounded: a handler on another thread is one
/// non-blocking `write` from releasing, and one on this thread has finished
/// before we run again.
pub(super) fn free<A: Atomic64>(slot: &A, value: u64) {
    while !try_free(slot, value) {
        A::spin_wait();
    }
}

/// One delivery of `signo`: bump its counter, then `write` to the fd of
/// every listener of `signo`, each under a busy reference.
///
/// Bump before writing: a listener that sees a write and then checks the
/// counter must see this delivery (see `crate::signal`).
#[inline]
pub(super) fn deliver<A: Atomic64>(
    count: &A,
    slots: &[A],
    signo: i32,
    mut write: impl FnMut(RawFd),
) {
    count.fetch_add(1, SeqCst);
    for slot in slots {
        if let Some(busy) = acquire(slot, signo) {
            write(busy.fd());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_packing_round_trips() {
        let v = pack(64, 1_000_000);
        assert_eq!((signo_of(v), fd_of(v)), (64, 1_000_000));
        let busy = v + 3 * BUSY_ONE;
        assert_eq!((signo_of(busy), fd_of(busy)), (64, 1_000_000));
        assert_ne!(pack(1, 0), 0, "fd 0 must still be a used slot");
    }
}

/// Loom models of the slot table and the delivery counters.
///
/// Statics and real fds cannot run under loom, so each model builds a small
/// table of loom atomics and runs [`claim`], [`deliver`] and [`free`] on it,
/// with a [`FakeFd`] per fd number standing in for the eventfd: `write`
/// asserts the fd is open and still belongs to a listener of the delivered
/// signal, `close` marks it closed. The listener side (`Signal::poll_recv`
/// in `crate::signal`) is mirrored in [`poll_recv`].
#[cfg(all(test, loom))]
mod models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    use std::task::Poll;

    const SIG: i32 = 10;
    const OTHER: i32 = 12;

    /// An eventfd as the protocol sees it.
    struct FakeFd {
        open: AtomicBool,
        /// The signal of the listener that owns this fd number now.
        signo: AtomicU64,
        /// The eventfd counter: `write` adds one, `read` takes it all.
        pending: AtomicU64,
        writes: AtomicUsize,
    }

    impl FakeFd {
        fn open(signo: i32) -> FakeFd {
            FakeFd {
                open: AtomicBool::new(true),
                signo: AtomicU64::new(signo as u64),
                pending: AtomicU64::new(0),
                writes: AtomicUsize::new(0),
            }
        }

        fn write(&self, signo: i32) {
            assert!(self.open.load(SeqCst), "handler wrote to a closed fd");
            assert_eq!(
                self.signo.load(SeqCst),
                signo as u64,
                "handler wrote to an fd number reused by another listener"
            );
            self.pending.fetch_add(1, SeqCst);
            self.writes.fetch_add(1, SeqCst);
        }

        fn close(&self) {
            self.open.store(false, SeqCst);
        }

        /// The kernel hands the closed number to a new eventfd.
        fn reopen(&self, signo: i32) {
            assert!(!self.open.load(SeqCst));
            self.signo.store(signo as u64, SeqCst);
            self.open.store(true, SeqCst);
        }

        /// `read(2)`: the counter, reset; 0 stands for `WouldBlock`.
        fn read(&self) -> u64 {
            self.pending.swap(0, SeqCst)
        }
    }

    struct World {
        deliveries: AtomicU64,
        slots: Vec<AtomicU64>,
        fds: Vec<FakeFd>,
    }

    impl World {
        fn new(slots: usize, fds: &[i32]) -> Arc<World> {
            Arc::new(World {
                deliveries: AtomicU64::new(0),
                slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
                fds: fds.iter().map(|&s| FakeFd::open(s)).collect(),
            })
        }

        /// The signal handler's body (`signal::handler`).
        fn handler(&self, signo: i32) {
            deliver(&self.deliveries, &self.slots, signo, |fd| {
                self.fds[fd as usize].write(signo)
            });
        }

        /// `Registration::new` without the syscalls: the count first, then
        /// the slot. Returns the slot index and the count seen.
        fn register(&self, signo: i32, fd: RawFd) -> (usize, u64) {
            let seen = Atomic64::load(&self.deliveries, SeqCst);
            let slot = claim(&self.slots, pack(signo, fd)).expect("a free slot");
            let index = self.slots.iter().position(|s| std::ptr::eq(s, slot));
            (index.unwrap(), seen)
        }

        /// `Registration`'s drop: free the slot, then close the fd.
        fn unregister(&self, slot: usize, signo: i32, fd: RawFd) {
            free(&self.slots[slot], pack(signo, fd));
            self.fds[fd as usize].close();
        }

        /// `Signal::poll_recv` for a listener whose eventfd is `fd`: the
        /// count first, then a read of the eventfd; `Pending` once a read
        /// finds nothing (the reactor then waits for the next write).
        fn poll_recv(&self, fd: RawFd, seen: &mut u64) -> Poll<()> {
            let fd = &self.fds[fd as usize];
            loop {
                // `deliveries()`; through `Atomic64` so loom orders it as
                // `SeqCst` (see `sync::fenced`).
                let now = Atomic64::load(&self.deliveries, SeqCst);
                if now != *seen {
                    *seen = now;
                    fd.read(); // `drain`
                    return Poll::Ready(());
                }
                if fd.read() == 0 {
                    return Poll::Pending;
                }
            }
        }
    }

    /// Checks `model` twice: with the handler on the spawned thread, then
    /// with the other side there. Loom's DPOR keeps only the last access to
    /// each atomic, so a thread's own RMW can hide the race of its earlier
    /// load with another thread (a listener's `free` between a handler's
    /// busy reference and its write was never explored while the freeing
    /// side ran on the main thread); swapping the sides finds it.
    fn check_both_ways(model: fn(bool)) {
        for handler_spawned in [true, false] {
            loom::model(move || model(handler_spawned));
        }
    }

    /// Runs `handler` and `other` on two threads, `handler` on the spawned
    /// one if `handler_spawned`.
    fn race<T: Send + 'static>(
        handler_spawned: bool,
        handler: impl FnOnce() + Send + 'static,
        other: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        if handler_spawned {
            let h = loom::thread::spawn(handler);
            let t = other();
            h.join().unwrap();
            t
        } else {
            let o = loom::thread::spawn(other);
            handler();
            o.join().unwrap()
        }
    }

    /// A listener is dropped (slot freed, fd closed, the fd number reused
    /// by a listener of another signal) while a handler delivers: the
    /// handler never writes to the closed or reused fd, and the listener
    /// that stays gets its write.
    #[test]
    fn loom_model_signal_slot_never_written_after_close() {
        check_both_ways(|handler_spawned| {
            let world = World::new(2, &[SIG, SIG]);
            let (going, _) = world.register(SIG, 0);
            let (staying, _) = world.register(SIG, 1);
            let (w1, w2) = (world.clone(), world.clone());
            let reused = race(
                handler_spawned,
                move || w1.handler(SIG),
                move || {
                    w2.unregister(going, SIG, 0);
                    w2.fds[0].reopen(OTHER);
                    w2.register(OTHER, 0).0
                },
            );
            assert_eq!(world.fds[1].writes.load(SeqCst), 1);
            assert_eq!(world.slots[staying].load(SeqCst), pack(SIG, 1));
            assert_eq!(world.slots[reused].load(SeqCst), pack(OTHER, 0));
        });
    }

    /// Two handlers of one signal run at once (two threads): both write to
    /// the listener's fd, neither skips it, and every busy reference is
    /// dropped so the listener's drop can free the slot.
    #[test]
    fn loom_model_signal_concurrent_handlers_both_write() {
        loom::model(|| {
            let world = World::new(1, &[SIG]);
            let (slot, _) = world.register(SIG, 0);
            let handlers: Vec<_> = (0..2)
                .map(|_| {
                    let world = world.clone();
                    loom::thread::spawn(move || world.handler(SIG))
                })
                .collect();
            for h in handlers {
                h.join().unwrap();
            }
            assert_eq!(world.fds[0].writes.load(SeqCst), 2);
            assert_eq!(world.deliveries.load(SeqCst), 2);
            assert!(try_free(&world.slots[slot], pack(SIG, 0)), "busy left");
        });
    }

    /// A listener registers and polls until `Pending` while a handler
    /// delivers. A delivery after the listener last consumed is never lost:
    /// when it ends `Pending`, either the count is the one it reported or
    /// a write came after its last read (an edge the reactor reports).
    #[test]
    fn loom_model_signal_delivery_never_lost() {
        check_both_ways(|handler_spawned| {
            let world = World::new(1, &[SIG]);
            let (w1, w2) = (world.clone(), world.clone());
            let seen = race(
                handler_spawned,
                move || w1.handler(SIG),
                move || {
                    let (_slot, mut seen) = w2.register(SIG, 0);
                    while w2.poll_recv(0, &mut seen).is_ready() {}
                    seen
                },
            );
            assert!(
                world.deliveries.load(SeqCst) == seen || world.fds[0].pending.load(SeqCst) > 0,
                "a delivery with neither a count change nor a write after the last read"
            );
        });
    }
}
