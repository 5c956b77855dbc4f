//! HTTP/2 with prior knowledge on a connection that may be either
//! version: read the first bytes, then hand them back to hyper.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Context;

/// The first bytes an HTTP/2 client with prior knowledge sends.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Read until the bytes are HTTP/2's preface (true) or cannot be (false:
/// the first differing byte, or end of stream); returns what was read.
pub(super) async fn sniff<T: hyper::rt::Read + Unpin>(io: &mut T) -> io::Result<(bool, Vec<u8>)> {
    let mut storage = [0u8; H2_PREFACE.len()];
    let mut filled = 0;
    loop {
        let n = poll_fn(|cx| {
            let mut buf = hyper::rt::ReadBuf::new(&mut storage[filled..]);
            std::task::ready!(Pin::new(&mut *io).poll_read(cx, buf.unfilled()))?;
            std::task::Poll::Ready(Ok::<_, io::Error>(buf.filled().len()))
        })
        .await?;
        filled += n;
        let seen = &storage[..filled];
        if n == 0 || seen != &H2_PREFACE[..filled] {
            return Ok((false, seen.to_vec()));
        }
        if filled == H2_PREFACE.len() {
            return Ok((true, seen.to_vec()));
        }
    }
}

/// An I/O object whose first reads give back bytes already read from it.
pub(super) struct Rewind<T> {
    prefix: Vec<u8>,
    pos: usize,
    inner: T,
}

impl<T> Rewind<T> {
    pub(super) fn new(prefix: Vec<u8>, inner: T) -> Self {
        Rewind {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return std::task::Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
