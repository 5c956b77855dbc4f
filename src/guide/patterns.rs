//! # Patterns: pool, concurrent map, retry, worker pool
//!
//! [`arbor::patterns`](crate::patterns) (crate `arbor-patterns`) has four
//! things most services build by hand, each structured: nothing it runs
//! outlives the call or the nursery it was given, and the caller's
//! cancellation reaches all of it. Every async function in it is a
//! checkpoint, as in the [primitives](super::primitives).
//!
//! - [`Pool<T, E>`](crate::patterns::Pool): a connection pool.
//!   [`get()`](crate::patterns::Pool::get) waits FIFO for a slot, and a
//!   slot stays taken for as long as its connection is checked out, so at
//!   most `max_size` connections exist, counting ones being opened or
//!   closed. It reuses the most recently returned connection, runs an
//!   async health check, closes connections past `idle_timeout` or
//!   `max_lifetime` through an async close hook, and keeps `min_idle`
//!   open when the caller runs [`pool.maintain()`](crate::patterns::Pool::maintain)
//!   as a nursery child (the pool spawns nothing). A `get` cancelled in
//!   any state loses no slot; [`close()`](crate::patterns::Pool::close)
//!   refuses new gets and closes checked-out connections as they come
//!   back.
//! - [`map_concurrent(items, limit, f)`](crate::patterns::map_concurrent):
//!   results in input order, at most `limit` futures in flight, and the
//!   first failure cancels the rest at once and is returned.
//!   [`try_map_concurrent`](crate::patterns::try_map_concurrent) keeps
//!   every result; [`map_concurrent_unordered`](crate::patterns::map_concurrent_unordered)
//!   is a stream in completion order. The futures are polled inside the
//!   call (a waker per slot), not spawned: they may borrow from the
//!   caller, and dropping the call drops them.
//! - [`retry(&policy, || op())`](crate::patterns::retry()): a
//!   [`RetryPolicy`](crate::patterns::RetryPolicy) with a maximum of
//!   attempts, a timeout per attempt and overall (cancel scopes), capped
//!   exponential backoff with full jitter from a seedable RNG, and a
//!   `retry_if` predicate. The error ([`RetryError`](crate::patterns::RetryError))
//!   says whether attempts ran out or the deadline passed, with the last
//!   error.
//! - [`WorkerPool`](crate::patterns::WorkerPool): N workers, each a child
//!   of the nursery it is started in, over a bounded queue.
//!   `submit(item).await` waits for room (backpressure). Errors and panics
//!   are reported per item to an `on_error` handler and never printed;
//!   without a handler, the first failure stops the pool and fails the
//!   nursery. `close()` drains what is queued; cancelling the nursery
//!   cancels the work in flight.
//!
//! `examples/tour` uses all four against a real TCP service
//! (`cargo run --release --example tour`).
//!
//! ## A concurrent map with retries
//!
//! ```
//! use std::time::Duration;
//! use arbor::patterns::{RetryPolicy, map_concurrent, retry};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let flaky = std::cell::Cell::new(0);
//!     let policy = RetryPolicy::new()
//!         .max_attempts(3)
//!         .attempt_timeout(Duration::from_secs(1))
//!         .backoff(Duration::from_millis(100), 2.0, Duration::from_secs(5))
//!         .jitter(false);
//!     // Three items at most in flight; item 2 fails once and is retried.
//!     let squares = map_concurrent(0..5u64, 3, |i| {
//!         let (flaky, policy) = (&flaky, &policy);
//!         async move {
//!             retry(policy, || async move {
//!                 if i == 2 && flaky.replace(flaky.get() + 1) == 0 {
//!                     return Err("try again");
//!                 }
//!                 Ok(i * i)
//!             })
//!             .await
//!         }
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(squares, [0, 1, 4, 9, 16]);
//!     assert_eq!(flaky.get(), 2);
//! });
//! ```
//!
//! ## A connection pool
//!
//! The pool is single-threaded: clone it (an `Rc` inside) to share it
//! between tasks. A guard returns its connection when dropped.
//!
//! ```
//! use arbor::patterns::Pool;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let opened = std::rc::Rc::new(std::cell::Cell::new(0));
//!     let count = opened.clone();
//!     let pool = Pool::builder(async move || {
//!         count.set(count.get() + 1);
//!         Ok::<_, std::io::Error>(format!("conn {}", count.get()))
//!     })
//!     .max_size(2)
//!     .build();
//!
//!     let a = pool.get().await.unwrap();
//!     let b = pool.get().await.unwrap();
//!     assert_eq!((a.as_str(), b.as_str()), ("conn 1", "conn 2"));
//!     drop(b);
//!     // The most recently returned idle connection is reused.
//!     assert_eq!(pool.get().await.unwrap().as_str(), "conn 2");
//!     assert_eq!(opened.get(), 2);
//!     drop(a);
//!     pool.close().await;
//!     assert!(pool.get().await.is_err());
//! });
//! ```
//!
//! ## A worker pool
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use arbor::patterns::{WorkerError, WorkerPool};
//! use arbor::primitives::channel;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let errors = Rc::new(RefCell::new(Vec::new()));
//!     let (results, outputs) = channel::unbounded();
//!     let log = errors.clone();
//!     arbor::nursery(async |n| {
//!         // 2 workers, at most 4 items queued.
//!         let pool = WorkerPool::builder(2, 4, async |x: u32| {
//!             arbor::time::sleep(Duration::from_secs(1)).await;
//!             if x == 3 { Err(format!("{x} is unlucky")) } else { Ok(x * 10) }
//!         })
//!         .on_error(move |e: WorkerError<String>| log.borrow_mut().push(e.to_string()))
//!         .results(results)
//!         .start(&n);
//!         for x in 1..=4 {
//!             pool.submit(x).await.unwrap(); // waits while the queue is full
//!         }
//!         pool.close(); // the workers drain the queue, then the nursery returns
//!     })
//!     .await
//!     .unwrap();
//!     let mut got = Vec::new();
//!     while let Ok(y) = outputs.recv().await {
//!         got.push(y);
//!     }
//!     assert_eq!(got, [10, 20, 40]);
//!     assert_eq!(*errors.borrow(), ["a worker pool item failed: 3 is unlucky"]);
//! });
//! ```
//!
//! Each item's page has the rest: slots, expiry and closing on
//! [`Pool`](crate::patterns::Pool), the states and error sinks on
//! [`patterns::worker`](crate::patterns::worker).
