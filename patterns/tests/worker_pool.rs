//! `WorkerPool`: concurrency limit, backpressure, error routing, panic
//! containment, close/drain, cancellation, results. Virtual clock
//! throughout: every time asserted is an exact virtual duration.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::{NurseryError, move_on_after, nursery, supervisor};
use arbor_patterns::worker::{Closed, TrySubmitError, WorkerError, WorkerPool};
use arbor_primitives::channel;
use arbor_runtime::Runtime;
use arbor_runtime::time::{Instant, sleep};

fn rt() -> Runtime {
    Runtime::builder().virtual_clock().build().unwrap()
}

/// An ordered event log with virtual timestamps relative to its creation.
#[derive(Clone)]
struct Trace {
    log: Rc<RefCell<Vec<String>>>,
    start: Instant,
}

impl Trace {
    fn new() -> Self {
        Trace {
            log: Rc::default(),
            start: Instant::now(),
        }
    }

    fn ms(&self) -> u128 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_millis()
    }

    /// Log `event` with the virtual time since the trace began.
    fn at(&self, event: impl std::fmt::Display) {
        let line = format!("{event} @{}", self.ms());
        self.log.borrow_mut().push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.borrow_mut())
    }
}

/// Counts drops of the items it marks.
#[derive(Clone, Default)]
struct Drops(Rc<Cell<usize>>);

struct Item {
    id: u32,
    drops: Drops,
}

impl Drops {
    fn item(&self, id: u32) -> Item {
        Item {
            id,
            drops: self.clone(),
        }
    }

    fn count(&self) -> usize {
        self.0.get()
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        self.drops.0.set(self.drops.0.get() + 1);
    }
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn at_most_n_items_run_at_once() {
    rt().block_on(async {
        let trace = Trace::new();
        let running = Rc::new(Cell::new(0));
        let max = Rc::new(Cell::new(0));
        let (t, r, m) = (trace.clone(), running.clone(), max.clone());
        nursery(async |n| {
            let pool = WorkerPool::builder(3, 10, async move |x: u32| {
                r.set(r.get() + 1);
                m.set(m.get().max(r.get()));
                t.at(format_args!("start {x}"));
                sleep(SEC).await;
                r.set(r.get() - 1);
                Ok::<_, String>(())
            })
            .start(&n);
            for x in 0..7 {
                pool.submit(x).await.unwrap();
            }
            pool.close();
        })
        .await
        .unwrap();
        trace.at("nursery returned");
        assert_eq!(max.get(), 3);
        assert_eq!(
            trace.take(),
            [
                "start 0 @0",
                "start 1 @0",
                "start 2 @0",
                "start 3 @1000",
                "start 4 @1000",
                "start 5 @1000",
                "start 6 @2000",
                "nursery returned @3000",
            ]
        );
    });
}

#[test]
fn submit_waits_while_the_queue_is_full_and_resumes_when_a_worker_takes_an_item() {
    rt().block_on(async {
        let trace = Trace::new();
        let t = trace.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 1, async move |x: u32| {
                t.at(format_args!("start {x}"));
                sleep(SEC).await;
                Ok::<_, String>(())
            })
            .start(&n);
            for x in 0..4 {
                pool.submit(x).await.unwrap();
                trace.at(format_args!("submitted {x}"));
            }
        })
        .await
        .unwrap();
        // One item runs, one waits in the queue; the third submission
        // waits until the worker takes the second item (at 1 s), and so on.
        // The resumed submission logs before the worker's "start": the
        // worker's receive made room, then yielded at its schedule point.
        assert_eq!(
            trace.take(),
            [
                "submitted 0 @0",
                "start 0 @0",
                "submitted 1 @0",
                "submitted 2 @1000",
                "start 1 @1000",
                "submitted 3 @2000",
                "start 2 @2000",
                "start 3 @3000",
            ]
        );
    });
}

#[test]
fn try_submit_says_full_and_hands_the_item_back() {
    rt().block_on(async {
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 1, async |_: u32| Ok::<_, String>(())).start(&n);
            // The worker has not run yet: the queue's one slot fills.
            assert_eq!(pool.try_submit(0), Ok(()));
            assert_eq!(pool.queued(), 1);
            assert_eq!(pool.try_submit(1), Err(TrySubmitError::Full(1)));
        })
        .await
        .unwrap();
    });
}

#[test]
fn failures_go_to_on_error_and_the_pool_goes_on() {
    rt().block_on(async {
        let errors = Rc::new(RefCell::new(Vec::new()));
        let (results, outputs) = channel::unbounded();
        let log = errors.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(2, 8, async |x: u32| {
                sleep(SEC).await;
                if x.is_multiple_of(2) {
                    Err(format!("{x} is even"))
                } else {
                    Ok(x * 10)
                }
            })
            .on_error(move |e: WorkerError<String>| log.borrow_mut().push(format!("{e:?}")))
            .results(results)
            .start(&n);
            for x in 0..6 {
                pool.submit(x).await.unwrap();
            }
        })
        .await
        .unwrap();
        assert_eq!(
            *errors.borrow(),
            [
                r#"Failed("0 is even")"#,
                r#"Failed("2 is even")"#,
                r#"Failed("4 is even")"#,
            ]
        );
        let mut got = Vec::new();
        while let Ok(y) = outputs.recv().await {
            got.push(y);
        }
        assert_eq!(got, [10, 30, 50]);
    });
}

#[test]
fn a_panic_is_contained_to_its_item_and_reported() {
    rt().block_on(async {
        let errors = Rc::new(RefCell::new(Vec::new()));
        let (results, outputs) = channel::unbounded();
        let log = errors.clone();
        nursery(async |n| {
            // A plain closure: item 4 panics making its future, item 2
            // while its future is polled (after a suspension).
            let pool = WorkerPool::builder(2, 8, |x: u32| {
                if x == 4 {
                    panic!("boom making {x}");
                }
                async move {
                    sleep(SEC).await;
                    if x == 2 {
                        panic!("boom polling {x}");
                    }
                    Ok::<_, String>(x)
                }
            })
            .on_error(move |e: WorkerError<String>| {
                log.borrow_mut()
                    .push((e.is_panic(), e.panic_message().map(str::to_owned)))
            })
            .results(results)
            .start(&n);
            for x in 0..6 {
                pool.submit(x).await.unwrap();
            }
        })
        .await
        .unwrap();
        let panicked = |m: &str| (true, Some(m.to_owned()));
        assert_eq!(
            *errors.borrow(),
            [panicked("boom polling 2"), panicked("boom making 4")]
        );
        let mut got = Vec::new();
        while let Ok(y) = outputs.recv().await {
            got.push(y);
        }
        assert_eq!(got, [0, 1, 3, 5]);
    });
}

#[test]
fn without_on_error_the_first_failure_stops_the_pool_and_fails_the_nursery() {
    rt().block_on(async {
        let trace = Trace::new();
        let drops = Drops::default();
        let t = trace.clone();
        let out = nursery(async |n| {
            let pool = WorkerPool::builder(2, 4, async move |item: Item| {
                if item.id == 0 {
                    sleep(SEC).await;
                    return Err(format!("item {} failed", item.id));
                }
                sleep(3600 * SEC).await;
                t.at(format_args!("done {}", item.id));
                Ok(())
            })
            .start(&n);
            for id in 0..4 {
                pool.submit(drops.item(id)).await.unwrap();
            }
            sleep(3600 * SEC).await;
        })
        .await;
        trace.at("nursery returned");
        let Err(NurseryError::Failed(group)) = out else {
            panic!("expected the pool's failure, got {out:?}");
        };
        let failures = group.failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].task(), Some("worker-pool[0]"));
        let error = failures[0]
            .error()
            .downcast_ref::<WorkerError<String>>()
            .expect("the failure is the item's WorkerError");
        assert_eq!(format!("{error:?}"), r#"Failed("item 0 failed")"#);
        // Item 0 failed, item 1 (in flight) and items 2, 3 (queued) were
        // dropped when the pool stopped; none completed.
        assert_eq!(drops.count(), 4);
        assert_eq!(trace.take(), ["nursery returned @1000"]);
    });
}

#[test]
fn without_on_error_a_failure_stops_the_whole_pool_even_under_a_supervisor() {
    rt().block_on(async {
        let trace = Trace::new();
        let drops = Drops::default();
        let t = trace.clone();
        let out = supervisor(async |n| {
            let t2 = trace.clone();
            n.spawn(async move {
                sleep(2 * SEC).await;
                t2.at("sibling done");
            });
            let pool = WorkerPool::builder(2, 4, async move |item: Item| {
                if item.id == 0 {
                    sleep(SEC).await;
                    return Err(format!("item {} failed", item.id));
                }
                sleep(3600 * SEC).await;
                t.at(format_args!("done {}", item.id));
                Ok(())
            })
            .name("resize")
            .start(&n);
            for id in 0..3 {
                pool.submit(drops.item(id)).await.unwrap();
            }
            // The supervisor does not cancel its body: it sees the pool
            // gone (items 0..3 dropped) and its intake refusing items. (The
            // timeout turns a pool that kept running into a failure, not a
            // hang: its last worker would wait for items forever.)
            move_on_after(10 * SEC, pool.join())
                .await
                .expect("the failure stopped every worker");
            let out = pool.submit(drops.item(3)).await.map_err(Closed::into_inner);
            trace.at(format_args!(
                "joined, {} dropped, submit gives item {} back",
                drops.count(),
                out.unwrap_err().id
            ));
        })
        .await;
        trace.at("supervisor returned");
        let Err(NurseryError::Failed(group)) = out else {
            panic!("expected the pool's failure, got {out:?}");
        };
        let tasks: Vec<_> = group.failures().iter().map(|f| f.task()).collect();
        assert_eq!(tasks, [Some("resize[0]")]);
        assert_eq!(
            trace.take(),
            [
                "joined, 3 dropped, submit gives item 3 back @1000",
                "sibling done @2000",
                "supervisor returned @2000",
            ]
        );
    });
}

#[test]
fn close_drains_the_queued_items_then_the_nursery_returns() {
    rt().block_on(async {
        let trace = Trace::new();
        let kept = Rc::new(RefCell::new(None));
        let t = trace.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 5, async move |x: u32| {
                sleep(SEC).await;
                t.at(format_args!("done {x}"));
                Ok::<_, String>(())
            })
            .start(&n);
            for x in 0..5 {
                pool.submit(x).await.unwrap();
            }
            pool.close();
            trace.at(format_args!("closed, {} queued", pool.queued()));
            *kept.borrow_mut() = Some(pool.clone());
            pool.join().await;
            trace.at(format_args!("joined, {} live workers", pool.live_workers()));
        })
        .await
        .unwrap();
        trace.at("nursery returned");
        assert_eq!(
            trace.take(),
            [
                "closed, 4 queued @0",
                "done 0 @1000",
                "done 1 @2000",
                "done 2 @3000",
                "done 3 @4000",
                "done 4 @5000",
                "joined, 0 live workers @5000",
                "nursery returned @5000",
            ]
        );
        // A handle kept past the nursery: the item comes back.
        let pool = kept.borrow_mut().take().unwrap();
        assert!(pool.is_closed() && pool.is_finished());
        assert_eq!(pool.submit(9).await, Err(Closed(9)));
    });
}

#[test]
fn dropping_every_handle_closes_the_pool() {
    rt().block_on(async {
        let trace = Trace::new();
        let t = trace.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(2, 4, async move |x: u32| {
                sleep(SEC).await;
                t.at(format_args!("done {x}"));
                Ok::<_, String>(())
            })
            .start(&n);
            for x in 0..3 {
                pool.submit(x).await.unwrap();
            }
            // No close(): the body returns and drops the handle.
        })
        .await
        .unwrap();
        trace.at("nursery returned");
        assert_eq!(
            trace.take(),
            [
                "done 0 @1000",
                "done 1 @1000",
                "done 2 @2000",
                "nursery returned @2000"
            ]
        );
    });
}

#[test]
fn submit_after_close_hands_the_item_back() {
    rt().block_on(async {
        let drops = Drops::default();
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 4, async |_: Item| Ok::<_, String>(())).start(&n);
            pool.close();
            assert!(pool.is_closed());
            let Err(Closed(item)) = pool.submit(drops.item(7)).await else {
                panic!("a closed pool took an item");
            };
            assert_eq!(item.id, 7);
            let Err(TrySubmitError::Closed(item2)) = pool.try_submit(drops.item(8)) else {
                panic!("a closed pool took an item");
            };
            assert_eq!(item2.id, 8);
            // Handed back, not dropped.
            assert_eq!(drops.count(), 0);
        })
        .await
        .unwrap();
    });
}

#[test]
fn close_wakes_a_waiting_submit_with_its_item_back() {
    rt().block_on(async {
        let trace = Trace::new();
        let t = trace.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 1, async move |x: u32| {
                sleep(10 * SEC).await;
                t.at(format_args!("done {x}"));
                Ok::<_, String>(())
            })
            .start(&n);
            pool.submit(0).await.unwrap();
            pool.submit(1).await.unwrap();
            let (p, t) = (pool.clone(), trace.clone());
            n.spawn(async move {
                let out = p.submit(2).await;
                t.at(format_args!("submit 2: {out:?}"));
            });
            sleep(SEC).await;
            trace.at("close");
            pool.close();
        })
        .await
        .unwrap();
        assert_eq!(
            trace.take(),
            [
                "close @1000",
                "submit 2: Err(Closed(..)) @1000",
                "done 0 @10000",
                "done 1 @20000",
            ]
        );
    });
}

#[test]
fn cancelling_the_nursery_cancels_in_flight_work_and_the_nursery_returns() {
    rt().block_on(async {
        let trace = Trace::new();
        let drops = Drops::default();
        let t = trace.clone();
        let out = nursery(async |n| {
            let pool = WorkerPool::builder(2, 2, async move |item: Item| {
                t.at(format_args!("start {}", item.id));
                sleep(3600 * SEC).await;
                t.at(format_args!("done {}", item.id));
                Ok::<_, String>(())
            })
            .start(&n);
            for id in 0..4 {
                pool.submit(drops.item(id)).await.unwrap();
            }
            let scope = n.cancel_scope();
            let t = trace.clone();
            n.spawn(async move {
                sleep(SEC).await;
                t.at("cancel");
                scope.cancel();
            });
            pool.join().await;
        })
        .await;
        trace.at(format_args!("nursery returned, {} dropped", drops.count()));
        assert!(matches!(out, Err(NurseryError::Cancelled)), "{out:?}");
        assert_eq!(
            trace.take(),
            [
                "start 0 @0",
                "start 1 @0",
                "cancel @1000",
                "nursery returned, 4 dropped @1000",
            ]
        );
    });
}

#[test]
fn pool_cancel_stops_its_workers_and_not_the_nursery() {
    rt().block_on(async {
        let trace = Trace::new();
        let drops = Drops::default();
        let t = trace.clone();
        nursery(async |n| {
            let t2 = trace.clone();
            n.spawn(async move {
                sleep(2 * SEC).await;
                t2.at("sibling done");
            });
            let pool = WorkerPool::builder(2, 2, async move |item: Item| {
                sleep(3600 * SEC).await;
                t.at(format_args!("done {}", item.id));
                Ok::<_, String>(())
            })
            .start(&n);
            for id in 0..4 {
                pool.submit(drops.item(id)).await.unwrap();
            }
            sleep(SEC).await;
            pool.cancel();
            pool.join().await;
            trace.at(format_args!("joined, {} dropped", drops.count()));
            let Err(Closed(item)) = pool.submit(drops.item(9)).await else {
                panic!("a cancelled pool took an item");
            };
            assert_eq!(item.id, 9);
        })
        .await
        .unwrap();
        trace.at("nursery returned");
        assert_eq!(
            trace.take(),
            [
                "joined, 4 dropped @1000",
                "sibling done @2000",
                "nursery returned @2000",
            ]
        );
    });
}

#[test]
fn a_submit_cancelled_while_waiting_drops_its_item_and_nothing_else() {
    rt().block_on(async {
        let trace = Trace::new();
        let drops = Drops::default();
        let t = trace.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 1, async move |item: Item| {
                sleep(SEC).await;
                t.at(format_args!("done {}", item.id));
                Ok::<_, String>(())
            })
            .start(&n);
            pool.submit(drops.item(0)).await.unwrap();
            pool.submit(drops.item(1)).await.unwrap();
            // The queue is full: this submission waits, and is cancelled.
            let out = move_on_after(Duration::from_millis(500), pool.submit(drops.item(2))).await;
            assert!(out.is_none());
            trace.at(format_args!(
                "submit 2 cancelled, {} dropped",
                drops.count()
            ));
            pool.submit(drops.item(3)).await.unwrap();
            trace.at("submitted 3");
        })
        .await
        .unwrap();
        assert_eq!(
            trace.take(),
            [
                "submit 2 cancelled, 1 dropped @500",
                "done 0 @1000",
                "submitted 3 @1000",
                "done 1 @2000",
                "done 3 @3000",
            ]
        );
        assert_eq!(drops.count(), 4);
    });
}

#[test]
fn a_full_results_channel_holds_the_workers_back() {
    rt().block_on(async {
        let trace = Trace::new();
        let (results, outputs) = channel::bounded(1);
        let t = trace.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(1, 4, async move |x: u32| {
                t.at(format_args!("start {x}"));
                Ok::<_, String>(x)
            })
            .results(results)
            .start(&n);
            for x in 0..3 {
                pool.submit(x).await.unwrap();
            }
            pool.close();
            // Nobody reads until 5 s: output 0 fills the channel, the
            // worker waits with output 1, item 2 waits in the queue.
            sleep(5 * SEC).await;
            while let Ok(y) = outputs.recv().await {
                trace.at(format_args!("got {y}"));
            }
        })
        .await
        .unwrap();
        assert_eq!(
            trace.take(),
            [
                "start 0 @0",
                "start 1 @0",
                "got 0 @5000",
                "start 2 @5000",
                "got 1 @5000",
                "got 2 @5000",
            ]
        );
    });
}

#[test]
#[should_panic(expected = "at least 1 worker")]
fn zero_workers_is_refused() {
    let _ = WorkerPool::builder(0, 1, async |_: u32| Ok::<_, String>(()));
}

/// Run by `nothing_is_printed`, in a child process with output not
/// captured and a silent panic hook: failures and panics of items, with
/// and without an error handler, between two markers on stdout.
#[test]
#[ignore = "run by nothing_is_printed in a child process"]
fn print_probe() {
    std::panic::set_hook(Box::new(|_| {}));
    println!("<<probe begins>>");
    rt().block_on(async {
        let handled = Rc::new(Cell::new(0));
        let h = handled.clone();
        nursery(async |n| {
            let pool = WorkerPool::builder(2, 4, async |x: u32| {
                if x == 1 {
                    panic!("probe-panic");
                }
                Err::<(), _>(format!("probe-error {x}"))
            })
            .on_error(move |_: WorkerError<String>| h.set(h.get() + 1))
            .start(&n);
            for x in 0..3 {
                pool.submit(x).await.unwrap();
            }
        })
        .await
        .unwrap();
        assert_eq!(handled.get(), 3);
        for x in 0..2 {
            let out = nursery(async |n| {
                let pool = WorkerPool::builder(1, 1, async |x: u32| {
                    if x == 1 {
                        panic!("probe-panic");
                    }
                    Err::<(), _>(format!("probe-error {x}"))
                })
                .start(&n);
                pool.submit(x).await.unwrap();
            })
            .await;
            assert!(matches!(out, Err(NurseryError::Failed(_))));
        }
    });
    println!("<<probe ends>>");
}

#[test]
fn nothing_is_printed() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "print_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let (_, rest) = stdout.split_once("<<probe begins>>\n").expect("probe ran");
    let (between, _) = rest.split_once("<<probe ends>>").expect("probe ended");
    assert_eq!(between, "");
    assert!(
        !stderr.contains("probe-"),
        "the pool wrote to stderr: {stderr}"
    );
}
