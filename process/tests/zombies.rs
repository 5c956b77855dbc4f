//! No zombies: a `Child` dropped unreaped, in any of the ways code drops
//! one, is killed (unless `kill_on_drop(false)`) and reaped.
//!
//! Each test looks only at the pids it spawned (tests run in parallel,
//! and another test's child may be a zombie for a moment before its own
//! `wait` reaps it). Where reaping happens in the background, the test
//! polls `/proc` with a real-time bound that is never asserted.

mod support;

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::{CancelScope, move_on_after, nursery};
use arbor_process::{Command, Stdio};
use futures_lite::future::poll_once;
use support::{our_child_state, until_reaped};

fn virtual_rt() -> arbor_runtime::Runtime {
    arbor_runtime::Runtime::builder()
        .virtual_clock()
        .build()
        .unwrap()
}

fn sleeper() -> Command {
    let mut cmd = Command::new("sleep");
    cmd.arg("1000");
    cmd
}

#[test]
fn children_dropped_in_every_way_leave_no_zombie_and_no_process() {
    let pids = Rc::new(RefCell::new(Vec::new()));
    let record = |pid: Option<u32>| pids.borrow_mut().push(pid.unwrap());
    virtual_rt().block_on(async {
        // 1. A running child dropped: killed, then reaped in the background.
        let child = sleeper().spawn().unwrap();
        record(child.id());
        drop(child);

        // 2. Its wait dropped by a timeout (virtual clock): the scope
        //    drops the future that owns the child.
        let timed_out = move_on_after(Duration::from_secs(1), async {
            let mut child = sleeper().spawn().unwrap();
            record(child.id());
            child.wait().await
        })
        .await;
        assert!(timed_out.is_none());

        // 3. Cancelled through its scope's handle by another task.
        let scope = CancelScope::new();
        let handle = scope.handle();
        let cancelled = nursery(async |n| {
            n.spawn(async move {
                arbor_runtime::time::sleep(Duration::from_secs(1)).await;
                handle.cancel();
            });
            scope
                .run(async {
                    let mut child = sleeper().spawn().unwrap();
                    record(child.id());
                    child.wait().await
                })
                .await
                .is_err()
        })
        .await
        .unwrap();
        assert!(cancelled && scope.cancelled_caught());

        // 4. A nursery child owning a process, dropped when a sibling fails.
        let failed = nursery(async |n| {
            let mut child = sleeper().spawn().unwrap();
            record(child.id());
            n.spawn(async move { child.wait().await });
            n.spawn(async { Err::<(), _>(std::io::Error::other("sibling failed")) });
        })
        .await;
        assert!(failed.is_err());

        // 5. wait_with_output dropped after one poll, its pipes open.
        let mut cmd = sleeper();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        record(child.id());
        assert!(poll_once(child.wait_with_output()).await.is_none());

        // 6. A child that exits on its own, dropped without a wait: while
        //    still running, and after it has exited (reaped in the drop).
        let mut child = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        record(child.id());
        let stdin = child.stdin.take();
        drop(child);
        drop(stdin); // now it exits, with nobody waiting but the reaper
        let exited = Command::new("true").spawn().unwrap();
        record(exited.id());
        let pid = exited.id().unwrap();
        while our_child_state(pid) != Some('Z') {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(exited);
        assert_eq!(
            our_child_state(pid),
            None,
            "an exited child is reaped in the drop"
        );

        // 7. The same child types, detached: they exit on their own and
        //    are reaped by the background task.
        let detached = Command::new("true").kill_on_drop(false).spawn().unwrap();
        record(detached.id());
        drop(detached);

        // 8. A task owning a child, aborted.
        let task = arbor_runtime::spawn({
            let mut child = sleeper().spawn().unwrap();
            record(child.id());
            async move { child.wait().await }
        });
        arbor_runtime::yield_now().await;
        task.abort();

        let pids = pids.borrow().clone();
        assert_eq!(pids.len(), 9);
        assert_eq!(
            until_reaped(&pids).await,
            [],
            "zombies or survivors among {pids:?}"
        );
    });
}

#[test]
fn a_detached_child_keeps_running_and_is_reaped_after_it_exits() {
    virtual_rt().block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .unwrap();
        assert!(!child.kill_on_drop());
        let pid = child.id().unwrap();
        let stdin = child.stdin.take().unwrap();
        drop(child);
        // Not killed: it is still reading its stdin, which we hold. Give
        // a mistaken SIGKILL time to land before looking.
        for _ in 0..3 {
            arbor_runtime::time::sleep(Duration::from_millis(1)).await;
            std::thread::sleep(Duration::from_millis(5));
        }
        let state = our_child_state(pid);
        assert!(
            matches!(state, Some(s) if s != 'Z'),
            "still running: {state:?}"
        );
        drop(stdin); // end of file: cat exits, and the reaper reaps it
        assert_eq!(until_reaped(&[pid]).await, []);
    });
}

#[test]
fn dropping_the_runtime_reaps_the_children_it_had_killed() {
    let rt = virtual_rt();
    let pids = rt.block_on(async {
        let a = sleeper().spawn().unwrap();
        let b = sleeper().spawn().unwrap();
        let pids = [a.id().unwrap(), b.id().unwrap()];
        // Dropped while their reaper tasks have not had a turn.
        drop((a, b));
        // And one inside a task that the runtime's drop drops.
        drop(arbor_runtime::spawn(async {
            let mut c = sleeper().spawn().unwrap();
            let _ = c.wait().await;
        }));
        pids
    });
    drop(rt);
    // Synchronous: killed, so reaped with a blocking wait by the drop.
    for pid in pids {
        assert_eq!(our_child_state(pid), None);
    }
}

#[test]
fn a_child_dropped_outside_the_runtime_is_killed_and_reaped_at_once() {
    let rt = virtual_rt();
    let child = rt.block_on(async { sleeper().spawn().unwrap() });
    let pid = child.id().unwrap();
    drop(child);
    assert_eq!(our_child_state(pid), None);
    // A child kept past block_on and waited on in the next one.
    let mut child = rt.block_on(async { Command::new("true").spawn().unwrap() });
    assert!(rt.block_on(child.wait()).unwrap().success());
}

#[test]
fn nothing_is_left_while_a_task_waits_forever_on_nothing_else() {
    // A child owned by a task parked forever: the runtime's drop kills
    // and reaps it.
    let rt = virtual_rt();
    let pid = rt.block_on(async {
        let child = sleeper().spawn().unwrap();
        let pid = child.id().unwrap();
        drop(arbor_runtime::spawn(async move {
            let _child = child;
            pending::<()>().await
        }));
        arbor_runtime::yield_now().await;
        pid
    });
    assert!(our_child_state(pid).is_some());
    drop(rt);
    assert_eq!(our_child_state(pid), None);
}
