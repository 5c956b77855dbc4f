//! Wakes from other threads: a mutex-protected queue plus a doorbell.
//!
//! A waker woken off the runtime thread pushes its packed id here. The push
//! that takes the queue from empty to non-empty rings the doorbell (the
//! runtime's eventfd, registered in its epoll set), so a runtime asleep in
//! `epoll_wait` wakes up; later pushes find the queue non-empty and skip
//! the syscall. The runtime takes the whole queue at once.
//!
//! The invariant (checked by the loom model below): an id is never left in
//! the queue without the doorbell having been rung after the runtime last
//! consumed a ring. The eventfd is edge-triggered and never read: each
//! write is one edge, consumed when `epoll_wait` reports it. The runtime
//! keeps its side by always consuming the doorbell *before* draining the
//! queue (see `Core::poll_reactor`).

use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::task::waker::WakeId;

/// Something that wakes the runtime thread out of `epoll_wait`.
pub(crate) trait Doorbell: Send + Sync {
    fn ring(&self);
}

pub(crate) struct Remote<D> {
    queue: Mutex<Vec<WakeId>>,
    /// Mirrors `!queue.is_empty()` so the run loop can skip the lock.
    pending: AtomicBool,
    /// Set when the runtime is dropped: a cached handle must look again.
    retired: AtomicBool,
    doorbell: D,
}

impl<D: Doorbell> Remote<D> {
    pub(crate) fn new(doorbell: D) -> Self {
        Remote {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            doorbell,
        }
    }

    #[cfg(all(test, loom))]
    pub(crate) fn doorbell(&self) -> &D {
        &self.doorbell
    }

    /// The runtime is gone; its key may be given to a new runtime.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Called from any thread.
    pub(crate) fn push(&self, id: WakeId) {
        let was_empty = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = queue.is_empty();
            queue.push(id);
            if was_empty {
                self.pending.store(true, Ordering::Release);
            }
            was_empty
        };
        if was_empty {
            self.doorbell.ring();
        }
    }

    /// Whether a push may be waiting: the check `drain_into` starts with,
    /// for a caller that skips its own setup when there is nothing.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Runtime thread: move every queued id into `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<WakeId>) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.store(false, Ordering::Relaxed);
        out.append(&mut queue);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    /// Models the eventfd's pending edges: `ring` adds one, `epoll_wait`
    /// consumes them all (the swap to zero).
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Doorbell for Counter {
        fn ring(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn id(n: u32) -> WakeId {
        WakeId::task(1, n, 0)
    }

    /// Two threads push while the runtime silences the doorbell and drains,
    /// twice. Afterwards every id was either drained or is still queued
    /// with the doorbell ringing: no wake is lost.
    #[test]
    fn remote_push_never_lost() {
        loom::model(|| {
            let remote = Arc::new(Remote::new(Counter::default()));
            let pushers: Vec<_> = (0..2)
                .map(|t| {
                    let remote = remote.clone();
                    loom::thread::spawn(move || remote.push(id(t)))
                })
                .collect();
            let mut seen = Vec::new();
            for _ in 0..2 {
                remote.doorbell().0.swap(0, Ordering::SeqCst);
                remote.drain_into(&mut seen);
            }
            for p in pushers {
                p.join().unwrap();
            }
            let rung = remote.doorbell().0.load(Ordering::SeqCst) > 0;
            let mut left = Vec::new();
            remote.drain_into(&mut left);
            assert!(
                left.is_empty() || rung,
                "ids {left:?} queued with a silent doorbell"
            );
            seen.extend(left);
            seen.sort_by_key(|w| w.index());
            assert_eq!(seen, vec![id(0), id(1)]);
        });
    }
}
