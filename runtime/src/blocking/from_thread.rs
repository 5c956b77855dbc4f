//! Call back into the runtime from a blocking job (trio's
//! `trio.from_thread`): [`run_sync`], [`run`], [`check_cancelled`].
//!
//! Code running on a worker thread of the blocking pool (through
//! `arbor::to_thread::run_sync` or [`blocking::spawn`](super::spawn)) may
//! need the runtime thread: to touch `!Send` state, to spawn a task, to
//! await an arbor future. These functions send a closure back to **the
//! task that awaits the job**, which runs it in its own poll, on the
//! runtime thread, and send the result back; the worker blocks until
//! then.
//!
//! # Rules
//!
//! 1. **Only from a worker running a job.** On the runtime thread (where
//!    blocking would deadlock) or on a thread arbor did not start, each
//!    function returns [`FromThreadError::NotInWorker`] and runs nothing.
//! 2. **In the originating task's context, cancel status included.**
//!    The closure runs (and [`run`]'s future is polled) in the awaiting
//!    task, in the context the job is awaited in. With `arbor::to_thread`
//!    that is the context *around the `to_thread` call* (trio's rule: the
//!    context of the task that called `to_thread.run_sync`, including its
//!    cancel status), not the shield of that call's default wait: served
//!    code sees the effective deadline of the scopes around the call
//!    ([`current_effective_deadline`](crate::scope::current_effective_deadline)).
//!    A [`run_sync`] closure runs in the scope current at the call
//!    ([`current_scope`](crate::scope::current_scope)); a [`run`] future
//!    runs in a plain scope region of its own right below it
//!    ([`parent_scope`](crate::scope::parent_scope) of its scope is the
//!    caller's), so those deadlines and cancellations reach it and follow
//!    the scope rules in it. The shield only keeps the task waiting for
//!    the thread; a cancellation of the enclosing scope closes the way
//!    back. From then on, [`check_cancelled`] returns
//!    [`FromThreadError::Cancelled`], later calls return `Cancelled`
//!    without running anything (a [`run_sync`] call is a cancel point at
//!    entry: its closure has no other), and a pending [`run`] is ended by
//!    its region as any cancelled code is: dropped at its next suspension
//!    (never polled again in the cancelled scope, unless a shield inside
//!    it must finish first), and then returns `Cancelled`. The
//!    cancellation is seen at the task's next poll, which the cancel
//!    wakes.
//! 3. **After abandon, `Cancelled`.** When the awaiting side is gone (an
//!    `abandon_on_cancel(true)` call that was cancelled, a dropped
//!    [`BlockingJob`](super::BlockingJob), a dropped runtime) nobody can
//!    serve: the calls return `Cancelled` at once, never hang.
//! 4. **A panic on the runtime thread comes back to the worker**: the
//!    closure's (or the future's) panic is caught in the task and resumed
//!    on the worker with its payload.
//!
//! The low-level [`blocking::spawn`](super::spawn) job serves requests in
//! whatever context its [`BlockingJob`](super::BlockingJob) is polled (or
//! its [`serve_requests`](super::BlockingJob::serve_requests) called),
//! and closes the way back only when it is dropped or
//! [`close_requests`](super::BlockingJob::close_requests) is called.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;

use super::portal::{self, Answer, AsyncRequest, Portal, Request, SyncRequest};
use crate::sync::Arc;

thread_local! {
    /// The mailbox of the job this worker thread is running, set by the
    /// job around its function (`make_job`).
    static PORTAL: RefCell<Option<Arc<Portal>>> = const { RefCell::new(None) };
}

/// Runs the job's function with this thread's [`PORTAL`] set to `portal`
/// (restored after, also on panic).
#[cfg(not(loom))]
pub(crate) fn with_portal<T>(portal: Arc<Portal>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<Portal>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let old = self.0.take();
            let _ = PORTAL.try_with(|p| *p.borrow_mut() = old);
        }
    }
    let _restore = Restore(PORTAL.with(|p| p.borrow_mut().replace(portal)));
    f()
}

/// Loom threads share the OS thread's thread-locals: models use the
/// portal directly, so the job runs without one.
#[cfg(loom)]
pub(crate) fn with_portal<T>(_portal: Arc<Portal>, f: impl FnOnce() -> T) -> T {
    f()
}

/// Why a `from_thread` call did not run.
///
/// ```
/// use arbor_runtime::blocking::from_thread::{self, FromThreadError};
///
/// // Not on a worker thread: nothing to call back into.
/// assert_eq!(from_thread::run_sync(|| ()), Err(FromThreadError::NotInWorker));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromThreadError {
    /// The originating task's cancel context was cancelled, or the job
    /// was abandoned: nothing on the runtime thread will serve the call.
    Cancelled,
    /// Called from a thread that is not running a blocking job of an
    /// arbor runtime (the runtime thread itself, or a thread arbor did not
    /// start).
    NotInWorker,
}

impl fmt::Display for FromThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromThreadError::Cancelled => f.write_str(
                "the task that started this thread was cancelled (or stopped waiting for it): \
                 finish the thread's work without the runtime",
            ),
            FromThreadError::NotInWorker => f.write_str(
                "from_thread called outside a worker thread started by to_thread: \
                 on the runtime thread, call or await the code directly",
            ),
        }
    }
}

impl std::error::Error for FromThreadError {}

fn current_portal() -> Result<Arc<Portal>, FromThreadError> {
    PORTAL
        .try_with(|p| p.borrow().clone())
        .ok()
        .flatten()
        .ok_or(FromThreadError::NotInWorker)
}

/// Post a request made around a fresh responder and wait for its answer.
pub(crate) fn call<T>(
    portal: &Portal,
    request: impl FnOnce(portal::Responder<T>) -> Box<dyn Request>,
) -> Answer<T> {
    let (responder, reply) = portal::reply();
    // A refused request is dropped, which answers `Cancelled`.
    let _ = portal.post(request(responder));
    reply.wait()
}

fn unwrap_answer<T>(answer: Answer<T>) -> Result<T, FromThreadError> {
    match answer {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(portal::Cancelled) => Err(FromThreadError::Cancelled),
    }
}

/// From a blocking job's worker thread, run `f` on the runtime thread,
/// in the task awaiting the job, and return its value (trio's
/// `from_thread.run_sync`). The worker blocks meanwhile. `f` is `Send`,
/// but what it builds or touches on the runtime thread need not be: it
/// may use `Rc`s, runtime-locals, [`spawn`](crate::spawn). See the
/// [module docs](self) for the rules.
///
/// ```
/// use arbor_runtime::blocking::{self, from_thread};
///
/// arbor_runtime::run(async {
///     let runtime_thread = std::thread::current().id();
///     let ran_on = blocking::spawn(|| {
///         from_thread::run_sync(|| std::thread::current().id()).unwrap()
///     })
///     .await
///     .unwrap();
///     assert_eq!(ran_on, runtime_thread);
/// });
/// ```
///
/// # Errors
/// [`FromThreadError::NotInWorker`] off a worker thread;
/// [`FromThreadError::Cancelled`] if the originating cancel context is
/// cancelled or the job abandoned (then `f` does not run).
///
/// # Panics
/// With `f`'s panic, resumed on this thread.
pub fn run_sync<F, T>(f: F) -> Result<T, FromThreadError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let portal = current_portal()?;
    unwrap_answer(call(&portal, |responder| {
        Box::new(SyncRequest { f, responder })
    }))
}

/// From a blocking job's worker thread, build a future with `make` on
/// the runtime thread, await it in the task awaiting the job, and return
/// its output (trio's `from_thread.run`). The worker blocks meanwhile.
/// The future need not be `Send` (only `make` and the output cross). See
/// the [module docs](self) for the rules.
///
/// ```
/// use std::time::Duration;
/// use arbor_runtime::blocking::{self, from_thread};
///
/// arbor_runtime::run(async {
///     let n = blocking::spawn(|| {
///         from_thread::run(|| async {
///             let rc = std::rc::Rc::new(5); // `!Send` inside the future
///             arbor_runtime::time::sleep(Duration::from_millis(1)).await;
///             *rc
///         })
///     });
///     assert_eq!(n.await.unwrap(), Ok(5));
/// });
/// ```
///
/// # Cancel safety
/// If the originating cancel context is cancelled (or the job abandoned)
/// while the future is pending, the future is dropped on the runtime
/// thread, then this call returns [`FromThreadError::Cancelled`]; if that
/// happens before the future is built, `make` does not run.
///
/// # Errors
/// [`FromThreadError::NotInWorker`] off a worker thread;
/// [`FromThreadError::Cancelled`] as above.
///
/// # Panics
/// With the panic of `make` or of the future, resumed on this thread.
pub fn run<F, Fut>(make: F) -> Result<Fut::Output, FromThreadError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let portal = current_portal()?;
    unwrap_answer(call(&portal, |responder| {
        Box::new(AsyncRequest { make, responder })
    }))
}

/// From a blocking job's worker thread: `Err(Cancelled)` if the
/// originating task's cancel context was cancelled (or the job
/// abandoned), so long-running blocking code can stop early (trio's
/// `from_thread.check_cancelled`). Does not block and does not involve
/// the runtime thread. See the [module docs](self) for which context.
///
/// ```
/// use arbor_runtime::blocking::{self, from_thread};
///
/// arbor_runtime::run(async {
///     let seen = blocking::spawn(from_thread::check_cancelled).await.unwrap();
///     assert_eq!(seen, Ok(()));
///     // Not on a worker:
///     assert_eq!(
///         from_thread::check_cancelled(),
///         Err(from_thread::FromThreadError::NotInWorker)
///     );
/// });
/// ```
///
/// # Errors
/// [`FromThreadError::Cancelled`], or [`FromThreadError::NotInWorker`]
/// off a worker thread.
pub fn check_cancelled() -> Result<(), FromThreadError> {
    if current_portal()?.is_closed() {
        Err(FromThreadError::Cancelled)
    } else {
        Ok(())
    }
}
