//! [`WorkerPool`]: N workers draining a bounded queue of items, inside a
//! nursery.
//!
//! # Structure
//!
//! [`WorkerPool::builder`]`(workers, capacity, handler)...`[`start`](Builder::start)`(&nursery)`
//! makes a [`bounded`](arbor_primitives::channel::bounded)`(capacity)`
//! channel and spawns `workers` children into the caller's nursery, each
//! looping: receive an item, run `handler(item)`, route the outcome. It
//! returns a [`WorkerPool`] handle, which holds the channel's only sender.
//!
//! That structure is what keeps the pool inside its scope: the workers are
//! nursery children, so the nursery does not finish before they do, and
//! cancelling the nursery (or any scope around it) drops them, and their
//! in-flight items, promptly. The pool has no task or scope of its own; a
//! handle that outlives the nursery only gets its items handed back.
//!
//! ```text
//!             close(), or the last handle dropped
//!   Open ───────────────────────────────────────────▶ Draining ──(queue empty)──▶ Finished
//!    │ cancel(), the nursery cancelled,                                              ▲
//!    │ or a failure with no error handler                                            │
//!    └──────────────── (in-flight and queued items dropped) ─────────────────────────┘
//! ```
//!
//! - *Open*: [`submit`](WorkerPool::submit) waits for room in the queue
//!   (backpressure: at most `capacity` items wait, at most `workers` run).
//! - *Draining*: intake is closed (submissions get their item back as
//!   [`Closed`]); the workers finish what was queued, then end.
//! - *Finished*: every worker has ended: [`join`](WorkerPool::join)
//!   returns, the nursery can complete, and the results stream (if any)
//!   ends.
//!
//! # Errors and panics
//!
//! An item's failure is a [`WorkerError`]: the handler's `Err`, or a panic
//! while making or polling its future. Each poll runs inside
//! [`catch_unwind`](std::panic::catch_unwind), so a panic is contained to
//! its item: that item's future is dropped, the failure is reported, and
//! the worker takes the next item. Failures go to the error sink, never to
//! stdout or stderr (the process's panic hook still reports the panic
//! itself where it happened, as for any caught panic):
//!
//! - with [`Builder::on_error`] (or [`Builder::error_sink`]): to that
//!   callback; the pool goes on;
//! - without: [`FailPool`]: the first failure stops the pool (its other
//!   workers are cancelled) and is the failing worker's nursery failure,
//!   so a [`nursery`](arbor_nursery::nursery) cancels itself and returns
//!   it in its error group.
//!
//! # Results
//!
//! [`Builder::results`] sends each successful output into a channel the
//! caller made; a full bounded one blocks the worker holding the output.
//! Without it, outputs are dropped.
//!
//! # Example
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use arbor_patterns::worker::{WorkerError, WorkerPool};
//! use arbor_primitives::channel;
//!
//! let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let errors = Rc::new(RefCell::new(Vec::new()));
//!     let (results, outputs) = channel::unbounded();
//!     let log = errors.clone();
//!     arbor_nursery::nursery(async |n| {
//!         // 2 workers, at most 4 items queued.
//!         let pool = WorkerPool::builder(2, 4, async |x: u32| {
//!             arbor_runtime::time::sleep(Duration::from_secs(1)).await;
//!             if x == 3 { Err(format!("{x} is unlucky")) } else { Ok(x * 10) }
//!         })
//!         .on_error(move |e: WorkerError<String>| log.borrow_mut().push(e.to_string()))
//!         .results(results)
//!         .start(&n);
//!         for x in 1..=4 {
//!             pool.submit(x).await.unwrap();
//!         }
//!         pool.close(); // the workers drain the queue, then the nursery returns
//!     })
//!     .await
//!     .unwrap();
//!     let mut got = Vec::new();
//!     while let Ok(y) = outputs.recv().await {
//!         got.push(y);
//!     }
//!     assert_eq!(got, [10, 20, 40]);
//!     assert_eq!(*errors.borrow(), ["a worker pool item failed: 3 is unlucky"]);
//! });
//! ```

use std::fmt;
use std::rc::Rc;

use arbor_primitives::channel::{Sender, TrySendError};

mod builder;
mod error;
mod sink;
mod task;

pub use builder::Builder;
pub use error::{Closed, TrySubmitError, WorkerError};
pub use sink::{ErrorSink, FailPool};

use task::Control;

/// A handle to a running worker pool: submit items, close it, cancel it,
/// wait for it. Made by [`WorkerPool::builder`]; see [the module
/// docs](self) for the structure and the life cycle.
///
/// Clones are cheap (an `Rc`) and share one intake: [`close`](Self::close)
/// on any clone closes the pool for all. Dropping the last handle closes
/// the pool as `close` does. `!Send`, like everything of a task.
pub struct WorkerPool<I> {
    shared: Rc<Handle<I>>,
}

/// What the handles share. The workers do not hold it: only handles keep
/// the channel's sender, and with it the pool, open.
struct Handle<I> {
    items: Sender<I>,
    control: Rc<Control>,
    workers: usize,
}

impl<I> WorkerPool<I> {
    /// Settings for a pool of `workers` workers running `handler` on each
    /// item, with a queue of at most `capacity` items waiting (`0`: a
    /// submission completes only when a worker takes the item). Set an
    /// error handler, a results channel or a name, then
    /// [`start`](Builder::start) it in a nursery.
    ///
    /// The handler is shared by the workers (called through `&`); each
    /// call's future runs in one worker, one item at a time per worker.
    /// Plain closures returning futures work too.
    ///
    /// # Panics
    /// If `workers` is 0.
    ///
    /// # Example
    /// Without an error handler, the first failure stops the pool and
    /// fails its nursery:
    ///
    /// ```
    /// use arbor_nursery::NurseryError;
    /// use arbor_patterns::worker::{WorkerError, WorkerPool};
    ///
    /// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
    /// rt.block_on(async {
    ///     let out = arbor_nursery::nursery(async |n| {
    ///         let pool = WorkerPool::builder(4, 16, async |path: &'static str| {
    ///             if path.ends_with(".png") { Ok(()) } else { Err(format!("cannot resize {path}")) }
    ///         })
    ///         .name("resize")
    ///         .start(&n);
    ///         pool.submit("a.png").await.unwrap();
    ///         pool.submit("b.txt").await.unwrap();
    ///         // The failure cancels this body at its next suspension.
    ///         arbor_runtime::time::sleep(std::time::Duration::from_secs(3600)).await;
    ///     })
    ///     .await;
    ///     let Err(NurseryError::Failed(group)) = out else { unreachable!() };
    ///     let failure = &group.failures()[0];
    ///     assert_eq!(failure.task(), Some("resize[1]"));
    ///     let error = failure.error().downcast_ref::<WorkerError<String>>().unwrap();
    ///     assert_eq!(error.to_string(), "a worker pool item failed: cannot resize b.txt");
    /// });
    /// ```
    pub fn builder<O, E, H>(workers: usize, capacity: usize, handler: H) -> Builder<I, O, E, H>
    where
        H: AsyncFn(I) -> Result<O, E>,
    {
        Builder::new(workers, capacity, handler)
    }

    fn new(items: Sender<I>, control: Rc<Control>, workers: usize) -> Self {
        WorkerPool {
            shared: Rc::new(Handle {
                items,
                control,
                workers,
            }),
        }
    }

    /// Queue `item` for the workers, waiting while the queue is full
    /// (backpressure). Submissions are served in the order they began
    /// waiting, and items are taken in the order they were queued.
    ///
    /// A checkpoint, like [`Sender::send`]: inside a cancelled scope it
    /// makes no progress; a submission that finds room at once still lets
    /// other ready tasks (the workers) run before it returns. A refused one
    /// returns at once.
    ///
    /// # Errors
    /// [`Closed`], handing the item back, if the pool takes no more items:
    /// it was closed or cancelled (also while this submission waited: the
    /// close wakes it), or its workers have all ended (failed, cancelled
    /// with their nursery).
    ///
    /// # Cancel safety
    /// Dropping the future while it waits for room drops the item with
    /// it: it was never queued, and no worker sees it (to keep it, submit
    /// with [`try_submit`](Self::try_submit) and wait yourself). Once the
    /// item is queued, even if the future is dropped at the schedule point
    /// before returning `Ok(())`, it counts as submitted: a worker will
    /// take it.
    ///
    /// # Example
    /// ```
    /// use arbor_patterns::worker::{Closed, TrySubmitError, WorkerPool};
    ///
    /// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
    /// rt.block_on(async {
    ///     arbor_nursery::nursery(async |n| {
    ///         let pool = WorkerPool::builder(1, 1, async |_: u32| Ok::<_, String>(())).start(&n);
    ///         pool.try_submit(1).unwrap(); // the queue's one slot
    ///         assert_eq!(pool.try_submit(2), Err(TrySubmitError::Full(2)));
    ///         pool.submit(2).await.unwrap(); // waits until the worker takes 1
    ///         pool.close();
    ///         assert_eq!(pool.submit(3).await, Err(Closed(3))); // handed back
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub async fn submit(&self, item: I) -> Result<(), Closed<I>> {
        self.shared
            .items
            .send(item)
            .await
            .map_err(|e| Closed(e.into_inner()))
    }

    /// Queue `item` if there is room now (and no submission is waiting
    /// for room first). Not a checkpoint: it never yields.
    ///
    /// # Errors
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], each
    /// handing the item back.
    pub fn try_submit(&self, item: I) -> Result<(), TrySubmitError<I>> {
        self.shared.items.try_send(item).map_err(|e| match e {
            TrySendError::Full(item) => TrySubmitError::Full(item),
            TrySendError::Closed(item) | TrySendError::ClosedHandle(item) => {
                TrySubmitError::Closed(item)
            }
        })
    }

    /// Stop intake: later submissions (and those waiting for room now)
    /// fail with [`Closed`], handing their item back. The workers finish
    /// every item already queued, then end; the nursery can then finish.
    /// Closing twice is a no-op.
    pub fn close(&self) {
        self.shared.items.close();
    }

    /// Stop the pool now: close intake (as [`close`](Self::close)) and
    /// cancel every worker. In-flight items are dropped at the workers'
    /// next suspension (in this scheduler tick), queued items once the
    /// last worker is gone. Only the pool's workers are cancelled, each in
    /// its own scope: the nursery and its other children go on, and
    /// nothing is reported as a failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor_patterns::worker::WorkerPool;
    /// use arbor_runtime::time::{Instant, sleep};
    ///
    /// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
    /// rt.block_on(async {
    ///     let start = Instant::now();
    ///     arbor_nursery::nursery(async |n| {
    ///         let pool = WorkerPool::builder(2, 8, async |_: u32| {
    ///             sleep(Duration::from_secs(3600)).await;
    ///             Ok::<_, String>(())
    ///         })
    ///         .start(&n);
    ///         for x in 0..4 {
    ///             pool.submit(x).await.unwrap();
    ///         }
    ///         sleep(Duration::from_secs(1)).await;
    ///         pool.cancel();
    ///         pool.join().await;
    ///         assert!(pool.is_closed());
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(Instant::now().saturating_duration_since(start), Duration::from_secs(1));
    /// });
    /// ```
    pub fn cancel(&self) {
        self.close();
        self.shared.control.cancel_workers(None);
    }

    /// Wait until every worker has ended: the pool was closed and has
    /// drained, or it was cancelled, or it failed. This does not close the
    /// pool: call [`close`](Self::close) first, or it waits as long as
    /// items may still come.
    ///
    /// A checkpoint (an [`Event`](arbor_primitives::Event) wait): inside
    /// a cancelled scope it makes no progress.
    ///
    /// # Cancel safety
    /// Dropping it changes nothing: it only watches.
    pub async fn join(&self) {
        self.shared.control.finished.wait().await;
    }

    /// Whether intake is closed: by [`close`](Self::close) or
    /// [`cancel`](Self::cancel), or because every worker has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.items.is_closed() || self.shared.items.statistics().open_receive_streams == 0
    }

    /// Whether every worker has ended ([`join`](Self::join) would return).
    pub fn is_finished(&self) -> bool {
        self.shared.control.finished.is_set()
    }

    /// The number of workers the pool was started with.
    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// Workers not yet ended.
    pub fn live_workers(&self) -> usize {
        self.shared.control.live.get()
    }

    /// Items queued and not yet taken by a worker.
    pub fn queued(&self) -> usize {
        self.shared.items.statistics().current_buffer_used
    }
}

impl<I> Clone for WorkerPool<I> {
    fn clone(&self) -> Self {
        WorkerPool {
            shared: self.shared.clone(),
        }
    }
}

impl<I> fmt::Debug for WorkerPool<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.shared.workers)
            .field("live_workers", &self.live_workers())
            .field("queued", &self.queued())
            .field("closed", &self.is_closed())
            .finish()
    }
}
