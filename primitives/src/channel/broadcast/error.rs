//! The broadcast channel's errors.

use std::fmt;

#[cfg(doc)]
use super::{Receiver, Sender};

/// [`Sender::send`] found no receiver; the item is handed back.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no broadcast receiver is alive; the item is handed back (into_inner), subscribe one first",
        )
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv`] returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and this receiver read every item retained
    /// for it.
    Closed,
    /// This receiver fell behind by more than the capacity: that many
    /// items were dropped before it read them. The next receive returns
    /// the oldest item still retained.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => {
                f.write_str("every broadcast sender is gone and every item was received")
            }
            RecvError::Lagged(n) => write!(
                f,
                "this receiver fell behind and missed {n} items; receive again to continue from the oldest retained one (or raise the capacity)"
            ),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No item is ready now, but senders remain; use `recv` to wait.
    Empty,
    /// Every sender is gone and this receiver read every item retained
    /// for it.
    Closed,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => {
                f.write_str("no item is ready without waiting; use recv to wait")
            }
            TryRecvError::Closed => RecvError::Closed.fmt(f),
            TryRecvError::Lagged(n) => RecvError::Lagged(*n).fmt(f),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The `Stream` impl's error: this receiver missed that many items (as
/// [`RecvError::Lagged`]); the stream goes on with the oldest retained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        RecvError::Lagged(self.0).fmt(f)
    }
}

impl std::error::Error for Lagged {}

impl From<Lagged> for RecvError {
    fn from(lagged: Lagged) -> Self {
        RecvError::Lagged(lagged.0)
    }
}
