//! Helpers of the primitives' tests, built on the shared ones.
#![allow(unused_imports)] // each test binary uses a different subset

use std::future::Future;

pub use super::{Log, XorShift as Rng, settle};

/// Run `fut` on a virtual-clock runtime; a hang (in virtual time) fails.
pub fn run<F: Future>(fut: F) -> F::Output {
    super::virtual_rt()
        .block_on(arbor_nursery::fail_after(
            std::time::Duration::from_secs(24 * 3600),
            fut,
        ))
        .expect("the test hung")
}
