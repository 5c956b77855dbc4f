//! Cancel scopes: who catches, level-triggered cancellation, shields,
//! deadlines, effective deadlines. All on the virtual clock.

mod support;

use std::future::pending;
use std::time::Duration;

use arbor::time::{self, sleep};
use arbor::{
    CancelScope, EffectiveDeadline, Elapsed, checkpoint, fail_after, move_on_after, shield,
};
use support::{DropCounter, Trace, virtual_rt};

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

#[arbor::test(virtual_clock)]
async fn outermost_cancelled_scope_catches() {
    let t0 = time::now();
    let (s1, s2, s3) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
    let (h2, h3) = (s2.handle(), s3.handle());
    let out = s1
        .run(s2.run(s3.run(async move {
            h3.cancel();
            h2.cancel();
            sleep(HOUR).await;
        })))
        .await;
    assert!(
        matches!(out, Ok(Err(_))),
        "s1 completes with s2's cancellation"
    );
    assert!(s2.cancel_called() && s2.cancelled_caught());
    assert!(s3.cancel_called() && !s3.cancelled_caught());
    assert!(!s1.cancel_called() && !s1.cancelled_caught());
    assert_eq!(
        time::now(),
        t0,
        "cancelled at the first suspension, not by time"
    );
}

#[arbor::test(virtual_clock)]
async fn cancel_wakes_a_task_parked_for_an_hour_and_drops_it_at_once() {
    let drops = DropCounter::new();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let g = drops.guard();
    let child = arbor::spawn(async move {
        scope
            .run(async move {
                let _g = g;
                sleep(HOUR).await;
            })
            .await
            .is_err()
    });
    sleep(SEC).await;
    assert_eq!(drops.dropped(), 0);
    let t0 = time::now();
    handle.cancel();
    assert!(child.await.unwrap(), "the child's scope caught");
    assert_eq!(drops.dropped(), 1);
    assert_eq!(time::now(), t0, "no time passed: woken, not timed out");
}

#[test]
fn cancelled_scope_runs_code_until_the_next_suspension_and_no_further() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let scope = CancelScope::new();
        let h = scope.handle();
        let out = scope
            .run(async {
                t.log("start");
                h.cancel();
                t.log("same poll");
                sleep(Duration::ZERO).await; // would complete at once, but no progress now
                t.log("unreachable");
            })
            .await;
        assert!(out.is_err());
    });
    assert_eq!(trace.events(), ["start", "same poll"]);
}

#[arbor::test]
async fn cancelled_read_consumes_no_bytes() {
    use std::io::{Read, Write};
    let (r, mut w) = std::io::pipe().unwrap();
    let r = arbor::io::Async::new(r).unwrap();
    w.write_all(b"keep").unwrap();
    let scope = CancelScope::new();
    let h = scope.handle();
    let out = scope
        .run(async {
            h.cancel();
            let mut buf = [0u8; 4];
            r.read_with(|mut p| p.read(&mut buf)).await
        })
        .await;
    assert!(out.is_err());
    let mut buf = [0u8; 4];
    let n = r.read_with(|mut p| p.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"keep");
}

#[test]
fn shield_runs_cleanup_to_completion_then_outer_cancel_lands() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let t0 = time::now();
        let scope = CancelScope::new();
        let h = scope.handle();
        let out = scope
            .run(async {
                h.cancel();
                shield(async {
                    sleep(SEC).await;
                    t.log("cleanup done");
                })
                .await;
                t.log("after shield");
                checkpoint().await;
                t.log("unreachable");
            })
            .await;
        assert!(out.is_err() && scope.cancelled_caught());
        assert_eq!(time::now() - t0, SEC);
    });
    assert_eq!(trace.events(), ["cleanup done", "after shield"]);
}

#[arbor::test(virtual_clock)]
async fn shield_does_not_protect_against_its_own_deadline() {
    let t0 = time::now();
    let inner = CancelScope::new().shielded(true).with_timeout(SEC);
    let out = inner.run(sleep(HOUR)).await;
    assert!(out.unwrap_err().by_deadline());
    assert_eq!(time::now() - t0, SEC);
}

#[arbor::test(virtual_clock)]
async fn turning_the_shield_off_lets_a_pending_outer_cancel_in_at_once() {
    let t0 = time::now();
    let outer = CancelScope::new();
    let outer_h = outer.handle();
    let inner = CancelScope::new().shielded(true);
    let inner_h = inner.handle();
    let unshield = arbor::spawn(async move {
        sleep(SEC * 5).await;
        inner_h.set_shield(false);
    });
    let out = outer
        .run(async {
            outer_h.cancel();
            inner.run(sleep(HOUR)).await
        })
        .await;
    assert!(out.is_err());
    assert!(outer.cancelled_caught() && !inner.cancelled_caught());
    assert_eq!(time::now() - t0, SEC * 5);
    unshield.await.unwrap();
}

#[test]
fn deadline_in_the_past_cancels_on_entry_after_the_first_suspension() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        time::advance(SEC * 10);
        let scope = CancelScope::new().with_deadline(time::now() - SEC);
        let out = scope
            .run(async {
                t.log("ran");
                sleep(SEC).await;
                t.log("unreachable");
            })
            .await;
        assert!(out.unwrap_err().by_deadline());
        assert!(scope.cancelled_caught());
    });
    assert_eq!(trace.events(), ["ran"]);
}

#[arbor::test(virtual_clock)]
async fn moving_the_deadline_into_the_past_cancels_at_the_next_suspension() {
    let t0 = time::now();
    let scope = CancelScope::new().with_deadline(t0 + HOUR);
    let h = scope.handle();
    let out = scope
        .run(async {
            sleep(SEC).await;
            h.set_deadline(Some(t0));
            sleep(SEC).await;
        })
        .await;
    assert!(out.is_err());
    assert_eq!(time::now() - t0, SEC);
}

#[arbor::test(virtual_clock)]
async fn moving_the_deadline_later_reschedules_and_never_uncancels() {
    let t0 = time::now();
    // Later before it fired: the timer moves.
    let scope = CancelScope::new().with_deadline(t0 + SEC);
    let h = scope.handle();
    let out = scope
        .run(async {
            h.set_deadline(Some(t0 + SEC * 3));
            sleep(HOUR).await
        })
        .await;
    assert!(out.is_err());
    assert_eq!(time::now() - t0, SEC * 3);

    // Later after it fired: still cancelled.
    let scope = CancelScope::new().with_deadline(time::now() - SEC);
    let h = scope.handle();
    let out = scope
        .run(async {
            h.set_deadline(Some(time::now() + HOUR));
            sleep(SEC).await
        })
        .await;
    assert!(out.is_err());
}

#[arbor::test(virtual_clock)]
async fn exited_scope_is_never_cancelled_by_its_old_deadline_and_no_deadline_means_no_timer() {
    let scope = CancelScope::new().with_timeout(SEC);
    let h = scope.handle();
    assert_eq!(scope.run(async { 5 }).await.unwrap(), 5);
    assert_eq!(time::armed_timers(), 0, "the exited scope's timer is gone");
    sleep(SEC * 2).await;
    assert!(!h.cancel_called());

    let plain = CancelScope::new();
    plain
        .run(async {
            assert_eq!(time::armed_timers(), 0, "no deadline, no timer entry");
            checkpoint().await;
        })
        .await
        .unwrap();
    move_on_after(SEC, async {
        assert_eq!(
            time::armed_timers(),
            0,
            "registered lazily, at the first suspension"
        );
        checkpoint().await;
        assert_eq!(time::armed_timers(), 1);
    })
    .await;
}

#[arbor::test(virtual_clock)]
async fn cancel_after_the_last_suspension_drops_nothing_and_dies_with_the_scope() {
    let scope = CancelScope::new();
    let h = scope.handle();
    let out = scope
        .run(async {
            sleep(SEC).await;
            h.cancel();
            7
        })
        .await;
    assert_eq!(out.unwrap(), 7);
    assert!(scope.cancel_called() && !scope.cancelled_caught());
    // The enclosing code is not affected.
    sleep(SEC).await;
    checkpoint().await;
}

#[test]
fn fail_after_gives_elapsed_only_for_its_own_deadline() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let t0 = time::now();
        let r: Result<(), Elapsed> = fail_after(SEC, sleep(HOUR)).await;
        assert!(r.is_err());
        assert_eq!(time::now() - t0, SEC);
        let outer = CancelScope::new();
        let h = outer.handle();
        let canceller = arbor::spawn(async move {
            sleep(SEC).await;
            h.cancel();
        });
        let out = outer
            .run(async {
                let r = fail_after(HOUR, sleep(HOUR)).await;
                t.log(format!("fail_after returned {r:?}"));
            })
            .await;
        assert!(out.is_err() && outer.cancelled_caught());
        canceller.await.unwrap();
    });
    assert!(trace.events().is_empty(), "{:?}", trace.events());
}

#[arbor::test(virtual_clock)]
async fn effective_deadline_is_the_minimum_up_to_the_first_shield() {
    let t0 = time::now();
    assert_eq!(arbor::current_effective_deadline(), EffectiveDeadline::None);
    move_on_after(SEC * 10, async {
        move_on_after(SEC * 5, async {
            assert_eq!(
                arbor::current_effective_deadline(),
                EffectiveDeadline::At(t0 + SEC * 5)
            );
            CancelScope::new()
                .shielded(true)
                .with_timeout(SEC * 20)
                .run(async {
                    assert_eq!(
                        arbor::current_effective_deadline(),
                        EffectiveDeadline::At(t0 + SEC * 20)
                    );
                    shield(async {
                        assert_eq!(arbor::current_effective_deadline(), EffectiveDeadline::None);
                    })
                    .await;
                })
                .await
                .unwrap();
        })
        .await;
    })
    .await;
    let scope = CancelScope::new();
    let h = scope.handle();
    let _ = scope
        .run(async {
            h.cancel();
            assert_eq!(
                arbor::current_effective_deadline(),
                EffectiveDeadline::Cancelled
            );
        })
        .await;
}

#[arbor::test(virtual_clock)]
async fn cancelled_future_resolves_when_the_scope_is_cancelled() {
    let scope = CancelScope::new().with_timeout(SEC * 2);
    let noticed = scope
        .run(async {
            arbor::cancelled().await;
            "noticed" // runs: no suspension between
        })
        .await;
    assert_eq!(noticed.unwrap(), "noticed");
    assert!(scope.cancel_called() && !scope.cancelled_caught());
}

#[arbor::test(virtual_clock)]
async fn scope_dropped_from_outside_exits_its_node() {
    let before = arbor::lowlevel::live_scopes();
    let scope = CancelScope::new().with_timeout(HOUR);
    let mut fut = Box::pin(scope.run(pending::<()>()));
    let _ = futures_lite::future::poll_once(&mut fut).await;
    assert_eq!(arbor::lowlevel::live_scopes(), before + 1);
    assert_eq!(time::armed_timers(), 1);
    drop(fut);
    assert_eq!(arbor::lowlevel::live_scopes(), before);
    assert_eq!(time::armed_timers(), 0);
}

#[arbor::test(virtual_clock)]
#[should_panic(expected = "a CancelScope can only be run once")]
async fn running_a_scope_twice_panics() {
    let scope = CancelScope::new();
    scope.run(async {}).await.unwrap();
    drop(scope.run(async {}));
}

#[arbor::test(virtual_clock)]
async fn timeouts_whose_node_is_made_lazily_still_cover_everything_they_wrap() {
    let before = arbor::lowlevel::live_scopes();
    let t0 = time::now();
    // A scope entered in the first poll hangs below the timeout.
    assert!(
        move_on_after(SEC, CancelScope::new().run(sleep(HOUR)))
            .await
            .is_none()
    );
    assert_eq!(time::now() - t0, SEC);
    // Nested timeouts: whichever is earlier applies.
    assert_eq!(
        move_on_after(SEC, move_on_after(HOUR, sleep(HOUR))).await,
        None
    );
    assert_eq!(
        move_on_after(HOUR, move_on_after(SEC, sleep(HOUR))).await,
        Some(None)
    );
    assert_eq!(time::now() - t0, SEC * 3);
    // A nursery inside one: its child is dropped at the deadline, and
    // the nursery's exit is not a cancel point: the body had returned,
    // so its value gets out.
    let out = move_on_after(
        SEC,
        arbor::nursery(async |n| {
            n.spawn(sleep(HOUR));
        }),
    )
    .await;
    assert!(matches!(out, Some(Ok(()))));
    // A timeout inside an explicit scope inside a timeout: the explicit
    // scope's cancellation reaches the inner timeout's code.
    let scope = CancelScope::new();
    let h = scope.handle();
    let canceller = arbor::spawn(async move {
        sleep(SEC).await;
        h.cancel();
    });
    let t1 = time::now();
    let out = move_on_after(HOUR, scope.run(move_on_after(HOUR, sleep(HOUR)))).await;
    assert!(matches!(out, Some(Err(_))));
    assert!(scope.cancelled_caught());
    assert_eq!(time::now() - t1, SEC);
    canceller.await.unwrap();
    assert_eq!(arbor::lowlevel::live_scopes(), before, "every node exited");
    assert_eq!(time::armed_timers(), 0);
}

#[arbor::test(virtual_clock)]
async fn a_panic_inside_a_lazy_timeout_leaves_no_node_behind() {
    let before = arbor::lowlevel::live_scopes();
    let fut = move_on_after(SEC, async {
        let _ = arbor::current_effective_deadline(); // forces the node
        panic!("inside");
    });
    let caught = futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
    assert!(caught.is_err());
    assert_eq!(arbor::lowlevel::live_scopes(), before);
    // The scope stack is clean: a new timeout works normally.
    assert_eq!(move_on_after(SEC, sleep(HOUR)).await, None);
}
