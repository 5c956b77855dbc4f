//! Unit tests that need the executor's internals.

use std::future::Future;

use super::*;
use crate::task::raw::{allocation_size, header_size};

fn bookkeeping<F: Future>(_: &F) -> usize {
    // Slab slot + allocation, minus the future itself.
    crate::slab::slot_size::<RawTask>() + allocation_size::<F>() - std::mem::size_of::<F>()
}

#[test]
fn bookkeeping_is_64_bytes_per_task() {
    // 32, plus the await point and park time of `scope::dump`.
    assert_eq!(header_size(), 48);
    assert_eq!(crate::slab::slot_size::<RawTask>(), 16);
    // A future holding some state, with a small output: the union of
    // future and output costs nothing beyond the future.
    let fut = async {
        let data = [1u64; 4];
        crate::yield_now().await;
        data[0]
    };
    assert!(bookkeeping(&fut) <= 64, "{} bytes", bookkeeping(&fut));
}

/// Watcher entries of the root node, the node every unscoped task's
/// `cancelled()` waits in.
fn root_watchers(rt: &crate::Runtime) -> usize {
    let scopes = rt.core.scopes.borrow();
    let root = scopes.key_of(0).expect("the root node");
    scopes
        .get(root)
        .and_then(|n| n.watchers.as_ref())
        .map_or(0, |w| w.len())
}

#[test]
fn a_dropped_cancelled_future_leaves_no_watcher_behind() {
    use std::pin::pin;
    use std::task::Poll;
    let rt = crate::Runtime::new().unwrap();
    rt.block_on(async {
        // Many tasks, each polling a `cancelled()` in the root node once
        // and dropping it (as `select` losers and shielded waits do).
        for _ in 0..1_000 {
            crate::spawn(async {
                let mut notice = pin!(crate::scope::cancelled());
                std::future::poll_fn(|cx| {
                    assert!(notice.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            })
            .await
            .unwrap();
        }
    });
    assert_eq!(root_watchers(&rt), 0);
}

/// Counts its wakes.
#[derive(Default)]
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn dropping_one_of_two_cancelled_futures_with_one_waker_keeps_the_other_registered() {
    use std::task::{Context, Poll};
    let rt = crate::Runtime::new().unwrap();
    let wakes = std::sync::Arc::new(CountWakes::default());
    rt.block_on(async {
        let cell = crate::scope::ScopeCell::new();
        let body = async {
            // Polled under a combinator's own waker, the same for both.
            let waker = std::task::Waker::from(wakes.clone());
            let mut cx = Context::from_waker(&waker);
            let mut first = Box::pin(crate::scope::cancelled());
            let mut second = Box::pin(crate::scope::cancelled());
            assert!(first.as_mut().poll(&mut cx).is_pending());
            assert!(second.as_mut().poll(&mut cx).is_pending());
            drop(first);
            cell.cancel(crate::scope::CancelReason::Explicit);
            // The cancel woke the one still registered.
            assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
            assert!(second.as_mut().poll(&mut cx).is_ready());
        };
        let mut region = std::pin::pin!(crate::scope::Region::new(
            &cell,
            crate::scope::NodeKind::Scope,
            body,
        ));
        std::future::poll_fn(|cx| match region.as_mut().poll_inner(cx) {
            crate::scope::Step::Pending => Poll::Pending,
            _ => Poll::Ready(()),
        })
        .await;
    });
    assert_eq!(root_watchers(&rt), 0);
}

#[test]
fn an_inherited_context_costs_one_pointer_in_the_future_and_nothing_otherwise() {
    use crate::task::local::WithCtx;
    fn extra<F>(_: &F) -> usize {
        std::mem::size_of::<WithCtx<F>>() - std::mem::size_of::<F>()
    }
    let fut = async {
        let data = [1u64; 4];
        crate::yield_now().await;
        data[0]
    };
    // Only a task spawned while some task-local is set is wrapped.
    assert_eq!(extra(&fut), std::mem::size_of::<usize>());
}

#[test]
fn a_pinned_runtime_keeps_its_blocking_workers_unpinned() {
    use crate::reactor::epoll::allowed_cpus;
    let all = allowed_cpus().unwrap();
    let cpu = *all.last().unwrap();
    let (runtime_thread, worker) = std::thread::spawn(move || {
        let rt = Runtime::builder().pin_to_cpu(cpu).build().unwrap();
        let worker = rt
            .block_on(async { crate::blocking::spawn(|| allowed_cpus().unwrap()).await })
            .unwrap();
        (allowed_cpus().unwrap(), worker)
    })
    .join()
    .unwrap();
    assert_eq!(runtime_thread, [cpu]);
    assert_eq!(worker, all, "the worker got the mask from before the pin");
}
