//! A slab whose keys carry a generation.
//!
//! The `slab` crate forgets everything about a vacant entry, so it cannot
//! tell a stale key from the new occupant of a reused slot. Here each slot
//! keeps a `u32` generation, bumped when its value is removed: a key (index,
//! generation) names one occupant forever. Tasks and scope nodes use it.

/// A key into a [`GenSlab`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

struct Slot<T> {
    generation: u32,
    /// Next vacant slot while this one is vacant.
    next_free: u32,
    value: Option<T>,
}

/// A `Vec`-backed slab with a free list and per-slot generations.
pub(crate) struct GenSlab<T> {
    slots: Vec<Slot<T>>,
    free_head: u32,
    len: usize,
    /// Indices at or above this are never handed out (reserved by the user).
    max_index: u32,
}

const NONE: u32 = u32::MAX;

impl<T> GenSlab<T> {
    pub(crate) const fn new(max_index: u32) -> Self {
        GenSlab {
            slots: Vec::new(),
            free_head: NONE,
            len: 0,
            max_index,
        }
    }

    /// Insert a value; `None` when every index below `max_index` is taken.
    pub(crate) fn insert(&mut self, value: T) -> Option<Key> {
        let index = if self.free_head != NONE {
            let index = self.free_head;
            let slot = &mut self.slots[index as usize];
            self.free_head = slot.next_free;
            slot.value = Some(value);
            index
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i < self.max_index)?;
            self.slots.push(Slot {
                generation: 0,
                next_free: NONE,
                value: Some(value),
            });
            index
        };
        self.len += 1;
        Some(Key {
            index,
            generation: self.slots[index as usize].generation,
        })
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Look up by index and the low `mask` bits of the generation (wakers
    /// carry a truncated generation; see `task::waker`).
    #[inline]
    pub(crate) fn get_masked(&self, index: u32, generation: u32, mask: u32) -> Option<(Key, &T)> {
        let slot = self.slots.get(index as usize)?;
        if slot.generation & mask == generation {
            let key = Key {
                index,
                generation: slot.generation,
            };
            slot.value.as_ref().map(|v| (key, v))
        } else {
            None
        }
    }

    /// The occupant of `index`, whatever its generation (for structures
    /// that only store indices of entries they keep alive).
    pub(crate) fn at_index_mut(&mut self, index: u32) -> Option<&mut T> {
        self.slots.get_mut(index as usize)?.value.as_mut()
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = self.free_head;
        self.free_head = key.index;
        self.len -= 1;
        Some(value)
    }

    /// [`remove`](Self::remove), dropping the value in place instead of
    /// moving it out (for large values nobody wants back).
    pub(crate) fn discard(&mut self, key: Key) -> bool {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return false;
        };
        if slot.generation != key.generation || slot.value.is_none() {
            return false;
        }
        slot.value = None;
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = self.free_head;
        self.free_head = key.index;
        self.len -= 1;
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keys of every occupant, for shutdown and debugging.
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }
}

/// Bytes one slot of a `GenSlab<T>` takes (for the bookkeeping test).
#[cfg(test)]
pub(crate) const fn slot_size<T>() -> usize {
    std::mem::size_of::<Slot<T>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_key_does_not_reach_new_occupant() {
        let mut slab = GenSlab::new(16);
        let a = slab.insert("a").unwrap();
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b").unwrap();
        assert_eq!(a.index, b.index, "slot reused");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
    }

    #[test]
    fn insert_fails_past_max_index() {
        let mut slab = GenSlab::new(2);
        assert!(slab.insert(1).is_some());
        assert!(slab.insert(2).is_some());
        assert!(slab.insert(3).is_none());
        assert_eq!(slab.len(), 2);
    }
}
