//! Unit tests that need the executor's internals.

use std::future::Future;

use super::*;
use crate::task::raw::{allocation_size, header_size};

fn bookkeeping<F: Future>(_: &F) -> usize {
    // Slab slot + allocation, minus the future itself.
    crate::slab::slot_size::<RawTask>() + allocation_size::<F>() - std::mem::size_of::<F>()
}

#[test]
fn bookkeeping_is_48_bytes_per_task() {
    assert_eq!(header_size(), 32);
    assert_eq!(crate::slab::slot_size::<RawTask>(), 16);
    // A future holding some state, with a small output: the union of
    // future and output costs nothing beyond the future.
    let fut = async {
        let data = [1u64; 4];
        crate::yield_now().await;
        data[0]
    };
    assert!(bookkeeping(&fut) <= 48, "{} bytes", bookkeeping(&fut));
}
