//! Helpers of the channel tests, built on the shared ones.
#![allow(unused_imports)] // each test binary uses a different subset

pub use super::{Log, XorShift as Rng, virtual_rt as rt};

/// Polls a future once (with the task's waker), giving its output if ready.
pub async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    futures_lite::future::poll_once(f).await
}

/// Counts its drops, to prove what was dropped and what was not, and how
/// many times: every test checks an item is dropped exactly once.
#[derive(Debug)]
pub struct Token(pub u32, pub std::rc::Rc<std::cell::Cell<u32>>);

impl Drop for Token {
    fn drop(&mut self) {
        self.1.set(self.1.get() + 1);
    }
}

impl Clone for Token {
    /// A clone counts as one more value to drop.
    fn clone(&self) -> Self {
        Token(self.0, self.1.clone())
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// A future wrapper counting how many times it was polled.
pub struct CountPolls<F> {
    pub fut: F,
    pub polls: u32,
}

impl<F> CountPolls<F> {
    pub fn new(fut: F) -> Self {
        CountPolls { fut, polls: 0 }
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls += 1;
        std::pin::Pin::new(&mut self.fut).poll(cx)
    }
}

/// Make the next schedule point of the code running now yield: spawn a
/// task that does nothing, so other code is ready to run.
pub fn make_busy() -> arbor_runtime::JoinHandle<()> {
    arbor_runtime::spawn(async {})
}
