//! The free functions: each is one std call on a worker thread, in one
//! hop, under the default thread limiter.

use std::fs::{Metadata, Permissions};
use std::io;
use std::path::{Path, PathBuf};

use crate::hop;

/// Run std's `$call` on the owned `$path`s in one hop.
macro_rules! offload {
    (|$($p:ident),*| $call:expr) => {{
        $(let $p = $p.as_ref().to_owned();)*
        hop::run(move || $call).await
    }};
}

/// Read the whole file at `path` (std's `fs::read`): one `read_to_end`,
/// sized from the file's length, in one hop.
///
/// ```
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-read-{}", std::process::id()));
///     arbor_fs::write(&path, [1u8, 2, 3]).await?;
///     assert_eq!(arbor_fs::read(&path).await?, [1, 2, 3]);
///     arbor_fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// std's errors, unchanged (`NotFound`, `PermissionDenied`, ...).
///
/// # Cancel safety
/// Entry is a checkpoint: in a cancelled scope the file is never opened.
/// Once the call has started, the wait is shielded (as
/// `to_thread::run_sync`'s): an enclosing cancellation waits for it, the
/// result is returned, and the cancellation lands at the next checkpoint.
/// The same holds for every free function of this crate.
///
/// # Panics
/// Outside a runtime.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    offload!(|path| std::fs::read(path))
}

/// Read the whole file at `path` as UTF-8 (std's `fs::read_to_string`),
/// in one hop.
///
/// ```
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-read-string-{}", std::process::id()));
///     arbor_fs::write(&path, "héllo").await?;
///     assert_eq!(arbor_fs::read_to_string(&path).await?, "héllo");
///     arbor_fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// std's errors, unchanged; `InvalidData` if the file is not UTF-8.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    offload!(|path| std::fs::read_to_string(path))
}

/// Create or truncate the file at `path` and write all of `contents` to
/// it (std's `fs::write`), in one hop. `contents` is copied first (the
/// worker needs its own).
///
/// ```
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-write-{}", std::process::id()));
///     arbor_fs::write(&path, b"first").await?;
///     arbor_fs::write(&path, b"second").await?; // replaces
///     assert_eq!(arbor_fs::read(&path).await?, b"second");
///     arbor_fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`]: a call in a cancelled scope writes nothing; one that has
/// started writes everything (or fails) and returns.
///
/// # Panics
/// Outside a runtime.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_owned();
    offload!(|path| std::fs::write(path, contents))
}

/// Create a directory (std's `fs::create_dir`); its parent must exist.
///
/// # Errors
/// std's errors, unchanged (`AlreadyExists`, `NotFound` for a missing
/// parent, ...).
///
/// # Cancel safety
/// As [`read`]: in a cancelled scope no directory is created.
///
/// # Panics
/// Outside a runtime.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    offload!(|path| std::fs::create_dir(path))
}

/// Create a directory and any missing parents (std's
/// `fs::create_dir_all`), in one hop; a directory that exists already is
/// not an error.
///
/// ```
/// arbor_runtime::run(async {
///     let root = std::env::temp_dir().join(format!("arbor-fs-doc-mkdirs-{}", std::process::id()));
///     arbor_fs::create_dir_all(root.join("a/b/c")).await?;
///     assert!(arbor_fs::metadata(root.join("a/b/c")).await?.is_dir());
///     arbor_fs::remove_dir_all(&root).await
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    offload!(|path| std::fs::create_dir_all(path))
}

/// Remove a file or a symlink (std's `fs::remove_file`).
///
/// # Errors
/// std's errors, unchanged (`NotFound`, `IsADirectory`, ...).
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    offload!(|path| std::fs::remove_file(path))
}

/// Remove an empty directory (std's `fs::remove_dir`).
///
/// # Errors
/// std's errors, unchanged (`DirectoryNotEmpty`, `NotFound`, ...).
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    offload!(|path| std::fs::remove_dir(path))
}

/// Remove a directory and everything in it (std's `fs::remove_dir_all`,
/// which does not follow symlinks), in one hop.
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`]: once started, the whole tree is removed (or the call
/// fails) before it returns.
///
/// # Panics
/// Outside a runtime.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    offload!(|path| std::fs::remove_dir_all(path))
}

/// Rename `from` to `to`, replacing `to` if it is a file (std's
/// `fs::rename`: `rename(2)`, atomic within a file system).
///
/// ```
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir();
///     let (a, b) = (dir.join(format!("arbor-fs-doc-rename-a-{}", std::process::id())), dir.join(format!("arbor-fs-doc-rename-b-{}", std::process::id())));
///     arbor_fs::write(&a, b"moved").await?;
///     arbor_fs::rename(&a, &b).await?;
///     assert!(!arbor_fs::try_exists(&a).await?);
///     assert_eq!(arbor_fs::read(&b).await?, b"moved");
///     arbor_fs::remove_file(&b).await
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// std's errors, unchanged (`CrossesDevices` across file systems, ...).
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    offload!(|from, to| std::fs::rename(from, to))
}

/// Copy the contents and permissions of the file `from` to `to`,
/// creating or truncating it (std's `fs::copy`, which uses
/// `copy_file_range` where it can), in one hop; returns the bytes copied.
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    offload!(|from, to| std::fs::copy(from, to))
}

/// Make a hard link `link` to the file `original` (std's
/// `fs::hard_link`).
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    offload!(|original, link| std::fs::hard_link(original, link))
}

/// Make a symbolic link `link` pointing to `original` (std's
/// `os::unix::fs::symlink`); `original` need not exist.
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    offload!(|original, link| std::os::unix::fs::symlink(original, link))
}

/// The target a symbolic link points to, as stored (std's
/// `fs::read_link`).
///
/// # Errors
/// std's errors, unchanged (`InvalidInput` if `path` is not a symlink).
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    offload!(|path| std::fs::read_link(path))
}

/// The absolute path with every symlink, `.` and `..` resolved (std's
/// `fs::canonicalize`).
///
/// # Errors
/// std's errors, unchanged (`NotFound` if the path does not exist).
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    offload!(|path| std::fs::canonicalize(path))
}

/// The metadata of `path`, following symlinks (std's `fs::metadata`).
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    offload!(|path| std::fs::metadata(path))
}

/// The metadata of `path` itself, not following a final symlink (std's
/// `fs::symlink_metadata`).
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    offload!(|path| std::fs::symlink_metadata(path))
}

/// Change the permissions of `path` (std's `fs::set_permissions`,
/// following symlinks).
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    offload!(|path| std::fs::set_permissions(path, perm))
}

/// Whether `path` exists, following symlinks (std's `fs::exists`):
/// `Ok(false)` for a missing path or a broken symlink, an error if it
/// cannot be told (a permission denied on the way, ...).
///
/// # Errors
/// std's errors, unchanged.
///
/// # Cancel safety
/// As [`read`].
///
/// # Panics
/// Outside a runtime.
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    offload!(|path| std::fs::exists(path))
}
