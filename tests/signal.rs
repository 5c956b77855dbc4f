//! Unix signal listeners (`arbor::signal`).
//!
//! A test binary of its own: the handlers installed here stay for the whole
//! process. Tests run in parallel threads, so each uses its own signal and
//! never sees another's deliveries; the fd-count test takes a write lock
//! that the others hold for reading, so no other test opens fds meanwhile.

use std::io;
use std::sync::{Arc, Barrier, RwLock, RwLockReadGuard};
use std::thread;
use std::time::Duration;

use arbor::signal::{SignalKind, ctrl_c, signal};
use futures_lite::StreamExt;
use futures_lite::future::poll_once;

const BOUND: Duration = Duration::from_secs(10);

static FDS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

fn rt_signal(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

/// Thread-directed: the handler has run when `raise` returns.
fn raise(sig: i32) {
    // SAFETY: `raise` has no memory preconditions; a listener for `sig`
    // exists, so its handler (not the default action) runs.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

/// Process-directed: the kernel picks the thread and the moment.
fn kill(sig: i32) {
    // SAFETY: `kill` and `getpid` take no pointers; a listener for `sig`
    // exists, so its handler (not the default action) runs.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

/// Await a signal future, failing the test if it takes longer than
/// `BOUND` or errors.
async fn within_bound(fut: impl Future<Output = std::io::Result<()>>) {
    arbor::fail_after(BOUND, fut)
        .await
        .expect("signal seen within the bound")
        .expect("signal listener error");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn one_delivery_wakes_every_listener_of_the_signal() {
    let _fds = shared();
    arbor::run(async {
        let mut a = signal(SignalKind::user_defined1()).unwrap();
        let mut b = signal(SignalKind::user_defined1()).unwrap();
        let parked = arbor::spawn(async move { arbor::fail_after(BOUND, a.recv()).await });
        arbor::yield_now().await;
        kill(libc::SIGUSR1);
        within_bound(b.recv()).await;
        parked.await.unwrap().unwrap().unwrap();
    });
}

#[test]
fn deliveries_between_recvs_coalesce_into_one() {
    let _fds = shared();
    arbor::run(async {
        let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
        raise(libc::SIGUSR2);
        raise(libc::SIGUSR2);
        assert!(matches!(poll_once(usr2.recv()).await, Some(Ok(()))));
        assert!(
            poll_once(usr2.recv()).await.is_none(),
            "the second delivery was coalesced"
        );
        raise(libc::SIGUSR2);
        assert!(matches!(poll_once(usr2.recv()).await, Some(Ok(()))));
    });
}

#[test]
fn listener_created_after_a_delivery_does_not_see_it() {
    let _fds = shared();
    arbor::run(async {
        let mut early = signal(SignalKind::window_change()).unwrap();
        raise(libc::SIGWINCH);
        let mut late = signal(SignalKind::window_change()).unwrap();
        assert!(matches!(poll_once(early.recv()).await, Some(Ok(()))));
        assert!(poll_once(late.recv()).await.is_none());
        raise(libc::SIGWINCH);
        assert!(matches!(poll_once(late.recv()).await, Some(Ok(()))));
    });
}

#[test]
fn delivery_between_signal_and_first_recv_is_seen() {
    let _fds = shared();
    arbor::run(async {
        let sig = rt_signal(6);
        let mut listener = signal(SignalKind::from_raw(sig)).unwrap();
        raise(sig);
        within_bound(listener.recv()).await;
    });
}

#[test]
fn dropped_recv_future_loses_no_delivery() {
    let _fds = shared();
    arbor::run(async {
        let sig = rt_signal(1);
        let mut listener = signal(SignalKind::from_raw(sig)).unwrap();
        // Parked in the reactor, then dropped.
        assert!(poll_once(listener.recv()).await.is_none());
        // Dropped while the delivery is pending and unobserved.
        let waiting = listener.recv();
        raise(sig);
        drop(waiting);
        within_bound(listener.recv()).await;
        // And one cancelled by a timeout.
        let cancelled = arbor::move_on_after(Duration::ZERO, listener.recv()).await;
        assert!(cancelled.is_none());
        raise(sig);
        within_bound(listener.recv()).await;
    });
}

#[test]
fn delivery_from_another_thread_wakes_an_idle_runtime() {
    let _fds = shared();
    arbor::run(async {
        let sig = rt_signal(2);
        let mut listener = signal(SignalKind::from_raw(sig)).unwrap();
        let raiser = thread::spawn(move || {
            // Give the runtime time to go to sleep in epoll_wait (only
            // makes the interesting case likely; correctness does not
            // depend on it).
            thread::sleep(Duration::from_millis(50));
            kill(sig);
        });
        within_bound(listener.recv()).await;
        raiser.join().unwrap();
    });
}

#[test]
fn listeners_in_two_runtimes_on_two_threads_see_one_delivery() {
    let _fds = shared();
    let sig = rt_signal(3);
    let ready = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready.clone();
            thread::spawn(move || {
                arbor::run(async move {
                    let mut listener = signal(SignalKind::from_raw(sig)).unwrap();
                    ready.wait();
                    arbor::fail_after(BOUND, listener.recv()).await
                })
            })
        })
        .collect();
    ready.wait();
    kill(sig);
    for t in threads {
        t.join().unwrap().unwrap().unwrap();
    }
}

#[test]
fn ctrl_c_sees_sigint_and_the_process_survives() {
    let _fds = shared();
    arbor::run(async {
        // Registered at the call: a SIGINT before the first poll counts.
        let first = ctrl_c();
        raise(libc::SIGINT);
        within_bound(first).await;
        let second = ctrl_c();
        kill(libc::SIGINT);
        within_bound(second).await;
    });
    // Still here: SIGINT's default action (terminate) did not run.
}

#[test]
fn stream_yields_once_per_coalesced_batch() {
    let _fds = shared();
    arbor::run(async {
        let sig = rt_signal(5);
        let mut stream = signal(SignalKind::from_raw(sig)).unwrap();
        assert_eq!(stream.kind(), SignalKind::from_raw(sig));
        for _ in 0..3 {
            raise(sig);
            raise(sig);
            let item = arbor::fail_after(BOUND, stream.next()).await.unwrap();
            assert!(matches!(item, Some(Ok(()))));
            assert!(poll_once(stream.next()).await.is_none());
        }
    });
}

#[test]
fn uncatchable_and_out_of_range_signals_are_invalid_input() {
    let _fds = shared();
    arbor::run(async {
        let bad = [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGSEGV,
            libc::SIGBUS,
            0,
            -1,
            libc::SIGRTMAX() + 1,
            1000,
        ];
        for sig in bad {
            let err = signal(SignalKind::from_raw(sig)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {sig}");
            assert!(err.to_string().contains("signal"), "{err}");
        }
    });
}

#[test]
#[should_panic(expected = "inside an arbor runtime")]
fn signal_outside_a_runtime_panics() {
    let _fds = shared();
    let _ = signal(SignalKind::from_raw(rt_signal(7)));
}

#[test]
fn dropping_listeners_closes_their_fds_and_frees_their_slots() {
    let _fds = FDS.write().unwrap_or_else(|e| e.into_inner());
    let sig = SignalKind::from_raw(rt_signal(4));
    arbor::run(async move {
        // Install the handler first, so only listeners are counted.
        drop(signal(sig).unwrap());
        let start = open_fds();
        let listeners: Vec<_> = (0..200).map(|_| signal(sig).unwrap()).collect();
        assert_eq!(open_fds(), start + 200);
        drop(listeners);
        assert_eq!(open_fds(), start);
        // More than the 1024 slots, one at a time: each drop frees its slot.
        for _ in 0..2000 {
            drop(signal(sig).unwrap());
        }
        assert_eq!(open_fds(), start);
        // And the listeners that remain still work.
        let mut listener = signal(sig).unwrap();
        raise(sig.as_raw());
        within_bound(listener.recv()).await;
    });
}

#[test]
fn all_slots_taken_is_an_error_not_a_panic() {
    // Exclusive: no other test holds a listener meanwhile.
    let _fds = FDS.write().unwrap_or_else(|e| e.into_inner());
    let sig = SignalKind::from_raw(rt_signal(8));
    arbor::run(async move {
        let mut listeners = Vec::new();
        let err = loop {
            match signal(sig) {
                Ok(listener) => listeners.push(listener),
                Err(err) => break err,
            }
            assert!(listeners.len() <= 1024, "more listeners than slots");
        };
        // Under a low `ulimit -n` the eventfds run out first.
        if err.raw_os_error() != Some(libc::EMFILE) {
            assert_eq!(listeners.len(), 1024);
            assert!(err.to_string().contains("slots"), "{err}");
        }
        drop(listeners);
        let mut listener = signal(sig).unwrap();
        raise(sig.as_raw());
        within_bound(listener.recv()).await;
    });
}

#[test]
fn rapid_deliveries_from_another_thread_never_strand_a_waiter() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _fds = shared();
    let sig = rt_signal(9);
    arbor::run(async move {
        let mut listener = signal(SignalKind::from_raw(sig)).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let raiser = thread::spawn({
            let done = done.clone();
            move || {
                for i in 0..2000 {
                    kill(sig);
                    if i % 100 == 0 {
                        thread::yield_now();
                    }
                }
                done.store(true, Ordering::SeqCst);
                // Seen by a waiter that checked `done` too early.
                kill(sig);
            }
        });
        let mut recvs = 0;
        while !done.load(Ordering::SeqCst) {
            within_bound(listener.recv()).await;
            recvs += 1;
        }
        assert!(recvs >= 1);
        raiser.join().unwrap();
    });
}
