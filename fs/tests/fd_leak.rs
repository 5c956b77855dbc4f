//! No file descriptor is leaked by files opened, dropped mid-operation,
//! dropped with buffered writes, or listings dropped half-way. Only the
//! descriptors of the test's own directory are counted: a runtime's
//! eventfd may outlive it for a moment (a worker thread drops its last
//! waker after the job ends), which is not this crate's business.

mod common;

use std::path::Path;

use arbor_fs::{self as fs, File};
use common::{TempDir, eventually, pattern};
use futures_lite::future::poll_once;

/// Descriptors open on `dir` or a file in it.
fn fds_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn files_and_listings_close_their_descriptors() {
    let dir = TempDir::new("fd-leak");
    for i in 0..100 {
        std::fs::write(dir.join(&format!("f{i}")), pattern(100_000)).unwrap();
    }
    assert_eq!(fds_under(dir.path()), 0);
    for _ in 0..5 {
        arbor_runtime::run(async {
            for i in 0..100 {
                let path = dir.join(&format!("f{i}"));
                let mut file = File::open(&path).await.unwrap();
                let mut buf = [0u8; 10];
                match i % 4 {
                    0 => {}
                    1 => file.read_exact(&mut buf).await.unwrap(),
                    // A read in flight when the file is dropped.
                    2 => drop(poll_once(file.read(&mut buf)).await),
                    _ => {
                        let mut w = File::create(dir.join(&format!("w{i}"))).await.unwrap();
                        w.write_all(b"buffered at drop").await.unwrap();
                    }
                }
            }
            let mut listing = fs::read_dir(dir.path()).await.unwrap();
            let _ = listing.next_entry().await.unwrap();
            drop(listing);
            let clone = File::open(dir.join("f0"))
                .await
                .unwrap()
                .try_clone()
                .await
                .unwrap();
            drop(clone);
            // Background hops and drop-time writes finish on their own.
            eventually("every descriptor is closed", || fds_under(dir.path()) == 0).await;
        });
    }
    assert_eq!(fds_under(dir.path()), 0);
}
