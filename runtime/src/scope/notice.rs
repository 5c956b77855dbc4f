//! [`cancelled`]: a future for code that wants to notice cancellation
//! itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::executor::Watch;

/// Resolves when the code awaiting it is in an effectively cancelled scope.
///
/// While it is awaited, the region being cancelled lets it resolve before
/// dropping the code around it; that code then runs to its next suspension,
/// where the region drops it as usual. It holds the drop back only while it
/// is actually awaited: one polled once and then kept alive without being
/// polled (a losing `select` arm) does not keep a cancelled region open.
///
/// ```
/// use std::time::Duration;
/// use arbor_runtime::scope::{self, NodeKind, Region, ScopeCell, Step};
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let cell = ScopeCell::new();
///     cell.set_timeout(Duration::from_secs(1));
///     let mut region = std::pin::pin!(Region::new(&cell, NodeKind::Scope, async {
///         scope::cancelled().await;
///         "noticed" // no suspension between: this value gets out
///     }));
///     let step = std::future::poll_fn(|cx| match region.as_mut().poll_inner(cx) {
///         Step::Pending => std::task::Poll::Pending,
///         other => std::task::Poll::Ready(other),
///     })
///     .await;
///     assert_eq!(step, Step::Ready("noticed"));
/// });
/// ```
///
/// # Cancel safety
/// Dropping it at any point loses nothing.
pub fn cancelled() -> CancelledFuture {
    CancelledFuture { watch: None }
}

/// The future returned by [`cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct CancelledFuture {
    /// Its waker's entry in the watchers of the node it waits in, and the
    /// runtime of that node; removed when it resolves or is dropped.
    watch: Option<(u32, Watch)>,
}

impl Future for CancelledFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        context::with(|core| {
            // Outside a runtime nothing can cancel it.
            let Some(core) = core else {
                return Poll::Pending;
            };
            let mut watch = match self.watch.take() {
                Some((runtime, w)) if runtime == core.key => Some(w),
                Some((runtime, w)) => {
                    forget(runtime, w);
                    None
                }
                None => None,
            };
            let seen = core.notice_cancel(cx.waker(), &mut watch);
            self.watch = watch.map(|w| (core.key, w));
            if seen { Poll::Ready(()) } else { Poll::Pending }
        })
    }
}

impl Drop for CancelledFuture {
    fn drop(&mut self) {
        if let Some((runtime, watch)) = self.watch.take() {
            forget(runtime, watch);
        }
    }
}

/// Remove a watcher entry from its runtime's node (nothing if the
/// runtime is gone).
fn forget(runtime: u32, watch: Watch) {
    context::with_runtime(runtime, |core| core.forget_watch(watch));
}
