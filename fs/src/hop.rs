//! A thread hop owned by an object (a [`File`](crate::File), a
//! [`ReadDir`](crate::ReadDir)) instead of by the future that started it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use arbor_primitives::to_thread;
use arbor_runtime::JoinHandle;

/// The name `arbor::dump()` shows for a hop's task.
const NAME: &str = "arbor::fs operation";

/// One blocking call on the offload pool, on behalf of the object that
/// holds this handle.
///
/// A small task in the runtime's root scope runs
/// `to_thread::run_sync(f)`: it borrows the default thread limiter's token
/// (the same 40 tokens as `to_thread`), runs `f` on a worker, gives the
/// token back when `f` ends and keeps the outcome for this handle. Because
/// the task, not the polling future, owns the call, a future dropped
/// while `f` runs loses nothing: the object keeps the handle, and its
/// next operation takes the outcome. Dropping the handle detaches the
/// task: `f` still runs to its end, and its token comes back then.
pub(crate) struct Hop<R>(JoinHandle<R>);

impl<R: Send + 'static> Hop<R> {
    /// Start `f`. The root-scope task is never cancelled, so the call's
    /// entry checkpoint only schedules; the caller checks its own scope
    /// before starting a hop.
    ///
    /// # Panics
    /// Outside a runtime.
    pub(crate) fn start(f: impl FnOnce() -> R + Send + 'static) -> Self {
        Hop(arbor_runtime::spawn_named(NAME, to_thread::run_sync(f)))
    }

    /// The outcome of `f`, once it ended. A panic in `f` is re-raised
    /// here; a task dropped before `f` ended (only when the runtime shuts
    /// down) is an error.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match ready!(Pin::new(&mut self.0).poll(cx)) {
            Ok(value) => Poll::Ready(Ok(value)),
            Err(e) => match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => Poll::Ready(Err(io::Error::other(e.to_string()))),
            },
        }
    }
}

/// Level-triggered cancellation for poll-based operations: inside a
/// cancelled scope they make no progress (and the scope drops them).
pub(crate) fn cancelled() -> bool {
    arbor_runtime::scope::current_is_cancelled()
}

/// `f` on a worker under the default limiter, as `to_thread::run_sync`:
/// the free functions and the `&self` methods of `File` and `DirEntry`.
pub(crate) async fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    to_thread::run_sync(f).await
}
