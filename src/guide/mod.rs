//! The arbor guide: structured concurrency on one thread, chapter by
//! chapter. Each chapter is a module with docs only; every example in it
//! is a doctest that runs.
//!
//! 1. [`nurseries`]: a nursery owns its children; spawn, start, errors,
//!    plain values, unstructured tasks.
//! 2. [`cancel_scopes`]: cancel scopes, timeouts, deadlines, nesting.
//! 3. [`shields`]: shields and cleanup, grace periods.
//! 4. [`cancellation`]: what a cancellation does to your code in Rust's
//!    drop model, checkpoints, what "cancel safe" means.
//! 5. [`primitives`]: locks, semaphores, events, channels.
//! 6. [`patterns`]: a connection pool, a bounded concurrent map, retry
//!    with backoff, a worker pool.
//! 7. [`io`]: sockets, blocking code on threads, handles from other
//!    threads, one runtime per core, files, processes, signals.
//! 8. [`testing`]: the virtual clock, `#[arbor::test]`, seeded schedules.
//! 9. [`instruments`]: the live task tree (`dump`), instruments, metrics.
//! 10. [`from_tokio`]: tokio items and their arbor equivalents.
//! 11. [`from_trio`]: trio and AnyIO items and their arbor equivalents,
//!     task-locals.
//! 12. [`ecosystem`]: which crates from the wider ecosystem work on arbor.
//! 13. [`internals`]: how arbor is built, piece by piece.
//!
//! Examples that involve time build a runtime with a virtual clock
//! ([`Builder::virtual_clock`](crate::Builder::virtual_clock)): time
//! jumps to the next timer whenever every task is blocked, so an example
//! that sleeps for an hour finishes at once.

pub mod cancel_scopes;
pub mod cancellation;
pub mod ecosystem;
pub mod from_tokio;
pub mod from_trio;
pub mod instruments;
pub mod internals;
pub mod io;
pub mod nurseries;
pub mod patterns;
pub mod primitives;
pub mod shields;
pub mod testing;
