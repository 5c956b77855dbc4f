//! Task-locals: `scope`/`sync_scope`/`with`/`try_with`/`get`, and their
//! inheritance by spawned tasks (a snapshot at the spawn call, as trio's
//! contextvars). All on the virtual clock.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Duration;

use arbor::time::sleep;
use arbor::{nursery, yield_now};
use support::{Trace, virtual_rt};

const SEC: Duration = Duration::from_secs(1);

arbor::task_local! {
    static ID: u32;
    static NAME: String;
}

/// What `ID` is here, `None` if unset.
fn id() -> Option<u32> {
    ID.try_with(|v| *v).ok()
}

#[arbor::test(virtual_clock)]
async fn scope_sets_a_value_for_its_future_only() {
    assert_eq!(id(), None);
    let seen = ID
        .scope(1, async {
            let a = ID.get();
            yield_now().await;
            let b = ID.with(|v| v + 10);
            let name = NAME.try_with(|n| n.clone());
            (a, b, name.is_err())
        })
        .await;
    assert_eq!(seen, (1, 11, true));
    assert_eq!(id(), None);
    let err = ID.try_with(|_| ()).unwrap_err();
    assert_eq!(err.key_name(), "ID");
    assert!(err.to_string().contains("ID.scope(value, future)"), "{err}");
}

#[arbor::test(virtual_clock)]
async fn nested_scopes_shadow_and_restore() {
    ID.scope(1, async {
        NAME.scope("outer".into(), async {
            ID.scope(2, async {
                yield_now().await;
                assert_eq!(ID.get(), 2);
                // The other key of the enclosing scope is still visible.
                assert_eq!(NAME.get(), "outer");
            })
            .await;
            assert_eq!(ID.get(), 1);
            assert_eq!(ID.sync_scope(3, || ID.get()), 3);
            assert_eq!(ID.get(), 1);
        })
        .await;
        assert!(NAME.try_with(|_| ()).is_err());
    })
    .await;
    assert_eq!(id(), None);
}

#[arbor::test(virtual_clock)]
async fn a_child_spawned_in_a_scope_starts_with_a_snapshot() {
    let (plain, named, nested) = ID
        .scope(1, async {
            NAME.scope("req".into(), async {
                let plain = arbor::spawn(async { (ID.get(), NAME.get()) });
                let named = arbor::spawn_named("n", async { ID.get() });
                // A grandchild inherits through its parent.
                let nested =
                    arbor::spawn(async { arbor::spawn(async { ID.get() }).await.unwrap() });
                (plain.await, named.await, nested.await)
            })
            .await
        })
        .await;
    assert_eq!(plain.unwrap(), (1, "req".to_string()));
    assert_eq!(named.unwrap(), 1);
    assert_eq!(nested.unwrap(), 1);
    // Spawned outside every scope: nothing.
    assert_eq!(arbor::spawn(async { id() }).await.unwrap(), None);
}

#[arbor::test(virtual_clock)]
async fn a_childs_scope_does_not_reach_its_parent() {
    ID.scope(1, async {
        let child = arbor::spawn(ID.scope(2, async {
            sleep(SEC).await;
            ID.get()
        }));
        sleep(SEC / 2).await;
        assert_eq!(ID.get(), 1);
        assert_eq!(child.await.unwrap(), 2);
        assert_eq!(ID.get(), 1);
    })
    .await;
}

#[test]
fn what_the_parent_sets_after_the_spawn_does_not_reach_the_child() {
    let trace = Trace::default();
    virtual_rt().block_on(async {
        ID.scope(1, async {
            let t = trace.clone();
            let child = arbor::spawn(async move {
                sleep(SEC).await;
                t.log(format!(
                    "child {:?} {}",
                    id(),
                    NAME.try_with(|_| ()).is_ok()
                ));
            });
            ID.scope(
                2,
                NAME.scope("later".into(), async {
                    sleep(SEC * 2).await;
                    trace.log(format!("parent {:?}", id()));
                }),
            )
            .await;
            child.await.unwrap();
        })
        .await;
    });
    assert_eq!(trace.events(), ["child Some(1) false", "parent Some(2)"]);
}

#[arbor::test(virtual_clock)]
async fn nursery_children_started_children_and_child_sets_inherit() {
    let seen = ID
        .scope(7, async {
            nursery(async |n| {
                let spawned = n.spawn(async { ID.get() });
                let started = n
                    .start(async |status: arbor::TaskStatus<u32>| {
                        // Before `started` (run in the caller's place)
                        // and after it (moved into the nursery).
                        status.started(ID.get()).unwrap();
                        sleep(SEC).await;
                        assert_eq!(ID.get(), 7);
                    })
                    .await
                    .unwrap();
                let mut set = n.child_set();
                set.spawn(async { ID.get() });
                // Spawned from inside a scope of the body: the body's
                // value at the call, not the nursery's at its opening.
                let inner = ID.sync_scope(8, || n.spawn(async { ID.get() }));
                let from_set = set.join_next().await.unwrap().unwrap();
                (
                    spawned.await.unwrap(),
                    started,
                    from_set,
                    inner.await.unwrap(),
                )
            })
            .await
            .unwrap()
        })
        .await;
    assert_eq!(seen, (7, 7, 7, 8));
}

#[test]
fn tasks_polled_in_turn_each_see_only_their_own_scope() {
    let rt = virtual_rt();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..3u32 {
            tasks.push(arbor::spawn(ID.scope(i, async move {
                for _ in 0..10 {
                    assert_eq!(ID.get(), i);
                    yield_now().await;
                }
            })));
            // A task with no scope, polled between them, sees nothing.
            tasks.push(arbor::spawn(async {
                for _ in 0..10 {
                    assert_eq!(id(), None);
                    yield_now().await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn a_panic_inside_a_scope_restores_the_outer_value() {
    // Synchronous.
    ID.sync_scope(1, || {
        let caught = catch_unwind(|| ID.sync_scope(2, || panic!("inner")));
        assert!(caught.is_err());
        assert_eq!(ID.get(), 1);
    });
    assert_eq!(id(), None);
    // A poll that panics.
    ID.sync_scope(1, || {
        let mut fut = pin!(ID.scope(2, async {
            assert_eq!(ID.get(), 2);
            panic!("in poll");
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let caught = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        assert!(caught.is_err());
        assert_eq!(ID.get(), 1);
    });
    // A task that panics in a scope: the runtime's loop stays clean.
    virtual_rt().block_on(async {
        let failed = arbor::spawn(ID.scope(3, async { panic!("task") }));
        assert!(failed.await.unwrap_err().is_panic());
        assert_eq!(arbor::spawn(async { id() }).await.unwrap(), None);
        assert_eq!(id(), None);
    });
}

/// Records the value of `ID` its destructor sees.
struct SeeOnDrop(Rc<Cell<Option<Option<u32>>>>);

impl Drop for SeeOnDrop {
    fn drop(&mut self) {
        self.0.set(Some(id()));
    }
}

#[arbor::test(virtual_clock)]
async fn a_cancelled_scope_drops_its_future_with_its_values_visible() {
    // Cancelled by a timeout around the scope.
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let out = arbor::move_on_after(
        SEC,
        ID.scope(1, async move {
            let _guard = SeeOnDrop(s);
            sleep(SEC * 10).await;
        }),
    )
    .await;
    assert!(out.is_none());
    assert_eq!(seen.get(), Some(Some(1)));
    // An inheriting task aborted from a task in another scope: its
    // destructor sees its own values, not the aborter's.
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let victim = ID.sync_scope(2, || {
        arbor::spawn(async move {
            let _guard = SeeOnDrop(s);
            std::future::pending::<()>().await;
        })
    });
    yield_now().await;
    ID.scope(3, async { victim.abort() }).await;
    assert_eq!(seen.get(), Some(Some(2)));
    // And a task that inherited nothing sees nothing.
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let victim = arbor::spawn(async move {
        let _guard = SeeOnDrop(s);
        std::future::pending::<()>().await;
    });
    yield_now().await;
    ID.scope(4, async { victim.abort() }).await;
    assert_eq!(seen.get(), Some(None));
}

#[test]
fn block_on_gives_the_callers_values_to_the_root_future_only() {
    let rt = virtual_rt();
    let handle = rt.handle();
    let (root, child, remote) = ID.sync_scope(5, || {
        rt.block_on(async {
            let child = arbor::spawn(async { id() }).await.unwrap();
            // `Handle::spawn` makes its future at the root of the loop,
            // even when called from the runtime's thread: no values.
            let remote = handle.spawn(|| async { id() }).unwrap().await.unwrap();
            (id(), child, remote)
        })
    });
    assert_eq!((root, child, remote), (Some(5), Some(5), None));
    // `Runtime::spawn` outside `block_on` snapshots the caller's values too.
    let task = ID.sync_scope(6, || rt.spawn(async { id() }));
    assert_eq!(rt.block_on(task).unwrap(), Some(6));
}

#[test]
fn values_need_not_be_send_and_are_shared_with_children() {
    arbor::task_local! {
        static SHARED: Rc<Cell<u32>>;
    }
    let counter = Rc::new(Cell::new(0));
    virtual_rt().block_on(SHARED.scope(counter.clone(), async {
        let children: Vec<_> = (0..3)
            .map(|_| arbor::spawn(async { SHARED.with(|c| c.set(c.get() + 1)) }))
            .collect();
        for c in children {
            c.await.unwrap();
        }
    }));
    assert_eq!(counter.get(), 3);
    // The scope and its children are gone: only `counter` holds it.
    assert_eq!(Rc::strong_count(&counter), 1);
}

#[test]
#[should_panic(expected = "task-local `ID` is not set here")]
fn with_outside_any_scope_panics() {
    ID.with(|_| ());
}

#[arbor::test(virtual_clock)]
async fn scopes_compose_whichever_is_built_first() {
    // The inner `scope` is called first; both values are visible.
    let both = ID
        .scope(1, NAME.scope("n".into(), async { (ID.get(), NAME.get()) }))
        .await;
    assert_eq!(both, (1, "n".to_string()));
}

#[test]
fn a_scope_polled_under_another_enclosing_value_sees_that_one() {
    let mut fut = pin!(NAME.scope("inner".into(), async {
        let first = (id(), NAME.get());
        yield_now_raw().await;
        [first, (id(), NAME.get())]
    }));
    let mut cx = Context::from_waker(Waker::noop());
    // Its own value on top of whatever encloses each poll.
    assert!(ID.sync_scope(1, || fut.as_mut().poll(&mut cx)).is_pending());
    let done = ID.sync_scope(2, || fut.as_mut().poll(&mut cx));
    let std::task::Poll::Ready(seen) = done else {
        panic!("two polls finish it")
    };
    assert_eq!(
        seen,
        [
            (Some(1), "inner".to_string()),
            (Some(2), "inner".to_string())
        ]
    );
}

/// Pending once, without a runtime.
async fn yield_now_raw() {
    let mut yielded = false;
    std::future::poll_fn(|_| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

arbor::task_local! {
    static REQUEST: u32;
}

/// Across `to_thread`: the worker thread sees no task-local (the values
/// are not `Send`), and `from_thread` calls, which run on the runtime
/// thread in the calling task's context, see the task's values.
#[arbor::test]
async fn a_to_thread_worker_sees_no_task_local_and_its_from_thread_calls_see_the_tasks() {
    let seen = REQUEST
        .scope(7, async {
            arbor::to_thread::run_sync(|| {
                let on_worker = REQUEST.try_with(|v| *v).ok();
                let sync_call = arbor::from_thread::run_sync(|| REQUEST.get()).unwrap();
                let async_call = arbor::from_thread::run(|| async {
                    arbor::yield_now().await;
                    REQUEST.get()
                })
                .unwrap();
                (on_worker, sync_call, async_call)
            })
            .await
        })
        .await;
    assert_eq!(seen, (None, 7, 7));
    // And outside the scope, a from_thread call sees nothing.
    let outside = arbor::to_thread::run_sync(|| {
        arbor::from_thread::run_sync(|| REQUEST.try_with(|v| *v).ok()).unwrap()
    })
    .await;
    assert_eq!(outside, None);
}
