//! `Runtime::handle()`: spawning onto, running on and cancelling in a
//! runtime from other threads, and what every call does once the runtime
//! is gone. Real threads (threads are the point): every cross-thread wait
//! is a handshake (a join, a channel, a flag the runtime thread polls
//! for); no duration is asserted.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use arbor::{CancelScope, Handle, RemoteCancelHandle, RemoteJoinError, RunError, Runtime};
use support::{DropCounter, drive_until};

#[test]
fn handle_is_send_sync_clone_and_join_handle_is_send() {
    fn send_sync<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync::<Handle>();
    send_sync::<RemoteCancelHandle>();
    send::<arbor::RemoteJoinHandle<u32>>();
}

#[test]
fn spawn_from_another_thread_runs_a_non_send_future_on_the_runtime_thread() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let task = thread::spawn(move || {
        handle
            .spawn(|| async {
                let shared = Rc::new(Cell::new(1));
                arbor::yield_now().await;
                shared.set(shared.get() + 1);
                (shared.get(), thread::current().id())
            })
            .unwrap()
    })
    .join()
    .unwrap();
    let (value, ran_on) = rt.block_on(task).unwrap();
    assert_eq!(value, 2);
    assert_eq!(ran_on, thread::current().id());
}

#[test]
fn join_blocks_a_foreign_thread_until_the_task_finishes() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let worker = thread::spawn(move || {
        let task = handle.spawn(|| async { thread::current().id() }).unwrap();
        task.join().unwrap()
    });
    drive_until(&rt, || worker.is_finished());
    assert_eq!(worker.join().unwrap(), thread::current().id());
}

#[test]
fn run_returns_the_value_to_a_foreign_thread() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let worker = thread::spawn(move || {
        handle.run(|| async {
            let here = Rc::new(thread::current().id());
            arbor::yield_now().await;
            *here
        })
    });
    drive_until(&rt, || worker.is_finished());
    assert_eq!(worker.join().unwrap(), Ok(thread::current().id()));
}

#[test]
fn run_on_the_runtime_thread_is_an_error_not_a_hang() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    // Outside block_on ...
    assert_eq!(
        handle.run(move || async move { flag.store(true, SeqCst) }),
        Err(RunError::OnRuntimeThread)
    );
    // ... and inside it.
    let inner = handle.clone();
    let err = rt.block_on(async move { inner.run(|| async {}) });
    assert_eq!(err, Err(RunError::OnRuntimeThread));
    rt.block_on(arbor::yield_now());
    assert!(!ran.load(SeqCst), "nothing was sent");
    assert!(err.unwrap_err().to_string().contains("deadlock"));
}

#[test]
fn run_resumes_a_panic_on_the_calling_thread() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let worker = thread::spawn(move || handle.run(|| async { panic!("remote boom") }));
    drive_until(&rt, || worker.is_finished());
    let payload = worker.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"remote boom"));
}

#[test]
fn a_panicking_closure_reaches_the_join_handle() {
    let rt = Runtime::new().unwrap();
    let task = rt
        .handle()
        .spawn(|| -> std::future::Ready<()> { panic!("in fut_fn") })
        .unwrap();
    match rt.block_on(task) {
        Err(RemoteJoinError::Panicked(p)) => assert_eq!(p.downcast_ref(), Some(&"in fut_fn")),
        other => panic!("expected a panic, got {other:?}"),
    }
    // The runtime is still usable.
    assert_eq!(rt.block_on(async { 1 }), 1);
}

#[test]
fn call_soon_runs_on_the_runtime_thread_at_the_root() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        handle
            .call_soon(move || {
                tx.send((
                    thread::current().id(),
                    arbor::current_runtime_id(),
                    arbor::current_task_id(),
                ))
                .unwrap()
            })
            .unwrap()
    })
    .join()
    .unwrap();
    rt.block_on(arbor::yield_now());
    let (thread_id, runtime, task) = rx.try_recv().unwrap();
    assert_eq!(thread_id, thread::current().id());
    assert_eq!(runtime, Some(rt.id()));
    assert_eq!(task, None);
}

#[test]
fn after_drop_spawn_and_run_fail_and_each_closure_is_dropped_once() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    drop(rt);
    let drops = DropCounter::new();

    let guard = drops.guard();
    let gone = handle
        .spawn(move || {
            let _guard = guard;
            async {}
        })
        .unwrap_err();
    assert_eq!(drops.dropped(), 0, "the closure came back whole");
    assert!(gone.to_string().contains("dropped"));
    drop(gone.into_inner());
    assert_eq!(drops.dropped(), 1);

    let guard = drops.guard();
    let gone = handle.call_soon(move || drop(guard)).unwrap_err();
    drop(gone);
    assert_eq!(drops.dropped(), 2);

    let guard = drops.guard();
    let from = handle.clone();
    let result = thread::spawn(move || {
        from.run(move || {
            let _guard = guard;
            async {}
        })
    })
    .join()
    .unwrap();
    assert_eq!(result, Err(RunError::RuntimeGone));
    assert_eq!(drops.dropped(), 3);
}

#[test]
fn a_job_queued_just_before_drop_is_dropped_once_unrun() {
    let rt = Runtime::new().unwrap();
    let drops = DropCounter::new();
    let ran = Arc::new(AtomicBool::new(false));
    let (guard, flag) = (drops.guard(), ran.clone());
    let task = thread::scope(|s| {
        let handle = rt.handle();
        s.spawn(move || {
            handle
                .spawn(move || {
                    let _guard = guard;
                    flag.store(true, SeqCst);
                    async {}
                })
                .unwrap()
        })
        .join()
        .unwrap()
    });
    assert!(!task.is_finished());
    drop(rt);
    assert_eq!(drops.dropped(), 1);
    assert!(!ran.load(SeqCst));
    assert!(task.is_finished());
    assert!(matches!(task.join(), Err(RemoteJoinError::RuntimeGone)));
}

#[test]
fn a_run_waiting_when_the_runtime_is_dropped_gets_runtime_gone() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let started = Arc::new(AtomicBool::new(false));
    let drops = DropCounter::new();
    let (flag, guard) = (started.clone(), drops.guard());
    let worker = thread::spawn(move || {
        handle.run(move || async move {
            let _guard = guard;
            flag.store(true, SeqCst);
            std::future::pending::<()>().await
        })
    });
    drive_until(&rt, || started.load(SeqCst));
    assert_eq!(drops.dropped(), 0);
    drop(rt);
    assert_eq!(drops.dropped(), 1, "the task's future was dropped once");
    assert_eq!(worker.join().unwrap(), Err(RunError::RuntimeGone));
}

#[test]
fn handle_current_points_at_the_running_runtime() {
    assert!(Handle::try_current().is_none());
    let rt = Runtime::new().unwrap();
    let handle = rt.block_on(async { Handle::current() });
    assert_eq!(handle.runtime_id(), rt.id());
    let task = handle.spawn(|| async { 5 }).unwrap();
    assert_eq!(rt.block_on(task).unwrap(), 5);
}

#[test]
fn remote_cancel_from_another_thread_cancels_a_scope_parked_on_a_long_sleep() {
    let rt = Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<RemoteCancelHandle>();
    let canceller = thread::spawn(move || rx.recv().unwrap().cancel());
    let (out, caught, after) = rt.block_on(async {
        let scope = CancelScope::new();
        let remote = scope.handle().remote();
        let out = scope
            .run(async {
                // Handshake: the scope is entered when the other thread
                // gets its handle.
                tx.send(remote).unwrap();
                arbor::time::sleep(Duration::from_secs(3600)).await;
                "slept an hour"
            })
            .await;
        (out, scope.cancelled_caught(), "after")
    });
    assert!(out.is_err(), "the hour-long sleep was dropped");
    assert!(caught);
    assert_eq!(after, "after");
    assert!(canceller.join().unwrap().is_ok());
}

#[test]
fn remote_cancel_with_reason_is_reported_by_the_scope() {
    let rt = Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<RemoteCancelHandle>();
    let canceller =
        thread::spawn(move || rx.recv().unwrap().cancel_with_reason("operator said stop"));
    let out = rt.block_on(async {
        let scope = CancelScope::new();
        let remote = scope.handle().remote();
        scope
            .run(async {
                tx.send(remote).unwrap();
                arbor::time::sleep(Duration::from_secs(3600)).await;
            })
            .await
    });
    let cancelled = out.unwrap_err();
    assert_eq!(cancelled.reason(), Some("operator said stop"));
    assert!(canceller.join().unwrap().is_ok());
}

#[test]
fn a_remote_cancel_of_a_closed_scope_is_a_no_op() {
    let rt = Runtime::new().unwrap();
    let scope = CancelScope::new();
    let remote = rt.block_on(async {
        let remote = scope.handle().remote();
        assert_eq!(scope.run(async { 7 }).await.ok(), Some(7));
        remote
    });
    // And a scope dropped altogether.
    let gone = rt.block_on(async { CancelScope::new().handle().remote() });
    thread::spawn(move || {
        remote.cancel().unwrap();
        gone.cancel().unwrap();
    })
    .join()
    .unwrap();
    let later = rt.block_on(async {
        arbor::yield_now().await;
        let next = CancelScope::new();
        next.run(async {
            arbor::yield_now().await;
            "unaffected"
        })
        .await
    });
    assert_eq!(later.ok(), Some("unaffected"));
    assert!(!scope.cancelled_caught());
}

#[test]
fn a_remote_cancel_after_the_runtime_is_dropped_is_an_error() {
    let rt = Runtime::new().unwrap();
    let scope = CancelScope::new();
    let remote = rt.block_on(async { scope.handle().remote() });
    drop(rt);
    let err = thread::spawn(move || remote.cancel()).join().unwrap();
    assert!(err.unwrap_err().to_string().contains("dropped"));
}
