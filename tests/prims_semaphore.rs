//! Semaphore: FIFO hand-off, cancel safety in both orders, misuse, stress.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use arbor::primitives::{Semaphore, SemaphoreError, SemaphoreStatistics};
use arbor::time::sleep;
use arbor::{CancelScope, spawn, yield_now};
use support::{Trace, virtual_rt};

#[test]
fn permits_go_to_waiters_in_fifo_order_and_a_releaser_cannot_barge() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await;
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let (sem, t) = (sem.clone(), t.clone());
                spawn(async move {
                    let _p = sem.acquire().await;
                    t.log(format!("w{i}"));
                    yield_now().await;
                })
            })
            .collect();
        yield_now().await;
        assert_eq!(sem.statistics().tasks_waiting, 3);
        drop(held);
        // Released to w0 directly: the releaser cannot take it back.
        assert!(matches!(sem.try_acquire(), Err(SemaphoreError::WouldBlock)));
        let me = sem.acquire().await;
        t.log("main");
        drop(me);
        for w in waiters {
            w.await.unwrap();
        }
    });
    assert_eq!(trace.events(), ["w0", "w1", "w2", "main"]);
}

#[arbor::test(virtual_clock)]
async fn a_large_request_at_the_head_holds_back_smaller_ones() {
    let sem = Rc::new(Semaphore::new(0));
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let (s, o) = (sem.clone(), order.clone());
    let big = spawn(async move {
        let p = s.acquire_many(3).await.unwrap();
        o.borrow_mut().push(3);
        p.forget();
    });
    let (s, o) = (sem.clone(), order.clone());
    let small = spawn(async move {
        let p = s.acquire_many(1).await.unwrap();
        o.borrow_mut().push(1);
        p.forget();
    });
    yield_now().await;
    sem.add_permits(2).unwrap();
    yield_now().await;
    assert!(
        order.borrow().is_empty(),
        "two permits do not serve the head's three"
    );
    sem.add_permits(2).unwrap();
    big.await.unwrap();
    small.await.unwrap();
    assert_eq!(*order.borrow(), [3, 1]);
    assert_eq!(sem.available_permits(), 0);
}

#[arbor::test(virtual_clock)]
async fn waiter_dropped_before_its_grant_consumes_nothing() {
    let sem = Rc::new(Semaphore::new(0));
    let scope = CancelScope::new();
    let h = scope.handle();
    let s = sem.clone();
    let waiter = spawn(async move {
        scope
            .run(async { s.acquire().await.forget() })
            .await
            .is_err()
    });
    yield_now().await;
    assert_eq!(sem.statistics().tasks_waiting, 1);
    h.cancel();
    assert!(waiter.await.unwrap(), "cancelled while queued");
    assert_eq!(sem.statistics().tasks_waiting, 0);
    sem.release().unwrap();
    assert_eq!(
        sem.available_permits(),
        1,
        "the permit was not taken by the dropped waiter"
    );
}

#[arbor::test(virtual_clock)]
async fn waiter_dropped_after_its_grant_passes_the_permit_on() {
    let sem = Rc::new(Semaphore::new(0));
    let scope = CancelScope::new();
    let h = scope.handle();
    let s = sem.clone();
    let first = spawn(async move {
        scope
            .run(async { s.acquire().await.forget() })
            .await
            .is_err()
    });
    let s = sem.clone();
    let got = Rc::new(Cell::new(false));
    let g = got.clone();
    let second = spawn(async move {
        let _p = s.acquire().await;
        g.set(true);
    });
    yield_now().await;
    // Grant to `first`, then cancel it before it runs.
    sem.release().unwrap();
    h.cancel();
    assert!(first.await.unwrap());
    second.await.unwrap();
    assert!(
        got.get(),
        "the second waiter got the permit the first never used"
    );
    assert_eq!(sem.available_permits(), 1);
}

#[arbor::test(virtual_clock)]
async fn misuse_is_an_error_and_changes_nothing() {
    assert!(matches!(
        Semaphore::with_max(3, 2),
        Err(SemaphoreError::InitialAboveMax)
    ));
    let sem = Semaphore::with_max(1, 2).unwrap();
    sem.release().unwrap();
    let err = sem.release().unwrap_err();
    assert_eq!(err, SemaphoreError::AboveMax { max: 2 });
    assert!(err.to_string().contains("max_value 2"));
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(
        sem.acquire_many(3).await.unwrap_err(),
        SemaphoreError::TooMany {
            requested: 3,
            max: 2
        }
    );
    assert_eq!(
        sem.statistics(),
        SemaphoreStatistics {
            value: 2,
            max_value: Some(2),
            tasks_waiting: 0
        }
    );
    let p = sem.try_acquire_many(2).unwrap();
    assert_eq!(p.permits(), 2);
    assert!(sem.try_acquire().is_err());
}

struct Held<'a>(&'a Cell<usize>, usize);

impl<'a> Held<'a> {
    fn new(count: &'a Cell<usize>, n: usize) -> Self {
        count.set(count.get() + n);
        Held(count, n)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - self.1);
    }
}

#[arbor::test(virtual_clock)]
async fn random_cancellations_conserve_permits() {
    const PERMITS: usize = 3;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sem = Rc::new(Semaphore::new(PERMITS));
    let inside = Rc::new(Cell::new(0usize));
    let mut tasks = Vec::new();
    let mut handles = Vec::new();
    for i in 0..200u64 {
        let (s, inside) = (sem.clone(), inside.clone());
        let scope = CancelScope::new();
        handles.push(scope.handle());
        let hold = Duration::from_millis(rand() % 5);
        tasks.push(spawn(async move {
            let _ = scope
                .run(async {
                    let n = 1 + (i % 2) as usize;
                    let _p = s.acquire_many(n).await.unwrap();
                    // Counts permits held; undone on drop, also when cancelled.
                    let _held = Held::new(&inside, n);
                    assert!(inside.get() <= PERMITS, "more permits held than exist");
                    sleep(hold).await;
                })
                .await;
        }));
    }
    for _ in 0..100 {
        let victim = (rand() % handles.len() as u64) as usize;
        handles[victim].cancel();
        sleep(Duration::from_millis(rand() % 3)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(inside.get(), 0);
    assert_eq!(sem.available_permits(), PERMITS, "every permit came back");
    assert_eq!(sem.statistics().tasks_waiting, 0);
}

#[arbor::test(virtual_clock)]
async fn add_permits_past_the_maximum_is_an_error_and_adds_nothing() {
    let sem = Semaphore::new(usize::MAX);
    let err = sem.add_permits(1).unwrap_err();
    assert_eq!(
        err,
        SemaphoreError::AboveMax {
            max: Semaphore::MAX_PERMITS
        }
    );
    assert!(err.to_string().contains("MAX_PERMITS"), "{err}");
    assert_eq!(sem.release(), Err(err));
    assert_eq!(sem.add_permits(usize::MAX), Err(err));
    assert_eq!(sem.available_permits(), usize::MAX, "nothing was added");
    // Still usable: every permit can be taken and comes back.
    let all = sem.try_acquire_many(usize::MAX).unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(all);
    assert_eq!(sem.available_permits(), usize::MAX);

    let one = Semaphore::new(1);
    assert_eq!(one.add_permits(usize::MAX), Err(err), "1 + usize::MAX");
    assert_eq!(one.available_permits(), 1);
    one.add_permits(usize::MAX - 1).unwrap();
    assert_eq!(one.available_permits(), usize::MAX);
}

#[arbor::test(virtual_clock)]
async fn a_held_permit_counts_towards_the_maximum_so_it_always_fits_back() {
    let sem = Semaphore::new(usize::MAX);
    let held = sem.acquire().await;
    assert_eq!(sem.available_permits(), usize::MAX - 1);
    // Room in `available`, but not for the permit out on loan.
    assert_eq!(
        sem.add_permits(1),
        Err(SemaphoreError::AboveMax {
            max: Semaphore::MAX_PERMITS
        })
    );
    assert_eq!(sem.available_permits(), usize::MAX - 1);
    drop(held);
    assert_eq!(sem.available_permits(), usize::MAX, "no wrap to 0");
}

#[arbor::test(virtual_clock)]
async fn a_forgotten_permit_leaves_room_to_be_added_back() {
    let sem = Semaphore::new(usize::MAX);
    sem.try_acquire_many(2).unwrap().forget();
    assert_eq!(sem.available_permits(), usize::MAX - 2);
    sem.release().unwrap();
    sem.add_permits(1).unwrap();
    assert_eq!(sem.available_permits(), usize::MAX);
    assert!(sem.release().is_err());
    assert_eq!(sem.available_permits(), usize::MAX);
}

#[arbor::test(virtual_clock)]
async fn a_failing_add_permits_wakes_nobody_and_the_waiter_still_gets_its_permit() {
    let sem = Rc::new(Semaphore::new(usize::MAX));
    let all = sem.try_acquire_many(usize::MAX).unwrap();
    let got = Rc::new(Cell::new(false));
    let (s, g) = (sem.clone(), got.clone());
    let waiter = spawn(async move {
        let p = s.acquire().await;
        g.set(true);
        p.forget();
    });
    yield_now().await;
    assert_eq!(sem.statistics().tasks_waiting, 1);
    assert!(sem.add_permits(1).is_err());
    yield_now().await;
    assert!(!got.get(), "a failed add must not grant anything");
    assert_eq!(
        sem.statistics(),
        SemaphoreStatistics {
            value: 0,
            max_value: None,
            tasks_waiting: 1
        }
    );
    drop(all);
    waiter.await.unwrap();
    assert!(got.get());
    assert_eq!(sem.available_permits(), usize::MAX - 1);
    sem.release().unwrap();
    assert_eq!(sem.available_permits(), usize::MAX);
}

#[arbor::test(virtual_clock)]
async fn with_max_counts_held_permits_so_the_value_never_exceeds_it() {
    let sem = Semaphore::with_max(1, 1).unwrap();
    let held = sem.acquire().await;
    // The held permit comes back on drop: releasing one now would let
    // the value reach 2 then.
    assert_eq!(sem.release(), Err(SemaphoreError::AboveMax { max: 1 }));
    assert_eq!(sem.available_permits(), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
    // Trio's manual style: take it for good, then release by hand.
    sem.acquire().await.forget();
    assert_eq!(sem.available_permits(), 0);
    sem.release().unwrap();
    assert_eq!(sem.statistics().value, 1);
    assert!(sem.release().is_err());
    assert_eq!(sem.statistics().value, 1);
}

#[test]
fn owned_permits_move_into_spawned_tasks_and_come_back_when_dropped_there() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let sem = Rc::new(Semaphore::new(2));
        let mut workers = Vec::new();
        for i in 0..4 {
            // The third acquire waits until a worker drops its permit.
            let permit = sem.clone().acquire_owned().await;
            t.log(format!("w{i} admitted"));
            let t = t.clone();
            workers.push(spawn(async move {
                sleep(Duration::from_millis(10)).await;
                t.log(format!("w{i} done"));
                drop(permit);
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        assert_eq!(sem.available_permits(), 2);

        let many = sem.clone().acquire_many_owned(2).await.unwrap();
        assert_eq!((many.permits(), sem.available_permits()), (2, 0));
        assert!(Rc::ptr_eq(many.semaphore(), &sem));
        spawn(async move { drop(many) }).await.unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
    assert_eq!(
        trace.events(),
        // w0 and w1 sleep until the same instant: both finish in one tick,
        // then main (woken by w0's permit) admits w2 and w3.
        [
            "w0 admitted",
            "w1 admitted",
            "w0 done",
            "w1 done",
            "w2 admitted",
            "w3 admitted",
            "w2 done",
            "w3 done"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn acquire_many_owned_above_the_maximum_is_an_error_and_forget_keeps_permits_out() {
    let sem = Rc::new(Semaphore::with_max(2, 2).unwrap());
    assert_eq!(
        sem.clone().acquire_many_owned(3).await.unwrap_err(),
        SemaphoreError::TooMany {
            requested: 3,
            max: 2
        }
    );
    assert_eq!(sem.available_permits(), 2);
    sem.clone().acquire_owned().await.forget();
    assert_eq!(sem.available_permits(), 1);
    // Forgotten: it no longer counts towards the maximum, so it can be
    // released by hand.
    sem.release().unwrap();
    assert_eq!(sem.available_permits(), 2);
    assert!(matches!(
        sem.release(),
        Err(SemaphoreError::AboveMax { max: 2 })
    ));
}

#[arbor::test(virtual_clock)]
async fn an_owned_acquire_cancelled_while_waiting_consumes_nothing() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.clone().acquire_owned().await;
    let scope = CancelScope::new();
    let handle = scope.handle();
    let s = sem.clone();
    let waiter = spawn(async move { scope.run(s.acquire_owned()).await.is_err() });
    yield_now().await;
    assert_eq!(sem.statistics().tasks_waiting, 1);
    handle.cancel();
    assert!(waiter.await.unwrap(), "cancelled");
    assert_eq!(sem.statistics().tasks_waiting, 0);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[arbor::test(virtual_clock)]
async fn try_acquire_owned_moves_into_a_task_and_never_barges_past_a_waiter() {
    let sem = Rc::new(Semaphore::new(1));
    let permit = sem.clone().try_acquire_owned().unwrap();
    // A waiter queues behind the held permit.
    let waiter = {
        let sem = sem.clone();
        spawn(async move { sem.acquire().await.forget() })
    };
    yield_now().await;
    // The permit moves into another task, which releases it at its end.
    let holder = spawn(async move {
        sleep(Duration::from_secs(1)).await;
        drop(permit);
    });
    holder.await.unwrap();
    // Released, the permit went to the waiter (not yet run): a try
    // does not take it.
    assert_eq!(
        sem.clone().try_acquire_owned().unwrap_err(),
        SemaphoreError::WouldBlock
    );
    waiter.await.unwrap();
    assert_eq!(sem.available_permits(), 0, "the waiter forgot it");
    sem.add_permits(2).unwrap();
    let two = sem.clone().try_acquire_many_owned(2).unwrap();
    assert_eq!((two.permits(), sem.available_permits()), (2, 0));
    drop(two);
    assert_eq!(sem.available_permits(), 2);
}
