//! Helpers for tests of code that runs on arbor (trio's `trio.testing`).
//!
//! - [`wait_all_tasks_blocked`]: wait until every other task is parked.
//!
//! The virtual clock that usually goes with them is set up on the
//! [`Builder`](crate::Builder): [`virtual_clock`](crate::Builder::virtual_clock)
//! and [`autojump`](crate::Builder::autojump).

pub use crate::executor::{WaitAllTasksBlocked, wait_all_tasks_blocked};
