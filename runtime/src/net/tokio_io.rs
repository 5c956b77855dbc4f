//! tokio's I/O traits for arbor's byte streams (feature `tokio-io`).
//!
//! [`tokio::io::AsyncRead`] and [`tokio::io::AsyncWrite`] are implemented
//! for [`TcpStream`](super::TcpStream), [`UnixStream`](super::UnixStream),
//! a shared reference to either, and their halves ([`ReadHalf`],
//! [`OwnedReadHalf`], [`WriteHalf`], [`OwnedWriteHalf`]), beside the
//! `futures_io` traits they always have. The `tokio` dependency is built
//! with no features: the traits and [`ReadBuf`] only, no tokio runtime,
//! reactor or timer.
//!
//! - `poll_read` receives straight into the [`ReadBuf`]'s
//!   unfilled part, initialized or not (no zero-filling; the stream's
//!   `poll_read_uninit`).
//! - `poll_write_vectored` is one `sendmsg` (`is_write_vectored` is true).
//! - `poll_flush` waits until the bytes written were handed to the kernel
//!   (at once on epoll; on io_uring, sends complete in batches).
//! - `poll_shutdown` shuts down the write direction (the peer reads end of
//!   stream); the read direction stays open.
//!
//! # What works, and what still needs a tokio runtime
//!
//! Crates that only use the traits work on arbor: `tokio-util`'s codecs
//! (`codec::Framed`, `FramedRead`, `FramedWrite`, `LinesCodec`,
//! `LengthDelimitedCodec`), `tokio::io::AsyncReadExt`/`AsyncWriteExt`,
//! `tokio::io::{copy, split, BufReader, BufWriter}`, and TLS crates
//! generic over the traits such as `tokio-rustls`.
//!
//! Crates that call `tokio::spawn`, `tokio::time` (`sleep`, `timeout`,
//! `interval`) or `tokio::net` inside do not: those look up tokio's
//! runtime context in a thread-local, which only a tokio runtime sets, and
//! panic ("there is no reactor running") or fail without it. That covers
//! most of the tokio ecosystem's clients and servers: `reqwest`, `tonic`,
//! `axum`'s `serve`, `sqlx` and most database drivers, and `hyper-util`'s
//! tokio executor and timer. For those, run a tokio runtime on a thread of
//! its own and talk to it through a thread-safe channel (the guide's
//! ecosystem chapter).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::ReadBuf;

use super::split::{Duplex, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};

/// Read into `buf`'s unfilled part with `read` (a stream's
/// `poll_read_uninit_ref`), with no zero-filling.
pub(crate) fn poll_read_buf(
    buf: &mut ReadBuf<'_>,
    read: impl FnOnce(&mut [MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    // SAFETY: `read` is a stream's `poll_read_uninit_ref`, which only writes
    // bytes into the slice (the kernel's `recv` copies received data in);
    // it never de-initializes memory that was initialized, which is
    // `unfilled_mut`'s requirement.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = ready!(read(unfilled))?;
    // SAFETY: `Ready(Ok(n))` means the first `n` bytes of the unfilled part
    // were written by the read, so they are initialized.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// `tokio::io::{AsyncRead, AsyncWrite}` for a [`Duplex`] stream `$ty` and
/// for `&$ty`.
macro_rules! tokio_io_impls {
    ($ty:ty) => {
        $crate::net::tokio_io::tokio_io_impls!(@one $ty);
        $crate::net::tokio_io::tokio_io_impls!(@one &$ty);
    };
    (@one $ty:ty) => {
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                use $crate::net::split::Duplex as _;
                $crate::net::tokio_io::poll_read_buf(buf, |b| self.poll_read_uninit_ref(cx, b))
            }
        }

        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use $crate::net::split::Duplex as _;
                self.poll_write_ref(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use $crate::net::split::Duplex as _;
                self.poll_write_vectored_ref(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                use $crate::net::split::Duplex as _;
                self.poll_flush_ref(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                use $crate::net::split::Duplex as _;
                std::task::ready!(self.poll_flush_ref(cx))?;
                std::task::Poll::Ready(self.shutdown_ref(std::net::Shutdown::Write))
            }
        }
    };
}

pub(crate) use tokio_io_impls;

macro_rules! read_half {
    ($ty:ident $(<$lt:lifetime>)?, $field:tt) => {
        impl<$($lt,)? S: Duplex> tokio::io::AsyncRead for $ty<$($lt,)? S> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read_buf(buf, |b| self.$field.poll_read_uninit_ref(cx, b))
            }
        }
    };
}

macro_rules! write_half {
    ($ty:ident $(<$lt:lifetime>)?, $field:tt) => {
        impl<$($lt,)? S: Duplex> tokio::io::AsyncWrite for $ty<$($lt,)? S> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.$field.poll_write_ref(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.$field.poll_write_vectored_ref(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.$field.poll_flush_ref(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                std::task::ready!(self.$field.poll_flush_ref(cx))?;
                Poll::Ready(self.$field.shutdown_ref(std::net::Shutdown::Write))
            }
        }
    };
}

read_half!(ReadHalf<'a>, 0);
read_half!(OwnedReadHalf, 0);
write_half!(WriteHalf<'a>, 0);
write_half!(OwnedWriteHalf, stream);
