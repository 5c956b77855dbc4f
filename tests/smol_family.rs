//! smol's family of runtime-agnostic crates, run inside arbor: each works
//! through wakers and threads of its own, not smol's executor. The guide's
//! ecosystem chapter and the README list them from these tests.

use std::time::Duration;

use arbor::net::UnixStream;
use asynchronous_codec::{Framed, LinesCodec};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use futures_util::SinkExt;

/// `blocking::unblock` runs a closure on blocking's thread pool; the task
/// waits for it like any future, and the runtime runs other tasks
/// meanwhile (the ticker finishes while the closure still sleeps).
#[test]
fn blocking_unblock() {
    let (sum, ticks_when_done) = arbor::run(async {
        let ticks = std::cell::Cell::new(0);
        let work = async {
            let sum = blocking::unblock(|| {
                std::thread::sleep(Duration::from_millis(200));
                (1..=100u64).sum::<u64>()
            })
            .await;
            (sum, ticks.get())
        };
        let ticker = async {
            for _ in 0..5 {
                arbor::time::sleep(Duration::from_millis(1)).await;
                ticks.set(ticks.get() + 1);
            }
        };
        futures_lite::future::zip(work, ticker).await.0
    });
    assert_eq!(sum, 5050);
    assert_eq!(ticks_when_done, 5);
}

/// `blocking::Unblock` wraps a std reader as an `AsyncRead`.
#[test]
fn blocking_unblock_reader() {
    let text = arbor::run(async {
        let mut reader = blocking::Unblock::new(std::io::Cursor::new(b"through a pool".to_vec()));
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        text
    });
    assert_eq!(text, "through a pool");
}

/// `async-fs`: write, append to and read back a temp file; metadata and
/// a directory listing.
#[test]
fn async_fs_write_read_list() {
    let dir = std::env::temp_dir().join(format!("arbor-smol-family-{}", std::process::id()));
    let (text, len, names) = arbor::run(async {
        async_fs::create_dir_all(&dir).await.unwrap();
        let path = dir.join("note.txt");
        async_fs::write(&path, b"hello from async-fs\n")
            .await
            .unwrap();
        let mut file = async_fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await
            .unwrap();
        file.write_all(b"second line\n").await.unwrap();
        file.flush().await.unwrap();
        drop(file);
        let text = async_fs::read_to_string(&path).await.unwrap();
        let len = async_fs::metadata(&path).await.unwrap().len();
        let mut names = Vec::new();
        let mut entries = async_fs::read_dir(&dir).await.unwrap();
        while let Some(entry) = entries.next().await {
            names.push(entry.unwrap().file_name().into_string().unwrap());
        }
        async_fs::remove_dir_all(&dir).await.unwrap();
        (text, len, names)
    });
    assert_eq!(text, "hello from async-fs\nsecond line\n");
    assert_eq!(len, text.len() as u64);
    assert_eq!(names, ["note.txt"]);
    assert!(!dir.exists());
}

/// `async-process`: a child's output and exit status, and a child whose
/// stdin and stdout are piped.
#[test]
fn async_process_output_and_pipes() {
    let (out, status, echoed) = arbor::run(async {
        let out = async_process::Command::new("echo")
            .arg("hello from async-process")
            .output()
            .await
            .unwrap();
        let status = async_process::Command::new("false").status().await.unwrap();

        let mut child = async_process::Command::new("cat")
            .stdin(async_process::Stdio::piped())
            .stdout(async_process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"piped through cat").await.unwrap();
        drop(stdin);
        let mut echoed = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut echoed)
            .await
            .unwrap();
        assert!(child.status().await.unwrap().success());
        (out, status, echoed)
    });
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello from async-process\n");
    assert_eq!(status.code(), Some(1));
    assert_eq!(echoed, "piped through cat");
}

/// `async-channel` between tasks of one nursery (the guide's doctest
/// covers a worker thread).
#[test]
fn async_channel_between_tasks() {
    let got = arbor::run(async {
        let (tx, rx) = async_channel::bounded::<u32>(2);
        arbor::nursery(async |n| {
            for id in 0..3 {
                let tx = tx.clone();
                n.spawn(async move {
                    for i in 0..10 {
                        tx.send(id * 100 + i).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut got = Vec::new();
            while let Ok(v) = rx.recv().await {
                got.push(v);
            }
            got.sort_unstable();
            got
        })
        .await
        .unwrap()
    });
    let want: Vec<u32> = (0..3)
        .flat_map(|id| (0..10).map(move |i| id * 100 + i))
        .collect();
    assert_eq!(got, want);
}

/// `asynchronous-codec`'s `Framed` + `LinesCodec` over an arbor
/// `UnixStream::pair` (arbor's streams implement `futures_io`'s traits):
/// a server task answering lines and a client.
#[test]
fn asynchronous_codec_lines_over_a_unix_pair() {
    let answers = arbor::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        arbor::nursery(async |n| {
            n.spawn(async move {
                let mut lines = Framed::new(b, LinesCodec);
                while let Some(line) = lines.next().await {
                    let line = line.unwrap();
                    lines
                        .send(format!("{} bytes\n", line.trim_end().len()))
                        .await
                        .unwrap();
                }
            });
            let mut lines = Framed::new(a, LinesCodec);
            let mut answers = Vec::new();
            for text in ["a", "four", "twelve chars"] {
                lines.send(format!("{text}\n")).await.unwrap();
                answers.push(lines.next().await.unwrap().unwrap());
            }
            // Closing shuts the write half: the server's stream ends.
            lines.close().await.unwrap();
            answers
        })
        .await
        .unwrap()
    });
    assert_eq!(answers, ["1 bytes\n", "4 bytes\n", "12 bytes\n"]);
}
