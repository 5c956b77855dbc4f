//! Test support: a wheel with a fire log, and a tiny PRNG.

use super::{TimerKey, Wheel};
use std::sync::{Arc, Mutex};
use std::task::Wake;
use std::task::Waker;

/// Waker that logs its id when woken, to record fire order.
struct Rec {
    id: u32,
    log: Arc<Mutex<Vec<u32>>>,
}

impl Wake for Rec {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

/// A wheel plus a fire log; timers are named by `u32` ids.
pub(super) struct Harness {
    pub(super) wheel: Wheel,
    log: Arc<Mutex<Vec<u32>>>,
}

impl Harness {
    pub(super) fn new() -> Self {
        Harness {
            wheel: Wheel::new(),
            log: Arc::default(),
        }
    }

    pub(super) fn waker(&self, id: u32) -> Waker {
        Waker::from(Arc::new(Rec {
            id,
            log: self.log.clone(),
        }))
    }

    pub(super) fn insert(&mut self, deadline: u64, id: u32) -> TimerKey {
        let w = self.waker(id);
        self.wheel.insert(deadline, w)
    }

    pub(super) fn reset(&mut self, key: TimerKey, deadline: u64, id: u32) {
        let w = self.waker(id);
        self.wheel.reset(key, deadline, &w);
    }

    /// Polls to `now`; returns the ids fired, in order.
    pub(super) fn poll(&mut self, now: u64) -> Vec<u32> {
        self.wheel.poll(now, &mut |w| w.wake());
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// Tiny xorshift64 PRNG (deterministic, no deps).
pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
