//! Barrier: arrival order, leader, generations, cancel orders, stress.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{Barrier, BarrierStatistics};
use futures_lite::future::poll_once;
use support::prims::{Log, Rng, run, settle};

fn party(bar: &Rc<Barrier>, log: &Log, name: &str) -> arbor_runtime::JoinHandle<bool> {
    let (bar, log, name) = (bar.clone(), log.clone(), name.to_string());
    arbor_runtime::spawn(async move {
        log.push(format!("{name} wait"));
        let leader = bar.wait().await.is_leader();
        log.push(format!(
            "{name} go{}",
            if leader { " (leader)" } else { "" }
        ));
        leader
    })
}

#[test]
fn trips_in_arrival_order_and_is_cyclic() {
    run(async {
        let bar = Rc::new(Barrier::new(3));
        let log = Log::default();
        for generation in 1..=3u64 {
            let hs = [
                party(&bar, &log, "a"),
                party(&bar, &log, "b"),
                party(&bar, &log, "c"),
            ];
            let mut leaders = 0;
            for h in hs {
                leaders += usize::from(h.await.unwrap());
            }
            assert_eq!(leaders, 1);
            // The leader's wait is a checkpoint: it trips the barrier, then
            // yields at its schedule point, so the parties it released go
            // first (they were "a go", "b go" after "c go (leader)" before
            // schedule points).
            assert_eq!(
                log.take(),
                [
                    "a wait",
                    "b wait",
                    "c wait",
                    "a go",
                    "b go",
                    "c go (leader)"
                ],
                "generation {generation}"
            );
            assert_eq!(
                bar.statistics(),
                BarrierStatistics {
                    parties: 3,
                    tasks_waiting: 0,
                    generation
                }
            );
        }
    });
}

#[test]
fn one_party_never_waits() {
    run(async {
        let bar = Barrier::new(1);
        assert!(bar.wait().await.is_leader());
        assert!(bar.wait().await.is_leader());
        assert_eq!(bar.statistics().generation, 2);
        assert_eq!(bar.parties(), 1);
    });
}

#[test]
#[should_panic(expected = "at least one party")]
fn zero_parties_panics() {
    let _ = Barrier::new(0);
}

#[test]
fn dropped_before_trip_leaves_and_count_goes_down() {
    run(async {
        let bar = Rc::new(Barrier::new(2));
        let log = Log::default();
        let mut w = bar.wait();
        assert!(poll_once(&mut w).await.is_none());
        assert_eq!(bar.statistics().tasks_waiting, 1);
        drop(w);
        assert_eq!(bar.statistics().tasks_waiting, 0);
        let a = party(&bar, &log, "a");
        settle().await;
        assert_eq!(log.take(), ["a wait"], "one more party is needed again");
        // A waiter in a live scope completes the generation as usual.
        let scope = CancelScope::new();
        let b2 = bar.clone();
        let s =
            arbor_runtime::spawn(
                async move { scope.run(async { b2.wait().await.is_leader() }).await },
            );
        assert!(!a.await.unwrap());
        assert!(s.await.unwrap().unwrap(), "the second arrival leads");
        assert_eq!(bar.statistics().generation, 1);
        log.take();
        // Cancelled through a scope before the trip: leaves.
        let scope = CancelScope::new();
        let handle = scope.handle();
        let b2 = bar.clone();
        let c = arbor_runtime::spawn(async move { scope.run(async { b2.wait().await }).await });
        settle().await;
        handle.cancel();
        assert!(c.await.unwrap().is_err());
        assert_eq!(bar.statistics().tasks_waiting, 0);
        let hs = [party(&bar, &log, "x"), party(&bar, &log, "y")];
        for h in hs {
            h.await.unwrap();
        }
        // The leader yields at its schedule point: x (released) goes first.
        assert_eq!(log.take(), ["x wait", "y wait", "x go", "y go (leader)"]);
    });
}

#[test]
fn dropped_after_trip_changes_nothing() {
    run(async {
        let bar = Rc::new(Barrier::new(2));
        let log = Log::default();
        let mut w = bar.wait();
        assert!(poll_once(&mut w).await.is_none());
        assert!(bar.wait().await.is_leader());
        drop(w); // woken but never ran
        assert_eq!(
            bar.statistics(),
            BarrierStatistics {
                parties: 2,
                tasks_waiting: 0,
                generation: 1
            }
        );
        let hs = [party(&bar, &log, "a"), party(&bar, &log, "b")];
        for h in hs {
            h.await.unwrap();
        }
        // The leader yields at its schedule point: a (released) goes first.
        assert_eq!(log.take(), ["a wait", "b wait", "a go", "b go (leader)"]);
        assert_eq!(bar.statistics().generation, 2);
    });
}

#[test]
fn stress_random_cancels_one_leader_per_generation() {
    for seed in [5, 77, 31337] {
        run(async move {
            let mut rng = Rng::new(seed);
            let bar = Rc::new(Barrier::new(4));
            let leaders = Rc::new(Cell::new(0u64));
            let released = Rc::new(Cell::new(0u64));
            let mut tasks = Vec::new();
            for _ in 0..100 {
                let (b, l, r) = (bar.clone(), leaders.clone(), released.clone());
                let scope = CancelScope::new();
                let handle = scope.handle();
                tasks.push((
                    arbor_runtime::spawn(async move {
                        scope
                            .run(async {
                                let res = b.wait().await;
                                r.set(r.get() + 1);
                                if res.is_leader() {
                                    l.set(l.get() + 1);
                                }
                            })
                            .await
                            .is_ok()
                    }),
                    handle,
                ));
                if rng.below(3) == 0 {
                    let k = tasks.len() - 1 - rng.below(tasks.len().min(6) as u64) as usize;
                    tasks[k].1.cancel();
                }
                if rng.below(2) == 0 {
                    arbor_runtime::yield_now().await;
                }
            }
            settle().await;
            let stats = bar.statistics();
            // Leftover waiters (fewer than 4) never trip: cancel them.
            assert!(stats.tasks_waiting < 4);
            for (_, handle) in &tasks {
                handle.cancel();
            }
            let mut finished = 0;
            for (h, _) in tasks {
                finished += u64::from(h.await.unwrap());
            }
            assert_eq!(bar.statistics().tasks_waiting, 0);
            assert_eq!(leaders.get(), stats.generation, "one leader per generation");
            assert_eq!(released.get(), finished);
            assert!(finished <= 4 * stats.generation);
            assert!(100 - finished > 5, "the test cancels waiters");
        });
    }
}

#[test]
fn usize_max_parties_counts_arrivals_and_departures_exactly() {
    run(async {
        let bar = Barrier::new(usize::MAX);
        let mut a = Box::pin(bar.wait());
        let mut b = Box::pin(bar.wait());
        assert!(poll_once(&mut a).await.is_none());
        assert!(poll_once(&mut b).await.is_none());
        let stats = |waiting| BarrierStatistics {
            parties: usize::MAX,
            tasks_waiting: waiting,
            generation: 0,
        };
        assert_eq!(bar.statistics(), stats(2));
        drop(a);
        assert_eq!(bar.statistics(), stats(1));
        drop(b);
        assert_eq!(bar.statistics(), stats(0));
    });
}
