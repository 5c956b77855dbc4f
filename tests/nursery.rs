//! Nurseries: lifetimes, failures, inheritance of scopes, start, drops.
//! All on the virtual clock.

mod support;

use std::cell::Cell;
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use arbor::time::{self, sleep};
use arbor::{
    CancelScope, ChildError, NurseryError, StartError, checkpoint, move_on_after, nursery, shield,
    supervisor, yield_now,
};
use support::{DropCounter, Trace, virtual_rt};

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Boom(&'static str);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom {}", self.0)
    }
}
impl std::error::Error for Boom {}

struct LogOnDrop(Trace, &'static str);
impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.log(self.1);
    }
}

#[test]
fn nursery_waits_for_body_and_every_child_including_late_spawns() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let t0 = time::now();
        let out = nursery(async |n| {
            let (t1, n1) = (t.clone(), n.clone());
            n.spawn(async move {
                sleep(SEC * 2).await;
                t1.log("child 1");
                // Spawned while the nursery waits to exit: waited for too.
                let t2 = t1.clone();
                n1.spawn(async move {
                    sleep(SEC * 3).await;
                    t2.log("grandchild");
                });
            });
            t.log("body");
            "value"
        })
        .await;
        assert_eq!(out.unwrap(), "value");
        assert_eq!(time::now() - t0, SEC * 5);
    });
    assert_eq!(trace.events(), ["body", "child 1", "grandchild"]);
}

#[arbor::test(virtual_clock)]
async fn spawning_into_a_closed_nursery_is_an_error() {
    let kept = nursery(async |n| n.clone()).await.unwrap();
    assert!(kept.is_closed());
    let err = kept.try_spawn(None, async {}).unwrap_err();
    assert_eq!(err, arbor::lowlevel::SpawnError::Closed);
    let started = kept.start(|s| async move { s.started(1).unwrap() }).await;
    assert!(matches!(started, Err(StartError::Closed)));
}

#[arbor::test(virtual_clock)]
#[should_panic(expected = "Nursery::spawn")]
async fn spawn_on_a_closed_nursery_panics() {
    let kept = nursery(async |n| n.clone()).await.unwrap();
    kept.spawn(async {});
}

#[test]
fn first_failure_cancels_siblings_and_body_in_the_same_tick_and_all_failures_are_kept_in_order() {
    let trace = Trace::new();
    let t = trace.clone();
    let drops = DropCounter::new();
    let d = drops.clone();
    virtual_rt().block_on(async move {
        let t0 = time::now();
        // A bystander outside the nursery wakes with the failing children
        // and then logs once per scheduler tick.
        let bt = t.clone();
        let bystander = arbor::spawn(async move {
            sleep(SEC).await;
            for tick in 0..3 {
                bt.log(format!("tick {tick}"));
                yield_now().await;
            }
        });
        let out = nursery(async |n| {
            let g = (d.guard(), LogOnDrop(t.clone(), "sleeper dropped"));
            let t1 = t.clone();
            n.spawn_named("sleeper", async move {
                let _g = g;
                sleep(HOUR).await;
                t1.log("sleeper woke");
            });
            let t2 = t.clone();
            n.spawn_named("a", async move {
                sleep(SEC).await;
                t2.log("a fails");
                Err::<(), _>(Boom("a"))
            });
            let t3 = t.clone();
            n.spawn_named("b", async move {
                // Shielded work finishes after the cancellation; the error
                // it leads to is a second failure.
                shield(sleep(SEC * 2)).await;
                t3.log("b fails");
                Err::<(), _>(Boom("b"))
            });
            let _g = (d.guard(), LogOnDrop(t.clone(), "body dropped"));
            sleep(HOUR).await;
            t.log("body woke");
        })
        .await;
        bystander.await.unwrap();
        let Err(NurseryError::Failed(group)) = out else {
            panic!("expected failures, got {out:?}")
        };
        let failures: Vec<String> = group.failures().iter().map(|f| f.to_string()).collect();
        assert_eq!(
            failures,
            ["task \"a\" failed: boom a", "task \"b\" failed: boom b"]
        );
        assert_eq!(d.dropped(), 2, "sleeper and body dropped");
        assert_eq!(time::now() - t0, SEC * 2);
    });
    // The sleeper and the body are dropped in the tick in which "a"
    // failed, before the bystander's next one.
    assert_eq!(
        trace.events(),
        [
            "tick 0",
            "a fails",
            "sleeper dropped",
            "body dropped",
            "tick 1",
            "tick 2",
            "b fails"
        ]
    );
    assert_eq!(drops.dropped(), 2);
}

#[test]
fn a_child_panic_is_reraised_after_every_child_finished() {
    let drops = DropCounter::new();
    let d = drops.clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        virtual_rt().block_on(async move {
            let _ = nursery(async |n| {
                let g = d.guard();
                n.spawn(async move {
                    // Cleanup in a shield delays the end of the nursery.
                    let _g = g;
                    let _ = CancelScope::new().run(pending::<()>()).await;
                });
                let g = d.guard();
                n.spawn(async move {
                    let _g = g;
                    shield(sleep(SEC)).await;
                    sleep(HOUR).await;
                });
                n.spawn(async {
                    checkpoint().await;
                    if true {
                        panic!("child panicked");
                    }
                });
            })
            .await;
        });
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child panicked"));
    assert_eq!(
        drops.dropped(),
        2,
        "siblings finished before the panic was re-raised"
    );
}

#[arbor::test(virtual_clock)]
async fn children_inherit_the_scopes_where_the_nursery_was_opened() {
    let t0 = time::now();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    nursery(async |n| {
        // The move_on_after limits the spawn call, not the child.
        move_on_after(SEC, async {
            n.spawn(async move {
                sleep(SEC * 10).await;
                d.set(true);
            });
        })
        .await;
    })
    .await
    .unwrap();
    assert!(done.get());
    assert_eq!(time::now() - t0, SEC * 10);
}

#[arbor::test(virtual_clock)]
async fn timeout_around_a_nursery_drops_both_long_children_and_the_body_value_gets_out() {
    let t0 = time::now();
    let drops = DropCounter::new();
    let scope = CancelScope::new().with_timeout(SEC * 3);
    let out = scope
        .run(nursery(async |n| {
            for _ in 0..2 {
                let g = drops.guard();
                n.spawn(async move {
                    let _g = g;
                    sleep(HOUR).await;
                });
            }
        }))
        .await;
    // The body had returned: the nursery's exit is not a cancel point,
    // so its value passes the scope (which dropped nothing itself).
    assert!(matches!(out, Ok(Ok(()))));
    assert!(scope.cancel_called() && !scope.cancelled_caught());
    assert_eq!(drops.dropped(), 2);
    assert_eq!(time::now() - t0, SEC * 3);
}

#[arbor::test(virtual_clock)]
async fn a_shield_in_the_parent_does_not_protect_children_of_a_nursery_opened_outside_it() {
    let t0 = time::now();
    let out = nursery(async |n| {
        let cancel = n.cancel_scope();
        shield(async {
            n.spawn(sleep(HOUR));
            cancel.cancel();
            // The shielded body part still finishes its own work.
            sleep(SEC).await;
        })
        .await;
    })
    .await;
    // The body finished (after its shielded part): its value is kept.
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        time::now() - t0,
        SEC,
        "the child was dropped, the shielded body ran"
    );
}

#[test]
fn child_spawned_into_a_cancelled_nursery_runs_to_its_first_suspension() {
    let trace = Trace::new();
    let t = trace.clone();
    let drops = DropCounter::new();
    let d = drops.clone();
    virtual_rt().block_on(async move {
        let out = nursery(async |n| {
            n.cancel_scope().cancel();
            let g = d.guard();
            let t1 = t.clone();
            n.spawn(async move {
                let _g = g;
                t1.log("child started");
                checkpoint().await;
                t1.log("unreachable");
            });
        })
        .await;
        assert!(
            out.is_ok(),
            "the body finished before a suspension: nothing of it dropped"
        );
        assert_eq!(
            d.dropped(),
            1,
            "the child's locals were dropped before the nursery returned"
        );
    });
    assert_eq!(trace.events(), ["child started"]);
}

#[test]
fn join_handle_gives_the_value_or_says_how_the_child_ended_and_cancel_is_private() {
    virtual_rt().block_on(async {
        let out = supervisor(async |n| {
            let ok = n.spawn(async { 5 });
            let failed = n.spawn(async { Err::<u8, _>(Boom("x")) });
            let cancelled = n.spawn(sleep(HOUR));
            let sibling = n.spawn(async {
                sleep(SEC).await;
                "sibling unaffected"
            });
            yield_now().await;
            cancelled.cancel();
            (ok.await, failed.await, cancelled.await, sibling.await)
        })
        .await;
        let Err(NurseryError::Failed(group)) = out else {
            panic!("{out:?}")
        };
        assert_eq!(group.len(), 1);
    });
    virtual_rt().block_on(async {
        let (ok, cancelled, sibling) = nursery(async |n| {
            let ok = n.spawn(async { 5 });
            let cancelled = n.spawn(sleep(HOUR));
            let sibling = n.spawn(async {
                sleep(SEC).await;
                "sibling unaffected"
            });
            cancelled.cancel();
            (ok.await, cancelled.await, sibling.await)
        })
        .await
        .unwrap();
        assert_eq!(ok, Ok(5));
        assert_eq!(cancelled, Err(ChildError::Cancelled));
        assert_eq!(sibling, Ok("sibling unaffected"));
    });
}

#[arbor::test(virtual_clock)]
async fn supervisor_keeps_siblings_running_and_collects_failures() {
    let finished = Rc::new(Cell::new(0));
    let f = finished.clone();
    let out = supervisor(async |n| {
        n.spawn(async { Err::<(), _>(Boom("early")) });
        for _ in 0..3 {
            let f = f.clone();
            n.spawn(async move {
                sleep(SEC).await;
                f.set(f.get() + 1);
            });
        }
        n.spawn(async {
            sleep(SEC * 2).await;
            Err::<(), _>(Boom("late"))
        });
    })
    .await;
    assert_eq!(finished.get(), 3);
    let Err(NurseryError::Failed(group)) = out else {
        panic!()
    };
    let msgs: Vec<_> = group
        .failures()
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(msgs, ["boom early", "boom late"]);
}

#[arbor::test(virtual_clock)]
async fn start_returns_the_started_value_and_the_child_keeps_running() {
    let t0 = time::now();
    let out = nursery(async |n| {
        let v = n
            .start(|status| async move {
                sleep(SEC).await;
                status.started("ready").unwrap();
                assert_eq!(status.started("again"), Err(arbor::AlreadyStarted));
                sleep(SEC).await;
            })
            .await
            .unwrap();
        (v, time::now() - t0)
    })
    .await
    .unwrap();
    assert_eq!(out, ("ready", SEC));
    assert_eq!(
        time::now() - t0,
        SEC * 2,
        "a started child keeps the nursery open"
    );
}

#[arbor::test(virtual_clock)]
async fn start_fails_without_failing_the_nursery() {
    let out = nursery(async |n| {
        let failed = n
            .start(|_status: arbor::TaskStatus<u8>| async { Err::<(), _>(Boom("init")) })
            .await;
        assert!(
            matches!(&failed, Err(StartError::Failed(f)) if f.error().to_string() == "boom init")
        );
        let silent = n.start(|_status: arbor::TaskStatus<u8>| async {}).await;
        assert!(matches!(silent, Err(StartError::NotStarted)));
        "nursery fine"
    })
    .await;
    assert_eq!(out.unwrap(), "nursery fine");
}

#[arbor::test(virtual_clock)]
async fn cancelling_the_caller_of_start_cancels_the_child() {
    let drops = DropCounter::new();
    let g = drops.guard();
    nursery(async |n| {
        let got = move_on_after(
            SEC,
            n.start(|_status: arbor::TaskStatus<()>| async move {
                let _g = g;
                sleep(HOUR).await;
            }),
        )
        .await;
        assert!(got.is_none());
    })
    .await
    .unwrap();
    assert_eq!(drops.dropped(), 1);
}

#[arbor::test(virtual_clock)]
async fn dropping_a_nursery_future_drops_all_children_at_once() {
    let drops = DropCounter::new();
    let before = arbor::lowlevel::live_scopes();
    let mut fut = Box::pin(nursery(async |n| {
        for _ in 0..3 {
            let g = drops.guard();
            n.spawn(async move {
                let _g = g;
                sleep(HOUR).await;
            });
        }
        pending::<()>().await;
    }));
    let _ = futures_lite::future::poll_once(&mut fut).await;
    yield_now().await;
    assert_eq!(drops.dropped(), 0);
    drop(fut);
    assert_eq!(drops.dropped(), 3);
    assert_eq!(arbor::lowlevel::live_scopes(), before);
}

#[arbor::test(virtual_clock)]
async fn server_nursery_memory_stays_flat_with_many_short_children() {
    let scopes_before = arbor::lowlevel::live_scopes();
    arbor::server(async |n| {
        for round in 0..20 {
            for _ in 0..500 {
                drop(n.spawn(async { yield_now().await }));
            }
            sleep(SEC).await;
            assert_eq!(n.live_children(), 0, "round {round}");
            assert_eq!(
                arbor::lowlevel::live_scopes(),
                scopes_before + 1,
                "only the nursery's node"
            );
        }
    })
    .await
    .unwrap();
}

#[arbor::test(virtual_clock)]
async fn dump_shows_the_tree_with_names_and_deadlines() {
    nursery(async |n| {
        n.spawn_named("worker", sleep(HOUR));
        yield_now().await;
        let text = arbor::dump();
        assert!(text.contains("Nursery"), "{text}");
        assert!(text.contains("Child \"worker\""), "{text}");
        assert!(text.contains("\"worker\" parked"), "{text}");
        n.cancel_scope().cancel();
        checkpoint().await;
    })
    .await
    .unwrap_err();
    move_on_after(SEC, async {
        let text = arbor::dump();
        assert!(text.contains("deadline in 1s"), "{text}");
    })
    .await;
}

#[arbor::test(virtual_clock)]
async fn start_accepts_an_async_closure() {
    let v = nursery(async |n| {
        n.start(async |status: arbor::TaskStatus<u32>| {
            status.started(7).unwrap();
        })
        .await
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(v, 7);
}

#[arbor::test(virtual_clock)]
async fn a_child_sets_cancel_all_cancels_its_children_in_spawn_order() {
    // The order cancellation reaches the children is the order they are
    // dropped in and their results arrive in: it must not vary from run
    // to run (a seeded program has to replay), so it is spawn order.
    const NAMES: [&str; 12] = [
        "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11",
    ];
    let trace = Trace::new();
    let t = trace.clone();
    nursery(async move |n| {
        let mut set = n.child_set();
        for name in NAMES {
            let t = t.clone();
            set.spawn(async move {
                let _log = LogOnDrop(t, name);
                pending::<()>().await;
            });
        }
        sleep(SEC).await;
        set.cancel_all();
        let mut ended = 0;
        while let Some(result) = set.join_next().await {
            assert!(matches!(result, Err(ChildError::Cancelled)));
            ended += 1;
        }
        assert_eq!(ended, NAMES.len());
        Ok::<_, Boom>(())
    })
    .await
    .unwrap();
    assert_eq!(trace.events(), NAMES);
}
