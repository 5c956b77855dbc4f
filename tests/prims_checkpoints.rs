//! Every async operation of the primitives is a checkpoint (trio): a cancel
//! point, then a schedule point when it took effect without waiting, which
//! keeps what it took; the fast mode (`with_fast_acquire(true)`) skips the
//! schedule point. Exact traces; a dropped future loses nothing.

mod support;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use arbor_nursery::CancelScope;
use arbor_primitives::{
    Barrier, Borrower, CapacityLimiter, Condition, Event, Lock, Mutex, OnceCell, Owner,
    ReentrantLock, RwLock, Semaphore,
};
use arbor_runtime::{spawn, yield_now};
use futures_lite::future::poll_once;
use support::prims::{Log, run, settle};

/// Three tasks, each running `for _ in 0..3 { let _held = $take; log(i) }`
/// on one shared `$prim` (bound to `$p` in `$take`): the order of their
/// iterations.
macro_rules! turns {
    ($prim:expr, |$p:ident| $take:expr) => {
        run(async {
            let prim = Rc::new($prim);
            let order = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..3)
                .map(|i| {
                    let ($p, order) = (prim.clone(), order.clone());
                    spawn(async move {
                        for _ in 0..3 {
                            let _held = $take;
                            order.borrow_mut().push(i);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            order.take()
        })
    };
}

const TAKING_TURNS: [i32; 9] = [0, 1, 2, 0, 1, 2, 0, 1, 2];
const WHOLE_LOOPS: [i32; 9] = [0, 0, 0, 1, 1, 1, 2, 2, 2];

#[test]
fn tasks_looping_on_a_lock_take_turns_as_in_trio() {
    assert_eq!(
        turns!(Lock::new(), |l| l.lock().await.unwrap()),
        TAKING_TURNS
    );
    assert_eq!(
        turns!(Mutex::new(()), |m| m.lock().await.unwrap()),
        TAKING_TURNS
    );
    assert_eq!(
        turns!(ReentrantLock::new(()), |l| l.lock().await),
        TAKING_TURNS
    );
    assert_eq!(turns!(RwLock::new(()), |l| l.write().await), TAKING_TURNS);
}

#[test]
fn in_fast_mode_tasks_looping_on_a_free_lock_run_their_whole_loop() {
    assert_eq!(
        turns!(Lock::new().with_fast_acquire(true), |l| l
            .lock()
            .await
            .unwrap()),
        WHOLE_LOOPS
    );
    assert_eq!(
        turns!(Mutex::new(()).with_fast_acquire(true), |m| m
            .lock()
            .await
            .unwrap()),
        WHOLE_LOOPS
    );
    assert_eq!(
        turns!(ReentrantLock::new(()).with_fast_acquire(true), |l| l
            .lock()
            .await),
        WHOLE_LOOPS
    );
    assert_eq!(
        turns!(RwLock::new(()).with_fast_acquire(true), |l| l.write().await),
        WHOLE_LOOPS
    );
    // `with_fast_acquire(false)` is the default.
    assert_eq!(
        turns!(Lock::new().with_fast_acquire(false), |l| l
            .lock()
            .await
            .unwrap()),
        TAKING_TURNS
    );
}

#[test]
fn tasks_looping_on_a_one_permit_semaphore_take_turns_unless_fast() {
    assert_eq!(
        turns!(Semaphore::new(1), |s| s.acquire().await),
        TAKING_TURNS
    );
    assert_eq!(
        turns!(Semaphore::new(1), |s| s.acquire_many(1).await.unwrap()),
        TAKING_TURNS
    );
    assert_eq!(
        turns!(Semaphore::new(1).with_fast_acquire(true), |s| s
            .acquire()
            .await),
        WHOLE_LOOPS
    );
    assert_eq!(
        turns!(
            Semaphore::with_max(1, 1).unwrap().with_fast_acquire(true),
            |s| s.acquire_many(1).await.unwrap()
        ),
        WHOLE_LOOPS
    );
}

#[test]
fn tasks_looping_on_a_one_token_limiter_take_turns_unless_fast() {
    assert_eq!(
        turns!(CapacityLimiter::new(1), |l| l.acquire().await.unwrap()),
        TAKING_TURNS
    );
    assert_eq!(
        turns!(CapacityLimiter::new(1).with_fast_acquire(true), |l| l
            .acquire()
            .await
            .unwrap()),
        WHOLE_LOOPS
    );
}

/// A task looping six times on a free lock beside one that logs and yields
/// three times: the spinner's schedule points let the other run between
/// its iterations; once the other is done, nothing else is ready and the
/// spinner runs on without yielding. In fast mode it runs its whole loop.
fn spin_beside_another(fast: bool) -> Vec<String> {
    run(async move {
        let lock = Rc::new(Lock::new().with_fast_acquire(fast));
        let log = Log::default();
        let (l, lg) = (lock.clone(), log.clone());
        let spinner = spawn(async move {
            for n in 0..6 {
                let _g = l.lock().await.unwrap();
                lg.push(format!("spin{n}"));
            }
        });
        let lg = log.clone();
        let other = spawn(async move {
            for n in 0..3 {
                lg.push(format!("other{n}"));
                yield_now().await;
            }
        });
        spinner.await.unwrap();
        other.await.unwrap();
        log.take()
    })
}

#[test]
fn a_task_spinning_on_a_free_lock_lets_another_ready_task_run() {
    assert_eq!(
        spin_beside_another(false),
        [
            "other0", "spin0", "other1", "spin1", "other2", "spin2", "spin3", "spin4", "spin5"
        ]
    );
}

#[test]
fn in_fast_mode_a_task_spinning_on_a_free_lock_keeps_running() {
    assert_eq!(
        spin_beside_another(true),
        [
            "spin0", "spin1", "spin2", "spin3", "spin4", "spin5", "other0", "other1", "other2"
        ]
    );
}

#[test]
fn a_task_spinning_on_a_free_lock_does_not_starve_a_timer() {
    // The real clock: a virtual one moves only when every task is idle,
    // and the spinner never is. The timer is due after 1 ms; the spinner
    // yields every 128 schedule points even with nothing else ready, so
    // the run loop fires it. Without that it would spin to the bound.
    let rt = arbor_runtime::Runtime::new().unwrap();
    let spins = rt.block_on(async {
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        let timer = spawn(async move {
            arbor_runtime::time::sleep(std::time::Duration::from_millis(1)).await;
            f.set(true);
        });
        yield_now().await; // the timer task arms its sleep
        let lock = Lock::new();
        let mut spins = 0u64;
        while !fired.get() && spins < 100_000_000 {
            let _g = lock.lock().await.unwrap();
            spins += 1;
        }
        timer.await.unwrap();
        spins
    });
    assert!(spins < 100_000_000, "the timer fired while the lock spun");
}

#[test]
fn an_already_set_events_wait_yields_to_another_ready_task() {
    let log = run(async {
        let ev = Event::new();
        ev.set();
        let log = Log::default();
        let l = log.clone();
        let other = spawn(async move { l.push("other") });
        ev.wait().await;
        log.push("waited");
        other.await.unwrap();
        // Nothing else ready: no yield needed, and none happens.
        let idle = spawn(async {});
        idle.await.unwrap();
        let mut wait = pin!(ev.wait());
        assert!(poll_once(&mut wait).await.is_some());
        log.take()
    });
    assert_eq!(log, ["other", "waited"]);
}

/// Poll `fut` once in the root future while a task is ready to run (so a
/// schedule point yields): whether it was still pending.
async fn pending_at_the_schedule_point<F: std::future::Future>(fut: F) -> bool {
    let ready = spawn(async {});
    let mut fut = pin!(fut);
    let pending = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await;
    ready.await.unwrap();
    // `fut` is dropped here, at its schedule point if it was pending.
    pending
}

#[test]
fn a_future_dropped_at_its_schedule_point_releases_what_it_took() {
    run(async {
        let lock = Lock::new();
        assert!(pending_at_the_schedule_point(lock.acquire()).await);
        assert!(!lock.locked(), "released with the dropped future");
        assert!(pending_at_the_schedule_point(lock.lock()).await);
        assert!(!lock.locked());

        let m = Rc::new(Mutex::new(1));
        assert!(pending_at_the_schedule_point(m.lock()).await);
        assert!(!m.is_locked());
        assert!(pending_at_the_schedule_point(m.clone().lock_owned()).await);
        assert!(!m.is_locked());

        let r = ReentrantLock::new(());
        assert!(pending_at_the_schedule_point(r.lock()).await);
        assert!(!r.statistics().locked);
        let held = r.lock().await;
        assert!(pending_at_the_schedule_point(r.lock()).await, "re-entered");
        assert_eq!(r.statistics().count, 1, "the re-entry was given back");
        drop(held);

        let rw = RwLock::new(());
        assert!(pending_at_the_schedule_point(rw.read()).await);
        assert!(pending_at_the_schedule_point(rw.write()).await);
        assert!(rw.try_write().is_ok(), "neither access was kept");

        let sem = Rc::new(Semaphore::new(3));
        assert!(pending_at_the_schedule_point(sem.acquire()).await);
        assert!(pending_at_the_schedule_point(sem.acquire_many(3)).await);
        assert!(pending_at_the_schedule_point(sem.clone().acquire_owned()).await);
        assert!(pending_at_the_schedule_point(sem.clone().acquire_many_owned(2)).await);
        assert_eq!(sem.available_permits(), 3);

        let lim = CapacityLimiter::new(1);
        assert!(pending_at_the_schedule_point(lim.acquire()).await);
        assert!(pending_at_the_schedule_point(lim.acquire_on_behalf_of(Borrower::from(1))).await);
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (0, 1));

        // Fast mode: no schedule point, nothing pending.
        let lock = Lock::new().with_fast_acquire(true);
        assert!(!pending_at_the_schedule_point(lock.acquire()).await);
        lock.release().unwrap();
        let sem = Semaphore::new(1).with_fast_acquire(true);
        assert!(!pending_at_the_schedule_point(sem.acquire()).await);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn a_task_aborted_at_its_schedule_point_hands_the_lock_to_the_next_waiter() {
    run(async {
        let lock = Rc::new(Lock::new());
        let log = Log::default();
        let (l, lg) = (lock.clone(), log.clone());
        let a = spawn(async move {
            let _g = l.lock().await.unwrap();
            lg.push("a got");
        });
        let (l, lg) = (lock.clone(), log.clone());
        let b = spawn(async move {
            let _g = l.lock().await.unwrap();
            lg.push("b got");
        });
        // One tick: a takes the free lock and yields at its schedule point
        // (b is ready); b queues behind it.
        yield_now().await;
        let a_id = a.id();
        assert_eq!(lock.statistics().owner, Some(Owner::Task(a_id)));
        assert_eq!(lock.statistics().tasks_waiting, 1);
        a.abort();
        // Released as if a's guard were dropped: straight to b.
        assert_eq!(lock.statistics().owner, Some(Owner::Task(b.id())));
        assert!(a.await.unwrap_err().is_cancelled());
        b.await.unwrap();
        assert_eq!(log.take(), ["b got"]);
        assert!(!lock.locked());

        // The same for a semaphore's permit and a limiter's token.
        let sem = Rc::new(Semaphore::new(1));
        let s = sem.clone();
        let a = spawn(async move { drop(s.acquire().await) });
        let _ready = spawn(async {});
        yield_now().await;
        assert_eq!(
            sem.available_permits(),
            0,
            "a holds it at its schedule point"
        );
        a.abort();
        assert_eq!(sem.available_permits(), 1);

        let lim = Rc::new(CapacityLimiter::new(1));
        let l = lim.clone();
        let a = spawn(async move { drop(l.acquire().await) });
        let _ready = spawn(async {});
        yield_now().await;
        assert_eq!(lim.borrowed_tokens(), 1);
        a.abort();
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (0, 1));
    });
}

#[test]
fn a_lock_taken_before_its_scope_is_cancelled_is_returned_then_dropped_at_the_next_suspension() {
    run(async {
        let lock = Rc::new(Lock::new());
        let log = Log::default();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let (l, lg) = (lock.clone(), log.clone());
        let a = spawn(async move {
            scope
                .run(async {
                    let _g = l.lock().await.unwrap();
                    lg.push("a got");
                    yield_now().await;
                    lg.push("unreachable");
                })
                .await
        });
        let lg = log.clone();
        let b = spawn(async move {
            lg.push("b cancels");
            handle.cancel();
        });
        b.await.unwrap();
        assert!(a.await.unwrap().is_err(), "cancelled");
        // a took the lock, yielded, b cancelled a's scope: a still got the
        // lock (nothing lost) and ran to its next suspension.
        assert_eq!(log.take(), ["b cancels", "a got"]);
        assert!(!lock.locked());
    });
}

#[test]
fn in_fast_mode_an_acquire_is_still_a_cancel_point() {
    run(async {
        let lock = Lock::new().with_fast_acquire(true);
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(lock.acquire()).await.is_err());
        assert!(!lock.locked());
        let sem = Semaphore::new(1).with_fast_acquire(true);
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(sem.acquire()).await.is_err());
        assert_eq!(sem.available_permits(), 1);
        let lim = CapacityLimiter::new(1).with_fast_acquire(true);
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(lim.acquire()).await.is_err());
        assert_eq!(lim.borrowed_tokens(), 0);
    });
}

#[test]
fn a_reentrant_lock_yields_when_the_owner_re_enters() {
    let log = run(async {
        let lock = ReentrantLock::new(());
        let outer = lock.lock().await;
        let log = Log::default();
        let l = log.clone();
        let other = spawn(async move { l.push("other") });
        let inner = lock.lock().await;
        log.push("re-entered");
        assert_eq!(lock.statistics().count, 2);
        drop((inner, outer));
        other.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["other", "re-entered"]);
}

#[test]
fn condition_wait_for_a_predicate_that_holds_is_a_checkpoint() {
    let log = run(async {
        let cond = Condition::new(Rc::new(Mutex::new(true)));
        let log = Log::default();
        let l = log.clone();
        let other = spawn(async move { l.push("other") });
        let g = cond.lock().await.unwrap(); // yields: other runs
        log.push("locked");
        let l = log.clone();
        let other2 = spawn(async move { l.push("other2") });
        let g = cond.wait_for(g, |ready| *ready).await.unwrap();
        log.push("held at once");
        assert!(*g);
        drop(g);
        // Cancelled: makes no progress, and the guard it consumed is
        // dropped with it.
        let g = cond.lock().await.unwrap();
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(cond.wait_for(g, |_| true)).await.is_err());
        assert!(!cond.mutex().is_locked());
        other.await.unwrap();
        other2.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["other", "locked", "other2", "held at once"]);
}

#[test]
fn condition_wait_relocks_after_its_notification_without_another_yield() {
    let log = run(async {
        let cond = Rc::new(Condition::new(Rc::new(Mutex::new(0))));
        let log = Log::default();
        let (c, l) = (cond.clone(), log.clone());
        let waiter = spawn(async move {
            let g = c.lock().await.unwrap();
            let g = c.wait(g).await.unwrap();
            l.push(format!("woke with {}", *g));
        });
        settle().await;
        let mut g = cond.lock().await.unwrap();
        *g = 1;
        cond.notify_all(&g);
        drop(g);
        // The waiter runs next tick and re-locks the free mutex at once,
        // while a third task is ready: it does not yield again first.
        let l = log.clone();
        let third = spawn(async move { l.push("third") });
        waiter.await.unwrap();
        third.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["woke with 1", "third"]);
}

#[test]
fn once_cell_get_or_init_with_the_value_set_is_a_checkpoint() {
    let log = run(async {
        let cell = OnceCell::from(7);
        let log = Log::default();
        let l = log.clone();
        let other = spawn(async move { l.push("other") });
        let v = *cell.get_or_init(|| async { 0 }).await;
        log.push(format!("got {v}"));
        // Inside a cancelled scope it makes no progress, even with the
        // value set (`get` reads it without a checkpoint).
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(cell.get_or_init(|| async { 0 })).await.is_err());
        assert_eq!(cell.get(), Some(&7));
        other.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["other", "got 7"]);
}

#[test]
fn a_barrier_of_one_is_a_checkpoint_for_its_leader() {
    let log = run(async {
        let bar = Barrier::new(1);
        let log = Log::default();
        let l = log.clone();
        let other = spawn(async move { l.push("other") });
        assert!(bar.wait().await.is_leader());
        log.push("tripped");
        other.await.unwrap();
        log.take()
    });
    assert_eq!(log, ["other", "tripped"]);
}

#[test]
fn a_set_events_wait_cancelled_at_its_schedule_point_makes_no_progress() {
    // Unlike an acquire, the wait took nothing: after its yield it is a
    // cancel point again (trio's `checkpoint()`).
    let log = run(async {
        let ev = Rc::new(Event::new());
        ev.set();
        let log = Log::default();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let (e, l) = (ev.clone(), log.clone());
        let a = spawn(async move {
            scope
                .run(async {
                    e.wait().await;
                    l.push("a waited");
                })
                .await
        });
        let l = log.clone();
        let b = spawn(async move {
            l.push("b cancels");
            handle.cancel();
        });
        b.await.unwrap();
        assert!(a.await.unwrap().is_err(), "cancelled");
        log.take()
    });
    assert_eq!(log, ["b cancels"]);
}
