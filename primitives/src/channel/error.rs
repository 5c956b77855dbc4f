//! Error types of [`bounded`](super::bounded) / [`unbounded`](super::unbounded) channels.

use std::fmt;

/// Why [`Sender::send`](super::Sender::send) failed; the item is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum SendError<T> {
    /// Every receiver is closed (AnyIO's `BrokenResourceError`): nobody
    /// can ever take the item. Also given to senders that were waiting
    /// when the last receiver closed.
    Closed(T),
    /// This sender handle was closed with [`close`](super::Sender::close)
    /// (AnyIO's `ClosedResourceError`).
    ClosedHandle(T),
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(item) | SendError::ClosedHandle(item) => item,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::ClosedHandle(_) => f.write_str("ClosedHandle(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str(
                "every receiver of the channel is closed; the item is handed back (into_inner), stop sending",
            ),
            SendError::ClosedHandle(_) => f.write_str(
                "this sender was closed with close(); the item is handed back (into_inner), send through another clone",
            ),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`](super::Sender::try_send) failed; the item is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The buffer is full, nobody waits to receive, or other senders wait
    /// first (no barging).
    Full(T),
    /// Every receiver is closed.
    Closed(T),
    /// This sender handle was closed with [`close`](super::Sender::close).
    ClosedHandle(T),
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(item)
            | TrySendError::Closed(item)
            | TrySendError::ClosedHandle(item) => item,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
            TrySendError::ClosedHandle(_) => f.write_str("ClosedHandle(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str(
                "the channel cannot take the item without waiting (buffer full or other senders first); use send to wait",
            ),
            TrySendError::Closed(_) => f.write_str(SendError::Closed(()).to_string().as_str()),
            TrySendError::ClosedHandle(_) => f.write_str(SendError::ClosedHandle(()).to_string().as_str()),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        match e {
            SendError::Closed(item) => TrySendError::Closed(item),
            SendError::ClosedHandle(item) => TrySendError::ClosedHandle(item),
        }
    }
}

/// Why [`Receiver::recv`](super::Receiver::recv) returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// End of stream: every sender is closed and the buffer is drained
    /// (AnyIO's `EndOfStream`).
    Closed,
    /// This receiver handle was closed with
    /// [`close`](super::Receiver::close) (AnyIO's `ClosedResourceError`).
    ClosedHandle,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => {
                f.write_str("end of stream: every sender is closed and every item was received")
            }
            RecvError::ClosedHandle => {
                f.write_str("this receiver was closed with close(); receive through another clone")
            }
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No item is ready now, but senders remain; use `recv` to wait.
    Empty,
    /// End of stream: every sender is closed and the buffer is drained.
    Closed,
    /// This receiver handle was closed with [`close`](super::Receiver::close).
    ClosedHandle,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => {
                f.write_str("no item is ready without waiting; use recv to wait")
            }
            TryRecvError::Closed => RecvError::Closed.fmt(f),
            TryRecvError::ClosedHandle => RecvError::ClosedHandle.fmt(f),
        }
    }
}

impl std::error::Error for TryRecvError {}
