//! The worker threads of one runtime's blocking pool.
//!
//! # Who touches what
//!
//! All of [`PoolState`] is under one mutex, shared by the runtime thread
//! (which submits jobs and shuts the pool down) and the workers (which
//! take jobs and retire). The condvar wakes idle workers.
//!
//! - `queue`: jobs submitted and not yet taken. Pushed by `submit`,
//!   popped by workers, emptied by `shutdown` (those jobs never run).
//! - `threads`: workers alive or being started. Raised by `submit` before
//!   it starts a thread (so the bound holds), lowered by a worker as it
//!   exits (or by `submit` if the thread could not start).
//! - `idle`: workers waiting on the condvar that no submitter has claimed.
//!   A worker raises it when it starts waiting; `submit` lowers it when it
//!   claims one (and raises `notified`); a worker that retires or leaves at
//!   shutdown without being claimed lowers it itself.
//! - `notified`: claims not yet picked up. A waking worker that finds one
//!   takes it and goes to the queue (whichever worker wakes, the counts
//!   stay right: tokio's blocking pool does the same).
//! - `workers`: each live worker's join handle and whether it is idle
//!   (waiting, claimed or not). Inserted by `submit`, which starts the
//!   thread under the lock (so the entry exists before the worker can
//!   exit). A worker that exits on its own (retired, or done with its job
//!   after shutdown) removes its entry and drops the handle: the thread is
//!   detached and frees itself. `shutdown` takes every entry: it joins the
//!   idle workers (they exit at once: there is no work left) and detaches
//!   the busy ones (nothing can interrupt a job). So a dropped runtime
//!   leaves no idle thread behind.
//!
//! # A worker's life
//!
//! ```text
//!   spawned by submit ──▶ run jobs while the queue has some ──▶ idle (condvar wait)
//!                                  ▲                               │ │ │
//!                                  └──── claimed by submit ────────┘ │ └── shutdown ──▶ exit
//!                                                                    └── keep_alive passed ──▶ exit
//! ```
//!
//! A job runs under `catch_unwind` as a whole (the job itself catches the
//! user function's panic for its slot; this one catches a panicking
//! destructor of a discarded outcome), so a worker never dies of a job.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, JoinHandle, Mutex, MutexGuard, spawn_thread};

/// A unit of work for a worker.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool's settings (from the runtime's `Builder`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    /// For a runtime pinned to a CPU (`Builder::pin_to_cpu`): the mask
    /// its thread had before the pin, which every worker sets first, so
    /// that blocking jobs do not all share the runtime's one CPU.
    pub(crate) affinity: Option<crate::reactor::epoll::CpuMask>,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<PoolState>,
    condvar: Condvar,
    config: Config,
    /// The runtime's key, for thread names.
    runtime: u32,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    notified: usize,
    shutdown: bool,
    /// Numbers the workers (and their thread names).
    started: u64,
    /// Jobs accepted by `submit` since the pool was made.
    submitted: u64,
    workers: HashMap<u64, Worker>,
}

struct Worker {
    handle: JoinHandle<()>,
    /// Waiting on the condvar (possibly claimed, not yet awake).
    idle: bool,
}

/// A snapshot of a blocking pool's counters
/// ([`blocking::stats`](super::stats)).
///
/// ```
/// arbor_runtime::run(async {
///     let stats = arbor_runtime::blocking::stats();
///     assert_eq!((stats.threads, stats.idle, stats.queued), (0, 0, 0));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Worker threads alive (running a job or idle).
    pub threads: usize,
    /// Worker threads waiting for a job.
    pub idle: usize,
    /// Jobs submitted and not yet started.
    pub queued: usize,
    /// Jobs submitted since the runtime started (each one thread hop):
    /// the difference between two snapshots counts the hops of the code
    /// run in between.
    pub submitted: u64,
}

/// What [`Pool::submit`] did to get the job run.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Submitted {
    /// An idle worker was woken for it.
    WokeIdle,
    /// A new worker was started for it.
    Started,
    /// Every worker is busy and the pool is at its bound: it waits in
    /// the queue for the first worker that is done.
    Queued,
    /// The pool is shut down: the job was dropped without running.
    Refused,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // No user code runs under the lock (jobs run after it is released).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    pub(crate) fn new(config: Config, runtime: u32) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState::default()),
                condvar: Condvar::new(),
                config,
                runtime,
            }),
        }
    }

    /// Queue `job` and make sure a worker will take it.
    ///
    /// # Panics
    /// If no worker is alive and the OS refuses to start one (the job is
    /// dropped first): nothing could ever run it.
    pub(crate) fn submit(&self, job: Job) -> Submitted {
        let shared = &self.shared;
        let mut state = shared.lock();
        if state.shutdown {
            drop(state);
            drop(job);
            return Submitted::Refused;
        }
        state.queue.push_back(job);
        state.submitted += 1;
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            shared.condvar.notify_one();
            return Submitted::WokeIdle;
        }
        if state.threads >= shared.config.max_threads {
            return Submitted::Queued;
        }
        state.threads += 1;
        state.started += 1;
        let id = state.started;
        let name = format!("arbor-blocking-{}.{}", shared.runtime, id);
        let worker = shared.clone();
        // Under the lock: the entry is in `workers` before the thread can
        // take the lock to run (and, later, to remove it).
        let affinity = shared.config.affinity;
        let body = move || {
            if let Some(mask) = affinity {
                // Best effort: a worker left on the runtime's CPU still
                // runs its jobs.
                let _ = mask.apply();
            }
            run_worker(&worker, id)
        };
        match spawn_thread(name, body) {
            Ok(handle) => {
                state.workers.insert(
                    id,
                    Worker {
                        handle,
                        idle: false,
                    },
                );
                Submitted::Started
            }
            Err(e) => {
                state.threads -= 1;
                if state.threads > 0 {
                    // A busy worker will take it when it is done.
                    return Submitted::Queued;
                }
                // Only the runtime thread pushes, and no worker is alive
                // to pop: the job is the last one queued.
                let job = state.queue.pop_back();
                drop(state);
                drop(job);
                panic!("arbor could not start a blocking pool thread: {e}");
            }
        }
    }

    /// Retire every worker: idle ones at once (joined here), busy ones
    /// when their job ends (detached: not waited for). Jobs not started
    /// yet are dropped without running. Idempotent.
    pub(crate) fn shutdown(&self) {
        let (queued, workers) = {
            let mut state = self.shared.lock();
            state.shutdown = true;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.workers),
            )
        };
        self.shared.condvar.notify_all();
        // The jobs' closures (and what they captured) drop here.
        drop(queued);
        for (_, worker) in workers {
            if worker.idle {
                // It wakes to no work and a shutdown: it exits at once.
                let _ = worker.handle.join();
            }
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.shared.lock();
        PoolStats {
            threads: state.threads,
            idle: state.idle + state.notified,
            queued: state.queue.len(),
            submitted: state.submitted,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A worker thread's loop; see the module docs.
fn run_worker(shared: &Shared, id: u64) {
    let keep_alive = shared.config.keep_alive;
    let mut state = shared.lock();
    'work: loop {
        while let Some(job) = state.queue.pop_front() {
            drop(state);
            // The job catches its function's panic; this catches a
            // panicking destructor of an outcome nobody wanted.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            state = shared.lock();
        }
        if state.shutdown {
            break 'work;
        }
        state.idle += 1;
        set_idle(&mut state, id, true);
        let since = Instant::now();
        loop {
            let left = keep_alive.saturating_sub(since.elapsed());
            state = match shared.condvar.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
            if state.notified > 0 {
                // Claimed (by whichever submit): `idle` was lowered for us.
                state.notified -= 1;
                set_idle(&mut state, id, false);
                continue 'work;
            }
            if state.shutdown || since.elapsed() >= keep_alive {
                state.idle -= 1;
                break 'work;
            }
        }
    }
    state.threads -= 1;
    // Exiting on our own: detach (`shutdown` took the entry if it joins us).
    let me = state.workers.remove(&id);
    drop(state);
    drop(me);
}

fn set_idle(state: &mut PoolState, id: u64, idle: bool) {
    if let Some(worker) = state.workers.get_mut(&id) {
        worker.idle = idle;
    }
}
