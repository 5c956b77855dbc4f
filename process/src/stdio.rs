//! The parent's ends of a child's piped stdio: [`ChildStdin`],
//! [`ChildStdout`] and [`ChildStderr`].
//!
//! Each is a pipe end switched to non-blocking mode and registered with the
//! reactor ([`Async`]), so reading and writing wait in the runtime, not in
//! the thread. Only our end is non-blocking: a pipe's two ends are separate
//! open file descriptions, and the child's end stays as it expects.
//! [`into_owned_fd`](ChildStdout::into_owned_fd) (or `Stdio::try_from`)
//! turns an end back into a blocking fd, e.g. to make it another child's
//! stdin.
//!
//! Writing to a child that has closed its stdin fails with `BrokenPipe`
//! (`EPIPE`): Rust programs ignore `SIGPIPE` (std sets it to `SIG_IGN`
//! before `main`), so the signal does not kill the parent.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use arbor_runtime::io::Async;

use crate::checkpoint::checkpointed;
use crate::sys;

/// The parent's end of a child's piped stdin: write to it, drop (or
/// [`close`](futures_io::AsyncWrite::poll_close)) it to send end of file.
///
/// Also [`futures_io::AsyncWrite`].
///
/// ```
/// use arbor_process::{Command, Stdio};
///
/// arbor_runtime::run(async {
///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"hello").await.unwrap();
///     drop(stdin); // end of file: `cat` finishes
///     let out = child.wait_with_output().await.unwrap();
///     assert_eq!(out.stdout, b"hello");
/// });
/// ```
pub struct ChildStdin {
    /// `None` once closed through `poll_close`.
    inner: Option<Async<io::PipeWriter>>,
}

/// The parent's end of a child's piped stdout. Reads return `Ok(0)` at end
/// of file (the child, and every process it shared the pipe with, closed
/// it).
///
/// Also [`futures_io::AsyncRead`].
///
/// ```
/// use arbor_process::{Command, Stdio};
///
/// arbor_runtime::run(async {
///     let mut child = Command::new("echo").arg("hello").stdout(Stdio::piped()).spawn().unwrap();
///     let mut stdout = child.stdout.take().unwrap();
///     let mut out = Vec::new();
///     stdout.read_to_end(&mut out).await.unwrap();
///     assert_eq!(out, b"hello\n");
///     assert!(child.wait().await.unwrap().success());
/// });
/// ```
pub struct ChildStdout {
    inner: Async<io::PipeReader>,
}

/// The parent's end of a child's piped stderr; as [`ChildStdout`].
///
/// ```
/// use arbor_process::{Command, Stdio};
///
/// arbor_runtime::run(async {
///     let mut child = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).spawn().unwrap();
///     let mut stderr = child.stderr.take().unwrap();
///     let mut err = Vec::new();
///     stderr.read_to_end(&mut err).await.unwrap();
///     assert_eq!(err, b"oops\n");
///     assert!(child.wait().await.unwrap().success());
/// });
/// ```
pub struct ChildStderr {
    inner: Async<io::PipeReader>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "this ChildStdin was closed")
}

impl ChildStdin {
    /// Wrap std's handle: non-blocking, registered with the reactor.
    pub(crate) fn new(std: std::process::ChildStdin) -> io::Result<Self> {
        let inner = Async::new(io::PipeWriter::from(OwnedFd::from(std)))?;
        Ok(ChildStdin { inner: Some(inner) })
    }

    fn inner(&self) -> io::Result<&Async<io::PipeWriter>> {
        self.inner.as_ref().ok_or_else(closed)
    }

    /// Write some bytes of `buf`, waiting while the pipe is full; returns
    /// how many were written.
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let mut stdin = child.stdin.take().unwrap();
    ///     // An empty pipe takes a short write whole.
    ///     assert_eq!(stdin.write(b"hi").await.unwrap(), 2);
    ///     drop(stdin);
    ///     assert_eq!(child.wait_with_output().await.unwrap().stdout, b"hi");
    /// });
    /// ```
    ///
    /// # Errors
    /// `BrokenPipe` once the child closed its end (e.g. it exited) or this
    /// end was closed; the OS's `write` error otherwise.
    ///
    /// # Cancel safety
    /// Dropping the future writes nothing more: either a whole `write` ran
    /// (and its count was returned) or none did.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner()?.write_with(|mut w| w.write(buf)).await
    }

    /// Write all of `buf`.
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     // More than a pipe holds: `write_all` waits while `wc` drains it.
    ///     let mut child = Command::new("wc").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     child.stdin.take().unwrap().write_all(&[b'x'; 200_000]).await.unwrap();
    ///     assert_eq!(child.wait_with_output().await.unwrap().stdout, b"200000\n");
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`write`](ChildStdin::write), and `WriteZero` if the pipe takes
    /// no bytes.
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped call may have written a prefix of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Deregister from the reactor and give the pipe end back as a
    /// blocking fd (e.g. for [`Stdio::from`]).
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     // `echo` writes straight into `cat`'s stdin.
    ///     let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let fd = cat.stdin.take().unwrap().into_owned_fd().unwrap();
    ///     // A temporary: dropping the command closes our copy of the fd, so `cat` sees end of file.
    ///     Command::new("echo").arg("relayed").stdout(Stdio::from(fd)).status().await.unwrap();
    ///     assert_eq!(cat.wait_with_output().await.unwrap().stdout, b"relayed\n");
    /// });
    /// ```
    ///
    /// # Errors
    /// The `epoll_ctl` or `fcntl` error, or `BrokenPipe` if it was closed.
    pub fn into_owned_fd(mut self) -> io::Result<OwnedFd> {
        let inner = self.inner.take().ok_or_else(closed)?;
        into_blocking(inner)
    }
}

fn into_blocking<T: AsFd + Into<OwnedFd>>(io: Async<T>) -> io::Result<OwnedFd> {
    let fd: OwnedFd = io.into_inner()?.into();
    sys::set_blocking(fd.as_fd())?;
    Ok(fd)
}

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.inner() {
            Ok(inner) => inner.poll_write_with(cx, |mut w| w.write(buf)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.inner() {
            Ok(inner) => inner.poll_write_with(cx, |mut w| w.write_vectored(bufs)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes go straight to the kernel; there is no userspace buffer.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing our end is how the child learns its input ended.
        self.get_mut().inner = None;
        Poll::Ready(Ok(()))
    }
}

/// The shared surface of [`ChildStdout`] and [`ChildStderr`].
macro_rules! reader {
    ($ty:ident, $std:ty) => {
        impl $ty {
            /// Wrap std's handle: non-blocking, registered with the reactor.
            pub(crate) fn new(std: $std) -> io::Result<Self> {
                let inner = Async::new(io::PipeReader::from(OwnedFd::from(std)))?;
                Ok($ty { inner })
            }

            /// Read some bytes into `buf`, waiting until there are some;
            /// `Ok(0)` is end of file (or an empty `buf`).
            ///
            /// ```
            /// use arbor_process::{Command, Stdio};
            ///
            /// arbor_runtime::run(async {
            ///     let mut child = Command::new("sh")
            ///         .args(["-c", "printf out; printf err >&2"])
            ///         .stdout(Stdio::piped())
            ///         .stderr(Stdio::piped())
            ///         .spawn()
            ///         .unwrap();
            ///     let mut buf = [0; 16];
            ///     let n = child.stdout.as_mut().unwrap().read(&mut buf).await.unwrap();
            ///     assert_eq!(&buf[..n], b"out");
            ///     let n = child.stderr.as_mut().unwrap().read(&mut buf).await.unwrap();
            ///     assert_eq!(&buf[..n], b"err");
            ///     assert_eq!(child.stdout.as_mut().unwrap().read(&mut buf).await.unwrap(), 0);
            /// });
            /// ```
            ///
            /// # Errors
            /// The OS's `read` error.
            ///
            /// # Cancel safety
            /// Dropping the future consumes no bytes.
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.inner.read_with(|mut r| r.read(buf)).await
            }

            /// Read until end of file, appending to `buf`; returns how many
            /// bytes were appended.
            ///
            /// ```
            /// use arbor_process::{Command, Stdio};
            ///
            /// arbor_runtime::run(async {
            ///     let mut child = Command::new("sh")
            ///         .args(["-c", "echo out; echo err >&2"])
            ///         .stdout(Stdio::piped())
            ///         .stderr(Stdio::piped())
            ///         .spawn()
            ///         .unwrap();
            ///     let (mut out, mut err) = (b"> ".to_vec(), Vec::new());
            ///     assert_eq!(child.stdout.as_mut().unwrap().read_to_end(&mut out).await.unwrap(), 4);
            ///     assert_eq!(child.stderr.as_mut().unwrap().read_to_end(&mut err).await.unwrap(), 4);
            ///     assert_eq!((&out[..], &err[..]), (&b"> out\n"[..], &b"err\n"[..]));
            /// });
            /// ```
            ///
            /// # Errors
            /// The OS's `read` error (the bytes read before it stay in
            /// `buf`).
            ///
            /// # Cancel safety
            /// Bytes read before the future was dropped stay in `buf`;
            /// none are lost, and calling it again goes on from there.
            pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let start = buf.len();
                checkpointed(|cx| poll_read_to_end(&self.inner, cx, buf)).await?;
                Ok(buf.len() - start)
            }

            /// Deregister from the reactor and give the pipe end back as a
            /// blocking fd (e.g. for [`Stdio::from`], to make it another
            /// child's stdin).
            ///
            /// ```
            /// use arbor_process::{Command, Stdio};
            ///
            /// arbor_runtime::run(async {
            ///     // `sh`'s stdout and stderr, each made a `cat`'s stdin.
            ///     let mut sh = Command::new("sh")
            ///         .args(["-c", "echo out; echo err >&2"])
            ///         .stdout(Stdio::piped())
            ///         .stderr(Stdio::piped())
            ///         .spawn()
            ///         .unwrap();
            ///     let out = sh.stdout.take().unwrap().into_owned_fd().unwrap();
            ///     let err = sh.stderr.take().unwrap().into_owned_fd().unwrap();
            ///     let cat_out = Command::new("cat").stdin(Stdio::from(out)).output().await.unwrap();
            ///     let cat_err = Command::new("cat").stdin(Stdio::from(err)).output().await.unwrap();
            ///     assert_eq!((&cat_out.stdout[..], &cat_err.stdout[..]), (&b"out\n"[..], &b"err\n"[..]));
            ///     assert!(sh.wait().await.unwrap().success());
            /// });
            /// ```
            ///
            /// # Errors
            /// The `epoll_ctl` or `fcntl` error.
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                into_blocking(self.inner)
            }

            /// For [`Drain`]: read to the end as part of a larger poll.
            pub(crate) fn into_drain(self) -> Drain {
                Drain {
                    pipe: Some(self.inner),
                    buf: Vec::new(),
                }
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read_with(cx, |mut r| r.read(buf))
            }
        }

        impl TryFrom<$ty> for Stdio {
            type Error = io::Error;

            /// [`into_owned_fd`]($ty::into_owned_fd), as a `Stdio` for
            /// another [`Command`](crate::Command).
            fn try_from(pipe: $ty) -> io::Result<Stdio> {
                pipe.into_owned_fd().map(Stdio::from)
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.inner.as_raw_fd())
                    .finish()
            }
        }
    };
}

reader!(ChildStdout, std::process::ChildStdout);
reader!(ChildStderr, std::process::ChildStderr);

/// A pipe being read to end of file inside a larger poll
/// ([`Child::wait_with_output`](crate::Child::wait_with_output)); closed
/// as soon as it reaches the end.
pub(crate) struct Drain {
    pipe: Option<Async<io::PipeReader>>,
    buf: Vec<u8>,
}

impl Drain {
    /// Nothing to read: at the end already.
    pub(crate) fn empty() -> Drain {
        Drain {
            pipe: None,
            buf: Vec::new(),
        }
    }

    /// `Ready(Ok(()))` at end of file (then every later call too).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(pipe) = &self.pipe {
            std::task::ready!(poll_read_to_end(pipe, cx, &mut self.buf))?;
            self.pipe = None;
        }
        Poll::Ready(Ok(()))
    }

    /// The bytes read.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Read `pipe` to end of file into `buf`, growing it as needed. Every byte
/// read is in `buf` as soon as the read returns, so a caller dropped while
/// pending loses none.
fn poll_read_to_end(
    pipe: &Async<io::PipeReader>,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    /// One pipe's worth by default (Linux pipes hold 64 KiB).
    const CHUNK: usize = 64 * 1024;
    loop {
        let len = buf.len();
        buf.resize(len + CHUNK, 0);
        let read = pipe.poll_read_with(cx, |mut r| r.read(&mut buf[len..]));
        let n = match read {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => {
                buf.truncate(len);
                return Poll::Ready(Err(e));
            }
            Poll::Pending => {
                buf.truncate(len);
                return Poll::Pending;
            }
        };
        buf.truncate(len + n);
        if n == 0 {
            return Poll::Ready(Ok(()));
        }
    }
}

impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    /// [`ChildStdin::into_owned_fd`], as a `Stdio` for another
    /// [`Command`](crate::Command).
    fn try_from(pipe: ChildStdin) -> io::Result<Stdio> {
        pipe.into_owned_fd().map(Stdio::from)
    }
}

impl AsFd for ChildStdin {
    /// # Panics
    /// If it was closed through `poll_close`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner
            .as_ref()
            .expect("ChildStdin::as_fd after poll_close")
            .as_fd()
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.inner.as_ref().map(AsRawFd::as_raw_fd))
            .finish()
    }
}
