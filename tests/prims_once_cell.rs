//! OnceCell: one initializer at a time, FIFO turns, cancellation and panics.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::CancelScope;
use arbor_primitives::{OnceCell, OnceCellStatistics};
use futures_lite::future::poll_once;
use support::prims::{Log, Rng, run, settle};

fn initializer(
    cell: &Rc<OnceCell<String>>,
    log: &Log,
    name: &str,
) -> arbor_runtime::JoinHandle<String> {
    let (cell, log, name) = (cell.clone(), log.clone(), name.to_string());
    arbor_runtime::spawn(async move {
        log.push(format!("{name} call"));
        let v = cell
            .get_or_init(|| async {
                log.push(format!("{name} init"));
                arbor_runtime::time::sleep(Duration::from_secs(1)).await;
                name.clone()
            })
            .await;
        log.push(format!("{name} got {v}"));
        v.clone()
    })
}

#[test]
fn one_initializer_others_wait_then_share() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        let log = Log::default();
        let hs = [
            initializer(&cell, &log, "a"),
            initializer(&cell, &log, "b"),
            initializer(&cell, &log, "c"),
        ];
        settle().await;
        assert_eq!(
            cell.statistics(),
            OnceCellStatistics {
                initialized: false,
                initializing: true,
                tasks_waiting: 2
            }
        );
        for h in hs {
            assert_eq!(h.await.unwrap(), "a");
        }
        assert_eq!(
            log.take(),
            [
                "a call", "a init", "b call", "c call", "a got a", "b got a", "c got a"
            ]
        );
        assert_eq!(
            cell.statistics(),
            OnceCellStatistics {
                initialized: true,
                initializing: false,
                tasks_waiting: 0
            }
        );
        assert_eq!(cell.get().map(String::as_str), Some("a"));
    });
}

#[test]
fn cancelled_initializer_lets_the_next_run_its_own() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        let log = Log::default();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let first = {
            let (cell, log) = (cell.clone(), log.clone());
            arbor_runtime::spawn(async move {
                scope
                    .run(async {
                        cell.get_or_init(|| async {
                            log.push("x init");
                            std::future::pending::<String>().await
                        })
                        .await
                        .clone()
                    })
                    .await
            })
        };
        settle().await;
        let hs = [initializer(&cell, &log, "b"), initializer(&cell, &log, "c")];
        settle().await;
        handle.cancel();
        assert!(first.await.unwrap().is_err());
        for h in hs {
            assert_eq!(h.await.unwrap(), "b");
        }
        assert_eq!(
            log.take(),
            ["x init", "b call", "c call", "b init", "b got b", "c got b"]
        );
    });
}

#[test]
fn turn_granted_then_dropped_passes_it_on() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        let log = Log::default();
        let mut first =
            Box::pin(cell.get_or_init(|| async { std::future::pending::<String>().await }));
        assert!(poll_once(&mut first).await.is_none());
        let mut second =
            Box::pin(cell.get_or_init(|| async { unreachable!("dropped before running") }));
        assert!(poll_once(&mut second).await.is_none());
        let h = initializer(&cell, &log, "c");
        settle().await;
        drop(first); // grants the turn to `second`
        assert_eq!(cell.statistics().tasks_waiting, 1);
        drop(second); // granted, never ran: passes it to c
        assert_eq!(h.await.unwrap(), "c");
        assert_eq!(log.take(), ["c call", "c init", "c got c"]);
    });
}

#[test]
fn panicking_initializer_hands_on() {
    run(async {
        let cell = Rc::new(OnceCell::<String>::new());
        let log = Log::default();
        let c2 = cell.clone();
        let p = arbor_runtime::spawn(async move {
            c2.get_or_init(|| async {
                arbor_runtime::yield_now().await;
                panic!("init failed")
            })
            .await
            .len()
        });
        settle().await;
        let h = initializer(&cell, &log, "b");
        assert!(p.await.is_err());
        assert_eq!(h.await.unwrap(), "b");
    });
}

#[test]
fn failed_try_init_and_set_and_into_inner() {
    run(async {
        let cell = OnceCell::new();
        assert_eq!(
            cell.get_or_try_init(|| async { Err::<u32, _>("nope") })
                .await,
            Err("nope")
        );
        assert!(!cell.initialized() && !cell.statistics().initializing);
        assert_eq!(
            cell.get_or_try_init(|| async { Ok::<_, ()>(1) }).await,
            Ok(&1)
        );
        assert_eq!(cell.set(2), Err(2));
        let mut cell = cell;
        *cell.get_mut().unwrap() += 1;
        assert_eq!(cell.into_inner(), Some(2));
        assert_eq!(OnceCell::<u8>::new().into_inner(), None);
    });
}

#[test]
fn set_while_initializing_wins_and_releases_waiters() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        let log = Log::default();
        let hs = [initializer(&cell, &log, "a"), initializer(&cell, &log, "b")];
        settle().await;
        cell.set("s".to_string()).unwrap();
        for h in hs {
            assert_eq!(h.await.unwrap(), "s");
        }
        assert_eq!(
            log.take(),
            ["a call", "a init", "b call", "b got s", "a got s"]
        );
        assert_eq!(
            cell.statistics(),
            OnceCellStatistics {
                initialized: true,
                initializing: false,
                tasks_waiting: 0
            }
        );
    });
}

#[test]
fn stress_random_cancels_init_runs_until_one_succeeds() {
    for seed in [11, 202, 9001] {
        run(async move {
            let mut rng = Rng::new(seed);
            let cell = Rc::new(OnceCell::new());
            let running = Rc::new(Cell::new(0u32));
            let mut tasks = Vec::new();
            for i in 0..50u32 {
                let (c, r) = (cell.clone(), running.clone());
                let hold = rng.below(4);
                let scope = CancelScope::new();
                let handle = scope.handle();
                tasks.push((
                    arbor_runtime::spawn(async move {
                        scope
                            .run(async {
                                *c.get_or_init(|| async {
                                    r.set(r.get() + 1);
                                    assert_eq!(r.get(), 1, "two initializers at once");
                                    let _down = Down(r.clone());
                                    for _ in 0..hold {
                                        arbor_runtime::yield_now().await;
                                    }
                                    i
                                })
                                .await
                            })
                            .await
                            .ok()
                    }),
                    handle,
                ));
                if rng.below(2) == 0 {
                    let k = tasks.len() - 1 - rng.below(tasks.len().min(4) as u64) as usize;
                    tasks[k].1.cancel();
                }
                arbor_runtime::yield_now().await;
            }
            let mut results = Vec::new();
            for (h, _) in tasks {
                results.extend(h.await.unwrap());
            }
            let value = *cell.get().expect("someone initialized it");
            assert!(results.iter().all(|&v| v == value));
            assert_eq!(
                cell.statistics(),
                OnceCellStatistics {
                    initialized: true,
                    initializing: false,
                    tasks_waiting: 0
                }
            );
            assert!(results.len() < 50, "some were cancelled");
        });
    }
}

struct Down(Rc<Cell<u32>>);

impl Drop for Down {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
