//! The blocking offload pool, low-level: run a closure on a worker thread
//! and await its outcome. Most code wants `arbor::to_thread::run_sync`
//! (crate `arbor-primitives`), which adds the capacity limiter, the cancel
//! point at entry, the shielded wait and abandon-on-cancel on top of this.
//!
//! # The split
//!
//! The thread-crossing mechanism lives here, in the runtime (it is one of
//! the three places where threads meet, with wakers and handles, and is
//! model-checked with loom through `crate::sync`). The policy (which
//! limiter, whether a cancelled scope waits or abandons, releasing the
//! `!Send` limiter token on the runtime thread) lives with
//! `CapacityLimiter` in `arbor-primitives`, which depends on this crate.
//!
//! # The pool
//!
//! Each runtime has its own pool (like tokio's, unlike trio's process-wide
//! thread cache): its settings come from the runtime's
//! [`Builder`](crate::Builder), runtimes (and tests) do not share or
//! starve each other's threads, and dropping the runtime retires its
//! workers. Threads are started on demand, at most
//! [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)
//! at once (512 by default; jobs beyond that wait in a FIFO queue), reused
//! for later jobs, and retire after
//! [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive)
//! without work (10 s by default). Dropping the runtime joins its idle
//! workers (they exit at once), drops the jobs not started yet, and does
//! not wait for jobs that are running (nothing can interrupt a thread):
//! their workers are detached and exit when the job ends.
//!
//! # A job's hand-off
//!
//! [`spawn`] boxes the closure with an `Arc` completion slot (`slot.rs`)
//! and queues it. The worker runs it under `catch_unwind`, stores the
//! outcome in the slot and wakes the waker stored there: an arbor task's
//! waker woken off the runtime thread goes through the runtime's remote
//! queue and its eventfd, so a runtime asleep in `epoll_wait` wakes up.
//! The task's next poll of the [`BlockingJob`] takes the outcome.
//! Dropping the `BlockingJob` first abandons the job: it still runs to
//! its end (a thread cannot be interrupted), and the worker drops the
//! outcome.
//!
//! # The way back ([`from_thread`])
//!
//! Each job also has a mailbox (`portal.rs`), which the job installs in
//! a thread-local of its worker around `f`. A [`from_thread`] call posts a
//! request there and wakes the awaiting task; the task's next poll of the
//! [`BlockingJob`] takes it and serves it in that poll (a closure runs to
//! its end; a future is kept and polled by the job's later polls), then
//! answers; the worker blocks on the answer. A poll is two halves,
//! [`BlockingJob::serve_requests`] then [`BlockingJob::poll_outcome`],
//! which a caller may make separately to serve in another context than
//! the one it awaits the outcome in (`arbor::to_thread` serves outside
//! its shield). Closing the mailbox
//! ([`BlockingJob::close_requests`], or dropping the job) answers
//! `Cancelled` to whatever is pending or comes later.

pub mod from_thread;
mod pool;
mod portal;
mod slot;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;

pub use pool::PoolStats;
pub(crate) use pool::{Config, Pool};
use portal::{Portal, Serving};
use slot::Slot;

use crate::context;
use crate::sync::Arc;

/// Run `f` on a worker thread of the current runtime's blocking pool and
/// return a handle to await its outcome: `Ok(value)`, or `Err(payload)` if
/// `f` panicked (pass it to [`std::panic::resume_unwind`] to propagate).
///
/// Low-level: no capacity limit beyond the pool's thread bound, and
/// awaiting the handle is not a cancel point (a cancelled scope drops it,
/// abandoning the job, like any plain future). `arbor::to_thread::run_sync`
/// is the checkpointed, limited, shielded version.
///
/// ```
/// arbor_runtime::run(async {
///     let job = arbor_runtime::blocking::spawn(|| {
///         std::thread::current().name().map(str::to_owned)
///     });
///     let name = job.await.unwrap().unwrap();
///     assert!(name.starts_with("arbor-blocking-"), "{name}");
/// });
/// ```
///
/// # Panics
/// Outside a runtime, or if the OS refuses to start a worker thread when
/// none is alive.
#[track_caller]
pub fn spawn<F, R>(f: F) -> BlockingJob<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let job = BlockingJob::new();
    let work = make_job(f, job.slot.clone().expect("new"), job.portal.clone());
    context::expect("arbor_runtime::blocking::spawn", |core| {
        let _ = core.blocking.submit(work);
    });
    job
}

/// The boxed job: run `f` with the job's mailbox installed for
/// [`from_thread`], catch its panic, fill the slot.
fn make_job<F, R>(f: F, slot: Arc<Slot<R>>, portal: Arc<Portal>) -> pool::Job
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Box::new(move || {
        let out = from_thread::with_portal(portal, || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        });
        let _ = slot.complete(out);
    })
}

/// The current runtime's pool counters.
///
/// ```
/// arbor_runtime::run(async {
///     assert_eq!(arbor_runtime::blocking::stats().threads, 0); // started on demand
///     arbor_runtime::blocking::spawn(|| ()).await.unwrap();
///     assert!(arbor_runtime::blocking::stats().threads <= 1);
///     assert_eq!(arbor_runtime::blocking::stats().submitted, 1); // one hop
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn stats() -> PoolStats {
    context::expect("arbor_runtime::blocking::stats", |core| {
        core.blocking.stats()
    })
}

/// A job running on the blocking pool ([`spawn`]); awaiting it gives the
/// job's outcome, `Ok(value)` or `Err(panic payload)`.
///
/// Dropping it abandons the job: it still runs to its end on its worker,
/// which then drops the outcome.
///
/// Polling it also serves the job's [`from_thread`] calls, in the poll
/// (so in the cancel context the job is awaited in);
/// [`serve_requests`](Self::serve_requests) and
/// [`poll_outcome`](Self::poll_outcome) do the two halves of a poll
/// separately, to serve in another context. It is `!Send`: a
/// [`from_thread::run`] future being served lives in it.
///
/// ```
/// arbor_runtime::run(async {
///     let job = arbor_runtime::blocking::spawn(|| panic!("boom"));
///     let payload = job.await.unwrap_err();
///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
/// });
/// ```
#[must_use = "dropping a BlockingJob abandons its outcome"]
pub struct BlockingJob<R> {
    /// `None` once the outcome was taken.
    slot: Option<Arc<Slot<R>>>,
    /// The job's mailbox for [`from_thread`] requests.
    portal: Arc<Portal>,
    /// A [`from_thread::run`] future being served.
    serving: Option<Serving>,
}

impl<R> BlockingJob<R> {
    fn new() -> Self {
        BlockingJob {
            slot: Some(Arc::new(Slot::new())),
            portal: Arc::new(Portal::new()),
            serving: None,
        }
    }

    /// Serve no more [`from_thread`] calls of this job: the one being
    /// served (a [`from_thread::run`] future) is dropped and its caller
    /// gets [`Cancelled`](from_thread::FromThreadError::Cancelled), as do
    /// later calls, and [`from_thread::check_cancelled`] reports
    /// `Cancelled` on the worker. The job itself runs on. Idempotent;
    /// dropping the job does it too. `arbor::to_thread` calls it when the
    /// scope around the call is cancelled.
    ///
    /// ```
    /// use arbor_runtime::blocking::{self, from_thread};
    ///
    /// arbor_runtime::run(async {
    ///     let (tx, rx) = std::sync::mpsc::channel::<()>();
    ///     let mut job = blocking::spawn(move || {
    ///         rx.recv().unwrap();
    ///         from_thread::run_sync(|| "served")
    ///     });
    ///     job.close_requests();
    ///     tx.send(()).unwrap();
    ///     assert_eq!(job.await.unwrap(), Err(from_thread::FromThreadError::Cancelled));
    /// });
    /// ```
    pub fn close_requests(&mut self) {
        // Closed first: a worker woken by the `Cancelled` below already
        // sees `check_cancelled` fail.
        let _ = self.portal.close();
        self.serving = None;
    }

    /// Take no new [`from_thread`] calls of this job (they, and
    /// [`from_thread::check_cancelled`], get
    /// [`Cancelled`](from_thread::FromThreadError::Cancelled)), but keep
    /// serving the [`from_thread::run`] future already started, if any:
    /// it runs in a scope region of its own, so when the context it is
    /// served in is cancelled, the scope rules drop it (at its next
    /// suspension, after any shield inside it finished) and its caller
    /// gets `Cancelled` then. Keep calling
    /// [`serve_requests`](Self::serve_requests) until it is done.
    /// `arbor::to_thread` calls this when the scope around the call is
    /// cancelled; [`close_requests`](Self::close_requests) drops the
    /// served future at once instead.
    ///
    /// ```
    /// use arbor_runtime::blocking::{self, from_thread};
    ///
    /// arbor_runtime::run(async {
    ///     let (tx, rx) = std::sync::mpsc::channel::<()>();
    ///     let mut job = blocking::spawn(move || {
    ///         rx.recv().unwrap();
    ///         from_thread::run_sync(|| "served")
    ///     });
    ///     job.refuse_requests();
    ///     tx.send(()).unwrap();
    ///     assert_eq!(job.await.unwrap(), Err(from_thread::FromThreadError::Cancelled));
    /// });
    /// ```
    pub fn refuse_requests(&mut self) {
        let _ = self.portal.close();
    }

    /// Serve the job's [`from_thread`] calls now, in the context of the
    /// caller: poll the [`from_thread::run`] future being served, if any,
    /// then take the request waiting, if any (a [`from_thread::run_sync`]
    /// closure runs to its end here; a `run` future is polled here, and
    /// kept for the next call if it is pending). Also remembers `cx`'s
    /// waker: a request posted later wakes it. Once the requests are
    /// [closed](Self::close_requests) there is nothing to serve; once the
    /// outcome is taken it does nothing.
    ///
    /// Polling the job does this and then polls the outcome
    /// ([`poll_outcome`](Self::poll_outcome)). Call the two separately to
    /// serve in another context than the one the outcome is awaited in:
    /// `arbor::to_thread` awaits the outcome in a shield region and serves
    /// outside it, in the context of its caller.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use arbor_runtime::blocking::{self, from_thread};
    ///
    /// arbor_runtime::run(async {
    ///     let mut job = blocking::spawn(|| from_thread::run_sync(|| 6 * 7).unwrap());
    ///     let out = poll_fn(|cx| {
    ///         job.serve_requests(cx); // here: the context of this task
    ///         job.poll_outcome(cx)
    ///     })
    ///     .await;
    ///     assert_eq!(out.unwrap(), 42);
    /// });
    /// ```
    pub fn serve_requests(&mut self, cx: &mut Context<'_>) {
        if self.slot.is_none() {
            return;
        }
        if let Some(serving) = self.serving.as_mut() {
            if serving.as_mut().poll(cx).is_pending() {
                return;
            }
            self.serving = None;
        }
        // At most one new request per call: posting wakes the task.
        if let Some(request) = self.portal.take(cx)
            && let Some(mut serving) = request.start()
            && serving.as_mut().poll(cx).is_pending()
        {
            self.serving = Some(serving);
        }
    }

    /// Poll for the job's outcome alone, without serving its
    /// [`from_thread`] calls: for a caller that serves them itself with
    /// [`serve_requests`](Self::serve_requests), in the same polls. While
    /// the job's function waits in a `from_thread` call, its outcome comes
    /// only once that call is served (or the requests are
    /// [closed](Self::close_requests)).
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// arbor_runtime::run(async {
    ///     // A job that makes no `from_thread` call needs no serving.
    ///     let mut job = arbor_runtime::blocking::spawn(|| 6 * 7);
    ///     let out = poll_fn(|cx| job.poll_outcome(cx)).await;
    ///     assert_eq!(out.unwrap(), 42);
    /// });
    /// ```
    ///
    /// # Panics
    /// If called again after it returned `Ready`.
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<thread::Result<R>> {
        let slot = self
            .slot
            .as_ref()
            .expect("a BlockingJob was polled after it completed");
        let out = std::task::ready!(slot.poll(cx));
        // The worker blocks while a request is served, so its job cannot
        // have ended with one pending.
        debug_assert!(self.serving.is_none());
        self.slot = None;
        Poll::Ready(out)
    }

    /// Whether the job has ended (a poll would be ready).
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let (tx, rx) = std::sync::mpsc::channel::<()>();
    ///     let job = arbor_runtime::blocking::spawn(move || rx.recv().unwrap());
    ///     assert!(!job.is_finished());
    ///     tx.send(()).unwrap();
    ///     job.await.unwrap();
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot.as_ref().is_none_or(|s| s.is_finished())
    }
}

impl<R> Future for BlockingJob<R> {
    type Output = thread::Result<R>;

    /// # Panics
    /// If polled again after it returned `Ready`.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.serve_requests(cx);
        this.poll_outcome(cx)
    }
}

impl<R> Drop for BlockingJob<R> {
    fn drop(&mut self) {
        self.close_requests();
        if let Some(slot) = self.slot.take() {
            let _ = slot.abandon();
        }
    }
}

impl<R> fmt::Debug for BlockingJob<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJob")
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_models;
