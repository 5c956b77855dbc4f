//! [`File`]'s reads, writes and seeks: the inherent async methods and
//! the `futures-io` traits, both on the state machine in `state.rs`.

use std::future::poll_fn;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::File;
use super::plan::Action;
use super::state::Outcome;
use arbor_runtime::scope::entry_checkpoint as checkpoint;

impl File {
    /// Seek to `pos` (std's `Seek::seek`) and return the new position
    /// from the start of the file, after writing what is buffered.
    /// `SeekFrom::Current` counts from the position the caller has read
    /// and written to (read-ahead and buffered bytes accounted for), so
    /// `seek(SeekFrom::Current(0))` tells the exact position.
    ///
    /// ```
    /// use std::io::SeekFrom;
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-seek-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"0123456789").await?;
    ///     let mut file = File::open(&path).await?;
    ///     assert_eq!(file.seek(SeekFrom::End(-3)).await?, 7);
    ///     let mut tail = String::new();
    ///     file.read_to_string(&mut tail).await?;
    ///     assert_eq!(tail, "789");
    ///     assert_eq!(file.seek(SeekFrom::Current(0)).await?, 10);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's error (`InvalidInput` for a position before the start,
    /// `NotSeekable` for a pipe), or a write error.
    ///
    /// # Cancel safety
    /// Dropping the future after the seek started leaves it running; it
    /// takes effect before the next operation.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        checkpoint().await;
        let mut started = false;
        let outcome = poll_fn(|cx| {
            self.state
                .poll_owned(cx, &mut started, |_| Some(Action::Seek(pos)))
        })
        .await;
        match outcome {
            Some(Outcome::Seek(result)) => result,
            Some(Outcome::Failed(e)) => Err(e),
            _ => unreachable!("a seek hop reports a seek or the failure before it"),
        }
    }

    /// Read into `buf`, returning how many bytes were read (0 at the end
    /// of the file, or if `buf` is empty). Served from the read-ahead if
    /// it has bytes, else one hop reads ahead (see "Batching").
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-read-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"abc").await?;
    ///     let mut file = File::open(&path).await?;
    ///     let mut buf = [0u8; 16];
    ///     let n = file.read(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"abc");
    ///     assert_eq!(file.read(&mut buf).await?, 0); // the end of the file
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's read error.
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing: bytes the hop in flight reads
    /// are kept and returned by the next read.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        checkpoint().await;
        poll_fn(|cx| self.state.poll_read(cx, buf)).await
    }

    /// Read exactly `buf.len()` bytes.
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-read-exact-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"abcdef").await?;
    ///     let mut file = File::open(&path).await?;
    ///     let mut four = [0u8; 4];
    ///     file.read_exact(&mut four).await?;
    ///     assert_eq!(&four, b"abcd");
    ///     let err = file.read_exact(&mut four).await.unwrap_err(); // 2 bytes left
    ///     assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// `UnexpectedEof` if the file ends first; std's read error.
    ///
    /// # Cancel safety
    /// Dropping the future loses no byte of the file, but those already
    /// copied into `buf` are the caller's: the next read continues after
    /// them.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn read_exact(&mut self, mut buf: &mut [u8]) -> io::Result<()> {
        checkpoint().await;
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.state.poll_read(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf = &mut buf[n..];
        }
        Ok(())
    }

    /// Read everything up to the end of the file and append it to `buf`,
    /// returning how many bytes were appended: the read-ahead, then the
    /// rest in one hop (std's `read_to_end` on a worker, sized from the
    /// file's length). If `buf` is empty, the bytes are handed over
    /// without a copy.
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-read-to-end-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"rest of it").await?;
    ///     let mut file = File::open(&path).await?;
    ///     let mut bytes = b"the ".to_vec();
    ///     assert_eq!(file.read_to_end(&mut bytes).await?, 10);
    ///     assert_eq!(bytes, b"the rest of it"); // appended
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's read error; the bytes read before it are appended (as std
    /// does).
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing: the read-ahead is already in
    /// `buf`, and what the hop in flight reads is kept and returned by
    /// the next read.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        checkpoint().await;
        let start = buf.len();
        let result = self.read_rest(Some(buf)).await;
        self.state.drain_read_ahead(buf);
        result.map(|()| buf.len() - start)
    }

    /// Read everything up to the end of the file and append it to `buf`
    /// if it is UTF-8 (in one hop, as [`read_to_end`](File::read_to_end)).
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-read-to-string-{}", std::process::id()));
    ///     arbor_fs::write(&path, "wörld").await?;
    ///     let mut file = File::open(&path).await?;
    ///     let mut text = String::from("hello ");
    ///     assert_eq!(file.read_to_string(&mut text).await?, 6); // bytes, not chars
    ///     assert_eq!(text, "hello wörld");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// `InvalidData` if the bytes are not UTF-8 (`buf` is unchanged
    /// then, and the bytes are consumed, as with std); std's read error
    /// (the bytes read before it are appended if they are UTF-8, as std
    /// does).
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing: the bytes stay in the `File`
    /// until the hop is done, and the next read returns them.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        checkpoint().await;
        let result = self.read_rest(None).await;
        let mut bytes = Vec::new();
        self.state.drain_read_ahead(&mut bytes);
        let n = bytes.len();
        match (String::from_utf8(bytes), result) {
            (Ok(text), result) => {
                if buf.is_empty() {
                    *buf = text;
                } else {
                    buf.push_str(&text);
                }
                result.map(|()| n)
            }
            (Err(_), Err(e)) => Err(e),
            (Err(_), Ok(())) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )),
        }
    }

    /// Read the rest of the file into the read-ahead in one hop (after
    /// moving the read-ahead into `early`, if given: then it is the
    /// caller's before the hop starts).
    async fn read_rest(&mut self, mut early: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            let mut started = false;
            let outcome = poll_fn(|cx| {
                self.state.poll_owned(cx, &mut started, |s| {
                    if let Some(early) = early.as_deref_mut() {
                        s.drain_read_ahead(early);
                    }
                    Some(s.read_to_end_action())
                })
            })
            .await;
            match outcome {
                Some(Outcome::Read { result, .. }) => return result,
                Some(Outcome::Failed(e)) => return Err(e),
                // A file without a cursor, whose read-ahead turned out to
                // be the next data: read on after it.
                Some(Outcome::Skipped) => continue,
                _ => unreachable!("a read hop reports a read, a skip or the failure before it"),
            }
        }
    }

    /// Copy `buf` into the write buffer and return how many bytes were
    /// accepted (all of them, up to the buffer's 2 MiB room). The bytes
    /// are written later, in one hop with others (see "Batching").
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-write-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     assert_eq!(file.write(b"accepted").await?, 8); // all of it, buffered
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"accepted");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// An error of an earlier write that nobody waited for (the bytes of
    /// this call are not accepted then).
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing: either its bytes were accepted
    /// (and will be written) or not.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        checkpoint().await;
        poll_fn(|cx| self.state.poll_write(cx, buf)).await
    }

    /// Accept all of `buf` (copied into the write buffer; written later,
    /// see "Batching").
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-write-all-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"one ").await?;
    ///     file.write_all(b"two").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"one two");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// An error of an earlier write that nobody waited for.
    ///
    /// # Cancel safety
    /// Dropping the future may leave a prefix of `buf` accepted (it will
    /// be written), as any `write_all`.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        checkpoint().await;
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.state.poll_write(cx, buf)).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Write every accepted byte and wait for it (no `fsync`: see
    /// [`sync_all`](File::sync_all)).
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-flush-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"buffered").await?;
    ///     file.flush().await?; // now on the file
    ///     assert_eq!(file.metadata().await?.len(), 8);
    ///     assert_eq!(arbor_fs::read(&path).await?, b"buffered");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// The first write error since the last report.
    ///
    /// # Cancel safety
    /// Dropping the future leaves the write in flight running; the next
    /// operation waits for it, and its error, if any, is reported by the
    /// next write, flush, sync or `set_len`.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn flush(&mut self) -> io::Result<()> {
        checkpoint().await;
        poll_fn(|cx| self.state.poll_flush(cx)).await
    }
}

impl futures_io::AsyncRead for File {
    /// See [`File::read`]; no schedule point when served from the
    /// read-ahead (as `futures-io` readers go), a cancel point always.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.state.poll_read(cx, buf)
    }
}

impl futures_io::AsyncWrite for File {
    /// See [`File::write`].
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.state.poll_write(cx, buf)
    }

    /// See [`File::flush`].
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.state.poll_flush(cx)
    }

    /// A flush; the file stays open (it closes when dropped).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.state.poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }
}

impl futures_io::AsyncSeek for File {
    /// See [`File::seek`]. `poll_seek` cannot tell a new call from the
    /// next poll of a dropped one: a seek started by a future that was
    /// dropped, followed at once (no other operation between) by a call
    /// with the same target, returns the first seek's result, and the
    /// second does not move again. That is harmless for `Start` and `End`
    /// targets and for `Current(0)`; after dropping a relative seek
    /// through this trait, use [`File::seek`], whose future knows.
    fn poll_seek(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        self.state.poll_seek(cx, pos)
    }
}
