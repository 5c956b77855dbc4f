//! The run queues' FIFO of task ids: a ring with a power-of-two capacity,
//! whose push and pop inline into the run loop and the wake path (those
//! of `VecDeque` were a call on every requeue and every wake).

use crate::task::TaskId;

/// What a slot outside the queued range holds (never read as a task).
const VACANT: TaskId = TaskId {
    runtime: 0,
    index: 0,
    generation: 0,
};

/// A FIFO of task ids.
pub(crate) struct TaskQueue {
    /// Every slot is initialized; its length (the capacity) is zero or a
    /// power of two. The queued ids are `head..head + len`, wrapping.
    buf: Vec<TaskId>,
    head: usize,
    len: usize,
}

impl TaskQueue {
    pub(crate) const fn new() -> Self {
        TaskQueue {
            buf: Vec::new(),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn push_back(&mut self, id: TaskId) {
        if self.len == self.buf.len() {
            self.grow();
        }
        // The capacity is a power of two: the mask wraps the index.
        let at = (self.head + self.len) & (self.buf.len() - 1);
        self.buf[at] = id;
        self.len += 1;
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<TaskId> {
        if self.len == 0 {
            return None;
        }
        let id = self.buf[self.head];
        self.head = (self.head + 1) & (self.buf.len() - 1);
        self.len -= 1;
        Some(id)
    }

    /// Permute the first `n` queued ids (`n <= len`) with a Fisher-Yates
    /// shuffle drawn from `rng`: every order of them can come out, and the
    /// same generator state gives the same order.
    pub(crate) fn shuffle_front(&mut self, n: usize, rng: &mut SplitMix64) {
        debug_assert!(n <= self.len);
        let mask = self.buf.len().wrapping_sub(1);
        for i in (1..n).rev() {
            let j = rng.below(i + 1);
            self.buf
                .swap((self.head + i) & mask, (self.head + j) & mask);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Double the capacity (at least 16), the queued ids moved to the
    /// front in order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.buf.len() * 2).max(16);
        let mut buf = Vec::with_capacity(cap);
        let mask = self.buf.len().wrapping_sub(1);
        buf.extend((0..self.len).map(|i| self.buf[(self.head + i) & mask]));
        buf.resize(cap, VACANT);
        self.buf = buf;
        self.head = 0;
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): a tiny, fast generator whose
/// every seed, zero included, gives a good stream. Not cryptographic;
/// it only has to make schedules reproducible.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`) by multiply-shift: no division, and
    /// the bias (at most n / 2^64) is far below anything a schedule shows.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> TaskId {
        TaskId {
            runtime: 1,
            index: n,
            generation: n,
        }
    }

    #[test]
    fn fifo_across_wraps_and_growth() {
        let mut q = TaskQueue::new();
        assert_eq!(q.pop_front(), None);
        let mut next_in = 0;
        let mut next_out = 0;
        // Interleave pushes and pops so the ring wraps before it grows.
        for round in 0..50 {
            for _ in 0..(round % 7 + 3) {
                q.push_back(id(next_in));
                next_in += 1;
            }
            for _ in 0..(round % 5 + 1) {
                if let Some(got) = q.pop_front() {
                    assert_eq!(got, id(next_out));
                    next_out += 1;
                }
            }
            assert_eq!(q.len(), (next_in - next_out) as usize);
        }
        while let Some(got) = q.pop_front() {
            assert_eq!(got, id(next_out));
            next_out += 1;
        }
        assert_eq!(next_in, next_out);
        assert!(q.is_empty());
        q.push_back(id(7));
        q.clear();
        assert_eq!(q.pop_front(), None);
    }

    #[test]
    fn shuffle_front_permutes_only_the_front_deterministically() {
        let order = |seed: u64| {
            let mut q = TaskQueue::new();
            // Wrap the ring first, so the shuffle crosses its end.
            for n in 0..12 {
                q.push_back(id(100 + n));
            }
            for _ in 0..12 {
                q.pop_front();
            }
            for n in 0..10 {
                q.push_back(id(n));
            }
            q.shuffle_front(7, &mut SplitMix64::new(seed));
            std::iter::from_fn(|| q.pop_front()).collect::<Vec<_>>()
        };
        let mut orders = std::collections::HashSet::new();
        for seed in 0..20 {
            let got = order(seed);
            assert_eq!(got, order(seed), "same seed, same order");
            let mut front: Vec<_> = got[..7].to_vec();
            front.sort_by_key(|t| t.index);
            assert_eq!(front, (0..7).map(id).collect::<Vec<_>>(), "a permutation");
            assert_eq!(got[7..], [id(7), id(8), id(9)], "the rest untouched");
            orders.insert(got);
        }
        assert!(orders.len() > 10, "seeds give different orders");
    }
}
