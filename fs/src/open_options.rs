//! [`OpenOptions`]: std's builder, opening on a worker thread.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::File;
use crate::hop;

/// How to open a file: std's [`OpenOptions`](std::fs::OpenOptions), with
/// an async [`open`](OpenOptions::open) that runs on the offload pool.
///
/// ```
/// use arbor_fs::OpenOptions;
///
/// arbor_runtime::run(async {
///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-{}", std::process::id()));
///     let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).await?;
///     file.write_all(b"first line\n").await?;
///     file.flush().await?;
///     drop(file);
///     let mut file = OpenOptions::new().append(true).open(&path).await?;
///     file.write_all(b"second line\n").await?;
///     file.flush().await?;
///     assert_eq!(arbor_fs::read_to_string(&path).await?, "first line\nsecond line\n");
///     arbor_fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// All options off (std's `OpenOptions::new`): set at least `read`,
    /// `write` or `append` before opening.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-new-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"x").await?;
    ///     // No access mode set: std refuses.
    ///     let err = OpenOptions::new().open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    ///     assert!(OpenOptions::new().read(true).open(&path).await.is_ok());
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn new() -> Self {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Open for reading.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-read-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"readable").await?;
    ///     let mut file = OpenOptions::new().read(true).open(&path).await?;
    ///     let mut text = String::new();
    ///     file.read_to_string(&mut text).await?;
    ///     assert_eq!(text, "readable");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.0.read(read);
        self
    }

    /// Open for writing.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-write-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"hello").await?;
    ///     let mut file = OpenOptions::new().write(true).open(&path).await?; // no truncation
    ///     file.write_all(b"J").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"Jello");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.0.write(write);
        self
    }

    /// Open for appending: every write goes to the end of the file
    /// (`O_APPEND`), whatever the cursor.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-append-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"one,").await?;
    ///     let mut file = OpenOptions::new().append(true).open(&path).await?;
    ///     file.write_all(b"two").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"one,two");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.0.append(append);
        self
    }

    /// Truncate the file to length 0 when it is opened (needs `write`).
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-truncate-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"old contents").await?;
    ///     let mut file = OpenOptions::new().write(true).truncate(true).open(&path).await?;
    ///     assert_eq!(file.metadata().await?.len(), 0);
    ///     file.write_all(b"new").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"new");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.0.truncate(truncate);
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-create-{}", std::process::id()));
    ///     assert!(OpenOptions::new().write(true).open(&path).await.is_err()); // missing
    ///     let mut file = OpenOptions::new().write(true).create(true).open(&path).await?;
    ///     file.write_all(b"created").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"created");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.0.create(create);
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists
    /// (atomically: `O_CREAT | O_EXCL`); `create` and `truncate` are then
    /// ignored.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-create-new-{}", std::process::id()));
    ///     OpenOptions::new().write(true).create_new(true).open(&path).await?;
    ///     let err = OpenOptions::new().write(true).create_new(true).open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.0.create_new(create_new);
        self
    }

    /// The permission bits a created file gets, before the umask
    /// (std's `OpenOptionsExt::mode`; default `0o666`).
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-mode-{}", std::process::id()));
    ///     OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).await?;
    ///     let mode = arbor_fs::metadata(&path).await?.permissions().mode();
    ///     assert_eq!(mode & 0o777, 0o600); // a umask only clears bits
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.0.mode(mode);
        self
    }

    /// Extra `open(2)` flags (std's `OpenOptionsExt::custom_flags`), such
    /// as `O_NOFOLLOW`; the access mode bits are ignored.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-custom-flags-{}", std::process::id()));
    ///     arbor_fs::write(&path, b"start,").await?;
    ///     const O_APPEND: i32 = 0o2000; // Linux's value
    ///     let mut file = OpenOptions::new().write(true).custom_flags(O_APPEND).open(&path).await?;
    ///     file.write_all(b"end").await?;
    ///     file.flush().await?;
    ///     assert_eq!(arbor_fs::read(&path).await?, b"start,end");
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.0.custom_flags(flags);
        self
    }

    /// Open `path` with these options, on a worker thread.
    ///
    /// ```
    /// use arbor_fs::OpenOptions;
    ///
    /// arbor_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("arbor-fs-doc-options-open-{}", std::process::id()));
    ///     let err = OpenOptions::new().read(true).open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    ///     let mut file = OpenOptions::new().read(true).write(true).create(true).open(&path).await?;
    ///     file.write_all(b"opened").await?;
    ///     file.flush().await?;
    ///     assert_eq!(file.metadata().await?.len(), 6);
    ///     arbor_fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// std's `open` errors, unchanged (`NotFound`, `PermissionDenied`,
    /// `AlreadyExists` with `create_new`, `InvalidInput` for a
    /// contradictory set of options, ...).
    ///
    /// # Cancel safety
    /// As every free function of this crate: entry is a checkpoint (in a
    /// cancelled scope the file is never opened); once the `open` has
    /// started, the wait is shielded and the opened file is returned. A
    /// call dropped anyway (its task aborted) closes the file it opened.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let options = self.0.clone();
        let path = path.as_ref().to_owned();
        let std = hop::run(move || options.open(path)).await?;
        Ok(File::from_std(std))
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    /// Use options built with std's builder (and its extension traits).
    fn from(options: std::fs::OpenOptions) -> Self {
        OpenOptions(options)
    }
}
