//! The pool with real threads. Waits for other threads are handshakes
//! (channels, barriers) or polls with a generous bound; nothing asserts a
//! duration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use crate::Runtime;

use super::{spawn, stats};

/// Poll `cond` until it holds, failing after a generous bound.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn outcome_and_panic_payload_come_back() {
    Runtime::new().unwrap().block_on(async {
        assert_eq!(spawn(|| 6 * 7).await.unwrap(), 42);
        let n = std::hint::black_box(1);
        let payload = spawn(move || -> u8 { panic!("boom {n}") })
            .await
            .unwrap_err();
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 1");
    });
}

#[test]
fn a_dropped_job_runs_to_its_end_and_its_outcome_is_dropped_on_the_worker() {
    struct Noisy(mpsc::Sender<std::thread::ThreadId>);
    impl Drop for Noisy {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (drop_tx, drop_rx) = mpsc::channel();
    let rt = Runtime::new().unwrap();
    rt.block_on(async move {
        let job = spawn(move || {
            go_rx.recv().unwrap();
            Noisy(drop_tx)
        });
        drop(job);
        go_tx.send(()).unwrap();
    });
    // (The runtime stays: dropping it would drop the job if not started.)
    let dropped_on = drop_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_ne!(dropped_on, std::thread::current().id());
}

#[test]
fn threads_are_bounded_and_extra_jobs_queue() {
    let rt = Runtime::builder().max_blocking_threads(2).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Barrier::new(3));
    rt.block_on(async {
        let jobs: Vec<_> = (0..6)
            .map(|i| {
                let (running, max, gate) = (running.clone(), max.clone(), gate.clone());
                spawn(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    if i < 2 {
                        // The first two meet the test thread: both run at once.
                        gate.wait();
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        let s = stats();
        assert_eq!(s.threads, 2);
        assert!(s.queued >= 4, "{s:?}");
        gate.wait();
        for job in jobs {
            job.await.unwrap();
        }
    });
    assert_eq!(max.load(Ordering::SeqCst), 2);
}

#[test]
fn an_idle_worker_is_reused() {
    Runtime::new().unwrap().block_on(async {
        let first = spawn(|| std::thread::current().id()).await.unwrap();
        // (Until the worker is back in the pool, a job would start another.)
        eventually("the worker is idle", || stats().idle == 1);
        let second = spawn(|| std::thread::current().id()).await.unwrap();
        assert_eq!(first, second, "the idle worker took the second job");
        assert_eq!(stats().threads, 1);
    });
}

#[test]
fn an_idle_worker_retires_after_the_keep_alive() {
    let rt = Runtime::builder()
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    rt.block_on(async {
        let first = spawn(|| std::thread::current().id()).await.unwrap();
        eventually("the idle worker retired", || stats().threads == 0);
        let second = spawn(|| std::thread::current().id()).await.unwrap();
        assert_ne!(second, first, "a new thread (thread ids are never reused)");
    });
}

#[test]
fn dropping_the_runtime_retires_idle_workers_and_drops_queued_jobs() {
    let rt = Runtime::builder().max_blocking_threads(1).build().unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let jobs = rt.block_on(async move {
        let busy = spawn(move || go_rx.recv().unwrap());
        let queued = spawn(move || ran2.fetch_add(1, Ordering::SeqCst));
        eventually("the worker took the first job", || stats().queued == 1);
        (busy, queued)
    });
    drop(rt);
    go_tx.send(()).unwrap();
    // The queued job was dropped with the runtime (its Arc with it).
    eventually("the queued job's closure was dropped", || {
        Arc::strong_count(&ran) == 1
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(!jobs.1.is_finished());
    drop(jobs);
}

#[test]
fn requests_are_served_where_serve_requests_is_called_not_where_the_outcome_is_awaited() {
    use std::future::poll_fn;
    use std::pin::pin;
    use std::task::Poll;

    use crate::scope::{self, EffectiveDeadline, NodeKind, Region, ScopeCell, Step};

    Runtime::new().unwrap().block_on(async {
        let around = (scope::current_scope(), scope::current_effective_deadline());
        let job = std::cell::RefCell::new(spawn(|| {
            super::from_thread::run_sync(|| {
                (scope::current_scope(), scope::current_effective_deadline())
            })
            .unwrap()
        }));
        // The outcome is awaited in a region with a deadline of its own.
        let cell = ScopeCell::new();
        cell.set_timeout(Duration::from_secs(3600));
        let inside = poll_fn(|cx| {
            assert!(matches!(
                scope::current_effective_deadline(),
                EffectiveDeadline::At(_)
            ));
            job.borrow_mut().poll_outcome(cx)
        });
        let mut region = pin!(Region::new(cell, NodeKind::Scope, inside));
        let served = poll_fn(|cx| {
            job.borrow_mut().serve_requests(cx);
            match region.as_mut().poll_inner(cx) {
                Step::Ready(out) => Poll::Ready(out),
                Step::Pending => Poll::Pending,
                other => panic!("not cancelled: {other:?}"),
            }
        })
        .await
        .unwrap();
        assert_eq!(served, around);
        assert_eq!(around.1, EffectiveDeadline::None);
    });
}
