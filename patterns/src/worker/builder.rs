//! [`Builder`]: a worker pool's settings, and starting it in a nursery.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use arbor_nursery::Nursery;
use arbor_primitives::channel::{self, Sender};
use arbor_runtime::scope::SpawnError;

use super::task::{Control, LiveGuard, Shared, worker};
use super::{ErrorSink, FailPool, WorkerError, WorkerPool};

/// A [`WorkerPool`]'s settings, made by [`WorkerPool::builder`]; start it
/// with [`start`](Builder::start).
///
/// `S` is the error sink: [`FailPool`] until [`on_error`](Builder::on_error)
/// sets a handler.
#[must_use = "a builder does nothing until it is started"]
pub struct Builder<I, O, E, H, S = FailPool> {
    workers: usize,
    capacity: usize,
    handler: H,
    sink: S,
    results: Option<Sender<O>>,
    name: String,
    // The item goes in, the error comes out; neither is stored here.
    _types: PhantomData<fn(I) -> E>,
}

impl<I, O, E, H> Builder<I, O, E, H> {
    pub(super) fn new(workers: usize, capacity: usize, handler: H) -> Self {
        assert!(
            workers >= 1,
            "WorkerPool::builder: a pool needs at least 1 worker (got 0)"
        );
        Builder {
            workers,
            capacity,
            handler,
            sink: FailPool,
            results: None,
            name: String::from("worker-pool"),
            _types: PhantomData,
        }
    }
}

impl<I, O, E, H, S> Builder<I, O, E, H, S> {
    /// Send every item's failure (an `Err` from the handler, or a panic)
    /// to `handler`, called synchronously by the worker that ran the item;
    /// the worker then goes on with its next item. Nothing is printed.
    ///
    /// Without it, the first failure fails the pool and its nursery (see
    /// [`FailPool`]). For an error channel, send from the callback into an
    /// [`unbounded`](arbor_primitives::channel::unbounded) channel.
    pub fn on_error<F>(self, handler: F) -> Builder<I, O, E, H, F>
    where
        F: FnMut(WorkerError<E>) + 'static,
    {
        self.error_sink(handler)
    }

    /// Send every item's failure to `sink` (any [`ErrorSink`], closures
    /// included; [`on_error`](Builder::on_error) is this for closures).
    pub fn error_sink<S2: ErrorSink<E>>(self, sink: S2) -> Builder<I, O, E, H, S2> {
        Builder {
            workers: self.workers,
            capacity: self.capacity,
            handler: self.handler,
            sink,
            results: self.results,
            name: self.name,
            _types: PhantomData,
        }
    }

    /// Send every successful output into `results`, in the order the
    /// items finished. Without it, outputs are dropped.
    ///
    /// Backpressure is the channel's: the worker holding an output waits
    /// in [`Sender::send`] while a bounded `results` channel is full (so a
    /// slow consumer slows the pool, and its intake, down); an
    /// [`unbounded`](arbor_primitives::channel::unbounded) one never
    /// waits. If every receiver of `results` is closed, outputs are
    /// dropped and the pool goes on. The pool owns this sender: once the
    /// pool has finished (all workers ended) its clones are gone, so if
    /// the pool held the only senders the results stream ends after the
    /// last output.
    pub fn results(mut self, results: Sender<O>) -> Self {
        self.results = Some(results);
        self
    }

    /// Name the pool's workers in failures and task dumps: worker `i` is
    /// `"{name}[{i}]"`. The default name is `"worker-pool"`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Start the pool: spawn its workers into `nursery` and return the
    /// handle that submits items.
    ///
    /// The workers are children of `nursery`: it does not finish before
    /// they end, and cancelling it (or a scope around it) drops them with
    /// their in-flight items. They end when the pool is closed (by
    /// [`WorkerPool::close`], or by dropping every handle) and its queue is
    /// drained, or when it is cancelled or fails. So close or drop the
    /// handle before the nursery's body returns: a handle the body keeps
    /// (returns, or stores where it outlives the body) keeps the workers,
    /// and with them the nursery, waiting for items forever.
    ///
    /// # Panics
    /// If `nursery` has finished (like [`Nursery::spawn`]);
    /// [`try_start`](Builder::try_start) returns the error instead.
    #[track_caller]
    pub fn start(self, nursery: &Nursery) -> WorkerPool<I>
    where
        I: 'static,
        O: 'static,
        E: 'static,
        H: AsyncFn(I) -> Result<O, E> + 'static,
        S: ErrorSink<E> + 'static,
    {
        self.try_start(nursery)
            .unwrap_or_else(|e| panic!("WorkerPool::start: {e}"))
    }

    /// [`start`](Builder::start), or say why not: [`SpawnError::Closed`]
    /// once `nursery` has finished. Nothing was started then (the
    /// handler and the results sender are dropped).
    pub fn try_start(self, nursery: &Nursery) -> Result<WorkerPool<I>, SpawnError>
    where
        I: 'static,
        O: 'static,
        E: 'static,
        H: AsyncFn(I) -> Result<O, E> + 'static,
        S: ErrorSink<E> + 'static,
    {
        let (tx, rx) = channel::bounded(self.capacity);
        let control = Rc::new(Control::new());
        let shared = Rc::new(Shared {
            handler: self.handler,
            sink: RefCell::new(self.sink),
            control: control.clone(),
        });
        for index in 0..self.workers {
            let name = format!("{}[{index}]", self.name);
            let guard = LiveGuard::new(&control);
            let future = worker(
                index,
                shared.clone(),
                rx.clone(),
                self.results.clone(),
                guard,
            );
            match nursery.try_spawn(Some(&name), future) {
                Ok(child) => control.cancels.borrow_mut().push(child.cancel_scope()),
                Err(error) => {
                    // Only the first spawn can fail (a nursery closes only
                    // when it finishes, which needs this task to yield);
                    // still, leave nothing half-started.
                    control.cancel_workers(None);
                    return Err(error);
                }
            }
        }
        Ok(WorkerPool::new(tx, control, self.workers))
    }
}
