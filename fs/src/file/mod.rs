//! [`File`]: an open file whose reads, writes and seeks run on the
//! offload pool, batched through its own buffers.
//!
//! - `mod.rs`: the type, its rules (docs), opening, std conversions,
//!   metadata and syncs, and its drop;
//! - `rw.rs`: reads, writes and seeks, inherent and `futures-io`;
//! - `state.rs`: the buffers and the one hop in flight (who owns what);
//! - `plan.rs`: what a hop does on its worker.

mod plan;
mod rw;
mod state;

use std::fmt;
use std::fs::{File as StdFile, Metadata, Permissions};
use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::sync::Arc;

use plan::Action;
use state::{Outcome, State};

use crate::OpenOptions;
use crate::hop::{self};
use arbor_runtime::scope::entry_checkpoint as checkpoint;

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
/// (One caveat, for `AsyncSeek::poll_seek` only: see that impl.)
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-create-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"old and long").await?;
    ///     let mut file = File::create(&path).await?; // truncates
    ///     file.write_all(b"new").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"new");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-create-new-{}", std::process::id()));
    ///     let mut file = File::create_new(&path).await?;
    ///     file.write_all(b"mine").await?;
    ///     file.flush().await?;
    ///     let err = File::create_new(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    ///
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-options-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"a").await?;
    ///     let mut file = File::options().append(true).open(&path).await?;
    ///     file.write_all(b"b").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"ab");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use std::io::Seek;
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-into-std-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"written first").await?; // buffered
    ///     let mut std_file = file.into_std().await?; // written now
    ///     assert_eq!(std_file.stream_position()?, 13);
    ///     assert_eq!(std_file.metadata()?.len(), 13);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-metadata-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"12345").await?;
    ///     assert_eq!(file.metadata().await?.len(), 0); // still buffered
    ///     file.flush().await?;
    ///     assert_eq!(file.metadata().await?.len(), 5);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use std::fs::Permissions;
    /// use std::os::unix::fs::PermissionsExt;
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-set-permissions-{}", std::process::id()));
    ///     let file = File::create(&path).await?;
    ///     file.set_permissions(Permissions::from_mode(0o640)).await?;
    ///     assert_eq!(file.metadata().await?.permissions().mode() & 0o777, 0o640);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-try-clone-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     let mut twin = file.try_clone().await?;
    ///     file.write_all(b"one,").await?;
    ///     file.flush().await?;
    ///     twin.write_all(b"two").await?; // the shared cursor is after "one,"
    ///     twin.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"one,two");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-sync-all-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"durable").await?;
    ///     file.sync_all().await?; // written and on the device
    ///     assert_eq!(arbor_fs::read(&path).await?, b"durable");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-sync-data-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"data").await?;
    ///     file.sync_data().await?; // written and on the device
    ///     assert_eq!(arbor_fs::read(&path).await?, b"data");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
    /// ```
    /// use arbor_fs::File;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-file-set-len-{}", std::process::id()));
    ///     let mut file = File::create(&path).await?;
    ///     file.write_all(b"abcdef").await?;
    ///     file.set_len(3).await?; // the buffered bytes are written first
    ///     assert_eq!(arbor_fs::read(&path).await?, b"abc");
    ///     file.set_len(5).await?; // extended with zeros
    ///     assert_eq!(arbor_fs::read(&path).await?, b"abc\0\0");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
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
