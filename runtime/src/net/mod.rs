//! TCP and UDP sockets driven by the arbor runtime's epoll reactor.
//!
//! Each socket wraps a `std::net` socket in [`crate::io::Async`],
//! which registers it once with the reactor and turns `WouldBlock` into
//! waiting. Errors are the OS's [`std::io::Error`]s; nothing here panics on
//! an I/O failure. The only calls into `libc` live in the reactor's `epoll.rs` (non-blocking `connect`, `SO_ERROR`, and `send`/`sendmsg` with
//! `MSG_NOSIGNAL` so a closed peer never raises `SIGPIPE`).

mod tcp;
mod udp;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
