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
/// ```
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-create-dir-{}", std::process::id()));
///     arbor_fs::create_dir(&dir).await?;
///     assert!(arbor_fs::metadata(&dir).await?.is_dir());
///     let again = arbor_fs::create_dir(&dir).await.unwrap_err();
///     assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
///     arbor_fs::remove_dir(&dir).await
/// })
/// .unwrap();
/// ```
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
/// ```
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-remove-file-{}", std::process::id()));
///     arbor_fs::write(&path, b"gone soon").await?;
///     arbor_fs::remove_file(&path).await?;
///     assert!(!arbor_fs::try_exists(&path).await?);
///     let again = arbor_fs::remove_file(&path).await.unwrap_err();
///     assert_eq!(again.kind(), std::io::ErrorKind::NotFound);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
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
/// ```
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-remove-dir-{}", std::process::id()));
///     arbor_fs::create_dir_all(dir.join("child")).await?;
///     assert!(arbor_fs::remove_dir(&dir).await.is_err()); // not empty
///     arbor_fs::remove_dir(dir.join("child")).await?;
///     arbor_fs::remove_dir(&dir).await?;
///     assert!(!arbor_fs::try_exists(&dir).await?);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
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
/// ```
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-remove-dir-all-{}", std::process::id()));
///     arbor_fs::create_dir_all(dir.join("a/b")).await?;
///     arbor_fs::write(dir.join("a/b/file"), b"x").await?;
///     arbor_fs::remove_dir_all(&dir).await?;
///     assert!(!arbor_fs::try_exists(&dir).await?);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
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
/// ```
/// arbor_runtime::run(async {
///     let (from, to) = (std::env::temp_dir().join(format!("arbor-fs-doc-copy-from-{}", std::process::id())), std::env::temp_dir().join(format!("arbor-fs-doc-copy-to-{}", std::process::id())));
///     arbor_fs::write(&from, b"copied").await?;
///     assert_eq!(arbor_fs::copy(&from, &to).await?, 6);
///     assert_eq!(arbor_fs::read(&to).await?, b"copied");
///     arbor_fs::remove_file(&from).await?;
///     arbor_fs::remove_file(&to).await
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
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    offload!(|from, to| std::fs::copy(from, to))
}

/// Make a hard link `link` to the file `original` (std's
/// `fs::hard_link`).
///
/// ```
/// use std::os::unix::fs::MetadataExt;
///
/// arbor_runtime::run(async {
///     let (original, link) = (std::env::temp_dir().join(format!("arbor-fs-doc-hard-link-original-{}", std::process::id())), std::env::temp_dir().join(format!("arbor-fs-doc-hard-link-link-{}", std::process::id())));
///     arbor_fs::write(&original, b"shared").await?;
///     arbor_fs::hard_link(&original, &link).await?;
///     assert_eq!(arbor_fs::metadata(&original).await?.nlink(), 2);
///     arbor_fs::remove_file(&original).await?;
///     assert_eq!(arbor_fs::read(&link).await?, b"shared"); // the data lives on
///     arbor_fs::remove_file(&link).await
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
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    offload!(|original, link| std::fs::hard_link(original, link))
}

/// Make a symbolic link `link` pointing to `original` (std's
/// `os::unix::fs::symlink`); `original` need not exist.
///
/// ```
/// arbor_runtime::run(async {
///     let (original, link) = (std::env::temp_dir().join(format!("arbor-fs-doc-symlink-original-{}", std::process::id())), std::env::temp_dir().join(format!("arbor-fs-doc-symlink-link-{}", std::process::id())));
///     arbor_fs::write(&original, b"target").await?;
///     arbor_fs::symlink(&original, &link).await?;
///     assert!(arbor_fs::symlink_metadata(&link).await?.file_type().is_symlink());
///     assert_eq!(arbor_fs::read(&link).await?, b"target"); // followed
///     arbor_fs::remove_file(&link).await?;
///     arbor_fs::remove_file(&original).await
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
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    offload!(|original, link| std::os::unix::fs::symlink(original, link))
}

/// The target a symbolic link points to, as stored (std's
/// `fs::read_link`).
///
/// ```
/// arbor_runtime::run(async {
///     let link = std::env::temp_dir().join(format!("arbor-fs-doc-read-link-{}", std::process::id()));
///     arbor_fs::symlink("nowhere/at/all", &link).await?; // need not exist
///     assert_eq!(arbor_fs::read_link(&link).await?, std::path::Path::new("nowhere/at/all"));
///     arbor_fs::remove_file(&link).await
/// })
/// .unwrap();
/// ```
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
/// ```
/// arbor_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("arbor-fs-doc-canonicalize-{}", std::process::id()));
///     arbor_fs::create_dir_all(dir.join("sub")).await?;
///     let roundabout = dir.join("sub").join("..").join(".").join("sub");
///     assert_eq!(arbor_fs::canonicalize(&roundabout).await?, arbor_fs::canonicalize(&dir).await?.join("sub"));
///     assert!(arbor_fs::canonicalize(dir.join("missing")).await.is_err());
///     arbor_fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
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
/// ```
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-metadata-{}", std::process::id()));
///     arbor_fs::write(&path, b"12345").await?;
///     let metadata = arbor_fs::metadata(&path).await?;
///     assert!(metadata.is_file());
///     assert_eq!(metadata.len(), 5);
///     arbor_fs::remove_file(&path).await
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
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    offload!(|path| std::fs::metadata(path))
}

/// The metadata of `path` itself, not following a final symlink (std's
/// `fs::symlink_metadata`).
///
/// ```
/// arbor_runtime::run(async {
///     let (original, link) = (std::env::temp_dir().join(format!("arbor-fs-doc-symlink-metadata-original-{}", std::process::id())), std::env::temp_dir().join(format!("arbor-fs-doc-symlink-metadata-link-{}", std::process::id())));
///     arbor_fs::write(&original, b"file").await?;
///     arbor_fs::symlink(&original, &link).await?;
///     assert!(arbor_fs::symlink_metadata(&link).await?.file_type().is_symlink());
///     assert!(arbor_fs::metadata(&link).await?.is_file()); // metadata follows it
///     arbor_fs::remove_file(&link).await?;
///     arbor_fs::remove_file(&original).await
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
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    offload!(|path| std::fs::symlink_metadata(path))
}

/// Change the permissions of `path` (std's `fs::set_permissions`,
/// following symlinks).
///
/// ```
/// use std::fs::Permissions;
/// use std::os::unix::fs::PermissionsExt;
///
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-set-permissions-{}", std::process::id()));
///     arbor_fs::write(&path, b"private").await?;
///     arbor_fs::set_permissions(&path, Permissions::from_mode(0o600)).await?;
///     assert_eq!(arbor_fs::metadata(&path).await?.permissions().mode() & 0o777, 0o600);
///     arbor_fs::remove_file(&path).await
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
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    offload!(|path| std::fs::set_permissions(path, perm))
}

/// Whether `path` exists, following symlinks (std's `fs::exists`):
/// `Ok(false)` for a missing path or a broken symlink, an error if it
/// cannot be told (a permission denied on the way, ...).
///
/// ```
/// arbor_runtime::run(async {
///     let (path, link) = (std::env::temp_dir().join(format!("arbor-fs-doc-try-exists-{}", std::process::id())), std::env::temp_dir().join(format!("arbor-fs-doc-try-exists-link-{}", std::process::id())));
///     assert!(!arbor_fs::try_exists(&path).await?);
///     arbor_fs::write(&path, b"here").await?;
///     assert!(arbor_fs::try_exists(&path).await?);
///     arbor_fs::symlink(&path, &link).await?;
///     arbor_fs::remove_file(&path).await?;
///     assert!(!arbor_fs::try_exists(&link).await?); // a broken symlink
///     arbor_fs::remove_file(&link).await
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
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    offload!(|path| std::fs::exists(path))
}
