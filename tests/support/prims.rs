//! Test helpers shared by the integration tests.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

/// Run `fut` on a virtual-clock runtime; a hang (in virtual time) fails.
pub fn run<F: Future>(fut: F) -> F::Output {
    arbor_runtime::Runtime::builder()
        .virtual_clock()
        .build()
        .unwrap()
        .block_on(arbor_nursery::fail_after(
            std::time::Duration::from_secs(24 * 3600),
            fut,
        ))
        .expect("the test hung")
}

/// A shared event trace.
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

/// Let every runnable task run until it blocks.
pub async fn settle() {
    for _ in 0..20 {
        arbor_runtime::yield_now().await;
    }
}

/// xorshift64: a seeded PRNG without dependencies.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
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
