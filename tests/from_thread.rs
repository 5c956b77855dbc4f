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
use arbor::lowlevel::ScopeId;
use arbor::to_thread::{self, RunSync};
use arbor::{CancelScope, EffectiveDeadline, current_task_id};
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

#[arbor::test]
async fn run_sync_runs_in_the_awaiting_task_on_the_runtime_thread() {
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
}

#[arbor::test]
async fn run_awaits_a_future_built_on_the_runtime_thread() {
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
}

#[arbor::test]
async fn a_panic_on_the_runtime_thread_comes_back_to_the_worker() {
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
}

#[arbor::test]
async fn cancelling_the_originating_scope_cancels_a_pending_run() {
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
}

#[arbor::test]
async fn check_cancelled_reports_a_cancelled_originating_scope() {
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
}

#[arbor::test]
async fn an_inner_cancelled_scope_does_not_count_only_the_one_around_the_call() {
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
}

#[arbor::test]
async fn after_abandon_calls_return_cancelled_and_a_pending_run_ends() {
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

/// Far enough never to pass in a run on the real clock.
const FAR: Duration = Duration::from_secs(3600);

/// What code on the runtime thread sees of the context it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    deadline: EffectiveDeadline,
    scope: ScopeId,
    /// The scope's parent, read at the same time (the scope may be gone
    /// when the test looks).
    parent: Option<ScopeId>,
}

fn seen_here() -> Seen {
    let scope = arbor::lowlevel::current_scope();
    Seen {
        deadline: arbor::current_effective_deadline(),
        scope,
        parent: arbor::lowlevel::parent_scope(scope),
    }
}

/// What a `to_thread` call's served calls saw.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    /// A served `run_sync` closure.
    sync: Seen,
    /// A served `run` future, after a suspension.
    future: Seen,
    /// A scope of the served future's own, with a later deadline: the
    /// effective deadline in it.
    nested: EffectiveDeadline,
}

/// Make a `to_thread` call (shielded, or `abandon_on_cancel`) whose `f`
/// reports what its served calls see; with what its caller sees.
async fn served_views(abandon: bool) -> (Seen, Served) {
    let around = seen_here();
    let served = RunSync::new()
        .abandon_on_cancel(abandon)
        .run(|| {
            let sync = from_thread::run_sync(seen_here).unwrap();
            let (future, nested) = from_thread::run(|| async {
                arbor::yield_now().await;
                let future = seen_here();
                let nested =
                    arbor::move_on_after(2 * FAR, async { arbor::current_effective_deadline() })
                        .await
                        .unwrap();
                (future, nested)
            })
            .unwrap();
            Served {
                sync,
                future,
                nested,
            }
        })
        .await;
    (around, served)
}

/// A served `run` future runs in a scope region of its own, right inside
/// the context around the `to_thread` call: that context's deadline, and
/// a scope whose parent is the caller's.
fn assert_served_future_in_a_region_around(future: Seen, around: Seen, mode: &str) {
    assert_eq!(future.deadline, around.deadline, "{mode}");
    assert_eq!(future.parent, Some(around.scope), "{mode}");
}

#[arbor::test]
async fn served_calls_see_the_deadline_and_the_scope_around_the_to_thread_call() {
    for abandon in [false, true] {
        let views = [
            (
                "move_on_after",
                arbor::move_on_after(FAR, served_views(abandon))
                    .await
                    .unwrap(),
            ),
            (
                "fail_after",
                arbor::fail_after(FAR, served_views(abandon)).await.unwrap(),
            ),
            (
                "CancelScope::with_deadline",
                CancelScope::new()
                    .with_deadline(arbor::time::Instant::now() + FAR)
                    .run(served_views(abandon))
                    .await
                    .unwrap(),
            ),
        ];
        for (what, (around, served)) in views {
            let mode = format!("{what}, abandon_on_cancel({abandon})");
            assert!(
                matches!(around.deadline, EffectiveDeadline::At(_)),
                "{mode}: {around:?}"
            );
            assert_eq!(served.sync, around, "{mode}");
            assert_served_future_in_a_region_around(served.future, around, &mode);
            assert_eq!(served.nested, around.deadline, "{mode}");
        }
    }
}

#[arbor::test]
async fn served_calls_with_no_scope_around_the_call_see_no_deadline_and_its_scope() {
    let task = arbor::spawn(async {
        let mut out = Vec::new();
        for abandon in [false, true] {
            out.push(served_views(abandon).await);
        }
        out
    });
    for (around, served) in task.await.unwrap() {
        assert_eq!(around.deadline, EffectiveDeadline::None);
        assert_eq!(served.sync, around);
        assert_served_future_in_a_region_around(served.future, around, "no scope");
        assert!(matches!(served.nested, EffectiveDeadline::At(_)));
    }
}

#[test]
fn a_deadline_around_the_call_passing_while_a_served_future_is_pending_drops_it_once() {
    for abandon in [false, true] {
        support::virtual_rt().block_on(async move {
            let drops = DropCounter::new();
            let started = Arc::new(AtomicBool::new(false));
            let polled_cancelled = Arc::new(AtomicBool::new(false));
            let (report_tx, report_rx) = mpsc::channel();
            let call = {
                let guard = drops.guard();
                let (started, polled_cancelled) = (started.clone(), polled_cancelled.clone());
                RunSync::new().abandon_on_cancel(abandon).run(move || {
                    let pending = from_thread::run(move || async move {
                        let _guard = guard; // dropped with the future
                        // Parked in a scope of its own, which the deadline
                        // around the call reaches too.
                        let mut inner =
                            std::pin::pin!(CancelScope::new().run(std::future::pending::<()>()));
                        std::future::poll_fn(|cx| {
                            started.store(true, SeqCst);
                            if arbor::current_effective_deadline() == EffectiveDeadline::Cancelled {
                                polled_cancelled.store(true, SeqCst);
                            }
                            std::future::Future::poll(inner.as_mut(), cx)
                        })
                        .await
                        .is_ok()
                    })
                    .map(|_| ());
                    let report = (
                        pending,
                        from_thread::check_cancelled(),
                        from_thread::run_sync(|| ()),
                    );
                    report_tx.send(report).unwrap();
                })
            };
            // Keep the runtime busy until the future is served: the
            // virtual clock moves only when every task is blocked.
            let busy = async {
                let start = Instant::now();
                while !started.load(SeqCst) {
                    assert!(start.elapsed() < PATIENCE, "timed out waiting until served");
                    arbor::yield_now().await;
                }
            };
            let out = arbor::fail_after(Duration::from_secs(1), zip(call, busy)).await;
            if abandon {
                assert!(out.is_err(), "abandoned at the deadline");
            } else {
                // Shielded: the call waited for `f`, the body completed.
                assert!(out.is_ok(), "the shielded call returned");
            }
            assert_eq!(drops.dropped(), 1, "the served future was dropped once");
            let report = to_thread::run_sync(move || report_rx.recv_timeout(PATIENCE))
                .await
                .unwrap();
            let c = Err(FromThreadError::Cancelled);
            assert_eq!(report, (c, c, c), "abandon_on_cancel({abandon})");
            assert!(
                !polled_cancelled.load(SeqCst),
                "the served future was never polled in the cancelled scope"
            );
            assert_eq!(drops.dropped(), 1);
        });
    }
}

#[test]
fn a_shield_inside_a_served_future_finishes_before_the_cancellation_drops_it() {
    for abandon in [false, true] {
        support::virtual_rt().block_on(async move {
            let drops = DropCounter::new();
            let started = Arc::new(AtomicBool::new(false));
            let shielded_done = Arc::new(AtomicBool::new(false));
            let after_shield_polled = Arc::new(AtomicBool::new(false));
            let (report_tx, report_rx) = mpsc::channel();
            let call = {
                let guard = drops.guard();
                let flags = (
                    started.clone(),
                    shielded_done.clone(),
                    after_shield_polled.clone(),
                );
                RunSync::new().abandon_on_cancel(abandon).run(move || {
                    let (started, shielded_done, after_shield_polled) = flags;
                    let served = from_thread::run(move || async move {
                        let _guard = guard;
                        started.store(true, SeqCst);
                        // Outlives the deadline around the call (1 s).
                        arbor::shield(arbor::time::sleep(Duration::from_secs(2))).await;
                        shielded_done.store(true, SeqCst);
                        // The next suspension: the cancellation drops the
                        // future here.
                        arbor::yield_now().await;
                        after_shield_polled.store(true, SeqCst);
                    });
                    report_tx.send(served).unwrap();
                })
            };
            let busy = async {
                let start = Instant::now();
                while !started.load(SeqCst) {
                    assert!(start.elapsed() < PATIENCE, "timed out waiting until served");
                    arbor::yield_now().await;
                }
            };
            let out = arbor::fail_after(Duration::from_secs(1), zip(call, busy)).await;
            assert_eq!(out.is_err(), abandon, "abandon_on_cancel({abandon})");
            assert!(shielded_done.load(SeqCst), "the shield ran to its end");
            assert!(
                !after_shield_polled.load(SeqCst),
                "dropped at the suspension after the shield"
            );
            assert_eq!(drops.dropped(), 1, "dropped once");
            let served = to_thread::run_sync(move || report_rx.recv_timeout(PATIENCE))
                .await
                .unwrap();
            assert_eq!(served, Err(FromThreadError::Cancelled));
        });
    }
}
