//! Run blocking code on a worker thread (trio's and AnyIO's
//! `to_thread.run_sync`): [`run_sync`], [`run_sync_with`], and [`RunSync`]
//! for the options.
//!
//! A blocking call (`std::thread::sleep`, a file read, a CPU-heavy loop,
//! a C library) made inline stalls every task of the runtime. Offloaded,
//! it runs on a thread of the runtime's blocking pool
//! ([`arbor_runtime::blocking`]: threads are started on demand, reused,
//! bounded, and retire when idle) while the runtime thread keeps running
//! the other tasks; the calling task waits for the result.
//!
//! # Rules
//!
//! 1. **A capacity limiter bounds the calls running at once**: by default
//!    the runtime's [`current_default_thread_limiter`] (40 tokens, as in
//!    trio and AnyIO; change its total at any time), or one of your own
//!    ([`run_sync_with`]). Each call borrows one token on behalf of
//!    itself (not of the task, so one task may run several calls at once,
//!    as in trio), from before its thread starts until it ends.
//! 2. **Entry is a checkpoint**: taking the token is a cancel point (and a
//!    schedule point), and a call whose scope is cancelled before its
//!    thread starts never runs `f`.
//! 3. **By default the wait is shielded** (trio's `abandon_on_cancel=False`):
//!    a thread cannot be interrupted, so a cancellation that arrives while
//!    `f` runs waits for it; the call returns `f`'s value, and the
//!    cancellation lands at the task's next checkpoint. The wait is an
//!    arbor shield region, so an enclosing cancelled scope waits for it
//!    exactly as for `arbor::shield` (`f`'s `from_thread` calls are
//!    served outside that region: see below).
//! 4. **With [`abandon_on_cancel(true)`](RunSync::abandon_on_cancel)** the
//!    wait is a plain cancel point: a cancelled scope drops the call at
//!    once (in arbor's drop model that is what "returns `Cancelled`"
//!    means: the scope reports the cancellation), `f` runs on to its end
//!    unseen, and its result (or panic) is dropped. Its token stays
//!    borrowed until `f` ends.
//! 5. **A panic in `f` is the call's panic** (`resume_unwind` with the
//!    original payload, in the awaiting task).
//!
//! # Releasing an abandoned call's token
//!
//! The limiter is `!Send`: its token must be given back on the runtime
//! thread, but the event that frees it (the end of `f`) happens on the
//! worker. When an unfinished call is dropped (abandoned, or its task
//! aborted), its job handle and its token move into a small task in the
//! runtime's root scope (named `arbor::to_thread abandoned call`). The
//! worker's completion wakes that task through the runtime's remote queue
//! (as any cross-thread wake), and the task, on the runtime thread, drops
//! the outcome and then the token. If the runtime is dropped first, the
//! task is dropped with it and the token is released then. (The runtime
//! crate's loom models check the hand-over: the watcher is woken or finds
//! the end even if the worker woke the cancelled task's stale waker, and
//! sees `f`'s effects.)
//!
//! # Calling back: `from_thread`
//!
//! `f` may call back into the runtime with
//! [`arbor_runtime::blocking::from_thread`] (`run_sync`, `run`,
//! `check_cancelled`): the calling task serves the call in its poll, in
//! the context **around** the `to_thread` call (trio's: the context of
//! the task that called it, including its cancel status), not in the
//! shield of the default wait. Served code sees the deadline of the
//! scopes around the call (`current_effective_deadline`); a `run_sync`
//! closure runs in the scope current at the call, a `run` future in a
//! scope region of its own right below it. Once the enclosing scope is
//! cancelled, `check_cancelled` reports it on the worker, later calls
//! return `Cancelled`, and a pending `from_thread::run` future is dropped
//! by its region at its next suspension (after any shield inside it
//! finished) and returns `Cancelled`; the shielded wait still waits for `f`,
//! which can finish early. An abandoned call (rule 4, or a dropped call)
//! answers `Cancelled` too. With `abandon_on_cancel(true)` the context is
//! the same: that wait is polled in it.
//!
//! # Task-locals
//!
//! `f` runs on another thread, and task-local values
//! ([`arbor_runtime::task_local!`]) are not `Send`: on the worker no
//! task-local is set (`try_with` gives `AccessError`). Move what `f`
//! needs into the closure (a copy of a request id, an `Arc` of a
//! config). `from_thread` calls run on the runtime thread in the calling
//! task's context, so they see its task-locals as they were around the
//! `to_thread` call (trio copies the contextvars into the thread and its
//! `from_thread` calls; here the values stay on the runtime thread and
//! only the calls back see them).
//!
//! ```
//! use std::rc::Rc;
//! use arbor_primitives::to_thread;
//! use arbor_runtime::blocking::from_thread;
//!
//! arbor_runtime::run(async {
//!     let total = to_thread::run_sync(|| {
//!         let parts: u32 = (1..=4).sum(); // blocking work on the worker
//!         // Back on the runtime thread, in this task: `!Send` is fine there.
//!         from_thread::run_sync(move || *Rc::new(parts) * 10).unwrap()
//!     })
//!     .await;
//!     assert_eq!(total, 100);
//! });
//! ```

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor_runtime::blocking::{self, BlockingJob};
use arbor_runtime::scope::{NodeKind, Region, ScopeCell, Step};

use crate::limiter::{Borrower, CapacityLimiter, OwnedLimiterGuard};

/// The total of the default thread limiter (trio's and AnyIO's 40).
pub const DEFAULT_THREAD_LIMIT: usize = 40;

/// The runtime's own default limiter, kept with `runtime_local`.
struct DefaultLimiter(Rc<CapacityLimiter>);

/// The limiter [`run_sync`] uses: one per runtime, made with
/// [`DEFAULT_THREAD_LIMIT`] tokens at first use (trio's
/// `current_default_thread_limiter`). Change its
/// [`total_tokens`](CapacityLimiter::set_total_tokens) to allow more or
/// fewer threads at once.
///
/// ```
/// use arbor_primitives::to_thread;
///
/// arbor_runtime::run(async {
///     let limiter = to_thread::current_default_thread_limiter();
///     assert_eq!(limiter.total_tokens(), to_thread::DEFAULT_THREAD_LIMIT);
///     limiter.set_total_tokens(4);
///     assert_eq!(to_thread::current_default_thread_limiter().total_tokens(), 4);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn current_default_thread_limiter() -> Rc<CapacityLimiter> {
    arbor_runtime::runtime_local(|| {
        DefaultLimiter(Rc::new(CapacityLimiter::new(DEFAULT_THREAD_LIMIT)))
    })
    .0
    .clone()
}

/// Run `f` on a worker thread under the default limiter and return its
/// value; the runtime runs other tasks meanwhile. See the
/// [module docs](self) for the rules.
///
/// ```
/// use std::time::Duration;
/// use arbor_primitives::to_thread;
///
/// arbor_runtime::run(async {
///     let sum = to_thread::run_sync(|| {
///         std::thread::sleep(Duration::from_millis(1)); // blocks a worker, not the runtime
///         (1..=10).sum::<u32>()
///     })
///     .await;
///     assert_eq!(sum, 55);
/// });
/// ```
///
/// # Cancel safety
/// Before `f` starts (waiting for a token), dropping the call takes
/// nothing and `f` never runs. After it starts, the wait is shielded: an
/// enclosing cancellation does not drop it, and the call returns `f`'s
/// value. If the call is dropped anyway (its task aborted, the runtime
/// dropped), `f` runs to its end unseen and its token is released when it
/// ends.
///
/// # Panics
/// Outside a runtime; with `f`'s panic if `f` panics.
pub async fn run_sync<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    RunSync::new().run(f).await
}

/// [`run_sync`] under `limiter` instead of the default one.
///
/// ```
/// use std::rc::Rc;
/// use arbor_primitives::{CapacityLimiter, to_thread};
///
/// arbor_runtime::run(async {
///     let one_at_a_time = Rc::new(CapacityLimiter::new(1));
///     let n = to_thread::run_sync_with(&one_at_a_time, || 2 + 2).await;
///     assert_eq!(n, 4);
///     assert_eq!(one_at_a_time.borrowed_tokens(), 0);
/// });
/// ```
///
/// # Cancel safety
/// As [`run_sync`].
///
/// # Panics
/// Outside a runtime; with `f`'s panic if `f` panics.
pub async fn run_sync_with<F, R>(limiter: &Rc<CapacityLimiter>, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    RunSync::new().limiter(limiter).run(f).await
}

/// The options of a `to_thread` call: which limiter, and whether a
/// cancellation abandons the thread. Build it, then [`run`](RunSync::run).
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use arbor_nursery::CancelScope;
/// use arbor_primitives::{CapacityLimiter, to_thread::RunSync};
///
/// arbor_runtime::run(async {
///     let limiter = Rc::new(CapacityLimiter::new(2));
///     let (tx, rx) = std::sync::mpsc::channel::<()>();
///     let scope = CancelScope::new();
///     let handle = scope.handle();
///     let outcome = scope
///         .run(async {
///             let call = RunSync::new()
///                 .limiter(&limiter)
///                 .abandon_on_cancel(true)
///                 .run(move || rx.recv_timeout(Duration::from_secs(30)).is_ok());
///             // Cancelled while the thread waits on `rx`: the call is dropped at once.
///             let cancel = async { handle.cancel() };
///             futures_lite::future::zip(call, cancel).await
///         })
///         .await;
///     assert!(outcome.is_err() && scope.cancelled_caught());
///     assert_eq!(limiter.borrowed_tokens(), 1, "held until the thread ends");
///     drop(tx); // the thread ends...
///     while limiter.borrowed_tokens() == 1 {
///         arbor_runtime::yield_now().await; // ...and its token comes back
///     }
/// });
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a RunSync does nothing until `run` is awaited"]
pub struct RunSync {
    limiter: Option<Rc<CapacityLimiter>>,
    abandon: bool,
}

impl RunSync {
    /// The defaults: the runtime's default limiter, a shielded wait.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let v = arbor_primitives::to_thread::RunSync::new().run(|| 7).await;
    ///     assert_eq!(v, 7);
    /// });
    /// ```
    pub fn new() -> Self {
        RunSync::default()
    }

    /// Borrow the call's token from `limiter` (shared: an abandoned call
    /// keeps it until its thread ends) instead of the default limiter.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::{CapacityLimiter, to_thread::RunSync};
    /// arbor_runtime::run(async {
    ///     let limiter = Rc::new(CapacityLimiter::new(3));
    ///     assert_eq!(RunSync::new().limiter(&limiter).run(|| 1).await, 1);
    /// });
    /// ```
    pub fn limiter(mut self, limiter: &Rc<CapacityLimiter>) -> Self {
        self.limiter = Some(limiter.clone());
        self
    }

    /// If `abandon`, a cancellation that arrives while `f` runs drops the
    /// call at once instead of waiting for `f` (trio's
    /// `abandon_on_cancel=True`): `f` runs on to its end unseen, its
    /// result is dropped, and its limiter token is released when it ends.
    /// Default `false`: the wait is shielded.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let v = arbor_primitives::to_thread::RunSync::new()
    ///         .abandon_on_cancel(true)
    ///         .run(|| "not cancelled, so the value comes back")
    ///         .await;
    ///     assert!(v.starts_with("not cancelled"));
    /// });
    /// ```
    pub fn abandon_on_cancel(mut self, abandon: bool) -> Self {
        self.abandon = abandon;
        self
    }

    /// Run `f` on a worker thread with these options and return its value.
    /// See the [module docs](self) for the rules.
    ///
    /// ```
    /// use arbor_primitives::to_thread::RunSync;
    /// arbor_runtime::run(async {
    ///     let id = RunSync::new().run(|| std::thread::current().id()).await;
    ///     assert_ne!(id, std::thread::current().id());
    /// });
    /// ```
    ///
    /// # Cancel safety
    /// Before `f` starts (waiting for a token), dropping the call takes
    /// nothing and `f` never runs. After it starts: shielded (the
    /// default), an enclosing cancellation waits for `f` and the value is
    /// returned; with `abandon_on_cancel(true)`, it drops the call at
    /// once. A call dropped while `f` runs (abandoned, or its task
    /// aborted) leaves `f` running unseen and releases its token when `f`
    /// ends, on the runtime thread.
    ///
    /// # Panics
    /// Outside a runtime; with `f`'s panic if `f` panics.
    pub async fn run<F, R>(self, f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let limiter = self.limiter.unwrap_or_else(current_default_thread_limiter);
        // The cancel point (and schedule point) of entry.
        let token = limiter
            .acquire_owned_on_behalf_of(Borrower::thread_call())
            .await
            .unwrap_or_else(|_| unreachable!("a fresh borrower holds no token"));
        if arbor_runtime::scope::current_is_cancelled() {
            // Cancelled at the acquire's schedule point: `f` must not
            // start. The token goes back; the scope drops us here.
            drop(token);
            let never: std::convert::Infallible = std::future::pending().await;
            match never {}
        }
        let wait = Wait {
            job: Some(blocking::spawn(f)),
            token: Some(token),
        };
        let out = if self.abandon {
            abandoning(wait).await
        } else {
            shielded(wait).await
        };
        match out {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// The wait of `abandon_on_cancel(true)`: a plain cancel point, polled in
/// the context of the call, so the job's `from_thread` calls are served
/// there too.
async fn abandoning<R: Send + 'static>(mut wait: Wait<R>) -> std::thread::Result<R> {
    poll_fn(|cx| {
        // Level-triggered: no progress inside a cancelled scope, which
        // drops the call at its next decision.
        let cancelled = arbor_runtime::scope::current_is_cancelled();
        wait.serve(cx, cancelled);
        if cancelled {
            return Poll::Pending;
        }
        wait.poll_outcome(cx)
    })
    .await
}

/// The default wait: the job's outcome is awaited in a shield region, so
/// enclosing cancellations wait for it; the job's `from_thread` calls are
/// served outside that region, in the context of the call (trio's rule:
/// they run with the deadline, scope and cancel status of the task that
/// called `to_thread`, not of the shield).
async fn shielded<R: Send + 'static>(wait: Wait<R>) -> std::thread::Result<R> {
    // Shared by the two halves of each poll, which never overlap.
    let wait = RefCell::new(wait);
    let cell = ScopeCell::new();
    cell.set_shield(true);
    let outcome = poll_fn(|cx| wait.borrow_mut().poll_outcome(cx));
    let mut region = pin!(Region::new(cell, NodeKind::Scope, outcome));
    let mut notice = pin!(arbor_runtime::scope::cancelled());
    let mut outer_cancelled = false;
    poll_fn(|cx| {
        // Outside the region: the context around the call. Until it is
        // cancelled, `notice` keeps this task's waker on the enclosing
        // node, so the cancellation wakes us and is seen here, before
        // anything is served (no new call starts in the cancelled scope;
        // the one being served is ended by its own region). A cancellation is
        // never undone.
        if !outer_cancelled && notice.as_mut().poll(cx).is_ready() {
            outer_cancelled = true;
        }
        wait.borrow_mut().serve(cx, outer_cancelled);
        match region.as_mut().poll_inner(cx) {
            Step::Ready(out) => {
                region.as_mut().close();
                Poll::Ready(out)
            }
            Step::Pending => Poll::Pending,
            Step::Caught(_) | Step::Dropped => {
                unreachable!("a shield with no handle and no deadline is never cancelled")
            }
        }
    })
    .await
}

/// The wait for a started job, holding its token. Dropped unfinished, it
/// hands both to a watcher task (module docs).
struct Wait<R: Send + 'static> {
    job: Option<BlockingJob<R>>,
    token: Option<OwnedLimiterGuard>,
}

impl<R: Send + 'static> Wait<R> {
    /// Serve the job's `from_thread` calls here, in the caller's context;
    /// once that context is `cancelled`, take no new ones (they get
    /// `Cancelled`, module docs) and let the scope rules end the one being
    /// served: its own region drops it at its next suspension (after any
    /// shield inside it finished), and its caller gets `Cancelled`.
    fn serve(&mut self, cx: &mut Context<'_>, cancelled: bool) {
        let Some(job) = self.job.as_mut() else { return };
        if cancelled {
            job.refuse_requests();
        }
        job.serve_requests(cx);
    }

    /// The job's outcome; `f`'s token goes back before the caller sees
    /// it.
    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<std::thread::Result<R>> {
        let job = self.job.as_mut().expect("Wait polled after completion");
        let Poll::Ready(out) = job.poll_outcome(cx) else {
            // `run_sync` is an `async fn`: this line names the wait.
            arbor_runtime::scope::note_await(std::panic::Location::caller());
            return Poll::Pending;
        };
        self.job = None;
        self.token = None;
        Poll::Ready(out)
    }
}

impl<R: Send + 'static> Drop for Wait<R> {
    fn drop(&mut self) {
        let (Some(mut job), Some(token)) = (self.job.take(), self.token.take()) else {
            return;
        };
        // Abandoned: nobody serves `from_thread` calls any more (the
        // watcher below only waits for the end).
        job.close_requests();
        if job.is_finished() || arbor_runtime::current_runtime_id().is_none() {
            // Ended already (or no runtime left to watch it): both go now.
            drop(job);
            drop(token);
            return;
        }
        drop(arbor_runtime::spawn_named(
            "arbor::to_thread abandoned call",
            async move {
                // Woken from the worker through the remote queue; the
                // outcome (a value or a panic payload) is dropped here.
                let _ = job.await;
                drop(token);
            },
        ));
    }
}
