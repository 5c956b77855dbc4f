//! [`File`]: an open file whose reads, writes and seeks run on the
//! offload pool, batched through its own buffers.

mod plan;
mod state;

use std::fmt;
use std::fs::{File as StdFile, Metadata, Permissions};
use std::future::poll_fn;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use plan::Action;
use state::{Outcome, State};

use crate::OpenOptions;
use crate::hop::{self, checkpoint};

pub(crate) use state::{FIRST_READ, MAX_BUF};

/// An open file. Every blocking call it makes runs on the runtime's
/// offload pool under the default thread limiter, like
/// [`to_thread::run_sync`](arbor_primitives::to_thread::run_sync).
///
/// Read it and write it with the inherent async methods ([`read`],
/// [`write_all`], [`seek`], ...) or through the `futures-io` traits
/// ([`AsyncRead`](futures_io::AsyncRead),
/// [`AsyncWrite`](futures_io::AsyncWrite),
/// [`AsyncSeek`](futures_io::AsyncSeek)), which the extension traits of
/// `futures-lite` or `futures-util` build on.
///
/// ```
/// use std::io::SeekFrom;
/// use arbor_fs::File;
///
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-{}", std::process::id()));
///     let mut file = File::create(&path).await?;
///     file.write_all(b"hello, file").await?;
///     file.flush().await?; // writes are buffered: flush to see errors
///     drop(file);
///
///     let mut file = File::open(&path).await?;
///     let mut word = [0u8; 5];
///     file.read_exact(&mut word).await?;
///     assert_eq!(&word, b"hello");
///     assert_eq!(file.seek(SeekFrom::Current(0)).await?, 5); // exact, read-ahead or not
///     let mut rest = String::new();
///     file.read_to_string(&mut rest).await?;
///     assert_eq!(rest, ", file");
///     arbor_fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
///
/// # Batching
///
/// A thread hop costs far more than a copy, so a `File` makes few:
///
/// - **Reads read ahead.** A read with nothing buffered reads up to the
///   larger of the caller's buffer and the read-ahead length in one hop,
///   keeps what the caller did not take, and serves the next reads from
///   it. The read-ahead starts at 64 KiB and doubles each time a read
///   fills it, up to 2 MiB (tokio's buffer limit); a seek starts it over.
///   [`read_to_end`](File::read_to_end) and
///   [`read_to_string`](File::read_to_string) read everything in one hop.
/// - **Writes are buffered.** A write returns once its bytes are copied
///   into the `File`'s buffer (like tokio's `File`); 2 MiB of them go to a
///   worker in one hop, and while it writes them the next writes fill a
///   second buffer. [`flush`](File::flush), a seek, a read, a sync,
///   [`set_len`](File::set_len) and [`into_std`](File::into_std) write
///   what is buffered first (in the same hop as their own call). A write
///   error surfaces on the next write, flush, sync or `set_len`.
/// - **Positions are exact.** [`seek`](File::seek) accounts for the
///   read-ahead and the buffered bytes: the position it reports (and
///   seeks from) is the one the caller has read and written to. Writes
///   after a read step back over the unread read-ahead first.
///
/// # Dropped operations
///
/// A `File` owns its operation in flight (the blocking call and its
/// limiter token), not the future that started it: at most one hop runs
/// per `File`, and every operation first waits for the one in flight and
/// applies its result. So a read, write, seek, flush or sync whose
/// future is dropped while its worker is busy (a cancelled scope drops
/// it, a timeout, an aborted task) **loses nothing and corrupts nothing**:
///
/// - the call keeps running on its worker (a thread cannot be stopped);
/// - bytes it read are kept in the read-ahead and handed to the next read;
/// - bytes a write accepted are written (by the hop in flight, or by the
///   next one: they stay buffered);
/// - a seek takes effect before the next operation, and the position is
///   never lost: the next [`seek`](File::seek) sees it;
/// - an error nobody waited for (a write's, a sync's) is reported by the
///   next write, flush, sync or `set_len`.
///
/// Inside a cancelled scope (outside a shield) a `File` makes no
/// progress: its operations are cancel points, and one first polled there
/// starts no hop.
///
/// # Dropping a `File`
///
/// The descriptor is closed once the hop in flight (if any) is done with
/// it. Bytes still buffered are written in the background (a task in the
/// runtime's root scope writes them after the hop in flight), but their
/// errors are lost, and if the runtime shuts down first they may be lost
/// too: **call [`flush`](File::flush) (or `close`) before dropping a
/// `File` you wrote to** (as with tokio's `File` and std's `BufWriter`).
/// A `File` dropped outside any runtime writes them on the dropping
/// thread.
///
/// [`read`]: File::read
/// [`write_all`]: File::write_all
/// [`seek`]: File::seek
pub struct File {
    state: State,
}

impl File {
    /// Open `path` for reading (std's `File::open`), on a worker thread.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-open-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"data").await?;
    ///     let mut file = arbor_fs::File::open(&path).await?;
    ///     let mut bytes = Vec::new();
    ///     file.read_to_end(&mut bytes).await?;
    ///     assert_eq!(bytes, b"data");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's `open` errors, unchanged.
    ///
    /// # Cancel safety
    /// As [`OpenOptions::open`]: a checkpoint at entry; once the `open`
    /// has started, the wait is shielded and the file is returned.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Open `path` for writing, creating it or truncating it (std's
    /// `File::create`), on a worker thread.
    ///
    /// # Errors
    /// std's `open` errors, unchanged.
    ///
    /// # Cancel safety
    /// As [`OpenOptions::open`].
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Create `path` and open it for reading and writing, failing with
    /// `AlreadyExists` if it exists (std's `File::create_new`).
    ///
    /// # Errors
    /// std's `open` errors, unchanged.
    ///
    /// # Cancel safety
    /// As [`OpenOptions::open`].
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// A blank [`OpenOptions`] (std's `File::options`).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wrap a file opened by std. Nothing blocks: no system call is made.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let std_file = tempfile_in_doc();
    ///     let file = arbor_fs::File::from_std(std_file);
    ///     assert!(file.metadata().await.unwrap().is_file());
    /// });
    /// # fn tempfile_in_doc() -> std::fs::File {
    /// #     let path = std::env::temp_dir().join(format!("arbor-fs-doc-from-std-{}", std::process::id()));
    /// #     let file = std::fs::File::create(&path).unwrap();
    /// #     std::fs::remove_file(&path).unwrap();
    /// #     file
    /// # }
    /// ```
    pub fn from_std(std: StdFile) -> File {
        File {
            state: State::new(std),
        }
    }

    /// Wait for the operation in flight, write what is buffered, step the
    /// OS cursor back over unread read-ahead, and give the std file back
    /// (its cursor where this `File`'s reads and writes left it).
    ///
    /// # Errors
    /// A write error (of the buffered bytes, or kept from an earlier
    /// write nobody waited for); the file is closed then. Call
    /// [`flush`](File::flush) first to keep the `File` on a write error.
    ///
    /// # Cancel safety
    /// The `File` is moved in: dropping the future drops it, with what
    /// that does (see the type's docs).
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn into_std(mut self) -> io::Result<StdFile> {
        checkpoint().await;
        let mut started = false;
        let outcome = poll_fn(|cx| {
            self.state.poll_owned(cx, &mut started, |s| {
                s.needs_sync().then_some(Action::Flush)
            })
        })
        .await;
        unit(outcome)?;
        if let Some(e) = self.state.take_write_err() {
            return Err(e);
        }
        let std = self.state.std.clone();
        drop(self); // nothing left to write: its drop only lets go of `std`
        match Arc::try_unwrap(std) {
            Ok(std) => Ok(std),
            // A dropped `metadata` (or similar) still runs with a handle.
            Err(shared) => hop::run(move || shared.try_clone()).await,
        }
    }

    /// The file's metadata (std's `File::metadata`), on a worker thread.
    /// Bytes still buffered are not counted: [`flush`](File::flush) first
    /// for an exact length.
    ///
    /// # Errors
    /// std's error, unchanged.
    ///
    /// # Cancel safety
    /// As the free functions: a checkpoint at entry, then a shielded wait.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.state.std.clone();
        hop::run(move || std.metadata()).await
    }

    /// Change the file's permissions (std's `File::set_permissions`), on
    /// a worker thread.
    ///
    /// # Errors
    /// std's error, unchanged.
    ///
    /// # Cancel safety
    /// As [`metadata`](File::metadata).
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        let std = self.state.std.clone();
        hop::run(move || std.set_permissions(perm)).await
    }

    /// A new `File` for the same open file description (`dup`): the two
    /// share the OS cursor, but each has its own read-ahead and write
    /// buffer, so positions seen through one drift from the other's
    /// unless you flush and seek before switching.
    ///
    /// # Errors
    /// std's error, unchanged.
    ///
    /// # Cancel safety
    /// As [`metadata`](File::metadata); a call dropped anyway closes the
    /// duplicate.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn try_clone(&self) -> io::Result<File> {
        let std = self.state.std.clone();
        let dup = hop::run(move || std.try_clone()).await?;
        Ok(File::from_std(dup))
    }

    /// Write what is buffered, then `fsync`: data and metadata on the
    /// device (std's `File::sync_all`), in one hop.
    ///
    /// # Errors
    /// The write's or `fsync`'s error, or one kept from an earlier write.
    ///
    /// # Cancel safety
    /// Dropping the future leaves the sync running; its error, if any,
    /// is reported by the next write, flush, sync or `set_len`.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.owned_unit(|| Action::SyncAll).await
    }

    /// As [`sync_all`](File::sync_all), with `fdatasync` (std's
    /// `File::sync_data`: the metadata a read does not need may lag).
    ///
    /// # Errors
    /// As [`sync_all`](File::sync_all).
    ///
    /// # Cancel safety
    /// As [`sync_all`](File::sync_all).
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.owned_unit(|| Action::SyncData).await
    }

    /// Truncate or extend the file to `size` bytes (std's
    /// `File::set_len`), after writing what is buffered; the cursor does
    /// not move, and read-ahead is dropped (it may be past the new end).
    ///
    /// # Errors
    /// std's error (`InvalidInput` if the file is not open for writing),
    /// or a write error.
    ///
    /// # Cancel safety
    /// As [`sync_all`](File::sync_all).
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.owned_unit(|| Action::SetLen(size)).await
    }

    /// A checkpoint, then one owned hop whose outcome is `()`, unless an
    /// earlier write failed unseen: that error is the result then (the
    /// data is not all there to sync or truncate).
    async fn owned_unit(&mut self, action: impl FnOnce() -> Action) -> io::Result<()> {
        checkpoint().await;
        let mut started = false;
        let mut action = Some(action);
        let outcome = poll_fn(|cx| {
            self.state.poll_owned(cx, &mut started, |s| {
                if s.has_write_err() {
                    return None;
                }
                action.take().map(|make| make())
            })
        })
        .await;
        if let Some(e) = self.state.take_write_err() {
            return Err(e);
        }
        unit(outcome)
    }

    /// Seek to `pos` (std's `Seek::seek`) and return the new position
    /// from the start of the file, after writing what is buffered.
    /// `SeekFrom::Current` counts from the position the caller has read
    /// and written to (read-ahead and buffered bytes accounted for), so
    /// `seek(SeekFrom::Current(0))` tells the exact position.
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

/// The result of an owned hop whose action's outcome is `()`.
fn unit(outcome: Option<Outcome>) -> io::Result<()> {
    match outcome {
        None | Some(Outcome::Unit(Ok(()))) => Ok(()),
        Some(Outcome::Unit(Err(e)) | Outcome::Failed(e)) => Err(e),
        Some(_) => unreachable!("a unit hop reports a unit result or the failure before it"),
    }
}

impl From<StdFile> for File {
    /// [`File::from_std`].
    fn from(std: StdFile) -> Self {
        File::from_std(std)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("std", &self.state.std)
            .field("in_flight", &self.state.in_flight())
            .field("buffered_writes", &self.state.buffered_writes())
            .finish()
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

impl Drop for File {
    fn drop(&mut self) {
        if self.state.buffered_writes() == 0 {
            // A hop in flight runs on and lets go of the file when done.
            return;
        }
        if arbor_runtime::current_runtime_id().is_some() {
            let mut state = self.state.take();
            drop(arbor_runtime::spawn_named(
                "arbor::fs::File write on drop",
                async move {
                    // Errors have nobody to go to (the type's docs say so).
                    let _ = poll_fn(|cx| state.poll_flush(cx)).await;
                },
            ));
        } else if let Some(plan) = self.state.unwritten_plan() {
            let _ = plan.run();
        }
    }
}
