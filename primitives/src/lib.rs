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
pub mod channel;
mod condition;
mod event;
mod limiter;
mod lock;
mod mutex;
mod once_cell;
mod raw;
mod reentrant;
mod rwlock;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierStatistics, BarrierWait, BarrierWaitResult};
pub use condition::{Condition, ConditionStatistics};
pub use event::{Event, EventStatistics, EventWait};
pub use limiter::{
    Borrower, CapacityLimiter, LimiterAcquire, LimiterError, LimiterGuard, LimiterStatistics,
};
pub use lock::{Lock, LockGuard, LockStatistics};
pub use mutex::{Mutex, MutexGuard, MutexLock};
pub use once_cell::{OnceCell, OnceCellStatistics};
pub use raw::{LockError, Owner};
pub use reentrant::{ReentrantGuard, ReentrantLock, ReentrantLockFuture, ReentrantLockStatistics};
pub use rwlock::{
    ReadFuture, RwLock, RwLockReadGuard, RwLockStatistics, RwLockWriteGuard, WouldBlock,
    WriteFuture,
};
pub use semaphore::{Acquire, Semaphore, SemaphoreError, SemaphorePermit, SemaphoreStatistics};
