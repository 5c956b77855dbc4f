//! Checkpoints (trio's word, as in the rest of arbor): every public async
//! operation is a cancel point, then a schedule point even when it
//! completes at once.

use std::future::poll_fn;
use std::task::{Context, Poll};

use arbor_runtime::scope::with_checkpoint;

/// A bare checkpoint, for the entry of an operation (nothing is spawned in
/// a cancelled scope) and for one that has its result already: inside a
/// cancelled scope it never completes (the scope drops the caller);
/// otherwise it yields if other code is ready (the runtime skips the yield
/// when nothing is, a bounded number of times).
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

/// Drive `poll` (made of reactor operations, which are cancel points
/// already) to completion, with a schedule point at the end if it never
/// had to wait. The result is kept over that yield; the runtime gives it
/// the next poll before any scope drops it.
pub(crate) async fn checkpointed<R>(mut poll: impl FnMut(&mut Context<'_>) -> Poll<R>) -> R {
    let mut waited = false;
    let mut done = None;
    poll_fn(|cx| {
        if let Some(out) = done.take() {
            return Poll::Ready(out);
        }
        match poll(cx) {
            Poll::Pending => {
                waited = true;
                Poll::Pending
            }
            Poll::Ready(out) if !waited && arbor_runtime::scope::schedule_point(cx) => {
                done = Some(out);
                Poll::Pending
            }
            ready => ready,
        }
    })
    .await
}
