//! [`PoolGuard`]: a checked-out connection.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::slot::Slot;
use super::state::Fate;

/// A connection checked out of a [`Pool`](super::Pool); it derefs to the
/// connection. It holds one of the pool's `max_size` slots for as long as
/// it lives.
///
/// Dropping it returns the connection: to the longest-waiting `get` if
/// there is one, else on top of the idle stack (LIFO reuse). A connection
/// that outlived `max_lifetime` is dropped instead (see [`Pool`](super::Pool)
/// for when the close hook runs), and after [`Pool::close`](super::Pool::close)
/// it is closed. Call [`discard`](PoolGuard::discard) for a connection
/// that is broken.
#[must_use = "dropping the guard returns the connection at once"]
pub struct PoolGuard<T> {
    /// Holds a connection (`Some`) from creation until drop or discard.
    slot: Slot<T>,
}

impl<T> PoolGuard<T> {
    pub(super) fn new(mut slot: Slot<T>) -> Self {
        debug_assert!(slot.conn.is_some());
        slot.fate = Fate::Return;
        slot.in_use = true;
        slot.shared.state.borrow_mut().in_use += 1;
        PoolGuard { slot }
    }

    /// Drop the connection instead of returning it (it is broken). Its
    /// slot is freed at once; the next `get` opens a new connection if no
    /// idle one is left. The close hook does not run: the connection is
    /// dropped.
    pub fn discard(mut self) {
        self.slot.fate = Fate::Drop;
    }

    fn conn(&self) -> &T {
        match &self.slot.conn {
            Some(conn) => &conn.value,
            None => unreachable!("a guard holds its connection until dropped"),
        }
    }
}

impl<T> Deref for PoolGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.conn()
    }
}

impl<T> DerefMut for PoolGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.slot.conn {
            Some(conn) => &mut conn.value,
            None => unreachable!("a guard holds its connection until dropped"),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PoolGuard").field(self.conn()).finish()
    }
}
