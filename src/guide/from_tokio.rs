//! # Coming from tokio
//!
//! arbor is a current-thread runtime: one thread, tasks that need not be
//! `Send`, and no `LocalSet`. The big difference is structure: in tokio a
//! spawned task runs until it ends or is aborted, and a timeout or a
//! `CancellationToken` is something each piece of code opts into; in
//! arbor tasks live in nurseries, and cancelling a scope drops everything
//! inside it, however deep.
//!
//! | tokio | arbor |
//! |---|---|
//! | `#[tokio::main]`, `Builder::new_current_thread()` | [`#[arbor::main]`](crate::main), [`Runtime::builder()`](crate::Runtime::builder), [`arbor::run`](crate::run) |
//! | `#[tokio::test]`, `#[tokio::test(start_paused = true)]` | [`#[arbor::test]`](crate::test), `#[arbor::test(virtual_clock)]` (or `autojump = "10ms"`) |
//! | `tokio::time::pause`, `advance` | [`Builder::virtual_clock`](crate::Builder::virtual_clock), [`time::advance`](crate::time::advance) |
//! | `tokio::spawn`, `task::spawn_local` | [`arbor::spawn`](crate::spawn) (unstructured), or better [`Nursery::spawn`](crate::Nursery::spawn) |
//! | `JoinHandle::abort`, `AbortHandle` | [`JoinHandle::abort`](crate::JoinHandle::abort); a nursery child: [`ChildHandle::cancel`](crate::ChildHandle::cancel) |
//! | `task::Builder::name` | [`spawn_named`](crate::spawn_named), [`Nursery::spawn_named`](crate::Nursery::spawn_named) |
//! | `JoinSet` (`spawn`, `join_next`, `abort_all`) | [`nursery`](crate::nursery); for completion order a [`ChildSet`](crate::ChildSet) (`spawn`, `join_next`, `cancel_all`) |
//! | `tokio::time::timeout` | [`fail_after`](crate::fail_after) (`Result<T, Elapsed>`) or [`move_on_after`](crate::move_on_after) (`Option<T>`); `timeout_at`: [`fail_at`](crate::fail_at), [`move_on_at`](crate::move_on_at) |
//! | `select!` | a race in a nursery whose winner cancels the rest (below), or `futures_lite::future::or` in place |
//! | `CancellationToken` | [`CancelScope`](crate::CancelScope) and its [`CancelHandle`](crate::CancelHandle); `child_token`: a nested scope |
//! | `time::sleep`, `sleep_until`, `interval`, `Instant` | [`time::sleep`](crate::time::sleep), [`sleep_until`](crate::time::sleep_until), [`interval`](crate::time::interval), [`time::Instant`](crate::time::Instant) |
//! | `task::yield_now`, `task::consume_budget` | [`yield_now`](crate::yield_now) or [`checkpoint`](crate::checkpoint); every arbor operation is already a checkpoint |
//! | `task::spawn_blocking` | [`to_thread::run_sync`](crate::to_thread::run_sync) (bounded by a `CapacityLimiter`, 40 by default) |
//! | `Handle::current().block_on` from a blocking task | [`from_thread::run`](crate::from_thread::run) |
//! | `Handle::spawn` from another thread | [`Handle::spawn`](crate::Handle::spawn) (takes a closure that builds the future on the runtime thread), [`Handle::run`](crate::Handle::run) |
//! | `sync::mpsc::channel(n)`, `unbounded_channel` | [`channel::bounded(n)`](crate::primitives::channel::bounded), [`channel::unbounded`](crate::primitives::channel::unbounded) (both ends cloneable) |
//! | `sync::oneshot`, `watch`, `broadcast` | [`channel::oneshot`](crate::primitives::channel::oneshot), [`channel::watch`](crate::primitives::channel::watch), [`channel::broadcast`](crate::primitives::channel::broadcast()) |
//! | `sync::Mutex`, `RwLock`, `Semaphore`, `Barrier`, `OnceCell` | [`primitives::Mutex`](crate::primitives::Mutex), [`RwLock`](crate::primitives::RwLock), [`Semaphore`](crate::primitives::Semaphore), [`Barrier`](crate::primitives::Barrier), [`OnceCell`](crate::primitives::OnceCell) (all `!Send`: share with `Rc`) |
//! | `sync::Notify` | [`primitives::Event`](crate::primitives::Event) for a one-time signal; [`Condition`](crate::primitives::Condition) or a channel for repeated ones |
//! | `task_local!` (not inherited by spawned tasks) | [`arbor::task_local!`](crate::task_local) (inherited: a child starts with its spawner's values) |
//! | `tokio::net` | [`arbor::net`](crate::net) |
//! | `tokio::fs` | [`arbor::fs`](crate::fs) |
//! | `tokio::process` (`kill_on_drop` off by default) | [`arbor::process`](crate::process) (`kill_on_drop` on by default) |
//! | `tokio::signal::ctrl_c`, `unix::signal` | [`signal::ctrl_c`](crate::signal::ctrl_c), [`signal::signal`](crate::signal::signal) |
//! | `tokio::io::AsyncRead`/`AsyncWrite` | the `futures-io` traits (see [`ecosystem`](super::ecosystem)); sockets also have inherent `read`, `write_all`, ... |
//! | `runtime::Handle::metrics`, task hooks | [`Runtime::metrics`](crate::Runtime::metrics), [`instrument::Instrument`](crate::instrument::Instrument) |
//!
//! Not here: a multi-threaded scheduler, `block_in_place`, `Send` tasks
//! moving between threads. A tokio-only crate (one that calls
//! `tokio::spawn` or needs tokio's reactor) needs a tokio runtime; see
//! [`ecosystem`](super::ecosystem).
//!
//! ## `select!` becomes a race
//!
//! `select!` polls branches in place and drops the losers. The arbor way to
//! race tasks is a nursery whose first finisher cancels it; the losers are
//! dropped at their next suspension, and a branch that fails fails the
//! race instead of being forgotten.
//!
//! ```
//! use std::cell::RefCell;
//! use std::future::Future;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! /// The first of `racers` to finish; the others are dropped.
//! async fn race<T: 'static>(racers: Vec<std::pin::Pin<Box<dyn Future<Output = T>>>>) -> T {
//!     let winner = Rc::new(RefCell::new(None));
//!     arbor::nursery(async |n| {
//!         for racer in racers {
//!             let (winner, done) = (winner.clone(), n.cancel_scope());
//!             n.spawn(async move {
//!                 let value = racer.await;
//!                 winner.borrow_mut().get_or_insert(value);
//!                 done.cancel();
//!             });
//!         }
//!     })
//!     .await
//!     .unwrap();
//!     winner.take().expect("a racer finished")
//! }
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let slow = Box::pin(async {
//!         arbor::time::sleep(Duration::from_secs(5)).await;
//!         "primary"
//!     });
//!     let fast = Box::pin(async {
//!         arbor::time::sleep(Duration::from_secs(1)).await;
//!         "replica"
//!     });
//!     assert_eq!(race(vec![slow, fast]).await, "replica");
//!
//!     // Two futures in place, no tasks: futures-lite's `or` (the loser is
//!     // dropped, as in `select!`).
//!     let first = futures_lite::future::or(
//!         async {
//!             arbor::time::sleep(Duration::from_secs(2)).await;
//!             2
//!         },
//!         async {
//!             arbor::time::sleep(Duration::from_secs(3)).await;
//!             3
//!         },
//!     );
//!     assert_eq!(first.await, 2);
//! });
//! ```
//!
//! ## `CancellationToken` becomes a scope
//!
//! A token must be passed to, and checked by, every piece of code that
//! should stop. A cancel scope needs neither: the code inside does not
//! know it can be cancelled.
//!
//! ```
//! use std::time::Duration;
//! use arbor::CancelScope;
//!
//! async fn work_forever() {
//!     loop {
//!         arbor::time::sleep(Duration::from_secs(1)).await; // no token in sight
//!     }
//! }
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let scope = CancelScope::new();
//!     let token = scope.handle(); // clone it like a token
//!     arbor::nursery(async |n| {
//!         n.spawn(async move {
//!             arbor::time::sleep(Duration::from_secs(10)).await;
//!             token.cancel();
//!         });
//!         assert!(scope.run(work_forever()).await.is_err());
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
