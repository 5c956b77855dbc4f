//! Shared helpers of the `arbor-fs` tests: temporary directories, hop
//! counts, bounded waits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Long enough never to run out in a passing run; a failing one ends.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A fresh directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("arbor-fs-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Jobs the runtime's blocking pool has taken so far (thread hops).
pub fn hops() -> u64 {
    arbor_runtime::blocking::stats().submitted
}

/// `len` bytes that differ from their neighbours (a position mix-up shows).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Await `cond`, letting the runtime run meanwhile; fail after PATIENCE.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        arbor_runtime::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A pipe as two `std::fs::File`s: reads of the first block until the
/// second writes (a worker busy for as long as the test likes).
pub fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w) = std::io::pipe().unwrap();
    (
        std::fs::File::from(std::os::fd::OwnedFd::from(r)),
        std::fs::File::from(std::os::fd::OwnedFd::from(w)),
    )
}
