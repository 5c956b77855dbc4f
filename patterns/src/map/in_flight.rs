//! [`InFlight`]: up to `limit` futures polled in place, inside the task
//! that polls the set, each with a waker of its own so that a wake polls
//! only the future it was for (as `FuturesUnordered` does).
//!
//! # Who touches what
//!
//! - The owning task alone touches the slots, the free list, the batch
//!   and the iterator, in [`InFlight::poll_drive`].
//! - A slot's waker may be woken from any thread: it sets its `queued`
//!   flag and, if that was clear, pushes its slot number onto the shared
//!   [`ReadyQueue`] and wakes the owner's waker. The flag keeps a slot
//!   from being queued twice; it is cleared just before the slot is
//!   polled, so a wake during that poll queues it again.
//!
//! A slot's storage (its boxed `Option<Fut>` and its waker) is made the
//! first time the slot is needed and reused for every later item: after
//! the first `limit` items, starting an item allocates nothing.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// Slots whose futures were woken, and the owner's waker.
#[derive(Default)]
struct ReadyQueue {
    inner: Mutex<ReadyInner>,
}

#[derive(Default)]
struct ReadyInner {
    ready: Vec<usize>,
    owner: Option<Waker>,
}

impl ReadyQueue {
    fn lock(&self) -> MutexGuard<'_, ReadyInner> {
        // Nothing panics while the lock is held (a push, a clone of a
        // waker); a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The waker of one slot.
struct SlotWaker {
    queue: Arc<ReadyQueue>,
    slot: usize,
    queued: AtomicBool,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let owner = {
            let mut inner = self.queue.lock();
            inner.ready.push(self.slot);
            // A queue that was not empty has woken the owner since its
            // last drain already: slots woken together (a timer tick's
            // worth) cost the owner one wake.
            if inner.ready.len() > 1 {
                return;
            }
            inner.owner.clone()
        };
        // Woken outside the lock: the owner's waker may be another set's
        // slot waker (a map inside a map's item), with a lock of its own.
        if let Some(owner) = owner {
            owner.wake();
        }
    }
}

struct Slot<Fut> {
    /// Boxed once, reused: `Pin::set` drops the old future in place.
    future: Pin<Box<Option<Fut>>>,
    /// The input index of the item running in this slot.
    index: usize,
    flag: Arc<SlotWaker>,
    waker: Waker,
}

/// What the sink given to [`InFlight::poll_drive`] wants next.
pub(crate) enum Flow {
    /// Keep polling.
    Continue,
    /// Return from this poll at once (results not yet polled stay queued).
    Stop,
}

/// How [`InFlight::poll_drive`] ended.
pub(crate) enum Drive {
    /// Every item was started and every future finished.
    Done,
    /// The sink said stop.
    Stopped,
    /// Futures are still running; the task will be woken.
    Pending,
}

/// Up to `limit` futures, made lazily from `items` by `f` and polled in
/// place. See the module docs.
pub(crate) struct InFlight<I, F, Fut> {
    /// `None` once exhausted or stopped: no further item starts.
    items: Option<I>,
    f: F,
    next_index: usize,
    limit: usize,
    slots: Vec<Slot<Fut>>,
    free: Vec<usize>,
    live: usize,
    /// Slots to poll in this poll (or the next, after a `Stop`), in order.
    batch: VecDeque<usize>,
    queue: Arc<ReadyQueue>,
}

impl<I, F, Fut> InFlight<I, F, Fut> {
    /// Futures made and not finished.
    pub(crate) fn live(&self) -> usize {
        self.live
    }
}

impl<I, F, Fut> InFlight<I, F, Fut>
where
    I: Iterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    /// `limit` must be at least 1 (checked by the public functions).
    pub(crate) fn new(items: I, limit: usize, f: F) -> Self {
        debug_assert!(limit > 0);
        InFlight {
            items: Some(items),
            f,
            next_index: 0,
            limit,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            batch: VecDeque::new(),
            queue: Arc::new(ReadyQueue::default()),
        }
    }

    /// Start no further item (the iterator is dropped now).
    pub(crate) fn stop_starting(&mut self) {
        self.items = None;
    }

    /// Start items while there is room, queueing their first polls.
    fn fill(&mut self) {
        while self.live < self.limit {
            let Some(items) = self.items.as_mut() else {
                return;
            };
            let Some(item) = items.next() else {
                self.items = None;
                return;
            };
            let future = (self.f)(item);
            let index = self.next_index;
            self.next_index += 1;
            let slot = match self.free.pop() {
                Some(slot) => slot,
                None => {
                    let slot = self.slots.len();
                    let flag = Arc::new(SlotWaker {
                        queue: self.queue.clone(),
                        slot,
                        queued: AtomicBool::new(false),
                    });
                    self.slots.push(Slot {
                        future: Box::pin(None),
                        index,
                        waker: Waker::from(flag.clone()),
                        flag,
                    });
                    slot
                }
            };
            let s = &mut self.slots[slot];
            s.future.set(Some(future));
            s.index = index;
            self.live += 1;
            self.batch.push_back(slot);
        }
    }

    /// Poll the futures that were woken (and start items into free
    /// slots), giving each output with its input index to `sink`. A
    /// future woken during this poll is polled at the next one (the owner
    /// is woken), so a future that keeps waking itself cannot keep the
    /// task from yielding.
    pub(crate) fn poll_drive(
        &mut self,
        cx: &mut Context<'_>,
        mut sink: impl FnMut(usize, Fut::Output) -> Flow,
    ) -> Drive {
        {
            let mut inner = self.queue.lock();
            if !inner
                .owner
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                inner.owner = Some(cx.waker().clone());
            }
            self.batch.extend(inner.ready.drain(..));
        }
        self.fill();
        while let Some(slot) = self.batch.pop_front() {
            let s = &mut self.slots[slot];
            let Some(future) = s.future.as_mut().as_pin_mut() else {
                // A stale wake of a slot that has finished.
                continue;
            };
            s.flag.queued.store(false, Ordering::Release);
            let Poll::Ready(output) = future.poll(&mut Context::from_waker(&s.waker)) else {
                continue;
            };
            s.future.set(None);
            let index = s.index;
            self.free.push(slot);
            self.live -= 1;
            // The sink first: after a failure no further item may start.
            if let Flow::Stop = sink(index, output) {
                return Drive::Stopped;
            }
            self.fill();
        }
        if self.live == 0 && self.items.is_none() {
            Drive::Done
        } else {
            Drive::Pending
        }
    }
}
