//! # Nurseries
//!
//! A [`nursery`](crate::nursery) runs a body and every child the body
//! spawns, and returns only when all of them have finished. Nothing a
//! nursery started can outlive it, so a function that opens one and
//! returns has no tasks left behind: its concurrency is an implementation
//! detail, as trio puts it.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let total = arbor::nursery(async |n| {
//!         let a = n.spawn(async {
//!             arbor::time::sleep(Duration::from_secs(2)).await;
//!             40
//!         });
//!         let b = n.spawn(async { 2 });
//!         // The body awaits its children's values through their handles.
//!         a.await.unwrap() + b.await.unwrap()
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(total, 42);
//! });
//! ```
//!
//! The body gets a [`Nursery`](crate::Nursery) handle. It is `Clone`, so
//! a child can spawn siblings. Children are `'static` futures (they own
//! what they use: move it in, or share it with `Rc`) and need not be
//! `Send`: everything runs on the runtime's one thread.
//!
//! [`Nursery::spawn`](crate::Nursery::spawn) returns a
//! [`ChildHandle`](crate::ChildHandle). Awaiting it gives the child's
//! value or a [`ChildError`](crate::ChildError); dropping it does not
//! touch the child (the nursery still owns and waits for it), and
//! [`ChildHandle::cancel`](crate::ChildHandle::cancel) cancels that child
//! alone.
//!
//! ## Errors surface
//!
//! A child or body returning `Err` is a *failure*: the nursery cancels the
//! body and every other child (they are dropped at their next suspension),
//! waits for them, and returns [`NurseryError::Failed`](crate::NurseryError)
//! with an [`ErrorGroup`](crate::ErrorGroup) holding every failure, in the
//! order they happened. A panic in a child is re-raised by the nursery
//! once every child has finished. Nothing is printed and forgotten.
//!
//! ```
//! use std::time::Duration;
//! use arbor::NurseryError;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let err = arbor::nursery(async |n| {
//!         n.spawn_named("fetch", async {
//!             Err::<(), _>(std::io::Error::other("connection refused"))
//!         });
//!         // Dropped at once by the failure above, not after an hour.
//!         n.spawn(arbor::time::sleep(Duration::from_secs(3600)));
//!         arbor::time::sleep(Duration::from_secs(3600)).await;
//!     })
//!     .await
//!     .unwrap_err();
//!     let NurseryError::Failed(group) = err else { panic!("expected a failure") };
//!     assert_eq!(group.len(), 1);
//!     let failure = &group.failures()[0];
//!     assert_eq!(failure.task(), Some("fetch"));
//!     assert_eq!(failure.error().to_string(), "connection refused");
//! });
//! ```
//!
//! A [`supervisor`](crate::supervisor) collects failures the same way but
//! does not let a child's failure cancel its siblings; a
//! [`server`](crate::server) is a supervisor for long runs with many short
//! children (it keeps nothing of a finished child and only the first
//! [`SERVER_KEPT_FAILURES`](crate::SERVER_KEPT_FAILURES) failures).
//!
//! ## Children return plain values
//!
//! A child's output is an [`Outcome`](crate::Outcome): a `Result` fails
//! with its `Err`, and a plain value (numbers, strings, collections,
//! tuples, `()`, `Option`, ...) always succeeds. A type of your own becomes
//! a plain value with `#[derive(arbor::Outcome)]`; a child that loops
//! forever (its block has type `!`) goes through
//! [`forever`](crate::forever).
//!
//! ```
//! use std::time::Duration;
//!
//! #[derive(arbor::Outcome)]
//! struct Stats {
//!     ticks: u32,
//! }
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let stats = arbor::nursery(async |n| {
//!         let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
//!         let seen = ticks.clone();
//!         n.spawn(arbor::forever(async move {
//!             loop {
//!                 arbor::time::sleep(Duration::from_secs(1)).await;
//!                 seen.set(seen.get() + 1);
//!             }
//!         }));
//!         arbor::time::sleep(Duration::from_millis(3500)).await;
//!         // Cancelling the nursery's scope drops the ticker; the body has
//!         // returned a value, so the nursery returns it.
//!         n.cancel_scope().cancel();
//!         Stats { ticks: ticks.get() }
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(stats.ticks, 3);
//! });
//! ```
//!
//! ## Starting a child: `start`
//!
//! [`Nursery::start`](crate::Nursery::start) spawns a child and waits
//! until it reports that it is ready with
//! [`TaskStatus::started`](crate::TaskStatus::started), returning the
//! value it passed: a server passes its bound address, and the caller
//! connects only once there is something to connect to. A child that
//! fails before `started` fails the `start` call, not the nursery.
//!
//! ```
//! use arbor::TaskStatus;
//! use arbor::net::{TcpListener, TcpStream};
//! use std::net::SocketAddr;
//!
//! async fn serve_one(status: TaskStatus<SocketAddr>) -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//!     status.started(listener.local_addr()?).unwrap();
//!     let (conn, _) = listener.accept().await?;
//!     conn.write_all(b"hi").await
//! }
//!
//! arbor::run(async {
//!     arbor::nursery(async |n| {
//!         let addr = n.start(serve_one).await?;
//!         let client = TcpStream::connect(addr).await?;
//!         let mut buf = [0; 2];
//!         client.read_exact(&mut buf).await?;
//!         assert_eq!(&buf, b"hi");
//!         Ok::<_, Box<dyn std::error::Error>>(())
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
//!
//! A function written for `start` can also be awaited directly, with
//! [`TaskStatus::ignored`](crate::TaskStatus::ignored).
//!
//! ## Results in completion order: `ChildSet`
//!
//! [`Nursery::child_set`](crate::Nursery::child_set) makes a
//! [`ChildSet`](crate::ChildSet): children of the nursery whose results
//! come back in the order they finish
//! ([`join_next`](crate::ChildSet::join_next)), like tokio's `JoinSet`,
//! but still owned by the nursery (a failure still fails it). Dropping the
//! set cancels the children still running in it.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let order = arbor::nursery(async |n| {
//!         let mut set = n.child_set();
//!         for secs in [3, 1, 2] {
//!             set.spawn(async move {
//!                 arbor::time::sleep(Duration::from_secs(secs)).await;
//!                 secs
//!             });
//!         }
//!         let mut order = Vec::new();
//!         while let Some(done) = set.join_next().await {
//!             order.push(done.unwrap());
//!         }
//!         order
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(order, [1, 2, 3]);
//! });
//! ```
//!
//! ## Unstructured tasks
//!
//! [`spawn`](crate::spawn) starts a task that belongs to no nursery, joined
//! or aborted through its [`JoinHandle`](crate::JoinHandle). It is the
//! escape hatch; prefer a nursery, which cannot leak a task or lose its
//! error. Spawned futures are `'static` and need not be `Send`.
//!
//! ```
//! use std::time::Duration;
//!
//! // A virtual clock: time moves only when every task is blocked.
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! let (a, b) = rt.block_on(async {
//!     let slow = arbor::spawn(async {
//!         arbor::time::sleep(Duration::from_secs(3600)).await;
//!         "an hour"
//!     });
//!     let fast = arbor::spawn(async {
//!         arbor::time::sleep(Duration::from_secs(1)).await;
//!         "a second"
//!     });
//!     (fast.await.unwrap(), slow.await.unwrap())
//! });
//! assert_eq!((a, b), ("a second", "an hour")); // instantly
//! ```
//!
//! [`arbor::run(fut)`](crate::run) runs a future on a fresh runtime with
//! the real monotonic clock; [`Runtime::builder`](crate::Runtime::builder)
//! builds one with other settings (a virtual clock, a seed, instruments).
