//! Event: broadcast wake-up in FIFO order, cancel safety, statistics.

mod support;

use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{Event, EventStatistics};
use arbor_runtime::spawn;
use support::{Trace, XorShift, settle, within};

#[arbor::test(virtual_clock)]
async fn set_wakes_every_waiter_in_fifo_order_and_later_waits_do_not_wait_but_yield() {
    let trace = Trace::new();
    let ev = Rc::new(Event::new());
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let (ev, t) = (ev.clone(), trace.clone());
            spawn(async move {
                ev.wait().await;
                t.log(format!("w{i}"));
            })
        })
        .collect();
    settle().await;
    assert_eq!(ev.statistics(), EventStatistics { tasks_waiting: 3 });
    assert!(!ev.is_set());
    ev.set();
    ev.set(); // idempotent
    assert_eq!(ev.statistics().tasks_waiting, 0);
    ev.wait().await;
    trace.log("main");
    for task in tasks {
        within(task).await.unwrap();
    }
    // main's wait on the set event does not wait, but it is a checkpoint:
    // its schedule point lets the woken waiters run first (before schedule
    // points main came first).
    assert_eq!(trace.events(), ["w0", "w1", "w2", "main"]);
}

#[arbor::test(virtual_clock)]
async fn a_dropped_waiter_leaves_and_the_others_still_wake() {
    let ev = Rc::new(Event::new());
    let scope = CancelScope::new();
    let handle = scope.handle();
    let e = ev.clone();
    let a = spawn(async move { scope.run(e.wait()).await.is_ok() });
    let e = ev.clone();
    let b = spawn(async move { e.wait().await });
    settle().await;
    handle.cancel();
    settle().await;
    assert_eq!(ev.statistics().tasks_waiting, 1);
    ev.set();
    assert!(!within(a).await.unwrap());
    within(b).await.unwrap();
    // A wait in a cancelled scope makes no progress even when set.
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(ev.wait()).await.is_err());
}

#[arbor::test(virtual_clock)]
async fn stress_random_cancels_every_survivor_wakes() {
    let mut rng = XorShift::new(77);
    let ev = Rc::new(Event::new());
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let scope = CancelScope::new();
        handles.push(scope.handle());
        let e = ev.clone();
        tasks.push(spawn(async move { scope.run(e.wait()).await.is_ok() }));
    }
    settle().await;
    let mut cancelled = 0;
    for h in &handles {
        if rng.below(3) == 0 {
            h.cancel();
            cancelled += 1;
        }
    }
    settle().await;
    assert_eq!(ev.statistics().tasks_waiting, 100 - cancelled);
    ev.set();
    let mut woke = 0;
    for t in tasks {
        woke += usize::from(within(t).await.unwrap());
    }
    assert_eq!(woke, 100 - cancelled);
    assert_eq!(ev.statistics().tasks_waiting, 0);
}
