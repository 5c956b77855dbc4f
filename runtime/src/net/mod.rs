//! TCP, UDP and Unix domain sockets driven by the arbor runtime's epoll
//! reactor.
//!
//! Each socket wraps a `std::net` or `std::os::unix::net` socket in
//! [`crate::io::Async`], which registers it once with the reactor and turns
//! `WouldBlock` into waiting. Errors are the OS's [`std::io::Error`]s;
//! nothing here panics on an I/O failure. The only calls into `libc` live in
//! the reactor's `epoll` module (`epoll/socket.rs`: non-blocking TCP
//! `connect`, `SO_ERROR`, the listen backlog, and `send`/`sendmsg` with
//! `MSG_NOSIGNAL` so a closed peer never raises `SIGPIPE`; `epoll/unix.rs`:
//! a non-blocking `AF_UNIX` socket and `connect` to a path).
//!
//! Streams implement [`futures_io::AsyncRead`] and
//! [`futures_io::AsyncWrite`] for both the owned type and a shared
//! reference, so a reader and a writer task can share one stream. With the
//! `tokio-io` feature they implement tokio's `AsyncRead`/`AsyncWrite` too
//! (see `tokio_io`, traits only, no tokio runtime).
//!
//! Host names are resolved on a worker thread ([`lookup_host`]); literal
//! addresses never leave the runtime thread.

mod addr;
pub mod split;
mod tcp;
#[cfg(feature = "tokio-io")]
pub mod tokio_io;
mod udp;
mod unix;
mod unix_datagram;

pub use addr::{ToSocketAddrs, lookup_host};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
pub use unix_datagram::UnixDatagram;

/// Level-triggered cancellation for operations that start with a syscall
/// (connect): inside a cancelled scope they make no attempt at all, and
/// wait to be dropped by the scope, as `io::Async` operations do.
async fn no_attempt_if_cancelled() {
    std::future::poll_fn(|_| {
        if crate::scope::current_is_cancelled() {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await
}

/// `AsRawFd` for every socket type, from its `AsFd` (for APIs that still
/// take raw fds, e.g. `setsockopt` through `libc`).
macro_rules! as_raw_fd {
    ($($ty:ty),*) => {$(
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsFd::as_fd(self).as_raw_fd()
            }
        }
    )*};
}

as_raw_fd!(
    TcpListener,
    TcpStream,
    UdpSocket,
    UnixListener,
    UnixStream,
    UnixDatagram
);
