//! Condition: FIFO notify, lock given up while waiting, notification
//! pass-on when a notified waiter is dropped, misuse, stress.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{Condition, Mutex};
use arbor_runtime::{spawn, yield_now};
use support::{Trace, XorShift, settle, virtual_rt, within};

fn cond<T>(value: T) -> Rc<Condition<T>> {
    Rc::new(Condition::new(Rc::new(Mutex::new(value))))
}

#[test]
fn notify_wakes_waiters_in_fifo_order_and_waiting_gives_up_the_lock() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let c = cond(0);
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (c, t) = (c.clone(), t.clone());
                spawn(async move {
                    let g = c.lock().await.unwrap();
                    t.log(format!("w{i} waits"));
                    let mut g = c.wait(g).await.unwrap();
                    *g += 1;
                    t.log(format!("w{i} woke, value {}", *g));
                })
            })
            .collect();
        settle().await;
        assert_eq!(c.statistics().tasks_waiting, 3);
        // Waiting released the lock.
        let g = c.mutex().try_lock().unwrap();
        c.notify(&g, 1);
        assert_eq!(c.statistics().tasks_waiting, 2);
        drop(g);
        settle().await;
        t.log("notify 2");
        let g = c.lock().await.unwrap();
        c.notify(&g, 2);
        c.notify(&g, 5); // nobody left: no-op
        drop(g);
        for task in tasks {
            within(task).await.unwrap();
        }
        assert_eq!(*c.mutex().try_lock().unwrap(), 3);
    });
    assert_eq!(
        trace.events(),
        [
            "w0 waits",
            "w1 waits",
            "w2 waits",
            "w0 woke, value 1",
            "notify 2",
            "w1 woke, value 2",
            "w2 woke, value 3",
        ]
    );
}

#[test]
fn a_notified_waiter_dropped_before_it_runs_passes_the_notification_on() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let c = cond(());
        let scope = CancelScope::new();
        let handle = scope.handle();
        let (c0, t0) = (c.clone(), t.clone());
        let a = spawn(async move {
            let out = scope
                .run(async {
                    let g = c0.lock().await.unwrap();
                    drop(c0.wait(g).await.unwrap());
                })
                .await;
            t0.log(format!("a done, cancelled={}", out.is_err()));
        });
        let (c1, t1) = (c.clone(), t.clone());
        let b = spawn(async move {
            let g = c1.lock().await.unwrap();
            drop(c1.wait(g).await.unwrap());
            t1.log("b woke");
        });
        settle().await;
        let g = c.lock().await.unwrap();
        c.notify(&g, 1); // to a
        handle.cancel(); // a is dropped before it runs
        drop(g);
        within(a).await.unwrap();
        within(b).await.unwrap();
        assert!(!c.mutex().is_locked());
        assert_eq!(c.statistics().tasks_waiting, 0);
    });
    assert_eq!(trace.events(), ["a done, cancelled=true", "b woke"]);
}

#[arbor::test(virtual_clock)]
async fn a_waiter_dropped_while_relocking_frees_the_lock_and_passes_the_notification_on() {
    let c = cond(());
    let scope = CancelScope::new();
    let handle = scope.handle();
    let c0 = c.clone();
    let a = spawn(async move {
        scope
            .run(async {
                let g = c0.lock().await.unwrap();
                drop(c0.wait(g).await.unwrap());
            })
            .await
            .is_ok()
    });
    let woke = Rc::new(Cell::new(false));
    let (c1, w) = (c.clone(), woke.clone());
    let b = spawn(async move {
        let g = c1.lock().await.unwrap();
        drop(c1.wait(g).await.unwrap());
        w.set(true);
    });
    settle().await;
    let g = c.lock().await.unwrap();
    c.notify(&g, 1);
    settle().await; // a took the notification, now queued on the lock
    assert_eq!(c.statistics().lock_statistics.tasks_waiting, 1);
    handle.cancel();
    settle().await;
    assert!(!woke.get(), "b needs the lock too");
    drop(g);
    assert!(!within(a).await.unwrap());
    within(b).await.unwrap();
    assert!(woke.get());
    assert!(!c.mutex().is_locked());
}

#[arbor::test(virtual_clock)]
async fn a_dropped_wait_frees_the_lock_and_leaves_the_queue() {
    let c = cond(());
    let scope = CancelScope::new();
    let handle = scope.handle();
    let c0 = c.clone();
    let a = spawn(async move {
        scope
            .run(async {
                let g = c0.lock().await.unwrap();
                let _ = c0.wait(g).await;
            })
            .await
    });
    settle().await;
    assert_eq!(c.statistics().tasks_waiting, 1);
    handle.cancel();
    assert!(within(a).await.unwrap().is_err());
    assert_eq!(c.statistics().tasks_waiting, 0);
    assert!(!c.mutex().is_locked());
    // First polled in a cancelled scope: the guard is released, nothing queued.
    let g = c.lock().await.unwrap();
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(c.wait(g)).await.is_err());
    assert!(!c.mutex().is_locked());
    assert_eq!(c.statistics().tasks_waiting, 0);
}

#[arbor::test(virtual_clock)]
async fn wait_for_rechecks_the_predicate() {
    let c = cond(0);
    let c0 = c.clone();
    let waiter = spawn(async move {
        let g = c0.lock().await.unwrap();
        *c0.wait_for(g, |v| *v >= 3).await.unwrap()
    });
    for _ in 0..5 {
        settle().await;
        let mut g = c.lock().await.unwrap();
        *g += 1;
        c.notify_all(&g);
    }
    assert_eq!(within(waiter).await.unwrap(), 3);
    let g = c.lock().await.unwrap();
    assert_eq!(*c.wait_for(g, |v| *v == 5).await.unwrap(), 5, "at once");
}

#[arbor::test(virtual_clock)]
#[should_panic(expected = "different mutex")]
async fn wait_with_a_guard_of_another_mutex_panics() {
    let c = cond(0);
    let other = Mutex::new(0);
    let g = other.lock().await.unwrap();
    let _ = c.wait(g).await;
}

#[arbor::test(virtual_clock)]
#[should_panic(expected = "different mutex")]
async fn notify_with_a_guard_of_another_mutex_panics() {
    let c = cond(0);
    let other = Mutex::new(0);
    c.notify(&other.lock().await.unwrap(), 1);
}

#[test]
fn stress_every_item_consumed_once_despite_random_cancels() {
    for seed in [5, 31, 4096] {
        virtual_rt().block_on(async move {
            const N: usize = 40;
            let mut rng = XorShift::new(seed);
            let c = cond(Vec::<usize>::new());
            let consumed = Rc::new(std::cell::RefCell::new(Vec::new()));
            let mut handles = Vec::new();
            let mut tasks = Vec::new();
            for _ in 0..N {
                let scope = CancelScope::new();
                handles.push(scope.handle());
                let (c, consumed) = (c.clone(), consumed.clone());
                tasks.push(spawn(async move {
                    scope
                        .run(async {
                            let g = c.lock().await.unwrap();
                            let mut g = c.wait_for(g, |q| !q.is_empty()).await.unwrap();
                            let item = g.pop().unwrap();
                            consumed.borrow_mut().push(item);
                        })
                        .await
                        .is_ok()
                }));
            }
            settle().await;
            for item in 0..N {
                let mut g = c.lock().await.unwrap();
                g.push(item);
                c.notify(&g, 1);
                drop(g);
                if rng.below(3) == 0 {
                    let i = rng.below(N as u64) as usize;
                    handles[i].cancel();
                }
                if rng.below(2) == 0 {
                    yield_now().await;
                }
            }
            settle().await;
            let remaining = c.mutex().try_lock().unwrap().len();
            let mut got = consumed.borrow().clone();
            // No surviving consumer is stuck while items remain.
            assert_eq!(c.statistics().tasks_waiting, 0);
            assert_eq!(got.len() + remaining, N);
            let mut done = 0;
            for t in tasks {
                done += usize::from(within(t).await.unwrap());
            }
            assert_eq!(done, got.len());
            got.sort();
            got.dedup();
            assert_eq!(got.len(), done, "each item consumed once");
            assert!(!c.mutex().is_locked());
        });
    }
}
