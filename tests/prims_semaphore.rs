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

#[test]
fn a_large_request_at_the_head_holds_back_smaller_ones() {
    virtual_rt().block_on(async {
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
    });
}

#[test]
fn waiter_dropped_before_its_grant_consumes_nothing() {
    virtual_rt().block_on(async {
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
    });
}

#[test]
fn waiter_dropped_after_its_grant_passes_the_permit_on() {
    virtual_rt().block_on(async {
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
    });
}

#[test]
fn misuse_is_an_error_and_changes_nothing() {
    virtual_rt().block_on(async {
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
    });
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

#[test]
fn random_cancellations_conserve_permits() {
    const PERMITS: usize = 3;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    virtual_rt().block_on(async move {
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
    });
}
