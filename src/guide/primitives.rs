//! # Primitives and channels
//!
//! [`arbor::primitives`](crate::primitives) has the synchronization
//! primitives of trio and AnyIO, with the names tokio users know where
//! they differ:
//!
//! | primitive | what for |
//! |---|---|
//! | [`Lock`](crate::primitives::Lock), [`Mutex<T>`](crate::primitives::Mutex) | exclusive access; re-acquiring your own lock is an error, not a deadlock |
//! | [`ReentrantLock<T>`](crate::primitives::ReentrantLock) | a lock its holder may take again |
//! | [`RwLock<T>`](crate::primitives::RwLock) | readers or one writer |
//! | [`Semaphore`](crate::primitives::Semaphore) | N permits; `acquire_owned` for a permit that moves into a task |
//! | [`CapacityLimiter`](crate::primitives::CapacityLimiter) | trio's: tokens with a borrower each; bounds `to_thread` |
//! | [`Event`](crate::primitives::Event) | set once, wakes every waiter (tokio's `Notify` for the one-shot case) |
//! | [`Condition`](crate::primitives::Condition) | a condition variable over a `Mutex<T>` |
//! | [`Barrier`](crate::primitives::Barrier) | N tasks meet |
//! | [`OnceCell<T>`](crate::primitives::OnceCell) | async one-time initialization |
//! | [`channel::bounded`](crate::primitives::channel::bounded), [`unbounded`](crate::primitives::channel::unbounded) | AnyIO memory object streams: many senders, many receivers; `bounded(0)` is a rendezvous |
//! | [`channel::oneshot`](crate::primitives::channel::oneshot), [`watch`](crate::primitives::channel::watch), [`broadcast`](crate::primitives::channel::broadcast()) | as in tokio |
//!
//! All are single-threaded (`!Send`: share them with `Rc`, not `Arc`), FIFO
//! with direct hand-off (a release goes to the longest waiter, never to a
//! task that barges in), and cancel safe in both orders (see
//! [`cancellation`](super::cancellation)). Misuse is an error value or a
//! documented panic, never a hang.
//!
//! ```
//! use std::rc::Rc;
//! use arbor::primitives::{Event, Mutex, Semaphore};
//!
//! arbor::run(async {
//!     let counter = Rc::new(Mutex::new(0));
//!     let ready = Rc::new(Event::new());
//!     let slots = Rc::new(Semaphore::new(2)); // at most two at once
//!     arbor::nursery(async |n| {
//!         for _ in 0..5 {
//!             let (counter, ready, slots) = (counter.clone(), ready.clone(), slots.clone());
//!             n.spawn(async move {
//!                 ready.wait().await;
//!                 let _permit = slots.acquire().await;
//!                 *counter.lock().await.unwrap() += 1;
//!             });
//!         }
//!         ready.set(); // wakes all five
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(*counter.lock().await.unwrap(), 5);
//! });
//! ```
//!
//! ## Channels
//!
//! Channels follow AnyIO's memory object streams: both ends can be cloned;
//! closing (or dropping) the last sender ends the stream once it has
//! drained; closing the last receiver makes every send fail with its item
//! handed back. Receivers are `futures_core::Stream`s.
//!
//! ```
//! use arbor::primitives::channel;
//!
//! arbor::run(async {
//!     let (tx, rx) = channel::bounded::<u32>(16);
//!     let sum = arbor::nursery(async |n| {
//!         for worker in 0..3 {
//!             let tx = tx.clone();
//!             n.spawn(async move {
//!                 for i in 0..10 {
//!                     tx.send(worker * 100 + i).await.unwrap();
//!                 }
//!             });
//!         }
//!         drop(tx); // the stream ends when the workers' clones are gone
//!         let mut sum = 0;
//!         while let Ok(x) = rx.recv().await {
//!             sum += x;
//!         }
//!         sum
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(sum, 3 * 45 + 100 * 10 + 200 * 10);
//! });
//! ```
//!
//! Closing one handle (rather than dropping the last) wakes the operations
//! blocked on that handle with `ClosedHandle`, handing a blocked send its
//! item back, as trio does. A rendezvous channel, `bounded(0)`, hands each
//! item straight from a sender to a receiver:
//!
//! ```
//! use std::rc::Rc;
//! use arbor::primitives::{channel, Lock, LockError, Semaphore};
//!
//! arbor::run(async {
//!     let (tx, rx) = channel::bounded::<u32>(0); // rendezvous
//!     let producer = arbor::spawn(async move {
//!         for i in 0..3 {
//!             tx.send(i).await.unwrap();
//!         }
//!     });
//!     let mut got = Vec::new();
//!     while let Ok(i) = rx.recv().await {
//!         got.push(i);
//!     }
//!     assert_eq!(got, [0, 1, 2]);
//!     producer.await.unwrap();
//!
//!     // Re-acquiring a lock you hold is an error, not a deadlock.
//!     let lock = Lock::new();
//!     lock.acquire().await.unwrap();
//!     assert!(matches!(lock.acquire().await, Err(LockError::WouldDeadlock)));
//!     lock.release().unwrap();
//!
//!     let sem = Rc::new(Semaphore::new(1));
//!     let permit = sem.acquire().await;
//!     assert!(sem.try_acquire().is_err());
//!     drop(permit);
//! });
//! ```
//!
//! ## What tokio users reach for
//!
//! [`Semaphore::acquire_owned`](crate::primitives::Semaphore::acquire_owned)
//! and [`acquire_many_owned`](crate::primitives::Semaphore::acquire_many_owned)
//! and [`Mutex::lock_owned`](crate::primitives::Mutex::lock_owned) (on an
//! `Rc`) give a permit or guard that can move into a spawned task; channel
//! receivers, broadcast receivers and
//! [`time::Interval`](crate::time::Interval) are `futures_core::Stream`s;
//! [`broadcast`](crate::primitives::channel::broadcast()) gives every
//! receiver every item (a receiver that fell behind is told how many it
//! missed); [`CapacityLimiter::unbounded()`](crate::primitives::CapacityLimiter::unbounded)
//! and totals that change at run time both ways
//! ([`set_total_tokens`](crate::primitives::CapacityLimiter::set_total_tokens));
//! [`Nursery::child_set()`](crate::Nursery::child_set) for a completion
//! queue.
//!
//! ## Checkpoints and the fast mode
//!
//! Every async operation here is a checkpoint: inside a cancelled scope it
//! makes no progress (and never takes effect), and when it completes
//! without waiting it still lets other ready tasks run first. So tasks
//! looping on a free lock take turns. `with_fast_acquire(true)` on a
//! `Lock`, `Mutex`, `ReentrantLock`, `RwLock`, `Semaphore` or
//! `CapacityLimiter` skips that yield on an uncontended acquire: faster,
//! for code that already yields often enough.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc};
//! use arbor::primitives::Lock;
//!
//! for (fast, expected) in [(false, [0, 1, 2, 0, 1, 2]), (true, [0, 0, 1, 1, 2, 2])] {
//!     let order = Rc::new(RefCell::new(Vec::new()));
//!     arbor::run(async {
//!         let lock = Rc::new(Lock::new().with_fast_acquire(fast));
//!         arbor::nursery(async |n| {
//!             for i in 0..3 {
//!                 let (lock, order) = (lock.clone(), order.clone());
//!                 n.spawn(async move {
//!                     for _ in 0..2 {
//!                         let _held = lock.lock().await.unwrap();
//!                         order.borrow_mut().push(i);
//!                     }
//!                 });
//!             }
//!         })
//!         .await
//!         .unwrap();
//!     });
//!     assert_eq!(*order.borrow(), expected);
//! }
//! ```
//!
//! For patterns built on these (a connection pool, a bounded concurrent
//! map, retry with backoff, a worker pool), see the
//! [`patterns`](super::patterns) chapter.
