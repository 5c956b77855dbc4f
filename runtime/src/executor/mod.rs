//! The executor: the runtime's core state, the public [`Runtime`] and
//! [`Builder`] (`builder.rs`), and the run loop (`run.rs`).
//!
//! # Who touches what
//!
//! All of [`Core`] lives on the runtime thread and is reached through the
//! thread-local context (or an `Rc`/`Weak` held by a timer or I/O
//! registration). Its fields are `Cell`s and `RefCell`s; a `RefCell` is
//! never borrowed across a call into user code (polling a future, dropping
//! a future or an output, waking a foreign waker), so re-entrant calls from
//! that code (spawn, wake, abort, sleep) always find it free. The only
//! field shared with other threads is the [`Remote`] queue.

mod builder;
mod handle;
mod idle;
mod oneshot;
mod park;
mod provisional;
mod queue;
mod registry;
mod remote;
mod remote_join;
mod run;
mod scopes;
mod tasks;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::rc::{Rc, Weak};
use std::task::Waker;

use crate::context;
use crate::reactor::Reactor;
use crate::scope::{ScopeId, ScopeTable};
use crate::slab::GenSlab;
use crate::task::raw::RawTask;

use crate::task::waker::WakeId;
use crate::task::{JoinHandle, RuntimeId, TaskId};
use crate::time::clock::Clock;
use crate::time::wheel::Wheel;
use std::sync::Arc;

pub use builder::Builder;
pub use handle::{Handle, RemoteJoinError, RemoteJoinHandle, RunError, RuntimeGone};
pub use idle::{WaitAllTasksBlocked, wait_all_tasks_blocked};
use park::{OsWake, Parker};
pub(crate) use provisional::Provisioned;
use queue::{SplitMix64, TaskQueue};
pub(crate) use remote::{Doorbell, Remote};
pub(crate) use scopes::Watch;

pub(crate) type RemoteQueue = Remote<Parker<OsWake>>;

/// The bit of `Core::skips` that says the poll in progress noted its
/// await point (`scope::note_await`): the first note wins, and a poll that
/// parks without a note clears the task's old one.
pub(crate) const NOTED: u32 = 1 << 31;

/// How many task polls may run between two non-blocking reactor polls
/// while the run queue stays busy. Bounds I/O latency under load without a
/// syscall per tick (tokio's `event_interval` plays the same role).
const DEFAULT_EVENT_INTERVAL: u32 = 61;

/// The runtime's state. See the module doc for the borrowing rules.
pub(crate) struct Core {
    /// This runtime's key in the waker registry.
    pub(crate) key: u32,
    pub(crate) weak_self: Weak<Core>,
    tasks: RefCell<GenSlab<RawTask>>,
    run_queue: RefCell<TaskQueue>,
    root_woken: Cell<bool>,
    /// Set while a cancellation wakes the code it reaches: those wakes run
    /// in the current tick (`urgent_queue`, `root_urgent`), so cancelled
    /// code is dropped in the tick that cancelled it.
    urgent: Cell<bool>,
    urgent_queue: RefCell<TaskQueue>,
    root_urgent: Cell<bool>,
    /// The task being polled, for `current_task`.
    current: Cell<Option<TaskId>>,
    /// The allocation of `current` (alive while it is polled or dropped:
    /// the slab entry, or the drop's own hold, keeps it): lets the task's
    /// wakes of itself skip the slab lookup (`wake_local`).
    current_raw: Cell<Option<RawTask>>,
    /// Index of the scope node the code being polled is in.
    pub(crate) current_node: Cell<u32>,
    names: RefCell<HashMap<u32, Rc<str>>>,
    pub(crate) scopes: RefCell<ScopeTable>,
    /// `scopes`' count of effectively cancelled nodes, readable without
    /// borrowing the table: the hot check of every arbor operation.
    cancelled_nodes: Rc<Cell<usize>>,
    /// Lazy regions entered by the code being polled whose node may not
    /// exist yet (`provisional.rs`), outermost first.
    provisional: RefCell<provisional::ProvisionalStack>,
    /// Names provisional entries (`Core::next_provisional`).
    provisional_tokens: Cell<u64>,
    /// Counts holds (`Core::hold`): a region compares it around a poll to
    /// learn whether something inside must get the next poll.
    pub(crate) holds: Cell<u64>,
    /// The id of the next `cancelled()` future's watcher entry.
    next_watch: Cell<u64>,
    /// Marks of the poll in progress, reset by the one store that starts
    /// it: the schedule points it skipped (`schedule_point`), and the
    /// [`NOTED`] bit, set once it noted an await point (`note_await`).
    skips: Cell<u32>,
    /// The clock reading scopes entered in this task poll count from
    /// (`Core::poll_now`); cleared when a poll starts.
    pub(crate) poll_clock: Cell<Option<crate::time::Instant>>,
    pub(crate) timers: RefCell<Wheel>,
    pub(crate) clock: Clock,
    /// A virtual clock's autojump threshold: how long (real time) the run
    /// loop must find nothing to do before it jumps to the next timer.
    /// Zero: jump at once; `None`: never (a clock with a rate and no
    /// threshold). Read only by `park`.
    autojump: Option<std::time::Duration>,
    /// Pending `wait_all_tasks_blocked` calls (`idle.rs`).
    idle: idle::IdleWaiters,
    pub(crate) reactor: Rc<RefCell<Reactor>>,
    remote: Arc<RemoteQueue>,
    /// Reused buffers, so the run loop does not allocate per tick.
    wake_buf: RefCell<Vec<Waker>>,
    remote_buf: RefCell<Vec<WakeId>>,
    job_buf: RefCell<Vec<remote::Job>>,
    /// The thread the runtime was built on (a `Runtime` is `!Send`), for
    /// `Handle::run`'s deadlock check.
    thread: std::thread::ThreadId,
    event_interval: u32,
    polls_since_io: Cell<u32>,
    /// With [`Builder::seed`]: the generator that permutes each tick's
    /// batch (`run_batch`). `None` keeps FIFO order.
    shuffle: Option<RefCell<SplitMix64>>,
    shutting_down: Cell<bool>,
    /// The blocking offload pool (`crate::blocking`): shared with its
    /// worker threads, shut down when the runtime is dropped.
    pub(crate) blocking: crate::blocking::Pool,
    /// Values of [`runtime_local`], one per type, dropped with the runtime
    /// after its tasks.
    locals: RefCell<Vec<(std::any::TypeId, Rc<dyn std::any::Any>)>>,
    /// Installed instruments (`crate::instrument`): one flag read per poll
    /// when there are none.
    pub(crate) instruments: crate::instrument::Instruments,
    pub(crate) counters: crate::instrument::Counters,
}

/// A single-threaded runtime: executor, timer wheel and epoll reactor.
///
/// Tasks are `'static` futures that need not be `Send`. [`block_on`]
/// runs a future to completion on the calling thread, together with every
/// task spawned into the runtime. Dropping the runtime drops every
/// remaining task's future and closes the runtime's file descriptors.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let a = arbor_runtime::spawn(async { 40 });
///     a.await.unwrap() + 2
/// });
/// assert_eq!(answer, 42);
/// ```
///
/// [`block_on`]: Runtime::block_on
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// A runtime with the default settings (real monotonic clock).
    pub fn new() -> io::Result<Runtime> {
        Runtime::builder().build()
    }

    /// Start configuring a runtime.
    pub fn builder() -> Builder {
        Builder::with_defaults()
    }

    /// Run `future` to completion on this thread, driving every task of
    /// the runtime meanwhile. Tasks still running when it returns stay in
    /// the runtime and continue at the next `block_on`.
    ///
    /// # Panics
    /// If called from inside a running arbor runtime (on this thread),
    /// since that would block the thread its tasks need. A panic of
    /// `future` itself propagates to the caller.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = context::enter(&self.core, false);
        // The loop runs with no task-local set; the caller's values are
        // the root future's alone (see `task::local`).
        let outside = crate::task::local::clear();
        let root = crate::task::local::WithCtx::new(outside.outer(), future);
        run::block_on(&self.core, root)
    }

    /// Spawn a task into the runtime's root scope without entering
    /// `block_on`; it first runs at the next `block_on`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let _entered = context::enter(&self.core, true);
        self.core.spawn(ScopeId::ROOT, None, future)
    }

    /// This runtime's id (what [`current_runtime_id`] returns inside it).
    pub fn id(&self) -> RuntimeId {
        RuntimeId(self.core.key)
    }

    /// Number of tasks alive in the runtime (spawned and not yet finished).
    pub fn live_tasks(&self) -> usize {
        self.core.live_tasks()
    }

    /// The runtime's counters (see
    /// [`RuntimeMetrics`](crate::instrument::RuntimeMetrics)); inside
    /// `block_on`, [`instrument::metrics`](crate::instrument::metrics)
    /// reads the same.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::new().unwrap();
    /// rt.block_on(async { arbor_runtime::spawn(async {}).await.unwrap() });
    /// assert_eq!(rt.metrics().tasks_spawned, 1);
    /// ```
    pub fn metrics(&self) -> crate::instrument::RuntimeMetrics {
        self.core.metrics()
    }

    /// The I/O backend this runtime runs on: [`IoBackend::Epoll`] or
    /// [`IoBackend::IoUring`] (never `Auto`); see
    /// [`Builder::io_backend`].
    ///
    /// [`IoBackend::Epoll`]: crate::IoBackend::Epoll
    /// [`IoBackend::IoUring`]: crate::IoBackend::IoUring
    pub fn io_backend(&self) -> crate::reactor::IoBackend {
        self.core.reactor.borrow().backend()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("key", &self.core.key)
            .field("live_tasks", &self.live_tasks())
            .field("virtual_clock", &self.core.clock.is_virtual())
            .finish()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _entered = context::enter(&self.core, true);
        self.core.shutdown();
        // After the tasks: their destructors may still use these.
        let locals = std::mem::take(&mut *self.core.locals.borrow_mut());
        drop(locals);
        self.core.blocking.shutdown();
        context::unregister_runtime(self.core.key);
    }
}

/// Run a future to completion on a new runtime with default settings.
///
/// ```
/// assert_eq!(arbor_runtime::run(async { 1 + 1 }), 2);
/// ```
///
/// # Panics
/// If the runtime cannot be created (the process is out of file
/// descriptors: it needs an epoll fd and an eventfd), or if called from
/// inside a running runtime.
pub fn run<F: Future>(future: F) -> F::Output {
    Runtime::new()
        .unwrap_or_else(|e| panic!("arbor::run could not create a runtime: {e}"))
        .block_on(future)
}

/// Spawn a task into the runtime's root scope: it runs concurrently with
/// the caller and is not attached to any nursery (dropping the handle
/// detaches it).
///
/// ```
/// arbor_runtime::run(async {
///     let h = arbor_runtime::spawn(async { "done" });
///     assert_eq!(h.await.unwrap(), "done");
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    context::expect("arbor::spawn", |core| {
        core.spawn(ScopeId::ROOT, None, future)
    })
}

/// Like [`spawn`], with a name that [`current_task`] and debugging dumps show.
#[track_caller]
pub fn spawn_named<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    context::expect("arbor::spawn_named", |core| {
        core.spawn(ScopeId::ROOT, Some(name.into()), future)
    })
}

/// One line of `scope::dump`.
pub(crate) struct TaskSummary {
    pub(crate) id: TaskId,
    pub(crate) name: Option<Rc<str>>,
    pub(crate) scope: u32,
    pub(crate) state: TaskState,
}

/// Where a task is, for `scope::dump`.
pub(crate) enum TaskState {
    Running,
    /// On the run queue.
    Runnable,
    /// Waiting to be woken: since the clock's coarse reading `since`, in
    /// the wait noted at `at` (`None`: no arbor wait was noted).
    Parked {
        at: Option<&'static std::panic::Location<'static>>,
        since: crate::time::Instant,
    },
}

/// The task that is running now.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    id: TaskId,
    name: Option<Rc<str>>,
}

impl TaskInfo {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name given at spawn, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The task being polled, or `None` outside a task (in the `block_on`
/// root future or outside a runtime).
///
/// ```
/// arbor_runtime::run(async {
///     let h = arbor_runtime::spawn_named("worker", async {
///         arbor_runtime::current_task().unwrap().name().map(String::from)
///     });
///     assert_eq!(h.await.unwrap().as_deref(), Some("worker"));
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    context::with(|core| {
        let core = core?;
        let id = core.current.get()?;
        let name = core.names.borrow().get(&id.index).cloned();
        Some(TaskInfo { id, name })
    })
}

/// The id of the task being polled: [`current_task`] without the name
/// (cheap enough for a lock's owner check).
#[inline]
pub fn current_task_id() -> Option<TaskId> {
    context::with(|core| core.and_then(|c| c.current.get()))
}

/// What is being polled on this thread: a task, or the root future of a
/// runtime's `block_on`. See [`running`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Running {
    /// A spawned task.
    Task(TaskId),
    /// The future passed to [`Runtime::block_on`] of this runtime.
    Root(RuntimeId),
}

/// What is being polled now, `None` outside any runtime: one thread-local
/// read, for identities such as a lock's owner, where the root futures of
/// two runtimes on one thread must not be confused.
///
/// ```
/// use arbor_runtime::{Running, running};
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// assert_eq!(rt.block_on(async { running() }), Some(Running::Root(rt.id())));
/// let task = rt.block_on(async { arbor_runtime::spawn(async { running() }).await.unwrap() });
/// assert!(matches!(task, Some(Running::Task(_))));
/// assert_eq!(running(), None);
/// ```
#[inline]
pub fn running() -> Option<Running> {
    context::with(|core| core.map(Core::running))
}

impl Core {
    pub(crate) fn live_tasks(&self) -> usize {
        self.tasks.borrow().len()
    }

    pub(crate) fn task_name(&self, id: TaskId) -> Option<Rc<str>> {
        self.names.borrow().get(&id.index).cloned()
    }

    pub(crate) fn current_task_id(&self) -> Option<TaskId> {
        self.current.get()
    }

    /// What is being polled: see [`running`].
    #[inline]
    pub(crate) fn running(&self) -> Running {
        match self.current.get() {
            Some(id) => Running::Task(id),
            None => Running::Root(RuntimeId(self.key)),
        }
    }
}

/// The runtime whose code is being polled (or that is being entered for a
/// drop), `None` outside any runtime. Tells apart the root futures of two
/// runtimes on one thread, where [`current_task_id`] says `None` for both.
///
/// ```
/// let rt = arbor_runtime::Runtime::new().unwrap();
/// assert_eq!(rt.block_on(async { arbor_runtime::current_runtime_id() }), Some(rt.id()));
/// assert_eq!(arbor_runtime::current_runtime_id(), None);
/// ```
#[inline]
pub fn current_runtime_id() -> Option<RuntimeId> {
    context::with(|core| core.map(|c| RuntimeId(c.key)))
}

/// A value of type `T` kept by the current runtime: made by `init` at the
/// first call in this runtime, the same `Rc` at every later one, and
/// dropped when the runtime is dropped (after its tasks). Low-level: for
/// libraries that need one shared object per runtime (`arbor::to_thread`
/// keeps its default capacity limiter here), like a thread-local that
/// lives exactly as long as the runtime.
///
/// ```
/// use std::cell::Cell;
/// arbor_runtime::run(async {
///     let a = arbor_runtime::runtime_local(|| Cell::new(1));
///     a.set(2);
///     let b = arbor_runtime::runtime_local(|| Cell::new(99)); // not called
///     assert_eq!(b.get(), 2);
/// });
/// ```
///
/// # Panics
/// Outside a runtime. `init` may itself call `runtime_local` for other
/// types; a recursive call for the same type makes two values, and the
/// first one made is kept.
#[track_caller]
pub fn runtime_local<T: 'static>(init: impl FnOnce() -> T) -> Rc<T> {
    use std::any::{Any, TypeId};
    let find = |core: &Core| {
        core.locals
            .borrow()
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .map(|(_, v)| v.clone())
    };
    let found = context::expect("arbor_runtime::runtime_local", find);
    let value: Rc<dyn Any> = match found {
        Some(v) => v,
        None => {
            // `init` runs with no borrow held: it may use the runtime.
            let made: Rc<dyn Any> = Rc::new(init());
            context::expect("arbor_runtime::runtime_local", |core| match find(core) {
                Some(v) => v,
                None => {
                    core.locals
                        .borrow_mut()
                        .push((TypeId::of::<T>(), made.clone()));
                    made
                }
            })
        }
    };
    match value.downcast::<T>() {
        Ok(v) => v,
        Err(_) => unreachable!("stored under T's TypeId"),
    }
}

/// Called by a scope deadline's timer waker.
pub(crate) fn scope_deadline(id: WakeId) {
    context::with(|core| {
        if let Some(core) = core
            && core.key == id.runtime()
        {
            core.deadline_fired(id);
        }
    })
}

/// Called by every arbor waker.
pub(crate) fn wake(id: WakeId) {
    context::with(|core| match core {
        Some(core) if core.key == id.runtime() => core.wake_local(id),
        _ => registry::wake_remote(id),
    })
}

/// `JoinHandle::abort`: on the task's own runtime, entered for the call if
/// another runtime (or none) is current. A runtime that is gone has already
/// dropped every task's future.
pub(crate) fn abort_task(raw: RawTask, id: TaskId) {
    context::with_runtime(id.runtime, |core| core.abort(id, raw));
}

/// Abort by id alone (a `RemoteJoinHandle`'s abort, on the runtime
/// thread): nothing if the task is gone (its slot reused or freed).
pub(crate) fn abort_task_by_id(id: TaskId) {
    context::with_runtime(id.runtime, |core| {
        let raw = core.tasks.borrow().get(id.key()).copied();
        if let Some(raw) = raw {
            core.abort(id, raw);
        }
    });
}

#[cfg(test)]
mod tests;
