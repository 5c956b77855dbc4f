//! [`PoolError`]: why a [`Pool::get`](super::Pool::get) gave no connection.

use std::error::Error;
use std::fmt;

/// Why [`Pool::get`](super::Pool::get) (or
/// [`Pool::maintain`](super::Pool::maintain)) returned no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError<E> {
    /// The pool was closed ([`Pool::close`](super::Pool::close)) before a
    /// connection could be handed out.
    Closed,
    /// The factory failed while opening a connection for this caller; the
    /// slot it held was freed.
    Factory(E),
}

impl<E> PoolError<E> {
    /// The factory's error, if that is what this is.
    pub fn into_factory(self) -> Option<E> {
        match self {
            PoolError::Factory(e) => Some(e),
            PoolError::Closed => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for PoolError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Closed => f.write_str(
                "the pool is closed and hands out no more connections; build a new pool",
            ),
            PoolError::Factory(e) => write!(
                f,
                "the pool's factory failed to open a connection (its slot was freed; get again to retry): {e}"
            ),
        }
    }
}

impl<E: Error + 'static> Error for PoolError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PoolError::Factory(e) => Some(e),
            PoolError::Closed => None,
        }
    }
}
