//! Hierarchical hashed timer wheel.
//!
//! This is scheme 7 of Varghese & Lauck, "Hashed and Hierarchical Timing
//! Wheels: Data Structures for the Efficient Implementation of a Timer
//! Facility" (SOSP 1987): timers are hashed into the slots of several wheels
//! of increasing granularity and cascade down to finer wheels as time
//! approaches their deadlines. Insert and cancel are O(1); expiry costs O(1)
//! per timer per level it cascades through.
//!
//! # Geometry
//!
//! Time is counted in *ticks* (`u64`); the caller chooses the tick length
//! (arbor uses 1 ms). There are 6 levels of 64 slots. A slot of level `L`
//! covers `64^L` ticks, so level `L` spans `64^(L+1)` ticks and the whole
//! wheel spans `64^6 = 2^36` ticks (about 2.2 years at 1 ms).
//!
//! Viewing a tick as six base-64 digits (plus the bits above them), an entry
//! with deadline `d > elapsed` goes to the level of the most significant digit
//! in which `d` and `elapsed` differ, `level = (63 - lz((d ^ elapsed) | 63)) / 6`,
//! into slot `(d >> 6*level) & 63`. Since `d` and `elapsed` agree on all higher
//! digits, that slot lies after `elapsed`'s own slot in the same rotation, and
//! it starts no later than `d`.
//!
//! Deadlines `2^36` or more ticks away differ in bits above the wheel. Their
//! level is clamped to 5 and they take the slot of their own level-5 digit;
//! that slot comes up at most `2^36` ticks later and still no later than `d`,
//! and the entry is simply re-filed then. Such a deadline costs one re-file
//! per `2^36` ticks.
//!
//! Deadlines `<= elapsed` go to a *pending* list that fires first at the
//! next [`Wheel::poll`].
//!
//! The deadline [`NEVER`] (`u64::MAX`, what a saturated "sleep forever"
//! becomes) is filed nowhere: the entry is *dormant*, not armed, invisible
//! to `next_expiration` and `poll`, and keeps its waker until it is reset
//! to a real deadline. So a sleep that can never end costs no re-filing,
//! and a virtual clock never jumps towards it.
//!
//! # Polling
//!
//! [`Wheel::poll`] repeatedly takes the occupied slot with the earliest start
//! tick `t <= now`, sets `elapsed = t`, and drains the slot: entries with
//! deadline `<= t` fire, the others (cascading from a coarser level, clamped,
//! or lazily reset) are re-filed relative to `t`, which puts them in later
//! slots, usually of finer levels, to be reached later in the same call if
//! still `<= now`. Hence entries fire in deadline order. Slots of different
//! levels never share a start tick, and when a slot is drained the finer
//! slots it covers are still empty (anything filed there would have needed
//! `elapsed >= t`), so entries with equal deadlines fire in the order they
//! were filed.
//!
//! # Lazy reset
//!
//! Moving an armed entry's deadline *later* only rewrites its `deadline`
//! field: the slot it sits in still starts no later than the new deadline, and
//! when that slot is drained the entry is found not due and re-filed. This
//! makes the common "push the timeout back again" pattern O(1) with no list
//! surgery. The price: [`Wheel::next_expiration`] may report a tick at which
//! nothing fires (it is a lower bound), and a lazily moved entry counts as
//! filed when `poll` re-files it, so it may fire after entries with the same
//! deadline that were inserted after the reset. Moving a deadline earlier
//! unlinks and re-files at once (the old slot might come up too late).

mod entries;
mod level;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_model;

use std::task::Waker;

use entries::{DORMANT, Entries, FIRED, List, PENDING};
use level::{Level, SLOT_BITS, SLOTS};

/// Number of levels.
const LEVELS: usize = 6;

/// The deadline that never comes: an entry with it is dormant (see the
/// module docs).
pub const NEVER: u64 = u64::MAX;

/// Handle to a timer entry in a [`Wheel`].
///
/// Carries a generation, so a key kept after [`Wheel::remove`] is recognised
/// as stale even once its slab slot holds a new entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

/// A hierarchical timer wheel; the `wheel` module docs specify the design.
#[derive(Debug)]
pub struct Wheel {
    levels: [Level; LEVELS],
    /// Entries filed with deadline `<= elapsed`: all due at the next poll.
    pending: List,
    entries: Entries,
    elapsed: u64,
    armed: usize,
}

impl Default for Wheel {
    fn default() -> Self {
        Self::new()
    }
}

/// The level for `deadline > elapsed`: that of the highest differing digit.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    // `| 63` maps a difference only in digit 0 (or none) to level 0.
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    ((significant / SLOT_BITS) as usize).min(LEVELS - 1)
}

impl Wheel {
    /// An empty wheel with `elapsed() == 0`.
    pub fn new() -> Self {
        Wheel {
            levels: std::array::from_fn(|i| Level::new(i as u8)),
            pending: List::EMPTY,
            entries: Entries::new(),
            elapsed: 0,
            armed: 0,
        }
    }

    /// The tick up to which the wheel has been processed (inclusive).
    #[cfg(test)]
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Arms a new timer. O(1); reuses freed entries, so it does not allocate
    /// once the slab has grown. A deadline `<= elapsed()` fires at the next
    /// [`poll`](Self::poll).
    pub fn insert(&mut self, deadline: u64, waker: Waker) -> TimerKey {
        let (index, generation) = self.entries.alloc(deadline, waker);
        if deadline == NEVER {
            self.entries[index].level = DORMANT;
        } else {
            self.file(index);
            self.armed += 1;
        }
        TimerKey { index, generation }
    }

    /// Cancels the timer if armed and frees its entry; also frees a fired
    /// entry. O(1). Stale key: no-op.
    pub fn remove(&mut self, key: TimerKey) {
        let Some(index) = self.resolve(key) else {
            return;
        };
        if self.entries[index].is_linked() {
            self.unlink(index);
            self.armed -= 1;
        }
        self.entries.free(index);
    }

    /// Whether `poll` fired the timer (and it was not re-armed since).
    /// Stale key: `true`, since a removed timer will never fire again.
    pub fn is_fired(&self, key: TimerKey) -> bool {
        self.resolve(key)
            .is_none_or(|index| self.entries[index].level == FIRED)
    }

    /// The stored deadline, or `None` for a stale key.
    #[cfg(test)]
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.resolve(key).map(|index| self.entries[index].deadline)
    }

    /// Stores `waker` unless the stored one already wakes the same task.
    /// Stale key: no-op.
    pub fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(index) = self.resolve(key) {
            self.store_waker(index, waker);
        }
    }

    /// Moves the deadline and stores `waker` (as [`set_waker`](Self::set_waker)).
    ///
    /// - Armed in the wheel, new deadline not earlier: lazy, O(1): only the
    ///   deadline field changes; `poll` re-files the entry when its slot
    ///   comes up.
    /// - Armed, new deadline earlier (or entry pending): unlink and re-file, O(1).
    /// - Fired: re-armed (filed again; `is_fired` becomes `false`).
    /// - New deadline [`NEVER`]: unlinked, dormant (keeps its waker);
    ///   dormant and reset to a real deadline: filed again.
    ///
    /// Stale key: no-op.
    #[cfg(test)]
    pub fn reset(&mut self, key: TimerKey, deadline: u64, waker: &Waker) {
        if let Some(index) = self.resolve(key) {
            self.store_waker(index, waker);
            self.refile(index, deadline);
        }
    }

    /// [`reset`](Self::reset) keeping the stored waker. A fired entry
    /// re-armed this way wakes its old waker.
    pub fn reset_deadline(&mut self, key: TimerKey, deadline: u64) {
        if let Some(index) = self.resolve(key) {
            self.refile(index, deadline);
        }
    }

    fn refile(&mut self, index: u32, deadline: u64) {
        if deadline == NEVER {
            if self.entries[index].is_linked() {
                self.unlink(index);
                self.armed -= 1;
            }
            let entry = &mut self.entries[index];
            entry.deadline = NEVER;
            entry.level = DORMANT;
            return;
        }
        let entry = &mut self.entries[index];
        if usize::from(entry.level) < LEVELS && deadline >= entry.deadline {
            entry.deadline = deadline;
            return;
        }
        if entry.is_linked() {
            self.unlink(index);
        } else {
            self.armed += 1;
        }
        self.entries[index].deadline = deadline;
        self.file(index);
    }

    /// A lower bound on the earliest tick at which [`poll`](Self::poll) has
    /// work; `None` if nothing is armed. Exact for entries in level 0 (due
    /// within the current 64 ticks), otherwise the start of the entry's slot;
    /// a lazily reset entry also reports its old slot. After polling to this
    /// tick, ask again. O(levels): bitmap scans only.
    pub fn next_expiration(&self) -> Option<u64> {
        if !self.pending.is_empty() {
            return Some(self.elapsed);
        }
        self.next_slot().map(|(tick, _, _)| tick)
    }

    /// Advances to `now`: fires (in deadline order, equal deadlines in filing
    /// order) every armed entry with deadline `<= max(now, elapsed())`,
    /// marking it fired, unlinking it and passing its waker to `fire`; re-files
    /// the rest as their slots come up. Afterwards `elapsed() == max(elapsed(), now)`.
    ///
    /// If `fire` panics the wheel stays consistent, but entries left in the
    /// slot being drained may fire late.
    pub fn poll(&mut self, now: u64, fire: &mut dyn FnMut(Waker)) {
        // Pending deadlines are <= elapsed < every wheel deadline: they go first.
        while let Some(index) = self.entries.pop_front(&mut self.pending) {
            self.fire_entry(index, fire);
        }
        while let Some((tick, level, slot)) = self.next_slot() {
            if tick > now {
                break;
            }
            self.elapsed = tick;
            self.drain_slot(level, slot, fire);
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Number of armed entries.
    pub fn armed(&self) -> usize {
        self.armed
    }

    /// Number of allocated entries (armed + fired but not yet removed).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entries are allocated.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn resolve(&self, key: TimerKey) -> Option<u32> {
        self.entries.resolve(key.index, key.generation)
    }

    fn store_waker(&mut self, index: u32, waker: &Waker) {
        let stored = &mut self.entries[index].waker;
        if !stored.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *stored = Some(waker.clone());
        }
    }

    /// Links an unlinked entry according to its deadline and `elapsed`.
    fn file(&mut self, index: u32) {
        let deadline = self.entries[index].deadline;
        if deadline <= self.elapsed {
            self.entries.push_back(&mut self.pending, index);
            self.entries[index].level = PENDING;
            return;
        }
        let level = level_for(self.elapsed, deadline);
        let slot = ((deadline >> (SLOT_BITS as usize * level)) as usize) % SLOTS;
        self.levels[level].push_back(&mut self.entries, slot, index);
    }

    /// Unlinks an armed entry from its list, leaving it marked `FIRED`
    /// (the caller re-files, fires or frees it).
    fn unlink(&mut self, index: u32) {
        let entry = &self.entries[index];
        let (level, slot) = (usize::from(entry.level), usize::from(entry.slot));
        if level < LEVELS {
            self.levels[level].unlink(&mut self.entries, slot, index);
        } else if entry.level == PENDING {
            self.entries.unlink(&mut self.pending, index);
        }
        self.entries[index].level = FIRED;
    }

    fn fire_entry(&mut self, index: u32, fire: &mut dyn FnMut(Waker)) {
        let entry = &mut self.entries[index];
        entry.level = FIRED;
        let waker = entry.waker.take();
        self.armed -= 1;
        if let Some(waker) = waker {
            fire(waker);
        }
    }

    /// Drains `slot` of `level`, whose start tick is `elapsed`.
    fn drain_slot(&mut self, level: usize, slot: usize, fire: &mut dyn FnMut(Waker)) {
        // A clamped entry may be re-filed into this very slot (for the next
        // rotation); stopping at the old tail keeps it from being seen twice.
        let last = self.levels[level].tail(slot);
        while let Some(index) = self.levels[level].pop_front(&mut self.entries, slot) {
            if self.entries[index].deadline <= self.elapsed {
                self.fire_entry(index, fire);
            } else {
                self.file(index);
            }
            if index == last {
                break;
            }
        }
    }

    /// The occupied slot with the earliest start, as `(start, level, slot)`.
    fn next_slot(&self) -> Option<(u64, usize, usize)> {
        let mut best: Option<(u64, usize, usize)> = None;
        for (level, lv) in self.levels.iter().enumerate() {
            if let Some((tick, slot)) = lv.next_expiration(self.elapsed)
                && best.is_none_or(|(b, _, _)| tick < b)
            {
                best = Some((tick, level, slot));
            }
        }
        best
    }

    /// `(level, slot)` of an entry as stored (test support).
    #[cfg(test)]
    fn location(&self, key: TimerKey) -> Option<(u8, u8)> {
        self.resolve(key).map(|i| {
            let e = &self.entries[i];
            (e.level, e.slot)
        })
    }
}
