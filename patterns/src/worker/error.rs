//! The worker pool's error types: an item's failure ([`WorkerError`]) and
//! a refused submission ([`Closed`], [`TrySubmitError`]), each handing its
//! value back.

use std::any::Any;
use std::fmt;

/// Why one item was not processed: its handler returned `Err`, or
/// panicked. Handed to the pool's error sink (see
/// [`Builder::on_error`](super::Builder::on_error)); never printed.
pub enum WorkerError<E> {
    /// The handler returned `Err(error)`.
    Failed(E),
    /// The handler panicked (creating its future or polling it); this is
    /// the panic's payload, as [`std::panic::catch_unwind`] gives it. The
    /// item's future was dropped; the worker went on with the next item.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl<E> WorkerError<E> {
    /// Whether the handler panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, WorkerError::Panicked(_))
    }

    /// The panic message, if the handler panicked with a string (as
    /// `panic!("...")` does).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            WorkerError::Failed(_) => None,
            WorkerError::Panicked(payload) => payload
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str)),
        }
    }

    /// The handler's error, if it returned one (rather than panicking).
    pub fn into_failed(self) -> Option<E> {
        match self {
            WorkerError::Failed(error) => Some(error),
            WorkerError::Panicked(_) => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for WorkerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
            WorkerError::Panicked(_) => match self.panic_message() {
                Some(message) => f.debug_tuple("Panicked").field(&message).finish(),
                None => f.write_str("Panicked(..)"),
            },
        }
    }
}

impl<E: fmt::Display> fmt::Display for WorkerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Failed(error) => write!(f, "a worker pool item failed: {error}"),
            WorkerError::Panicked(_) => match self.panic_message() {
                Some(message) => write!(f, "a worker pool item panicked: {message}"),
                None => f.write_str("a worker pool item panicked (with a non-string payload)"),
            },
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for WorkerError<E> {}

/// [`WorkerPool::submit`](super::WorkerPool::submit) was refused: the pool
/// takes no more items (it was closed or cancelled, every handle was
/// dropped, or its workers have ended). The item is handed back.
#[derive(Clone, PartialEq, Eq)]
pub struct Closed<I>(pub I);

impl<I> Closed<I> {
    /// The item that was not submitted.
    pub fn into_inner(self) -> I {
        self.0
    }
}

impl<I> fmt::Debug for Closed<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<I> fmt::Display for Closed<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the worker pool is closed and takes no more items; the item is handed back (into_inner)",
        )
    }
}

impl<I> std::error::Error for Closed<I> {}

/// Why [`WorkerPool::try_submit`](super::WorkerPool::try_submit) did not
/// take the item; the item is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum TrySubmitError<I> {
    /// The queue is full (or submissions are already waiting for room):
    /// use `submit` to wait.
    Full(I),
    /// The pool takes no more items (see [`Closed`]).
    Closed(I),
}

impl<I> TrySubmitError<I> {
    /// The item that was not submitted.
    pub fn into_inner(self) -> I {
        match self {
            TrySubmitError::Full(item) | TrySubmitError::Closed(item) => item,
        }
    }
}

impl<I> fmt::Debug for TrySubmitError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("Full(..)"),
            TrySubmitError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<I> fmt::Display for TrySubmitError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str(
                "the worker pool's queue is full; the item is handed back (into_inner), use submit to wait for room",
            ),
            TrySubmitError::Closed(_) => fmt::Display::fmt(&Closed(()), f),
        }
    }
}

impl<I> std::error::Error for TrySubmitError<I> {}
