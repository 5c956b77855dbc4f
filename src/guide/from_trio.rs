//! # Coming from trio or AnyIO
//!
//! arbor keeps trio's semantics (see [`cancellation`](super::cancellation))
//! and changes the mechanism: a cancelled scope *drops* its code at a
//! suspension instead of raising `Cancelled` into it. So there is no
//! `except Cancelled` and no `finally` that awaits: synchronous cleanup
//! goes in a destructor, async cleanup in a shield (see
//! [`shields`](super::shields)). A nursery is a function taking an async
//! closure rather than an `async with` block, and errors are values
//! (`Result`), collected into an [`ErrorGroup`](crate::ErrorGroup) where
//! trio raises an `ExceptionGroup`.
//!
//! | trio / AnyIO | arbor |
//! |---|---|
//! | `trio.run(main)`, `anyio.run` | [`arbor::run`](crate::run), [`#[arbor::main]`](crate::main) |
//! | `async with trio.open_nursery() as n`, `anyio.create_task_group()` | [`nursery(async \|n\| { .. })`](crate::nursery) |
//! | `n.start_soon(f)` | [`Nursery::spawn`](crate::Nursery::spawn) (returns a [`ChildHandle`](crate::ChildHandle) with the child's value) |
//! | `await n.start(f)`, `task_status.started(v)`, `TASK_STATUS_IGNORED` | [`Nursery::start`](crate::Nursery::start), [`TaskStatus::started`](crate::TaskStatus::started), [`TaskStatus::ignored`](crate::TaskStatus::ignored) |
//! | `n.cancel_scope.cancel()` | [`Nursery::cancel_scope`](crate::Nursery::cancel_scope)`().cancel()` |
//! | `ExceptionGroup` | [`NurseryError::Failed`](crate::NurseryError)`(`[`ErrorGroup`](crate::ErrorGroup)`)` |
//! | `trio.CancelScope()`, `.cancel()`, `.deadline`, `.shield` | [`CancelScope`](crate::CancelScope), [`CancelHandle`](crate::CancelHandle) (`cancel`, `set_deadline`, `set_shield`) |
//! | `cancel_scope.cancel_called`, `.cancelled_caught` | [`cancel_called`](crate::CancelScope::cancel_called), [`cancelled_caught`](crate::CancelScope::cancelled_caught) |
//! | `trio.move_on_after`, `move_on_at` | [`move_on_after`](crate::move_on_after), [`move_on_at`](crate::move_on_at) (`Option<T>`) |
//! | `trio.fail_after`, `fail_at`, `TooSlowError` | [`fail_after`](crate::fail_after), [`fail_at`](crate::fail_at), [`Elapsed`](crate::Elapsed) |
//! | `CancelScope(shield=True)`, `anyio.CancelScope(shield=True)` | [`shield(fut)`](crate::shield), [`CancelScope::shielded(true)`](crate::CancelScope::shielded) |
//! | `trio.current_effective_deadline()` | [`current_effective_deadline`](crate::current_effective_deadline) |
//! | `trio.lowlevel.checkpoint()` | [`checkpoint`](crate::checkpoint) |
//! | `await trio.sleep_forever()` to wait for the scope's cancellation | [`cancelled`](crate::cancelled) (resolves once the scope around is cancelled; the code after it runs to its next suspension) |
//! | `trio.sleep`, `trio.current_time` | [`time::sleep`](crate::time::sleep), [`time::now`](crate::time::now) |
//! | `trio.to_thread.run_sync(f)`, `abandon_on_cancel=True` | [`to_thread::run_sync`](crate::to_thread::run_sync), [`RunSync::abandon_on_cancel`](crate::to_thread::RunSync::abandon_on_cancel) |
//! | `trio.from_thread.run`, `run_sync`, `check_cancelled` | [`from_thread::run`](crate::from_thread::run), [`run_sync`](crate::from_thread::run_sync), [`check_cancelled`](crate::from_thread::check_cancelled) |
//! | `trio.lowlevel.current_trio_token().run_sync_soon` | [`Handle::call_soon`](crate::Handle::call_soon), [`Handle::spawn`](crate::Handle::spawn) |
//! | `trio.open_memory_channel(n)`, `MemorySendChannel`, `MemoryReceiveChannel` | [`channel::bounded(n)`](crate::primitives::channel::bounded), [`Sender`](crate::primitives::channel::Sender), [`Receiver`](crate::primitives::channel::Receiver) |
//! | `anyio.create_memory_object_stream` | the same channels (closing semantics are AnyIO's) |
//! | `trio.Event` | [`primitives::Event`](crate::primitives::Event) |
//! | `trio.Lock`, `Semaphore`, `Condition`, `CapacityLimiter` | [`Lock`](crate::primitives::Lock), [`Semaphore`](crate::primitives::Semaphore), [`Condition`](crate::primitives::Condition), [`CapacityLimiter`](crate::primitives::CapacityLimiter) |
//! | AnyIO's `fast_acquire=True` | `with_fast_acquire(true)` |
//! | `trio.testing.MockClock(autojump_threshold=0)` | [`Builder::virtual_clock`](crate::Builder::virtual_clock), `#[arbor::test(virtual_clock)]` |
//! | `MockClock(autojump_threshold=t)`, `MockClock(rate=r)`, `.jump(d)` | [`Builder::autojump`](crate::Builder::autojump), [`Builder::virtual_clock_rate`](crate::Builder::virtual_clock_rate), [`time::advance`](crate::time::advance) |
//! | `trio.testing.wait_all_tasks_blocked` | [`testing::wait_all_tasks_blocked`](crate::testing::wait_all_tasks_blocked) |
//! | `trio.abc.Instrument` | [`instrument::Instrument`](crate::instrument::Instrument) |
//! | `contextvars` (copied into each new task) | [`task_local!`](crate::task_local) (inherited the same way) |
//! | `trio.lowlevel.current_task()` | [`current_task`](crate::current_task) |
//! | `trio.run_process`, `open_process` | [`process::run`](crate::process::run), [`process::Command::spawn`](crate::process::Command::spawn) |
//! | `trio.open_signal_receiver` | [`signal::signal`](crate::signal::signal), [`signal::ctrl_c`](crate::signal::ctrl_c) |
//! | `trio.open_tcp_listeners`, `open_tcp_stream` | [`net::TcpListener::bind`](crate::net::TcpListener::bind), [`net::TcpStream::connect`](crate::net::TcpStream::connect) |
//! | `anyio.open_file`, `anyio.Path` | [`fs::File`](crate::fs::File), the functions of [`arbor::fs`](crate::fs) |
//!
//! ## `start` and `TASK_STATUS_IGNORED`
//!
//! ```
//! use arbor::TaskStatus;
//!
//! async fn listen(status: TaskStatus<u16>) -> u16 {
//!     let port = 8080; // bind here, then report
//!     status.started(port).unwrap();
//!     port
//! }
//!
//! arbor::run(async {
//!     // In a nursery, as `await nursery.start(listen)`:
//!     let port = arbor::nursery(async |n| n.start(listen).await.unwrap())
//!         .await
//!         .unwrap();
//!     assert_eq!(port, 8080);
//!     // Directly, as `await listen()` with the default status:
//!     assert_eq!(listen(TaskStatus::ignored()).await, 8080);
//! });
//! ```
//!
//! ## Context variables are inherited
//!
//! ```
//! arbor::task_local! {
//!     static REQUEST_ID: u64;
//! }
//!
//! arbor::run(REQUEST_ID.scope(7, async {
//!     // A child starts with a snapshot of its spawner's values, as a trio
//!     // task starts with a copy of its spawner's context.
//!     let child = arbor::nursery(async |n| n.spawn(async { REQUEST_ID.get() }).await.unwrap());
//!     assert_eq!(child.await.unwrap(), 7);
//!     // `scope` sets a value around a future; the outer one is back after.
//!     assert!(REQUEST_ID.scope(8, async { REQUEST_ID.get() == 8 }).await);
//!     assert_eq!(REQUEST_ID.get(), 7);
//! }));
//! ```
//!
//! [`task_local!`](crate::task_local) declares a value a task can read
//! anywhere in its code (a request id, a tracing context), and
//! `KEY.scope(value, fut)` sets it around `fut`. A task spawned there
//! ([`spawn`](crate::spawn), a nursery's `spawn` or `start`, a
//! [`ChildSet`](crate::ChildSet)) starts with a snapshot of the values
//! visible at the spawn (tokio's task-locals are not inherited). Values
//! never change in place, so a child's `scope` calls do not reach its
//! parent, nor the parent's later ones the child. Tasks started from
//! another thread ([`Handle::spawn`](crate::Handle::spawn)) start with
//! none, and a `to_thread` closure sees none on its worker thread (the
//! values are not `Send`); its `from_thread` calls run on the runtime
//! thread and see the calling task's.
