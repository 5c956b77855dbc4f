//! The arbor guide: structured concurrency on one thread, chapter by
//! chapter. Each chapter is a module with docs only; every example in it
//! is a doctest that runs.
//!
//! 1. [`nurseries`]: a nursery owns its children; spawn, start, errors,
//!    plain values.
//! 2. [`cancel_scopes`]: cancel scopes, timeouts, deadlines, nesting.
//! 3. [`shields`]: shields and cleanup, grace periods.
//! 4. [`cancellation`]: what a cancellation does to your code in Rust's
//!    drop model, checkpoints, what "cancel safe" means.
//! 5. [`primitives`]: locks, semaphores, events, channels.
//! 6. [`io`]: sockets, blocking code on threads, files, processes,
//!    signals.
//! 7. [`testing`]: the virtual clock, `#[arbor::test]`, seeded schedules.
//! 8. [`from_tokio`]: tokio items and their arbor equivalents.
//! 9. [`from_trio`]: trio and AnyIO items and their arbor equivalents.
//! 10. [`ecosystem`]: which crates from the wider ecosystem work on arbor.
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
pub mod io;
pub mod nurseries;
pub mod primitives;
pub mod shields;
pub mod testing;
