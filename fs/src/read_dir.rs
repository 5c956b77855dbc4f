//! [`read_dir`]: a directory's entries, fetched in batches.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::poll_fn;
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::hop::{self, Hop, cancelled};
use arbor_runtime::scope::entry_checkpoint as checkpoint;

/// Entries fetched per thread hop (tokio fetches 32).
pub(crate) const BATCH: usize = 64;

/// One hop's worth: the entries, and the iterator if it is not done.
type Batch = (VecDeque<io::Result<DirEntry>>, Option<std::fs::ReadDir>);

/// Up to [`BATCH`] entries of `dir`, on a worker.
fn fetch(mut dir: std::fs::ReadDir) -> Batch {
    let mut entries = VecDeque::with_capacity(BATCH);
    for _ in 0..BATCH {
        match dir.next() {
            Some(entry) => entries.push_back(entry.map(DirEntry::from_std)),
            None => return (entries, None),
        }
    }
    (entries, Some(dir))
}

/// Open the directory at `path` and return its entries (std's
/// `fs::read_dir`), in no particular order and without `.` and `..`.
///
/// The first hop opens the directory and fetches the first batch of
/// entries; each later hop fetches the next batch (64 entries), so
/// listing a directory of `n` entries takes about `n / 64 + 1` hops.
///
/// ```
/// use futures_lite::StreamExt;
///
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-read-dir-{}", std::process::id()));
///     arbor_fs::create_dir_all(dir.join("sub")).await?;
///     arbor_fs::write(dir.join("a.txt"), b"a").await?;
///
///     let mut names = Vec::new();
///     let mut entries = arbor_fs::read_dir(&dir).await?;
///     while let Some(entry) = entries.next_entry().await? {
///         names.push(entry.file_name().into_string().unwrap());
///     }
///     names.sort();
///     assert_eq!(names, ["a.txt", "sub"]);
///
///     // Or as a `Stream` of `io::Result<DirEntry>`.
///     let count = arbor_fs::read_dir(&dir).await?.count().await;
///     assert_eq!(count, 2);
///     arbor_fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// std's `read_dir` errors, unchanged (`NotFound`, `NotADirectory`,
/// `PermissionDenied`, ...). Errors reading an entry are items of the
/// stream.
///
/// # Cancel safety
/// As every free function: a checkpoint at entry, then a shielded wait;
/// a call dropped anyway closes the directory it opened.
///
/// # Panics
/// Outside a runtime.
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let (entries, dir) = hop::run(move || std::fs::read_dir(path).map(fetch)).await?;
    Ok(ReadDir {
        entries,
        next: dir.map(Next::Idle),
    })
}

/// The entries of a directory ([`read_dir`]): a
/// [`Stream`] of `io::Result<DirEntry>`, or
/// [`next_entry`](ReadDir::next_entry) in a loop.
///
/// ```
/// use futures_lite::StreamExt;
///
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-read-dir-stream-{}", std::process::id()));
///     arbor_fs::create_dir_all(&dir).await?;
///     for name in ["x", "y", "z"] {
///         arbor_fs::write(dir.join(name), name).await?;
///     }
///     let mut entries = arbor_fs::read_dir(&dir).await?;
///     let mut names = Vec::new();
///     while let Some(entry) = entries.next().await {
///         names.push(entry?.file_name());
///     }
///     names.sort();
///     assert_eq!(names, ["x", "y", "z"]);
///     arbor_fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
///
/// Like a [`File`](crate::File), a `ReadDir` owns its hop in flight: a
/// `next_entry` (or `next`) dropped while a batch is being fetched loses
/// no entry; the next call returns them.
pub struct ReadDir {
    /// Fetched, not yet returned.
    entries: VecDeque<io::Result<DirEntry>>,
    /// The iterator, idle or at a worker; `None` once it is exhausted.
    next: Option<Next>,
}

enum Next {
    Idle(std::fs::ReadDir),
    Fetching(Hop<Batch>),
}

impl ReadDir {
    /// The next entry, or `None` after the last one.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-next-entry-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::write(dir.join("only"), b"1").await?;
    ///     let mut entries = arbor_fs::read_dir(&dir).await?;
    ///     let entry = entries.next_entry().await?.expect("one entry");
    ///     assert_eq!(entry.file_name(), "only");
    ///     assert!(entries.next_entry().await?.is_none()); // the end
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// An error reading an entry (std's; the listing may go on after it).
    ///
    /// # Cancel safety
    /// Dropping the future loses no entry: a batch being fetched is kept
    /// and returned by the next call.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        checkpoint().await;
        poll_fn(|cx| self.poll_next_entry(cx)).await.transpose()
    }

    /// Poll form of [`next_entry`](ReadDir::next_entry) (a cancel point;
    /// no schedule point when an entry is fetched already).
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-poll-next-entry-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::write(dir.join("polled"), b"1").await?;
    ///     let mut entries = arbor_fs::read_dir(&dir).await?;
    ///     let entry = poll_fn(|cx| entries.poll_next_entry(cx)).await.expect("one entry")?;
    ///     assert_eq!(entry.file_name(), "polled");
    ///     assert!(poll_fn(|cx| entries.poll_next_entry(cx)).await.is_none());
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<DirEntry>>> {
        if cancelled() {
            return Poll::Pending;
        }
        loop {
            if let Some(entry) = self.entries.pop_front() {
                return Poll::Ready(Some(entry));
            }
            match self.next.take() {
                None => return Poll::Ready(None),
                Some(Next::Idle(dir)) => {
                    self.next = Some(Next::Fetching(Hop::start(move || fetch(dir))));
                }
                Some(Next::Fetching(mut hop)) => match hop.poll(cx) {
                    Poll::Pending => {
                        self.next = Some(Next::Fetching(hop));
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok((entries, dir))) => {
                        self.entries = entries;
                        self.next = dir.map(Next::Idle);
                    }
                    // The runtime is shutting down: the listing ends with
                    // the error.
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                },
            }
        }
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_entry(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let fetched = self.entries.len();
        (fetched, self.next.is_none().then_some(fetched))
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir")
            .field("fetched", &self.entries.len())
            .field("done", &self.next.is_none())
            .finish()
    }
}

/// An entry of a [`ReadDir`]: its name and path without a system call,
/// its file type usually without one, its metadata on a worker.
///
/// ```
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-dir-entry-{}", std::process::id()));
///     arbor_fs::create_dir_all(dir.join("sub")).await?;
///     let mut entries = arbor_fs::read_dir(&dir).await?;
///     let entry = entries.next_entry().await?.expect("one entry");
///     assert_eq!(entry.file_name(), "sub");
///     assert_eq!(entry.path(), dir.join("sub"));
///     assert!(entry.file_type().await?.is_dir());
///     arbor_fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
    /// Read on the worker that fetched the entry (from the directory
    /// listing itself on most file systems).
    file_type: Option<FileType>,
}

impl DirEntry {
    /// On a worker: the file type, while we are there.
    fn from_std(std: std::fs::DirEntry) -> Self {
        DirEntry {
            file_type: std.file_type().ok(),
            std: Arc::new(std),
        }
    }

    /// The entry's full path: the directory's path joined with its name.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-dir-entry-path-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::write(dir.join("file.txt"), b"1").await?;
    ///     let entry = arbor_fs::read_dir(&dir).await?.next_entry().await?.expect("one entry");
    ///     assert_eq!(entry.path(), dir.join("file.txt"));
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name (no path).
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-dir-entry-file-name-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::write(dir.join("name.txt"), b"1").await?;
    ///     let entry = arbor_fs::read_dir(&dir).await?.next_entry().await?.expect("one entry");
    ///     assert_eq!(entry.file_name(), "name.txt");
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's inode number, from the listing.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    ///
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-dir-entry-ino-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::write(dir.join("file"), b"1").await?;
    ///     let entry = arbor_fs::read_dir(&dir).await?.next_entry().await?.expect("one entry");
    ///     assert_eq!(entry.ino(), arbor_fs::metadata(entry.path()).await?.ino());
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    pub fn ino(&self) -> u64 {
        self.std.ino()
    }

    /// The entry's metadata, without following a symlink (std's
    /// `DirEntry::metadata`), on a worker thread.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-dir-entry-metadata-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::write(dir.join("four"), b"1234").await?;
    ///     let entry = arbor_fs::read_dir(&dir).await?.next_entry().await?.expect("one entry");
    ///     let metadata = entry.metadata().await?;
    ///     assert!(metadata.is_file());
    ///     assert_eq!(metadata.len(), 4);
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's error, unchanged (`NotFound` if the entry was removed).
    ///
    /// # Cancel safety
    /// As the free functions: a checkpoint at entry, then a shielded
    /// wait.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.std.clone();
        hop::run(move || std.metadata()).await
    }

    /// The entry's file type, without following a symlink (std's
    /// `DirEntry::file_type`): known since the entry was fetched on most
    /// file systems (then no hop, and only a checkpoint); else on a
    /// worker thread.
    ///
    /// ```
    /// arbor_runtime::run(async {
    ///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-dir-entry-file-type-{}", std::process::id()));
    ///     arbor_fs::create_dir_all(&dir).await?;
    ///     arbor_fs::symlink("elsewhere", dir.join("link")).await?;
    ///     let entry = arbor_fs::read_dir(&dir).await?.next_entry().await?.expect("one entry");
    ///     assert!(entry.file_type().await?.is_symlink()); // not followed
    ///     arbor_fs::remove_dir_all(&dir).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's error, unchanged.
    ///
    /// # Cancel safety
    /// As [`metadata`](DirEntry::metadata).
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn file_type(&self) -> io::Result<FileType> {
        if let Some(file_type) = self.file_type {
            checkpoint().await;
            return Ok(file_type);
        }
        let std = self.std.clone();
        hop::run(move || std.file_type()).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path()).finish()
    }
}
