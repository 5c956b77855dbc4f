//! CapacityLimiter: trace fairness, total changes, cancel orders, misuse.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{Borrower, CapacityLimiter, LimiterError};
use futures_lite::future::poll_once;
use support::prims::{Log, Rng, run, settle};

fn b(id: u64) -> Borrower {
    Borrower::from(id)
}

/// Spawn a task that logs, waits for a token for borrower `id`, logs, holds it
/// until `hold` is cleared... then releases.
fn spawn_worker(lim: &Rc<CapacityLimiter>, log: &Log, id: u64) -> arbor_runtime::JoinHandle<()> {
    let (lim, log) = (lim.clone(), log.clone());
    arbor_runtime::spawn(async move {
        log.push(format!("{id} wait"));
        let guard = lim.acquire_on_behalf_of(b(id)).await.unwrap();
        log.push(format!("{id} got"));
        arbor_runtime::yield_now().await;
        drop(guard);
        log.push(format!("{id} done"));
    })
}

#[test]
fn fifo_hand_off_trace() {
    run(async {
        let lim = Rc::new(CapacityLimiter::new(1));
        let log = Log::default();
        let first = lim.acquire().await.unwrap();
        let hs: Vec<_> = (1..=3).map(|i| spawn_worker(&lim, &log, i)).collect();
        settle().await;
        assert_eq!(lim.statistics().tasks_waiting, 3);
        // Releasing and re-acquiring cannot barge past the queue.
        drop(first);
        assert_eq!(lim.try_acquire().unwrap_err(), LimiterError::WouldBlock);
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(
            log.take(),
            [
                "1 wait", "2 wait", "3 wait", "1 got", "1 done", "2 got", "2 done", "3 got",
                "3 done"
            ]
        );
        assert_eq!(lim.borrowed_tokens(), 0);
    });
}

#[test]
fn raising_total_admits_waiters_fifo_at_once() {
    run(async {
        // One token, held by someone else for the whole test.
        let lim = Rc::new(CapacityLimiter::new(1));
        lim.try_acquire_on_behalf_of(b(99)).unwrap().forget();
        let log = Log::default();
        let mut hs = Vec::new();
        for i in 1..=5 {
            let (lim, log) = (lim.clone(), log.clone());
            hs.push(arbor_runtime::spawn(async move {
                let g = lim.acquire().await.unwrap();
                log.push(format!("{i} got"));
                g.forget(); // keep it: release by hand below
            }));
        }
        settle().await;
        assert_eq!(lim.statistics().tasks_waiting, 5);
        lim.set_total_tokens(3);
        // Granted at once, before anyone runs.
        assert_eq!(
            (lim.borrowed_tokens(), lim.statistics().tasks_waiting),
            (3, 3)
        );
        settle().await;
        assert_eq!(log.take(), ["1 got", "2 got"]);
        lim.set_total_tokens(5);
        settle().await;
        assert_eq!(log.take(), ["3 got", "4 got"]);
        lim.set_total_tokens(11);
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(log.take(), ["5 got"]);
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (6, 5));
    });
}

#[test]
fn lowering_below_borrowed_takes_nothing_back() {
    run(async {
        let lim = Rc::new(CapacityLimiter::new(3));
        let gs: Vec<_> = (0..3)
            .map(|i| lim.try_acquire_on_behalf_of(b(i)).unwrap())
            .collect();
        lim.set_total_tokens(1);
        assert_eq!(
            (
                lim.borrowed_tokens(),
                lim.available_tokens(),
                lim.total_tokens()
            ),
            (3, 0, 1)
        );
        let log = Log::default();
        let h = spawn_worker(&lim, &log, 9);
        settle().await;
        assert_eq!(
            lim.try_acquire_on_behalf_of(b(8)).unwrap_err(),
            LimiterError::WouldBlock
        );
        let mut gs = gs.into_iter();
        drop(gs.next());
        settle().await;
        drop(gs.next());
        settle().await;
        assert_eq!(
            log.take(),
            ["9 wait"],
            "2 borrowed >= total 1: still waiting"
        );
        drop(gs.next());
        h.await.unwrap();
        assert_eq!(log.take(), ["9 got", "9 done"]);
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (0, 1));
    });
}

#[test]
#[should_panic(expected = "a CapacityLimiter needs at least 1 token")]
fn a_limiter_of_zero_tokens_is_a_clear_panic() {
    let _ = CapacityLimiter::new(0);
}

#[test]
fn lowering_the_total_to_zero_is_a_clear_panic_that_changes_nothing() {
    run(async {
        let lim = CapacityLimiter::new(2);
        let lowered =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lim.set_total_tokens(0)));
        let message = lowered.unwrap_err();
        let text = message
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| message.downcast_ref::<String>().map(String::as_str));
        assert!(text.is_some_and(|m| m.contains("at least 1 token")));
        assert_eq!(lim.total_tokens(), 2);
    });
}

#[test]
fn borrower_twice_and_release_without_holding_are_errors() {
    run(async {
        let lim = CapacityLimiter::new(5);
        let g = lim.acquire().await.unwrap();
        assert_eq!(g.borrower(), Borrower::current());
        assert_eq!(
            lim.acquire().await.unwrap_err(),
            LimiterError::AlreadyBorrowing
        );
        assert_eq!(
            lim.try_acquire().unwrap_err(),
            LimiterError::AlreadyBorrowing
        );
        assert_eq!(
            lim.release_on_behalf_of(b(1)).unwrap_err(),
            LimiterError::NotBorrowing
        );
        assert_eq!(lim.borrowed_tokens(), 1);
        // Waiting twice for the same borrower is an error too.
        lim.set_total_tokens(1);
        let mut w = lim.acquire_on_behalf_of(b(1));
        assert!(poll_once(&mut w).await.is_none());
        assert_eq!(
            poll_once(lim.acquire_on_behalf_of(b(1)))
                .await
                .unwrap()
                .unwrap_err(),
            LimiterError::AlreadyBorrowing
        );
        assert_eq!(
            lim.try_acquire_on_behalf_of(b(1)).unwrap_err(),
            LimiterError::AlreadyBorrowing
        );
        let stats = lim.statistics();
        assert_eq!(
            (
                stats.borrowed_tokens,
                stats.total_tokens,
                stats.tasks_waiting
            ),
            (1, 1, 1)
        );
        assert_eq!(stats.borrowers, [Borrower::current()]);
        drop(g);
        let g1 = w.await.unwrap();
        assert_eq!(g1.borrower(), b(1));
        assert!(
            LimiterError::AlreadyBorrowing
                .to_string()
                .contains("release")
        );
    });
}

#[test]
fn manual_release_and_stale_guard() {
    run(async {
        let lim = CapacityLimiter::new(2);
        lim.acquire().await.unwrap().forget();
        assert_eq!(lim.borrowed_tokens(), 1);
        lim.release().unwrap();
        assert_eq!(lim.release().unwrap_err(), LimiterError::NotBorrowing);
        // A guard whose token was released by hand does not release the
        // borrower's next token.
        let stale = lim.try_acquire_on_behalf_of(b(1)).unwrap();
        lim.release_on_behalf_of(b(1)).unwrap();
        let _fresh = lim.try_acquire_on_behalf_of(b(1)).unwrap();
        drop(stale);
        assert_eq!(lim.statistics().borrowers, [b(1)]);
    });
}

#[test]
fn granted_then_dropped_passes_token_on() {
    run(async {
        let lim = Rc::new(CapacityLimiter::new(1));
        let log = Log::default();
        let holder = lim.try_acquire_on_behalf_of(b(0)).unwrap();
        let mut second = lim.acquire_on_behalf_of(b(1));
        assert!(poll_once(&mut second).await.is_none());
        let h = spawn_worker(&lim, &log, 2);
        settle().await;
        drop(holder);
        assert_eq!(lim.statistics().borrowers, [b(1)], "granted to the head");
        drop(second); // granted but never ran
        assert_eq!(lim.statistics().borrowers, [b(2)], "passed on");
        h.await.unwrap();
        assert_eq!(log.take(), ["2 wait", "2 got", "2 done"]);
        assert_eq!(lim.borrowed_tokens(), 0);
    });
}

#[test]
fn dropped_before_grant_consumes_nothing() {
    run(async {
        let lim = Rc::new(CapacityLimiter::new(1));
        let log = Log::default();
        let holder = lim.try_acquire_on_behalf_of(b(0)).unwrap();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let l2 = lim.clone();
        let cancelled = arbor_runtime::spawn(async move {
            scope
                .run(async { l2.acquire_on_behalf_of(b(1)).await.map(drop) })
                .await
        });
        let h = spawn_worker(&lim, &log, 2);
        settle().await;
        assert_eq!(lim.statistics().tasks_waiting, 2);
        handle.cancel();
        assert!(cancelled.await.unwrap().is_err());
        assert_eq!(lim.statistics().tasks_waiting, 1);
        drop(holder);
        h.await.unwrap();
        assert_eq!(log.take(), ["2 wait", "2 got", "2 done"]);
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (0, 1));
    });
}

#[test]
fn cancelled_scope_with_grant_passes_it_on() {
    run(async {
        let lim = Rc::new(CapacityLimiter::new(1));
        let log = Log::default();
        let holder = lim.try_acquire_on_behalf_of(b(0)).unwrap();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let l2 = lim.clone();
        let cancelled = arbor_runtime::spawn(async move {
            scope
                .run(async { l2.acquire_on_behalf_of(b(1)).await.map(drop) })
                .await
        });
        let h = spawn_worker(&lim, &log, 2);
        settle().await;
        // Grant to b(1), then cancel before it runs.
        drop(holder);
        handle.cancel();
        assert!(cancelled.await.unwrap().is_err());
        h.await.unwrap();
        assert_eq!(log.take(), ["2 wait", "2 got", "2 done"]);
        assert_eq!(lim.borrowed_tokens(), 0);
    });
}

struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn new(c: &Rc<Cell<usize>>) -> Self {
        c.set(c.get() + 1);
        Counted(c.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[test]
fn stress_random_cancels_and_totals_conserve_tokens() {
    for seed in [1, 7, 42, 1234] {
        run(async move {
            let mut rng = Rng::new(seed);
            let lim = Rc::new(CapacityLimiter::new(3));
            let held = Rc::new(Cell::new(0usize));
            let done = Rc::new(Cell::new(0usize));
            let cap = Rc::new(Cell::new(3usize)); // the largest total set so far
            let mut tasks = Vec::new();
            for i in 0..60u64 {
                let (l, hd, dn, cp) = (lim.clone(), held.clone(), done.clone(), cap.clone());
                let hold = rng.below(8);
                let scope = CancelScope::new();
                let handle = scope.handle();
                let h = arbor_runtime::spawn(async move {
                    let r = scope
                        .run(async {
                            let g = l.acquire_on_behalf_of(b(i % 40)).await;
                            if let Ok(g) = g {
                                // Counts running holders, also if cancelled.
                                let _counted = Counted::new(&hd);
                                // Granted-but-not-yet-run waiters are borrowed too.
                                assert!(hd.get() <= l.borrowed_tokens());
                                assert!(hd.get() <= cp.get(), "more holders than tokens");
                                for _ in 0..hold {
                                    arbor_runtime::yield_now().await;
                                }
                                drop(g);
                            }
                        })
                        .await;
                    if r.is_ok() {
                        dn.set(dn.get() + 1);
                    }
                    r.is_ok()
                });
                tasks.push((h, handle));
                if rng.below(3) == 0 {
                    // Cancel a recent task: waiting, holding, or done.
                    let k = tasks.len() - 1 - rng.below(tasks.len().min(6) as u64) as usize;
                    tasks[k].1.cancel();
                }
                if rng.below(10) == 0 {
                    let total = 1 + rng.below(4) as usize;
                    cap.set(cap.get().max(total));
                    lim.set_total_tokens(total);
                }
                if rng.below(2) == 0 {
                    arbor_runtime::yield_now().await;
                }
                assert!(held.get() <= lim.borrowed_tokens());
            }
            lim.set_total_tokens(3);
            let mut finished = 0;
            for (h, _) in tasks {
                finished += usize::from(h.await.unwrap());
            }
            assert!(60 - finished > 5, "the test cancels waiters and holders");
            assert_eq!(finished, done.get());
            let stats = lim.statistics();
            assert_eq!(
                (stats.borrowed_tokens, stats.tasks_waiting, held.get()),
                (0, 0, 0)
            );
            assert!(stats.borrowers.is_empty());
            assert_eq!(lim.available_tokens(), 3);
        });
    }
}

#[test]
fn a_total_of_usize_max_counts_exactly_and_never_wraps() {
    run(async {
        let lim = Rc::new(CapacityLimiter::new(usize::MAX));
        let guards: Vec<_> = (1..=3)
            .map(|i| lim.try_acquire_on_behalf_of(b(i)).unwrap())
            .collect();
        assert_eq!(lim.available_tokens(), usize::MAX - 3);
        // Lowering below the borrowed count reads as 0 free, not a wrap.
        lim.set_total_tokens(2);
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (3, 0));
        let log = Log::default();
        let waiter = spawn_worker(&lim, &log, 9);
        settle().await;
        assert_eq!(log.take(), ["9 wait"]);
        lim.set_total_tokens(usize::MAX);
        waiter.await.unwrap();
        assert_eq!(log.take(), ["9 got", "9 done"]);
        assert_eq!(lim.total_tokens(), usize::MAX);
        assert_eq!(lim.available_tokens(), usize::MAX - 3);
        drop(guards);
        assert_eq!(
            (lim.borrowed_tokens(), lim.available_tokens()),
            (0, usize::MAX)
        );
    });
}

#[test]
fn an_unbounded_limiter_admits_everyone_and_its_total_moves_to_and_from_unbounded() {
    run(async {
        let lim = Rc::new(CapacityLimiter::unbounded());
        assert!(lim.is_unbounded());
        assert_eq!(lim.total_tokens(), CapacityLimiter::UNBOUNDED);
        let mut held: Vec<_> = (0..100)
            .map(|i| lim.try_acquire_on_behalf_of(b(i)).unwrap())
            .collect();
        assert_eq!(lim.available_tokens(), CapacityLimiter::UNBOUNDED - 100);
        let log = Log::default();
        // From unbounded down to 2: 100 borrowed, so a newcomer waits.
        lim.set_total_tokens(2);
        assert!(!lim.is_unbounded());
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (100, 0));
        let w1 = spawn_worker(&lim, &log, 201);
        let w2 = spawn_worker(&lim, &log, 202);
        settle().await;
        assert_eq!(log.take(), ["201 wait", "202 wait"]);
        assert_eq!(lim.statistics().tasks_waiting, 2);
        // Back up to unbounded: both admitted at once, in FIFO order.
        lim.set_total_tokens(CapacityLimiter::UNBOUNDED);
        assert_eq!(
            (lim.borrowed_tokens(), lim.statistics().tasks_waiting),
            (102, 0)
        );
        w1.await.unwrap();
        w2.await.unwrap();
        assert_eq!(log.take(), ["201 got", "202 got", "201 done", "202 done"]);
        // Down to a finite total again (all 100 tokens borrowed), then
        // raised by a finite step: the waiter is admitted.
        lim.set_total_tokens(100);
        let w3 = spawn_worker(&lim, &log, 203);
        settle().await;
        assert_eq!(log.take(), ["203 wait"]);
        lim.set_total_tokens(101);
        w3.await.unwrap();
        assert_eq!(log.take(), ["203 got", "203 done"]);
        held.clear();
        assert_eq!((lim.borrowed_tokens(), lim.available_tokens()), (0, 101));
    });
}
