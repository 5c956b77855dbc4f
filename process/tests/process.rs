//! `arbor::process`: spawning, waiting, pipes, signals, `run`.
//!
//! Zombies and reaping are in `zombies.rs`, descriptor counts in
//! `fd_leak.rs`.

mod support;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use arbor_nursery::{CancelScope, move_on_after, nursery};
use arbor_process::{Command, ProcessError, SignalKind, Stdio};
use futures_lite::future::{poll_once, zip};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use support::{BOUND, running_child_with_arg, until_reaped};

fn virtual_rt() -> arbor_runtime::Runtime {
    arbor_runtime::Runtime::builder()
        .virtual_clock()
        .build()
        .unwrap()
}

#[test]
fn wait_returns_the_exit_code() {
    arbor_runtime::run(async {
        for (cmd, args, code) in [
            ("true", &[][..], 0),
            ("false", &[], 1),
            ("sh", &["-c", "exit 7"], 7),
        ] {
            let mut child = Command::new(cmd).args(args).spawn().unwrap();
            let status = child.wait().await.unwrap();
            assert_eq!(status.code(), Some(code), "{cmd} {args:?}");
            assert_eq!(status.success(), code == 0);
        }
        let status = Command::new("sh")
            .args(["-c", "exit 42"])
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(42));
    });
}

#[test]
fn wait_after_exit_returns_the_same_status_and_id_is_gone() {
    arbor_runtime::run(async {
        let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        assert!(child.id().is_some());
        let first = child.wait().await.unwrap();
        assert_eq!(child.id(), None, "reaped");
        assert_eq!(child.wait().await.unwrap(), first);
        assert_eq!(child.try_wait().unwrap(), Some(first));
        // Signalling a reaped child is a no-op, as std's kill.
        child.kill().unwrap();
        child.signal(SignalKind::terminate()).unwrap();
    });
}

#[test]
fn output_captures_stdout_and_stderr_apart() {
    arbor_runtime::run(async {
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; echo more; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\nmore\n");
        assert_eq!(out.stderr, b"err\n");
    });
}

#[test]
fn output_gives_an_empty_stdin_and_keeps_streams_the_caller_set() {
    arbor_runtime::run(async {
        // stdin is /dev/null for `output`: `cat` ends at once.
        let out = Command::new("cat").output().await.unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        // A stream set by the caller is kept (and comes back empty).
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "[ -n \"$QUIET\" ] || { echo out; echo err >&2; }"])
            .stderr(Stdio::null());
        let out = cmd.output().await.unwrap();
        assert_eq!(
            (&out.stdout[..], &out.stderr[..]),
            (&b"out\n"[..], &b""[..])
        );
        // `output`'s defaults do not stick to the command: `spawn` inherits.
        let child = cmd.env("QUIET", "1").spawn().unwrap();
        assert!(child.stdout.is_none() && child.stdin.is_none());
        assert!(child.wait_with_output().await.unwrap().status.success());
    });
}

#[test]
fn command_builder_sets_env_dir_and_args() {
    arbor_runtime::run(async {
        let dir = std::env::temp_dir();
        let out = Command::new("sh")
            .arg("-c")
            .arg("echo \"$A|${B-unset}|${HOME-nohome}|$(pwd)|$0\"")
            .arg("zero")
            .env_clear()
            .env("A", "a")
            .envs([("B", "b")])
            .env_remove("B")
            .current_dir(&dir)
            .output()
            .await
            .unwrap();
        let expected = format!(
            "a|unset|nohome|{}|zero\n",
            dir.canonicalize().unwrap().display()
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    });
}

#[test]
fn piped_cat_echoes_a_mebibyte_written_and_read_at_once() {
    arbor_runtime::run(async {
        let payload: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        // Sequentially this would deadlock: cat stops reading once its
        // stdout pipe (64 KiB) is full.
        let sent = payload.clone();
        let echoed = nursery(async |n| {
            n.spawn(async move {
                stdin.write_all(&sent).await?;
                drop(stdin); // end of file for cat
                Ok::<_, io::Error>(())
            });
            let reader = n.spawn(async move {
                let mut echoed = Vec::new();
                stdout.read_to_end(&mut echoed).await?;
                Ok::<_, io::Error>(echoed)
            });
            Ok::<_, io::Error>(reader.await.unwrap())
        })
        .await
        .unwrap();
        assert_eq!(echoed.len(), payload.len());
        assert!(echoed == payload);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn pipes_work_through_futures_io() {
    arbor_runtime::run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        AsyncWriteExt::write_all(&mut stdin, b"through futures-io")
            .await
            .unwrap();
        stdin.close().await.unwrap(); // sends end of file, as a drop would
        assert_eq!(
            stdin.write(b"x").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        let mut text = String::new();
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "through futures-io");
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn wait_with_output_drains_both_pipes_while_the_child_fills_them() {
    arbor_runtime::run(async {
        // A mebibyte on each stream: reading one to its end before the
        // other would leave the child blocked on a full pipe.
        let child = Command::new("sh")
            .args([
                "-c",
                "head -c 1048576 /dev/zero >&2; head -c 1048576 /dev/zero",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        assert_eq!((out.stdout.len(), out.stderr.len()), (1 << 20, 1 << 20));
    });
}

#[test]
fn a_childs_stdout_can_be_another_childs_stdin() {
    arbor_runtime::run(async {
        let mut first = Command::new("echo")
            .arg("piped along")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = first.stdout.take().unwrap();
        let out = Command::new("cat")
            .stdin(Stdio::try_from(stdout).unwrap())
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"piped along\n");
        assert!(first.wait().await.unwrap().success());
    });
}

#[test]
fn kill_then_wait_reports_the_signal() {
    arbor_runtime::run(async {
        let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(status.code(), None);

        let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
        child.signal(SignalKind::terminate()).unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
    });
}

#[test]
fn try_wait_is_none_while_running_then_the_status() {
    arbor_runtime::run(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        drop(child.stdin.take()); // cat exits
        let status = child.wait().await.unwrap();
        assert!(status.success());
        assert_eq!(child.try_wait().unwrap(), Some(status));
    });
}

#[test]
fn a_dropped_wait_loses_nothing_and_the_next_wait_gets_the_status() {
    virtual_rt().block_on(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        // Polled once and dropped, then timed out: the child stays ours.
        assert!(poll_once(child.wait()).await.is_none());
        assert!(
            move_on_after(Duration::from_secs(1), child.wait())
                .await
                .is_none()
        );
        assert!(child.id().is_some());
        assert_eq!(child.try_wait().unwrap(), None);
        drop(stdin);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn wait_is_a_cancel_point_even_after_exit() {
    virtual_rt().block_on(async {
        let mut child = Command::new("true").spawn().unwrap();
        let status = child.wait().await.unwrap();
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(child.wait()).await.is_err());
        assert!(scope.cancelled_caught());
        assert_eq!(child.wait().await.unwrap(), status);
    });
}

#[test]
fn status_output_and_run_spawn_nothing_in_a_cancelled_scope() {
    virtual_rt().block_on(async {
        // A spawn attempt would fail at once, and the call would return
        // that error at its first poll instead of being cancelled there.
        let mut cmd = Command::new("/nonexistent/arbor-test-program");
        let cancelled = || {
            let scope = CancelScope::new();
            scope.cancel();
            scope
        };
        assert!(cancelled().run(cmd.status()).await.is_err());
        assert!(cancelled().run(cmd.output()).await.is_err());
        assert!(cancelled().run(arbor_process::run(&mut cmd)).await.is_err());
        let attempted = CancelScope::new().run(cmd.status()).await;
        assert_eq!(
            attempted.unwrap().unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    });
}

#[test]
fn run_returns_the_output_or_an_error_holding_status_and_output() {
    arbor_runtime::run(async {
        let out = arbor_process::run(Command::new("sh").args(["-c", "echo fine"]))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"fine\n");

        let err = arbor_process::run(
            Command::new("sh").args(["-c", "echo partial; echo 'no such file' >&2; exit 2"]),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status().unwrap().code(), Some(2));
        let output = err.output().unwrap();
        assert_eq!(
            (&output.stdout[..], &output.stderr[..]),
            (&b"partial\n"[..], &b"no such file\n"[..])
        );
        let text = err.to_string();
        assert!(text.contains("\"sh\" \"-c\""), "{text}");
        assert!(text.contains("exit status: 2"), "{text}");
        assert!(text.ends_with("stderr: no such file"), "{text}");

        let err = arbor_process::run(Command::new("sh").args(["-c", "kill -9 $$"]))
            .await
            .unwrap_err();
        assert_eq!(err.status().unwrap().signal(), Some(libc::SIGKILL));
    });
}

#[test]
fn a_missing_program_is_an_io_error() {
    arbor_runtime::run(async {
        let err = Command::new("/nonexistent/arbor-test-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = arbor_process::run(&mut Command::new("/nonexistent/arbor-test-program"))
            .await
            .unwrap_err();
        assert!(matches!(&err, ProcessError::Io(e) if e.kind() == io::ErrorKind::NotFound));
        assert!(err.to_string().starts_with("could not run the process"));
    });
}

#[test]
fn run_in_a_timed_out_scope_kills_and_reaps_even_a_detached_command() {
    virtual_rt().block_on(async {
        let marker = "1000.00533";
        let mut cmd = Command::new("sleep");
        cmd.arg(marker).kill_on_drop(false); // `run` kills regardless
        let (out, pid) = zip(
            move_on_after(Duration::from_secs(5), arbor_process::run(&mut cmd)),
            running_child_with_arg(marker),
        )
        .await;
        assert!(out.is_none());
        assert_eq!(until_reaped(&[pid]).await, []);
    });
}

#[test]
fn pidfd_readiness_wakes_a_runtime_asleep_in_epoll() {
    arbor_runtime::run(async {
        // cat reads a pipe whose writer a plain thread holds: cat exits
        // only when the thread drops it, while the runtime, with nothing
        // else to do, sleeps in epoll_wait.
        let (reader, writer) = io::pipe().unwrap();
        let mut child = Command::new("cat").stdin(reader).spawn().unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(writer);
        });
        // The bound only turns a missed wakeup into a failure, not a hang.
        let status = arbor_nursery::fail_after(BOUND, child.wait()).await;
        assert!(status.expect("woken by the pidfd").unwrap().success());
        closer.join().unwrap();
    });
}

#[test]
#[should_panic(expected = "outside an arbor runtime")]
fn spawn_outside_a_runtime_panics_before_spawning() {
    let _ = Command::new("true").spawn();
}
