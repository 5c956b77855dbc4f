//! [hyper] 1.x on the arbor runtime: what `hyper-util`'s tokio support is
//! for tokio.
//!
//! - [`ArborIo`]: hyper's [`Read`](hyper::rt::Read) and
//!   [`Write`](hyper::rt::Write) for arbor's TCP and Unix streams. Reads go
//!   straight into hyper's uninitialized buffers (no zero-fill), writes are
//!   vectored.
//! - [`ArborExecutor`]: hyper's [`Executor`](hyper::rt::Executor), spawning
//!   into a nursery (HTTP/2 streams; `!Send` futures are fine).
//! - [`ArborTimer`]: hyper's [`Timer`](hyper::rt::Timer) on arbor's timer
//!   wheel, so hyper's own timeouts (`header_read_timeout`, HTTP/2
//!   keep-alive) work, on virtual clocks too.
//! - [`serve`] and [`Server`]: an accept loop whose connections are
//!   children of one nursery, with graceful shutdown (stop accepting, ask
//!   each connection to finish, cut the rest after a grace period).
//!
//! ```no_run
//! use arbor_runtime::net::TcpListener;
//! use hyper::{Request, Response, body::Incoming, service::service_fn};
//! use std::convert::Infallible;
//!
//! arbor_runtime::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:8080".parse().unwrap()).unwrap();
//!     let hello = service_fn(|_: Request<Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello\n")))
//!     });
//!     arbor_hyper::serve(listener, hello).await.unwrap();
//! });
//! ```
//!
//! Features: `http2` (on by default) adds `Protocol::Http2` (prior
//! knowledge) and `Protocol::Auto` (HTTP/2 for clients that open with its
//! preface, HTTP/1.1 otherwise), through hyper's `http2` feature, which
//! brings the `h2` crate.

#![warn(missing_docs)]

mod exec;
mod io;
mod serve;
mod timer;

pub use exec::ArborExecutor;
pub use io::ArborIo;
pub use serve::{Listener, Protocol, ServeStats, Server, serve};
pub use timer::{ArborSleep, ArborTimer};
