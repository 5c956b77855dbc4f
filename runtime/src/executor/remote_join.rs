//! [`RemoteJoinHandle`]: waiting for, and aborting, a task spawned
//! through [`Handle::spawn`](super::Handle::spawn) from any thread.
//!
//! # Abort
//!
//! The handle and its task share an [`AbortSlot`]: the abort flag, and the
//! task's id once the runtime thread has spawned it. [`RemoteJoinHandle::abort`]
//! sets the flag and pushes a job onto the remote queue. The queue runs
//! jobs in push order, so that job runs after the spawn job, which either
//! saw the flag (and never built the future) or recorded the id the abort
//! job then aborts. A task that had finished is not affected. The joiner
//! tells an aborted task from a dropped runtime by the flag.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::thread::ThreadId;

use super::oneshot;
use super::remote::RunOnce;
use super::{RemoteQueue, abort_task_by_id};
use crate::task::TaskId;

pub(super) type Outcome<T> = Result<T, Box<dyn Any + Send>>;

/// Shared by a [`RemoteJoinHandle`] and the job that spawns its task.
#[derive(Default)]
pub(super) struct AbortSlot {
    requested: AtomicBool,
    /// Set on the runtime thread once the task is spawned.
    task: Mutex<Option<TaskId>>,
}

impl AbortSlot {
    /// Runtime thread, before building the future: whether to skip it.
    pub(super) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Runtime thread: the task is spawned, as `id`.
    pub(super) fn spawned(&self, id: TaskId) {
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }
}

/// Runs on the runtime thread: abort the task, if it was spawned.
struct AbortJob(Arc<AbortSlot>);

impl RunOnce for AbortJob {
    fn run(self: Box<Self>) {
        let task = *self.0.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = task {
            abort_task_by_id(id);
        }
    }
}

/// Waits, from any thread, for a task spawned through
/// [`Handle::spawn`](super::Handle::spawn):
/// block with [`join`](Self::join), or `.await` it (it is a `Future`,
/// usable from another runtime or any executor, and a checkpoint on an
/// arbor runtime); [`abort`](Self::abort) it from any thread. Dropping
/// it detaches the task, which keeps running.
///
/// # Cancel safety
/// Dropping the `await` loses nothing: the output stays queued until a
/// poll returns it, so awaiting (or joining) the handle again still gets
/// it.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let task = rt.handle().spawn(|| async { 6 * 7 }).unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), 42);
/// ```
pub struct RemoteJoinHandle<T> {
    pub(super) rx: oneshot::Receiver<Outcome<T>>,
    thread: ThreadId,
    abort: Arc<AbortSlot>,
    remote: Weak<RemoteQueue>,
    /// It returned `Pending` once (it waited, or yielded at its schedule
    /// point): the output is taken without another yield.
    waited: bool,
}

impl<T> RemoteJoinHandle<T> {
    pub(super) fn new(
        rx: oneshot::Receiver<Outcome<T>>,
        thread: ThreadId,
        abort: Arc<AbortSlot>,
        remote: Weak<RemoteQueue>,
    ) -> Self {
        RemoteJoinHandle {
            rx,
            thread,
            abort,
            remote,
            waited: false,
        }
    }

    /// Cancel the task from any thread: the runtime thread drops its
    /// future at its next look at the remote queue (or never builds it, if
    /// the spawn has not run yet), and waiting then gives
    /// [`RemoteJoinError::Cancelled`]. A task that already finished keeps
    /// its output; with the runtime gone this does nothing.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let task = rt.handle().spawn(|| std::future::pending::<()>()).unwrap();
    /// let stopper = std::thread::spawn(move || {
    ///     task.abort();
    ///     task.join()
    /// });
    /// // The runtime runs while the other thread aborts and waits.
    /// rt.block_on(async {
    ///     while !stopper.is_finished() {
    ///         arbor_runtime::yield_now().await;
    ///     }
    /// });
    /// let joined = stopper.join().unwrap();
    /// assert!(matches!(joined, Err(arbor_runtime::RemoteJoinError::Cancelled)));
    /// ```
    pub fn abort(&self) {
        self.abort.requested.store(true, Ordering::Release);
        let job = AbortJob(self.abort.clone());
        if std::thread::current().id() == self.thread {
            // On the runtime's thread: no need to wait for a queue drain.
            Box::new(job).run();
        } else if let Some(remote) = self.remote.upgrade() {
            // Refused only once the runtime is shutting down, which drops
            // the task anyway.
            let _ = remote.push_job(job);
        }
    }

    /// Block this thread until the task finishes.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let task = rt.handle().spawn(|| async { "done" }).unwrap();
    /// drop(rt); // the job is dropped unrun
    /// assert!(matches!(task.join(), Err(arbor_runtime::RemoteJoinError::RuntimeGone)));
    /// ```
    ///
    /// # Errors
    /// [`RemoteJoinError::Panicked`] if the task (or the closure that
    /// built it) panicked; [`RemoteJoinError::RuntimeGone`] if the runtime
    /// was dropped before the task finished.
    ///
    /// # Panics
    /// On the runtime's own thread while the task has not finished:
    /// waiting there would deadlock (`.await` the handle instead).
    #[track_caller]
    pub fn join(self) -> Result<T, RemoteJoinError> {
        if std::thread::current().id() == self.thread && !self.rx.is_finished() {
            panic!(
                "RemoteJoinHandle::join on the runtime's own thread would block the \
                 thread the task needs; await the handle instead"
            );
        }
        let outcome = self.rx.recv();
        self.finish(outcome)
    }

    /// Whether the task has finished (or will never run: the runtime is
    /// gone); [`join`](Self::join) then returns at once.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let task = rt.handle().spawn(|| async { 3 }).unwrap();
    /// assert!(!task.is_finished()); // queued until the runtime runs
    /// rt.block_on(async {
    ///     while !task.is_finished() {
    ///         arbor_runtime::yield_now().await;
    ///     }
    /// });
    /// assert_eq!(task.join().unwrap(), 3); // finished: no wait
    /// ```
    pub fn is_finished(&self) -> bool {
        self.rx.is_finished()
    }
}

impl<T> RemoteJoinHandle<T> {
    /// The task's output, or why there is none: a task whose result never
    /// came was aborted if an abort was asked, else lost with its runtime.
    fn finish(&self, outcome: Option<Outcome<T>>) -> Result<T, RemoteJoinError> {
        match outcome {
            Some(Ok(value)) => Ok(value),
            Some(Err(panic)) => Err(RemoteJoinError::Panicked(panic)),
            None if self.abort.requested() => Err(RemoteJoinError::Cancelled),
            None => Err(RemoteJoinError::RuntimeGone),
        }
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, RemoteJoinError>;

    /// On an arbor runtime, awaiting it is a checkpoint like awaiting a
    /// [`JoinHandle`](crate::JoinHandle): no progress inside a cancelled
    /// scope (the output stays queued), and a schedule point when the
    /// output is already there (taken only after the yield). Elsewhere
    /// (another executor, no runtime) both checks say "go on".
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if crate::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        if self.rx.is_finished()
            && !std::mem::replace(&mut self.waited, true)
            && crate::scope::schedule_point(cx)
        {
            return Poll::Pending;
        }
        let polled = self.rx.poll_recv(cx);
        if polled.is_pending() {
            self.waited = true;
        }
        polled.map(|outcome| self.finish(outcome))
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a [`RemoteJoinHandle`] has no output.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let task = rt.handle().spawn(|| async { panic!("boom") }).unwrap();
/// match rt.block_on(task) {
///     Err(arbor_runtime::RemoteJoinError::Panicked(p)) => {
///         assert_eq!(p.downcast_ref::<&str>(), Some(&"boom"))
///     }
///     _ => unreachable!(),
/// }
/// ```
#[non_exhaustive]
pub enum RemoteJoinError {
    /// The runtime was dropped before the task finished (or before the
    /// job that spawns it ran).
    RuntimeGone,
    /// The task, or the closure that built its future, panicked; the
    /// panic's payload.
    Panicked(Box<dyn Any + Send>),
    /// The task was aborted ([`RemoteJoinHandle::abort`]) before it
    /// finished.
    Cancelled,
}

impl fmt::Debug for RemoteJoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteJoinError::RuntimeGone => f.write_str("RuntimeGone"),
            RemoteJoinError::Panicked(_) => f.write_str("Panicked(..)"),
            RemoteJoinError::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for RemoteJoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteJoinError::RuntimeGone => f.write_str(
                "the arbor runtime was dropped before the task finished; keep it alive \
                 until remote tasks are joined",
            ),
            RemoteJoinError::Panicked(_) => f.write_str("the remotely spawned task panicked"),
            RemoteJoinError::Cancelled => {
                f.write_str("the remotely spawned task was aborted before it finished")
            }
        }
    }
}

impl std::error::Error for RemoteJoinError {}
