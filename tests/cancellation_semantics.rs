//! Trio's cancellation guarantees, in arbor's drop model: a cancellation
//! never loses an error, a panic or a value, never freezes cancelled code,
//! never hangs. One test per rule of issue 10, on the virtual clock, with
//! drop counters and event traces.

mod support;

use std::cell::Cell;
use std::future::{Future, pending, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use arbor::primitives::Semaphore;
use arbor::time::{self, sleep};
use arbor::{
    CancelReason, CancelScope, NurseryError, cancelled, checkpoint, move_on_after, nursery, shield,
};
use support::{DropCounter, Trace, virtual_rt};

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

fn lost() -> std::io::Error {
    std::io::Error::other("lost")
}

// 1. A nursery's exit is not a cancel point.

#[arbor::test(virtual_clock)]
async fn a_nursery_in_a_cancelled_scope_reports_its_childs_error_through_the_scope() {
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(nursery(async |n| {
            n.spawn(async { Err::<(), _>(lost()) });
        }))
        .await;
    let group = match out {
        Ok(Err(NurseryError::Failed(group))) => group,
        other => panic!("the error was lost: {other:?}"),
    };
    assert_eq!(group.len(), 1);
    assert_eq!(group.failures()[0].error().to_string(), "lost");
    assert!(
        !scope.cancelled_caught(),
        "a scope absorbs only its own cancellation"
    );
}

#[arbor::test(virtual_clock)]
async fn move_on_after_a_nursery_gives_the_error_group_of_a_child_that_failed_in_cleanup() {
    let t0 = time::now();
    let out = move_on_after(
        SEC,
        nursery(async |n| {
            n.spawn(async {
                shield(sleep(SEC * 2)).await; // cleanup outlives the deadline
                Err::<(), _>(lost())
            });
            sleep(HOUR).await;
        }),
    )
    .await;
    assert!(
        matches!(out, Some(Err(NurseryError::Failed(ref g))) if g.len() == 1),
        "{out:?}"
    );
    assert_eq!(time::now() - t0, SEC * 2);
}

#[test]
fn a_childs_panic_after_the_cancel_is_reraised_once_a_shielded_sibling_finished() {
    let trace = Trace::new();
    let t = trace.clone();
    let caught = virtual_rt().block_on(async move {
        let t0 = t.clone();
        let run = move_on_after(
            SEC,
            nursery(async move |n| {
                let t1 = t0.clone();
                n.spawn(async move {
                    shield(sleep(SEC * 5)).await;
                    t1.log("sibling done");
                });
                n.spawn(async {
                    shield(sleep(SEC * 2)).await;
                    if true {
                        panic!("after cleanup");
                    }
                });
                sleep(HOUR).await;
            }),
        );
        let out = futures_lite::FutureExt::catch_unwind(AssertUnwindSafe(run)).await;
        t.log(format!("returned at {:?}", time::now()));
        out
    });
    let payload = caught.expect_err("the panic was lost");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"after cleanup"));
    assert_eq!(trace.events(), ["sibling done", "returned at Instant(5s)"]);
}

#[arbor::test(virtual_clock)]
async fn a_nursery_whose_body_returned_reports_the_value_when_a_scope_outside_is_cancelled() {
    let children = DropCounter::new();
    let c = children.clone();
    let out = move_on_after(
        SEC,
        nursery(async move |n| {
            let g = c.guard();
            n.spawn(async move {
                let _g = g;
                sleep(HOUR).await;
            });
            "the body's value"
        }),
    )
    .await;
    assert_eq!(out.map(|r| r.unwrap()), Some("the body's value"));
    assert_eq!(children.dropped(), 1);
}

// 2. Cancelled code is dropped, not frozen.

#[test]
fn a_cancelled_nursery_body_holding_a_permit_is_dropped_so_a_shielded_child_gets_it() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let t0 = time::now();
        let sem = Rc::new(Semaphore::new(1));
        let s2 = sem.clone();
        let out = move_on_after(
            SEC,
            nursery(async move |n| {
                let permit = sem.acquire().await;
                let t1 = t.clone();
                n.spawn(shield(async move {
                    drop(s2.acquire().await);
                    t1.log(format!("child got the permit at {:?}", time::now()));
                }));
                sleep(HOUR).await; // cancelled at 1 s, never resumed
                drop(permit);
            }),
        )
        .await;
        assert!(out.is_none());
        assert_eq!(time::now() - t0, SEC, "returns at 1 s, as in trio");
    });
    assert_eq!(trace.events(), ["child got the permit at Instant(1s)"]);
}

/// A non-arbor future: ready once `flag` is set and its waker woken.
fn flag_future(flag: Rc<Cell<bool>>, waker: Rc<Cell<Option<Waker>>>) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        if flag.get() {
            Poll::Ready(())
        } else {
            waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    })
}

#[test]
fn a_cancelled_nursery_body_awaiting_a_non_arbor_future_does_not_run_on() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let flag = Rc::new(Cell::new(false));
        let waker = Rc::new(Cell::new(None::<Waker>));
        let (f, w) = (flag.clone(), waker.clone());
        let setter = arbor::spawn(async move {
            sleep(SEC * 2).await;
            f.set(true);
            if let Some(w) = w.take() {
                w.wake();
            }
        });
        let t1 = t.clone();
        let out = move_on_after(
            SEC,
            nursery(async move |n| {
                n.spawn(shield(sleep(SEC * 3))); // keeps the nursery open
                flag_future(flag, waker).await;
                t1.log("body ran on after its region was cancelled");
            }),
        )
        .await;
        assert!(out.is_none());
        setter.await.unwrap();
    });
    assert!(trace.events().is_empty(), "{:?}", trace.events());
}

// 3. A shielded scope catches its own cancellation inside a cancelled scope.

#[test]
fn a_shielded_scope_catches_its_own_deadline_inside_a_cancelled_scope_and_the_code_after_runs() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let outer = CancelScope::new();
        let handle = outer.handle();
        let inner = CancelScope::new().shielded(true).with_timeout(SEC * 2);
        let out = outer
            .run(async {
                handle.cancel();
                let r = inner.run(sleep(HOUR)).await;
                t.log(format!(
                    "after the shield: {:?} at {:?}",
                    r.is_err(),
                    time::now()
                ));
                checkpoint().await;
                t.log("unreachable");
            })
            .await;
        assert!(out.is_err() && outer.cancelled_caught());
        assert!(inner.cancelled_caught());
    });
    assert_eq!(trace.events(), ["after the shield: true at Instant(2s)"]);
}

#[arbor::test(virtual_clock)]
async fn a_shielded_scope_catches_a_cancel_from_another_task_inside_a_cancelled_scope() {
    let outer = CancelScope::new();
    let outer_handle = outer.handle();
    let inner = CancelScope::new().shielded(true);
    let inner_handle = inner.handle();
    let canceller = arbor::spawn(async move {
        sleep(SEC).await;
        inner_handle.cancel_with_reason("enough");
    });
    let reached = Rc::new(Cell::new(false));
    let r = reached.clone();
    let out = outer
        .run(async {
            outer_handle.cancel();
            let caught = inner.run(pending::<()>()).await.unwrap_err();
            assert_eq!(caught.reason(), Some("enough"));
            r.set(true);
            checkpoint().await;
        })
        .await;
    assert!(out.is_err() && reached.get());
    canceller.await.unwrap();
}

// 4. A cancellation made visible during an inner drop keeps moving outward.

struct CancelOnDrop(arbor::CancelHandle);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[test]
fn a_cancellation_made_visible_while_an_inner_scope_drops_its_future_is_caught_outside() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let inner_handle = inner.handle();
        let guard = CancelOnDrop(outer.handle());
        let out = outer
            .run(async {
                let r = inner
                    .run(async move {
                        let _guard = guard; // cancels the outer scope while dropped
                        inner_handle.cancel();
                        sleep(HOUR).await;
                    })
                    .await;
                t.log(format!("between the scopes: {r:?}"));
            })
            .await;
        assert!(out.is_err());
        assert!(outer.cancelled_caught(), "the outer scope catches");
        assert!(
            inner.cancel_called() && !inner.cancelled_caught(),
            "the inner does not"
        );
    });
    assert!(
        trace.events().is_empty(),
        "nothing between them ran: {:?}",
        trace.events()
    );
}

// 5. First cause wins.

#[arbor::test(virtual_clock)]
async fn a_scope_cancelled_by_its_deadline_then_explicitly_reports_the_deadline() {
    let scope = CancelScope::new();
    let h = scope.handle();
    let out = scope
        .run(async move {
            h.set_deadline(Some(time::now())); // passed: cancelled now
            h.cancel();
            checkpoint().await;
        })
        .await;
    assert!(out.unwrap_err().by_deadline());
    assert_eq!(scope.cancel_reason(), Some(CancelReason::Deadline));
    scope.cancel();
    assert_eq!(scope.cancel_reason(), Some(CancelReason::Deadline));
}

#[arbor::test(virtual_clock)]
async fn the_cause_a_failed_nursery_reports_is_the_failure_even_after_an_explicit_cancel() {
    let handle = Rc::new(Cell::new(None));
    let h = handle.clone();
    let out = nursery(async move |n| {
        h.set(Some(n.cancel_scope()));
        n.spawn(async { Err::<(), _>(lost()) });
        sleep(HOUR).await;
    })
    .await;
    assert!(matches!(out, Err(NurseryError::Failed(_))));
    let handle = handle.take().unwrap();
    handle.cancel();
    assert_eq!(handle.cancel_reason(), Some(CancelReason::Failure));
    assert!(handle.cancelled_caught());
}

#[arbor::test(virtual_clock)]
async fn an_unentered_scope_whose_deadline_passed_is_cancel_called_and_stays_so() {
    let scope = CancelScope::new().with_deadline(time::now() + SEC);
    assert!(!scope.cancel_called());
    time::advance(SEC * 2);
    assert!(scope.cancel_called(), "the deadline passed before entry");
    scope.handle().set_deadline(Some(time::now() + HOUR));
    assert!(
        scope.cancel_called(),
        "moving the deadline later never un-cancels"
    );
    assert!(scope.run(sleep(HOUR)).await.is_err());
    assert_eq!(scope.cancel_reason(), Some(CancelReason::Deadline));
}

// 6. A timeout's deadline counts from entry.

#[arbor::test(virtual_clock)]
async fn a_timeouts_deadline_counts_from_entry_not_from_its_first_suspension() {
    let out = move_on_after(SEC, async {
        time::advance(SEC * 5);
        checkpoint().await;
        "not cancelled"
    })
    .await;
    assert_eq!(out, None);
    // The same for an explicit scope with a timeout.
    let scope = CancelScope::new().with_timeout(SEC);
    let out = scope
        .run(async {
            time::advance(SEC * 5);
            checkpoint().await;
        })
        .await;
    assert!(out.unwrap_err().by_deadline());
}

// 7. No future can hold a cancelled region open.

#[arbor::test(virtual_clock)]
async fn a_cancelled_future_polled_once_and_kept_alive_does_not_hold_the_region_open() {
    let t0 = time::now();
    let out = move_on_after(SEC, async {
        let mut noticed = Box::pin(cancelled());
        // A lost select arm: polled once, then kept but never awaited.
        poll_fn(|cx| {
            assert!(noticed.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        sleep(HOUR).await;
        drop(noticed); // alive until here
    })
    .await;
    assert_eq!(out, None);
    assert_eq!(time::now() - t0, SEC);
    // Also under an outer timeout, with the kept future in a nested scope.
    let out = move_on_after(SEC, async {
        let inner = CancelScope::new();
        inner
            .run(async {
                let mut noticed = pin!(cancelled());
                poll_fn(|cx| {
                    let _ = noticed.as_mut().poll(cx);
                    Poll::Ready(())
                })
                .await;
                pending::<()>().await;
            })
            .await
    })
    .await;
    assert!(out.is_none());
}

#[arbor::test(virtual_clock)]
async fn a_cancelled_future_polled_once_in_a_shield_does_not_hide_an_expired_timeout() {
    // A `cancelled()` polled once holds the regions around it for one
    // poll; dropped at once, it wakes no one. The timeout expired while
    // the shield ran: it must still drop the code at its next suspension,
    // here the checkpoint right after the shield (found by the random
    // tree, seed 669890, for a `CancelScope`; this is the lazy timeout).
    let t0 = time::now();
    let out = move_on_after(SEC, async {
        shield(async {
            sleep(SEC * 10).await;
            let mut noticed = pin!(cancelled());
            poll_fn(|cx| {
                assert!(noticed.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        })
        .await;
        checkpoint().await;
        unreachable!("the checkpoint is in the expired timeout");
    })
    .await;
    assert_eq!(out, None);
    assert_eq!(time::now() - t0, SEC * 10);
}

#[arbor::test(virtual_clock)]
async fn an_awaited_cancelled_future_sees_the_cancellation_and_the_code_after_it_runs() {
    let out = move_on_after(SEC, async {
        cancelled().await;
        let after = "ran to the next suspension";
        checkpoint().await;
        after
    })
    .await;
    assert_eq!(out, None);
    let seen = move_on_after(SEC, async {
        cancelled().await;
        "noticed"
    })
    .await;
    assert_eq!(seen, Some("noticed"));
}

// 9. A nursery stopped through its own cancel scope.

#[arbor::test(virtual_clock)]
async fn a_nursery_stopped_by_its_own_cancel_scope_reports_cancelled_and_caught() {
    let handle = Rc::new(Cell::new(None));
    let h = handle.clone();
    let out = nursery(async move |n| {
        h.set(Some(n.cancel_scope()));
        n.spawn(sleep(HOUR));
        n.cancel_scope().cancel();
        sleep(HOUR).await;
    })
    .await;
    assert!(matches!(out, Err(NurseryError::Cancelled)));
    assert!(handle.take().unwrap().cancelled_caught());
}

#[test]
fn a_child_that_passes_its_nested_nurserys_own_cancellation_on_with_question_mark_does_not_fail_its_parent()
 {
    virtual_rt().block_on(async {
        let out = nursery(async |n| {
            let child = n.spawn(async {
                nursery(async |inner| {
                    inner.cancel_scope().cancel();
                    sleep(HOUR).await;
                })
                .await?;
                Ok::<_, NurseryError>("unreachable")
            });
            Ok::<_, std::convert::Infallible>(child.await)
        })
        .await;
        let child = out.expect("the parent nursery did not fail");
        assert_eq!(child.unwrap_err(), arbor::ChildError::Cancelled);
        // The same for a scope's own `Cancelled`.
        let out = nursery(async |n| {
            n.spawn(async {
                let scope = CancelScope::new().with_timeout(SEC);
                scope.run(sleep(HOUR)).await?;
                Ok::<_, arbor::Cancelled>(())
            });
        })
        .await;
        assert!(out.is_ok());
    });
}

// 8. `start` runs the child in the caller's context until `started`.

#[arbor::test(virtual_clock)]
async fn cancelling_the_caller_of_start_before_started_cancels_the_child() {
    let child = DropCounter::new();
    let c = child.clone();
    let out = nursery(async move |n| {
        let g = c.guard();
        let started = move_on_after(
            SEC,
            n.start(|status| async move {
                let _g = g;
                sleep(SEC * 2).await;
                status.started(1).unwrap();
            }),
        )
        .await;
        assert!(started.is_none());
        // The child was cancelled with its caller's scope: dropped at
        // its next suspension (it had no shield), in this same tick.
        checkpoint().await;
        n.live_children()
    })
    .await;
    assert_eq!(out.unwrap(), 0, "the child went with the caller");
    assert_eq!(child.dropped(), 1);
}

#[test]
fn start_from_a_cancelled_scope_returns_when_the_child_starts_at_its_first_step() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        nursery(async move |n| {
            let scope = CancelScope::new();
            scope.cancel();
            let t1 = t.clone();
            let t2 = t.clone();
            let out = scope
                .run(async move {
                    let v = n
                        .start(|status| async move {
                            status.started(5).unwrap();
                            // Already in the nursery's context: not cancelled.
                            sleep(SEC).await;
                            t1.log(format!("child done at {:?}", time::now()));
                        })
                        .await;
                    t2.log(format!("start returned {v:?}"));
                    checkpoint().await;
                })
                .await;
            assert!(out.is_err() && scope.cancelled_caught());
        })
        .await
        .unwrap();
    });
    assert_eq!(
        trace.events(),
        ["start returned Ok(5)", "child done at Instant(1s)"]
    );
}

#[arbor::test(virtual_clock)]
async fn a_child_error_before_started_fails_the_start_call_not_the_nursery() {
    let out = nursery(async |n| {
        let err = n
            .start(|_status: arbor::TaskStatus<()>| async { Err::<(), _>(lost()) })
            .await
            .unwrap_err();
        matches!(err, arbor::StartError::Failed(_))
    })
    .await;
    assert!(out.unwrap(), "the start call failed, the nursery did not");
}

#[test]
fn after_started_the_callers_cancellation_no_longer_reaches_the_child() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        nursery(async move |n| {
            let t1 = t.clone();
            let out = move_on_after(SEC, async move {
                n.start(|status| async move {
                    sleep(SEC / 2).await; // still the caller's: not yet started
                    status.started(()).unwrap();
                    sleep(SEC * 2).await;
                    t1.log(format!("child done at {:?}", time::now()));
                })
                .await
                .unwrap();
                sleep(HOUR).await;
            })
            .await;
            assert!(out.is_none());
        })
        .await
        .unwrap();
    });
    assert_eq!(trace.events(), ["child done at Instant(2.5s)"]);
}

#[test]
fn a_function_written_for_start_can_be_awaited_directly_with_an_ignored_status() {
    async fn serve(status: arbor::TaskStatus<u16>) -> u16 {
        status.started(8080).unwrap();
        assert!(!status.is_started());
        checkpoint().await;
        8080
    }
    let port = virtual_rt().block_on(serve(arbor::TaskStatus::ignored()));
    assert_eq!(port, 8080);
}
