//! `File`: round trips, exact positions with read-ahead and buffered
//! writes, batching (hops counted), and the dropped-operation rule: a
//! future dropped while its hop runs loses no byte and no position.

mod common;

use std::io::{self, SeekFrom};
use std::os::unix::fs::PermissionsExt;

use arbor_fs::{self as fs, File, MAX_BUF_SIZE, OpenOptions};
use arbor_nursery::CancelScope;
use common::{TempDir, eventually, hops, pattern, pipe};
use futures_lite::future::poll_once;
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Poll `op` until its hop has started, then drop it (as a cancelled
/// scope or a timeout would, while the worker is busy).
async fn drop_once_started<F: Future>(op: F) {
    let before = hops();
    let mut op = Box::pin(op);
    while hops() == before {
        assert!(
            poll_once(op.as_mut()).await.is_none(),
            "it finished: no hop to drop"
        );
        // Lets the operation's task reach its worker.
        arbor_runtime::yield_now().await;
    }
}

/// A scope cancelled already.
fn cancelled_scope() -> CancelScope {
    let scope = CancelScope::new();
    scope.cancel();
    scope
}

#[test]
fn open_create_and_options_round_trip() {
    let dir = TempDir::new("open");
    let path = dir.join("f");
    arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"created").await.unwrap();
        file.flush().await.unwrap();
        drop(file);
        let err = File::create_new(&path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

        let mut text = String::new();
        File::open(&path)
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "created");

        let mut file = File::options().append(true).open(&path).await.unwrap();
        file.write_all(b" and appended").await.unwrap();
        file.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"created and appended");

        let fresh = dir.join("fresh");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&fresh)
            .await
            .unwrap();
        file.write_all(b"x").await.unwrap();
        file.flush().await.unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        file.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    });
}

#[test]
fn small_writes_are_batched_into_one_hop() {
    let dir = TempDir::new("write-batch");
    let path = dir.join("f");
    arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        let before = hops();
        let mut expected = Vec::new();
        for i in 0..1000 {
            let line = format!("line {i}\n");
            file.write_all(line.as_bytes()).await.unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        assert_eq!(hops(), before, "writes are copied, not written");
        file.flush().await.unwrap();
        assert_eq!(hops() - before, 1, "one hop wrote them all");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    });
}

#[test]
fn large_writes_go_out_in_2_mib_hops() {
    let dir = TempDir::new("write-large");
    let path = dir.join("f");
    let data = pattern(5 * MAX_BUF_SIZE + 123);
    arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        let before = hops();
        for chunk in data.chunks(8192) {
            AsyncWriteExt::write_all(&mut file, chunk).await.unwrap();
        }
        file.close().await.unwrap();
        assert_eq!(hops() - before, 6, "five full buffers and the rest");
        assert!(std::fs::read(&path).unwrap() == data);
    });
}

#[test]
fn read_to_end_reads_a_large_file_in_one_hop() {
    let dir = TempDir::new("read-to-end");
    let path = dir.join("f");
    let data = pattern(8 * 1024 * 1024 + 5);
    std::fs::write(&path, &data).unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap();
        let mut head = [0u8; 100];
        file.read_exact(&mut head).await.unwrap();
        let before = hops();
        let mut rest = Vec::new();
        let n = file.read_to_end(&mut rest).await.unwrap();
        assert_eq!(hops() - before, 1);
        assert_eq!(n, data.len() - 100);
        assert!(rest == data[100..], "the bytes differ");
        assert_eq!(
            file.seek(SeekFrom::Current(0)).await.unwrap(),
            data.len() as u64
        );
    });
}

#[test]
fn small_reads_are_served_from_a_growing_read_ahead() {
    let dir = TempDir::new("read-ahead");
    let path = dir.join("f");
    let data = pattern(8 * 1024 * 1024 + 5);
    std::fs::write(&path, &data).unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap();
        let before = hops();
        let mut read = Vec::with_capacity(data.len());
        let mut buf = [0u8; 8192];
        loop {
            // The futures-io path, as `futures_lite::io::copy` uses it.
            let n = AsyncReadExt::read(&mut file, &mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            read.extend_from_slice(&buf[..n]);
        }
        assert!(read == data, "the bytes differ");
        // 64 KiB, 128 KiB, ... 2 MiB (4032 KiB in 6 hops), two 2 MiB
        // hops, the last 64 KiB + 5, then the end: 10 hops, not 1,025.
        assert_eq!(hops() - before, 10);
    });
}

#[test]
fn seeks_see_the_exact_position_through_read_ahead() {
    let dir = TempDir::new("seek");
    let path = dir.join("f");
    let data = pattern(1024 * 1024);
    std::fs::write(&path, &data).unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap();
        let mut buf = [0u8; 10];
        file.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, data[..10]);
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 10);
        file.read_exact(&mut buf[..5]).await.unwrap();
        assert_eq!(buf[..5], data[10..15]);
        assert_eq!(file.seek(SeekFrom::Current(-3)).await.unwrap(), 12);
        file.read_exact(&mut buf[..2]).await.unwrap();
        assert_eq!(buf[..2], data[12..14]);
        // Through the trait as well.
        assert_eq!(
            AsyncSeekExt::seek(&mut file, SeekFrom::Current(0))
                .await
                .unwrap(),
            14
        );
        assert_eq!(
            file.seek(SeekFrom::End(-4)).await.unwrap(),
            data.len() as u64 - 4
        );
        let mut tail = Vec::new();
        assert_eq!(file.read_to_end(&mut tail).await.unwrap(), 4);
        assert_eq!(tail, data[data.len() - 4..]);
        assert_eq!(file.seek(SeekFrom::Start(7)).await.unwrap(), 7);
        file.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(buf[0], data[7]);
        let err = file.seek(SeekFrom::Current(-100)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            file.seek(SeekFrom::Current(0)).await.unwrap(),
            8,
            "unchanged"
        );
    });
}

#[test]
fn a_write_after_a_read_lands_where_the_reader_is() {
    let dir = TempDir::new("read-then-write");
    let path = dir.join("f");
    std::fs::write(&path, b"ABCDEFGH").unwrap();
    arbor_runtime::run(async {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut two = [0u8; 2];
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"AB");
        file.write_all(b"xy").await.unwrap();
        // The read-ahead behind the write is stale: this reads after it.
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"EF");
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 6);
        file.write_all(b"z").await.unwrap();
        file.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"ABxyEFzH");

        // Reads see writes not yet flushed (the seek writes them first).
        file.seek(SeekFrom::Start(0)).await.unwrap();
        file.write_all(b"12").await.unwrap();
        file.seek(SeekFrom::Start(0)).await.unwrap();
        let mut all = String::new();
        file.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "12xyEFzH");
    });
}

#[test]
fn a_dropped_read_keeps_its_bytes_and_the_position() {
    let dir = TempDir::new("dropped-read");
    let path = dir.join("f");
    let data = pattern(300_000);
    std::fs::write(&path, &data).unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap();
        let mut buf = vec![0u8; 1000];
        let before = hops();
        drop_once_started(AsyncReadExt::read(&mut file, &mut buf)).await;
        assert_eq!(hops() - before, 1, "the read's hop is in flight");
        // The next read waits for it and gets its bytes, from offset 0.
        let n = file.read(&mut buf).await.unwrap();
        assert_eq!(buf[..n], data[..n]);
        assert_eq!(hops() - before, 1, "served from what the dropped read read");
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), n as u64);
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).await.unwrap();
        assert!(rest == data[n..]);
    });
}

#[test]
fn a_read_dropped_while_its_worker_blocks_hands_the_bytes_to_the_next_read() {
    arbor_runtime::run(async {
        let (reader, mut writer) = pipe();
        let mut file = File::from_std(reader);
        let mut buf = [0u8; 16];
        let before = hops();
        drop_once_started(file.read(&mut buf)).await;
        for _ in 0..10 {
            assert!(
                poll_once(file.read(&mut buf)).await.is_none(),
                "still blocked"
            );
            arbor_runtime::yield_now().await;
        }
        assert_eq!(hops() - before, 1, "one read in flight, not two");
        // The worker is blocked in `read(2)` until now.
        std::io::Write::write_all(&mut writer, b"late bytes").unwrap();
        let n = file.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"late bytes");
        drop(writer);
        assert_eq!(file.read(&mut buf).await.unwrap(), 0, "end of the pipe");
    });
}

#[test]
fn a_cancelled_scope_drops_a_blocked_read_and_the_file_keeps_its_bytes() {
    arbor_runtime::run(async {
        let (reader, mut writer) = pipe();
        let mut file = File::from_std(reader);
        let scope = CancelScope::new();
        let handle = scope.handle();
        let mut buf = [0u8; 16];
        let outcome = scope
            .run(async {
                let read = file.read(&mut buf);
                let cancel = async {
                    for _ in 0..10 {
                        arbor_runtime::yield_now().await;
                    }
                    handle.cancel();
                };
                futures_lite::future::zip(read, cancel).await
            })
            .await;
        assert!(outcome.is_err() && scope.cancelled_caught());
        std::io::Write::write_all(&mut writer, b"kept").unwrap();
        let n = file.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"kept");
    });
}

#[test]
fn a_dropped_write_all_writes_exactly_what_it_accepted() {
    let dir = TempDir::new("dropped-write");
    let path = dir.join("f");
    let data = pattern(3 * MAX_BUF_SIZE);
    arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        // Two buffers fill, the third write waits for the first hop: drop it.
        assert!(
            poll_once(AsyncWriteExt::write_all(&mut file, &data))
                .await
                .is_none()
        );
        let accepted = file.seek(SeekFrom::Current(0)).await.unwrap() as usize;
        assert_eq!(accepted, 2 * MAX_BUF_SIZE, "both buffers' bytes");
        file.flush().await.unwrap();
        assert!(std::fs::read(&path).unwrap() == data[..accepted]);
    });
}

#[test]
fn dropped_flush_seek_and_sync_take_effect_before_the_next_operation() {
    let dir = TempDir::new("dropped-others");
    let path = dir.join("f");
    arbor_runtime::run(async {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        file.write_all(b"0123456789").await.unwrap();
        drop_once_started(AsyncWriteExt::flush(&mut file)).await;
        drop_once_started(AsyncSeekExt::seek(&mut file, SeekFrom::Start(3))).await;
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 3);
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");

        drop_once_started(file.set_len(5)).await;
        drop_once_started(file.sync_all()).await;
        let mut rest = String::new();
        file.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "34");
    });
}

#[test]
fn a_write_error_surfaces_on_the_next_flush() {
    let dir = TempDir::new("write-error");
    let path = dir.join("f");
    std::fs::write(&path, b"read only").unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap(); // not writable
        file.write_all(b"accepted").await.unwrap();
        let err = file.flush().await.unwrap_err();
        let std_err =
            std::io::Write::write(&mut std::fs::File::open(&path).unwrap(), b"x").unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            std_err.raw_os_error(),
            "EBADF, unchanged"
        );
        file.flush().await.unwrap(); // reported once

        // A full buffer's hop starts at once, unwaited: its error goes to
        // the next sync (which does not sync then).
        file.write_all(&vec![0u8; MAX_BUF_SIZE]).await.unwrap();
        let err = file.sync_all().await.unwrap_err();
        assert_eq!(err.raw_os_error(), std_err.raw_os_error());
        file.sync_all().await.unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "read only");
    });
}

#[test]
fn sync_set_len_metadata_and_permissions() {
    let dir = TempDir::new("sync");
    let path = dir.join("f");
    arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"0123456789").await.unwrap();
        file.sync_all().await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 10);
        file.write_all(b"abc").await.unwrap();
        file.sync_data().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789abc");
        file.set_len(4).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 4);
        assert_eq!(
            file.seek(SeekFrom::Current(0)).await.unwrap(),
            13,
            "set_len keeps the cursor"
        );
        file.set_permissions(std::fs::Permissions::from_mode(0o640))
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    });
}

#[test]
fn try_clone_into_std_and_from_std() {
    let dir = TempDir::new("std");
    let path = dir.join("f");
    std::fs::write(&path, b"shared cursor").unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap();
        let mut word = [0u8; 6];
        file.read_exact(&mut word).await.unwrap();
        let mut clone = file.try_clone().await.unwrap();
        // The read-ahead moved the shared cursor; `into_std` steps back.
        let mut std = file.into_std().await.unwrap();
        assert_eq!(io::Seek::stream_position(&mut std).unwrap(), 6);
        assert_eq!(clone.seek(SeekFrom::Current(0)).await.unwrap(), 6);
        let mut rest = String::new();
        clone.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, " cursor");

        let mut again = File::from(std);
        again.seek(SeekFrom::Start(0)).await.unwrap();
        let mut all = String::new();
        again.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "shared cursor");
    });
}

#[test]
fn dropping_a_file_writes_its_buffered_bytes_in_the_background() {
    let dir = TempDir::new("drop-writes");
    let path = dir.join("f");
    let data = pattern(MAX_BUF_SIZE + 1000);
    arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(&data).await.unwrap(); // one hop in flight, 1000 bytes buffered
        drop(file);
        eventually("the dropped file's bytes are written", || {
            std::fs::metadata(&path).unwrap().len() == data.len() as u64
        })
        .await;
        assert!(std::fs::read(&path).unwrap() == data);
    });
}

#[test]
fn a_file_dropped_outside_the_runtime_writes_on_the_dropping_thread() {
    let dir = TempDir::new("drop-outside");
    let path = dir.join("f");
    let file = arbor_runtime::run(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"written at drop").await.unwrap();
        file
    });
    drop(file);
    assert_eq!(std::fs::read(&path).unwrap(), b"written at drop");
}

#[test]
fn file_operations_start_nothing_in_a_cancelled_scope() {
    let dir = TempDir::new("file-cancelled");
    let path = dir.join("f");
    std::fs::write(&path, b"content").unwrap();
    arbor_runtime::run(async {
        let mut file = File::open(&path).await.unwrap();
        let before = hops();
        let mut buf = [0u8; 4];
        let read = cancelled_scope().run(file.read(&mut buf)).await;
        assert!(read.is_err());
        let read = cancelled_scope()
            .run(AsyncReadExt::read(&mut file, &mut buf))
            .await;
        assert!(read.is_err());
        let seek = cancelled_scope().run(file.seek(SeekFrom::Start(2))).await;
        assert!(seek.is_err());
        let write = cancelled_scope().run(file.write_all(b"no")).await;
        assert!(write.is_err());
        assert!(cancelled_scope().run(File::open(&path)).await.is_err());
        assert_eq!(hops(), before, "no hop started");
        file.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"cont", "the position did not move");
    });
}

#[test]
fn a_pipe_works_without_a_cursor() {
    arbor_runtime::run(async {
        let (reader, writer) = pipe();
        let mut reader = File::from_std(reader);
        let mut writer = File::from_std(writer);
        writer.write_all(b"through a pipe").await.unwrap();
        writer.flush().await.unwrap();
        drop(writer);
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "through a pipe");
        let err = reader.seek(SeekFrom::Current(0)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotSeekable);
    });
}

#[test]
fn reads_and_writes_are_fs_io_traits_for_generic_code() {
    let dir = TempDir::new("copy");
    let (from, to) = (dir.join("from"), dir.join("to"));
    let data = pattern(3 * 1024 * 1024 + 17);
    std::fs::write(&from, &data).unwrap();
    arbor_runtime::run(async {
        let reader = File::open(&from).await.unwrap();
        let mut writer = File::create(&to).await.unwrap();
        let before = hops();
        let n = futures_lite::io::copy(reader, &mut writer).await.unwrap();
        writer.close().await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(hops() - before < 16, "{} hops", hops() - before);
        assert!(fs::read(&to).await.unwrap() == data);
    });
}
