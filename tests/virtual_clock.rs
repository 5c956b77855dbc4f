//! The virtual clock's autojump threshold (`Builder::autojump`), its rate
//! (`Builder::virtual_clock_rate`) and
//! `arbor::testing::wait_all_tasks_blocked`. Real sockets and threads
//! (that is the point); real time is bounded only from above, generously,
//! and exact checks use the virtual clock.

mod support;

use std::future::pending;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use arbor::net::TcpListener;
use arbor::testing::wait_all_tasks_blocked;
use arbor::time::{self, sleep};
use arbor::{CancelScope, Runtime, fail_after, to_thread};
use support::Trace;

const THRESHOLD: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_secs(10);
const HOUR: Duration = Duration::from_secs(3600);
/// Real time no passing run comes near.
const PATIENCE: Duration = Duration::from_secs(30);

fn autojump_rt(threshold: Duration) -> Runtime {
    Runtime::builder().autojump(threshold).build().unwrap()
}

/// Accept one connection on loopback and read 4 bytes from it under a
/// 10 s (virtual) timeout, while a thread connects and writes them after
/// a real 50 ms sleep. Returns the read's outcome and the virtual time
/// it took.
fn loopback_read_under_timeout(rt: &Runtime) -> (Result<[u8; 4], arbor::Elapsed>, Duration) {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            // The reader may have given up already: not this thread's concern.
            let _ = s.write_all(b"ping");
        });
        let t0 = time::now();
        let out = fail_after(TIMEOUT, async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        })
        .await;
        let took = t0.elapsed();
        peer.join().unwrap();
        (out, took)
    })
}

#[test]
fn a_50ms_loopback_read_beats_a_10s_timeout_with_a_threshold() {
    let (out, took) = loopback_read_under_timeout(&autojump_rt(THRESHOLD));
    assert_eq!(out.unwrap(), *b"ping");
    assert_eq!(took, Duration::ZERO, "the clock never jumped");
}

#[test]
fn the_same_read_times_out_at_once_with_threshold_zero() {
    let rt = Runtime::builder().virtual_clock().build().unwrap();
    let real = std::time::Instant::now();
    let (out, took) = loopback_read_under_timeout(&rt);
    assert!(out.is_err(), "the clock jumped to the deadline");
    assert_eq!(took, TIMEOUT);
    assert!(real.elapsed() < PATIENCE);
}

#[arbor::test(autojump = "200ms")]
async fn a_50ms_to_thread_job_beats_a_10s_timeout_with_a_threshold() {
    let t0 = time::now();
    let out = fail_after(TIMEOUT, async {
        to_thread::run_sync(|| {
            std::thread::sleep(Duration::from_millis(50));
            7
        })
        .await
    })
    .await;
    assert_eq!(out.unwrap(), 7);
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[arbor::test(autojump = "200ms")]
async fn each_arrival_starts_the_threshold_again() {
    // Ten 30 ms jobs in a row: 300 ms of real time in all, more than the
    // 200 ms threshold, but never 200 ms without something arriving.
    let t0 = time::now();
    let out = fail_after(TIMEOUT, async {
        for _ in 0..10 {
            to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(30))).await;
        }
    })
    .await;
    assert!(out.is_ok());
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[test]
fn with_nothing_to_wait_for_timers_still_jump_after_the_threshold() {
    let real = std::time::Instant::now();
    autojump_rt(Duration::from_millis(20)).block_on(async {
        let t0 = time::now();
        sleep(HOUR).await;
        assert_eq!(t0.elapsed(), HOUR);
        let out = fail_after(TIMEOUT, pending::<()>()).await;
        assert!(out.is_err());
        assert_eq!(t0.elapsed(), HOUR + TIMEOUT);
    });
    assert!(real.elapsed() < PATIENCE);
}

#[test]
fn an_idle_socket_does_not_stop_the_jump() {
    // A registered fd: the runtime parks in epoll_wait, not on the futex.
    autojump_rt(Duration::from_millis(20)).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let t0 = time::now();
        let out = fail_after(HOUR, listener.accept()).await;
        assert!(out.is_err());
        assert_eq!(t0.elapsed(), HOUR);
    });
}

#[test]
fn wait_all_tasks_blocked_returns_once_the_others_are_parked() {
    let trace = Trace::new();
    autojump_rt(THRESHOLD).block_on(async {
        let t0 = time::now();
        let sleeper = {
            let trace = trace.clone();
            arbor::spawn(async move {
                trace.log("sleeper parks");
                sleep(HOUR).await;
                trace.log("sleeper wakes");
            })
        };
        // The job's thread starts its 20 ms only once `busy` parks, so
        // its wake arrives while every task is blocked and the waiter is
        // counting its cushion.
        let (go, wait_go) = std::sync::mpsc::channel::<()>();
        let busy = {
            let trace = trace.clone();
            arbor::spawn(async move {
                for i in 0..3 {
                    trace.log(format!("busy {i}"));
                    arbor::yield_now().await;
                }
                trace.log("busy parks");
                go.send(()).unwrap();
                pending::<()>().await;
            })
        };
        let job = {
            let trace = trace.clone();
            arbor::spawn(async move {
                trace.log("job starts");
                to_thread::run_sync(move || {
                    wait_go.recv().unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                })
                .await;
                trace.log("job done");
            })
        };
        wait_all_tasks_blocked(Duration::from_millis(50)).await;
        trace.log("all blocked");
        // A waiter is woken before the clock jumps.
        assert_eq!(t0.elapsed(), Duration::ZERO);
        sleeper.await.unwrap();
        assert_eq!(t0.elapsed(), HOUR);
        busy.abort();
        job.await.unwrap();
    });
    assert_eq!(
        trace.events(),
        [
            "sleeper parks",
            "busy 0",
            "job starts",
            "busy 1",
            "busy 2",
            "busy parks",
            "job done",
            "all blocked",
            "sleeper wakes",
        ]
    );
}

#[test]
fn waiters_wake_smallest_cushion_first_and_equal_cushions_together() {
    let trace = Trace::new();
    Runtime::builder()
        .virtual_clock()
        .build()
        .unwrap()
        .block_on(async {
            let waiter = |name: &'static str, cushion_ms: u64| {
                let trace = trace.clone();
                arbor::spawn(async move {
                    wait_all_tasks_blocked(Duration::from_millis(cushion_ms)).await;
                    trace.log(name);
                    arbor::yield_now().await;
                    trace.log(format!("{name} again"));
                })
            };
            let slow = waiter("slow", 20);
            let a = waiter("a", 5);
            let b = waiter("b", 5);
            for h in [slow, a, b] {
                h.await.unwrap();
            }
        });
    // a and b run in one tick; slow only after they have blocked again.
    assert_eq!(
        trace.events(),
        ["a", "b", "a again", "b again", "slow", "slow again"]
    );
}

#[test]
fn wait_all_tasks_blocked_on_the_real_clock() {
    let real = std::time::Instant::now();
    arbor::run(async {
        let other = arbor::spawn(sleep(Duration::from_millis(5)));
        // The sleeper's timer comes due before the 50 ms cushion ends: the
        // waiter wakes only after it ran and finished.
        wait_all_tasks_blocked(Duration::from_millis(50)).await;
        assert!(other.is_finished());
    });
    assert!(real.elapsed() < PATIENCE);
}

#[arbor::test(autojump = "200ms")]
async fn wait_all_tasks_blocked_is_a_cancel_point() {
    let scope = CancelScope::new();
    scope.cancel();
    let real = std::time::Instant::now();
    let out = scope.run(wait_all_tasks_blocked(PATIENCE)).await;
    assert!(out.is_err(), "cancelled, not woken");
    assert!(real.elapsed() < PATIENCE);
}

#[test]
fn a_dropped_waiter_no_longer_holds_the_clock() {
    let real = std::time::Instant::now();
    autojump_rt(Duration::from_millis(20)).block_on(async {
        let waiter = arbor::spawn(wait_all_tasks_blocked(PATIENCE));
        arbor::yield_now().await; // the waiter registers
        waiter.abort();
        let t0 = time::now();
        sleep(HOUR).await;
        assert_eq!(t0.elapsed(), HOUR);
    });
    assert!(
        real.elapsed() < PATIENCE,
        "the dropped waiter's cushion held the clock"
    );
}

#[test]
fn a_clock_with_a_rate_runs_by_itself() {
    let real = std::time::Instant::now();
    let rt = Runtime::builder()
        .virtual_clock_rate(1000.0)
        .build()
        .unwrap();
    rt.block_on(async {
        let t0 = time::now();
        sleep(Duration::from_secs(5)).await;
        assert!(t0.elapsed() >= Duration::from_secs(5));
        let t1 = time::now();
        time::advance(HOUR);
        assert!(t1.elapsed() >= HOUR);
    });
    assert!(real.elapsed() < PATIENCE, "5 s at 1000x is 5 ms real");
}

#[test]
fn a_clock_with_a_rate_and_no_threshold_never_jumps_past_a_thread() {
    // At 1x the 10 s timeout is 10 s of real time away: the 50 ms job wins.
    let rt = Runtime::builder().virtual_clock_rate(1.0).build().unwrap();
    rt.block_on(async {
        let t0 = time::now();
        let out = fail_after(TIMEOUT, async {
            to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(50))).await;
        })
        .await;
        assert!(out.is_ok());
        assert!(t0.elapsed() < TIMEOUT);
    });
}

#[test]
fn a_clock_with_a_rate_and_a_threshold_also_jumps() {
    let real = std::time::Instant::now();
    let rt = Runtime::builder()
        .virtual_clock_rate(1.0)
        .autojump(Duration::from_millis(20))
        .build()
        .unwrap();
    rt.block_on(async {
        let t0 = time::now();
        sleep(HOUR).await;
        assert!(t0.elapsed() >= HOUR);
    });
    assert!(real.elapsed() < PATIENCE);
}

#[test]
#[should_panic(expected = "virtual_clock_rate must be finite and at least 0.0")]
fn a_negative_rate_is_refused() {
    let _ = Runtime::builder().virtual_clock_rate(-1.0);
}
