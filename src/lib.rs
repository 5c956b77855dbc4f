//! # arbor
//!
//! A single-threaded async runtime for Rust with structured concurrency
//! built into the executor. Tasks live in a slab owned by the runtime,
//! timers in a hierarchical timer wheel, I/O readiness comes from an epoll
//! reactor, and the scope tree that nurseries and cancel scopes build on is
//! an executor concept.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! let log = rt.block_on(async {
//!     // A nursery returns only once every child it spawned has finished.
//!     arbor::nursery(async |n| {
//!         let a = n.spawn(async {
//!             arbor::time::sleep(Duration::from_secs(60)).await;
//!             "a minute"
//!         });
//!         let b = n.spawn(async {
//!             arbor::time::sleep(Duration::from_secs(1)).await;
//!             "a second"
//!         });
//!         (b.await.unwrap(), a.await.unwrap())
//!     })
//!     .await
//!     .unwrap()
//! });
//! assert_eq!(log, ("a second", "a minute")); // and it took no real time
//! ```
//!
//! # Where to start
//!
//! The [`guide`] walks through arbor in order; each chapter is short and
//! every example in it runs as a doctest:
//!
//! 1. [`guide::nurseries`]: [`nursery`], [`Nursery::spawn`] and
//!    [`Nursery::start`], how errors surface ([`ErrorGroup`]), children
//!    returning plain values, unstructured [`spawn`].
//! 2. [`guide::cancel_scopes`]: [`CancelScope`], [`move_on_after`],
//!    [`fail_after`], deadlines, nesting.
//! 3. [`guide::shields`]: [`shield`], cleanup, grace periods.
//! 4. [`guide::cancellation`]: the rules in Rust's drop model,
//!    checkpoints, what "cancel safe" means.
//! 5. [`guide::primitives`]: locks, semaphores, events, channels.
//! 6. [`guide::patterns`]: a connection pool ([`patterns::Pool`]),
//!    [`patterns::map_concurrent`], [`patterns::retry()`],
//!    [`patterns::WorkerPool`].
//! 7. [`guide::io`]: sockets, [`to_thread`], [`from_thread`], [`Handle`],
//!    one runtime per core ([`per_core`]), files, processes, signals.
//! 8. [`guide::testing`]: the virtual clock, `#[arbor::test]`, seeded
//!    schedules.
//! 9. [`guide::instruments`]: the live task tree ([`dump`]),
//!    [`instrument::Instrument`], metrics.
//! 10. [`guide::from_tokio`] and [`guide::from_trio`]: tables of
//!     equivalents; task-locals.
//! 11. [`guide::ecosystem`]: which other crates work on arbor.
//! 12. [`guide::internals`]: how arbor is built.
//!
//! # The crate at a glance
//!
//! - Structured concurrency (crate `arbor-nursery`): [`nursery`],
//!   [`supervisor`], [`server`], [`CancelScope`], the timeouts, [`shield`],
//!   [`checkpoint`]. [`spawn`] is the unstructured escape hatch, returning
//!   a [`JoinHandle`].
//! - The runtime (crate `arbor-runtime`): [`Runtime`], [`run`], [`time`],
//!   [`net`], [`io`], [`signal`], [`task_local!`], [`instrument`],
//!   [`testing`]; [`lowlevel`] has the scope machinery underneath, for
//!   building structured primitives of your own.
//! - [`primitives`] and channels, [`patterns`] (pool, concurrent map,
//!   retry, worker pool), `fs` and `process` (features, below).
//!
//! # Features
//!
//! These three are on by default. A crate that wants less depends on arbor with
//! `default-features = false, features = [...]` and names the ones it
//! uses:
//!
//! - `fs`: `arbor::fs`, files and directories on the offload pool (crate
//!   `arbor-fs`).
//! - `process`: `arbor::process`, child processes (crate
//!   `arbor-process`).
//! - `macros`: `#[arbor::main]` and `#[arbor::test]` (crate
//!   `arbor-macros`, which brings syn, quote and proc-macro2 into the
//!   build).
//!
//! Off by default:
//!
//! - `tracing`: `instrument::TracingInstrument`, a `tracing` span per
//!   task (brings in the `tracing` crate).
//! - `tokio-io`: tokio's `AsyncRead`/`AsyncWrite` for the TCP and Unix
//!   streams and their halves, so `tokio-util`'s codecs and other
//!   trait-only crates work (`net::tokio_io`; brings in `tokio` with no
//!   features: the traits, no tokio runtime).
//!
//! The rest is always there: the runtime ([`time`], [`net`], [`io`],
//! [`signal`], [`to_thread`], ...), nurseries and cancel scopes,
//! [`primitives`] and [`patterns`].
//!
//! ```toml
//! [dependencies]
//! # The runtime, nurseries, primitives and patterns; no files, processes
//! # or attribute macros.
//! arbor = { path = "../arbor", default-features = false }
//! ```

#![warn(missing_docs)]

pub mod guide;

pub use arbor_runtime::{
    Builder, Handle, IoBackend, JoinError, JoinHandle, RemoteJoinError, RemoteJoinHandle, RunError,
    Running, Runtime, RuntimeGone, RuntimeId, TaskId, TaskInfo, YieldNow, current_runtime_id,
    current_task, current_task_id, instrument, io, net, run, running, signal, spawn, spawn_named,
    task, task_local, time, yield_now,
};

/// Runs `async fn main` on a new arbor runtime (`Runtime::builder()`,
/// then `block_on` of the body). `main` may return a `Result`, and `?`
/// converts errors to its error type. Options: `virtual_clock` (the
/// runtime gets [`Builder::virtual_clock`]), `crate = "path"` (for crates
/// that re-export arbor). Like `#[tokio::main]`.
///
/// ```
/// #[arbor::main]
/// async fn main() -> Result<(), std::num::ParseIntError> {
///     let n: u32 = arbor::spawn(async { "41" }).await.unwrap().parse()?;
///     assert_eq!(n + 1, 42);
///     Ok(())
/// }
/// ```
///
/// A misuse is a compile error: a function without `async`, one taking
/// arguments, a generic or `const` one, an unknown option or one given
/// twice, an `autojump` or `seeds` value of the wrong kind, `seed` with
/// `seeds`, and `seeds` on a `main` (which runs once: `seed = N` is
/// accepted).
///
/// Needs the `macros` feature (on by default).
#[cfg(feature = "macros")]
pub use arbor_macros::main;

/// Runs an `async fn` test on a new arbor runtime, one per test: emits
/// `#[test]` (keep `#[should_panic]`, `#[ignore]` and the like; they work
/// as usual), and the test may return a `Result`. Options: `virtual_clock`
/// (the runtime gets [`Builder::virtual_clock`]: time moves only when every
/// task is blocked, so sleeps and timeouts take no real time), `autojump
/// = "10ms"` (a virtual clock that jumps only after every task has been
/// blocked that long in real time with nothing arriving:
/// [`Builder::autojump`]), `crate = "path"`, `seed = N` (the runtime gets
/// [`Builder::seed`]: each tick's tasks run in an order drawn from `N`),
/// `seeds = N` (run the test under the seeds `0..N`, a fresh runtime
/// each, until one fails; its seed is printed to stderr, `arbor: failed
/// with seed 3; replay with ARBOR_SEED=3`, and with `ARBOR_SEED=3` in the
/// environment a `seed` or `seeds` test runs under seed 3 alone).
///
/// ```
/// #[arbor::test(seeds = 20, virtual_clock)]
/// async fn the_total_is_the_same_under_any_schedule() {
///     let total = std::rc::Rc::new(std::cell::Cell::new(0));
///     arbor::nursery(async |n| {
///         for i in 1..=3 {
///             let total = total.clone();
///             n.spawn(async move {
///                 let seen = total.get();
///                 arbor::yield_now().await; // another task may run here
///                 total.set(seen + i); // a lost update under some seeds
///             });
///         }
///     })
///     .await
///     .unwrap();
///     assert!(total.get() <= 6);
/// }
/// # fn main() {}
/// ```
///
/// ```
/// use std::time::Duration;
///
/// #[arbor::test(virtual_clock)]
/// async fn an_hour_passes_at_once() {
///     let t0 = arbor::time::now();
///     arbor::time::sleep(Duration::from_secs(3600)).await;
///     assert_eq!(arbor::time::now() - t0, Duration::from_secs(3600));
/// }
/// # fn main() {}
/// ```
///
/// The real clock is the default, as for `#[arbor::main]`, [`run`] and
/// [`Runtime::new`], and as tokio's `start_paused` is opt-in: the virtual
/// clock jumps to the next timer whenever every task is blocked, also when
/// they are blocked on a socket, a child process or a `to_thread` job, so
/// a timeout around real I/O would fire at once. Tests that wait only on
/// timers and on each other should ask for it (most of arbor's own do);
/// tests that mix timeouts with real sockets or threads want `autojump`:
///
/// ```
/// use std::time::Duration;
///
/// #[arbor::test(autojump = "100ms")]
/// async fn a_thread_beats_a_long_virtual_timeout() {
///     let job = arbor::to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(20)));
///     assert!(arbor::move_on_after(Duration::from_secs(10), job).await.is_some());
/// }
/// # fn main() {}
/// ```
///
/// Needs the `macros` feature (on by default).
#[cfg(feature = "macros")]
pub use arbor_macros::test;

/// Makes a type of yours a plain nursery outcome (see [`Outcome`]): a
/// child or body returning it always succeeds, with the value.
/// `#[arbor(crate = "path")]` names where arbor is, for crates that
/// re-export it. Feature `macros`.
///
/// ```
/// #[derive(arbor::Outcome)]
/// struct Report {
///     lines: usize,
/// }
///
/// arbor::run(async {
///     let report = arbor::nursery(async |n| {
///         let child = n.spawn(async { Report { lines: 3 } });
///         child.await.unwrap()
///     })
///     .await
///     .unwrap();
///     assert_eq!(report.lines, 3);
/// });
/// ```
#[cfg(feature = "macros")]
pub use arbor_macros::Outcome;

/// Scopes, low-level: the scope tree, [`Region`](lowlevel::Region) (the
/// guard every cancel scope, nursery and child runs its code in) and
/// [`ScopeCell`](lowlevel::ScopeCell), for building your own structured
/// primitives; most programs need only the items at the crate root. Also
/// introspection: [`live_scopes`](lowlevel::live_scopes),
/// [`lowlevel::dump`], the task tree
/// ([`parent_nursery`](lowlevel::parent_nursery),
/// [`child_nurseries`](lowlevel::child_nurseries)) and
/// [`note_await`](lowlevel::note_await) for futures of your own to name
/// their await point in the dump. Like `trio.lowlevel`.
pub mod lowlevel {
    pub use arbor_runtime::scope::*;
}

/// Test helpers (trio's `trio.testing`): [`testing::wait_all_tasks_blocked`].
/// The virtual clock is set on the [`Builder`]: [`Builder::virtual_clock`],
/// [`Builder::autojump`].
pub mod testing {
    pub use arbor_runtime::testing::*;
}

/// Synchronization primitives and channels (crate `arbor-primitives`).
pub use arbor_primitives as primitives;

/// Run blocking code on a worker thread under a capacity limiter
/// (trio's and AnyIO's `to_thread`): [`to_thread::run_sync`].
pub use arbor_primitives::to_thread;

/// Call back into the runtime from a `to_thread` worker (trio's
/// `from_thread`): [`from_thread::run_sync`], [`from_thread::run`],
/// [`from_thread::check_cancelled`].
pub use arbor_runtime::blocking::from_thread;

/// Files, directories and paths on the offload pool: [`fs::File`],
/// [`fs::read`], [`fs::write`], [`fs::read_dir`], ... (crate `arbor-fs`).
///
/// Needs the `fs` feature (on by default).
#[cfg(feature = "fs")]
pub use arbor_fs as fs;

/// Child processes, watched through a pidfd on the reactor, killed and
/// reaped when dropped (crate `arbor-process`).
///
/// Needs the `process` feature (on by default).
#[cfg(feature = "process")]
pub use arbor_process as process;

/// Concurrency patterns: connection pool, bounded concurrent map, retry
/// with backoff, worker pool (crate `arbor-patterns`).
pub use arbor_patterns as patterns;

pub use arbor_nursery::{
    AlreadyStarted, BoxError, CancelHandle, CancelReason, CancelScope, Cancelled, CancelledFuture,
    ChildError, ChildHandle, ChildSet, EffectiveDeadline, Elapsed, ErrorGroup, FailAfter, Failure,
    JoinNext, MoveOn, Nursery, NurseryError, Outcome, RemoteCancelHandle, SERVER_KEPT_FAILURES,
    StartError, TaskStatus, cancelled, checkpoint, current_effective_deadline, dump, fail_after,
    fail_at, forever, move_on_after, move_on_at, nursery, server, shield, supervisor,
};

/// One runtime per core: [`per_core::PerCore`] starts `n` pinned
/// threads, each running its own runtime and the same closure in a root
/// cancel scope, as one group that shuts down and joins like a nursery
/// (crate `arbor-nursery`). With [`net::TcpListener::bind_reuseport`],
/// every core accepts its own connections on one port.
pub use arbor_nursery::per_core;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// What `#[arbor::test(seed = N)]` and `#[arbor::test(seeds = N)]` expand
/// to call. Not API: only the macros may use it.
#[doc(hidden)]
pub mod __macro_support {
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

    /// Whether a test's return value is a failure, so that a seeded run
    /// returning `Err` names its seed too.
    pub trait SeededOutput {
        /// True for a failed run.
        fn failed(&self) -> bool;
    }

    impl SeededOutput for () {
        fn failed(&self) -> bool {
            false
        }
    }

    impl<T, E> SeededOutput for Result<T, E> {
        fn failed(&self) -> bool {
            self.is_err()
        }
    }

    /// The seeds to run: `ARBOR_SEED` alone if it is set, else
    /// `first..first + count`.
    fn seeds(first: u64, count: u64) -> Vec<u64> {
        match std::env::var("ARBOR_SEED") {
            Ok(text) if !text.trim().is_empty() => {
                let seed = text.trim().parse().unwrap_or_else(|_| {
                    panic!("arbor: ARBOR_SEED={text:?} is not a seed (an unsigned 64-bit integer)")
                });
                vec![seed]
            }
            _ => (0..count).map(|i| first.wrapping_add(i)).collect(),
        }
    }

    /// Run `body` on a fresh runtime (`builder`, seeded) once per seed,
    /// stopping at the first run that panics or returns a failure: its
    /// seed is printed to stderr, then the panic resumes or the failure is
    /// returned.
    pub fn run_seeded<B, F, Fut>(
        what: &str,
        first: u64,
        count: u64,
        builder: B,
        mut body: F,
    ) -> Fut::Output
    where
        B: Fn() -> crate::Builder,
        F: FnMut() -> Fut,
        Fut: Future,
        Fut::Output: SeededOutput,
    {
        assert!(count > 0, "the macro rejects `seeds = 0`");
        let seeds = seeds(first, count);
        let last = seeds.len() - 1;
        for (i, &seed) in seeds.iter().enumerate() {
            let run = catch_unwind(AssertUnwindSafe(|| {
                builder()
                    .seed(seed)
                    .build()
                    .unwrap_or_else(|e| panic!("{what} could not build its runtime: {e}"))
                    .block_on(body())
            }));
            let failed = match &run {
                Ok(output) => output.failed(),
                Err(_) => true,
            };
            if failed {
                eprintln!("arbor: failed with seed {seed}; replay with ARBOR_SEED={seed}");
            }
            match run {
                Err(panic) => resume_unwind(panic),
                Ok(output) if failed || i == last => return output,
                Ok(_) => {}
            }
        }
        unreachable!("at least one seed runs")
    }
}
