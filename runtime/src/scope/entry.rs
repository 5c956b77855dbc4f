//! The checkpoint an operation takes at its entry, for crates built on
//! arbor (its patterns, processes and files use it).

use std::future::poll_fn;
use std::task::Poll;

use super::with_checkpoint;

/// The checkpoint at the entry of an operation: a cancel point (inside a
/// cancelled scope it never completes, and the scope drops the caller at
/// this suspension, so the operation never starts), then a schedule point
/// (it yields if other code is ready, and skips the yield when nothing is;
/// the runtime bounds the skips in a row so timers and I/O still get in).
///
/// `arbor::checkpoint()` always yields instead, so that a deadline that
/// has passed fires at once in a CPU-bound loop; at the entry of an
/// operation that then waits, skipping the idle yield saves a trip
/// through the run loop per call.
///
/// ```
/// arbor_runtime::run(async {
///     // No other task is ready: the entry does not yield.
///     arbor_runtime::scope::entry_checkpoint().await;
/// });
/// ```
///
/// # Cancel safety
/// Nothing to lose: it takes nothing.
pub async fn entry_checkpoint() {
    let mut yielded = false;
    poll_fn(|cx| {
        with_checkpoint(|cp| {
            if cp.is_cancelled() {
                return Poll::Pending;
            }
            if !yielded && cp.schedule_point(cx) {
                yielded = true;
                return Poll::Pending;
            }
            Poll::Ready(())
        })
    })
    .await
}
