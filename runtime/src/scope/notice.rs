//! [`cancelled`]: a future for code that wants to notice cancellation
//! itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;

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
    CancelledFuture { _private: () }
}

/// The future returned by [`cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct CancelledFuture {
    _private: (),
}

impl Future for CancelledFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Outside a runtime nothing can cancel it.
        let seen = context::with(|core| core.is_some_and(|c| c.notice_cancel(cx.waker())));
        if seen { Poll::Ready(()) } else { Poll::Pending }
    }
}
