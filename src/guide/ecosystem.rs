//! # The wider ecosystem
//!
//! A future that only uses its [`Waker`](std::task::Waker) runs on any
//! executor, arbor included. A crate that needs a particular runtime's
//! reactor, timer or `spawn` does not. What has been checked, and what has
//! not:
//!
//! | crate | on arbor | how we know |
//! |---|---|---|
//! | `futures-io` traits (`AsyncRead`, `AsyncWrite`) | implemented by arbor's TCP and Unix streams and their halves, process pipes, [`fs::File`](crate::fs::File) | arbor's tests use them |
//! | `futures-core` `Stream` | implemented by channel and broadcast receivers, [`time::Interval`](crate::time::Interval), `TcpListener::incoming`, signals, `fs::read_dir` | arbor's tests use them |
//! | `futures-lite` (`AsyncReadExt`, `StreamExt`, `future::zip`, `or`, `poll_once`, ...) | works | used throughout arbor's tests and this guide |
//! | `async-channel`, `async-lock` | work, including `async-channel` between a worker thread and a task | the doctest below; `tests/smol_family.rs` (`async-channel` between nursery children) |
//! | `futures-util` combinators (`join!`, `select`, `FuturesUnordered`, `buffer_unordered`) | should work: they only use wakers | not tested on arbor |
//! | `blocking` (`unblock`, `Unblock`) | works; other tasks run while a closure is on its pool | `tests/smol_family.rs`; prefer [`to_thread`](crate::to_thread), which has a limiter, cancellation and `from_thread` |
//! | `async-fs` (files and directories on `blocking`'s pool) | works | `tests/smol_family.rs` (write, append, read back, metadata, `read_dir`); [`fs`](crate::fs) is arbor's own |
//! | `async-process` (children, piped stdin and stdout, exit status) | works, with its own reaper and `async-io`'s reactor thread beside arbor's | `tests/smol_family.rs`; [`process`](crate::process) is arbor's own |
//! | `asynchronous-codec` (`Framed`, `LinesCodec` over `futures-io`) | works over arbor's streams | `tests/smol_family.rs` (`Framed` over `UnixStream::pair`) |
//! | `async-io` | should work, with its own reactor thread beside arbor's | not tested directly (`async-process` uses it); prefer [`io::Async`](crate::io::Async) |
//! | `futures-rustls` (rustls, TLS) | works over arbor's `TcpStream` (it asks only for `futures-io`'s traits) | `examples/tls.rs`, run by `tests/tls.rs` on 127.0.0.1 (certificates made by `rcgen`) |
//! | tokio's I/O traits (`tokio::io::AsyncRead`/`AsyncWrite`) and trait-only crates (`tokio-util`'s codecs, `tokio-rustls`) | with the `tokio-io` feature, for the TCP and Unix streams and their halves; no tokio runtime | `runtime/tests/tokio_io.rs` (`tokio-util`'s `Framed` + `LinesCodec`); see [`net::tokio_io`](crate::net) |
//! | tokio-only crates (anything calling `tokio::spawn`, `tokio::net` or `tokio::time` inside: reqwest, tonic, most database drivers) | no: they need a tokio runtime and panic without one | by design |
//! | `hyper` | not yet: hyper 1 is runtime-agnostic through `hyper::rt`, and an arbor adapter (executor, timer, I/O) is planned in issue 16 | — |
//!
//! ## Cancellation and foreign primitives
//!
//! A foreign future inside a cancelled arbor scope is dropped at its next
//! suspension like any other code, so a wait on an `async-lock` mutex or
//! an `async-channel` receive is cancelled promptly. What foreign
//! operations lack is arbor's *checkpoint* (see
//! [`cancellation`](super::cancellation)): one that can complete at once
//! does so even inside a cancelled scope, and does not yield to other
//! tasks. Whether a drop loses anything is up to that crate's own cancel
//! safety (both `async-channel` and `async-lock` document theirs).
//!
//! ```
//! use std::rc::Rc;
//! use futures_lite::{AsyncReadExt, StreamExt};
//!
//! arbor::run(async {
//!     // async-channel between a worker thread and a task.
//!     let (tx, rx) = async_channel::bounded::<u32>(4);
//!     let worker = arbor::to_thread::run_sync(move || {
//!         for i in 0..10 {
//!             tx.send_blocking(i).unwrap();
//!         }
//!     });
//!     let sum = arbor::nursery(async |n| {
//!         n.spawn(worker);
//!         let mut sum = 0;
//!         while let Ok(i) = rx.recv().await {
//!             sum += i;
//!         }
//!         sum
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(sum, 45);
//!
//!     // async-lock's Mutex shared between tasks.
//!     let total = Rc::new(async_lock::Mutex::new(0));
//!     arbor::nursery(async |n| {
//!         for _ in 0..3 {
//!             let total = total.clone();
//!             n.spawn(async move {
//!                 let mut guard = total.lock().await;
//!                 arbor::yield_now().await; // held across a suspension
//!                 *guard += 1;
//!             });
//!         }
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(*total.lock().await, 3);
//!
//!     // futures-lite's extension traits on arbor's streams and sockets.
//!     let (a, mut b) = arbor::net::UnixStream::pair().unwrap();
//!     a.write_all(b"hello").await.unwrap(); // arbor's own, inherent
//!     drop(a);
//!     let mut text = String::new();
//!     b.read_to_string(&mut text).await.unwrap(); // futures-lite's, on `AsyncRead`
//!     assert_eq!(text, "hello");
//!
//!     let (tx, rx) = arbor::primitives::channel::unbounded();
//!     for i in 1..=3 {
//!         tx.try_send(i).unwrap();
//!     }
//!     drop(tx);
//!     let doubled: Vec<i32> = rx.map(|i| i * 2).collect().await;
//!     assert_eq!(doubled, [2, 4, 6]);
//! });
//! ```
//!
//! ## Using a tokio-only crate
//!
//! A crate that only needs tokio's I/O traits (`tokio-util`'s codecs,
//! `tokio-rustls`, anything generic over `tokio::io::AsyncRead`) works on
//! arbor's streams with arbor's `tokio-io` feature, which implements the
//! traits without a tokio runtime. One that calls `tokio::spawn`,
//! `tokio::time` or `tokio::net` does not: those look for the tokio
//! runtime's context in a thread-local, and panic (or fail) when there is
//! none.
//!
//! Run a tokio runtime on a thread of its own and talk to it through a
//! thread-safe channel (`async-channel` above works from both sides), or
//! with [`to_thread::run_sync`](crate::to_thread::run_sync) around a
//! blocking call into it. This is not tested in arbor's suite; the bridge
//! is ordinary cross-thread waking, which is.
