//! Helpers shared by the integration tests.

use std::cell::RefCell;
use std::rc::Rc;

pub fn rt() -> arbor_runtime::Runtime {
    arbor_runtime::Runtime::builder()
        .virtual_clock()
        .build()
        .unwrap()
}

/// An event trace shared between tasks.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// xorshift64: deterministic, no deps.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
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

/// Polls a future once (with the task's waker), giving its output if ready.
pub async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    futures_lite::future::poll_once(f).await
}
