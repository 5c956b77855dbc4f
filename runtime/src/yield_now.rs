//! Cooperative yielding.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Let every other runnable task run before continuing: the task goes to
/// the back of the run queue and resumes in the next scheduler tick.
/// Inside a cancelled scope it never completes (it is a checkpoint).
///
/// ```
/// arbor_runtime::run(async {
///     let other = arbor_runtime::spawn(async { "ran" });
///     arbor_runtime::yield_now().await;
///     assert!(other.is_finished());
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        crate::context::with(|core| {
            if core.is_some_and(|c| c.current_cancelled()) {
                // A checkpoint: in a cancelled scope it never completes.
                return Poll::Pending;
            }
            if self.yielded {
                return Poll::Ready(());
            }
            self.yielded = true;
            match core {
                // The runtime's own wakers without the vtable trip.
                Some(core) => core.wake_by_ref(cx.waker()),
                None => cx.waker().wake_by_ref(),
            }
            Poll::Pending
        })
    }
}
