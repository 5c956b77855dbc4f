//! `RemoteJoinHandle::abort`: cancelling a task spawned through a
//! `Handle`, from another thread or the runtime's own. Real threads where
//! threads are the point; every wait is a handshake; no duration is
//! asserted.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use arbor::{RemoteJoinError, Runtime};
use support::{DropCounter, drive_until};

#[test]
fn abort_from_another_thread_drops_the_running_future_and_join_says_cancelled() {
    let rt = Runtime::new().unwrap();
    let drops = DropCounter::new();
    let started = Arc::new(AtomicBool::new(false));
    let task = {
        let guard = drops.guard();
        let started = started.clone();
        rt.handle()
            .spawn(move || async move {
                let _guard = guard;
                started.store(true, SeqCst);
                std::future::pending::<u32>().await
            })
            .unwrap()
    };
    drive_until(&rt, || started.load(SeqCst));
    assert_eq!(drops.dropped(), 0);
    let stopper = thread::spawn(move || {
        task.abort();
        task.join()
    });
    drive_until(&rt, || stopper.is_finished());
    assert!(matches!(
        stopper.join().unwrap(),
        Err(RemoteJoinError::Cancelled)
    ));
    assert_eq!(drops.dropped(), 1, "the future was dropped exactly once");
}

#[test]
fn abort_before_the_spawn_ran_never_builds_the_future() {
    let rt = Runtime::new().unwrap();
    let built = Arc::new(AtomicBool::new(false));
    let task = {
        let built = built.clone();
        rt.handle()
            .spawn(move || {
                built.store(true, SeqCst);
                async { 1 }
            })
            .unwrap()
    };
    task.abort(); // the runtime has not run the spawn job yet
    let joined = rt.block_on(task);
    assert!(matches!(joined, Err(RemoteJoinError::Cancelled)));
    assert!(!built.load(SeqCst), "the closure never ran");
}

#[test]
fn abort_after_the_task_finished_keeps_its_output() {
    let rt = Runtime::new().unwrap();
    let task = rt.handle().spawn(|| async { 42 }).unwrap();
    drive_until(&rt, || task.is_finished());
    task.abort();
    assert_eq!(task.join().unwrap(), 42);
}

#[test]
fn abort_on_the_runtime_thread_drops_the_future_at_once() {
    let rt = Runtime::new().unwrap();
    let drops = DropCounter::new();
    let guard = drops.guard();
    let task = rt
        .handle()
        .spawn(move || async move {
            let _guard = guard;
            std::future::pending::<()>().await
        })
        .unwrap();
    let joined = rt.block_on(async {
        arbor::yield_now().await; // the spawn job runs
        assert_eq!(drops.dropped(), 0);
        task.abort();
        // No queue drain needed: the drop happened inside `abort`.
        assert_eq!(drops.dropped(), 1);
        task.await
    });
    assert!(matches!(joined, Err(RemoteJoinError::Cancelled)));
}

#[test]
fn abort_after_the_runtime_is_gone_does_nothing_and_join_says_cancelled() {
    let rt = Runtime::new().unwrap();
    let task = rt.handle().spawn(|| async { 1 }).unwrap();
    drop(rt);
    let joined = thread::spawn(move || {
        task.abort();
        task.join()
    })
    .join()
    .unwrap();
    // The abort came after the runtime dropped the unrun job: the flag
    // says aborted, and the task did not finish, so it reads as cancelled.
    assert!(matches!(joined, Err(RemoteJoinError::Cancelled)));
}

#[test]
fn an_aborted_task_whose_slot_is_reused_leaves_the_new_task_alone() {
    let rt = Runtime::new().unwrap();
    let first = rt.handle().spawn(|| async { 1 }).unwrap();
    drive_until(&rt, || first.is_finished());
    // The first task's slot is free; a new task may take it.
    let second = rt
        .handle()
        .spawn(|| async {
            arbor::time::sleep(Duration::from_millis(5)).await;
            2
        })
        .unwrap();
    first.abort(); // a stale id: must not reach `second`
    drive_until(&rt, || second.is_finished());
    assert_eq!(second.join().unwrap(), 2);
    assert_eq!(first.join().unwrap(), 1);
}

#[test]
fn awaiting_a_remote_handle_is_a_checkpoint_that_keeps_the_output() {
    let rt = Runtime::builder().virtual_clock().build().unwrap();
    let task = rt.handle().spawn(|| async { 7 }).unwrap();
    let (in_cancelled, after) = rt.block_on(async {
        while !task.is_finished() {
            arbor::yield_now().await;
        }
        // Inside a cancelled scope the finished task's output stays queued.
        let scope = arbor::CancelScope::new();
        scope.cancel();
        let mut task = task;
        let in_cancelled = scope.run(&mut task).await;
        (in_cancelled, task.await)
    });
    assert!(in_cancelled.is_err(), "no progress in a cancelled scope");
    assert_eq!(after.unwrap(), 7);
}
