//! Read and write halves of a byte stream, borrowed or owned.
//!
//! arbor is single-threaded and a stream's I/O methods take `&self`, so a
//! half is just a reference to the stream (borrowed halves) or a shared `Rc`
//! of it (owned halves): no lock, no allocation for the borrowed form. Two
//! halves can be used from two tasks at once (one reading, one writing);
//! two tasks reading the *same* direction at once is not supported (the
//! reactor keeps one waiter per direction, and the last one polled wins).

use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A byte stream that can be split: the operations its halves need, all
/// through `&self`. Implemented by [`TcpStream`](super::TcpStream) and
/// [`UnixStream`](super::UnixStream); sealed.
pub trait Duplex: sealed::Sealed {
    /// Poll a read into `buf` (`Ok(0)` at end of stream).
    #[doc(hidden)]
    fn poll_read_ref(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Poll a read into memory that need not be initialized (the stream's
    /// `poll_read_uninit`).
    #[doc(hidden)]
    fn poll_read_uninit_ref(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>;
    /// Poll a write of `buf`.
    #[doc(hidden)]
    fn poll_write_ref(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Poll a vectored write.
    #[doc(hidden)]
    fn poll_write_vectored_ref(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// Poll until every byte written was handed to the kernel.
    #[doc(hidden)]
    fn poll_flush_ref(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Shut down the write direction.
    #[doc(hidden)]
    fn shutdown_ref(&self, how: Shutdown) -> io::Result<()>;
    /// The stream's own `read`, whose waker is taken back if it is dropped.
    #[doc(hidden)]
    fn read_ref<'a>(&'a self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a;
    /// The stream's own `write`, whose waker is taken back if it is dropped.
    #[doc(hidden)]
    fn write_ref<'a>(&'a self, buf: &'a [u8]) -> impl Future<Output = io::Result<usize>> + 'a;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// The read half of a stream borrowed by `split`.
pub struct ReadHalf<'a, S: Duplex>(pub(crate) &'a S);

/// The write half of a stream borrowed by `split`.
pub struct WriteHalf<'a, S: Duplex>(pub(crate) &'a S);

/// The read half of a stream taken by `into_split`.
pub struct OwnedReadHalf<S: Duplex>(pub(crate) Rc<S>);

/// The write half of a stream taken by `into_split`. Dropping it shuts
/// down the write direction (the peer reads end of stream), unless it was
/// given back through [`OwnedReadHalf::reunite`].
pub struct OwnedWriteHalf<S: Duplex> {
    pub(crate) stream: Rc<S>,
    pub(crate) shutdown_on_drop: bool,
}

pub(crate) fn into_split<S: Duplex>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let stream = Rc::new(stream);
    let write = OwnedWriteHalf {
        stream: stream.clone(),
        shutdown_on_drop: true,
    };
    (OwnedReadHalf(stream), write)
}

/// [`OwnedReadHalf::reunite`] was given halves of two different streams;
/// both are handed back.
pub struct ReuniteError<S: Duplex>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S: Duplex> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S: Duplex> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of two different streams")
    }
}

impl<S: Duplex> std::error::Error for ReuniteError<S> {}

impl<S: Duplex> OwnedReadHalf<S> {
    /// Put the stream back together from its two halves.
    ///
    /// # Errors
    /// [`ReuniteError`] (holding both halves) if they come from different
    /// streams.
    pub fn reunite(self, mut write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Rc::ptr_eq(&self.0, &write.stream) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        Ok(Rc::into_inner(self.0).expect("the two halves held the only references"))
    }
}

macro_rules! read_half {
    ($ty:ident $(<$lt:lifetime>)?, $field:tt) => {
        impl<$($lt,)? S: Duplex> $ty<$($lt,)? S> {
            /// Read some bytes into `buf`; `Ok(0)` is end of stream.
            ///
            /// # Errors
            /// The OS's read error.
            ///
            /// # Cancel safety
            /// Dropping the future consumes no bytes.
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.$field.read_ref(buf).await
            }

            /// Read exactly `buf.len()` bytes.
            ///
            /// # Errors
            /// `UnexpectedEof` if the stream ends first, or the OS's error.
            ///
            /// # Cancel safety
            /// Not cancel safe: a dropped call may have consumed a prefix.
            pub async fn read_exact(&mut self, mut buf: &mut [u8]) -> io::Result<()> {
                while !buf.is_empty() {
                    match self.read(buf).await? {
                        0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                        n => buf = &mut buf[n..],
                    }
                }
                Ok(())
            }

            /// The whole stream, for its addresses and options.
            pub fn stream(&self) -> &S {
                &self.$field
            }
        }

        impl<$($lt,)? S: Duplex> futures_io::AsyncRead for $ty<$($lt,)? S> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.$field.poll_read_ref(cx, buf)
            }
        }

        impl<$($lt,)? S: Duplex + fmt::Debug> fmt::Debug for $ty<$($lt,)? S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.$field).finish()
            }
        }
    };
}

macro_rules! write_half {
    ($ty:ident $(<$lt:lifetime>)?, $($field:tt)+) => {
        impl<$($lt,)? S: Duplex> $ty<$($lt,)? S> {
            /// Write some bytes of `buf`, returning how many were written.
            ///
            /// # Errors
            /// The OS's send error (e.g. `EPIPE`, `ECONNRESET`).
            ///
            /// # Cancel safety
            /// Dropping the future writes nothing more.
            pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.$($field)+.write_ref(buf).await
            }

            /// Write all of `buf`.
            ///
            /// # Errors
            /// `WriteZero` if the socket accepts no bytes, or the OS's error.
            ///
            /// # Cancel safety
            /// Not cancel safe: a dropped call may have written a prefix.
            pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
                while !buf.is_empty() {
                    match self.write(buf).await? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => buf = &buf[n..],
                    }
                }
                Ok(())
            }

            /// The whole stream, for its addresses and options.
            pub fn stream(&self) -> &S {
                &self.$($field)+
            }
        }

        impl<$($lt,)? S: Duplex> futures_io::AsyncWrite for $ty<$($lt,)? S> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.$($field)+.poll_write_ref(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.$($field)+.poll_write_vectored_ref(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.$($field)+.poll_flush_ref(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                std::task::ready!(self.$($field)+.poll_flush_ref(cx))?;
                Poll::Ready(self.$($field)+.shutdown_ref(Shutdown::Write))
            }
        }

        impl<$($lt,)? S: Duplex + fmt::Debug> fmt::Debug for $ty<$($lt,)? S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.$($field)+).finish()
            }
        }
    };
}

read_half!(ReadHalf<'a>, 0);
read_half!(OwnedReadHalf, 0);
write_half!(WriteHalf<'a>, 0);
write_half!(OwnedWriteHalf, stream);

impl<S: Duplex> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // The peer may already be gone (ENOTCONN); nothing to report.
            let _ = self.stream.shutdown_ref(Shutdown::Write);
        }
    }
}

/// `futures_io::{AsyncRead, AsyncWrite}` for a [`Duplex`] stream `$ty` and
/// for `&$ty` (its I/O needs only a shared reference, as smol's `&Async<T>`).
macro_rules! futures_io_impls {
    ($ty:ty) => {
        $crate::net::split::futures_io_impls!(@one $ty);
        $crate::net::split::futures_io_impls!(@one &$ty);
    };
    (@one $ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_read_ref(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_ref(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_vectored_ref(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_flush_ref(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                std::task::ready!(self.poll_flush_ref(cx))?;
                Poll::Ready(self.shutdown(Shutdown::Write))
            }
        }
    };
}

pub(crate) use futures_io_impls;

/// The byte-stream surface shared by [`TcpStream`](super::TcpStream) and
/// [`UnixStream`](super::UnixStream), for a type whose `inner` is an
/// `Async` of a std stream: inherent `read`/`write`/`read_exact`/
/// `write_all`, [`Duplex`], and the `futures_io` traits on `T` and `&T`.
macro_rules! byte_stream {
    ($ty:ident) => {
        impl $ty {
            /// Read some bytes into `buf`; `Ok(0)` is end of stream (or an
            /// empty `buf`).
            ///
            /// # Errors
            /// The OS's `read` error (e.g. `ECONNRESET`).
            ///
            /// # Cancel safety
            /// Dropping the future consumes no bytes.
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner
                    .read_stream(buf, |s, buf| std::io::Read::read(&mut &*s, buf))
                    .await
            }

            /// Write some bytes of `buf`, returning how many were written.
            ///
            /// On the epoll backend the bytes are in the kernel when this
            /// returns; on io_uring they are copied into the stream's send
            /// buffer and sent with the tick's other writes (see
            /// [`flush`](Self::flush)).
            ///
            /// # Errors
            /// The `send` error (e.g. `EPIPE` or `ECONNRESET` once the peer
            /// has closed); on io_uring, the error of an earlier write's
            /// send.
            ///
            /// # Cancel safety
            /// Dropping the future writes nothing more: either the whole
            /// `send` ran (and its count was returned) or none did.
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner
                    .write_stream(&[std::io::IoSlice::new(buf)], |s| {
                        $crate::reactor::epoll::send(std::os::fd::AsFd::as_fd(s), buf)
                    })
                    .await
            }

            /// Wait until every byte written was handed to the kernel. On
            /// the epoll backend a write hands its bytes over before it
            /// returns, so this returns at once; on io_uring, writes are
            /// copied and sent in batches, one `io_uring_enter` per
            /// scheduler tick, and this waits for their completions. In a
            /// cancelled scope it makes no progress on either backend, as
            /// no stream operation does.
            ///
            /// # Errors
            /// The error of a send that failed (`EPIPE`, `ECONNRESET`).
            ///
            /// # Cancel safety
            /// Dropping the future loses nothing: the bytes are sent anyway.
            pub async fn flush(&self) -> std::io::Result<()> {
                self.inner.flush_stream().await
            }

            /// The error of a send that already failed, without waiting:
            /// `None` while the bytes written are still on their way or
            /// were all handed to the kernel, and always on epoll (where
            /// [`write`](Self::write) reports its own error). On io_uring
            /// a write returns once its bytes are copied, and they are
            /// sent even if the stream is dropped: poll-based adapters
            /// whose flush only has to commit the bytes (as
            /// `arbor_hyper::ArborIo` does) check this instead of waiting
            /// for [`flush`](Self::flush).
            pub fn write_error(&self) -> Option<std::io::Error> {
                self.inner.stream_write_error()
            }

            /// Poll a read into memory that need not be initialized (the
            /// spare capacity of a `Vec`, hyper's read buffers): no
            /// zero-filling before the read. `Ready(Ok(n))`: the first `n`
            /// elements of `buf` are now initialized with the bytes read
            /// (`0` is end of stream, or an empty `buf`); the rest are
            /// untouched. For poll-based I/O adapters; the waker is kept
            /// with the reactor until the stream is readable.
            ///
            /// A read that fills less than `buf` drains the socket, so the
            /// next call waits for the reactor without a `recv` that would
            /// only report `WouldBlock`.
            ///
            /// # Errors
            /// The OS's `recv` error (e.g. `ECONNRESET`).
            pub fn poll_read_uninit(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [std::mem::MaybeUninit<u8>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read_stream_buf(cx, buf, |s, buf| {
                    $crate::reactor::epoll::recv_uninit(std::os::fd::AsFd::as_fd(s), buf)
                })
            }

            /// Read exactly `buf.len()` bytes.
            ///
            /// # Errors
            /// `UnexpectedEof` if the stream ends first, or the `read` error.
            ///
            /// # Cancel safety
            /// Not cancel safe: a dropped call may have consumed a prefix
            /// into `buf`.
            pub async fn read_exact(&self, mut buf: &mut [u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    match self.read(buf).await? {
                        0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                        n => buf = &mut buf[n..],
                    }
                }
                Ok(())
            }

            /// Write all of `buf`.
            ///
            /// # Errors
            /// `WriteZero` if the socket accepts no bytes, or the `send` error.
            ///
            /// # Cancel safety
            /// Not cancel safe: a dropped call may have written a prefix of
            /// `buf`.
            pub async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    match self.write(buf).await? {
                        0 => return Err(std::io::ErrorKind::WriteZero.into()),
                        n => buf = &buf[n..],
                    }
                }
                Ok(())
            }
        }

        impl $crate::net::split::sealed::Sealed for $ty {}

        impl $crate::net::split::Duplex for $ty {
            fn poll_read_ref(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner
                    .poll_read_stream_buf(cx, buf, |s, buf| std::io::Read::read(&mut &*s, buf))
            }

            fn poll_read_uninit_ref(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [std::mem::MaybeUninit<u8>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_uninit(cx, buf)
            }

            fn poll_write_ref(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner
                    .poll_write_stream(cx, &[std::io::IoSlice::new(buf)], |s| {
                        $crate::reactor::epoll::send(std::os::fd::AsFd::as_fd(s), buf)
                    })
            }

            fn poll_write_vectored_ref(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write_stream(cx, bufs, |s| {
                    $crate::reactor::epoll::send_vectored(std::os::fd::AsFd::as_fd(s), bufs)
                })
            }

            fn poll_flush_ref(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner.poll_flush_stream(cx)
            }

            fn shutdown_ref(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.shutdown(how)
            }

            fn read_ref<'a>(
                &'a self,
                buf: &'a mut [u8],
            ) -> impl Future<Output = std::io::Result<usize>> + 'a {
                self.read(buf)
            }

            fn write_ref<'a>(
                &'a self,
                buf: &'a [u8],
            ) -> impl Future<Output = std::io::Result<usize>> + 'a {
                self.write(buf)
            }
        }

        $crate::net::split::futures_io_impls!($ty);
        #[cfg(feature = "tokio-io")]
        $crate::net::tokio_io::tokio_io_impls!($ty);
    };
}

pub(crate) use byte_stream;
