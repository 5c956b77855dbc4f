//! Waiting for the runtime to go idle: [`wait_all_tasks_blocked`]'s
//! waiters, and the run loop's idle park (`Core::park_until_idle`) that
//! wakes them or jumps an autojump clock.
//!
//! A waiter is an entry `(cushion, seq) → waker` in [`IdleWaiters`],
//! ordered by cushion, then by arrival. The run loop, finding nothing
//! runnable, parks for the smallest cushion of real time (unless a timer
//! comes due sooner); if that wait ends with nothing runnable and no I/O
//! or cross-thread wake having made work, it removes every entry with that
//! cushion and wakes them. The future sees its entry gone and completes;
//! dropping it removes the entry. While a waiter is pending a virtual clock
//! does not jump (trio's rule): the waiter is woken first, whatever its
//! cushion, since with nothing else happening virtual time is not due to
//! move until it does.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::Core;
use crate::context;

/// The pending [`wait_all_tasks_blocked`] calls of one runtime.
#[derive(Default)]
pub(crate) struct IdleWaiters {
    waiters: RefCell<BTreeMap<(Duration, u64), Waker>>,
    next_seq: Cell<u64>,
}

impl IdleWaiters {
    /// The smallest cushion waited for, if anyone waits.
    #[inline]
    pub(crate) fn first_cushion(&self) -> Option<Duration> {
        self.waiters.borrow().keys().next().map(|&(c, _)| c)
    }

    fn insert(&self, cushion: Duration, waker: Waker) -> (Duration, u64) {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        self.waiters.borrow_mut().insert((cushion, seq), waker);
        (cushion, seq)
    }

    /// Wake every waiter whose cushion is `cushion` (the smallest: the
    /// runtime has been idle that long), in arrival order.
    pub(crate) fn wake(&self, cushion: Duration) {
        let woken: Vec<Waker> = {
            let mut waiters = self.waiters.borrow_mut();
            let rest = waiters.split_off(&(cushion, u64::MAX));
            std::mem::replace(&mut *waiters, rest)
                .into_values()
                .collect()
        };
        // No borrow held: a waker may re-enter the runtime.
        for w in woken {
            w.wake();
        }
    }
}

/// Wait until every other task has been blocked for `cushion` of real
/// time: no task runnable, and no I/O readiness, cross-thread wake or
/// timer making one runnable for that long (trio's
/// `trio.testing.wait_all_tasks_blocked`). A test helper: it lets a test
/// say "once the others are all parked", e.g. waiting on a lock or a
/// channel, without sleeping an arbitrary time.
///
/// Waiters with the smallest cushion are woken first, together; one with
/// a larger cushion waits on (its idle time starts again after the
/// smaller waiters run). On a virtual clock (`Builder::virtual_clock`,
/// `Builder::autojump`) time does not jump while a waiter is pending:
/// the waiter is woken before the clock moves to the next timer.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use arbor_runtime::testing::wait_all_tasks_blocked;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let t0 = arbor_runtime::time::now();
///     let stage = Rc::new(Cell::new(0));
///     let s = stage.clone();
///     let _task = arbor_runtime::spawn(async move {
///         s.set(1);
///         arbor_runtime::time::sleep(Duration::from_secs(5)).await; // blocked
///         s.set(2);
///     });
///     wait_all_tasks_blocked(Duration::ZERO).await;
///     assert_eq!(stage.get(), 1); // the task is parked in its sleep
///     assert_eq!(t0.elapsed(), Duration::ZERO); // the clock did not jump
/// });
/// ```
///
/// # Cancel safety
/// Dropping it removes its entry; nothing else is affected. It is a
/// checkpoint: inside a cancelled scope it never completes.
///
/// # Panics
/// When polled outside a runtime.
pub fn wait_all_tasks_blocked(cushion: Duration) -> WaitAllTasksBlocked {
    WaitAllTasksBlocked {
        cushion,
        entry: None,
    }
}

/// The future of [`wait_all_tasks_blocked`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WaitAllTasksBlocked {
    cushion: Duration,
    entry: Option<(Weak<Core>, (Duration, u64))>,
}

impl Future for WaitAllTasksBlocked {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        context::expect("polling arbor::testing::wait_all_tasks_blocked", |core| {
            if core.current_cancelled() {
                // A checkpoint: no progress in a cancelled scope.
                return Poll::Pending;
            }
            match &this.entry {
                None => {
                    let key = core.idle.insert(this.cushion, cx.waker().clone());
                    this.entry = Some((core.weak_self.clone(), key));
                    Poll::Pending
                }
                Some((owner, key)) => {
                    assert!(
                        std::ptr::eq(owner.as_ptr(), core),
                        "wait_all_tasks_blocked polled on another runtime"
                    );
                    match core.idle.waiters.borrow_mut().get_mut(key) {
                        Some(waker) => {
                            waker.clone_from(cx.waker());
                            Poll::Pending
                        }
                        None => {
                            this.entry = None;
                            Poll::Ready(())
                        }
                    }
                }
            }
        })
    }
}

impl Drop for WaitAllTasksBlocked {
    fn drop(&mut self) {
        if let Some((owner, key)) = self.entry.take()
            && let Some(core) = owner.upgrade()
        {
            let waker = core.idle.waiters.borrow_mut().remove(&key);
            // Dropped after the borrow ends: a foreign waker's drop may run
            // user code.
            drop(waker);
        }
    }
}
