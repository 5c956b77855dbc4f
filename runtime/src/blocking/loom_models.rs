//! Loom models of the blocking hand-offs: a job's submission and the wake
//! of its completion, the abandon race, and the hand-over of an abandoned
//! job to a watcher that releases a runtime-thread token when it ends
//! (what `arbor::to_thread` does with `abandon_on_cancel`); and the way
//! back (`from_thread`): a worker's requests served by the polling task
//! and answered, a request racing the job's abandon, and a served future
//! dropped by `close_requests` (the worker never hangs).
//!
//! The "runtime thread" is the model's main thread: it polls with a waker
//! that unparks it and parks while pending, so a lost wake is a deadlock,
//! which loom reports.

use std::cell::Cell;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize};

use super::from_thread::call;
use super::pool::{Config, Pool};
use super::portal::{AsyncRequest, Cancelled, Portal, SyncRequest};
use super::slot::{Abandoned, Completed, Slot};
use super::{BlockingJob, make_job};
use crate::sync::Ordering::{Relaxed, SeqCst};

/// Unparks the thread that made it.
struct Unpark(loom::thread::Thread);

impl Wake for Unpark {
    fn wake(self: StdArc<Self>) {
        self.0.unpark();
    }
}

fn unpark_waker() -> Waker {
    Waker::from(StdArc::new(Unpark(loom::thread::current())))
}

/// Sets a flag (a task that was cancelled and will never poll again).
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// Poll `job` on this thread until it is ready, parking while pending.
fn block_on_job<R>(job: &mut BlockingJob<R>, waker: &Waker) -> std::thread::Result<R> {
    let mut cx = Context::from_waker(waker);
    loop {
        match poll_job(job, &mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => loom::thread::park(),
        }
    }
}

/// One poll of the job: `serve_requests`, then `poll_outcome`, with the
/// same waker. `arbor::to_thread`'s shielded wait makes the same two
/// calls in one task poll (serving outside its shield region, the
/// outcome inside), so these models cover its hand-off too.
fn poll_job<R>(job: &mut BlockingJob<R>, cx: &mut Context<'_>) -> Poll<std::thread::Result<R>> {
    std::future::Future::poll(std::pin::Pin::new(job), cx)
}

fn job_on<R: Send + 'static>(
    pool: &Pool,
    f: impl FnOnce() -> R + Send + 'static,
) -> BlockingJob<R> {
    let job = BlockingJob::new();
    let _ = pool.submit(make_job(f, job.slot.clone().unwrap(), job.portal.clone()));
    job
}

/// A job whose "worker" is a model thread given the slot and the portal.
fn job_parts<R>() -> (BlockingJob<R>, Arc<Slot<R>>, Arc<Portal>) {
    let job = BlockingJob::new();
    let (slot, portal) = (job.slot.clone().unwrap(), job.portal.clone());
    (job, slot, portal)
}

/// A worker completes a slot while the task polls it: the task either
/// finds the outcome or is woken after it stored its waker; never parked
/// with the outcome unseen.
#[test]
fn loom_model_blocking_completion_wakes_the_waiting_task() {
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let worker = {
            let slot = slot.clone();
            loom::thread::spawn(move || slot.complete(Ok(7u32)))
        };
        let mut job = BlockingJob {
            slot: Some(slot),
            portal: Arc::new(Portal::new()),
            serving: None,
        };
        assert_eq!(block_on_job(&mut job, &unpark_waker()).unwrap(), 7);
        assert_eq!(worker.join().unwrap(), Completed::Delivered);
    });
}

/// Two jobs through a one-thread pool: the first starts the worker, the
/// second is submitted once the first is done (the worker is idle or
/// about to be: the claim, the queue or its own loop takes it). Both run
/// and wake the runtime thread; `shutdown` joins the idle worker (a
/// worker left waiting would be a deadlock).
#[test]
fn loom_model_pool_submit_runs_jobs_and_wakes() {
    loom::model(|| {
        let pool = Pool::new(
            Config {
                affinity: None,
                max_threads: 1,
                keep_alive: Duration::from_secs(3600),
            },
            0,
        );
        let waker = unpark_waker();
        let mut a = job_on(&pool, || 1u32);
        assert_eq!(block_on_job(&mut a, &waker).unwrap(), 1);
        let mut b = job_on(&pool, || 2u32);
        assert_eq!(block_on_job(&mut b, &waker).unwrap(), 2);
        pool.shutdown();
    });
}

/// The task polls once and is then cancelled (its handle dropped) while
/// the worker completes: the outcome is dropped exactly once, by the
/// worker if the job was still running when abandoned, else by the
/// abandoning thread.
#[test]
fn loom_model_abandon_races_completion() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Slot::new());
        let worker = {
            let (slot, drops) = (slot.clone(), drops.clone());
            loom::thread::spawn(move || {
                let done = slot.complete(Ok(Counted(drops.clone())));
                (done, drops.load(SeqCst))
            })
        };
        let waker = Waker::from(StdArc::new(Flag(AtomicBool::new(false))));
        let mut cx = Context::from_waker(&waker);
        match slot.poll(&mut cx) {
            Poll::Ready(out) => {
                drop(out);
                let _ = slot.abandon();
            }
            Poll::Pending => match slot.abandon() {
                Abandoned::Running => {}
                Abandoned::Finished => assert_eq!(drops.load(SeqCst), 1),
                Abandoned::Taken => unreachable!("nobody took it"),
            },
        }
        let (done, drops_seen_by_worker) = worker.join().unwrap();
        if done == Completed::Discarded {
            assert_eq!(drops_seen_by_worker, 1, "the worker dropped it");
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// `to_thread`'s abandon path: the task polled the job (its waker is in
/// the slot) and is then cancelled; the job handle moves to a watcher on
/// the same thread, which holds the limiter token (a plain runtime-thread
/// counter here) and polls with its own waker. The worker's wake may hit
/// the cancelled task's stale waker, but the watcher still sees the end:
/// it is woken or finds the outcome. It releases the token only after the
/// job ended, with the job's effects visible to it.
#[test]
fn loom_model_abandoned_token_released_after_the_job_ends() {
    loom::model(|| {
        let pool = Pool::new(
            Config {
                affinity: None,
                max_threads: 1,
                keep_alive: Duration::from_secs(3600),
            },
            0,
        );
        let effect = Arc::new(AtomicUsize::new(0));
        let borrowed = Cell::new(1usize);
        let mut job = {
            let effect = effect.clone();
            job_on(&pool, move || effect.store(1, Relaxed))
        };
        // The task's poll, then its cancellation.
        let stale = Waker::from(StdArc::new(Flag(AtomicBool::new(false))));
        let first = poll_job(&mut job, &mut Context::from_waker(&stale));
        if first.is_ready() {
            // Finished before the cancellation landed: nothing to watch.
            borrowed.set(0);
        } else {
            // The watcher.
            block_on_job(&mut job, &unpark_waker()).unwrap();
            assert_eq!(effect.load(Relaxed), 1, "the job's effects are visible");
            assert_eq!(borrowed.get(), 1, "held until the job ended");
            borrowed.set(0);
        }
        assert_eq!(borrowed.get(), 0);
        pool.shutdown();
    });
}

/// `from_thread::run_sync` twice in a row, then the job ends: each
/// request is posted, found by the task's poll (or wakes it), run there
/// and answered; the second is posted right after the first answer,
/// possibly while the task is still in the poll that served the first
/// (it must find a waker: a lost wake is a deadlock here).
#[test]
fn loom_model_from_thread_requests_are_served_and_answered() {
    loom::model(|| {
        let (mut job, slot, portal) = job_parts::<u32>();
        let worker = loom::thread::spawn(move || {
            let mut sum = 0;
            for n in [1u32, 2] {
                let answer = call(&portal, |responder| {
                    Box::new(SyncRequest {
                        f: move || n * 10,
                        responder,
                    })
                });
                sum += answer.expect("served").expect("no panic");
            }
            slot.complete(Ok(sum))
        });
        assert_eq!(block_on_job(&mut job, &unpark_waker()).unwrap(), 30);
        assert_eq!(worker.join().unwrap(), Completed::Delivered);
    });
}

/// The task polls once and is then cancelled (its job handle dropped)
/// while the worker posts a request: the worker gets an answer either
/// way (served in that poll, or `Cancelled` by the drop), never hangs;
/// after `Cancelled` it sees the portal closed.
#[test]
fn loom_model_from_thread_request_races_abandon() {
    loom::model(|| {
        let (mut job, slot, portal) = job_parts::<()>();
        let worker = loom::thread::spawn(move || {
            let answer = call(&portal, |responder| {
                Box::new(SyncRequest {
                    f: || 5u32,
                    responder,
                })
            });
            let closed = portal.is_closed();
            let done = slot.complete(Ok(()));
            (answer.map(|out| out.expect("no panic")), closed, done)
        });
        let waker = Waker::from(StdArc::new(Flag(AtomicBool::new(false))));
        // Ready if the request was served in this poll and the job ended
        // before the poll reached the slot.
        let finished = poll_job(&mut job, &mut Context::from_waker(&waker)).is_ready();
        drop(job);
        let (answer, closed, done) = worker.join().unwrap();
        match answer {
            Ok(v) => assert_eq!(v, 5),
            Err(Cancelled) => assert!(closed, "Cancelled comes after the close"),
        }
        if finished {
            assert!(answer.is_ok() && done == Completed::Delivered);
        }
    });
}

/// `from_thread::run` with a future that never ends, and the originating
/// context cancelled (`close_requests`) after one poll: the future (if
/// it was built) is dropped before the worker hears `Cancelled`, the
/// worker never hangs, and it then sees the portal closed.
#[test]
fn loom_model_from_thread_close_drops_the_served_future() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    loom::model(|| {
        let (mut job, slot, portal) = job_parts::<()>();
        let built = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let worker = {
            let (built, dropped) = (built.clone(), dropped.clone());
            loom::thread::spawn(move || {
                let (b, d) = (built.clone(), dropped.clone());
                let answer = call(&portal, move |responder| {
                    Box::new(AsyncRequest {
                        make: move || {
                            b.store(true, SeqCst);
                            let guard = SetOnDrop(d);
                            async move {
                                let _guard = guard;
                                std::future::pending::<()>().await
                            }
                        },
                        responder,
                    })
                });
                assert!(
                    matches!(answer, Err(Cancelled)),
                    "never ready, so cancelled"
                );
                if built.load(SeqCst) {
                    assert!(dropped.load(SeqCst), "dropped before the answer");
                }
                assert!(portal.is_closed());
                slot.complete(Ok(()))
            })
        };
        let waker = Waker::from(StdArc::new(Flag(AtomicBool::new(false))));
        assert!(poll_job(&mut job, &mut Context::from_waker(&waker)).is_pending());
        job.close_requests();
        // The job ends on its own (the handle is kept, not abandoned).
        block_on_job(&mut job, &unpark_waker()).unwrap();
        assert_eq!(worker.join().unwrap(), Completed::Delivered);
        assert_eq!(built.load(SeqCst), dropped.load(SeqCst));
    });
}
