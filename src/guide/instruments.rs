//! # Looking inside: `dump`, instruments and metrics
//!
//! Three ways to see what a running program is doing, from the cheapest
//! to the most detailed.
//!
//! ## The task tree: `dump`
//!
//! [`dump`](crate::dump) renders the live tree of scopes and tasks: each
//! nursery, cancel scope and task, and for each parked task the arbor
//! wait it is suspended in (the line of your code that made the future)
//! and for how long. The tour (`examples/tour`) prints it halfway
//! through. A sample (a nursery in task #1, its child #2 asleep):
//!
//! ```text
//! Root (root) #0
//!   - task 1.0 "server" parked 1.5s at src/main.rs:20:29
//!     Nursery #1 in task 1.0
//!       - task 2.0 "worker" parked 1.5s at src/main.rs:14:17
//!         Child "worker" #2 in task 2.0
//!       - task 3.0 "logger" runnable
//!         Child "logger" #3 in task 3.0
//! ```
//!
//! ```
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     arbor::nursery(async |n| {
//!         n.spawn_named("ticker", arbor::time::sleep(std::time::Duration::from_secs(1)));
//!         arbor::yield_now().await; // let the child reach its sleep
//!         assert!(arbor::dump().contains("ticker"));
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
//!
//! The await point and park time cost 16 of the 64 bytes of bookkeeping
//! per task. For building structured primitives of your own on the same
//! tree, [`arbor::lowlevel`](crate::lowlevel) has the scope machinery
//! underneath (`Region`, `ScopeCell`).
//!
//! ## Instruments
//!
//! An [`Instrument`](crate::instrument::Instrument) is told about every
//! spawn, poll start and end, task exit, park of the runtime thread and
//! scope cancellation (trio's `Instrument`, tokio's task hooks). Install
//! one for the runtime's life with
//! [`Builder::instrument`](crate::Builder::instrument)`(Arc::new(..))`, or
//! add and remove one from inside with
//! [`instrument::add`](crate::instrument::add) and
//! [`remove`](crate::instrument::remove). One that panics is removed, as
//! in trio, and the runtime carries on without it. With none installed,
//! the run loop checks one flag per tick, and a spawn or a task exit one
//! more. The hooks run on the runtime thread, between polls; the
//! [module docs](crate::instrument) say what they may do there.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use arbor::instrument::Instrument;
//!
//! #[derive(Default)]
//! struct Polls(AtomicU64);
//! impl Instrument for Polls {
//!     fn on_poll_start(&self, _task: arbor::TaskId) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let polls = Arc::new(Polls::default());
//! let rt = arbor::Runtime::builder().instrument(polls.clone()).build().unwrap();
//! rt.block_on(async {
//!     // The future given to `block_on` is not a task; this child is,
//!     // polled twice (before and after its yield).
//!     arbor::spawn(async { arbor::yield_now().await }).await.unwrap();
//! });
//! assert_eq!(polls.0.load(Ordering::Relaxed), 2);
//! assert_eq!(rt.metrics().polls, 2);
//! ```
//!
//! Added from inside, for part of a run:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use arbor::instrument::{self, Instrument};
//!
//! #[derive(Default)]
//! struct Spawns(Cell<u32>);
//! impl Instrument for Spawns {
//!     fn on_spawn(&self, _task: &instrument::SpawnEvent<'_>) {
//!         self.0.set(self.0.get() + 1);
//!     }
//! }
//!
//! arbor::run(async {
//!     let spawns = Rc::new(Spawns::default());
//!     let id = instrument::add(spawns.clone());
//!     arbor::spawn(async {}).await.unwrap();
//!     assert!(instrument::remove(id));
//!     arbor::spawn(async {}).await.unwrap(); // not seen
//!     assert_eq!(spawns.0.get(), 1);
//! });
//! ```
//!
//! arbor's `tracing` feature (off by default) adds
//! `instrument::TracingInstrument`: a span per task, under its spawner's
//! span and entered for each of its polls.
//!
//! ## Metrics
//!
//! [`instrument::metrics()`](crate::instrument::metrics) (inside a
//! runtime) or [`Runtime::metrics()`](crate::Runtime::metrics) (outside
//! `block_on`) is a snapshot of counters the runtime keeps anyway
//! ([`RuntimeMetrics`](crate::instrument::RuntimeMetrics)): tasks spawned
//! and alive, polls, parks, timers armed, reactor events, wakes from
//! other threads.
//!
//! ```
//! arbor::run(async {
//!     let before = arbor::instrument::metrics();
//!     arbor::spawn(async {}).await.unwrap();
//!     let after = arbor::instrument::metrics();
//!     assert_eq!(after.tasks_spawned - before.tasks_spawned, 1);
//! });
//! ```
