//! Slab of timer entries, threaded by intrusive doubly-linked lists.
//!
//! The links live inside the entries (as `u32` indices) so that a slot list
//! supports O(1) append and O(1) removal of an arbitrary entry without any
//! allocation and without `unsafe`. Vacant entries are chained through the
//! same `next` field to form the free list, so freed entries are reused LIFO
//! (the most recently freed entry is also the one most likely to be cached).

use std::ops::{Index, IndexMut};
use std::task::Waker;

/// "No entry": end of a list, or no neighbour.
pub(super) const NIL: u32 = u32::MAX;

/// `Entry::level` values past the wheel levels (`0..LEVELS`).
/// Linked in the wheel's pending list (due at the next poll).
pub(super) const PENDING: u8 = 6;
/// Allocated but linked nowhere: the entry has fired.
pub(super) const FIRED: u8 = 7;
/// On the free list.
pub(super) const VACANT: u8 = 8;
/// Allocated, linked nowhere, with deadline [`NEVER`](super::NEVER): it
/// keeps its waker until reset to a real deadline.
pub(super) const DORMANT: u8 = 9;

/// One timer. 40 bytes on 64-bit targets.
#[derive(Debug)]
pub(super) struct Entry {
    /// The requested deadline. May be later than the slot the entry sits in
    /// (lazy reset); never earlier.
    pub(super) deadline: u64,
    pub(super) waker: Option<Waker>,
    pub(super) prev: u32,
    /// Next in the slot list, or next vacant entry while on the free list.
    pub(super) next: u32,
    /// Bumped on free, so keys to a previous occupant are recognised as stale.
    pub(super) generation: u32,
    /// Wheel level `0..LEVELS`, or `PENDING` / `FIRED` / `VACANT` / `DORMANT`.
    pub(super) level: u8,
    /// Slot within `level`, meaningful only for wheel levels.
    pub(super) slot: u8,
}

impl Entry {
    /// Whether the entry sits in some list (a wheel slot or pending), i.e. is armed.
    pub(super) fn is_linked(&self) -> bool {
        self.level <= PENDING
    }
}

/// Head and tail of one intrusive list.
#[derive(Clone, Copy, Debug)]
pub(super) struct List {
    pub(super) head: u32,
    pub(super) tail: u32,
}

impl List {
    pub(super) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// Vec-backed slab with a free list.
#[derive(Debug)]
pub(super) struct Entries {
    slab: Vec<Entry>,
    free: u32,
    len: usize,
}

impl Entries {
    pub(super) fn new() -> Self {
        Entries {
            slab: Vec::new(),
            free: NIL,
            len: 0,
        }
    }

    /// Number of allocated (non-vacant) entries.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Allocates an unlinked entry (level `FIRED`); returns its index and generation.
    pub(super) fn alloc(&mut self, deadline: u64, waker: Waker) -> (u32, u32) {
        self.len += 1;
        if self.free != NIL {
            let index = self.free;
            let entry = &mut self.slab[index as usize];
            self.free = entry.next;
            entry.deadline = deadline;
            entry.waker = Some(waker);
            entry.prev = NIL;
            entry.next = NIL;
            entry.level = FIRED;
            return (index, entry.generation);
        }
        // NIL must stay unused as an index.
        let index = u32::try_from(self.slab.len())
            .ok()
            .filter(|&i| i != NIL)
            .expect("timer slab exhausted");
        self.slab.push(Entry {
            deadline,
            waker: Some(waker),
            prev: NIL,
            next: NIL,
            generation: 0,
            level: FIRED,
            slot: 0,
        });
        (index, 0)
    }

    /// Frees an unlinked entry: drops its waker and invalidates outstanding keys.
    pub(super) fn free(&mut self, index: u32) {
        let entry = &mut self.slab[index as usize];
        debug_assert!(!entry.is_linked() && entry.level != VACANT);
        entry.level = VACANT;
        // Wrapping: a key would have to survive 2^32 reuses of its slot to be confused.
        entry.generation = entry.generation.wrapping_add(1);
        entry.next = self.free;
        let waker = entry.waker.take();
        self.free = index;
        self.len -= 1;
        // Dropped last: a waker's drop may panic, and the slab is consistent by now.
        drop(waker);
    }

    /// The index of the live entry named by `(index, generation)`, if any.
    pub(super) fn resolve(&self, index: u32, generation: u32) -> Option<u32> {
        let entry = self.slab.get(index as usize)?;
        (entry.generation == generation && entry.level != VACANT).then_some(index)
    }

    /// Appends `index` to `list`.
    pub(super) fn push_back(&mut self, list: &mut List, index: u32) {
        let tail = list.tail;
        {
            let entry = &mut self.slab[index as usize];
            entry.prev = tail;
            entry.next = NIL;
        }
        if tail == NIL {
            list.head = index;
        } else {
            self.slab[tail as usize].next = index;
        }
        list.tail = index;
    }

    /// Removes `index` from `list` (which must contain it).
    pub(super) fn unlink(&mut self, list: &mut List, index: u32) {
        let (prev, next) = {
            let entry = &mut self.slab[index as usize];
            let links = (entry.prev, entry.next);
            entry.prev = NIL;
            entry.next = NIL;
            links
        };
        if prev == NIL {
            list.head = next;
        } else {
            self.slab[prev as usize].next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.slab[next as usize].prev = prev;
        }
    }

    /// Removes and returns the first entry of `list`.
    pub(super) fn pop_front(&mut self, list: &mut List) -> Option<u32> {
        let head = list.head;
        if head == NIL {
            return None;
        }
        self.unlink(list, head);
        Some(head)
    }
}

impl Index<u32> for Entries {
    type Output = Entry;

    fn index(&self, index: u32) -> &Entry {
        &self.slab[index as usize]
    }
}

impl IndexMut<u32> for Entries {
    fn index_mut(&mut self, index: u32) -> &mut Entry {
        &mut self.slab[index as usize]
    }
}
