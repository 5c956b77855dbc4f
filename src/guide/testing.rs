//! # Testing
//!
//! `#[arbor::test]` runs an `async fn` test on a fresh runtime, one per
//! test (`#[should_panic]`, `#[ignore]` and returning a `Result` work as
//! usual); `#[arbor::main]` does the same for `main`. Three clocks, as in
//! trio's `MockClock`:
//!
//! - the real clock, the default;
//! - `virtual_clock` ([`Builder::virtual_clock`](crate::Builder::virtual_clock)):
//!   time jumps to the next timer whenever every task is blocked, so
//!   sleeps and timeouts take no real time. It also jumps while tasks wait
//!   on sockets, child processes or `to_thread` jobs, so a timeout around
//!   real I/O fires at once;
//! - `autojump = "10ms"` ([`Builder::autojump`](crate::Builder::autojump)):
//!   a virtual clock that jumps only after every task has been blocked
//!   that long in real time with nothing arriving, so real I/O and threads
//!   keep up with virtual timeouts.
//!   [`Builder::virtual_clock_rate(r)`](crate::Builder::virtual_clock_rate)
//!   adds a virtual clock that also runs by itself at `r` × real time.
//!
//! [`time::advance`](crate::time::advance) moves a virtual clock by hand.
//!
//! ```
//! use std::time::Duration;
//!
//! #[arbor::test(virtual_clock)]
//! async fn a_retry_loop_backs_off_for_a_minute_without_waiting() {
//!     let t0 = arbor::time::now();
//!     for backoff in [1, 2, 4, 8, 16, 29] {
//!         arbor::time::sleep(Duration::from_secs(backoff)).await;
//!     }
//!     assert_eq!(arbor::time::now() - t0, Duration::from_secs(60));
//! }
//!
//! #[arbor::test(autojump = "100ms")]
//! async fn a_worker_thread_keeps_up_with_a_virtual_timeout() {
//!     let job = arbor::to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(20)));
//!     assert!(arbor::move_on_after(Duration::from_secs(10), job).await.is_some());
//! }
//!
//! #[arbor::main]
//! async fn main() {
//!     let answer = arbor::spawn(async { 40 }).await.unwrap() + 2;
//!     assert_eq!(answer, 42);
//! }
//! ```
//!
//! (A doctest runs `main` but not the `#[test]` functions; the
//! attribute's own docs and `tests/` do.) Outside a test, build the
//! runtime yourself:
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = arbor::Runtime::builder().autojump(Duration::from_millis(100)).build().unwrap();
//! rt.block_on(async {
//!     let t0 = arbor::time::now();
//!     let job = arbor::to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(20)));
//!     assert!(arbor::move_on_after(Duration::from_secs(10), job).await.is_some());
//!     // The clock did not jump while the thread worked.
//!     assert!(arbor::time::now() - t0 < Duration::from_secs(10));
//!     arbor::time::advance(Duration::from_secs(3600));
//!     assert!(arbor::time::now() - t0 >= Duration::from_secs(3600));
//! });
//! ```
//!
//! ## Waiting for the others
//!
//! [`testing::wait_all_tasks_blocked`](crate::testing::wait_all_tasks_blocked)
//! returns once every other task has been blocked for a cushion of real
//! time (trio's helper): the point where a test can check what the others
//! did, without sleeping and hoping.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! arbor::run(async {
//!     let (tx, rx) = arbor::primitives::channel::unbounded();
//!     let received = Rc::new(Cell::new(0));
//!     let seen = received.clone();
//!     let consumer = arbor::spawn(async move {
//!         while let Ok(()) = rx.recv().await {
//!             seen.set(seen.get() + 1);
//!         }
//!     });
//!     for _ in 0..3 {
//!         tx.try_send(()).unwrap();
//!     }
//!     arbor::testing::wait_all_tasks_blocked(Duration::from_millis(1)).await;
//!     assert_eq!(received.get(), 3); // the consumer drained the channel
//!     consumer.abort();
//! });
//! ```
//!
//! ## Seeded schedules
//!
//! Races between tasks show up only under some interleavings.
//! `#[arbor::test(seeds = 100)]` runs the test under 100 schedules (the
//! tasks of each scheduler tick polled in an order drawn from the seed),
//! prints the seed of a failing run (`arbor: failed with seed 17; replay
//! with ARBOR_SEED=17`), and `ARBOR_SEED=17 cargo test ...` replays just
//! that one; `#[arbor::test(seed = 17)]` pins one seed, and
//! [`Builder::seed`](crate::Builder::seed) does the same for a runtime
//! you build. The same seed gives the same order. The seed does not reorder timers, I/O
//! readiness or wakes from other threads.
//!
//! ## Looking inside
//!
//! [`dump`](crate::dump) renders the live tree of scopes and tasks, each
//! task with its await point and time parked; instruments and metrics
//! count what the scheduler does. Both are in
//! [`instruments`](super::instruments).
