//! ReentrantLock: counting, FIFO for other tasks, cancel safety, stress.

mod support;

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{Event, LockError, Owner, ReentrantLock, ReentrantLockStatistics};
use arbor_runtime::{spawn, yield_now};
use futures_lite::future::poll_once;
use support::{Trace, XorShift, rt_id, settle, virtual_rt, within};

#[test]
fn other_tasks_wait_fifo_until_the_count_reaches_zero() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let lock = Rc::new(ReentrantLock::new(Cell::new(0)));
        let outer = lock.lock().await;
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (lock, t) = (lock.clone(), t.clone());
                spawn(async move {
                    let g = lock.lock().await;
                    let inner = lock.lock().await; // re-enter
                    t.log(format!("w{i} count={}", lock.statistics().count));
                    g.set(g.get() + 1);
                    drop(inner);
                    drop(g);
                    // Releases and re-locks: queues behind the others.
                    let _g = lock.lock().await;
                    t.log(format!("w{i} again"));
                })
            })
            .collect();
        settle().await;
        let inner = lock.lock().await; // the owner never waits, even with a queue
        assert_eq!(lock.statistics().count, 2);
        drop(outer);
        settle().await;
        assert!(t.events().is_empty(), "still held once");
        drop(inner);
        assert_eq!(lock.try_lock().err(), Some(LockError::WouldBlock));
        for task in tasks {
            within(task).await.unwrap();
        }
        assert_eq!(lock.try_lock().unwrap().get(), 3);
    });
    assert_eq!(
        trace.events(),
        [
            "w0 count=2",
            "w1 count=2",
            "w2 count=2",
            "w0 again",
            "w1 again",
            "w2 again"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn statistics_count_holds_and_waiters() {
    let lock = Rc::new(ReentrantLock::new(()));
    let a = lock.lock().await;
    let b = lock.try_lock().unwrap();
    let l = lock.clone();
    let w = spawn(async move { drop(l.lock().await) });
    settle().await;
    assert_eq!(
        lock.statistics(),
        ReentrantLockStatistics {
            locked: true,
            owner: Some(Owner::Root(rt_id())),
            count: 2,
            tasks_waiting: 1
        }
    );
    drop(a); // any order
    drop(b);
    within(w).await.unwrap();
    assert_eq!(
        lock.statistics(),
        ReentrantLockStatistics {
            locked: false,
            owner: None,
            count: 0,
            tasks_waiting: 0
        }
    );
}

#[arbor::test(virtual_clock)]
async fn cancel_before_and_after_grant_loses_nothing() {
    let lock = Rc::new(ReentrantLock::new(()));
    let go = Rc::new(Event::new());
    let (l, g) = (lock.clone(), go.clone());
    let holder = spawn(async move {
        let _h = l.lock().await;
        g.wait().await;
    });
    settle().await;
    // Dropped before its grant.
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(lock.lock()).await.is_err());
    assert_eq!(lock.statistics().tasks_waiting, 0);
    // Granted, then dropped: passes to `next`.
    let got = Rc::new(Cell::new(false));
    {
        let mut first = pin!(lock.lock());
        assert!(poll_once(first.as_mut()).await.is_none());
        let (l, got) = (lock.clone(), got.clone());
        let _detached = spawn(async move {
            let _g = l.lock().await;
            got.set(true);
        });
        settle().await;
        go.set();
        within(holder).await.unwrap();
        assert_eq!(lock.statistics().owner, Some(Owner::Root(rt_id())));
    }
    settle().await;
    assert!(got.get());
    assert!(!lock.statistics().locked);
}

#[test]
fn stress_random_cancels_leave_the_lock_free() {
    for seed in [3, 99, 2024] {
        virtual_rt().block_on(async move {
            let mut rng = XorShift::new(seed);
            let lock = Rc::new(ReentrantLock::new(Cell::new(None::<usize>)));
            let done = Rc::new(Cell::new(0));
            let mut handles = Vec::new();
            let mut tasks = Vec::new();
            for i in 0..50 {
                let scope = CancelScope::new();
                handles.push(scope.handle());
                let (depth, hold) = (1 + rng.below(3), rng.below(3));
                let (lock, done) = (lock.clone(), done.clone());
                tasks.push(spawn(async move {
                    let _ = scope
                        .run(async {
                            let mut guards = Vec::new();
                            guards.push(lock.lock().await);
                            assert_eq!(guards[0].get(), None, "two holders at once");
                            guards[0].set(Some(i));
                            // Dropped before the guards, even on cancel.
                            let _clear = Clear(lock.clone());
                            for _ in 1..depth {
                                yield_now().await;
                                guards.push(lock.lock().await);
                                assert_eq!(guards[0].get(), Some(i));
                            }
                            for _ in 0..hold {
                                yield_now().await;
                            }
                            done.set(done.get() + 1);
                        })
                        .await;
                }));
            }
            for _ in 0..300 {
                if rng.below(5) == 0 {
                    let i = rng.below(handles.len() as u64) as usize;
                    handles[i].cancel();
                }
                yield_now().await;
            }
            for t in tasks {
                within(t).await.unwrap();
            }
            assert!(done.get() > 0);
            let s = lock.statistics();
            assert!(!s.locked && s.count == 0 && s.tasks_waiting == 0);
        });
    }
}

/// Clears the holder mark while its task still owns the lock.
struct Clear(Rc<ReentrantLock<Cell<Option<usize>>>>);

impl Drop for Clear {
    fn drop(&mut self) {
        self.0.try_lock().unwrap().set(None);
    }
}
