//! [`Builder`]: a runtime's settings, and `build`, which makes its core.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

use super::park::{OsWake, Parker};
use super::queue::{SplitMix64, TaskQueue};
use super::{Core, DEFAULT_EVENT_INTERVAL, Remote, Runtime, idle, provisional, registry};
use crate::context;
use crate::reactor::Reactor;
use crate::reactor::epoll::EventFd;
use crate::scope::ScopeTable;
use crate::slab::GenSlab;
use crate::task::waker::MAX_TASKS;
use crate::time::clock::Clock;
use crate::time::wheel::Wheel;

/// Builds a [`Runtime`] with non-default settings.
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let start = arbor_runtime::time::now();
///     arbor_runtime::time::sleep(Duration::from_secs(3600)).await; // instant
///     assert_eq!(arbor_runtime::time::now() - start, Duration::from_secs(3600));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    virtual_clock: bool,
    autojump: Option<std::time::Duration>,
    rate: f64,
    event_interval: u32,
    seed: Option<u64>,
    blocking: crate::blocking::Config,
    instruments: BuilderInstruments,
    pin_to_cpu: Option<usize>,
    io_backend: crate::reactor::IoBackend,
}

/// The instruments given to a [`Builder`]: shared (`Arc`) so the builder
/// stays `Clone` and `Send`.
#[derive(Clone, Default)]
struct BuilderInstruments(Vec<Arc<dyn crate::instrument::Instrument + Send + Sync>>);

impl fmt::Debug for BuilderInstruments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} instrument(s)", self.0.len())
    }
}

impl Builder {
    /// The default settings ([`Runtime::builder`]).
    pub(super) fn with_defaults() -> Builder {
        Builder {
            virtual_clock: false,
            autojump: None,
            rate: 0.0,
            event_interval: DEFAULT_EVENT_INTERVAL,
            seed: None,
            blocking: crate::blocking::Config {
                max_threads: 512,
                keep_alive: std::time::Duration::from_secs(10),
                affinity: None,
            },
            instruments: BuilderInstruments::default(),
            pin_to_cpu: None,
            io_backend: crate::reactor::IoBackend::Auto,
        }
    }

    /// Use a virtual clock: time starts at zero and moves only when every
    /// task is blocked, jumping straight to the next timer deadline (or
    /// when [`time::advance`](crate::time::advance) is called). Tests of
    /// hour-long timeouts then run instantly and deterministically.
    ///
    /// The jump is immediate (an autojump threshold of zero): it does not
    /// wait for I/O or for other threads, so a real socket or a
    /// `to_thread` job slower than the next timer loses the race. Use
    /// [`autojump`](Self::autojump) for tests that mix them.
    pub fn virtual_clock(mut self) -> Self {
        self.virtual_clock = true;
        self.autojump.get_or_insert(std::time::Duration::ZERO);
        self
    }

    /// Use a virtual clock (see [`virtual_clock`](Self::virtual_clock))
    /// that jumps to the next timer only after every task has been blocked
    /// for `threshold` of real time with no I/O readiness and no
    /// cross-thread wake (a `to_thread` job finishing, a
    /// [`Handle`](crate::Handle) call, a waker woken on another thread)
    /// arriving: trio's `MockClock.autojump_threshold`. Anything that
    /// arrives makes work and starts the threshold again. A zero threshold
    /// is [`virtual_clock`](Self::virtual_clock) itself. Combines with
    /// [`virtual_clock_rate`](Self::virtual_clock_rate).
    ///
    /// With a threshold, a virtual-clock test can use real sockets and
    /// threads together with long timeouts: a reply that takes 50 ms of
    /// real time arrives long before the 200 ms threshold lets a 10 s
    /// timeout fire, while a timeout with nothing to wait for still fires
    /// after 200 ms of real time, not 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = arbor_runtime::Runtime::builder()
    ///     .autojump(Duration::from_millis(200))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     let t0 = arbor_runtime::time::now();
    ///     let timer = arbor_runtime::spawn(arbor_runtime::time::sleep(Duration::from_secs(10)));
    ///     // A 30 ms job on a thread: the clock waits for it instead of
    ///     // jumping to the 10 s timer.
    ///     let job = arbor_runtime::blocking::spawn(|| {
    ///         std::thread::sleep(Duration::from_millis(30));
    ///     });
    ///     job.await.unwrap();
    ///     assert_eq!(t0.elapsed(), Duration::ZERO);
    ///     assert!(!timer.is_finished());
    ///     // Nothing else to wait for: after 200 ms real, an hour passes.
    ///     arbor_runtime::time::sleep(Duration::from_secs(3600)).await;
    ///     assert_eq!(t0.elapsed(), Duration::from_secs(3600));
    /// });
    /// ```
    pub fn autojump(mut self, threshold: std::time::Duration) -> Self {
        self.virtual_clock = true;
        self.autojump = Some(threshold);
        self
    }

    /// Use a virtual clock that also runs by itself at `rate` × real time
    /// (trio's `MockClock(rate=...)`): 1000.0 turns a real millisecond
    /// into a virtual second, 0.5 runs at half speed. It starts at zero
    /// like any virtual clock, and [`time::advance`](crate::time::advance)
    /// moves it.
    ///
    /// On its own it never jumps: a timer fires when the scaled time
    /// reaches it (the run loop parks for (deadline − now) / `rate` of
    /// real time). Add [`autojump`](Self::autojump) to also jump after a
    /// threshold of idleness, or [`virtual_clock`](Self::virtual_clock)
    /// (before or after this call) to jump at once, as trio's
    /// `autojump_threshold = 0`. A rate of 0.0 is a plain virtual clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = arbor_runtime::Runtime::builder().virtual_clock_rate(1000.0).build().unwrap();
    /// let real = std::time::Instant::now();
    /// rt.block_on(async {
    ///     let t0 = arbor_runtime::time::now();
    ///     arbor_runtime::time::sleep(Duration::from_secs(5)).await; // about 5 ms real
    ///     assert!(t0.elapsed() >= Duration::from_secs(5));
    /// });
    /// assert!(real.elapsed() < Duration::from_secs(5));
    /// ```
    ///
    /// # Panics
    /// If `rate` is negative, infinite or NaN.
    pub fn virtual_clock_rate(mut self, rate: f64) -> Self {
        assert!(
            rate.is_finite() && rate >= 0.0,
            "virtual_clock_rate must be finite and at least 0.0, got {rate}"
        );
        self.virtual_clock = true;
        self.rate = rate;
        self
    }

    /// How many task polls may run between two non-blocking checks of the
    /// reactor while tasks stay runnable (default 61). Lower means lower
    /// I/O latency under load, higher means fewer syscalls.
    ///
    /// # Panics
    /// If `polls` is zero.
    pub fn event_interval(mut self, polls: u32) -> Self {
        assert!(polls > 0, "event_interval must be at least 1");
        self.event_interval = polls;
        self
    }

    /// Run the tasks of each scheduler tick in an order drawn from `seed`
    /// instead of FIFO: the same seed (and the same program and inputs)
    /// gives the same interleaving, and other seeds give others, so a test
    /// can explore schedules and replay the one that failed
    /// (`#[arbor::test(seeds = N)]` does both).
    ///
    /// What the seed permutes: the order in which the tasks runnable at
    /// the start of a tick are polled (every one of them is still polled
    /// exactly once in that tick; the future given to `block_on` is still
    /// polled before them when woken). What it does not: timers fire in
    /// deadline order (equal deadlines in the order they were set), the
    /// order of I/O readiness is the kernel's, wakes from other threads
    /// (`to_thread`, [`Handle`](crate::Handle), a waker sent elsewhere)
    /// arrive when they arrive, and the tasks a cancellation wakes run in
    /// the order it woke them. A program is replayable from its seed when
    /// it runs on a virtual clock and waits only on timers and on its own
    /// tasks.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let trace = |seed: u64| {
    ///     let rt = arbor_runtime::Runtime::builder().virtual_clock().seed(seed).build().unwrap();
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     rt.block_on(async {
    ///         let tasks: Vec<_> = (0..4)
    ///             .map(|n| {
    ///                 let log = log.clone();
    ///                 arbor_runtime::spawn(async move {
    ///                     for _ in 0..3 {
    ///                         log.borrow_mut().push(n);
    ///                         arbor_runtime::yield_now().await;
    ///                     }
    ///                 })
    ///             })
    ///             .collect();
    ///         for t in tasks {
    ///             t.await.unwrap();
    ///         }
    ///     });
    ///     log.take()
    /// };
    /// assert_eq!(trace(7), trace(7)); // replayable
    /// assert!((0..8).any(|seed| trace(seed) != trace(7))); // and varied
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The most worker threads the runtime's blocking pool (what
    /// `arbor::to_thread` and [`blocking::spawn`](crate::blocking::spawn)
    /// run on) keeps at once (default 512, tokio's). Jobs beyond that wait
    /// in FIFO order for a worker to finish. `to_thread`'s capacity limiter
    /// (40 tokens by default) usually bounds the threads first.
    ///
    /// ```
    /// let rt = arbor_runtime::Runtime::builder().max_blocking_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let a = arbor_runtime::blocking::spawn(|| std::thread::current().id());
    ///     let b = arbor_runtime::blocking::spawn(|| std::thread::current().id());
    ///     assert_eq!(a.await.unwrap(), b.await.unwrap()); // one thread ran both
    /// });
    /// ```
    ///
    /// # Panics
    /// If `threads` is zero.
    pub fn max_blocking_threads(mut self, threads: usize) -> Self {
        assert!(threads > 0, "max_blocking_threads must be at least 1");
        self.blocking.max_threads = threads;
        self
    }

    /// How long a blocking pool worker waits for a new job before its
    /// thread exits (default 10 s, tokio's and trio's). Workers that find
    /// work in time are reused.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = arbor_runtime::Runtime::builder()
    ///     .blocking_keep_alive(Duration::from_millis(1))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     arbor_runtime::blocking::spawn(|| ()).await.unwrap();
    /// });
    /// // Shortly after, the idle worker is gone.
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: std::time::Duration) -> Self {
        self.blocking.keep_alive = keep_alive;
        self
    }

    /// Install an [`Instrument`](crate::instrument::Instrument) for the
    /// runtime's whole life: it sees every task from the first. Call it
    /// again to install more; they are called in this order. Keep a clone
    /// of the `Arc` to read what it recorded. An instrument that is not
    /// `Send` can be added from inside the runtime with
    /// [`instrument::add`](crate::instrument::add).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use arbor_runtime::instrument::{Instrument, SpawnEvent};
    ///
    /// #[derive(Default)]
    /// struct Spawns(AtomicU32);
    /// impl Instrument for Spawns {
    ///     fn on_spawn(&self, _task: &SpawnEvent<'_>) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let spawns = Arc::new(Spawns::default());
    /// let rt = arbor_runtime::Runtime::builder().instrument(spawns.clone()).build().unwrap();
    /// rt.block_on(async {
    ///     for _ in 0..3 {
    ///         arbor_runtime::spawn(async {}).await.unwrap();
    ///     }
    /// });
    /// assert_eq!(spawns.0.load(Ordering::Relaxed), 3);
    /// ```
    pub fn instrument<I>(mut self, instrument: Arc<I>) -> Self
    where
        I: crate::instrument::Instrument + Send + Sync,
    {
        self.instruments.0.push(instrument);
        self
    }

    /// Pin the thread that calls [`build`](Self::build) (the runtime's
    /// thread: a [`Runtime`] is `!Send`) to CPU `cpu` alone, with
    /// `sched_setaffinity`. For one runtime per core
    /// (`arbor::per_core`), where each core's runtime stays on its CPU
    /// and keeps its caches warm.
    ///
    /// The pin is the thread's, not the runtime's: it stays after the
    /// runtime is dropped, and threads you start from the pinned thread
    /// inherit it. The runtime's blocking pool workers (`to_thread`,
    /// [`blocking::spawn`](crate::blocking::spawn)) do not: they run
    /// where the thread could run before the pin.
    ///
    /// ```
    /// let err = arbor_runtime::Runtime::builder().pin_to_cpu(100_000).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("cannot pin to CPU 100000"));
    /// ```
    ///
    /// # Errors
    /// `build` fails with `InvalidInput`, naming the CPUs allowed, if
    /// `cpu` does not exist or is outside the thread's affinity mask (a
    /// cgroup's or `taskset`'s limit), before it creates anything.
    pub fn pin_to_cpu(mut self, cpu: usize) -> Self {
        self.pin_to_cpu = Some(cpu);
        self
    }

    /// The kernel interface for I/O: [`IoBackend::Auto`] (the default:
    /// the `ARBOR_IO_BACKEND` environment variable if set, else io_uring
    /// where the kernel allows it, else epoll), or either one forced.
    ///
    /// Sockets, pipes, signals and child processes behave the same on
    /// both; [`Runtime::io_backend`] says which one a runtime got.
    ///
    /// ```
    /// use arbor_runtime::{IoBackend, Runtime};
    /// let rt = Runtime::builder().io_backend(IoBackend::Epoll).build().unwrap();
    /// assert_eq!(rt.io_backend(), IoBackend::Epoll);
    /// ```
    ///
    /// [`IoBackend::Auto`]: crate::IoBackend::Auto
    pub fn io_backend(mut self, backend: crate::reactor::IoBackend) -> Self {
        self.io_backend = backend;
        self
    }

    /// Create the runtime: a reactor (epoll or io_uring, see
    /// [`io_backend`](Self::io_backend)), an eventfd and a futex word to
    /// park on (and pin the calling thread first, with
    /// [`pin_to_cpu`](Self::pin_to_cpu)).
    ///
    /// # Errors
    /// The OS's refusal to create any of them (for a forced
    /// [`IoBackend::IoUring`](crate::IoBackend::IoUring), a kernel without
    /// io_uring), an invalid `ARBOR_IO_BACKEND`, or a CPU that
    /// [`pin_to_cpu`](Self::pin_to_cpu) cannot use.
    pub fn build(self) -> io::Result<Runtime> {
        let mut blocking = self.blocking;
        if let Some(cpu) = self.pin_to_cpu {
            blocking.affinity = Some(crate::reactor::epoll::pin_current_thread(cpu)?);
        }
        let mut reactor = Reactor::new(self.io_backend)?;
        let eventfd = EventFd::new()?;
        reactor.register_waker_fd(std::os::fd::AsRawFd::as_raw_fd(&eventfd))?;
        let remote = Arc::new(Remote::new(Parker::new(OsWake { eventfd })));
        let key = registry::register(remote.clone());
        let clock = if self.virtual_clock {
            Clock::new_virtual(self.rate)
        } else {
            Clock::new_real()
        };
        let scopes = ScopeTable::new();
        let cancelled_nodes = scopes.cancelled_nodes();
        let core = Rc::new_cyclic(|weak_self| Core {
            key,
            weak_self: weak_self.clone(),
            tasks: RefCell::new(GenSlab::new(MAX_TASKS)),
            run_queue: RefCell::new(TaskQueue::new()),
            root_woken: Cell::new(false),
            urgent: Cell::new(false),
            urgent_queue: RefCell::new(TaskQueue::new()),
            root_urgent: Cell::new(false),
            current: Cell::new(None),
            current_raw: Cell::new(None),
            current_node: Cell::new(0),
            names: RefCell::new(HashMap::new()),
            scopes: RefCell::new(scopes),
            cancelled_nodes,
            provisional: RefCell::new(provisional::ProvisionalStack::default()),
            provisional_tokens: Cell::new(0),
            holds: Cell::new(0),
            next_watch: Cell::new(0),
            skips: Cell::new(0),
            poll_clock: Cell::new(None),
            timers: RefCell::new(Wheel::new()),
            clock,
            autojump: self.autojump,
            idle: idle::IdleWaiters::default(),
            reactor: Rc::new(RefCell::new(reactor)),
            remote,
            wake_buf: RefCell::new(Vec::new()),
            remote_buf: RefCell::new(Vec::new()),
            job_buf: RefCell::new(Vec::new()),
            thread: std::thread::current().id(),
            event_interval: self.event_interval,
            polls_since_io: Cell::new(0),
            shuffle: self.seed.map(|seed| RefCell::new(SplitMix64::new(seed))),
            shutting_down: Cell::new(false),
            blocking: crate::blocking::Pool::new(blocking, key),
            locals: RefCell::new(Vec::new()),
            instruments: crate::instrument::Instruments::new(
                self.instruments
                    .0
                    .into_iter()
                    .map(|i| Rc::new(i) as Rc<dyn crate::instrument::Instrument>)
                    .collect(),
            ),
            counters: crate::instrument::Counters::default(),
        });
        context::register_runtime(&core);
        Ok(Runtime { core })
    }
}
