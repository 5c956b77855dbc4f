//! Executor behaviour: scheduling order, wakers, panics, aborts, shutdown.

mod support;

use std::cell::Cell;
use std::future::{Future, pending, poll_fn};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use arbor::{Runtime, spawn, yield_now};
use support::{DropCounter, Trace};

#[test]
fn batch_runs_tasks_in_spawn_order_and_woken_tasks_next_tick() {
    let trace = Trace::new();
    let t = trace.clone();
    arbor::run(async move {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let t = t.clone();
                spawn(async move {
                    t.log(format!("{i}:a"));
                    yield_now().await;
                    t.log(format!("{i}:b"));
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(trace.events(), ["0:a", "1:a", "2:a", "0:b", "1:b", "2:b"]);
}

#[test]
fn task_spawned_during_a_tick_runs_in_the_next_tick() {
    let trace = Trace::new();
    let t = trace.clone();
    arbor::run(async move {
        let t2 = t.clone();
        let a = spawn(async move {
            let t3 = t2.clone();
            t2.log("a");
            let c = spawn(async move { t3.log("c") });
            c.await.unwrap();
        });
        let t4 = t.clone();
        let b = spawn(async move { t4.log("b") });
        a.await.unwrap();
        b.await.unwrap();
    });
    assert_eq!(trace.events(), ["a", "b", "c"]);
}

#[test]
fn self_waking_task_does_not_starve_a_timer_or_other_tasks() {
    let rt = Runtime::new().unwrap();
    let spins = rt.block_on(async {
        let stop = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let (s, n) = (stop.clone(), spins.clone());
        let spinner = spawn(async move {
            while !s.get() {
                n.set(n.get() + 1);
                yield_now().await;
            }
        });
        let other = spawn(async { 7 });
        assert_eq!(other.await.unwrap(), 7);
        arbor::time::sleep(Duration::from_millis(20)).await;
        stop.set(true);
        spinner.await.unwrap();
        spins.get()
    });
    assert!(spins > 0);
}

#[arbor::test]
async fn self_waking_task_does_not_starve_io() {
    use std::io::{Read, Write};
    let stop = Rc::new(Cell::new(false));
    let s = stop.clone();
    let spinner = spawn(async move {
        while !s.get() {
            yield_now().await;
        }
    });
    let (r, mut w) = std::io::pipe().unwrap();
    let r = arbor::io::Async::new(r).unwrap();
    w.write_all(b"x").unwrap();
    let mut buf = [0u8; 1];
    let n = r.read_with(|mut r| r.read(&mut buf)).await.unwrap();
    assert_eq!(n, 1);
    stop.set(true);
    spinner.await.unwrap();
}

#[test]
fn wakes_from_many_threads_all_run_the_task() {
    const THREADS: usize = 4;
    const WAKES: usize = 1000;
    let rt = Runtime::new().unwrap();
    let polls = rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let got = received.clone();
        let task = spawn(async move {
            let mut polls = 0usize;
            poll_fn(|cx| {
                polls += 1;
                if got.load(std::sync::atomic::Ordering::SeqCst) == THREADS * WAKES {
                    return Poll::Ready(());
                }
                // Hand a fresh clone out on the first poll only.
                if polls == 1 {
                    for _ in 0..THREADS {
                        tx.send(cx.waker().clone()).unwrap();
                    }
                }
                Poll::Pending
            })
            .await;
            polls
        });
        yield_now().await;
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let waker = rx.recv().unwrap();
                let received = received.clone();
                std::thread::spawn(move || {
                    for _ in 0..WAKES {
                        received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        waker.wake_by_ref();
                    }
                })
            })
            .collect();
        let polls = task.await.unwrap();
        for t in threads {
            t.join().unwrap();
        }
        polls
    });
    assert!(polls >= 2, "the task was woken and completed");
}

#[test]
fn wake_from_another_thread_wakes_a_parked_runtime() {
    // The runtime has nothing else to do: it must sleep in epoll_wait and
    // be woken by the eventfd.
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        poll_fn(move |cx| {
            if d.load(std::sync::atomic::Ordering::SeqCst) {
                return Poll::Ready(());
            }
            let (w, d) = (cx.waker().clone(), d.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                d.store(true, std::sync::atomic::Ordering::SeqCst);
                w.wake();
            });
            Poll::Pending
        })
        .await;
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    });
}

#[arbor::test]
async fn stale_waker_after_task_end_does_nothing() {
    let (tx, rx) = std::sync::mpsc::channel();
    let first = spawn(async move {
        poll_fn(|cx| {
            tx.send(cx.waker().clone()).unwrap();
            Poll::Ready(())
        })
        .await
    });
    first.await.unwrap();
    let stale = rx.recv().unwrap();
    // A new task likely reuses the slot; the stale waker must not poll it.
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let second = spawn(async move {
        poll_fn(|_| {
            p.set(p.get() + 1);
            Poll::<()>::Pending
        })
        .await
    });
    yield_now().await;
    assert_eq!(polls.get(), 1);
    stale.wake_by_ref();
    std::thread::spawn(move || stale.wake()).join().unwrap();
    yield_now().await;
    yield_now().await;
    assert_eq!(polls.get(), 1, "stale waker reached the new occupant");
    second.abort();
}

#[test]
fn waker_outliving_its_runtime_is_harmless() {
    let rt = Runtime::new().unwrap();
    let waker = rt.block_on(async {
        let h = spawn(async { poll_fn(|cx| Poll::Ready(cx.waker().clone())).await });
        h.await.unwrap()
    });
    drop(rt);
    waker.wake_by_ref();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    // And a new runtime is not disturbed by it.
    assert_eq!(arbor::run(async { 5 }), 5);
}

#[test]
fn runtime_drop_drops_every_task_future_exactly_once() {
    let drops = DropCounter::new();
    let rt = Runtime::new().unwrap();
    let d = drops.clone();
    rt.block_on(async move {
        for _ in 0..100 {
            let g = d.guard();
            drop(spawn(async move {
                let _g = g;
                pending::<()>().await
            }));
        }
        // Queued but never polled, too.
        let g = d.guard();
        drop(spawn(async move {
            let _g = g;
        }));
        yield_now().await;
    });
    assert_eq!(rt.live_tasks(), 100);
    assert_eq!(drops.dropped(), 1);
    drop(rt);
    assert_eq!(drops.dropped(), 101);
}

#[test]
fn runtime_drop_cancels_tasks_spawned_by_destructors() {
    struct SpawnOnDrop(DropCounter);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let g = self.0.guard();
            let h = spawn(async move {
                let _g = g;
            });
            assert!(
                h.is_finished(),
                "spawned during shutdown: cancelled at once"
            );
        }
    }
    let drops = DropCounter::new();
    let rt = Runtime::new().unwrap();
    let d = drops.clone();
    rt.block_on(async move {
        let s = SpawnOnDrop(d);
        drop(spawn(async move {
            let _s = s;
            pending::<()>().await
        }));
        yield_now().await;
    });
    drop(rt);
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn join_handle_after_runtime_drop_reports_cancelled() {
    let rt = Runtime::new().unwrap();
    let h = rt.spawn(pending::<()>());
    drop(rt);
    assert!(h.is_finished());
    let err = futures_lite::future::block_on(h).unwrap_err();
    assert!(err.is_cancelled());
}

#[arbor::test]
async fn panicking_task_is_reported_through_its_handle() {
    let h = spawn(async { panic!("boom") });
    let err = h.await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("boom"));
    // The scheduler survived: other tasks still run.
    assert_eq!(spawn(async { 3 }).await.unwrap(), 3);
}

#[arbor::test]
async fn abort_drops_a_parked_task_immediately() {
    let drops = DropCounter::new();
    let d = drops.clone();
    let g = d.guard();
    let h = spawn(async move {
        let _g = g;
        pending::<()>().await
    });
    yield_now().await;
    h.abort();
    assert_eq!(d.dropped(), 1, "dropped inside abort()");
    assert!(h.await.unwrap_err().is_cancelled());
}

#[arbor::test]
async fn abort_before_first_poll_and_self_abort() {
    let h = spawn(async { 1 });
    h.abort();
    assert!(h.await.unwrap_err().is_cancelled());

    let slot: Rc<Cell<Option<arbor::task::JoinHandle<()>>>> = Rc::new(Cell::new(None));
    let s = slot.clone();
    let after = Rc::new(Cell::new(false));
    let a = after.clone();
    let h = spawn(async move {
        let me = s.take().unwrap();
        me.abort();
        s.set(Some(me));
        yield_now().await;
        a.set(true);
    });
    slot.set(Some(h));
    yield_now().await;
    yield_now().await;
    assert!(
        !after.get(),
        "self-abort takes effect at the next suspension"
    );
    let h = slot.take().unwrap();
    assert!(h.await.unwrap_err().is_cancelled());
    assert_eq!(
        arbor::lowlevel::live_tasks(arbor::lowlevel::ScopeId::ROOT),
        Some(0)
    );
}

#[test]
fn abort_outside_block_on_drops_the_task_at_once() {
    let rt = Runtime::new().unwrap();
    let drops = DropCounter::new();
    let g = drops.guard();
    let h = rt.spawn(async move {
        let _g = g;
        pending::<()>().await;
    });
    rt.block_on(yield_now());
    assert_eq!(rt.live_tasks(), 1);
    h.abort(); // enters the task's runtime for the drop
    assert_eq!((drops.dropped(), rt.live_tasks()), (1, 0));
    assert!(h.is_finished());
}

#[test]
#[should_panic(expected = "cannot block on a runtime from inside a running arbor runtime")]
fn block_on_inside_a_runtime_panics() {
    arbor::run(async {
        arbor::run(async {});
    });
}

#[arbor::test]
async fn current_task_reports_id_and_name() {
    assert!(arbor::current_task().is_none(), "root future is not a task");
    let h = arbor::spawn_named("worker", async {
        let me = arbor::current_task().unwrap();
        (me.id(), me.name().map(String::from))
    });
    let id = h.id();
    let (seen, name) = h.await.unwrap();
    assert_eq!(seen, id);
    assert_eq!(name.as_deref(), Some("worker"));
    let anon = spawn(async { arbor::current_task().unwrap().name().is_none() });
    assert!(anon.await.unwrap());
}

#[test]
fn tasks_left_running_continue_at_next_block_on() {
    let rt = Runtime::new().unwrap();
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    let h = rt.spawn(async move {
        for _ in 0..3 {
            c.set(c.get() + 1);
            yield_now().await;
        }
    });
    rt.block_on(yield_now());
    let first = counter.get();
    assert!((1..3).contains(&first));
    rt.block_on(h).unwrap();
    assert_eq!(counter.get(), 3);
}

#[arbor::test]
async fn spawn_into_closed_scope_is_an_error_and_drops_the_future() {
    use arbor::lowlevel::{self as scope, ScopeId, SpawnError};
    let s = scope::open_scope(ScopeId::ROOT).unwrap();
    let drops = DropCounter::new();
    let h = scope::spawn_in(s, Some("child"), async { arbor::lowlevel::current_scope() }).unwrap();
    assert_eq!(h.await.unwrap(), s);
    scope::close_scope(s);
    let g = drops.guard();
    let err = scope::spawn_in(s, None, async move { drop(g) }).unwrap_err();
    assert_eq!(err, SpawnError::NoSuchScope, "closed and empty: freed");
    assert_eq!(drops.dropped(), 1);
    assert_eq!(scope::live_scopes(), 1);

    let s = scope::open_scope(ScopeId::ROOT).unwrap();
    let h = scope::spawn_in(s, None, pending::<()>()).unwrap();
    scope::close_scope(s);
    assert_eq!(
        scope::spawn_in(s, None, async {}).unwrap_err(),
        SpawnError::Closed
    );
    assert_eq!(scope::live_tasks(s), Some(1));
    h.abort();
    assert_eq!(scope::live_tasks(s), None, "freed when its last task left");
}

#[test]
fn many_tasks_complete() {
    let n = arbor::run(async {
        let handles: Vec<_> = (0..10_000u64).map(|i| spawn(async move { i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(n, (0..10_000u64).sum::<u64>());
}

fn _assert_not_send() {
    fn is_future<F: Future>(_: F) {}
    // Spawned futures need not be Send.
    let rc = Rc::new(1);
    is_future(async move {
        let h = spawn(async move { *rc });
        h.await
    });
}
