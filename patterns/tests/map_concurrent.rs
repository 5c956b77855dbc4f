//! `map_concurrent`, `try_map_concurrent` and `map_concurrent_unordered`:
//! order, the in-flight bound, fail fast, cancellation and drops, on the
//! virtual clock.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::{move_on_after, shield};
use arbor_patterns::{map_concurrent, map_concurrent_unordered, try_map_concurrent};
use arbor_runtime::Runtime;
use arbor_runtime::time::{Instant, sleep};

type Log = Rc<RefCell<Vec<String>>>;

fn rt() -> Runtime {
    Runtime::builder().virtual_clock().build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Logs `start i` when made and, when dropped before `finish`, `drop i`;
/// `finish` logs `end i` (or what it is given) with the time since `t0`.
struct Probe {
    log: Log,
    id: usize,
    finished: bool,
}

impl Probe {
    fn new(log: &Log, id: usize) -> Probe {
        log.borrow_mut().push(format!("start {id}"));
        Probe {
            log: log.clone(),
            id,
            finished: false,
        }
    }

    fn finish(mut self, what: &str, t0: Instant) {
        let at = (Instant::now() - t0).as_millis();
        self.log
            .borrow_mut()
            .push(format!("{what} {} @{at}", self.id));
        self.finished = true;
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if !self.finished {
            self.log.borrow_mut().push(format!("drop {}", self.id));
        }
    }
}

fn log_of(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

#[test]
fn results_come_in_input_order_and_items_start_as_slots_free() {
    let log: Log = Rc::default();
    let (out, elapsed) = rt().block_on(async {
        let t0 = Instant::now();
        // (id, duration): limit 2, so 2 starts when 1 ends (30 ms), 3
        // when 0 ends (50 ms).
        let jobs = [(0, 50), (1, 30), (2, 40), (3, 10)];
        let out = map_concurrent(jobs, 2, |(id, d)| {
            let probe = Probe::new(&log, id);
            async move {
                sleep(ms(d)).await;
                probe.finish("end", t0);
                Ok::<_, ()>(id * 10)
            }
        })
        .await;
        (out, Instant::now() - t0)
    });
    assert_eq!(out, Ok(vec![0, 10, 20, 30]));
    assert_eq!(elapsed, ms(70));
    assert_eq!(
        log_of(&log),
        [
            "start 0",
            "start 1",
            "end 1 @30",
            "start 2",
            "end 0 @50",
            "start 3",
            "end 3 @60",
            "end 2 @70"
        ]
    );
}

#[test]
fn never_more_than_limit_futures_exist() {
    let (live, max, made) = (
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(0)),
    );
    struct Alive(Rc<Cell<usize>>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }
    let out = rt().block_on(map_concurrent(0..20u64, 3, |i| {
        // Counted when the future is made, not when first polled.
        live.set(live.get() + 1);
        max.set(max.get().max(live.get()));
        made.set(made.get() + 1);
        let alive = Alive(live.clone());
        async move {
            sleep(ms(1 + i % 4)).await;
            drop(alive);
            Ok::<_, ()>(i)
        }
    }));
    assert_eq!(out, Ok((0..20).collect::<Vec<_>>()));
    assert_eq!((max.get(), made.get(), live.get()), (3, 20, 0));
}

#[test]
fn first_failure_returns_when_it_happens_and_drops_the_rest() {
    let log: Log = Rc::default();
    let (out, elapsed) = rt().block_on(async {
        let t0 = Instant::now();
        // 1 fails at 20 ms; 2 and 3 are in flight then; 4 and 5 never start.
        let jobs = [
            (0, 10, true),
            (1, 20, false),
            (2, 50, true),
            (3, 1000, true),
        ]
        .into_iter()
        .chain([(4, 1, true), (5, 1, true)]);
        let out = map_concurrent(jobs, 3, |(id, d, ok)| {
            let probe = Probe::new(&log, id);
            async move {
                sleep(ms(d)).await;
                if ok {
                    probe.finish("end", t0);
                    Ok(id)
                } else {
                    probe.finish("fail", t0);
                    Err(format!("item {id} failed"))
                }
            }
        })
        .await;
        (out, Instant::now() - t0)
    });
    assert_eq!(out, Err("item 1 failed".to_string()));
    assert_eq!(elapsed, ms(20));
    // Dropped in slot order: 3 took the slot 0 freed.
    assert_eq!(
        log_of(&log),
        [
            "start 0",
            "start 1",
            "start 2",
            "end 0 @10",
            "start 3",
            "fail 1 @20",
            "drop 3",
            "drop 2"
        ]
    );
}

#[test]
fn a_failure_in_the_first_poll_returns_at_once() {
    let log: Log = Rc::default();
    let (out, elapsed) = rt().block_on(async {
        let t0 = Instant::now();
        let out = map_concurrent(0..4, 4, |id| {
            let probe = Probe::new(&log, id);
            async move {
                if id == 1 {
                    probe.finish("fail", t0);
                    return Err(id);
                }
                sleep(ms(100)).await;
                probe.finish("end", t0);
                Ok(id)
            }
        })
        .await;
        (out, Instant::now() - t0)
    });
    assert_eq!(out, Err(1));
    assert_eq!(elapsed, Duration::ZERO);
    // 2 and 3 were made (the slots were free) but 1 failed in its first
    // poll, before either was polled; all are dropped at once.
    assert_eq!(
        log_of(&log),
        [
            "start 0",
            "start 1",
            "start 2",
            "start 3",
            "fail 1 @0",
            "drop 0",
            "drop 2",
            "drop 3"
        ]
    );
}

#[test]
fn a_shielded_part_of_a_sibling_finishes_before_the_failure_returns() {
    let log: Log = Rc::default();
    let (out, elapsed) = rt().block_on(async {
        let t0 = Instant::now();
        let out = map_concurrent([0, 1], 2, |id| {
            let log = log.clone();
            async move {
                if id == 0 {
                    shield(sleep(ms(30))).await;
                    log.borrow_mut().push(format!(
                        "cleanup done @{}",
                        (Instant::now() - t0).as_millis()
                    ));
                    sleep(ms(1000)).await;
                    log.borrow_mut().push("unreachable".into());
                    return Ok(());
                }
                sleep(ms(10)).await;
                Err("failed")
            }
        })
        .await;
        (out, Instant::now() - t0)
    });
    assert_eq!(out, Err("failed"));
    assert_eq!(elapsed, ms(30));
    assert_eq!(log_of(&log), ["cleanup done @30"]);
}

#[test]
fn try_map_collects_every_result_in_input_order() {
    let log: Log = Rc::default();
    let out = rt().block_on(async {
        let t0 = Instant::now();
        try_map_concurrent(0..5, 2, |id| {
            let probe = Probe::new(&log, id);
            async move {
                sleep(ms([50, 40, 25, 12, 10][id])).await;
                probe.finish("end", t0);
                if id % 2 == 0 {
                    Ok(id)
                } else {
                    Err(format!("e{id}"))
                }
            }
        })
        .await
    });
    assert_eq!(
        out,
        [Ok(0), Err("e1".into()), Ok(2), Err("e3".into()), Ok(4)]
    );
    assert_eq!(
        log_of(&log),
        [
            "start 0",
            "start 1",
            "end 1 @40",
            "start 2",
            "end 0 @50",
            "start 3",
            "end 3 @62",
            "start 4",
            "end 2 @65",
            "end 4 @72"
        ]
    );
}

#[test]
fn cancelling_the_callers_scope_drops_everything_in_flight() {
    let log: Log = Rc::default();
    let (out, elapsed) = rt().block_on(async {
        let t0 = Instant::now();
        let out = move_on_after(
            ms(25),
            map_concurrent(0..6, 2, |id| {
                let probe = Probe::new(&log, id);
                async move {
                    sleep(ms(20)).await;
                    probe.finish("end", t0);
                    Ok::<_, ()>(id)
                }
            }),
        )
        .await;
        (out, Instant::now() - t0)
    });
    assert_eq!(out, None);
    assert_eq!(elapsed, ms(25));
    assert_eq!(
        log_of(&log),
        [
            "start 0",
            "start 1",
            "end 0 @20",
            "start 2",
            "end 1 @20",
            "start 3",
            "drop 2",
            "drop 3"
        ]
    );
}

#[test]
fn a_cancelled_caller_starts_no_item() {
    let made = Cell::new(0);
    let out = rt().block_on(async {
        let scope = arbor_nursery::CancelScope::new();
        scope.cancel();
        scope
            .run(map_concurrent(0..3, 2, |i| {
                made.set(made.get() + 1);
                async move { Ok::<_, ()>(i) }
            }))
            .await
    });
    assert!(out.is_err());
    assert_eq!(made.get(), 0);
}

#[test]
fn a_panicking_item_propagates_and_drops_its_siblings() {
    let log: Log = Rc::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        rt().block_on(map_concurrent(0..3, 3, |id| {
            let probe = Probe::new(&log, id);
            async move {
                sleep(ms(10 * (id as u64 + 1))).await;
                if id == 0 {
                    panic!("item 0 panicked");
                }
                probe.finish("end", Instant::now());
                Ok::<_, ()>(id)
            }
        }))
    }));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"item 0 panicked"));
    assert_eq!(
        log_of(&log),
        [
            "start 0", "start 1", "start 2", "drop 0", "drop 1", "drop 2"
        ]
    );
}

#[test]
fn no_items_is_an_empty_vec() {
    let out = rt().block_on(map_concurrent(Vec::<u32>::new(), 4, |i| async move {
        Ok::<_, ()>(i)
    }));
    assert_eq!(out, Ok(vec![]));
}

#[test]
#[should_panic(expected = "limit must be at least 1")]
fn a_limit_of_zero_panics_at_the_call() {
    drop(map_concurrent(0..3, 0, |i| async move { Ok::<_, ()>(i) }));
}

#[test]
fn the_stream_yields_in_completion_order_with_input_indices() {
    let (order, times) = rt().block_on(async {
        let t0 = Instant::now();
        let mut stream = map_concurrent_unordered([40u64, 10, 35, 20], 2, |d| async move {
            sleep(ms(d)).await;
            d
        });
        let (mut order, mut times) = (Vec::new(), Vec::new());
        while let Some(pair) = stream.next().await {
            order.push(pair);
            times.push((Instant::now() - t0).as_millis());
        }
        assert!(stream.next().await.is_none());
        (order, times)
    });
    // limit 2: 2 starts at 10 (ends at 45), 3 at 40 (ends at 60).
    assert_eq!(order, [(1, 10), (0, 40), (2, 35), (3, 20)]);
    assert_eq!(times, [10, 40, 45, 60]);
}

#[test]
fn dropping_the_stream_drops_what_is_in_flight() {
    let log: Log = Rc::default();
    rt().block_on(async {
        let t0 = Instant::now();
        let mut stream = map_concurrent_unordered(0..10, 3, |id| {
            let probe = Probe::new(&log, id);
            async move {
                sleep(ms(10 * (id as u64 + 1))).await;
                probe.finish("end", t0);
                id
            }
        });
        assert_eq!(stream.next().await, Some((0, 0)));
        assert_eq!(stream.in_flight(), 2);
        drop(stream);
        // Nothing of it runs on.
        sleep(ms(1000)).await;
    });
    assert_eq!(
        log_of(&log),
        [
            "start 0",
            "start 1",
            "start 2",
            "end 0 @10",
            "drop 1",
            "drop 2"
        ]
    );
}

#[test]
fn an_item_yielding_in_a_loop_lets_other_tasks_run() {
    let log: Log = Rc::default();
    rt().block_on(async {
        let other = {
            let log = log.clone();
            arbor_runtime::spawn(async move {
                for i in 0..3 {
                    log.borrow_mut().push(format!("task {i}"));
                    arbor_runtime::yield_now().await;
                }
            })
        };
        let out = map_concurrent([()], 1, |()| async {
            for i in 0..3 {
                log.borrow_mut().push(format!("item {i}"));
                arbor_runtime::yield_now().await;
            }
            Ok::<_, ()>(())
        })
        .await;
        assert_eq!(out, Ok(vec![()]));
        other.await.unwrap();
    });
    // Each yield of the item is a real yield of the task that polls it.
    assert_eq!(
        log_of(&log),
        ["task 0", "item 0", "task 1", "item 1", "task 2", "item 2"]
    );
}

#[test]
fn maps_nest() {
    let (out, elapsed) = rt().block_on(async {
        let t0 = Instant::now();
        let out = map_concurrent(1..=3u64, 2, |i| {
            map_concurrent(1..=4u64, 2, move |j| async move {
                sleep(ms(10 * i)).await;
                Ok::<_, ()>(i * j)
            })
        })
        .await;
        (out, Instant::now() - t0)
    });
    assert_eq!(
        out,
        Ok(vec![vec![1, 2, 3, 4], vec![2, 4, 6, 8], vec![3, 6, 9, 12]])
    );
    // Inner maps take 2 rounds: 20, 40 and 60 ms; 3 starts when 1 ends.
    assert_eq!(elapsed, ms(80));
}

/// Ready once another thread has set its flag and woken it.
struct WokenFromThread {
    state: std::sync::Arc<std::sync::Mutex<(bool, Option<std::task::Waker>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::future::Future for WokenFromThread {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            return std::task::Poll::Ready(());
        }
        state.1 = Some(cx.waker().clone());
        drop(state);
        if self.thread.is_none() {
            let shared = self.state.clone();
            self.thread = Some(std::thread::spawn(move || {
                let mut state = shared.lock().unwrap();
                state.0 = true;
                let waker = state.1.take();
                drop(state);
                waker.unwrap().wake();
            }));
        }
        std::task::Poll::Pending
    }
}

#[test]
fn an_item_woken_from_another_thread_completes() {
    let out = arbor_runtime::run(map_concurrent(0..4, 2, |i| async move {
        WokenFromThread {
            state: Default::default(),
            thread: None,
        }
        .await;
        Ok::<_, ()>(i)
    }));
    assert_eq!(out, Ok(vec![0, 1, 2, 3]));
}
