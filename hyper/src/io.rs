//! [`ArborIo`]: hyper's I/O traits for arbor's byte streams.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_runtime::net::{TcpStream, UnixStream};
use hyper::rt::{Read, ReadBufCursor, Write};

/// An arbor stream ([`TcpStream`] or [`UnixStream`]) as hyper's
/// [`Read`] and [`Write`]: what `TokioIo::new` is for tokio.
///
/// Reads go straight into hyper's uninitialized read buffer
/// ([`TcpStream::poll_read_uninit`]): nothing is zero-filled first.
/// Writes are vectored. Flushing returns at once: on the epoll backend a
/// write puts its bytes in the kernel before it returns; on io_uring a
/// write copies them into the stream's send buffer, and arbor sends them
/// even if the connection is dropped, so a flush only reports a send that
/// already failed ([`TcpStream::write_error`]) rather than waiting for
/// the ring (a send's error otherwise reaches hyper at its next write).
/// Shutdown waits for the bytes still unsent, then closes the write
/// direction (the peer reads end of stream; the read direction stays
/// open).
///
/// ```
/// use arbor_hyper::ArborIo;
/// use arbor_runtime::net::{TcpListener, TcpStream};
/// use hyper::server::conn::http1;
/// use hyper::service::service_fn;
/// use hyper::{Request, Response, body::Incoming};
/// use std::convert::Infallible;
///
/// arbor_runtime::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let (stream, _) = listener.accept().await.unwrap();
///     let service = service_fn(|_req: Request<Incoming>| async {
///         Ok::<_, Infallible>(Response::new(String::from("hi")))
///     });
///     let server = arbor_runtime::spawn(
///         http1::Builder::new().serve_connection(ArborIo::new(stream), service),
///     );
///     client
///         .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
///         .await
///         .unwrap();
///     let mut response = Vec::new();
///     let mut buf = [0u8; 1024];
///     loop {
///         match client.read(&mut buf).await.unwrap() {
///             0 => break,
///             n => response.extend_from_slice(&buf[..n]),
///         }
///     }
///     assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
///     assert!(response.ends_with(b"\r\n\r\nhi"));
///     server.await.unwrap().unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct ArborIo<T> {
    inner: T,
}

impl<T> ArborIo<T> {
    /// Wrap a stream.
    pub fn new(inner: T) -> Self {
        ArborIo { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Unwrap the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// Fill hyper's cursor from a read that writes into uninitialized memory.
///
/// `read` must return `Ready(Ok(n))` only after initializing the first `n`
/// elements of the slice it is given (arbor's `poll_read_uninit` promises
/// exactly that: the kernel wrote them).
fn read_into_cursor(
    mut buf: ReadBufCursor<'_>,
    read: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    // SAFETY: `as_mut` requires that we never de-initialize bytes of the
    // unfilled part; `read` (the kernel's `recv`) only ever writes bytes
    // into it, never writes `MaybeUninit::uninit()`.
    let unfilled = unsafe { buf.as_mut() };
    let len = unfilled.len();
    let n = std::task::ready!(read(unfilled))?;
    assert!(n <= len, "a read reported more bytes than its buffer holds");
    // SAFETY: `advance(n)` requires the next `n` bytes to be initialized:
    // `read` returned `n`, which by its contract (the kernel returns how
    // many bytes it wrote at the front of the buffer) means the first `n`
    // elements of `unfilled` were written, and `n <= len` was checked.
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

macro_rules! hyper_io {
    ($ty:ty) => {
        impl Read for ArborIo<$ty> {
            #[inline]
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                let stream = &self.inner;
                read_into_cursor(buf, |unfilled| stream.poll_read_uninit(cx, unfilled))
            }
        }

        impl Write for ArborIo<$ty> {
            #[inline]
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(Pin::new(&mut &self.inner), cx, buf)
            }

            #[inline]
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write_vectored(Pin::new(&mut &self.inner), cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // The bytes written are committed: arbor sends them even
                // if the connection is dropped, and shutdown waits for
                // them. Waiting for io_uring's completions here would
                // cost every response a second wake of its task.
                match self.inner.write_error() {
                    Some(e) => Poll::Ready(Err(e)),
                    None => Poll::Ready(Ok(())),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                std::task::ready!(futures_io::AsyncWrite::poll_flush(
                    Pin::new(&mut &self.inner),
                    cx
                ))?;
                match self.inner.shutdown(Shutdown::Write) {
                    // The peer already went away: the write side is shut.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
                    other => Poll::Ready(other),
                }
            }
        }
    };
}

hyper_io!(TcpStream);
hyper_io!(UnixStream);
