//! Shared test helpers: drop counters and event traces.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts how many of its guards were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A value that bumps the counter when dropped.
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn dropped(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An ordered log of events, shared between tasks on one thread.
#[derive(Clone, Default)]
pub struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn log(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    pub fn events(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// A runtime on the virtual clock.
pub fn virtual_rt() -> arbor::Runtime {
    arbor::Runtime::builder().virtual_clock().build().unwrap()
}

/// The id of the runtime running now (the owner id of its root future).
pub fn rt_id() -> arbor::RuntimeId {
    arbor::current_runtime_id().expect("inside a runtime")
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Let every runnable task run for a while.
pub async fn settle() {
    for _ in 0..20 {
        arbor_runtime::yield_now().await;
    }
}

/// An event trace with `push`/`take` (the primitives' tests use it).
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// xorshift64: deterministic, no deps.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Await `f`, failing (instead of hanging) if it is still stuck after a
/// minute of virtual time: a lost hand-off or notification shows up here.
pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    arbor_nursery::move_on_after(std::time::Duration::from_secs(60), f)
        .await
        .expect("stuck: a hand-off or notification was lost")
}

pub mod chan;
pub mod prims;

/// Drive `rt` until `done()` holds (checked about every millisecond of
/// the runtime's clock): for waits on other threads.
pub fn drive_until(rt: &arbor::Runtime, done: impl Fn() -> bool) {
    rt.block_on(async {
        while !done() {
            arbor::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
}
