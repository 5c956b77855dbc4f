//! Where an item's failure goes: [`ErrorSink`], and the default,
//! [`FailPool`].

use std::fmt;

use arbor_nursery::BoxError;

use super::WorkerError;

/// Where a worker pool sends each item's [`WorkerError`].
///
/// Implemented by every `FnMut(WorkerError<E>)` closure (set with
/// [`Builder::on_error`](super::Builder::on_error): the failure is handled
/// and the pool goes on) and by [`FailPool`], the default when no handler
/// is set (the first failure fails the pool and its nursery).
///
/// `report` is called by the worker that ran the item, right after the
/// item failed, on the runtime thread; it is synchronous, so it cannot
/// hold up the pool by waiting. A panic in `report` is not contained: it
/// ends that worker as a panicking nursery child (the nursery re-raises
/// it).
pub trait ErrorSink<E> {
    /// Take one item's failure. `Ok(())`: handled, the worker goes on with
    /// the next item. `Err(error)`: the pool fails with `error` (see
    /// [`FailPool`]).
    ///
    /// # Errors
    /// The failure of the whole pool, if this sink decides there is one.
    fn report(&mut self, error: WorkerError<E>) -> Result<(), BoxError>;
}

impl<E, F: FnMut(WorkerError<E>)> ErrorSink<E> for F {
    fn report(&mut self, error: WorkerError<E>) -> Result<(), BoxError> {
        self(error);
        Ok(())
    }
}

/// The error sink of a pool without an error handler: the first failed
/// (or panicked) item fails the pool.
///
/// The worker that ran it cancels its sibling workers (their in-flight
/// items are dropped), and returns the [`WorkerError`] (boxed) as its
/// nursery child's failure: a [`nursery`](arbor_nursery::nursery) then
/// cancels itself and returns it in its error group, the way trio
/// propagates an unhandled exception. With every worker gone, queued items
/// are dropped and submissions are refused with the item handed back.
/// Nothing is printed.
#[derive(Clone, Copy, Debug, Default)]
pub struct FailPool;

impl<E: fmt::Debug + fmt::Display + 'static> ErrorSink<E> for FailPool {
    fn report(&mut self, error: WorkerError<E>) -> Result<(), BoxError> {
        Err(Box::new(error))
    }
}
