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
    pub fn new() -> Self {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.0.read(read);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.0.write(write);
        self
    }

    /// Open for appending: every write goes to the end of the file
    /// (`O_APPEND`), whatever the cursor.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.0.append(append);
        self
    }

    /// Truncate the file to length 0 when it is opened (needs `write`).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.0.truncate(truncate);
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.0.create(create);
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists
    /// (atomically: `O_CREAT | O_EXCL`); `create` and `truncate` are then
    /// ignored.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.0.create_new(create_new);
        self
    }

    /// The permission bits a created file gets, before the umask
    /// (std's `OpenOptionsExt::mode`; default `0o666`).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.0.mode(mode);
        self
    }

    /// Extra `open(2)` flags (std's `OpenOptionsExt::custom_flags`), such
    /// as `O_NOFOLLOW`; the access mode bits are ignored.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.0.custom_flags(flags);
        self
    }

    /// Open `path` with these options, on a worker thread.
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
