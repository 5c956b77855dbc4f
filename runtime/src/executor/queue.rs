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
}
