//! No safe code can break the task layer: destructors that re-enter their
//! own task, handles used outside `block_on` or from another runtime, and
//! outputs whose destructor panics. Each test is a reproducer from issue 9
//! (run them under ASan and Miri too: a double drop or a use after free is
//! what they used to do).

mod support;

use std::cell::{Cell, RefCell};
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use arbor::lowlevel as scope;
use arbor::task::JoinHandle;
use arbor::{CancelScope, Runtime, nursery, spawn};
use support::{DropCounter, DropGuard, virtual_rt};

type Slot = Rc<RefCell<Option<JoinHandle<()>>>>;

/// Aborts the task whose handle is in the slot when dropped (tokio ships
/// this as `AbortOnDropHandle`). Counts its own drops.
struct AbortOnDrop {
    slot: Slot,
    drops: Rc<Cell<usize>>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some(h) = self.slot.borrow().as_ref() {
            h.abort();
        }
    }
}

/// Like [`AbortOnDrop`], but takes the handle out of the slot first, so the
/// handle is dropped inside the destructor too.
struct TakeAndAbortOnDrop {
    slot: Slot,
    drops: Rc<Cell<usize>>,
}

impl Drop for TakeAndAbortOnDrop {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        let handle = self.slot.borrow_mut().take();
        if let Some(h) = handle {
            h.abort();
        }
    }
}

/// Two parked tasks, each holding an abort-on-drop guard of the other's
/// handle. Returns the handles' slots and the drop counts.
fn two_tasks_guarding_each_other(rt: &Runtime) -> (Slot, Slot, Rc<Cell<usize>>) {
    let drops = Rc::new(Cell::new(0));
    let (slot_a, slot_b): (Slot, Slot) = Default::default();
    let guard_of_b = AbortOnDrop {
        slot: slot_b.clone(),
        drops: drops.clone(),
    };
    let a = rt.spawn(async move {
        let _guard = guard_of_b;
        pending::<()>().await;
    });
    let guard_of_a = AbortOnDrop {
        slot: slot_a.clone(),
        drops: drops.clone(),
    };
    let b = rt.spawn(async move {
        let _guard = guard_of_a;
        pending::<()>().await;
    });
    *slot_a.borrow_mut() = Some(a);
    *slot_b.borrow_mut() = Some(b);
    rt.block_on(support::settle());
    (slot_a, slot_b, drops)
}

#[test]
fn aborting_one_of_two_tasks_that_abort_each_other_on_drop_drops_each_future_once() {
    let rt = virtual_rt();
    let (slot_a, slot_b, drops) = two_tasks_guarding_each_other(&rt);
    rt.block_on(async {
        slot_a.borrow().as_ref().unwrap().abort();
    });
    assert_eq!(drops.get(), 2, "each guard dropped exactly once");
    assert!(slot_a.borrow().as_ref().unwrap().is_finished());
    assert!(slot_b.borrow().as_ref().unwrap().is_finished());
    assert_eq!(rt.live_tasks(), 0);
    let a = slot_a.borrow_mut().take().unwrap();
    let b = slot_b.borrow_mut().take().unwrap();
    let (a, b) = rt.block_on(async { (a.await, b.await) });
    assert!(a.unwrap_err().is_cancelled() && b.unwrap_err().is_cancelled());
}

#[test]
fn dropping_the_runtime_under_tasks_that_abort_each_other_on_drop_drops_each_future_once() {
    let rt = virtual_rt();
    let (slot_a, slot_b, drops) = two_tasks_guarding_each_other(&rt);
    drop(rt);
    assert_eq!(drops.get(), 2);
    // The handles outlive the runtime: they see the tasks cancelled.
    assert!(slot_a.borrow().as_ref().unwrap().is_finished());
    assert!(slot_b.borrow().as_ref().unwrap().is_finished());
}

#[test]
fn a_task_whose_destructor_aborts_its_own_handle_is_dropped_once() {
    let rt = virtual_rt();
    let drops = Rc::new(Cell::new(0));
    let slot: Slot = Default::default();
    let guard = AbortOnDrop {
        slot: slot.clone(),
        drops: drops.clone(),
    };
    let task = rt.spawn(async move {
        let _guard = guard;
        pending::<()>().await;
    });
    *slot.borrow_mut() = Some(task);
    rt.block_on(support::settle());
    rt.block_on(async { slot.borrow().as_ref().unwrap().abort() });
    assert_eq!(drops.get(), 1);
    assert_eq!(rt.live_tasks(), 0);
    let task = slot.borrow_mut().take().unwrap();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn dropping_the_runtime_under_a_task_that_takes_and_aborts_its_own_handle_on_drop() {
    // The destructor drops the last handle while the future is being
    // dropped: the allocation must outlive the destructor.
    let rt = virtual_rt();
    let drops = Rc::new(Cell::new(0));
    let slot: Slot = Default::default();
    let guard = TakeAndAbortOnDrop {
        slot: slot.clone(),
        drops: drops.clone(),
    };
    let task = rt.spawn(async move {
        let _guard = guard;
        pending::<()>().await;
    });
    *slot.borrow_mut() = Some(task);
    rt.block_on(support::settle());
    drop(rt);
    assert_eq!(drops.get(), 1);
    assert!(slot.borrow().is_none());
}

#[test]
fn a_task_that_aborts_itself_while_running_is_dropped_after_its_poll_once() {
    let rt = virtual_rt();
    let drops = Rc::new(Cell::new(0));
    let slot: Slot = Default::default();
    let (s, d) = (slot.clone(), drops.clone());
    let task = rt.spawn(async move {
        let _guard = AbortOnDrop {
            slot: s.clone(),
            drops: d,
        };
        arbor::yield_now().await;
        s.borrow().as_ref().unwrap().abort(); // deferred to after this poll
        arbor::yield_now().await;
        unreachable!("aborted at the previous suspension");
    });
    *slot.borrow_mut() = Some(task);
    rt.block_on(support::settle());
    assert_eq!(drops.get(), 1);
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn a_task_awaiting_its_own_handle_can_be_aborted_and_dropped() {
    // The join waker the finished task wakes is its own: waking it must not
    // touch the allocation the wake could free.
    let rt = virtual_rt();
    let slot: Slot = Default::default();
    let s = slot.clone();
    let drops = DropCounter::new();
    let guard = drops.guard();
    let task = rt.spawn(async move {
        let _guard = guard;
        arbor::yield_now().await;
        let own = s.borrow_mut().take().unwrap();
        let _ = own.await; // waits for itself forever
    });
    *slot.borrow_mut() = Some(task);
    rt.block_on(support::settle());
    assert!(slot.borrow().is_none(), "the task holds its own handle now");
    assert_eq!(drops.dropped(), 0);
    drop(rt);
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn aborting_a_task_outside_block_on_drops_the_children_of_its_nursery_at_once() {
    let rt = virtual_rt();
    let children = DropCounter::new();
    let c = children.clone();
    let task = rt.spawn(async move {
        let _ = nursery(async move |n| {
            for _ in 0..3 {
                let g = c.guard();
                n.spawn(async move {
                    let _g = g;
                    pending::<()>().await;
                });
            }
        })
        .await;
    });
    rt.block_on(support::settle());
    assert_eq!(rt.live_tasks(), 4);
    task.abort(); // no runtime is running
    assert_eq!(children.dropped(), 3, "the nursery dropped its children");
    assert_eq!(rt.live_tasks(), 0);
    assert_eq!(rt.block_on(async { scope::live_scopes() }), 1);
}

#[test]
fn aborting_a_task_of_one_runtime_from_another_touches_only_its_own_scopes() {
    let rt_a = virtual_rt();
    let rt_b = virtual_rt();
    // A task of A parked inside a cancel scope (node 1 of A's table).
    let task = rt_a.spawn(async {
        let _ = CancelScope::new().run(pending::<()>()).await;
    });
    rt_a.block_on(support::settle());
    let body_dropped = DropCounter::new();
    let guard = body_dropped.guard();
    let out = rt_b.block_on(async move {
        // B's own scope (node 1 of B's table), with a parked body.
        let scope = CancelScope::new();
        let handle = scope.handle();
        let aborter = spawn(async move {
            arbor::yield_now().await;
            // A's task is dropped: its scope exit must close A's node 1,
            // not B's.
            task.abort();
            arbor::time::sleep(Duration::from_secs(1)).await;
            handle.cancel();
        });
        let out = scope
            .run(async move {
                let _g = guard;
                pending::<()>().await;
            })
            .await;
        aborter.await.unwrap();
        (out.is_err(), scope.cancelled_caught(), scope::live_scopes())
    });
    assert_eq!(out, (true, true, 1), "B's scope still cancels its body");
    assert_eq!(body_dropped.dropped(), 1);
    assert_eq!(rt_a.live_tasks(), 0);
    assert_eq!(
        rt_a.block_on(async { scope::live_scopes() }),
        1,
        "A's node freed"
    );
}

/// An output whose destructor panics.
struct PanicsOnDrop(#[allow(dead_code)] DropGuard);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("output destructor panics");
    }
}

#[test]
fn a_detached_task_whose_output_panics_on_drop_does_not_unwind_out_of_block_on() {
    let rt = virtual_rt();
    let outputs = DropCounter::new();
    let o = outputs.clone();
    let done = rt.block_on(async move {
        drop(spawn(async move { PanicsOnDrop(o.guard()) })); // detached
        support::settle().await;
        "block_on returned normally"
    });
    assert_eq!(done, "block_on returned normally");
    assert_eq!(outputs.dropped(), 1);
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn a_join_handle_dropped_with_an_output_that_panics_on_drop_frees_the_task() {
    let rt = virtual_rt();
    let outputs = DropCounter::new();
    let o = outputs.clone();
    let handle = rt.spawn(async move { PanicsOnDrop(o.guard()) });
    rt.block_on(support::settle());
    assert!(handle.is_finished());
    drop(handle); // the output is dropped here; its panic stays contained
    assert_eq!(outputs.dropped(), 1);
}

#[test]
fn a_cancel_handle_of_one_runtime_used_in_another_cancels_only_its_own_scope() {
    let rt_a = virtual_rt();
    let rt_b = virtual_rt();
    let a_body = DropCounter::new();
    let guard = a_body.guard();
    let scope_a = CancelScope::new();
    let handle_a = scope_a.handle();
    let task = rt_a.spawn(async move {
        let _ = scope_a
            .run(async move {
                let _g = guard;
                pending::<()>().await;
            })
            .await;
        scope_a.cancelled_caught()
    });
    rt_a.block_on(support::settle());
    let b_still_running = rt_b.block_on(async move {
        CancelScope::new()
            .run(async move {
                handle_a.cancel(); // A's node, not B's node at the same index
                arbor::yield_now().await;
                "B's body is not cancelled"
            })
            .await
    });
    assert_eq!(b_still_running, Ok("B's body is not cancelled"));
    assert_eq!(
        a_body.dropped(),
        0,
        "A's task is woken, runs at A's next tick"
    );
    assert!(rt_a.block_on(task).unwrap(), "A's scope caught");
    assert_eq!(a_body.dropped(), 1);
}
