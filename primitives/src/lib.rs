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
//!
//! [`to_thread`] runs blocking code on the runtime's worker threads under
//! a [`CapacityLimiter`] (trio's `to_thread.run_sync`); it lives here, not
//! in the runtime, because it needs the limiter.
//!
//! # Checkpoints
//!
//! Every public async operation here is a *checkpoint*, in trio's order:
//!
//! 1. a **cancel point**: inside a cancelled scope (outside a shield) the
//!    operation makes no progress and never takes effect; the scope drops
//!    it at that suspension;
//! 2. the attempt: take the lock, permit, token, or see the event set;
//!    if that has to wait, the task parks until it is granted (and then,
//!    having let others run, returns without more ado);
//! 3. a **schedule point** if it took effect *without* waiting: if other
//!    code is ready to run, the task yields once before returning
//!    ([`arbor_runtime::scope::schedule_point`]). If nothing else is
//!    runnable this costs one check and does not yield, but a task that
//!    loops on operations that complete at once still yields every 128 of
//!    them, so timers and I/O are not starved either.
//!
//! So three tasks looping on `let _g = lock.lock().await?` take turns
//! (`0,1,2,0,1,2,…`) instead of each running its whole loop in one go.
//!
//! **Nothing taken is lost at the schedule point.** The operation's result
//! (the guard, permit, token) is kept in its future and returned at the
//! next poll, whatever was cancelled meanwhile: the runtime gives that poll
//! before any cancelled scope drops the code, which then runs on to its
//! next suspension. If the future is dropped anyway (a
//! [`JoinHandle::abort`](arbor_runtime::JoinHandle::abort) of the task),
//! what it took is released exactly as if its guard had been dropped: the
//! lock, permit or token goes to the next waiter. An operation that took
//! nothing ([`Event::wait`] on a set event, [`OnceCell::get_or_init`] with
//! the value there, [`Condition::wait_for`] whose predicate holds) is a
//! cancel point again after its yield, as trio's `checkpoint()`: inside a
//! scope cancelled meanwhile it makes no progress.
//!
//! **Fast mode.** [`Lock`], [`Mutex`], [`ReentrantLock`], [`RwLock`],
//! [`Semaphore`] and [`CapacityLimiter`] can be built with
//! `.with_fast_acquire(true)` (AnyIO's `fast_acquire=True`): their
//! acquires are then cancel points but not schedule points when they do
//! not wait, so an uncontended acquire never yields. That is faster, and a
//! task looping on a free lock then keeps it for its whole loop; use it
//! where the code around already yields often enough.
//!
//! Each operation's `# Cancel safety` section says what a drop at each
//! of these points does.

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
pub mod to_thread;
mod waiters;

pub use barrier::{Barrier, BarrierStatistics, BarrierWait, BarrierWaitResult};
pub use condition::{Condition, ConditionStatistics};
pub use event::{Event, EventStatistics, EventWait};
pub use limiter::{
    Borrower, CapacityLimiter, LimiterAcquire, LimiterError, LimiterGuard, LimiterStatistics,
};
pub use lock::{Lock, LockGuard, LockStatistics};
pub use mutex::{Mutex, MutexGuard, MutexLock, OwnedMutexGuard};
pub use once_cell::{OnceCell, OnceCellStatistics};
pub use raw::{LockError, Owner};
pub use reentrant::{ReentrantGuard, ReentrantLock, ReentrantLockFuture, ReentrantLockStatistics};
pub use rwlock::{
    ReadFuture, RwLock, RwLockReadGuard, RwLockStatistics, RwLockWriteGuard, WouldBlock,
    WriteFuture,
};
pub use semaphore::{
    Acquire, AcquireOne, OwnedSemaphorePermit, Semaphore, SemaphoreError, SemaphorePermit,
    SemaphoreStatistics,
};
