//! arbor's synchronization primitives and channels.
//!
//! Every primitive here is single-threaded (`!Send`, `Cell`/`RefCell`
//! state, no atomics), FIFO-fair with direct hand-off (a release goes to
//! the longest waiter, never to a task that barges in), and cancel-safe in
//! both orders: a waiter dropped before it is granted leaves the queue and
//! consumes nothing; one dropped after it was granted passes the grant on.
//! Inside a cancelled arbor scope their operations make no progress, so an
//! operation awaited there never takes effect. Misuse is an error value
//! with a message saying what to do, or a documented panic, never a hang.
//!
//! All of them wait in one structure, the FIFO wait queue of `waiters.rs`.

#![warn(missing_docs)]

mod barrier;
mod limiter;
mod once_cell;
mod rwlock;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierStatistics, BarrierWait, BarrierWaitResult};
pub use limiter::{
    Borrower, CapacityLimiter, LimiterAcquire, LimiterError, LimiterGuard, LimiterStatistics,
};
pub use once_cell::{OnceCell, OnceCellStatistics};
pub use rwlock::{
    ReadFuture, RwLock, RwLockReadGuard, RwLockStatistics, RwLockWriteGuard, WouldBlock,
    WriteFuture,
};
pub use semaphore::{Acquire, Semaphore, SemaphoreError, SemaphorePermit, SemaphoreStatistics};
