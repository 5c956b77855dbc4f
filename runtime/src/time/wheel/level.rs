//! One level of the wheel: 64 slot lists plus a bitmap of the non-empty ones.
//!
//! The bitmap is what makes `next_expiration` cheap: finding the next occupied
//! slot is a rotate and a `trailing_zeros`, never a walk over slots or entries.

use super::entries::{Entries, List};

/// Slots per level.
pub(super) const SLOTS: usize = 64;
/// Bits of a tick consumed by one level (log2 of `SLOTS`).
pub(super) const SLOT_BITS: u32 = 6;

#[derive(Debug)]
pub(super) struct Level {
    /// This level's number; slot `s` covers ticks `[s, s + 1) * 64^index` (mod 64^(index+1)).
    index: u8,
    /// Bit `s` is set iff `lists[s]` is non-empty.
    occupied: u64,
    lists: [List; SLOTS],
}

impl Level {
    pub(super) fn new(index: u8) -> Self {
        Level {
            index,
            occupied: 0,
            lists: [List::EMPTY; SLOTS],
        }
    }

    fn shift(&self) -> u32 {
        SLOT_BITS * u32::from(self.index)
    }

    /// Appends entry `index` to `slot` and records its location in the entry.
    pub(super) fn push_back(&mut self, entries: &mut Entries, slot: usize, index: u32) {
        entries.push_back(&mut self.lists[slot], index);
        let entry = &mut entries[index];
        entry.level = self.index;
        // `slot < 64`, so the cast is lossless.
        entry.slot = slot as u8;
        self.occupied |= 1 << slot;
    }

    /// Removes entry `index` from `slot` (the caller updates the entry's location).
    pub(super) fn unlink(&mut self, entries: &mut Entries, slot: usize, index: u32) {
        let list = &mut self.lists[slot];
        entries.unlink(list, index);
        if list.is_empty() {
            self.occupied &= !(1 << slot);
        }
    }

    /// Removes and returns the first entry of `slot`.
    pub(super) fn pop_front(&mut self, entries: &mut Entries, slot: usize) -> Option<u32> {
        let list = &mut self.lists[slot];
        let index = entries.pop_front(list)?;
        if list.is_empty() {
            self.occupied &= !(1 << slot);
        }
        Some(index)
    }

    /// The last entry of `slot` (`NIL` if empty).
    pub(super) fn tail(&self, slot: usize) -> u32 {
        self.lists[slot].tail
    }

    /// The next occupied slot strictly after `elapsed`'s position in this
    /// level, as `(start tick, slot)`.
    ///
    /// The search runs forward from the slot after the current one and wraps
    /// around, so the current slot itself comes last and means "one full
    /// rotation later": it can only hold clamped far-future entries (level 5),
    /// because everything due in the current slot was processed when
    /// `elapsed` entered it. Overflowing starts saturate; no entry can be
    /// filed there (a slot never starts after its entries' deadlines).
    pub(super) fn next_expiration(&self, elapsed: u64) -> Option<(u64, usize)> {
        if self.occupied == 0 {
            return None;
        }
        let shift = self.shift();
        // Masked to 6 bits, so the cast is lossless.
        let pos = ((elapsed >> shift) & (SLOTS as u64 - 1)) as u32;
        // Bit 0 of `rotated` is the slot just after `pos`.
        let rotated = self.occupied.rotate_right((pos + 1) % SLOTS as u32);
        let distance = u64::from(rotated.trailing_zeros()) + 1; // 1..=64 slots
        let slot = ((u64::from(pos) + distance) % SLOTS as u64) as usize;
        let current_slot_start = elapsed & !((1u64 << shift) - 1);
        let start = current_slot_start.saturating_add(distance << shift);
        Some((start, slot))
    }

    #[cfg(test)]
    pub(super) fn occupied(&self) -> u64 {
        self.occupied
    }
}
