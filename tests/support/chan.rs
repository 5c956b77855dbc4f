//! Helpers of the channel tests, built on the shared ones.
#![allow(unused_imports)] // each test binary uses a different subset

pub use super::{Log, XorShift as Rng, virtual_rt as rt};

/// Polls a future once (with the task's waker), giving its output if ready.
pub async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    futures_lite::future::poll_once(f).await
}
