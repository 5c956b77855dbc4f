//! Lock and Mutex: FIFO hand-off, owner rules, cancel safety, stress.

mod support;

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{Event, Lock, LockError, LockStatistics, Mutex, Owner, ReentrantLock};
use arbor_runtime::{spawn, yield_now};
use futures_lite::future::poll_once;
use support::{Trace, XorShift, rt_id, settle, virtual_rt, within};

#[test]
fn lock_goes_to_waiters_in_fifo_order_and_a_releaser_that_relocks_queues_behind() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let lock = Rc::new(Lock::new());
        lock.acquire().await.unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (lock, t) = (lock.clone(), t.clone());
                spawn(async move {
                    t.log(format!("w{i} waits"));
                    lock.acquire().await.unwrap();
                    t.log(format!("w{i} got"));
                    lock.release().unwrap();
                    // Releases and at once re-locks: must queue behind the rest.
                    lock.acquire().await.unwrap();
                    t.log(format!("w{i} again"));
                    lock.release().unwrap();
                })
            })
            .collect();
        settle().await;
        assert_eq!(lock.statistics().tasks_waiting, 3);
        lock.release().unwrap();
        // Handed to w0 directly: the releaser cannot take it back.
        assert_eq!(lock.try_acquire(), Err(LockError::WouldBlock));
        lock.acquire().await.unwrap();
        t.log("main");
        lock.release().unwrap();
        for task in tasks {
            within(task).await.unwrap();
        }
        assert!(!lock.locked());
    });
    assert_eq!(
        trace.events(),
        [
            "w0 waits", "w1 waits", "w2 waits", "w0 got", "w1 got", "w2 got", "main", "w0 again",
            "w1 again", "w2 again",
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn owner_reacquiring_a_lock_is_would_deadlock_but_a_reentrant_lock_allows_it() {
    let lock = Lock::new();
    lock.acquire().await.unwrap();
    // Bounded: the seed's bug was a hang here.
    assert_eq!(within(lock.acquire()).await, Err(LockError::WouldDeadlock));
    assert_eq!(lock.try_acquire(), Err(LockError::WouldDeadlock));
    assert_eq!(
        within(lock.lock()).await.err(),
        Some(LockError::WouldDeadlock)
    );
    assert_eq!(
        lock.statistics().owner,
        Some(Owner::Root(rt_id())),
        "nothing changed"
    );
    lock.release().unwrap();

    let m = Mutex::new(0);
    let _g = m.lock().await.unwrap();
    assert_eq!(within(m.lock()).await.err(), Some(LockError::WouldDeadlock));
    assert_eq!(m.try_lock().err(), Some(LockError::WouldDeadlock));

    let r = ReentrantLock::new(());
    let a = within(r.lock()).await;
    let b = within(r.lock()).await;
    let c = r.try_lock().unwrap();
    assert_eq!(r.statistics().count, 3);
    drop((c, b, a));
    assert!(!r.statistics().locked);
}

#[arbor::test(virtual_clock)]
async fn release_misuse_is_an_error_and_changes_nothing() {
    let lock = Rc::new(Lock::new());
    assert_eq!(lock.release(), Err(LockError::NotLocked));
    lock.acquire().await.unwrap();
    let l = lock.clone();
    let other = spawn(async move { (l.release(), l.try_acquire()) });
    let (released, tried) = within(other).await.unwrap();
    assert_eq!(
        released,
        Err(LockError::NotOwner {
            owner: Owner::Root(rt_id())
        })
    );
    assert_eq!(tried, Err(LockError::WouldBlock));
    assert_eq!(lock.statistics().owner, Some(Owner::Root(rt_id())));
    lock.release().unwrap();
    assert!(
        LockError::WouldDeadlock
            .to_string()
            .contains("ReentrantLock")
    );
}

#[arbor::test(virtual_clock)]
async fn statistics_report_owner_and_waiters() {
    let lock = Rc::new(Lock::new());
    let free = LockStatistics {
        locked: false,
        owner: None,
        tasks_waiting: 0,
    };
    assert_eq!(lock.statistics(), free);
    let guard = lock.lock().await.unwrap();
    let l = lock.clone();
    let waiter = spawn(async move {
        let _g = l.lock().await.unwrap();
        arbor_runtime::current_task().unwrap().id()
    });
    settle().await;
    assert_eq!(
        lock.statistics(),
        LockStatistics {
            locked: true,
            owner: Some(Owner::Root(rt_id())),
            tasks_waiting: 1
        }
    );
    drop(guard);
    // Ownership moves at the release, before the waiter runs.
    let owner = lock.statistics().owner;
    let id = within(waiter).await.unwrap();
    assert_eq!(owner, Some(Owner::Task(id)));
    assert_eq!(lock.statistics(), free);
}

#[arbor::test(virtual_clock)]
async fn an_acquire_in_a_cancelled_scope_does_not_lock() {
    let lock = Lock::new();
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(lock.acquire()).await.is_err());
    assert!(!lock.locked());
    let m = Mutex::new(1);
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(m.lock()).await.is_err());
    assert!(!m.is_locked());
}

#[test]
fn a_waiter_dropped_before_its_grant_consumes_nothing() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let lock = Rc::new(Lock::new());
        lock.acquire().await.unwrap();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let (l, t1) = (lock.clone(), t.clone());
        let a = spawn(async move {
            let out = scope.run(l.acquire()).await;
            t1.log(format!("a cancelled={}", out.is_err()));
        });
        let (l, t2) = (lock.clone(), t.clone());
        let b = spawn(async move {
            l.acquire().await.unwrap();
            t2.log("b got");
            l.release().unwrap();
        });
        settle().await;
        assert_eq!(lock.statistics().tasks_waiting, 2);
        handle.cancel();
        settle().await;
        assert_eq!(lock.statistics().tasks_waiting, 1, "a left the queue");
        lock.release().unwrap();
        within(a).await.unwrap();
        within(b).await.unwrap();
        assert!(!lock.locked());
    });
    assert_eq!(trace.events(), ["a cancelled=true", "b got"]);
}

#[arbor::test(virtual_clock)]
async fn a_granted_then_dropped_waiter_hands_the_lock_to_the_next() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let go = Rc::new(Event::new());
    let (m1, go1) = (m.clone(), go.clone());
    let holder = spawn(async move {
        let mut g = m1.lock().await.unwrap();
        go1.wait().await;
        g.push("holder");
    });
    settle().await;
    // A waiter polled by hand, granted, then dropped before it runs.
    {
        let mut first = pin!(m.lock());
        assert!(poll_once(first.as_mut()).await.is_none());
        let m2 = m.clone();
        let second = spawn(async move {
            m2.lock().await.unwrap().push("second");
        });
        settle().await;
        assert_eq!(m.statistics().tasks_waiting, 2);
        go.set();
        within(holder).await.unwrap();
        assert_eq!(m.statistics().tasks_waiting, 1, "granted to first");
        assert_eq!(m.statistics().owner, Some(Owner::Root(rt_id())));
        drop(second); // detaches; the task keeps running
        // `first` drops here: its grant must pass to `second`.
    }
    settle().await;
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().unwrap(), ["holder", "second"]);

    // Same through a cancel scope: granted, then the scope is cancelled
    // before the waiter's task runs.
    let lock = Rc::new(Lock::new());
    lock.acquire().await.unwrap();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let l = lock.clone();
    let a = spawn(async move { scope.run(l.acquire()).await.is_ok() });
    let l = lock.clone();
    let got = Rc::new(Cell::new(false));
    let g2 = got.clone();
    let b = spawn(async move {
        l.acquire().await.unwrap();
        g2.set(true);
        l.release().unwrap();
    });
    settle().await;
    lock.release().unwrap();
    handle.cancel();
    assert!(!within(a).await.unwrap(), "a was cancelled after its grant");
    within(b).await.unwrap();
    assert!(got.get());
    assert!(!lock.locked());
}

#[arbor::test(virtual_clock)]
async fn a_release_after_every_waiter_left_frees_the_lock() {
    let m = Rc::new(Mutex::new(0));
    let g = m.lock().await.unwrap();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let m2 = m.clone();
    let waiter = spawn(async move {
        scope
            .run(async { *m2.lock().await.unwrap() += 1 })
            .await
            .is_err()
    });
    settle().await;
    assert_eq!(m.statistics().tasks_waiting, 1);
    handle.cancel();
    assert!(within(waiter).await.unwrap(), "cancelled while queued");
    assert_eq!(m.statistics().tasks_waiting, 0);
    drop(g);
    assert!(!m.is_locked(), "freed, not handed to a waiter that left");
    assert_eq!(*m.try_lock().unwrap(), 0);

    // Queueing and hand-off still work afterwards.
    let g = m.lock().await.unwrap();
    let m2 = m.clone();
    let waiter = spawn(async move { *m2.lock().await.unwrap() += 1 });
    settle().await;
    drop(g);
    assert!(m.is_locked(), "handed to the waiter at the release");
    within(waiter).await.unwrap();
    assert_eq!(*m.try_lock().unwrap(), 1);
}

#[arbor::test(virtual_clock)]
async fn mutex_guards_the_value() {
    let mut m = Mutex::new(String::from("a"));
    m.lock().await.unwrap().push('b');
    m.try_lock().unwrap().push('c');
    m.get_mut().push('d');
    assert!(!m.is_locked());
    assert_eq!(m.into_inner(), "abcd");
}

#[arbor::test(virtual_clock)]
async fn a_second_waiter_of_the_owning_task_is_would_deadlock() {
    let lock = Rc::new(Lock::new());
    let l = lock.clone();
    let holder = spawn(async move {
        l.acquire().await.unwrap();
        settle().await;
        l.release().unwrap();
    });
    settle().await;
    // Two waiters in the root: when the first gets the lock, the second
    // would wait for its own task.
    let mut a = pin!(lock.acquire());
    let mut b = pin!(lock.acquire());
    assert!(poll_once(a.as_mut()).await.is_none());
    assert!(poll_once(b.as_mut()).await.is_none());
    within(holder).await.unwrap();
    assert_eq!(a.await, Ok(()));
    assert_eq!(b.await, Err(LockError::WouldDeadlock));
    assert_eq!(lock.statistics().tasks_waiting, 0);
    lock.release().unwrap();
}

#[test]
fn stress_random_cancels_keep_mutual_exclusion_and_leave_the_lock_free() {
    for seed in [1, 7, 42, 1234] {
        virtual_rt().block_on(async move {
            let mut rng = XorShift::new(seed);
            let m = Rc::new(Mutex::new(0u64));
            let inside = Rc::new(Cell::new(false));
            let done = Rc::new(Cell::new(0u64));
            let mut handles = Vec::new();
            let mut tasks = Vec::new();
            for _ in 0..60 {
                let scope = CancelScope::new();
                handles.push(scope.handle());
                let hold = rng.below(4);
                let (m, inside, done) = (m.clone(), inside.clone(), done.clone());
                tasks.push(spawn(async move {
                    let _ = scope
                        .run(async {
                            let mut g = m.lock().await.unwrap();
                            assert!(!inside.replace(true), "two holders at once");
                            for _ in 0..hold {
                                yield_now().await;
                            }
                            *g += 1;
                            inside.set(false);
                            done.set(done.get() + 1);
                        })
                        .await;
                    // A cancel mid-hold leaves `inside` set: clear it.
                    inside.set(false);
                }));
                if rng.below(3) == 0 {
                    yield_now().await;
                }
            }
            for _ in 0..200 {
                if rng.below(4) == 0 {
                    let i = rng.below(handles.len() as u64) as usize;
                    handles[i].cancel();
                }
                yield_now().await;
            }
            for t in tasks {
                within(t).await.unwrap();
            }
            assert_eq!(*m.try_lock().unwrap(), done.get());
            assert_eq!(m.statistics().tasks_waiting, 0);
        });
    }
}

#[test]
fn the_root_futures_and_tasks_of_two_runtimes_are_different_owners() {
    let rt_a = virtual_rt();
    let rt_b = virtual_rt();
    let lock = std::rc::Rc::new(Lock::new());
    rt_a.block_on(async { lock.acquire().await.unwrap() });
    rt_b.block_on(async {
        // Not A's root: neither a deadlock nor the owner.
        assert_eq!(lock.try_acquire(), Err(LockError::WouldBlock));
        assert_eq!(
            lock.release(),
            Err(LockError::NotOwner {
                owner: Owner::Root(rt_a.id())
            })
        );
    });
    rt_a.block_on(async { lock.release().unwrap() });
    // The first task of each runtime has slab index 0 in both.
    let l = lock.clone();
    let held = rt_a.spawn(async move {
        l.acquire().await.unwrap();
        arbor::current_task_id().unwrap()
    });
    let a_task = rt_a.block_on(held).unwrap();
    let l = lock.clone();
    let in_b = rt_b.spawn(async move { (l.try_acquire(), l.release()) });
    let (acquired, released) = rt_b.block_on(in_b).unwrap();
    assert_eq!(acquired, Err(LockError::WouldBlock));
    assert_eq!(
        released,
        Err(LockError::NotOwner {
            owner: Owner::Task(a_task)
        })
    );
}

#[test]
fn an_owned_guard_moves_into_a_task_and_its_locker_then_waits_for_it() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let m = Rc::new(Mutex::new(Vec::new()));
        let mut guard = m.clone().lock_owned().await.unwrap();
        guard.push("main");
        // Held by the guard, not by a task: the locker may wait for it.
        assert_eq!(m.statistics().owner, Some(Owner::OwnedGuard));
        assert_eq!(m.try_lock().err(), Some(LockError::WouldBlock));
        let t1 = t.clone();
        let worker = spawn(async move {
            yield_now().await;
            guard.push("worker");
            t1.log("worker drops the guard");
        });
        let v = within(m.lock()).await.unwrap();
        t.log("main locked");
        assert_eq!(*v, ["main", "worker"]);
        assert_eq!(m.statistics().owner, Some(Owner::Root(rt_id())));
        drop(v);
        within(worker).await.unwrap();

        // Waits FIFO like any locker, and the task holding a plain guard
        // gets WouldDeadlock, not a hang.
        let g = m.lock().await.unwrap();
        assert_eq!(
            within(m.clone().lock_owned()).await.err(),
            Some(LockError::WouldDeadlock)
        );
        let m2 = m.clone();
        let t2 = t.clone();
        let owned_waiter = spawn(async move {
            let g = m2.lock_owned().await.unwrap();
            t2.log(format!("owned waiter got {} items", g.len()));
        });
        settle().await;
        assert_eq!(m.statistics().tasks_waiting, 1);
        drop(g);
        within(owned_waiter).await.unwrap();
        assert!(!m.is_locked());
    });
    assert_eq!(
        trace.events(),
        [
            "worker drops the guard",
            "main locked",
            "owned waiter got 2 items"
        ]
    );
}
