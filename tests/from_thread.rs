//! `arbor::from_thread`: a `to_thread` worker calls back into the runtime
//! thread, in the originating task's cancel context. Real threads (threads
//! are the point): every cross-thread wait is a handshake (channel) or a
//! poll with a generous bound; no duration is asserted.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use arbor::from_thread::{self, FromThreadError};
use arbor::to_thread::{self, RunSync};
use arbor::{CancelScope, current_task_id};
use futures_lite::future::zip;
use support::DropCounter;

/// Long enough never to fire in a passing run; a failing one ends.
const PATIENCE: Duration = Duration::from_secs(30);

/// Await `cond` on the runtime (other tasks run meanwhile), failing
/// after a generous bound.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        arbor::time::sleep(Duration::from_millis(1)).await;
    }
}

/// On a worker: spin (politely) until `cond`, failing after a bound.
fn on_worker_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

thread_local! {
    /// State of the runtime thread only.
    static RUNTIME_THREAD_COUNTER: Cell<u32> = const { Cell::new(0) };
}

#[test]
fn run_sync_runs_in_the_awaiting_task_on_the_runtime_thread() {
    arbor::run(async {
        let runtime_thread = std::thread::current().id();
        let task = current_task_id();
        let (worker, served_on, served_in, count) = to_thread::run_sync(|| {
            let worker = std::thread::current().id();
            let (on, in_task) = from_thread::run_sync(|| {
                RUNTIME_THREAD_COUNTER.with(|c| c.set(c.get() + 1));
                (std::thread::current().id(), current_task_id())
            })
            .unwrap();
            // `!Send` state: an `Rc` made and used on the runtime thread.
            let count = from_thread::run_sync(|| {
                let rc = Rc::new(RUNTIME_THREAD_COUNTER.with(Cell::get));
                *rc
            })
            .unwrap();
            (worker, on, in_task, count)
        })
        .await;
        assert_ne!(worker, runtime_thread);
        assert_eq!(served_on, runtime_thread);
        assert_eq!(served_in, task, "served by the task awaiting the call");
        assert_eq!(count, 1);
        assert_eq!(RUNTIME_THREAD_COUNTER.with(Cell::get), 1);
    });
}

#[test]
fn run_awaits_a_future_built_on_the_runtime_thread() {
    arbor::run(async {
        let runtime_thread = std::thread::current().id();
        let (tx, rx) = mpsc::channel::<u32>();
        // Another task feeds the future; the worker waits meanwhile.
        let feeder = arbor::spawn(async move {
            arbor::time::sleep(Duration::from_millis(1)).await;
            tx.send(7).unwrap();
        });
        let (value, polled_on) = to_thread::run_sync(move || {
            from_thread::run(move || {
                let rc = Rc::new(Cell::new(0u32)); // `!Send`, lives across awaits
                async move {
                    loop {
                        if let Ok(v) = rx.try_recv() {
                            rc.set(v);
                            break;
                        }
                        arbor::time::sleep(Duration::from_millis(1)).await;
                    }
                    (rc.get() * 6, std::thread::current().id())
                }
            })
            .unwrap()
        })
        .await;
        assert_eq!(value, 42);
        assert_eq!(polled_on, runtime_thread);
        feeder.await.unwrap();
    });
}

#[test]
fn a_panic_on_the_runtime_thread_comes_back_to_the_worker() {
    arbor::run(async {
        let message = to_thread::run_sync(|| {
            let payload =
                std::panic::catch_unwind(|| from_thread::run_sync(|| panic!("boom"))).unwrap_err();
            let sync = payload.downcast_ref::<&str>().copied();
            let payload = std::panic::catch_unwind(|| {
                from_thread::run(|| async {
                    arbor::yield_now().await;
                    panic!("async boom")
                })
            })
            .unwrap_err();
            (sync, payload.downcast_ref::<&str>().copied())
        })
        .await;
        assert_eq!(message, (Some("boom"), Some("async boom")));
        // The runtime and the task are fine.
        assert_eq!(to_thread::run_sync(|| 1).await, 1);
    });
}

#[test]
fn cancelling_the_originating_scope_cancels_a_pending_run() {
    arbor::run(async {
        let drops = DropCounter::new();
        let started = Arc::new(AtomicBool::new(false));
        let (report_tx, report_rx) = mpsc::channel();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let call = {
            let (guard, started) = (drops.guard(), started.clone());
            to_thread::run_sync(move || {
                let before = from_thread::check_cancelled();
                let pending = from_thread::run(move || async move {
                    let _guard = guard; // dropped with the future
                    started.store(true, SeqCst);
                    std::future::pending::<()>().await
                });
                let after = from_thread::check_cancelled();
                let ran = Arc::new(AtomicBool::new(false));
                let r = ran.clone();
                let later = from_thread::run_sync(move || r.store(true, SeqCst));
                report_tx
                    .send((before, pending, after, later, ran.load(SeqCst)))
                    .unwrap();
                "f finished"
            })
        };
        let out = scope
            .run(zip(call, async {
                eventually("the future is being served", || started.load(SeqCst)).await;
                handle.cancel();
            }))
            .await;
        // The wait is shielded: the call waited for `f` and returned its
        // value, and the scope's body completed (the cancellation would
        // land at the next checkpoint).
        assert_eq!(out, Ok(("f finished", ())));
        assert!(scope.cancel_called());
        let report = report_rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(
            report,
            (
                Ok(()),
                Err(FromThreadError::Cancelled),
                Err(FromThreadError::Cancelled),
                Err(FromThreadError::Cancelled),
                false
            )
        );
        assert_eq!(drops.dropped(), 1, "the served future was dropped");
    });
}

#[test]
fn check_cancelled_reports_a_cancelled_originating_scope() {
    arbor::run(async {
        let started = Arc::new(AtomicBool::new(false));
        let scope = CancelScope::new();
        let handle = scope.handle();
        let s = started.clone();
        let call = to_thread::run_sync(move || {
            assert_eq!(from_thread::check_cancelled(), Ok(()));
            s.store(true, SeqCst);
            on_worker_until("the originating scope is cancelled", || {
                from_thread::check_cancelled().is_err()
            });
            from_thread::check_cancelled()
        });
        let out = scope
            .run(async {
                let (seen, ()) = zip(call, async {
                    eventually("f runs", || started.load(SeqCst)).await;
                    handle.cancel();
                })
                .await;
                seen
            })
            .await;
        // Shielded: `f`'s value comes back (the cancellation it saw).
        assert_eq!(out, Ok(Err(FromThreadError::Cancelled)));
    });
}

#[test]
fn an_inner_cancelled_scope_does_not_count_only_the_one_around_the_call() {
    arbor::run(async {
        // `f` itself awaits nothing: a scope cancelled *inside* a served
        // future is that future's business, not the call's context.
        let out = to_thread::run_sync(|| {
            let inner = from_thread::run(|| async {
                let scope = CancelScope::new();
                scope.cancel();
                scope.run(std::future::pending::<()>()).await.is_err()
            });
            (inner, from_thread::check_cancelled())
        })
        .await;
        assert_eq!(out, (Ok(true), Ok(())));
    });
}

#[test]
fn after_abandon_calls_return_cancelled_and_a_pending_run_ends() {
    arbor::run(async {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (report_tx, report_rx) = mpsc::channel();
        let started = Arc::new(AtomicBool::new(false));
        let drops = DropCounter::new();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let call = {
            let (started, guard) = (started.clone(), drops.guard());
            RunSync::new().abandon_on_cancel(true).run(move || {
                // Pending when the call is abandoned.
                let pending = from_thread::run(move || async move {
                    let _guard = guard;
                    started.store(true, SeqCst);
                    std::future::pending::<()>().await
                });
                go_rx.recv_timeout(PATIENCE).unwrap();
                let report = (
                    pending,
                    from_thread::run_sync(|| ()),
                    from_thread::run(|| async {}),
                    from_thread::check_cancelled(),
                );
                report_tx.send(report).unwrap();
            })
        };
        let out = scope
            .run(zip(call, async {
                eventually("the future is being served", || started.load(SeqCst)).await;
                handle.cancel();
            }))
            .await;
        assert!(out.is_err() && scope.cancelled_caught());
        assert_eq!(drops.dropped(), 1, "the served future was dropped");
        go_tx.send(()).unwrap();
        let report = loop {
            // The worker answers without the runtime; poll the channel.
            if let Ok(r) = report_rx.try_recv() {
                break r;
            }
            arbor::time::sleep(Duration::from_millis(1)).await;
        };
        let c = Err(FromThreadError::Cancelled);
        assert_eq!(report, (c, c, c, c));
    });
}

#[test]
fn calls_off_a_worker_thread_are_an_error() {
    let all = || {
        (
            from_thread::run_sync(|| ()),
            from_thread::run(|| async {}),
            from_thread::check_cancelled(),
        )
    };
    let e = Err(FromThreadError::NotInWorker);
    // Outside any runtime.
    assert_eq!(all(), (e, e, e));
    arbor::run(async move {
        // On the runtime thread.
        assert_eq!(all(), (e, e, e));
        // On a thread arbor did not start.
        let plain = std::thread::spawn(all).join().unwrap();
        assert_eq!(plain, (e, e, e));
        // The same calls on a worker running a job work.
        assert_eq!(to_thread::run_sync(all).await, (Ok(()), Ok(()), Ok(())));
    });
    assert!(
        FromThreadError::NotInWorker
            .to_string()
            .contains("outside a worker thread")
    );
}
