//! Behaviour tests for the reactor against real pipes, sockets and eventfds.

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use super::epoll::{self, EventFd};
use super::{Direction, IoBackend, IoKey, Reactor, Ready, ReadyEvent};

/// A waker that counts how often it was woken.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn count(c: &Counter) -> usize {
    c.0.load(Ordering::SeqCst)
}

fn poll_ready(r: &mut Reactor, key: IoKey, dir: Direction, w: &Waker) -> Poll<ReadyEvent> {
    r.poll_ready(key, dir, &mut Context::from_waker(w))
        .map(|res| res.expect("live key"))
}

fn ready(p: Poll<ReadyEvent>) -> ReadyEvent {
    match p {
        Poll::Ready(ev) => ev,
        Poll::Pending => panic!("expected Ready, got Pending"),
    }
}

/// Polls without blocking, waking every waker handed out; returns the eventfd flag.
fn poll_now(r: &mut Reactor) -> bool {
    r.poll(Some(Duration::ZERO), &mut |w| w.wake()).unwrap()
}

fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 4096];
    loop {
        match epoll::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn pipe_read_wakes_only_its_waker_and_clears(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let (rx, tx) = epoll::pipe().unwrap();
    let (rx2, _tx2) = epoll::pipe().unwrap();
    let key = r.register(rx.as_raw_fd()).unwrap();
    let key2 = r.register(rx2.as_raw_fd()).unwrap();
    let (c, w) = counter();
    let (c2, w2) = counter();

    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_pending());
    assert!(poll_ready(&mut r, key2, Direction::Read, &w2).is_pending());
    assert!(!poll_now(&mut r));
    assert_eq!((count(&c), count(&c2)), (0, 0));

    epoll::write(tx.as_raw_fd(), b"hello").unwrap();
    assert!(!poll_now(&mut r));
    assert_eq!((count(&c), count(&c2)), (1, 0));

    let ev = ready(poll_ready(&mut r, key, Direction::Read, &w));
    assert!(ev.ready.contains(Ready::READABLE));
    drain(&rx);
    r.clear_readiness(key, ev);
    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_pending());

    // The waker was taken on wake; the new Pending stored it again.
    epoll::write(tx.as_raw_fd(), b"x").unwrap();
    poll_now(&mut r);
    assert_eq!((count(&c), count(&c2)), (2, 0));
}

fn clearing_with_an_old_stamp_keeps_newer_readiness(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    // Unix sockets signal readers on every send, so the second write is a new edge.
    let (a, b) = epoll::socketpair().unwrap();
    let key = r.register(a.as_raw_fd()).unwrap();
    let (_c, w) = counter();
    // A first wait: io_uring watches a direction from then on.
    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_pending());

    epoll::write(b.as_raw_fd(), b"one").unwrap();
    poll_now(&mut r);
    let old = ready(poll_ready(&mut r, key, Direction::Read, &w));

    epoll::write(b.as_raw_fd(), b"two").unwrap();
    poll_now(&mut r);
    let newer = ready(poll_ready(&mut r, key, Direction::Read, &w));
    assert_ne!(
        old.tick, newer.tick,
        "the second event must advance the tick"
    );

    r.clear_readiness(key, old);
    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_ready());

    r.clear_readiness(key, newer);
    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_pending());
}

fn write_side_full_then_drained_wakes_writer(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let (a, b) = epoll::socketpair().unwrap();
    let key = r.register(a.as_raw_fd()).unwrap();
    let (c, w) = counter();
    let (rc, rw) = counter();
    assert!(poll_ready(&mut r, key, Direction::Read, &rw).is_pending());
    // A first wait for writing (another task's): io_uring arms its poll.
    let (_first, first) = counter();
    assert!(poll_ready(&mut r, key, Direction::Write, &first).is_pending());

    poll_now(&mut r); // initial edge: the socket starts writable
    let ev = ready(poll_ready(&mut r, key, Direction::Write, &w));
    assert!(ev.ready.contains(Ready::WRITABLE));

    let chunk = [7u8; 4096];
    loop {
        match epoll::write(a.as_raw_fd(), &chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    r.clear_readiness(key, ev);
    assert!(poll_ready(&mut r, key, Direction::Write, &w).is_pending());
    assert_eq!(count(&c), 0);

    drain(&b);
    poll_now(&mut r);
    assert_eq!(count(&c), 1);
    assert_eq!(count(&rc), 0, "a write event must not wake the reader");
    assert!(poll_ready(&mut r, key, Direction::Write, &w).is_ready());
}

fn peer_close_reports_read_closed(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let (a, b) = epoll::socketpair().unwrap();
    let key = r.register(a.as_raw_fd()).unwrap();
    let (c, w) = counter();
    poll_now(&mut r);
    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_pending());

    drop(b);
    poll_now(&mut r);
    assert_eq!(count(&c), 1);
    let ev = ready(poll_ready(&mut r, key, Direction::Read, &w));
    assert!(ev.ready.contains(Ready::READ_CLOSED), "{:?}", ev.ready);

    // EOF is not WouldBlock, but even a clear must keep READ_CLOSED.
    r.clear_readiness(key, ev);
    let ev = ready(poll_ready(&mut r, key, Direction::Read, &w));
    assert!(ev.ready.contains(Ready::READ_CLOSED));
    assert!(!ev.ready.contains(Ready::READABLE));
}

fn eventfd_notify_from_another_thread_wakes_blocking_poll(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let efd = Arc::new(EventFd::new().unwrap());
    r.register_waker_fd(efd.as_raw_fd()).unwrap();

    let remote = efd.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        remote.notify().unwrap();
    });
    let mut woke = 0;
    assert!(r.poll(None, &mut |_| woke += 1).unwrap());
    assert_eq!(woke, 0);
    t.join().unwrap();

    efd.drain().unwrap();
    let mut buf = [0u8; 8];
    let err = epoll::read(efd.as_raw_fd(), &mut buf).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::WouldBlock,
        "drain must reset the counter"
    );
    assert!(!poll_now(&mut r));

    efd.notify().unwrap();
    efd.notify().unwrap();
    assert!(poll_now(&mut r));
    efd.drain().unwrap();
    assert!(!poll_now(&mut r));
}

fn blocking_poll_times_out_without_waking(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let (rx, _tx) = epoll::pipe().unwrap();
    let key = r.register(rx.as_raw_fd()).unwrap();
    let (c, w) = counter();
    assert!(poll_ready(&mut r, key, Direction::Read, &w).is_pending());

    let mut woke = 0;
    let fired = r
        .poll(Some(Duration::from_millis(20)), &mut |_| woke += 1)
        .unwrap();
    assert!(!fired);
    assert_eq!((woke, count(&c)), (0, 0));
}

fn stale_keys_are_rejected_and_slot_reuse_is_not_confused(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let (rx, tx) = epoll::pipe().unwrap();
    let (_c, w) = counter();

    let key1 = r.register(rx.as_raw_fd()).unwrap();
    assert_eq!(r.registrations(), 1);
    r.deregister(key1, rx.as_raw_fd()).unwrap();
    assert_eq!(r.registrations(), 0);
    r.deregister(key1, rx.as_raw_fd()).unwrap(); // stale: no-op
    let err = match r.poll_ready(key1, Direction::Read, &mut Context::from_waker(&w)) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected error, got {other:?}"),
    };
    assert_eq!(err.kind(), ErrorKind::Other);
    r.clear_readiness(
        key1,
        ReadyEvent {
            tick: 0,
            ready: Ready::READABLE,
        },
    ); // no-op

    // Reuse the slot, then make the *old* fd readable: nothing may leak across.
    let (rx2, tx2) = epoll::pipe().unwrap();
    let key2 = r.register(rx2.as_raw_fd()).unwrap();
    assert_ne!(key1, key2);
    assert_eq!(r.registrations(), 1);
    epoll::write(tx.as_raw_fd(), b"old").unwrap();
    poll_now(&mut r);
    assert!(poll_ready(&mut r, key2, Direction::Read, &w).is_pending());
    assert!(matches!(
        r.poll_ready(key1, Direction::Read, &mut Context::from_waker(&w)),
        Poll::Ready(Err(_))
    ));
    epoll::write(tx2.as_raw_fd(), b"new").unwrap();
    poll_now(&mut r);
    assert!(poll_ready(&mut r, key2, Direction::Read, &w).is_ready());
}

fn events_for_a_stale_token_are_ignored(backend: IoBackend) {
    let mut r = Reactor::new(backend).unwrap();
    let (rx, tx) = epoll::pipe().unwrap();
    let (c, w) = counter();
    let key1 = r.register(rx.as_raw_fd()).unwrap();

    // Keep the pipe's read side alive under another fd number, then close the
    // registered number: epoll keeps the registration (and old token), but
    // EPOLL_CTL_DEL can no longer name it. (io_uring's remove names the
    // poll, not the fd, and succeeds.)
    let dup = rx.try_clone().unwrap();
    let old_fd = rx.as_raw_fd();
    drop(rx);
    let removed = r.deregister(key1, old_fd);
    assert_eq!(removed.is_err(), backend == IoBackend::Epoll, "{removed:?}");
    assert_eq!(r.registrations(), 0, "entry is freed even if DEL failed");

    let (rx2, _tx2) = epoll::pipe().unwrap();
    let key2 = r.register(rx2.as_raw_fd()).unwrap();
    assert!(poll_ready(&mut r, key2, Direction::Read, &w).is_pending());

    epoll::write(tx.as_raw_fd(), b"stale").unwrap();
    poll_now(&mut r);
    assert_eq!(count(&c), 0, "stale event woke the slot's new occupant");
    assert!(poll_ready(&mut r, key2, Direction::Read, &w).is_pending());
    drop(dup);
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

fn signal_during_blocking_poll_is_not_an_error(backend: IoBackend) {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the
    // handler only touches an atomic, which is async-signal-safe. No
    // SA_RESTART, so epoll_wait really fails with EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }

    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let t = thread::spawn(move || {
        let mut r = Reactor::new(backend).unwrap();
        let (rx, _tx) = epoll::pipe().unwrap();
        r.register(rx.as_raw_fd()).unwrap();
        // SAFETY: pthread_self has no preconditions.
        tid_tx.send(unsafe { libc::pthread_self() }).unwrap();
        r.poll(Some(Duration::from_millis(500)), &mut |_| {})
    });
    let tid = tid_rx.recv().unwrap();
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(30));
        // SAFETY: `t` is neither joined nor detached yet, so `tid` still names a valid thread.
        assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
    }
    let result = t.join().unwrap();
    assert!(SIGNALS.load(Ordering::SeqCst) >= 1);
    assert!(!result.expect("EINTR must be retried, not returned"));
}

#[test]
fn the_environment_decides_only_for_auto() {
    use std::env::VarError;
    let env = |v: &str| Ok(v.to_string());
    let auto = IoBackend::Auto;
    assert_eq!(auto.resolve(Err(VarError::NotPresent)).unwrap(), auto);
    assert_eq!(auto.resolve(env("auto")).unwrap(), auto);
    assert_eq!(auto.resolve(env("epoll")).unwrap(), IoBackend::Epoll);
    assert_eq!(auto.resolve(env("EPOLL")).unwrap(), IoBackend::Epoll);
    assert_eq!(auto.resolve(env("io_uring")).unwrap(), IoBackend::IoUring);
    assert_eq!(auto.resolve(env("uring")).unwrap(), IoBackend::IoUring);
    // An explicit choice on the builder wins over the environment.
    assert_eq!(
        IoBackend::Epoll.resolve(env("io_uring")).unwrap(),
        IoBackend::Epoll
    );
    let err = auto.resolve(env("kqueue")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "ARBOR_IO_BACKEND=\"kqueue\": expected `epoll`, `io_uring` or `auto`"
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_stream_that_reads_and_writes_through_the_ring_arms_no_poll() {
    let mut r = Reactor::new(IoBackend::IoUring).unwrap();
    let (a, b) = epoll::socketpair().unwrap();
    let key = r.register(a.as_raw_fd()).unwrap();
    let (c, w) = counter();
    let mut cx = Context::from_waker(&w);
    let mut buf = [0u8; 8];
    assert!(r.poll_recv(key, &mut cx, &mut buf[..]).is_pending());
    epoll::write(b.as_raw_fd(), b"ping").unwrap();
    r.poll(Some(Duration::from_secs(5)), &mut |w| w.wake())
        .unwrap();
    assert_eq!(count(&c), 1, "the receive woke the reader");
    match r.poll_recv(key, &mut cx, &mut buf[..]) {
        Poll::Ready(Ok(4)) => assert_eq!(&buf[..4], b"ping"),
        other => panic!("{other:?}"),
    }
    let sent = r.poll_send(key, &mut cx, &[std::io::IoSlice::new(b"pong")]);
    assert!(matches!(sent, Poll::Ready(Ok(4))), "{sent:?}");
    poll_now(&mut r);
    assert!(matches!(r.poll_flush(key, &mut cx), Poll::Ready(Ok(()))));
    let mut got = [0u8; 4];
    assert_eq!(epoll::read(b.as_raw_fd(), &mut got).unwrap(), 4);
    assert_eq!(&got, b"pong");
    // No readiness wait, so no poll on the socket's wait queue: a packet
    // wakes only the receive, and the deregistration removes nothing.
    assert_eq!(super::entry_mut(&mut r.slots, key).unwrap().polled, 0);
    r.deregister(key, a.as_raw_fd()).unwrap();
}

/// Each test above, once per backend: the readiness contract is the same.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::IoBackend;

            #[test]
            fn epoll() {
                super::$name(IoBackend::Epoll);
            }

            // Miri has no io_uring.
            #[test]
            #[cfg_attr(miri, ignore)]
            fn io_uring() {
                super::$name(IoBackend::IoUring);
            }
        }
    )*};
}

on_both_backends!(
    pipe_read_wakes_only_its_waker_and_clears,
    clearing_with_an_old_stamp_keeps_newer_readiness,
    write_side_full_then_drained_wakes_writer,
    peer_close_reports_read_closed,
    eventfd_notify_from_another_thread_wakes_blocking_poll,
    blocking_poll_times_out_without_waking,
    stale_keys_are_rejected_and_slot_reuse_is_not_confused,
    events_for_a_stale_token_are_ignored,
    signal_during_blocking_poll_is_not_an_error,
);
