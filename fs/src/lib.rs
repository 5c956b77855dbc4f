//! File system operations for arbor (crate `arbor-fs`, re-exported as
//! `arbor::fs`): files, directories and paths, like `tokio::fs` and
//! AnyIO's `open_file` and `Path`.
//!
//! Linux has no usable non-blocking file I/O short of io_uring, so every
//! operation here runs its system calls on a worker thread of the
//! runtime's offload pool, as
//! [`to_thread::run_sync`](arbor_primitives::to_thread::run_sync) does,
//! while the runtime thread runs other tasks.
//!
//! - Free functions, one std call each: [`read`], [`read_to_string`],
//!   [`write()`], [`read_dir`], [`create_dir`], [`create_dir_all`],
//!   [`remove_file`], [`remove_dir`], [`remove_dir_all`], [`rename`],
//!   [`copy`], [`hard_link`], [`symlink`], [`read_link`],
//!   [`canonicalize`], [`metadata`], [`symlink_metadata`],
//!   [`set_permissions`], [`try_exists`].
//! - [`File`] and [`OpenOptions`]: an open file with async reads,
//!   writes and seeks (inherent methods and the `futures-io` traits).
//! - [`ReadDir`] and [`DirEntry`]: a directory listing, a `Stream`.
//!
//! ```
//! use arbor_fs::{self as fs, File};
//!
//! arbor_runtime::run(async {
//!     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-crate-{}", std::process::id()));
//!     fs::create_dir_all(&dir).await?;
//!     let path = dir.join("notes.txt");
//!
//!     let mut file = File::create(&path).await?;
//!     for i in 0..1000 {
//!         file.write_all(format!("line {i}\n").as_bytes()).await?; // copied, not a hop each
//!     }
//!     file.flush().await?; // one hop wrote them all
//!     drop(file);
//!
//!     let text = fs::read_to_string(&path).await?; // one hop
//!     assert_eq!(text.lines().count(), 1000);
//!     fs::remove_dir_all(&dir).await
//! })
//! .unwrap();
//! ```
//!
//! # Rules
//!
//! 1. **One hop per call, under the default thread limiter.** Each
//!    operation is one trip to a worker (`read` is one `std::fs::read`,
//!    never a hop per chunk), which borrows a token of the runtime's
//!    [`current_default_thread_limiter`](arbor_primitives::to_thread::current_default_thread_limiter)
//!    while it runs: files share the limiter's 40 tokens with
//!    `to_thread` (trio's behaviour), so lowering its total bounds the
//!    file operations running at once too.
//! 2. **Entry is a checkpoint.** Every async function and method is a
//!    cancel point and a schedule point before its system call starts:
//!    one called inside a cancelled scope never starts it (a
//!    `create_dir` there creates nothing) and is dropped by the scope,
//!    as `to_thread::run_sync` is.
//! 3. **Free functions wait shielded** (trio's `abandon_on_cancel=False`,
//!    as `to_thread::run_sync`): a cancellation that arrives while the
//!    call runs waits for it, the call returns its result (so you know
//!    whether the file was written or renamed), and the cancellation
//!    lands at the next checkpoint. The same goes for [`File::open`],
//!    [`File::metadata`], [`File::try_clone`], [`File::set_permissions`]
//!    and [`DirEntry::metadata`].
//! 4. **A [`File`] or [`ReadDir`] owns its operation in flight, not the
//!    future.** Their reads, writes, seeks, flushes and syncs are plain
//!    cancel points: a cancelled scope drops the future at once. The
//!    blocking call keeps running (a thread cannot be stopped) and the
//!    `File` keeps its result: bytes read are handed to the next read,
//!    bytes a write accepted are written, a seek takes effect, the
//!    position is never lost, and an error nobody waited for is reported
//!    by the next write, flush or sync. The next operation on the `File`
//!    first waits for the one in flight. See [`File`]'s "Dropped
//!    operations".
//! 5. **Batching.** A `File` reads ahead (64 KiB growing to 2 MiB per
//!    hop) and buffers writes (2 MiB per hop, double-buffered), so a
//!    loop of small reads or writes makes few hops; positions stay exact.
//!    A `ReadDir` fetches 64 entries per hop. See [`File`]'s "Batching".
//! 6. **Errors are std's**, unchanged (no path is added to the message,
//!    as in std and tokio).
//!
//! A panic in the blocking call (there is none in std's file functions
//! short of an allocation failure) is re-raised in the caller.
//! [`arbor_runtime::blocking::stats`] counts the hops
//! ([`submitted`](arbor_runtime::blocking::PoolStats::submitted)).

#![warn(missing_docs)]

mod file;
mod hop;
mod open_options;
mod ops;
mod read_dir;

pub use file::File;
pub use open_options::OpenOptions;
pub use ops::{
    canonicalize, copy, create_dir, create_dir_all, hard_link, metadata, read, read_link,
    read_to_string, remove_dir, remove_dir_all, remove_file, rename, set_permissions, symlink,
    symlink_metadata, try_exists, write,
};
pub use read_dir::{DirEntry, ReadDir, read_dir};

/// How much a [`File`] reads ahead at most per hop, and how many written
/// bytes it buffers before a hop writes them: 2 MiB.
///
/// ```
/// assert_eq!(arbor_fs::MAX_BUF_SIZE, 2 * 1024 * 1024);
/// ```
pub const MAX_BUF_SIZE: usize = file::MAX_BUF;

/// A [`File`]'s first read-ahead (64 KiB); it doubles with each read that
/// fills it, up to [`MAX_BUF_SIZE`].
///
/// ```
/// assert_eq!(arbor_fs::FIRST_READ_AHEAD, 64 * 1024);
/// assert!(arbor_fs::FIRST_READ_AHEAD <= arbor_fs::MAX_BUF_SIZE);
/// ```
pub const FIRST_READ_AHEAD: usize = file::FIRST_READ;

/// Entries a [`ReadDir`] fetches per hop: 64.
///
/// ```
/// assert_eq!(arbor_fs::READ_DIR_BATCH, 64);
/// ```
pub const READ_DIR_BATCH: usize = read_dir::BATCH;
