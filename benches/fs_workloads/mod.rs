//! The file workloads, written once per side and shared by the criterion
//! bench (`fs`) and the paired runner (`paired_fs`). tokio runs on its
//! current_thread runtime built as `#[tokio::main(flavor =
//! "current_thread")]` builds it (`enable_all`); both sides use their own
//! runtime's blocking pool.
//!
//! Every workload reads (or writes) one 64 MiB file in the system's temp
//! directory, made once per process (so reads come from the page cache):
//!
//! - `read`: `arbor::fs::read` against `tokio::fs::read`: one
//!   `std::fs::read` on a worker for both.
//! - `file_read_to_end`: `File::open` then `read_to_end` into an empty
//!   `Vec`. arbor's inherent `File::read_to_end` reads the rest in one
//!   hop; tokio's `AsyncReadExt::read_to_end` reads into the `Vec`'s
//!   growing spare capacity, a hop per read (up to 2 MiB each).
//! - `file_read_to_end_asyncread`: the same through arbor's `AsyncRead`
//!   impl (`futures_lite::AsyncReadExt::read_to_end`, which zero-fills and
//!   grows the `Vec` as it goes), against the same tokio side: what
//!   generic `futures-io` code gets.
//! - `file_read_8k`: a loop of 8 KiB reads into one buffer, as a parser
//!   or a copy loop reads: arbor serves them from its read-ahead (64 KiB
//!   growing to 2 MiB per hop); tokio's `File` makes a hop per read.
//! - `file_write_8k`: 8 KiB `write_all`s into a new file, then `flush`:
//!   arbor buffers 2 MiB per hop; tokio's `File` makes a hop per write.

#![allow(dead_code)] // each bench uses its own subset

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The size of the file every workload reads or writes.
pub const SIZE: usize = 64 * 1024 * 1024;
/// The buffer of the `_8k` workloads.
pub const CHUNK: usize = 8 * 1024;

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("arbor-bench-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("bench dir");
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("read"), data).expect("bench file");
        dir
    })
}

/// The 64 MiB file the read workloads read (made at first use).
pub fn read_path() -> PathBuf {
    dir().join("read")
}

/// The file the write workloads write.
pub fn write_path() -> PathBuf {
    dir().join("write")
}

/// Remove the files (at the end of a run).
pub fn cleanup() {
    let _ = std::fs::remove_dir_all(dir());
}

// Re-exported for the bench targets that glob-import this module.
#[allow(unused_imports)]
pub use crate::setup::tokio_rt;

fn check(len: usize) {
    assert_eq!(len, SIZE, "read the whole file");
}

pub async fn arbor_read() {
    check(arbor::fs::read(read_path()).await.expect("read").len());
}

pub async fn tokio_read() {
    check(tokio::fs::read(read_path()).await.expect("read").len());
}

pub async fn arbor_file_read_to_end() {
    let mut file = arbor::fs::File::open(read_path()).await.expect("open");
    let mut buf = Vec::new();
    check(file.read_to_end(&mut buf).await.expect("read"));
}

pub async fn arbor_file_read_to_end_asyncread() {
    let mut file = arbor::fs::File::open(read_path()).await.expect("open");
    let mut buf = Vec::new();
    let n = futures_lite::AsyncReadExt::read_to_end(&mut file, &mut buf)
        .await
        .expect("read");
    check(n);
}

pub async fn tokio_file_read_to_end() {
    let mut file = tokio::fs::File::open(read_path()).await.expect("open");
    let mut buf = Vec::new();
    check(
        tokio::io::AsyncReadExt::read_to_end(&mut file, &mut buf)
            .await
            .expect("read"),
    );
}

pub async fn arbor_file_read_8k() {
    let mut file = arbor::fs::File::open(read_path()).await.expect("open");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = file.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n;
    }
    check(total);
}

pub async fn tokio_file_read_8k() {
    let mut file = tokio::fs::File::open(read_path()).await.expect("open");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
            .await
            .expect("read");
        if n == 0 {
            break;
        }
        total += n;
    }
    check(total);
}

pub async fn arbor_file_write_8k() {
    let mut file = arbor::fs::File::create(write_path()).await.expect("create");
    let chunk = vec![7u8; CHUNK];
    for _ in 0..SIZE / CHUNK {
        file.write_all(&chunk).await.expect("write");
    }
    file.flush().await.expect("flush");
}

pub async fn tokio_file_write_8k() {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(write_path()).await.expect("create");
    let chunk = vec![7u8; CHUNK];
    for _ in 0..SIZE / CHUNK {
        file.write_all(&chunk).await.expect("write");
    }
    file.flush().await.expect("flush");
}
