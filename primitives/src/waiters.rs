//! The FIFO wait queue every primitive is built on.
//!
//! Waiters live in a slab ([`Slots`]: one `Vec` with a free list, reused:
//! no allocation per wait once warmed up; small enough to inline into the
//! futures' polls) and are linked into a doubly-linked FIFO list through
//! slab indices, so a waiter is removed in O(1) from anywhere in the queue
//! when its future is dropped. Slab indices rather than an intrusive list
//! through the futures themselves: the futures need not be pinned before
//! they wait, and no `unsafe` is needed. A waiter's [`WaitKey`] is only
//! ever held by its own future, so a key is never stale while used.
//!
//! A waiter is in one of two states:
//!
//! ```text
//!  push ──▶ QUEUED ── grant_front(value) ──▶ GRANTED(value) ── take ──▶ (gone)
//!              │                                   │
//!              └─ cancel: Withdrawn                └─ cancel: Granted(value), passed on by the caller
//! ```
//!
//! Granting hands the value (a permit count, the lock, a message, a
//! notification) to the waiter at the head of the queue (or, with
//! [`WaitQueue::grant_matching`], to the queued waiters whose request
//! matches, wherever they are) and returns its waker, moved out of the
//! entry (a granted waiter is not woken again, so it needs none); the
//! caller wakes it after releasing its own borrows. A waiter dropped after
//! being granted returns the value from [`WaitQueue::cancel`] so the
//! primitive can hand it to the next waiter: nothing is lost.

use std::ops::{Index, IndexMut};
use std::panic::Location;
use std::task::Waker;

const NIL: usize = usize::MAX;

/// Identifies a waiter in its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaitKey(usize);

struct Entry<D, T> {
    /// `None` once granted: the granter took it to wake the waiter.
    waker: Option<Waker>,
    /// What the waiter asked for (e.g. a number of permits).
    data: D,
    grant: Option<T>,
    prev: usize,
    next: usize,
}

/// What [`WaitQueue::cancel`] found.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancelled<T> {
    /// The waiter was still queued: it left and consumed nothing.
    Withdrawn,
    /// The waiter had been granted `T` but had not taken it: pass it on.
    Granted(T),
}

/// A FIFO queue of waiters asking for `D` and granted `T`.
pub(crate) struct WaitQueue<D, T> {
    entries: Slots<Entry<D, T>>,
    head: usize,
    tail: usize,
    /// Entries linked in the queue: each is an allocated slab entry, so
    /// this cannot overflow; `unlink` takes back one that was counted.
    queued: usize,
}

impl<D, T> Default for WaitQueue<D, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D, T> WaitQueue<D, T> {
    pub(crate) const fn new() -> Self {
        WaitQueue {
            entries: Slots::new(),
            head: NIL,
            tail: NIL,
            queued: 0,
        }
    }

    /// Waiters queued (not yet granted).
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queue a waiter at the back. The waiter is about to return
    /// `Pending`: its caller's line is noted as the task's await point
    /// (unless the future noted its user's line first).
    #[inline]
    #[track_caller]
    pub(crate) fn push(&mut self, data: D, waker: &Waker) -> WaitKey {
        self.push_at(data, waker, Location::caller())
    }

    /// [`push`](Self::push), noting `at` (the user's line that made the
    /// future) as the await point.
    #[inline]
    pub(crate) fn push_at(
        &mut self,
        data: D,
        waker: &Waker,
        at: &'static Location<'static>,
    ) -> WaitKey {
        arbor_runtime::scope::note_await(at);
        let key = self.entries.insert(Entry {
            waker: Some(waker.clone()),
            data,
            grant: None,
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = key,
            tail => self.entries[tail].next = key,
        }
        self.tail = key;
        self.queued += 1;
        WaitKey(key)
    }

    /// Refresh a waiter's waker (its future was polled again, and is
    /// still waiting: noted as in [`push`](Self::push)).
    #[track_caller]
    pub(crate) fn set_waker(&mut self, key: WaitKey, waker: &Waker) {
        self.set_waker_at(key, waker, Location::caller());
    }

    /// [`set_waker`](Self::set_waker), noting `at` as the await point.
    pub(crate) fn set_waker_at(
        &mut self,
        key: WaitKey,
        waker: &Waker,
        at: &'static Location<'static>,
    ) {
        arbor_runtime::scope::note_await(at);
        let entry = &mut self.entries[key.0];
        match &entry.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => entry.waker = Some(waker.clone()),
        }
    }

    /// The request of the waiter at the head of the queue.
    pub(crate) fn front(&self) -> Option<&D> {
        (self.head != NIL).then(|| &self.entries[self.head].data)
    }

    /// The requests of the queued waiters, head first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &D> {
        let mut at = self.head;
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let entry = &self.entries[at];
            at = entry.next;
            Some(&entry.data)
        })
    }

    /// Grant `value` to the head waiter and take it out of the queue.
    /// Returns its waker (wake it once your borrows are released), or gives
    /// the value back if nobody waits.
    #[inline]
    pub(crate) fn grant_front(&mut self, value: T) -> Result<Waker, T> {
        if self.head == NIL {
            return Err(value);
        }
        let key = self.head;
        Ok(self.grant_at(key, value))
    }

    /// Grant the head waiter what `grant` makes of its request (which it
    /// may take things out of), and take it out of the queue; `None` if
    /// nobody waits. Returns its waker, as [`grant_front`](Self::grant_front).
    pub(crate) fn grant_front_with(&mut self, grant: impl FnOnce(&mut D) -> T) -> Option<Waker> {
        if self.head == NIL {
            return None;
        }
        let key = self.head;
        let value = grant(&mut self.entries[key].data);
        Some(self.grant_at(key, value))
    }

    /// Grant every queued waiter for whose request `pick` gives a value
    /// (head first), taking each out of the queue; their wakers are pushed
    /// on `wake`. Returns how many were granted. A walk of the queue: for
    /// rare events (a channel handle closing grants its own waiters).
    pub(crate) fn grant_matching(
        &mut self,
        mut pick: impl FnMut(&mut D) -> Option<T>,
        wake: &mut Vec<Waker>,
    ) -> usize {
        let mut granted = 0;
        let mut at = self.head;
        while at != NIL {
            let entry = &mut self.entries[at];
            let next = entry.next;
            if let Some(value) = pick(&mut entry.data) {
                wake.push(self.grant_at(at, value));
                granted += 1;
            }
            at = next;
        }
        granted
    }

    /// Grant the queued waiter at `key`: out of the queue, its waker out of
    /// the entry.
    #[inline(always)]
    fn grant_at(&mut self, key: usize, value: T) -> Waker {
        self.unlink(key);
        let entry = &mut self.entries[key];
        entry.grant = Some(value);
        entry.waker.take().expect("a queued waiter holds its waker")
    }

    /// Whether the waiter was granted.
    #[cfg(test)]
    pub(crate) fn is_granted(&self, key: WaitKey) -> bool {
        self.entries[key.0].grant.is_some()
    }

    /// If granted, remove the waiter and return its grant.
    #[inline]
    pub(crate) fn take(&mut self, key: WaitKey) -> Option<T> {
        if self.entries[key.0].grant.is_some() {
            self.entries.remove(key.0).grant
        } else {
            None
        }
    }

    /// The waiter's future was dropped: remove it. A grant it had not taken
    /// is returned for the caller to pass on.
    pub(crate) fn cancel(&mut self, key: WaitKey) -> Cancelled<T> {
        if self.entries[key.0].grant.is_none() {
            self.unlink(key.0);
        }
        match self.entries.remove(key.0).grant {
            Some(value) => Cancelled::Granted(value),
            None => Cancelled::Withdrawn,
        }
    }

    /// As [`cancel`](WaitQueue::cancel), but also hands back the waiter's
    /// request, so the caller can drop it after releasing its borrows
    /// (added for channels: a withdrawn sender's item).
    pub(crate) fn cancel_with_data(&mut self, key: WaitKey) -> (D, Cancelled<T>) {
        if self.entries[key.0].grant.is_none() {
            self.unlink(key.0);
        }
        let entry = self.entries.remove(key.0);
        let cancelled = match entry.grant {
            Some(value) => Cancelled::Granted(value),
            None => Cancelled::Withdrawn,
        };
        (entry.data, cancelled)
    }

    #[inline(always)]
    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let e = &self.entries[key];
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.entries[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entries[n].prev = prev,
        }
        self.queued -= 1;
    }
}

/// A slab: values in a `Vec`, vacant slots chained into a free list and
/// reused first. An index is valid from `insert` until `remove`; using it
/// otherwise panics (a bug of the wait queue, which hands each key to one
/// future only).
struct Slots<E> {
    slots: Vec<Slot<E>>,
    /// The first vacant slot, `NIL` if none.
    free: usize,
}

enum Slot<E> {
    Occupied(E),
    /// Vacant; the next vacant slot (`NIL` ends the list).
    Vacant(usize),
}

impl<E> Slots<E> {
    const fn new() -> Self {
        Slots {
            slots: Vec::new(),
            free: NIL,
        }
    }

    #[inline]
    fn insert(&mut self, value: E) -> usize {
        let key = self.free;
        if key == NIL {
            self.slots.push(Slot::Occupied(value));
            return self.slots.len() - 1;
        }
        match std::mem::replace(&mut self.slots[key], Slot::Occupied(value)) {
            Slot::Vacant(next) => self.free = next,
            Slot::Occupied(_) => unreachable!("the free list names an occupied slot"),
        }
        key
    }

    #[inline]
    fn remove(&mut self, key: usize) -> E {
        match std::mem::replace(&mut self.slots[key], Slot::Vacant(self.free)) {
            Slot::Occupied(value) => {
                self.free = key;
                value
            }
            Slot::Vacant(_) => panic!("a wait-queue key used after its entry was removed"),
        }
    }
}

impl<E> Index<usize> for Slots<E> {
    type Output = E;

    #[inline]
    fn index(&self, key: usize) -> &E {
        match &self.slots[key] {
            Slot::Occupied(value) => value,
            Slot::Vacant(_) => panic!("a wait-queue key used after its entry was removed"),
        }
    }
}

impl<E> IndexMut<usize> for Slots<E> {
    #[inline]
    fn index_mut(&mut self, key: usize) -> &mut E {
        match &mut self.slots[key] {
            Slot::Occupied(value) => value,
            Slot::Vacant(_) => panic!("a wait-queue key used after its entry was removed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_grants_and_cancel_in_both_orders() {
        let w = Waker::noop();
        let mut q: WaitQueue<u32, &str> = WaitQueue::new();
        let a = q.push(1, w);
        let b = q.push(2, w);
        let c = q.push(3, w);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(q.cancel(b), Cancelled::Withdrawn, "dropped before grant");
        assert!(q.grant_front("x").is_ok());
        assert!(q.is_granted(a) && !q.is_granted(c));
        assert_eq!(q.cancel(a), Cancelled::Granted("x"), "dropped after grant");
        assert_eq!(q.front(), Some(&3));
        assert!(q.grant_front("y").is_ok());
        assert_eq!(q.take(c), Some("y"));
        assert!(q.is_empty());
        assert!(matches!(q.grant_front("z"), Err("z")));
    }

    #[test]
    fn slots_reuse_vacant_slots_last_freed_first() {
        let mut s = Slots::new();
        let (a, b, c) = (s.insert('a'), s.insert('b'), s.insert('c'));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(s.remove(b), 'b');
        assert_eq!(s.remove(a), 'a');
        assert_eq!(s.insert('d'), a);
        assert_eq!(s.insert('e'), b);
        assert_eq!(s.insert('f'), 3);
        s[c] = 'C';
        assert_eq!((s[a], s[b], s[c]), ('d', 'e', 'C'));
    }

    #[test]
    fn grant_matching_grants_queued_waiters_anywhere_and_skips_granted_ones() {
        let w = Waker::noop();
        let mut q: WaitQueue<u32, u32> = WaitQueue::new();
        let a = q.push(1, w);
        let b = q.push(2, w);
        let c = q.push(1, w);
        let d = q.push(3, w);
        assert!(q.grant_front(10).is_ok(), "a granted first");
        let mut wake = Vec::new();
        let n = q.grant_matching(|&mut r| (r == 1).then_some(r * 100), &mut wake);
        assert_eq!((n, wake.len()), (1, 1), "only c: a was granted already");
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(q.take(a), Some(10));
        assert_eq!(q.take(c), Some(100));
        assert_eq!(q.grant_front_with(|r| *r + 1).map(|_| ()), Some(()));
        assert_eq!(q.take(b), Some(3));
        assert_eq!(q.cancel(d), Cancelled::Withdrawn);
        assert!(q.is_empty() && q.grant_front_with(|r| *r).is_none());
    }
}
