//! Checkpoints (trio's word, as in the rest of arbor): every public async
//! operation is a cancel point, then a schedule point even when it
//! completes at once. The entry checkpoint is the runtime's
//! (`arbor_runtime::scope::entry_checkpoint`); this is the one that ends
//! an operation made of reactor waits.

use std::future::poll_fn;
use std::task::{Context, Poll};

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
