//! Out of file descriptors. An accept loop reports `EMFILE` and does not
//! spin; a stream dropped with bytes unsent when no fd is left to keep
//! sending them on gives them up cleanly. The limit is lowered in a child
//! process (this test binary run again with an environment variable), so
//! no other test is affected.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arbor::net::{TcpListener, TcpStream};

const CHILD_ENV: &str = "ARBOR_EMFILE_CHILD";

fn in_child_process() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs the test `name` of this binary in a child process; fails if it
/// fails or is still running after a minute (a spin or a hang).
fn run_in_child(name: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child of {name} did not finish: it spins or hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("child: done"),
        "child did not run:\n{stdout}"
    );
}

#[test]
fn accept_loop_reports_emfile_and_backs_off() {
    if in_child_process() {
        return accept_child();
    }
    // A spinning accept loop never yields, so the child would never end.
    run_in_child("accept_loop_reports_emfile_and_backs_off");
}

#[test]
fn a_stream_dropped_with_bytes_unsent_and_no_fd_to_spare_gives_them_up() {
    if in_child_process() {
        return unsent_child();
    }
    run_in_child("a_stream_dropped_with_bytes_unsent_and_no_fd_to_spare_gives_them_up");
}

fn nofile_limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the kernel to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile_soft_limit(soft: libc::rlim_t) {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: nofile_limit().rlim_max,
    };
    // SAFETY: `lim` is a valid rlimit; lowering the soft limit only makes
    // later fd allocations fail with EMFILE.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// The highest open fd number of this process.
fn max_open_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap()
}

fn accept_child() {
    const PENDING: usize = 3;
    let original = nofile_limit().rlim_cur;
    arbor::run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..PENDING {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        // No fd can be allocated: accept4 must fail with EMFILE.
        let filler = use_up_every_fd();

        let mut errors = 0u32;
        let mut accepted = Vec::new();
        // An accept loop that logs and carries on, as servers do, run for
        // 300 ms of real time. Without the backoff it would retry accept4
        // back to back: hundreds of thousands of errors.
        arbor::move_on_after(Duration::from_millis(300), async {
            loop {
                match listener.accept().await {
                    Ok((s, _)) => accepted.push(s),
                    Err(e) => {
                        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                        errors += 1;
                    }
                }
            }
        })
        .await;
        println!("child: {errors} EMFILE errors in 300 ms");
        assert!(accepted.is_empty());
        assert!(errors >= 1, "accept never reported EMFILE");
        // 10 ms backoff: about 30; 200 leaves room for a slow machine.
        assert!(errors <= 200, "accept spun: {errors} errors in 300 ms");

        // Once descriptors are available again, the queued connections
        // were not lost.
        set_nofile_soft_limit(original);
        drop(filler);
        arbor::fail_after(Duration::from_secs(10), async {
            for _ in 0..PENDING {
                accepted.push(listener.accept().await.unwrap().0);
            }
        })
        .await
        .expect("queued connections accepted after the limit was raised");
        let mut peers: Vec<_> = accepted.iter().map(|s| s.peer_addr().unwrap()).collect();
        let mut expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        peers.sort();
        expected.sort();
        assert_eq!(peers, expected);
    });
    println!("child: done");
}

/// Byte `i` of the stream.
fn byte_at(i: usize) -> u8 {
    (i % 251) as u8
}

/// Lowers the limit to just above the highest open fd and fills any free
/// numbers below it, so that no fd can be allocated; returns the fillers.
fn use_up_every_fd() -> Vec<std::fs::File> {
    set_nofile_soft_limit(max_open_fd() + 1);
    let mut filler = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        filler.push(f);
    }
    filler
}

fn unsent_child() {
    let original = nofile_limit().rlim_cur;
    let rt = arbor::Runtime::new().unwrap();
    let backend = rt.io_backend();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let writer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (reader, _) = listener.accept().await.unwrap();
        // Write while the reader reads nothing, until a write waits: the
        // kernel's buffers are full, and on io_uring so is the stream's
        // send buffer, with a send in flight.
        let mut acked = 0;
        loop {
            let chunk: Vec<u8> = (acked..acked + 64 * 1024).map(byte_at).collect();
            match arbor::move_on_after(Duration::from_secs(1), writer.write(&chunk)).await {
                Some(written) => acked += written.unwrap(),
                None => break,
            }
        }
        // No fd to spare: on io_uring the stream cannot keep a duplicate to
        // send the rest on, so its send is cancelled and the bytes it held
        // are given up; the entry must not outlive the buffer the kernel
        // was reading.
        let filler = use_up_every_fd();
        drop(writer);
        set_nofile_soft_limit(original);
        drop(filler);

        let mut got = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        arbor::fail_after(Duration::from_secs(10), async {
            loop {
                match reader.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .expect("the writer's close reached the reader");
        println!(
            "child: {} of {acked} bytes arrived on {backend:?}",
            got.len()
        );
        assert!(got.len() <= acked);
        assert!(
            got.iter().enumerate().all(|(i, &b)| b == byte_at(i)),
            "what arrived is a prefix of what was written, in order"
        );
        match backend {
            // The send buffer's bytes were given up.
            arbor::IoBackend::IoUring => assert!(got.len() < acked),
            // No bytes are held in user space: all of them arrive.
            _ => assert_eq!(got.len(), acked),
        }
    });
    println!("child: done");
}
