//! The free functions and `read_dir`: round trips against std, one hop
//! each, std's errors unchanged, batched listings, and the entry
//! checkpoint (nothing starts in a cancelled scope).

mod common;

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt;

use arbor_fs as fs;
use arbor_nursery::CancelScope;
use common::{TempDir, hops};
use futures_lite::StreamExt;

#[test]
fn write_read_and_read_to_string_round_trip_in_one_hop_each() {
    let dir = TempDir::new("round-trip");
    let path = dir.join("f");
    arbor_runtime::run(async {
        let before = hops();
        fs::write(&path, b"hello").await.unwrap();
        assert_eq!(hops() - before, 1);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");

        let before = hops();
        assert_eq!(fs::read(&path).await.unwrap(), b"hello");
        assert_eq!(fs::read_to_string(&path).await.unwrap(), "hello");
        assert_eq!(hops() - before, 2);

        fs::write(&path, vec![0xff, 0xfe]).await.unwrap();
        let err = fs::read_to_string(&path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    });
}

#[test]
fn a_large_file_is_read_in_one_hop() {
    let dir = TempDir::new("large-read");
    let path = dir.join("big");
    let data = common::pattern(6 * 1024 * 1024 + 7);
    std::fs::write(&path, &data).unwrap();
    arbor_runtime::run(async {
        let before = hops();
        let read = fs::read(&path).await.unwrap();
        assert_eq!(hops() - before, 1, "one std::fs::read, not a hop per chunk");
        assert!(read == data, "the bytes differ");
    });
}

#[test]
fn directories_are_created_listed_and_removed() {
    let dir = TempDir::new("dirs");
    arbor_runtime::run(async {
        fs::create_dir(dir.join("a")).await.unwrap();
        fs::create_dir_all(dir.join("b/c/d")).await.unwrap();
        fs::create_dir_all(dir.join("b/c/d")).await.unwrap(); // exists: fine
        assert!(std::fs::metadata(dir.join("b/c/d")).unwrap().is_dir());
        let err = fs::create_dir(dir.join("a")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

        fs::write(dir.join("a/f"), b"x").await.unwrap();
        let err = fs::remove_dir(dir.join("a")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::DirectoryNotEmpty);
        fs::remove_file(dir.join("a/f")).await.unwrap();
        fs::remove_dir(dir.join("a")).await.unwrap();
        assert!(!dir.join("a").exists());

        fs::remove_dir_all(dir.join("b")).await.unwrap();
        assert!(!dir.join("b").exists());
    });
}

#[test]
fn rename_copy_and_links_round_trip() {
    let dir = TempDir::new("links");
    arbor_runtime::run(async {
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        fs::write(&a, b"contents").await.unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();

        assert_eq!(fs::copy(&a, &b).await.unwrap(), 8);
        assert_eq!(std::fs::read(&b).unwrap(), b"contents");
        let mode = std::fs::metadata(&b).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "copy copies the permissions");

        fs::rename(&b, &c).await.unwrap();
        assert!(!b.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"contents");

        let hard = dir.join("hard");
        fs::hard_link(&a, &hard).await.unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&a).unwrap().nlink(), 2);

        let soft = dir.join("soft");
        fs::symlink(&a, &soft).await.unwrap();
        assert_eq!(fs::read_link(&soft).await.unwrap(), a);
        assert!(
            fs::symlink_metadata(&soft)
                .await
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(fs::metadata(&soft).await.unwrap().is_file());
        assert_eq!(
            fs::canonicalize(&soft).await.unwrap(),
            std::fs::canonicalize(&a).unwrap()
        );
        let err = fs::read_link(&a).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn metadata_permissions_and_existence() {
    let dir = TempDir::new("meta");
    arbor_runtime::run(async {
        let path = dir.join("f");
        assert!(!fs::try_exists(&path).await.unwrap());
        fs::write(&path, b"12345").await.unwrap();
        assert!(fs::try_exists(&path).await.unwrap());
        let meta = fs::metadata(&path).await.unwrap();
        assert_eq!(meta.len(), 5);
        assert!(meta.is_file());

        fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // A broken symlink does not exist (std's `fs::exists`).
        let broken = dir.join("broken");
        std::os::unix::fs::symlink(dir.join("nowhere"), &broken).unwrap();
        assert!(!fs::try_exists(&broken).await.unwrap());
    });
}

#[test]
fn errors_are_std_errors_unchanged() {
    let dir = TempDir::new("errors");
    let missing = dir.join("missing");
    arbor_runtime::run(async {
        let ours = fs::read(&missing).await.unwrap_err();
        let std = std::fs::read(&missing).unwrap_err();
        assert_eq!(ours.kind(), io::ErrorKind::NotFound);
        assert_eq!(ours.raw_os_error(), std.raw_os_error());
        assert_eq!(
            ours.to_string(),
            std.to_string(),
            "no path added, nothing invented"
        );

        let ours = fs::read_dir(&missing).await.unwrap_err();
        assert_eq!(ours.kind(), io::ErrorKind::NotFound);
        let ours = fs::remove_file(&missing).await.unwrap_err();
        assert_eq!(ours.kind(), io::ErrorKind::NotFound);
        let ours = arbor_fs::File::open(&missing).await.unwrap_err();
        assert_eq!(
            ours.to_string(),
            std::fs::File::open(&missing).unwrap_err().to_string()
        );
    });
}

#[test]
fn read_dir_lists_every_entry_once_in_batches() {
    let dir = TempDir::new("read-dir");
    let n = 3 * fs::READ_DIR_BATCH + 5;
    let mut expected = BTreeSet::new();
    for i in 0..n {
        let name = format!("entry-{i}");
        if i % 10 == 0 {
            std::fs::create_dir(dir.join(&name)).unwrap();
        } else {
            std::fs::write(dir.join(&name), b"").unwrap();
        }
        expected.insert(name);
    }
    arbor_runtime::run(async {
        let before = hops();
        let mut entries = fs::read_dir(dir.path()).await.unwrap();
        let mut seen = BTreeSet::new();
        while let Some(entry) = entries.next_entry().await.unwrap() {
            let name = entry.file_name().into_string().unwrap();
            assert_eq!(entry.path(), dir.join(&name));
            let is_dir = entry.file_type().await.unwrap().is_dir();
            assert_eq!(is_dir, name.ends_with('0'), "{name}");
            assert!(seen.insert(name), "an entry came twice");
        }
        assert_eq!(seen, expected);
        assert!(entries.next_entry().await.unwrap().is_none(), "stays done");
        // The open and first batch in one hop, then one hop per batch;
        // `file_type` came with the batch (no hop).
        let batches = n.div_ceil(fs::READ_DIR_BATCH) as u64;
        assert_eq!(hops() - before, batches);

        // The same as a Stream.
        let names: BTreeSet<String> = fs::read_dir(dir.path())
            .await
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
            .await;
        assert_eq!(names, expected);
    });
}

#[test]
fn dir_entry_metadata_comes_from_a_worker() {
    let dir = TempDir::new("entry-meta");
    std::fs::write(dir.join("f"), b"abc").unwrap();
    arbor_runtime::run(async {
        let mut entries = fs::read_dir(dir.path()).await.unwrap();
        let entry = entries.next_entry().await.unwrap().unwrap();
        let before = hops();
        let meta = entry.metadata().await.unwrap();
        assert_eq!(hops() - before, 1);
        assert_eq!(meta.len(), 3);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(entry.ino(), meta.ino());
        assert!(entries.next_entry().await.unwrap().is_none());
    });
}

#[test]
fn a_dropped_next_entry_loses_no_entry() {
    let dir = TempDir::new("read-dir-drop");
    let n = 2 * fs::READ_DIR_BATCH + 3;
    for i in 0..n {
        std::fs::write(dir.join(&format!("e{i}")), b"").unwrap();
    }
    arbor_runtime::run(async {
        let mut entries = fs::read_dir(dir.path()).await.unwrap();
        let mut seen = BTreeSet::new();
        let mut dropped = 0;
        loop {
            // Poll each call once and drop it: a batch fetch in flight
            // stays with the ReadDir.
            let mut next = Box::pin(entries.next());
            match futures_lite::future::poll_once(&mut next).await {
                Some(Some(entry)) => assert!(seen.insert(entry.unwrap().file_name())),
                Some(None) => break,
                None => {
                    dropped += 1;
                    drop(next);
                    arbor_runtime::yield_now().await;
                }
            }
        }
        assert_eq!(seen.len(), n);
        assert!(dropped >= 2, "a fetch was in flight at each batch boundary");
    });
}

#[test]
fn nothing_starts_in_a_cancelled_scope() {
    let dir = TempDir::new("cancelled");
    arbor_runtime::run(async {
        let scope = CancelScope::new();
        scope.cancel();
        let before = hops();
        let made = scope.run(fs::create_dir(dir.join("never"))).await;
        assert!(made.is_err() && scope.cancelled_caught());
        let wrote = CancelScope::new();
        wrote.cancel();
        assert!(
            wrote
                .run(fs::write(dir.join("never.txt"), b"x"))
                .await
                .is_err()
        );
        let listed = CancelScope::new();
        listed.cancel();
        assert!(listed.run(fs::read_dir(dir.path())).await.is_err());
        assert_eq!(hops(), before, "no system call was started");
        assert!(!dir.join("never").exists());
        assert!(!dir.join("never.txt").exists());
    });
}

#[test]
fn a_started_call_returns_its_result_when_cancelled_while_it_runs() {
    let dir = TempDir::new("shielded");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    arbor_runtime::run(async {
        let got = std::cell::RefCell::new(Vec::new());
        let scope = CancelScope::new();
        let handle = scope.handle();
        let before = hops();
        let _ = scope
            .run(async {
                let read = async {
                    // Blocks in `open` until a writer opens the FIFO.
                    let data = fs::read(&fifo).await.unwrap();
                    got.borrow_mut().push(data); // no checkpoint since the call
                };
                let cancel = async {
                    while hops() == before {
                        arbor_runtime::yield_now().await;
                    }
                    // The read is blocked on its worker: cancel, then let
                    // it finish.
                    handle.cancel();
                    let fifo = fifo.clone();
                    std::thread::spawn(move || std::fs::write(fifo, b"late").unwrap());
                };
                futures_lite::future::zip(read, cancel).await
            })
            .await;
        assert!(scope.cancel_called());
        // The cancellation waited for the call, which returned its value.
        assert_eq!(got.into_inner(), [b"late".to_vec()]);
    });
}

#[test]
fn file_operations_share_the_default_thread_limiter() {
    let dir = TempDir::new("limiter");
    let path = dir.join("f");
    std::fs::write(&path, b"limited").unwrap();
    arbor_runtime::run(async {
        let limiter = arbor_primitives::to_thread::current_default_thread_limiter();
        limiter.set_total_tokens(1);
        let held = limiter.acquire().await.unwrap();
        let before = hops();
        let read = arbor_runtime::spawn({
            let path = path.clone();
            async move { fs::read(path).await.unwrap() }
        });
        for _ in 0..50 {
            arbor_runtime::yield_now().await;
        }
        assert!(!read.is_finished());
        assert_eq!(hops(), before, "waits for the token before its hop");
        drop(held);
        assert_eq!(read.await.unwrap(), b"limited");
        assert_eq!(limiter.borrowed_tokens(), 0);
    });
}
