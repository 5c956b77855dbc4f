//! Every pidfd and pipe is closed: after waits, drops, cancelled calls,
//! background reaping and runtime drops.
//!
//! The only test in its binary, so no other test opens descriptors while
//! it counts them.

mod support;

use std::time::Duration;

use arbor_nursery::move_on_after;
use arbor_process::{Command, Stdio};
use futures_lite::future::zip;
use support::{open_fds, running_child_with_arg, until_reaped};

#[test]
fn children_leak_no_file_descriptors() {
    let before = open_fds();
    for round in 0..5 {
        let rt = arbor_runtime::Runtime::builder()
            .virtual_clock()
            .build()
            .unwrap();
        let in_runtime = open_fds();
        rt.block_on(async {
            assert!(Command::new("true").status().await.unwrap().success());
            let out = Command::new("sh")
                .args(["-c", "echo x; echo y >&2"])
                .output()
                .await
                .unwrap();
            assert_eq!(out.stdout, b"x\n");
            // Piped, and dropped running in each way.
            let mut cmd = Command::new("sleep");
            cmd.arg("1000")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let child = cmd.spawn().unwrap();
            let mut pids = vec![child.id().unwrap()];
            drop(child);
            let timed_out = move_on_after(Duration::from_secs(1), async {
                let child = cmd.spawn().unwrap();
                pids.push(child.id().unwrap());
                child.wait_with_output().await
            })
            .await;
            assert!(timed_out.is_none());
            // `run` does not say its pid: found by a marker argument (its
            // own, as the children killed above may not have died yet).
            let marker = format!("1000.0065{round}");
            let mut cmd = Command::new("sleep");
            cmd.arg(&marker);
            let (timed_out, pid) = zip(
                move_on_after(Duration::from_secs(1), arbor_process::run(&mut cmd)),
                running_child_with_arg(&marker),
            )
            .await;
            assert!(timed_out.is_none());
            // Reaped in the background; the reaper closes the pidfd as it
            // ends, in the same poll.
            pids.push(pid);
            assert_eq!(until_reaped(&pids).await, []);
            assert_eq!(open_fds(), in_runtime);
        });
        // A killed child whose reaper has not run when the runtime drops.
        rt.block_on(async {
            drop(
                Command::new("sleep")
                    .arg("1000")
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        });
        drop(rt);
        assert_eq!(open_fds(), before);
    }
}
