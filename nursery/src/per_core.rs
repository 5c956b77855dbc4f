//! One runtime per core: [`PerCore`] starts `n` threads, each with its own
//! arbor [`Runtime`], all running the same closure, and holds them as one
//! group ([`CoreGroup`]) that behaves like a nursery across threads.
//!
//! arbor's runtime is single-threaded: a task never moves, and nothing in
//! it takes a lock. A program that outgrows one core runs one runtime per
//! core, shares nothing between them by default, and lets the kernel
//! spread the work: with [`TcpListener::bind_reuseport`], each core
//! listens on the same port and accepts its own connections.
//!
//! ```
//! use arbor_nursery::per_core::PerCore;
//!
//! let group = PerCore::new(2)
//!     .pin(false)
//!     .spawn(|core| async move {
//!         // On core `core.index`'s own thread and runtime: the future
//!         // need not be `Send`.
//!         let local = std::rc::Rc::new(core.index * 10);
//!         arbor_runtime::yield_now().await;
//!         *local
//!     })
//!     .unwrap();
//! let outputs: Vec<usize> = group.join().into_iter().map(Result::unwrap).collect();
//! assert_eq!(outputs, [0, 10]);
//! ```
//!
//! # What runs where
//!
//! Core `i` runs on a thread of its own named `arbor-core-i`, pinned to
//! CPU `i` by default ([`PerCore::pin`]). On that thread it builds its
//! runtime from a clone of the [`Builder`] ([`PerCore::builder`]), then,
//! inside `block_on`, calls the closure with its [`CoreInfo`] and runs the
//! future it returns in the core's **root cancel scope**. So the closure
//! is `Send + Sync` (every thread calls it), the future it returns is not
//! (it never leaves its thread), and only the output crosses back, to
//! [`CoreGroup::join`]. The runtime is dropped on its thread when the
//! future is done, with whatever it still held (unstructured tasks from
//! [`spawn`](arbor_runtime::spawn), which the scope does not reach).
//!
//! # Structured like a nursery
//!
//! - [`CoreGroup::join`] returns only when every core's thread has
//!   finished, with every core's outcome, in core order: its value,
//!   [`CoreError::Cancelled`], or [`CoreError::Panicked`] with the panic's
//!   payload. None is lost.
//! - A core's output is an [`Outcome`], as a nursery child's is: a plain
//!   value or a `Result`. The first core that fails, by panicking or by
//!   returning an `Err`, cancels every other core's root scope (with the
//!   reason "core N panicked" or "core N failed"), as a failing child
//!   cancels its nursery. The failing core's own `Err` is still its
//!   value in [`CoreGroup::join`], untouched. A core that returns a plain
//!   value or an `Ok` cancels nobody. A core whose future never returns
//!   (type `!`) goes through [`forever`](crate::forever).
//! - [`CoreGroup::shutdown`] (or a [`ShutdownHandle`], from any thread,
//!   any core included) cancels every core's root scope, through
//!   [`RemoteCancelHandle`]s: the cancel lands on each core's thread at
//!   the end of its current scheduler tick, and has exactly a local
//!   cancel's meaning there.
//! - Dropping a [`CoreGroup`] without joining shuts it down and joins it
//!   (blocking), discarding the outputs: the threads never outlive it.
//!
//! # Cancel safety
//!
//! Cancellation here is arbor's everywhere: a core's future is dropped at
//! its next suspension, with the scopes inside it unwinding as usual, so
//! shielded cleanup and grace periods inside a core still run (the echo
//! example's server, cancelled this way, lets open connections finish).
//! Code between two suspensions is never interrupted, and a core whose
//! future finished before the cancel landed returns its value.
//!
//! [`TcpListener::bind_reuseport`]: arbor_runtime::net::TcpListener::bind_reuseport

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

use arbor_runtime::{Builder, Runtime};

use crate::{CancelScope, Cancelled, Outcome, RemoteCancelHandle};

/// Configures a group of runtimes, one per core: see the [module
/// docs](self).
#[derive(Debug, Clone)]
pub struct PerCore {
    cores: usize,
    pin: bool,
    builder: Builder,
}

/// What a core's closure is told about its core.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CoreInfo {
    /// The core's index, `0..cores`.
    pub index: usize,
    /// How many cores the group has.
    pub cores: usize,
    /// The CPU the core's thread is pinned to, if pinned.
    pub cpu: Option<usize>,
    shutdown: ShutdownHandle,
}

impl CoreInfo {
    /// Cancel every core's root scope, this one's included: see
    /// [`CoreGroup::shutdown`].
    pub fn shutdown(&self) {
        self.shutdown.shutdown();
    }

    /// A handle that shuts the group down, to keep or send elsewhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }
}

impl PerCore {
    /// A group of `cores` runtimes with default settings, pinned to CPUs
    /// `0..cores`.
    ///
    /// # Panics
    /// If `cores` is zero.
    pub fn new(cores: usize) -> PerCore {
        assert!(cores > 0, "PerCore needs at least one core");
        PerCore {
            cores,
            pin: true,
            builder: Runtime::builder(),
        }
    }

    /// Whether core `i` pins its thread to CPU `i` (default true; see
    /// [`Builder::pin_to_cpu`]). Unpinned, the OS schedules the threads
    /// where it likes.
    pub fn pin(mut self, pin: bool) -> PerCore {
        self.pin = pin;
        self
    }

    /// The settings of every core's runtime (each core builds its own from
    /// a clone). A CPU pin set on it is overridden by [`pin`](Self::pin)'s.
    pub fn builder(mut self, builder: Builder) -> PerCore {
        self.builder = builder;
        self
    }

    /// Start the cores: see the [module docs](self). Returns once every
    /// core has pinned its thread, built its runtime and entered its root
    /// scope (the closures may already be running).
    ///
    /// # Errors
    /// If a core fails to start (its CPU does not exist or is not allowed,
    /// its runtime cannot be built, its thread cannot be spawned): the
    /// error names the core, and the cores that did start are cancelled
    /// and joined before it is returned.
    pub fn spawn<F, Fut>(self, f: F) -> io::Result<CoreGroup<Fut::Output>>
    where
        F: Fn(CoreInfo) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Outcome + Send + 'static,
    {
        let f = Arc::new(f);
        let shutdown = ShutdownHandle::default();
        let (started_tx, started_rx) = mpsc::channel();
        let mut group = CoreGroup {
            threads: Vec::with_capacity(self.cores),
            shutdown: shutdown.clone(),
        };
        let mut failure = None;
        for index in 0..self.cores {
            let cpu = self.pin.then_some(index);
            let info = CoreInfo {
                index,
                cores: self.cores,
                cpu,
                shutdown: shutdown.clone(),
            };
            let builder = match cpu {
                Some(cpu) => self.builder.clone().pin_to_cpu(cpu),
                None => self.builder.clone(),
            };
            let (f, started) = (f.clone(), started_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("arbor-core-{index}"))
                .spawn(move || core_main(info, builder, f, started));
            match thread {
                Ok(thread) => group.threads.push(thread),
                Err(e) => {
                    failure = Some(with_core(index, e));
                    break;
                }
            }
        }
        drop(started_tx);
        // Every thread sends one message (or dies before, in which case
        // its sender is dropped and `recv` stops at the last one).
        for _ in 0..group.threads.len() {
            match started_rx.recv() {
                Ok((_, Ok(()))) => {}
                Ok((index, Err(e))) => {
                    failure.get_or_insert(with_core(index, e));
                }
                Err(_) => break,
            }
        }
        match failure {
            None => Ok(group),
            Some(e) => {
                group.shutdown_with("another core failed to start");
                drop(group.join_inner());
                Err(e)
            }
        }
    }

    /// [`spawn`](Self::spawn), then [`join`](CoreGroup::join): run the
    /// closure on every core until all are done.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn run<F, Fut>(self, f: F) -> io::Result<Vec<Result<Fut::Output, CoreError>>>
    where
        F: Fn(CoreInfo) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Outcome + Send + 'static,
    {
        Ok(self.spawn(f)?.join())
    }
}

fn with_core(index: usize, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("arbor per-core: core {index} did not start: {e}"),
    )
}

type Started = mpsc::Sender<(usize, io::Result<()>)>;

/// A core's thread: `None` if it did not start (the error went to
/// `started`).
fn core_main<F, Fut>(
    info: CoreInfo,
    builder: Builder,
    f: Arc<F>,
    started: Started,
) -> Option<Result<Fut::Output, CoreError>>
where
    F: Fn(CoreInfo) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let index = info.index;
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = started.send((index, Err(e)));
            return None;
        }
    };
    let shutdown = info.shutdown.clone();
    let scope = CancelScope::new();
    let remote = rt.block_on(async { scope.handle().remote() });
    shutdown.register(remote, &scope);
    let _ = started.send((index, Ok(())));
    drop(started);
    let run = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            let future = f(info);
            scope.run(future).await
        })
    }));
    // Cancel the others before this core's runtime drops its tasks.
    match &run {
        Err(_) => shutdown.shutdown_with(&format!("core {index} panicked")),
        Ok(Ok(value)) if value.is_failure() => {
            shutdown.shutdown_with(&format!("core {index} failed"));
        }
        Ok(_) => {}
    }
    // The runtime (and the tasks it still holds) is dropped here, on its
    // thread; a panic in a destructor is this core's panic.
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(rt)));
    let outcome = match (run, dropped) {
        (Err(panic), _) | (Ok(_), Err(panic)) => Err(CoreError::Panicked(panic)),
        (Ok(Ok(value)), Ok(())) => Ok(value),
        (Ok(Err(cancelled)), Ok(())) => Err(CoreError::Cancelled(cancelled)),
    };
    if let Err(CoreError::Panicked(_)) = &outcome {
        shutdown.shutdown_with(&format!("core {index} panicked"));
    }
    Some(outcome)
}

/// A running group of cores, from [`PerCore::spawn`].
#[must_use = "dropping a CoreGroup shuts it down and waits for its cores"]
pub struct CoreGroup<T> {
    threads: Vec<JoinHandle<Option<Result<T, CoreError>>>>,
    shutdown: ShutdownHandle,
}

impl<T> CoreGroup<T> {
    /// How many cores the group has.
    pub fn cores(&self) -> usize {
        self.threads.len()
    }

    /// Cancel every core's root scope (with the reason "shutdown"):
    /// each core's future is dropped at its next suspension, on its own
    /// thread, at the end of its current scheduler tick. Idempotent;
    /// returns at once (use [`join`](Self::join) to wait).
    pub fn shutdown(&self) {
        self.shutdown.shutdown();
    }

    fn shutdown_with(&self, reason: &str) {
        self.shutdown.shutdown_with(reason);
    }

    /// A `Send + Sync + Clone` handle that shuts the group down from
    /// anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Whether every core's thread has finished.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Wait for every core's thread to finish; each core's outcome, in
    /// core order.
    pub fn join(mut self) -> Vec<Result<T, CoreError>> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> Vec<Result<T, CoreError>> {
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|thread| match thread.join() {
                Ok(Some(outcome)) => outcome,
                // Only on a failed start, whose error `spawn` returns.
                Ok(None) => Err(CoreError::Panicked(Box::new("the core did not start"))),
                Err(panic) => Err(CoreError::Panicked(panic)),
            })
            .collect()
    }
}

impl<T> Drop for CoreGroup<T> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
            drop(self.join_inner());
        }
    }
}

impl<T> fmt::Debug for CoreGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreGroup")
            .field("cores", &self.threads.len())
            .field("shut_down", &self.shutdown.is_shut_down())
            .finish()
    }
}

/// Shuts a [`CoreGroup`] down from any thread: `Send + Sync + Clone`.
#[derive(Clone, Default)]
pub struct ShutdownHandle {
    state: Arc<Mutex<ShutdownState>>,
}

#[derive(Default)]
struct ShutdownState {
    /// The first reason given, once the group is shut down.
    reason: Option<String>,
    /// The root scopes of the cores that started.
    roots: Vec<RemoteCancelHandle>,
}

impl ShutdownHandle {
    /// Cancel every core's root scope: see [`CoreGroup::shutdown`].
    pub fn shutdown(&self) {
        self.shutdown_with("shutdown");
    }

    /// Whether the group was shut down (by a call, or a core's panic or
    /// failure).
    pub fn is_shut_down(&self) -> bool {
        self.lock().reason.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShutdownState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shutdown_with(&self, reason: &str) {
        let mut state = self.lock();
        if state.reason.is_some() {
            return;
        }
        state.reason = Some(reason.to_owned());
        for root in &state.roots {
            // A core whose runtime is gone has finished: nothing to cancel.
            let _ = root.cancel_with_reason(reason);
        }
    }

    /// Files a core's root scope; under the same lock as `shutdown_with`,
    /// so a core that starts after the shutdown starts cancelled.
    fn register(&self, remote: RemoteCancelHandle, scope: &CancelScope) {
        let mut state = self.lock();
        match &state.reason {
            Some(reason) => scope.handle().cancel_with_reason(reason.clone()),
            None => state.roots.push(remote),
        }
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Why a core returned no value.
pub enum CoreError {
    /// The core's root scope was cancelled (by a shutdown, or another
    /// core's panic or failure: [`Cancelled::reason`] says which) before
    /// its future finished.
    Cancelled(Cancelled),
    /// The core panicked (in its closure, its future, or a destructor run
    /// when its runtime was dropped); the payload, as
    /// [`std::thread::JoinHandle::join`] gives it. Resume it with
    /// [`std::panic::resume_unwind`].
    Panicked(Box<dyn Any + Send + 'static>),
}

impl CoreError {
    /// Whether the core was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CoreError::Cancelled(_))
    }

    /// Whether the core panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, CoreError::Panicked(_))
    }

    /// The panic's message, if the core panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            CoreError::Panicked(payload) => payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str)),
            CoreError::Cancelled(_) => None,
        }
    }
}

impl fmt::Debug for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Cancelled(c) => f.debug_tuple("Cancelled").field(c).finish(),
            CoreError::Panicked(_) => f
                .debug_tuple("Panicked")
                .field(&self.panic_message().unwrap_or("<non-string payload>"))
                .finish(),
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Cancelled(c) => write!(f, "the core was cancelled: {c}"),
            CoreError::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "the core panicked: {msg}"),
                None => f.write_str("the core panicked"),
            },
        }
    }
}

impl std::error::Error for CoreError {}
