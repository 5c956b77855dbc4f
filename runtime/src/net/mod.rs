//! TCP and UDP sockets driven by the arbor runtime's epoll reactor.
//!
//! Each socket wraps a `std::net` socket in [`crate::io::Async`], which
//! registers it once with the reactor and turns `WouldBlock` into waiting.
//! Errors are the OS's [`std::io::Error`]s; nothing here panics on an I/O
//! failure. The calls `std::net` lacks (non-blocking `connect`, `SO_ERROR`,
//! `send`/`sendmsg` with `MSG_NOSIGNAL` so a closed peer never raises
//! `SIGPIPE`) live with the reactor's other syscalls in `reactor/epoll`.
//!
//! Host names are resolved on a worker thread ([`lookup_host`]); literal
//! addresses never leave the runtime thread.

mod addr;
pub mod split;
mod tcp;
mod udp;

pub use addr::{ToSocketAddrs, lookup_host};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
