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

mod pool;
mod slot;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;

pub use pool::PoolStats;
pub(crate) use pool::{Config, Pool};
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
    let slot = Arc::new(Slot::new());
    let job = make_job(f, slot.clone());
    context::expect("arbor_runtime::blocking::spawn", |core| {
        let _ = core.blocking.submit(job);
    });
    BlockingJob { slot: Some(slot) }
}

/// The boxed job: run `f`, catch its panic, fill the slot.
fn make_job<F, R>(f: F, slot: Arc<Slot<R>>) -> pool::Job
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
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
}

impl<R> BlockingJob<R> {
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
        let slot = self
            .slot
            .as_ref()
            .expect("a BlockingJob was polled after it completed");
        let out = std::task::ready!(slot.poll(cx));
        self.slot = None;
        Poll::Ready(out)
    }
}

impl<R> Drop for BlockingJob<R> {
    fn drop(&mut self) {
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
