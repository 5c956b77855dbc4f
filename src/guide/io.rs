//! # I/O: sockets, threads, files, processes, signals
//!
//! Everything here runs on the runtime's one thread, driven by its epoll
//! reactor, except what cannot: blocking calls go to worker threads owned
//! by the runtime. All of it is cancelled like any other code, by the
//! scopes around it.
//!
//! ## Sockets
//!
//! [`arbor::net`](crate::net) has TCP, UDP and Unix stream and datagram
//! sockets. Streams implement the `futures-io` traits (also on
//! `&TcpStream`), and have inherent `read`, `write`, `read_exact` and
//! `write_all` taking `&self`, so one task can read while another writes;
//! `into_split` gives owned halves for two tasks. Host names are resolved
//! on a worker thread, never on the runtime thread.
//!
//! A server is a nursery with a child per connection:
//!
//! ```
//! use arbor::CancelScope;
//! use arbor::net::{TcpListener, TcpStream};
//!
//! async fn echo(conn: TcpStream) -> std::io::Result<()> {
//!     let mut buf = [0u8; 1024];
//!     loop {
//!         let n = conn.read(&mut buf).await?;
//!         if n == 0 {
//!             return Ok(()); // the peer closed
//!         }
//!         conn.write_all(&buf[..n]).await?;
//!     }
//! }
//!
//! async fn serve(listener: TcpListener, conns: arbor::Nursery) -> std::io::Result<()> {
//!     loop {
//!         let (conn, _peer) = listener.accept().await?;
//!         conns.spawn(echo(conn));
//!     }
//! }
//!
//! arbor::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     arbor::nursery(async |n| {
//!         let accepting = CancelScope::new();
//!         let stop = accepting.handle();
//!         n.spawn(async move {
//!             let client = TcpStream::connect(addr).await?;
//!             client.write_all(b"ping").await?;
//!             let mut reply = [0u8; 4];
//!             client.read_exact(&mut reply).await?;
//!             assert_eq!(&reply, b"ping");
//!             stop.cancel(); // stop accepting; open connections finish
//!             Ok::<_, std::io::Error>(())
//!         });
//!         // `Err(Cancelled)` is the stop above, not an error.
//!         accepting.run(serve(listener, n.clone())).await.unwrap_or(Ok(()))
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
//!
//! [`UdpSocket`](crate::net::UdpSocket) and
//! [`UnixDatagram`](crate::net::UnixDatagram) send and receive whole
//! datagrams. [`io::Async`](crate::io::Async) turns any non-blocking file
//! descriptor into readiness futures, for sockets of your own.
//!
//! ## Blocking code: `to_thread` and `from_thread`
//!
//! A blocking call made inline (`std::thread::sleep`, a file read, a
//! heavy computation, a C library) stalls every task on the runtime's
//! thread. [`to_thread::run_sync`](crate::to_thread::run_sync) runs a
//! closure on a worker thread and returns its value (or re-raises its
//! panic). A [`CapacityLimiter`](crate::primitives::CapacityLimiter)
//! bounds how many run at once: 40 by default
//! ([`current_default_thread_limiter`](crate::to_thread::current_default_thread_limiter)),
//! or your own with [`run_sync_with`](crate::to_thread::run_sync_with).
//!
//! A thread cannot be interrupted, so once the closure started the call
//! waits for it shielded: a cancellation takes effect at the next
//! checkpoint after it, and the value is never lost.
//! [`RunSync::abandon_on_cancel`](crate::to_thread::RunSync::abandon_on_cancel)
//! returns at once instead and lets the closure run on unseen.
//!
//! From the worker, [`from_thread`](crate::from_thread) calls back into
//! the runtime, in the task that called `to_thread` (so it may touch
//! `!Send` state), and sees that task's cancellation
//! ([`from_thread::check_cancelled`](crate::from_thread::check_cancelled)):
//!
//! ```
//! use std::time::Duration;
//!
//! arbor::run(async {
//!     let steps = arbor::to_thread::run_sync(|| {
//!         let mut steps = 0;
//!         for _ in 0..3 {
//!             std::thread::sleep(Duration::from_millis(1)); // blocking work
//!             // Give up early if the caller was cancelled meanwhile.
//!             arbor::from_thread::check_cancelled().unwrap();
//!             // Await an arbor future on the runtime thread; this worker
//!             // blocks until it is done.
//!             arbor::from_thread::run(|| arbor::time::sleep(Duration::from_millis(1))).unwrap();
//!             steps += 1;
//!         }
//!         steps
//!     })
//!     .await;
//!     assert_eq!(steps, 3);
//! });
//! ```
//!
//! Other threads reach the runtime through a [`Handle`](crate::Handle)
//! (`Send + Sync`): [`Handle::spawn`](crate::Handle::spawn) runs a task
//! built on the runtime thread, [`Handle::run`](crate::Handle::run) waits
//! for one's result, and
//! [`CancelHandle::remote`](crate::CancelHandle::remote) cancels a scope
//! from anywhere.
//!
//! ## Files
//!
//! [`arbor::fs`](crate::fs) is `tokio::fs` for arbor: `read`, `write`,
//! `read_to_string`, `read_dir` (a `Stream`), `create_dir_all`, `rename`,
//! `metadata`, ... and a [`File`](crate::fs::File) with read-ahead and
//! buffered writes. Each system call runs on the offload pool under the
//! default thread limiter. A `File` owns its operation in flight: a read,
//! write or seek dropped by a cancellation keeps running, and no bytes or
//! position are lost. Flush a `File` before dropping it to see write
//! errors.
//!
//! ```
//! use arbor::fs;
//!
//! arbor::run(async {
//!     let dir = std::env::temp_dir().join(format!("arbor-guide-{}", std::process::id()));
//!     fs::create_dir_all(&dir).await?;
//!     let path = dir.join("greeting.txt");
//!     fs::write(&path, "hello").await?;
//!     assert_eq!(fs::read_to_string(&path).await?, "hello");
//!     fs::remove_dir_all(&dir).await
//! })
//! .unwrap();
//! ```
//!
//! ## Processes
//!
//! [`arbor::process`](crate::process) runs child processes the structured
//! way: a [`Child`](crate::process::Child) dropped before it was waited
//! for (say, by a timeout) is killed and reaped, so nothing outlives its
//! scope. [`process::run`](crate::process::run) is trio's `run_process`:
//! it captures the output and fails on a non-zero exit.
//!
//! ```
//! use std::time::Duration;
//! use arbor::process::Command;
//!
//! arbor::run(async {
//!     let out = arbor::process::run(Command::new("echo").arg("hi")).await.unwrap();
//!     assert_eq!(out.stdout, b"hi\n");
//!     // A timeout kills the child (SIGKILL) and it is reaped.
//!     let mut sleep = Command::new("sleep");
//!     sleep.arg("1000");
//!     let slow = arbor::move_on_after(Duration::from_millis(10), arbor::process::run(&mut sleep));
//!     assert!(slow.await.is_none());
//! });
//! ```
//!
//! ## Signals
//!
//! [`signal::ctrl_c`](crate::signal::ctrl_c) and
//! [`signal::signal`](crate::signal::signal) listen for signals; every
//! listener sees every delivery. A common shape is a child that waits for
//! Ctrl-C and cancels the nursery:
//!
//! ```no_run
//! arbor::run(async {
//!     arbor::nursery(async |n| {
//!         let everything = n.cancel_scope();
//!         n.spawn(async move {
//!             arbor::signal::ctrl_c().await.unwrap();
//!             everything.cancel();
//!         });
//!         // ... the program's work, spawned into `n` ...
//!     })
//!     .await
//! });
//! ```
