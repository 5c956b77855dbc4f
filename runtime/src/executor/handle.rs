//! [`Handle`]: what another thread holds to run work on a runtime.
//!
//! # How work crosses
//!
//! A `Handle` holds a `Weak` to the runtime's remote queue (`remote.rs`,
//! the one waker wakes from other threads already use) and pushes *jobs*
//! onto it, ringing the same doorbell. The runtime thread runs the jobs
//! after the remote wakes, at the root (no task current), whenever its run
//! loop takes the queue: so only while some thread is inside
//! [`Runtime::block_on`](crate::Runtime::block_on). A job built by
//! [`Handle::spawn`] calls the user's `Send` closure there and spawns the
//! `!Send` future it returns as an ordinary task in the runtime's **root
//! scope**: it is unstructured, like trio's `TrioToken.run_sync_soon`,
//! tokio's `Handle::spawn` and [`Runtime::spawn`](crate::Runtime::spawn),
//! belonging to no nursery; it runs until it finishes or the runtime is
//! dropped.
//!
//! # Shutdown
//!
//! The runtime's drop closes the queue before it drops its tasks. Every
//! push is ordered against the close by the queue's lock: a job pushed
//! before it is dropped unrun by the runtime, on the runtime thread, during
//! the drop (its [`RemoteJoinHandle`] then reports
//! [`RemoteJoinError::RuntimeGone`]); a push after it, or once the queue
//! itself is freed, fails with [`RuntimeGone`], handing the closure back
//! to the caller, on the caller's thread. Each closure is run or dropped
//! exactly once.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::thread::ThreadId;

use super::oneshot;
use super::remote::RunOnce;
use super::remote_join::{AbortSlot, Outcome};
pub use super::remote_join::{RemoteJoinError, RemoteJoinHandle};
use super::{Core, RemoteQueue, Runtime};
use crate::context;
use crate::task::RuntimeId;

/// A `Send + Sync + Clone` handle to a [`Runtime`], for other threads:
/// spawn work onto it, or run a future on it and wait for the result.
///
/// Work sent through a handle runs on the runtime's thread while that
/// thread is inside [`Runtime::block_on`]; the futures are spawned into
/// the runtime's root scope (unstructured: no nursery waits for them).
/// Once the runtime is dropped (from the moment its drop begins), every
/// call fails with [`RuntimeGone`] / [`RunError::RuntimeGone`]. A handle
/// does not keep the runtime (or its file descriptors) alive.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let worker = std::thread::spawn(move || {
///     // The closure is `Send`; the future it builds need not be.
///     handle.run(|| async { std::rc::Rc::new(20).as_ref() + 1 }).unwrap()
/// });
/// // The runtime thread drives the work while it is in `block_on`.
/// rt.block_on(async {
///     while !worker.is_finished() {
///         arbor_runtime::time::sleep(std::time::Duration::from_millis(1)).await;
///     }
/// });
/// assert_eq!(worker.join().unwrap(), 21);
/// ```
#[derive(Clone)]
pub struct Handle {
    remote: Weak<RemoteQueue>,
    key: u32,
    thread: ThreadId,
}

impl Runtime {
    /// A [`Handle`] to this runtime, for other threads.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// assert_eq!(handle.runtime_id(), rt.id());
    /// ```
    pub fn handle(&self) -> Handle {
        Handle::of(&self.core)
    }
}

impl Handle {
    fn of(core: &Core) -> Handle {
        Handle {
            remote: std::sync::Arc::downgrade(&core.remote),
            key: core.key,
            thread: core.thread,
        }
    }

    /// A handle to the runtime running on this thread (inside `block_on`
    /// or a task), `None` outside one.
    ///
    /// ```
    /// assert!(arbor_runtime::Handle::try_current().is_none());
    /// arbor_runtime::run(async {
    ///     assert!(arbor_runtime::Handle::try_current().is_some());
    /// });
    /// ```
    pub fn try_current() -> Option<Handle> {
        context::with(|core| core.map(Handle::of))
    }

    /// A handle to the runtime running on this thread.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let handle = arbor_runtime::Handle::current();
    ///     assert_eq!(Some(handle.runtime_id()), arbor_runtime::current_runtime_id());
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn current() -> Handle {
        context::expect("arbor_runtime::Handle::current", Handle::of)
    }

    /// The id of the runtime this handle points at.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// assert_eq!(rt.handle().runtime_id(), rt.id());
    /// ```
    pub fn runtime_id(&self) -> RuntimeId {
        RuntimeId(self.key)
    }

    /// Queue `f` to run on the runtime thread, at the root (no task
    /// current), the next time its run loop takes the remote queue (a
    /// tick's end). Low-level (trio's `TrioToken.run_sync_soon`): `f`
    /// should be short and must not block. A panic in `f` unwinds out of
    /// the runtime's `block_on`. Fails, handing `f` back, once the
    /// runtime is shutting down or gone.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// rt.handle()
    ///     .call_soon(move || tx.send(arbor_runtime::current_runtime_id()).unwrap())
    ///     .unwrap();
    /// rt.block_on(arbor_runtime::yield_now());
    /// assert_eq!(rx.recv().unwrap(), Some(rt.id()));
    /// ```
    pub fn call_soon<F>(&self, f: F) -> Result<(), RuntimeGone<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.push(CallSoon(f)).map_err(|CallSoon(f)| RuntimeGone(f))
    }

    /// Spawn a task onto the runtime from any thread: `fut_fn` is sent to
    /// the runtime thread and called there, and the future it returns
    /// (which need not be `Send`) runs as a task in the runtime's root
    /// scope. The returned [`RemoteJoinHandle`] waits for its output from
    /// any thread; dropping it detaches the task. Fails, handing `fut_fn`
    /// back, once the runtime is shutting down or gone.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let task = std::thread::spawn(move || {
    ///     handle.spawn(|| async { std::thread::current().id() }).unwrap()
    /// })
    /// .join()
    /// .unwrap();
    /// let ran_on = rt.block_on(task).unwrap(); // also a future
    /// assert_eq!(ran_on, std::thread::current().id());
    /// ```
    pub fn spawn<F, Fut>(&self, fut_fn: F) -> Result<RemoteJoinHandle<Fut::Output>, RuntimeGone<F>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let abort = Arc::new(AbortSlot::default());
        match self.push(SpawnJob {
            fut_fn,
            tx,
            abort: abort.clone(),
        }) {
            Ok(()) => Ok(RemoteJoinHandle::new(
                rx,
                self.thread,
                abort,
                self.remote.clone(),
            )),
            Err(job) => Err(RuntimeGone(job.fut_fn)),
        }
    }

    /// Run a future on the runtime from another thread and block this
    /// thread until it finishes (tokio's `Handle::block_on` from outside,
    /// trio's `from_thread.run` for a foreign thread): [`spawn`] followed
    /// by [`RemoteJoinHandle::join`]. A panic of the future (or of
    /// `fut_fn`) is resumed on this thread.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// // On the runtime thread itself it would deadlock: a clear error.
    /// let err = rt.handle().run(|| async { 1 }).unwrap_err();
    /// assert_eq!(err, arbor_runtime::RunError::OnRuntimeThread);
    /// ```
    ///
    /// # Errors
    /// [`RunError::OnRuntimeThread`] if called on the runtime's own thread
    /// (waiting there would block the thread that must run the future);
    /// [`RunError::RuntimeGone`] if the runtime is gone or shutting down,
    /// or was dropped before the future finished.
    ///
    /// Blocks for as long as the runtime's thread stays out of
    /// `block_on`. Called from a task of *another* runtime it blocks that
    /// runtime's thread meanwhile: `.await` [`spawn`]'s handle there
    /// instead.
    ///
    /// [`spawn`]: Handle::spawn
    pub fn run<F, Fut>(&self, fut_fn: F) -> Result<Fut::Output, RunError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        if std::thread::current().id() == self.thread {
            return Err(RunError::OnRuntimeThread);
        }
        let task = self.spawn(fut_fn).map_err(|_| RunError::RuntimeGone)?;
        match task.rx.recv() {
            Some(Ok(value)) => Ok(value),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(RunError::RuntimeGone),
        }
    }

    fn push<J: RunOnce + 'static>(&self, job: J) -> Result<(), J> {
        match self.remote.upgrade() {
            Some(remote) => remote.push_job(job),
            None => Err(job),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("runtime", &self.key)
            .field("alive", &(self.remote.strong_count() > 0))
            .finish()
    }
}

struct CallSoon<F>(F);

impl<F: FnOnce() + Send> RunOnce for CallSoon<F> {
    fn run(self: Box<Self>) {
        (self.0)()
    }
}

struct SpawnJob<F, T> {
    fut_fn: F,
    tx: oneshot::Sender<Outcome<T>>,
    abort: Arc<AbortSlot>,
}

impl<F, Fut> RunOnce for SpawnJob<F, Fut::Output>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    fn run(self: Box<Self>) {
        let SpawnJob { fut_fn, tx, abort } = *self;
        if abort.requested() {
            // Aborted before it started: dropping `tx` tells the joiner.
            return;
        }
        match catch_unwind(AssertUnwindSafe(fut_fn)) {
            Ok(future) => {
                // Detached: the output goes through `tx`.
                let task = crate::spawn(async move {
                    tx.send(CatchUnwind(Box::pin(future)).await);
                });
                abort.spawned(task.id());
            }
            Err(panic) => tx.send(Err(panic)),
        }
    }
}

/// Polls a future, turning a panic into an `Err` (the future is not
/// polled again after it panicked: the task then finishes).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Outcome<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Why a [`Handle`] call failed: the runtime is shutting down or gone.
/// Holds the closure that was not sent, for the caller to use or drop.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let handle = rt.handle();
/// drop(rt);
/// let gone = handle.call_soon(|| ()).unwrap_err();
/// let _closure = gone.into_inner();
/// ```
pub struct RuntimeGone<F>(pub F);

impl<F> RuntimeGone<F> {
    /// The closure that was not sent.
    pub fn into_inner(self) -> F {
        self.0
    }
}

impl<F> fmt::Debug for RuntimeGone<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RuntimeGone(..)")
    }
}

impl<F> fmt::Display for RuntimeGone<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the arbor runtime this handle points at has been dropped (or is shutting \
             down); nothing was sent: keep the runtime alive while handles are used",
        )
    }
}

impl<F> std::error::Error for RuntimeGone<F> {}

/// Why [`Handle::run`] returned no value.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let handle = rt.handle();
/// drop(rt);
/// let err = std::thread::spawn(move || handle.run(|| async {})).join().unwrap();
/// assert_eq!(err, Err(arbor_runtime::RunError::RuntimeGone));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    /// The runtime was dropped (or was shutting down) before the future
    /// ran to completion.
    RuntimeGone,
    /// `run` was called on the runtime's own thread, where waiting would
    /// deadlock.
    OnRuntimeThread,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::RuntimeGone => f.write_str(
                "the arbor runtime was dropped before the future finished; keep it \
                 alive (and in block_on) while other threads run work on it",
            ),
            RunError::OnRuntimeThread => f.write_str(
                "Handle::run was called on the runtime's own thread, where waiting \
                 would deadlock; spawn the future, or await it directly",
            ),
        }
    }
}

impl std::error::Error for RunError {}
