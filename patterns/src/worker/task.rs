//! One worker: a nursery child looping over the pool's channel, running
//! each item in a panic boundary; and the [`Control`] block the workers
//! and the pool's handles share.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use arbor_nursery::{BoxError, CancelHandle};
use arbor_primitives::Event;
use arbor_primitives::channel::{Receiver, Sender};

use super::{ErrorSink, WorkerError};

/// What the workers and the pool's handles share. Holds no handle's state
/// (the channel's sender): a worker keeping it does not keep the pool open.
pub(super) struct Control {
    /// Each worker's own cancel scope, by index.
    pub(super) cancels: RefCell<Vec<CancelHandle>>,
    /// Workers whose future still exists (spawned, not yet ended/dropped).
    pub(super) live: Cell<usize>,
    /// Set when `live` drops to 0.
    pub(super) finished: Event,
}

impl Control {
    pub(super) fn new() -> Self {
        Control {
            cancels: RefCell::new(Vec::new()),
            live: Cell::new(0),
            finished: Event::new(),
        }
    }

    /// Cancel every worker but `except`. Each one's own scope absorbs it:
    /// the nursery sees a cancelled child, not a failure.
    pub(super) fn cancel_workers(&self, except: Option<usize>) {
        // Cloned out: a cancel wakes tasks, and nothing here should hold a
        // borrow across code the runtime runs.
        let cancels = self.cancels.borrow().clone();
        for (index, handle) in cancels.iter().enumerate() {
            if Some(index) != except {
                handle.cancel();
            }
        }
    }
}

/// Counts a worker as live from its spawn until its future is dropped
/// (returned, cancelled, or dropped unpolled with its nursery).
pub(super) struct LiveGuard(Rc<Control>);

impl LiveGuard {
    pub(super) fn new(control: &Rc<Control>) -> Self {
        control.live.set(control.live.get() + 1);
        LiveGuard(control.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let live = self.0.live.get() - 1;
        self.0.live.set(live);
        if live == 0 {
            self.0.finished.set();
        }
    }
}

/// What every worker of one pool uses.
pub(super) struct Shared<H, S> {
    pub(super) handler: H,
    pub(super) sink: RefCell<S>,
    pub(super) control: Rc<Control>,
}

/// The worker loop. The guard is an argument, so it is in the future from
/// its creation: a worker dropped unpolled still counts itself out.
pub(super) async fn worker<I, O, E, H, S>(
    index: usize,
    shared: Rc<Shared<H, S>>,
    items: Receiver<I>,
    results: Option<Sender<O>>,
    guard: LiveGuard,
) -> Result<(), BoxError>
where
    H: AsyncFn(I) -> Result<O, E>,
    S: ErrorSink<E>,
{
    let _guard = guard;
    // Ends when the channel does: intake closed and the queue drained
    // (`RecvError::Closed`). Workers never close their own receiver.
    while let Ok(item) = items.recv().await {
        match run_item(&shared.handler, item).await {
            Ok(output) => {
                if let Some(results) = &results {
                    // Err: every results receiver is closed, nobody
                    // wants outputs any more; this one is dropped.
                    let _ = results.send(output).await;
                }
            }
            Err(error) => {
                let routed = shared.sink.borrow_mut().report(error);
                if let Err(failure) = routed {
                    // The pool fails as a unit, whatever the nursery's
                    // policy: the siblings stop, and once all receivers
                    // are gone the channel refuses items.
                    shared.control.cancel_workers(Some(index));
                    return Err(failure);
                }
            }
        }
    }
    Ok(())
}

/// Run one item, turning a panic (in the call that makes its future, or
/// in any poll of it) into [`WorkerError::Panicked`]. A future that
/// panicked is not polled again: it is dropped here.
async fn run_item<I, O, E, H>(handler: &H, item: I) -> Result<O, WorkerError<E>>
where
    H: AsyncFn(I) -> Result<O, E>,
{
    // AssertUnwindSafe: after a panic nothing of the item's future is used
    // again (it is dropped), so no broken state it left can be observed
    // through it; the handler itself is shared, and a handler that keeps
    // state it can leave half-updated on panic must guard that itself (as
    // with a panic in any `Fn`).
    let future = match catch_unwind(AssertUnwindSafe(|| handler(item))) {
        Ok(future) => future,
        Err(payload) => return Err(WorkerError::Panicked(payload)),
    };
    let mut future = pin!(future);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(result.map_err(WorkerError::Failed)),
            Err(payload) => Poll::Ready(Err(WorkerError::Panicked(payload))),
        },
    )
    .await
}
