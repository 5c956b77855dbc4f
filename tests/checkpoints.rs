//! Every awaited arbor operation is a checkpoint (issue 11): a cancel
//! point, then a schedule point even when it did not have to wait, and
//! nothing taken is lost at that yield. Exact traces on the virtual clock.

mod support;

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use arbor::time::{self, sleep};
use arbor::{CancelScope, ChildError, NurseryError, nursery};
use futures_lite::StreamExt;
use support::{Trace, virtual_rt};

const SEC: Duration = Duration::from_secs(1);

/// Run `body(name, trace)` in tasks "a", "b" and "c", spawned in that
/// order, and return the trace.
fn three_tasks<F>(body: impl Fn(&'static str, Trace) -> F) -> Vec<String>
where
    F: std::future::Future<Output = ()> + 'static,
{
    let trace = Trace::new();
    virtual_rt().block_on(async {
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| arbor::spawn(body(name, trace.clone())))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    trace.events()
}

const INTERLEAVED: [&str; 6] = ["a0", "b0", "c0", "a1", "b1", "c1"];

#[test]
fn an_empty_nurserys_exit_is_a_schedule_point() {
    let trace = three_tasks(|name, trace| async move {
        for i in 0..2 {
            nursery(async |_| {}).await.unwrap();
            trace.log(format!("{name}{i}"));
        }
    });
    assert_eq!(trace, INTERLEAVED);
}

#[test]
fn awaiting_a_finished_childs_handle_is_a_schedule_point() {
    let trace = three_tasks(|name, trace| async move {
        nursery(async |n| {
            let children: Vec<_> = (0..2).map(|i| n.spawn(async move { i })).collect();
            // Let both children finish, so their handles are ready.
            arbor::yield_now().await;
            arbor::yield_now().await;
            for child in children {
                let i = child.await.unwrap();
                trace.log(format!("{name}{i}"));
            }
        })
        .await
        .unwrap();
    });
    assert_eq!(trace, INTERLEAVED);
}

#[test]
fn awaiting_a_finished_tasks_join_handle_is_a_schedule_point() {
    let trace = three_tasks(|name, trace| async move {
        let tasks: Vec<_> = (0..2).map(|i| arbor::spawn(async move { i })).collect();
        arbor::yield_now().await;
        arbor::yield_now().await;
        for task in tasks {
            let i = task.await.unwrap();
            trace.log(format!("{name}{i}"));
        }
    });
    assert_eq!(trace, INTERLEAVED);
}

#[test]
fn a_sleep_already_past_its_deadline_is_a_schedule_point() {
    let trace = three_tasks(|name, trace| async move {
        for i in 0..2 {
            sleep(Duration::ZERO).await;
            trace.log(format!("{name}{i}"));
        }
    });
    assert_eq!(trace, INTERLEAVED);
}

#[arbor::test(virtual_clock)]
async fn a_schedule_point_with_nothing_else_ready_does_not_yield() {
    // Count the polls of a future awaiting 100 operations that
    // complete at once: no other code is ready, so none yields.
    let mut polls = 0;
    let mut body = pin!(async {
        for _ in 0..50 {
            nursery(async |_| {}).await.unwrap();
            sleep(Duration::ZERO).await;
        }
    });
    poll_fn(|cx| {
        polls += 1;
        body.as_mut().poll(cx)
    })
    .await;
    assert_eq!(polls, 1);
}

#[arbor::test(virtual_clock)]
async fn a_task_looping_on_operations_that_complete_at_once_yields_every_128() {
    // Alone on the runtime, a task awaiting 300 operations that
    // complete at once skips 128 schedule points per poll, then yields
    // at the 129th: the 129th and the 258th operation end a poll.
    let polls = arbor::spawn(async {
        let mut polls = 0;
        let mut body = pin!(async {
            for _ in 0..300 {
                sleep(Duration::ZERO).await;
            }
        });
        poll_fn(|cx| {
            polls += 1;
            body.as_mut().poll(cx)
        })
        .await;
        polls
    });
    assert_eq!(polls.await.unwrap(), 3);
}

#[arbor::test(virtual_clock)]
async fn a_nursery_result_survives_a_cancellation_during_its_exit_yield() {
    let scope = CancelScope::new();
    let handle = scope.handle();
    // Ready when the nursery yields at its exit: it cancels the scope
    // the nursery runs in, after the nursery took its result.
    let canceller = arbor::spawn(async move { handle.cancel() });
    let out = scope.run(nursery(async |_| 7)).await;
    assert!(canceller.is_finished(), "the exit yielded");
    assert_eq!(out.unwrap().unwrap(), 7, "the value got out");
    assert!(scope.cancel_called() && !scope.cancelled_caught());
}

#[arbor::test(virtual_clock)]
async fn a_failed_nursery_reports_through_a_cancellation_during_its_exit_yield() {
    let scope = CancelScope::new();
    let handle = scope.handle();
    let canceller = arbor::spawn(async move { handle.cancel() });
    let out = scope
        .run(nursery(async |_| {
            Err::<(), _>(std::io::Error::other("body failed"))
        }))
        .await;
    assert!(canceller.is_finished());
    match out {
        Ok(Err(NurseryError::Failed(group))) => assert_eq!(group.len(), 1),
        other => panic!("the failure was lost: {other:?}"),
    }
}

// ChildSet: a nursery as a completion queue.

#[arbor::test(virtual_clock)]
async fn a_child_set_returns_results_in_finish_order() {
    let start = time::now();
    let order = nursery(async |n| {
        let mut set = n.child_set();
        for secs in [3u64, 1, 2] {
            set.spawn(async move {
                sleep(SEC * secs as u32).await;
                (secs, time::now() - start)
            });
        }
        assert_eq!(set.len(), 3);
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        assert!(set.is_empty());
        order
    })
    .await
    .unwrap();
    assert_eq!(order, [(1, SEC), (2, SEC * 2), (3, SEC * 3)]);
}

#[arbor::test(virtual_clock)]
async fn a_child_set_reports_failures_to_the_nursery_and_errors_to_join_next() {
    let out = arbor::supervisor(async |n| {
        let mut set = n.child_set::<u32>();
        set.spawn(async { Err(std::io::Error::other("first")) });
        set.spawn(async {
            sleep(SEC).await;
            Ok::<_, std::io::Error>(2)
        });
        let cancelled = set.spawn(async {
            sleep(SEC * 10).await;
            Ok::<_, std::io::Error>(3)
        });
        let mut results = Vec::new();
        while let Some(result) = set.join_next().await {
            results.push(result);
            if results.len() == 1 {
                cancelled.cancel();
            }
        }
        // The failure went to the group; the set saw its kind.
        assert!(matches!(
            results[..],
            [Err(ChildError::Failed), Err(ChildError::Cancelled), Ok(2)]
        ));
        // The cancelled child ended at once, before the one-second one.
    })
    .await;
    let group = match out {
        Err(NurseryError::Failed(group)) => group,
        other => panic!("expected the failure: {other:?}"),
    };
    assert_eq!(group.len(), 1);
    assert_eq!(group.failures()[0].error().to_string(), "first");
}

#[test]
fn a_child_sets_results_keep_their_order_and_kinds() {
    let seen = virtual_rt().block_on(async {
        nursery(async |n| {
            let mut set = n.child_set::<u32>();
            set.spawn(async { 1u32 });
            let cancelled = set.spawn(async {
                sleep(SEC * 10).await;
                3u32
            });
            set.spawn(async {
                sleep(SEC).await;
                2u32
            });
            let mut seen = Vec::new();
            while let Some(result) = set.join_next().await {
                seen.push(result);
                if seen.len() == 1 {
                    cancelled.cancel();
                }
            }
            seen
        })
        .await
        .unwrap()
    });
    assert_eq!(seen.len(), 3);
    assert!(matches!(seen[0], Ok(1)));
    // The cancel reaches the ten-second child at once: it ends first.
    assert!(matches!(seen[1], Err(ChildError::Cancelled)));
    assert!(matches!(seen[2], Ok(2)));
}

#[arbor::test(virtual_clock)]
async fn dropping_a_child_set_cancels_its_running_children() {
    let start = time::now();
    nursery(async |n| {
        let mut set = n.child_set();
        set.spawn(sleep(SEC * 3600));
        set.spawn(sleep(SEC * 3600));
        let other = n.spawn(async { sleep(SEC).await });
        drop(set);
        other.await.unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        time::now() - start,
        SEC,
        "the set's children were cancelled"
    );
}

#[arbor::test(virtual_clock)]
async fn join_next_dropped_at_its_schedule_point_puts_the_result_back() {
    nursery(async |n| {
        let mut set = n.child_set();
        set.spawn(async { "first" });
        set.spawn(async { "second" });
        arbor::yield_now().await;
        assert_eq!(set.len(), 2);
        // Another task is ready, so join_next yields holding "first";
        // dropping it there puts "first" back.
        let busy = arbor::spawn(async {});
        {
            let mut next = pin!(set.join_next());
            let polled = poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
        }
        busy.await.unwrap();
        assert!(matches!(set.join_next().await, Some(Ok("first"))));
        assert!(matches!(set.join_next().await, Some(Ok("second"))));
        assert!(set.join_next().await.is_none());
    })
    .await
    .unwrap();
}

#[arbor::test(virtual_clock)]
async fn join_next_makes_no_progress_in_a_cancelled_scope() {
    nursery(async |n| {
        let mut set = n.child_set();
        set.spawn(async { 1 });
        arbor::yield_now().await;
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(set.join_next()).await.is_err());
        assert_eq!(set.try_join_next().map(Result::unwrap), Some(1));
    })
    .await
    .unwrap();
}

#[arbor::test(virtual_clock)]
async fn an_interval_is_a_stream_of_its_ticks() {
    let start = time::now();
    let mut ticks = time::interval(SEC * 5);
    let mut seen = Vec::new();
    while let Some(at) = ticks.next().await {
        seen.push(at - start);
        if seen.len() == 3 {
            break;
        }
    }
    assert_eq!(seen, [Duration::ZERO, SEC * 5, SEC * 10]);
}

// The reactor is never starved.

#[test]
fn a_socket_read_completes_while_another_task_spins_on_a_free_lock() {
    use std::cell::Cell;
    use std::io::Write;
    use std::rc::Rc;

    const WRITE_AT: u64 = 1_000;
    const GIVE_UP_AT: u64 = 10_000_000;
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let rt = arbor::Runtime::new().unwrap();
    let trace = Trace::new();
    rt.block_on(async {
        let ours = arbor::net::UnixStream::from_std(ours).unwrap();
        let read_done = Rc::new(Cell::new(false));
        let reader = {
            let (trace, read_done) = (trace.clone(), read_done.clone());
            arbor::spawn(async move {
                trace.log("reader parked");
                let mut buf = [0; 5];
                let n = ours.read(&mut buf).await.unwrap();
                trace.log(format!(
                    "read {:?}",
                    std::str::from_utf8(&buf[..n]).unwrap()
                ));
                read_done.set(true);
            })
        };
        let spinner = {
            let trace = trace.clone();
            arbor::spawn(async move {
                let lock = arbor::primitives::Lock::new();
                let mut spins = 0;
                // Spin on a free lock until the reader got its data; the
                // bytes arrive only once it is parked in the reactor.
                while !read_done.get() && spins < GIVE_UP_AT {
                    lock.acquire().await.unwrap();
                    lock.release().unwrap();
                    spins += 1;
                    if spins == WRITE_AT {
                        trace.log("written");
                        theirs.write_all(b"hello").unwrap();
                    }
                }
                trace.log(if spins < GIVE_UP_AT {
                    "spinner stopped"
                } else {
                    "gave up"
                });
            })
        };
        reader.await.unwrap();
        spinner.await.unwrap();
    });
    assert_eq!(
        trace.events(),
        [
            "reader parked",
            "written",
            "read \"hello\"",
            "spinner stopped"
        ]
    );
}

#[test]
fn accepting_a_queued_connection_lets_other_ready_tasks_run_first() {
    arbor::Runtime::new().unwrap().block_on(async {
        let tcp = arbor::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let dir = std::env::temp_dir().join(format!("arbor-accept-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let unix = arbor::net::UnixListener::bind(&dir).unwrap();
        let _unix_client = std::os::unix::net::UnixStream::connect(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();

        let other = arbor::spawn(async {});
        tcp.accept().await.unwrap();
        assert!(other.is_finished(), "the TCP accept yielded first");
        let other = arbor::spawn(async {});
        unix.accept().await.unwrap();
        assert!(other.is_finished(), "the Unix accept yielded first");
    });
}
