//! arbor's runtime core: a single-threaded executor whose tasks live in a
//! slab, a hierarchical timer wheel, a reactor on epoll or io_uring
//! ([`IoBackend`]), and the scope tree
//! that nurseries and cancel scopes (crate `arbor-nursery`) are built on.
//!
//! Most users depend on the `arbor` facade crate, which re-exports this.
//!
//! ```
//! use std::time::Duration;
//! let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
//! let order = rt.block_on(async {
//!     let slow = arbor_runtime::spawn(async {
//!         arbor_runtime::time::sleep(Duration::from_secs(2)).await;
//!         "slow"
//!     });
//!     let fast = arbor_runtime::spawn(async {
//!         arbor_runtime::time::sleep(Duration::from_secs(1)).await;
//!         "fast"
//!     });
//!     [fast.await.unwrap(), slow.await.unwrap()]
//! });
//! assert_eq!(order, ["fast", "slow"]);
//! ```
//!
//! # Layout
//!
//! - [`task`]: the task allocation, its state bits, wakers, [`JoinHandle`],
//!   and task-local values ([`task_local!`], [`LocalKey`]), which a spawned
//!   task inherits as a snapshot of its spawner's.
//! - `executor`: [`Runtime`], [`Builder`], the run loop, remote wakes, and
//!   [`Handle`] (spawn or run work on the runtime from another thread).
//! - [`time`]: the clock, the timer wheel, [`time::sleep`], [`time::interval`].
//! - `reactor`: epoll or io_uring (the only module that calls libc; the
//!   ring's shared memory is in `reactor/uring/sys.rs`); [`io::Async`] on top,
//!   and [`net`] (TCP, UDP, Unix domain sockets) and [`signal`] (Unix signal
//!   listeners) on that.
//! - [`scope`]: scope nodes, the layer below nurseries.
//! - [`testing`]: helpers for tests ([`testing::wait_all_tasks_blocked`]).
//! - [`blocking`]: the per-runtime pool of worker threads that blocking
//!   code is offloaded to (`arbor::to_thread` builds on it).

#![warn(missing_docs)]

pub mod blocking;
mod context;
mod executor;
pub mod instrument;
pub mod io;
pub mod net;
mod reactor;
pub mod scope;
pub mod signal;
mod slab;
mod sync;
pub mod task;
pub mod testing;
pub mod time;
mod yield_now;

pub use executor::{
    Builder, Handle, RemoteJoinError, RemoteJoinHandle, RunError, Running, Runtime, RuntimeGone,
    TaskInfo, current_runtime_id, current_task, current_task_id, run, running, runtime_local,
    spawn, spawn_named,
};
pub use reactor::IoBackend;
pub use task::{AccessError, JoinError, JoinHandle, LocalKey, RuntimeId, TaskId};
pub use yield_now::{YieldNow, yield_now};
