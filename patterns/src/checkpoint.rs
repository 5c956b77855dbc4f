//! The checkpoint at the entry of the patterns' async functions.

use std::future::poll_fn;
use std::task::Poll;

use arbor_runtime::scope::with_checkpoint;

/// A checkpoint as the primitives have one: a cancel point (inside a
/// cancelled scope it never completes, and the scope drops the caller),
/// then a schedule point, which yields if other code is ready and skips
/// the yield when nothing is (the runtime bounds the skips, so timers and
/// I/O still get in). `arbor_nursery::checkpoint` always yields, which
/// would make every call pay a trip through the run loop.
pub(crate) async fn checkpoint() {
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
