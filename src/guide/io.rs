//! # I/O: sockets, threads, cores, files, processes, signals
//!
//! Everything here runs on the runtime's one thread, driven by its
//! reactor (io_uring or epoll: see [below](#two-backends-one-api)), except
//! what cannot: blocking calls go to worker threads owned
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
//! A client, owned halves for two tasks, and a Unix socket pair:
//!
//! ```
//! use arbor::net::{TcpListener, TcpStream, UnixStream};
//!
//! arbor::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
//!     let port = listener.local_addr().unwrap().port();
//!     // Literal addresses connect at once; names ("localhost") are
//!     // resolved on a worker thread, never on the runtime thread.
//!     let client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
//!     let (server, _) = listener.accept().await.unwrap();
//!     let (mut rd, mut wr) = server.into_split();
//!     let echo = arbor::spawn(async move {
//!         let mut buf = [0u8; 4];
//!         rd.read_exact(&mut buf).await.unwrap();
//!         wr.write_all(&buf).await.unwrap();
//!     });
//!     client.write_all(b"ping").await.unwrap();
//!     let mut buf = [0u8; 4];
//!     client.read_exact(&mut buf).await.unwrap();
//!     assert_eq!(&buf, b"ping");
//!     echo.await.unwrap();
//!
//!     let (a, b) = UnixStream::pair().unwrap();
//!     a.write_all(b"unix").await.unwrap();
//!     b.read_exact(&mut buf).await.unwrap();
//!     assert_eq!(&buf, b"unix");
//! });
//! ```
//!
//! `examples/echo.rs` is a complete server: every connection a child of a
//! nursery, and Ctrl-C cancels the accept loop's scope while open
//! connections finish inside a shielded grace period
//! (`cargo run --release --example echo` runs its self-test;
//! `-- server ADDR` and `-- load ADDR` run the two halves;
//! `tests/echo_example.rs` tests it end to end).
//!
//! ## Two backends, one API
//!
//! A runtime's reactor runs on io_uring where the kernel allows it
//! (5.11+, and not turned off by a seccomp filter or
//! `kernel.io_uring_disabled`) and on epoll otherwise.
//! [`Builder::io_backend`](crate::Builder::io_backend) forces either, and
//! so does the environment variable `ARBOR_IO_BACKEND` (`epoll`,
//! `io_uring`) for runtimes left on `Auto`;
//! [`Runtime::io_backend`](crate::Runtime::io_backend) says which one a
//! runtime got. Every type in this chapter works the same on both. What
//! changes on io_uring is who does the copying for byte streams:
//!
//! - A stream's reads come from a receive the kernel keeps armed, into
//!   buffers the runtime owns; a `read` copies out of them without a
//!   syscall. A dropped read still loses nothing.
//! - A `write` copies its bytes into the stream's send buffer and returns;
//!   the bytes go out with the tick's other writes, one `io_uring_enter`
//!   for all of them. [`TcpStream::flush`](crate::net::TcpStream::flush)
//!   (and `poll_flush` of the `futures-io` and tokio traits) waits until
//!   they were handed to the kernel, and a send's error (`EPIPE`,
//!   `ECONNRESET`) is reported by the next write or flush instead of the
//!   write that queued the bytes, or, without waiting, by
//!   [`TcpStream::write_error`](crate::net::TcpStream::write_error)
//!   (what `arbor_hyper::ArborIo`'s flush checks: hyper flushes after
//!   every response, and waiting there would cost each response a second
//!   wake). A write shutdown waits for the bytes; a
//!   stream dropped with bytes unsent sends them anyway; a runtime
//!   dropped with bytes unsent gives them up to half a second.
//!
//! Readiness-based calls (`readable`, `writable`,
//! [`io::Async`](crate::io::Async)) and the other sockets (UDP, Unix
//! datagrams, listeners) use a poll armed on the ring, with the same
//! edge-triggered contract as epoll.
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
//! ```
//! let rt = arbor::Runtime::new().unwrap();
//! let n = rt.block_on(arbor::to_thread::run_sync(|| {
//!     // Blocking is fine here: this is a worker thread.
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//!     6 * 7
//! }));
//! assert_eq!(n, 42);
//! ```
//!
//! In more detail, as in trio and AnyIO:
//!
//! - The default limiter's total can be changed
//!   (`to_thread::current_default_thread_limiter().set_total_tokens(n)`).
//!   Taking the token is a checkpoint, so a call whose scope is already
//!   cancelled never starts.
//! - With `RunSync::new().abandon_on_cancel(true).run(f)`, a cancellation
//!   drops the call at once; the closure runs on unseen, and its limiter
//!   token is returned only when it ends.
//! - Worker threads belong to the runtime: they are reused, limited by
//!   [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)
//!   (default 512), and exit after
//!   [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive)
//!   (default 10 s) without work.
//!
//! From the worker, [`from_thread`](crate::from_thread) calls back into
//! the runtime, in the task that called `to_thread` (so it may touch
//! `!Send` state), and sees that task's cancellation
//! ([`from_thread::check_cancelled`](crate::from_thread::check_cancelled)).
//! [`from_thread::run_sync(f)`](crate::from_thread::run_sync) runs a
//! closure on the runtime thread and
//! [`from_thread::run(|| fut)`](crate::from_thread::run) awaits an arbor
//! future there, while the worker blocks for the result. Both run in the
//! context around the `to_thread` call (its deadline, its scope, its cancel
//! status; not those of the call's shielded wait): once that scope is
//! cancelled, `check_cancelled()` reports it, later calls return
//! `Err(Cancelled)`, and a pending `run` future is dropped at its next
//! suspension (a shield inside it finishes first) and returns
//! `Err(Cancelled)` (as after an abandoned call, so a worker never hangs).
//! From the runtime thread, or a thread arbor did not start, they return
//! `Err(NotInWorker)`.
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
//! ## Handles from other threads
//!
//! [`Runtime::handle()`](crate::Runtime::handle) gives a
//! [`Handle`](crate::Handle) (`Send + Sync + Clone`) that other threads
//! use to reach the runtime.
//! [`handle.spawn(|| async { ... })`](crate::Handle::spawn) sends the closure to the runtime thread,
//! where it builds a future that need not be `Send`; it runs as an
//! unstructured task in the root scope (as tokio's `Handle::spawn` and
//! trio's `run_sync_soon`), and the returned
//! [`RemoteJoinHandle`](crate::RemoteJoinHandle) can be `.join()`ed
//! (blocking), awaited (on arbor, a checkpoint like a `JoinHandle`; or from
//! another runtime), or `abort()`ed from any thread
//! ([`RemoteJoinError::Cancelled`](crate::RemoteJoinError)).
//! [`handle.run(|| async { ... })`](crate::Handle::run) blocks the foreign thread until the
//! result comes back; on the runtime's own thread it returns
//! [`RunError::OnRuntimeThread`](crate::RunError) instead of deadlocking.
//! [`cancel_handle.remote()`](crate::CancelHandle::remote) gives a
//! [`RemoteCancelHandle`](crate::RemoteCancelHandle) whose `cancel()` works
//! from any thread and means what a local cancel means when it lands. Once
//! the runtime is dropped, every call returns
//! [`RuntimeGone`](crate::RuntimeGone) (handing the closure back), and work
//! queued but never run is dropped exactly once.
//!
//! ```
//! let rt = arbor::Runtime::new().unwrap();
//! let handle = rt.handle();
//! let other = std::thread::spawn(move || handle.run(|| async { 6 * 7 }).unwrap());
//! // The work runs once the runtime thread runs: here, while a worker
//! // waits for the other thread.
//! let got = rt.block_on(arbor::to_thread::run_sync(move || other.join().unwrap()));
//! assert_eq!(got, 42);
//! ```
//!
//! ## One runtime per core
//!
//! A runtime is one thread. To use more cores, run one runtime per core:
//! [`PerCore::new(n)`](crate::per_core::PerCore) starts `n` threads,
//! pinned to CPUs `0..n` by default, each building its own runtime and
//! calling the same `Send + Sync` closure there with its
//! [`CoreInfo`](crate::per_core::CoreInfo); the future it returns need not
//! be `Send`, and runs in the core's root cancel scope. The
//! [`CoreGroup`](crate::per_core::CoreGroup) behaves like a nursery across
//! threads: `shutdown()` cancels every core (each drops its code at its
//! next suspension, with the usual shields and grace periods), the first
//! core to fail (a panic, or an `Err` output: a core's output is an
//! [`Outcome`](crate::Outcome), as a nursery child's) cancels the others,
//! and `join()` waits for every thread and returns each core's value
//! (its `Err` included), cancellation or panic. Nothing is shared
//! between cores unless you share it (`Arc`, channels, a
//! [`Handle`](crate::Handle)). For servers,
//! [`TcpListener::bind_reuseport`](crate::net::TcpListener::bind_reuseport)
//! lets every core listen on the same port, and the kernel spreads the
//! connections; `cargo run --release --example echo -- server
//! 127.0.0.1:7000 --cores 2` does this.
//!
//! ```
//! use std::io::Read;
//! use std::sync::{Arc, Mutex, mpsc};
//! use arbor::net::TcpListener;
//! use arbor::per_core::PerCore;
//!
//! // Core 0 binds a free port and tells core 1 and us which.
//! let (tx, rx) = mpsc::channel();
//! let (tx, rx) = (Mutex::new(tx), Arc::new(Mutex::new(rx)));
//! let ports = rx.clone();
//! let group = PerCore::new(2)
//!     .pin(false) // pinned by default; off here, to run on any machine
//!     .spawn(move |core| {
//!         let port = match core.index {
//!             0 => 0,
//!             _ => ports.lock().unwrap().recv().unwrap(),
//!         };
//!         let listener = TcpListener::bind_reuseport(([127, 0, 0, 1], port).into()).unwrap();
//!         if core.index == 0 {
//!             let port = listener.local_addr().unwrap().port();
//!             (0..2).for_each(|_| tx.lock().unwrap().send(port).unwrap());
//!         }
//!         // Never returns (type `!`): `forever` makes its output `()`.
//!         arbor::forever(async move {
//!             loop {
//!                 // Each connection gets the index of the core that took it.
//!                 let (conn, _) = listener.accept().await.unwrap();
//!                 conn.write_all(&[core.index as u8]).await.unwrap();
//!             }
//!         })
//!     })
//!     .unwrap();
//! let port = rx.lock().unwrap().recv().unwrap();
//! for _ in 0..8 {
//!     let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
//!     let mut core = [0u8];
//!     conn.read_exact(&mut core).unwrap();
//!     assert!(core[0] < 2); // which one: the kernel's hash of the ports
//! }
//! group.shutdown();
//! assert!(group.join().iter().all(|core| core.as_ref().unwrap_err().is_cancelled()));
//! ```
//!
//! ## Files
//!
//! [`arbor::fs`](crate::fs) is `tokio::fs` for arbor: `read`, `write`,
//! `read_to_string`, `read_dir` (a `Stream`), `create_dir_all`, `rename`,
//! `metadata`, ... and a [`File`](crate::fs::File) with read-ahead and
//! buffered writes. Each system call runs on the offload pool under the
//! default thread limiter (files share its 40 tokens with `to_thread`, as
//! in trio), one hop per call: `fs::read` is one `std::fs::read` on a
//! worker. Entry is a checkpoint (a call in a cancelled scope starts no
//! system call), and the free functions wait shielded, as
//! `to_thread::run_sync` does.
//!
//! A `File` reads ahead (64 KiB growing to 2 MiB per hop) and buffers
//! writes (2 MiB per hop), with exact positions. It owns its operation in
//! flight, not the future: a read, write or seek dropped by a cancelled
//! scope keeps running, the bytes it read go to the next read, the bytes
//! a write accepted are written, and the position is never lost. Flush a
//! `File` before dropping it to see write errors (its buffered bytes are
//! written in the background otherwise). To read a whole file, call the
//! inherent [`File::read_to_end`](crate::fs::File::read_to_end), which
//! reads the rest in one hop into a `Vec` sized from the file's length;
//! a generic `AsyncRead` helper (futures-lite's `read_to_end`) zero-fills
//! the buffer as it grows and is much slower.
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
//! ```
//! use arbor::fs::{self, File};
//!
//! arbor::run(async {
//!     let path = std::env::temp_dir().join(format!("arbor-guide-lines-{}", std::process::id()));
//!     let mut file = File::create(&path).await?;
//!     for i in 0..10_000 {
//!         file.write_all(format!("{i}\n").as_bytes()).await?; // copied into a buffer
//!     }
//!     file.flush().await?; // one hop writes them all
//!     let text = fs::read_to_string(&path).await?; // one hop
//!     assert_eq!(text.lines().count(), 10_000);
//!     fs::remove_file(&path).await
//! })
//! .unwrap();
//! ```
//!
//! ## Processes
//!
//! [`arbor::process`](crate::process) runs child processes the structured
//! way. [`Command`](crate::process::Command) is std's builder (std does
//! the `fork`/`exec`); the child's exit is watched through a pidfd on the
//! reactor (Linux 5.3+), and its piped stdio are `futures-io` streams. A
//! [`Child`](crate::process::Child) dropped before it was waited for
//! (say, by a timeout) is **killed**, because `kill_on_drop` defaults to
//! `true` (unlike std and tokio), and **reaped** in the background either
//! way, so nothing outlives its scope and no zombie is left;
//! `kill_on_drop(false)` lets a process run on detached.
//! [`process::run`](crate::process::run) is trio's `run_process`: it
//! captures the output and fails on a non-zero exit.
//!
//! ```
//! use std::time::Duration;
//! use arbor::process::{Command, ProcessError};
//!
//! arbor::run(async {
//!     let out = arbor::process::run(Command::new("echo").arg("hi")).await.unwrap();
//!     assert_eq!(out.stdout, b"hi\n");
//!     let err = arbor::process::run(&mut Command::new("false")).await.unwrap_err();
//!     assert!(matches!(err, ProcessError::Failed { .. }));
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
//! listener sees every delivery. A listener is registered when it is
//! created, not when first awaited: from then on a Ctrl-C is seen (and no
//! longer kills the process). A common shape is a child that waits for
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
