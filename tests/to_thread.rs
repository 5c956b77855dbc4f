//! `arbor::to_thread`: blocking code on worker threads, under a capacity
//! limiter, shielded by default, abandonable on request. Real threads
//! (threads are the point): every cross-thread wait is a handshake
//! (channel, barrier) or a poll with a generous bound; no duration is
//! asserted.

mod support;

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use arbor::primitives::CapacityLimiter;
use arbor::to_thread::{self, RunSync};
use arbor::{CancelScope, Runtime, checkpoint};
use futures_lite::future::zip;
use support::Trace;

/// Long enough never to fire in a passing run; a failing one ends.
const PATIENCE: Duration = Duration::from_secs(30);

/// Await `cond` on the runtime (other tasks run meanwhile), failing
/// after a generous bound.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        arbor::time::sleep(Duration::from_millis(1)).await;
    }
}

#[arbor::test]
async fn the_value_comes_back_from_another_thread() {
    let here = std::thread::current().id();
    let (value, there) = to_thread::run_sync(|| (6 * 7, std::thread::current().id())).await;
    assert_eq!(value, 42);
    assert_ne!(there, here);
}

#[arbor::test]
async fn other_tasks_run_while_f_blocks() {
    let (tx, rx) = mpsc::channel::<()>();
    let ticks = Rc::new(Cell::new(0));
    let ticker = {
        let ticks = ticks.clone();
        arbor::spawn(async move {
            for _ in 0..5 {
                arbor::time::sleep(Duration::from_millis(1)).await;
                ticks.set(ticks.get() + 1);
            }
            // Only a runtime that kept running gets here to release f.
            tx.send(()).unwrap();
        })
    };
    let released = to_thread::run_sync(move || rx.recv_timeout(PATIENCE).is_ok()).await;
    assert!(released, "f was released by the ticker");
    assert_eq!(ticks.get(), 5);
    ticker.await.unwrap();
}

#[arbor::test]
async fn the_limiter_bounds_concurrent_calls() {
    let limiter = Rc::new(CapacityLimiter::new(2));
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (limiter, running, max, rx) =
                (limiter.clone(), running.clone(), max.clone(), rx.clone());
            arbor::spawn(async move {
                to_thread::run_sync_with(&limiter, move || {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    max.fetch_max(now, SeqCst);
                    let got = rx.lock().unwrap().recv_timeout(PATIENCE);
                    running.fetch_sub(1, SeqCst);
                    got.is_ok()
                })
                .await
            })
        })
        .collect();
    eventually("two calls run and two wait for a token", || {
        running.load(SeqCst) == 2 && limiter.statistics().tasks_waiting == 2
    })
    .await;
    assert_eq!(limiter.borrowed_tokens(), 2);
    for _ in 0..4 {
        tx.send(()).unwrap();
    }
    for call in calls {
        assert!(call.await.unwrap());
    }
    assert_eq!(max.load(SeqCst), 2);
    assert_eq!(limiter.borrowed_tokens(), 0);
}

#[arbor::test]
async fn a_call_cancelled_before_entry_never_runs_f() {
    let ran = Arc::new(AtomicBool::new(false));
    // The scope is cancelled before the call is first polled.
    let scope = CancelScope::new();
    scope.cancel();
    let r = ran.clone();
    let out = scope
        .run(to_thread::run_sync(move || r.store(true, SeqCst)))
        .await;
    assert!(out.is_err() && scope.cancelled_caught());

    // Cancelled while it waits for a token.
    let limiter = Rc::new(CapacityLimiter::new(1));
    let held = limiter.try_acquire().unwrap();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let r = ran.clone();
    let out = scope
        .run(zip(
            to_thread::run_sync_with(&limiter, move || r.store(true, SeqCst)),
            async { handle.cancel() },
        ))
        .await;
    assert!(out.is_err() && scope.cancelled_caught());
    assert_eq!(limiter.statistics().tasks_waiting, 0);
    drop(held);
    assert_eq!(limiter.borrowed_tokens(), 0);
    // Give a wrongly started thread every chance to show itself.
    to_thread::run_sync(|| ()).await;
    assert!(!ran.load(SeqCst), "f never ran");
    assert_eq!(arbor_runtime::blocking::stats().threads, 1);
}

#[arbor::test]
async fn shielded_by_default_the_value_returns_and_the_cancellation_lands_at_the_next_checkpoint() {
    let trace = Trace::default();
    let (tx, rx) = mpsc::channel::<()>();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let t = trace.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let out = scope
        .run(zip(
            async move {
                let v = to_thread::run_sync(move || {
                    s.store(true, SeqCst);
                    rx.recv_timeout(PATIENCE).unwrap();
                    42
                })
                .await;
                t.log(format!("returned {v}"));
                checkpoint().await;
                t.log("after the checkpoint");
            },
            async move {
                eventually("f started", || started.load(SeqCst)).await;
                // Cancel while f runs, then let it finish.
                handle.cancel();
                tx.send(()).unwrap();
            },
        ))
        .await;
    assert!(out.is_err() && scope.cancelled_caught());
    assert_eq!(trace.events(), ["returned 42"]);
    assert_eq!(
        to_thread::current_default_thread_limiter().borrowed_tokens(),
        0
    );
}

#[arbor::test]
async fn abandon_on_cancel_returns_at_once_and_the_token_is_released_only_after_f_ends() {
    let limiter = Rc::new(CapacityLimiter::new(3));
    let ended = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let e = ended.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let out = scope
        .run(zip(
            RunSync::new()
                .limiter(&limiter)
                .abandon_on_cancel(true)
                .run(move || {
                    s.store(true, SeqCst);
                    // Released only after the scope has returned.
                    rx.recv_timeout(PATIENCE).unwrap();
                    e.store(true, SeqCst);
                }),
            async move {
                eventually("f started", || started.load(SeqCst)).await;
                handle.cancel();
            },
        ))
        .await;
    assert!(out.is_err() && scope.cancelled_caught());
    assert!(!ended.load(SeqCst), "the scope returned while f still ran");
    assert_eq!(limiter.borrowed_tokens(), 1, "held by the running thread");
    tx.send(()).unwrap();
    eventually("the abandoned call's token is back", || {
        limiter.borrowed_tokens() == 0
    })
    .await;
    assert!(ended.load(SeqCst), "released only after f ended");
    assert_eq!(limiter.statistics().borrowers, []);
}

#[arbor::test]
async fn abandon_on_cancel_without_a_cancellation_returns_the_value() {
    let v = RunSync::new().abandon_on_cancel(true).run(|| "value").await;
    assert_eq!(v, "value");
}

#[test]
fn a_panic_in_f_is_the_calls_panic_and_its_token_is_released() {
    let rt = Runtime::new().unwrap();
    let limiter = rt.block_on(async { to_thread::current_default_thread_limiter() });
    let n = std::hint::black_box(7);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(to_thread::run_sync(move || -> u8 { panic!("boom {n}") }))
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");
    assert_eq!(limiter.borrowed_tokens(), 0);
    // The worker survived its job's panic and is reused.
    rt.block_on(async {
        let stats = arbor_runtime::blocking::stats;
        eventually("the worker is idle again", || stats().idle == 1).await;
        to_thread::run_sync(|| ()).await;
        assert_eq!(stats().threads, 1);
    });
}

#[arbor::test]
async fn an_idle_worker_is_reused() {
    let id = || std::thread::current().id();
    let first = to_thread::run_sync(id).await;
    // (Until the worker is back in the pool, a call would start another.)
    eventually("the worker is idle", || {
        arbor_runtime::blocking::stats().idle == 1
    })
    .await;
    let second = to_thread::run_sync(id).await;
    assert_eq!(first, second, "the idle worker took the second call");
    assert_eq!(arbor_runtime::blocking::stats().threads, 1);
}

#[test]
fn an_idle_worker_retires_after_the_keep_alive() {
    let rt = Runtime::builder()
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    rt.block_on(async {
        let id = || std::thread::current().id();
        let first = to_thread::run_sync(id).await;
        eventually("the idle worker retired", || {
            arbor_runtime::blocking::stats().threads == 0
        })
        .await;
        let second = to_thread::run_sync(id).await;
        assert_ne!(second, first, "a new thread: thread ids are never reused");
    });
}

#[test]
fn the_thread_count_is_bounded() {
    let rt = Runtime::builder().max_blocking_threads(2).build().unwrap();
    rt.block_on(async {
        let limiter = Rc::new(CapacityLimiter::new(10));
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let (limiter, rx) = (limiter.clone(), rx.clone());
                arbor::spawn(async move {
                    to_thread::run_sync_with(&limiter, move || {
                        rx.lock().unwrap().recv_timeout(PATIENCE).unwrap();
                        std::thread::current().id()
                    })
                    .await
                })
            })
            .collect();
        eventually("six calls started", || limiter.borrowed_tokens() == 6).await;
        let stats = arbor_runtime::blocking::stats();
        assert_eq!(stats.threads, 2, "{stats:?}");
        for _ in 0..6 {
            tx.send(()).unwrap();
        }
        let mut ids = HashSet::new();
        for call in calls {
            ids.insert(call.await.unwrap());
        }
        assert!(ids.len() <= 2, "{ids:?}");
    });
}

#[arbor::test]
async fn an_aborted_task_leaves_f_running_and_its_token_is_released_when_f_ends() {
    let limiter = Rc::new(CapacityLimiter::new(1));
    let started = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let task = {
        let (limiter, started) = (limiter.clone(), started.clone());
        arbor::spawn(async move {
            to_thread::run_sync_with(&limiter, move || {
                started.store(true, SeqCst);
                rx.recv_timeout(PATIENCE).unwrap();
            })
            .await
        })
    };
    eventually("f started", || started.load(SeqCst)).await;
    // An abort drops even a shielded wait.
    task.abort();
    assert!(task.await.is_err());
    assert_eq!(limiter.borrowed_tokens(), 1, "held while f runs");
    tx.send(()).unwrap();
    eventually("the token is back", || limiter.borrowed_tokens() == 0).await;
}

#[test]
fn dropping_the_runtime_mid_call_releases_the_token_and_f_runs_to_its_end() {
    let rt = Runtime::new().unwrap();
    let ended = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let e = ended.clone();
    let limiter = rt.block_on(async move {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        drop(arbor::spawn({
            let limiter = limiter.clone();
            async move {
                to_thread::run_sync_with(&limiter, move || {
                    s.store(true, SeqCst);
                    rx.recv_timeout(PATIENCE).unwrap();
                    e.store(true, SeqCst);
                    done_tx.send(()).unwrap();
                })
                .await
            }
        }));
        eventually("f started", || started.load(SeqCst)).await;
        limiter
    });
    assert_eq!(limiter.borrowed_tokens(), 1);
    drop(rt);
    assert_eq!(limiter.borrowed_tokens(), 0, "released with the runtime");
    assert!(!ended.load(SeqCst));
    tx.send(()).unwrap();
    done_rx.recv_timeout(PATIENCE).unwrap();
    assert!(
        ended.load(SeqCst),
        "f ran to its end after the runtime was gone"
    );
}
