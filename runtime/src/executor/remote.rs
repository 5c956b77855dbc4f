//! Wakes and jobs from other threads: a mutex-protected queue plus a
//! doorbell.
//!
//! A waker woken off the runtime thread pushes its packed id here; a
//! [`Handle`](crate::Handle) pushes a [`Job`] (a boxed `FnOnce() + Send`
//! that the runtime thread runs after the wakes, see `Core::drain_remote`).
//! The push that takes the queue from empty to non-empty rings the doorbell
//! (the runtime's `Parker`, `park.rs`: a syscall only if the runtime thread
//! is parked, in `epoll_wait` or on its futex); later pushes find the queue
//! non-empty and skip even that. The runtime takes the whole queue at once.
//!
//! The invariant (checked by the loom model below): an id is never left in
//! the queue without the doorbell having been rung after the runtime last
//! consumed a ring. The runtime keeps its side by always finishing a park
//! (consuming the ring) *before* draining the queue (see `park.rs` and
//! `Core::block_for_events`).
//!
//! Jobs and shutdown: [`Remote::close`] (the runtime's drop, before its
//! tasks are dropped) sets `closed` under the queue lock and takes the
//! jobs still queued. The lock orders every `push_job` against it: a job
//! pushed before is in the taken batch (dropped by the runtime, on its
//! thread, never run), a push after finds `closed` and hands the job back
//! to its caller. So each job is run or dropped exactly once, by exactly
//! one side (the loom model `loom_model_job_push_racing_close`).

use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::task::waker::WakeId;

/// Something that wakes the runtime thread out of its park.
pub(crate) trait Doorbell: Send + Sync {
    fn ring(&self);
}

/// Work for the runtime thread, sent from another thread. A trait rather
/// than `FnOnce` so that a refused job comes back as its own type (a
/// `Handle` then hands the user's closure back).
pub(crate) trait RunOnce: Send {
    fn run(self: Box<Self>);
}

pub(crate) type Job = Box<dyn RunOnce>;

#[derive(Default)]
struct Queue {
    ids: Vec<WakeId>,
    jobs: Vec<Job>,
    /// Set by [`Remote::close`]: jobs are refused from then on.
    closed: bool,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.jobs.is_empty()
    }
}

pub(crate) struct Remote<D> {
    queue: Mutex<Queue>,
    /// Mirrors `!queue.is_empty()` so the run loop can skip the lock.
    pending: AtomicBool,
    /// Set when the runtime is dropped: a cached handle must look again.
    retired: AtomicBool,
    doorbell: D,
}

impl<D: Doorbell> Remote<D> {
    pub(crate) fn new(doorbell: D) -> Self {
        Remote {
            queue: Mutex::new(Queue::default()),
            pending: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            doorbell,
        }
    }

    pub(crate) fn doorbell(&self) -> &D {
        &self.doorbell
    }

    /// The runtime is gone; its key may be given to a new runtime.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called from any thread.
    pub(crate) fn push(&self, id: WakeId) {
        self.enqueue(|queue| {
            queue.ids.push(id);
            true
        });
    }

    /// Called from any thread: queue `job` for the runtime thread, or hand
    /// it back if the queue was closed (the runtime is shutting down or
    /// gone).
    pub(crate) fn push_job<J: RunOnce + 'static>(&self, job: J) -> Result<(), J> {
        let mut refused = None;
        self.enqueue(|queue| {
            if queue.closed {
                refused = Some(job);
                false
            } else {
                queue.jobs.push(Box::new(job));
                true
            }
        });
        refused.map_or(Ok(()), Err)
    }

    /// Add to the queue under its lock (`add` says whether it added); the
    /// push that takes it from empty to non-empty sets `pending` and rings
    /// the doorbell, after the lock is released.
    #[inline]
    fn enqueue(&self, add: impl FnOnce(&mut Queue) -> bool) {
        let rang = {
            let mut queue = self.lock();
            let was_empty = queue.is_empty();
            let added = add(&mut queue);
            let rings = added && was_empty;
            if rings {
                self.pending.store(true, Ordering::Release);
            }
            rings
        };
        if rang {
            self.doorbell.ring();
        }
    }

    /// Runtime thread, at shutdown: refuse jobs from now on and return the
    /// ones queued (the caller drops them after the lock is released: a
    /// job's destructor may do anything, even push again).
    #[must_use = "the queued jobs are dropped by the caller, outside the lock"]
    pub(crate) fn close(&self) -> Vec<Job> {
        let mut queue = self.lock();
        queue.closed = true;
        std::mem::take(&mut queue.jobs)
    }

    /// Whether a push may be waiting: the check `drain_into` starts with,
    /// for a caller that skips its own setup when there is nothing.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Runtime thread: move every queued id into `ids` and job into `jobs`.
    pub(crate) fn drain_into(&self, ids: &mut Vec<WakeId>, jobs: &mut Vec<Job>) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut queue = self.lock();
        self.pending.store(false, Ordering::Relaxed);
        ids.append(&mut queue.ids);
        jobs.append(&mut queue.jobs);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    /// Models the eventfd's pending edges: `ring` adds one, `epoll_wait`
    /// consumes them all (the swap to zero).
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Doorbell for Counter {
        fn ring(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn id(n: u32) -> WakeId {
        WakeId::task(1, n, 0)
    }

    /// Two threads push while the runtime silences the doorbell and drains,
    /// twice. Afterwards every id was either drained or is still queued
    /// with the doorbell ringing: no wake is lost.
    #[test]
    fn remote_push_never_lost() {
        loom::model(|| {
            let remote = Arc::new(Remote::new(Counter::default()));
            let pushers: Vec<_> = (0..2)
                .map(|t| {
                    let remote = remote.clone();
                    loom::thread::spawn(move || remote.push(id(t)))
                })
                .collect();
            let mut seen = Vec::new();
            for _ in 0..2 {
                remote.doorbell().0.swap(0, Ordering::SeqCst);
                remote.drain_into(&mut seen, &mut Vec::new());
            }
            for p in pushers {
                p.join().unwrap();
            }
            let rung = remote.doorbell().0.load(Ordering::SeqCst) > 0;
            let mut left = Vec::new();
            remote.drain_into(&mut left, &mut Vec::new());
            assert!(
                left.is_empty() || rung,
                "ids {left:?} queued with a silent doorbell"
            );
            seen.extend(left);
            seen.sort_by_key(|w| w.index());
            assert_eq!(seen, vec![id(0), id(1)]);
        });
    }

    /// Counts a job's runs and drops: a job is its payload, dropped when
    /// the job runs (after counting the run) or is dropped unrun.
    struct Payload(Arc<AtomicUsize>);

    impl Drop for Payload {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct CountingJob {
        ran: Arc<AtomicUsize>,
        _payload: Payload,
    }

    impl RunOnce for CountingJob {
        fn run(self: Box<Self>) {
            self.ran.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A `Handle::spawn` racing the runtime's drop: another thread pushes a
    /// job while the runtime thread takes the queue once (running what it
    /// finds) and then closes it (dropping what is left, as `shutdown`
    /// does). The job is dropped exactly once, it ran only if the push was
    /// accepted, and a refused job comes back to the pusher whole. (That an
    /// accepted job is never left with the doorbell silent is the same
    /// push path as `remote_push_never_lost`.)
    #[test]
    fn loom_model_job_push_racing_close() {
        loom::model(|| {
            let remote = Arc::new(Remote::new(Counter::default()));
            let ran = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let pusher = {
                let (remote, ran, dropped) = (remote.clone(), ran.clone(), dropped.clone());
                loom::thread::spawn(move || {
                    let job = CountingJob {
                        ran,
                        _payload: Payload(dropped),
                    };
                    // A refused job is dropped here, on the pusher's thread.
                    remote.push_job(job).is_ok()
                })
            };
            // The runtime thread: one tick's drain, then the drop's close.
            remote.doorbell().0.swap(0, Ordering::SeqCst);
            let mut ids = Vec::new();
            let mut jobs = Vec::new();
            remote.drain_into(&mut ids, &mut jobs);
            let drained = jobs.len();
            for job in jobs {
                job.run();
            }
            let left = remote.close();
            let left_count = left.len();
            drop(left);
            let accepted = pusher.join().unwrap();
            assert_eq!(dropped.load(Ordering::SeqCst), 1, "dropped exactly once");
            assert_eq!(ran.load(Ordering::SeqCst), drained);
            assert_eq!(accepted, drained + left_count == 1);
            // Closed stays closed.
            assert!(
                remote
                    .push_job(CountingJob {
                        ran: ran.clone(),
                        _payload: Payload(dropped.clone()),
                    })
                    .is_err()
            );
        });
    }

    /// What a remote cancel's job does on the runtime thread
    /// (`arbor-nursery`'s `RemoteCancelHandle`): look its scope up in the
    /// runtime thread's table and cancel it if it is still open. The table
    /// is only ever touched on the runtime thread (the job runs there); the
    /// loom `Mutex` is just how the model lets a `Send` job reach it.
    struct CancelJob {
        scope: Arc<loom::sync::Mutex<Option<bool>>>,
        ran: Arc<AtomicUsize>,
        _payload: Payload,
    }

    impl RunOnce for CancelJob {
        fn run(self: Box<Self>) {
            self.ran.fetch_add(1, Ordering::SeqCst);
            if let Some(cancelled) = &mut *self.scope.lock().unwrap() {
                *cancelled = true;
            }
        }
    }

    /// A cross-thread cancel racing the scope's close and then the
    /// runtime's shutdown. The runtime thread runs a tick (drain, run
    /// jobs), closes the scope (its entry leaves the table), runs another
    /// tick, then closes the queue. The scope was cancelled exactly when
    /// the job ran while it was open; a job that lands after the close is
    /// a no-op; every job is dropped exactly once, and one that never ran
    /// was either refused (handed back) or dropped at shutdown.
    #[test]
    fn loom_model_remote_cancel_racing_scope_close() {
        loom::model(|| {
            let remote = Arc::new(Remote::new(Counter::default()));
            let scope = Arc::new(loom::sync::Mutex::new(Some(false)));
            let ran = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let canceller = {
                let job = CancelJob {
                    scope: scope.clone(),
                    ran: ran.clone(),
                    _payload: Payload(dropped.clone()),
                };
                let remote = remote.clone();
                loom::thread::spawn(move || remote.push_job(job).is_ok())
            };
            let tick = || {
                remote.doorbell().0.swap(0, Ordering::SeqCst);
                let mut jobs = Vec::new();
                remote.drain_into(&mut Vec::new(), &mut jobs);
                let n = jobs.len();
                jobs.into_iter().for_each(|job| job.run());
                n
            };
            let ran_open = tick();
            let cancelled = scope.lock().unwrap().take().expect("open until now");
            let ran_closed = tick();
            assert!(
                scope.lock().unwrap().is_none(),
                "a closed scope stays closed"
            );
            let left = remote.close().len();
            let accepted = canceller.join().unwrap();
            assert_eq!(cancelled, ran_open == 1);
            assert_eq!(ran.load(Ordering::SeqCst), ran_open + ran_closed);
            assert_eq!(accepted, ran_open + ran_closed + left == 1);
            assert_eq!(dropped.load(Ordering::SeqCst), 1, "dropped exactly once");
        });
    }
}
