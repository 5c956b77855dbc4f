//! Parking the runtime thread, and ringing it awake from other threads.
//!
//! When nothing is runnable the runtime thread blocks in one of two places:
//!
//! - `epoll_wait` (or `io_uring_enter`, on the io_uring backend: "epoll"
//!   below means the reactor's wait, either one), when fds are registered:
//!   I/O readiness, a timer or a cross-thread wake may end the wait, and a
//!   waking thread writes the runtime's eventfd (registered in the epoll
//!   set, or polled by the ring);
//! - a futex on the parker's state word, when no fd is registered, so only
//!   a cross-thread wake (a `to_thread` job finishing, a `Handle`, a waker
//!   woken on another thread) or the next timer can end the wait. A futex
//!   wake is cheaper for both threads than an eventfd edge delivered
//!   through epoll.
//!
//! # The state word
//!
//! | state          | meaning                                 | a ring does        |
//! |----------------|-----------------------------------------|--------------------|
//! | `RUNNING`      | the runtime thread is not blocked       | store `NOTIFIED`   |
//! | `PARKED_EPOLL` | blocked, or about to, in `epoll_wait`   | write the eventfd  |
//! | `PARKED_FUTEX` | blocked, or about to, on this word      | `FUTEX_WAKE`       |
//! | `NOTIFIED`     | rung since the runtime last parked      | nothing            |
//!
//! A ring swaps in `NOTIFIED` and makes a syscall only if the runtime was
//! parked, so a busy runtime costs its wakers one atomic swap. The runtime
//! thread parks with a compare-exchange `RUNNING → PARKED_*`: if a ring came
//! first (`NOTIFIED`) it does not block. After the wait it swaps back to
//! `RUNNING` (consuming any `NOTIFIED`), and only then drains the remote
//! queue.
//!
//! # The hand-off with the remote queue
//!
//! A pusher queues its id or job, then rings (`remote.rs`). The runtime
//! thread's order is park → finish (`RUNNING`) → drain. A push whose ring
//! lands before the finish is already queued, so the drain takes it; a push
//! after the finish rings `NOTIFIED`, which the next park sees. Either way
//! nothing waits in the queue while the runtime thread blocks. A wake that
//! finds the runtime no longer blocked (the futex wait already returned, an
//! eventfd edge for an `epoll_wait` that ended for another reason) is
//! spurious: at worst the next `epoll_wait` returns at once. The loom
//! models below check both waits, with the OS calls simulated.

use std::time::Duration;

use crate::sync::{AtomicU32, Ordering::SeqCst};

const RUNNING: u32 = 0;
const PARKED_EPOLL: u32 = 1;
const PARKED_FUTEX: u32 = 2;
const NOTIFIED: u32 = 3;

/// Where the runtime thread blocks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// In `epoll_wait`: fds are registered.
    Epoll,
    /// On the parker's futex: no fd is registered.
    Futex,
}

/// The calls that block the runtime thread and end that block: the OS's
/// (`OsWake`) in a runtime, a simulation in the loom models.
pub(crate) trait ParkOs: Send + Sync {
    /// Block while `*word == expected`, at most `timeout`; may return
    /// spuriously.
    fn futex_wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>);
    /// End a [`futex_wait`](Self::futex_wait) on `word`.
    fn futex_wake(&self, word: &AtomicU32);
    /// End an `epoll_wait` (write the eventfd).
    fn wake_epoll(&self);
}

/// The runtime thread's parking state, shared with every thread that may
/// wake it (it is the remote queue's doorbell).
pub(crate) struct Parker<O> {
    state: AtomicU32,
    os: O,
}

impl<O: ParkOs> Parker<O> {
    pub(crate) fn new(os: O) -> Self {
        Parker {
            state: AtomicU32::new(RUNNING),
            os,
        }
    }

    #[cfg(all(test, loom))]
    pub(crate) fn os(&self) -> &O {
        &self.os
    }

    /// Runtime thread: block until rung or `timeout`, unless rung since the
    /// last park. `via == Epoll` calls `epoll_wait` with the timeout to use
    /// (`Some(ZERO)` if rung: still collect ready I/O, without blocking).
    /// The caller drains the remote queue after this returns, never before.
    pub(crate) fn park(
        &self,
        via: Via,
        timeout: Option<Duration>,
        epoll_wait: impl FnOnce(Option<Duration>),
    ) {
        let parked = match via {
            Via::Epoll => PARKED_EPOLL,
            Via::Futex => PARKED_FUTEX,
        };
        let blocks = self
            .state
            .compare_exchange(RUNNING, parked, SeqCst, SeqCst)
            .is_ok();
        match via {
            Via::Epoll => epoll_wait(if blocks {
                timeout
            } else {
                Some(Duration::ZERO)
            }),
            Via::Futex if blocks => self.os.futex_wait(&self.state, PARKED_FUTEX, timeout),
            Via::Futex => {}
        }
        // Back to running; consumes a ring that came during (or before) the
        // wait. Its queued work is in the caller's drain that follows.
        self.state.swap(RUNNING, SeqCst);
    }
}

impl<O: ParkOs> super::Doorbell for Parker<O> {
    #[inline]
    fn ring(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            PARKED_EPOLL => self.os.wake_epoll(),
            PARKED_FUTEX => self.os.futex_wake(&self.state),
            _ => {}
        }
    }
}

/// The OS calls of a real runtime: a futex on the state word, and the
/// eventfd registered in the runtime's epoll set.
pub(crate) struct OsWake {
    pub(crate) eventfd: crate::reactor::epoll::EventFd,
}

impl ParkOs for OsWake {
    fn futex_wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        #[cfg(not(loom))]
        crate::reactor::epoll::futex_wait(word, expected, timeout);
        // loom's atomics have no address to wait on (and loom models use
        // their own `ParkOs`): return at once, a spurious wake.
        #[cfg(loom)]
        let _ = (word, expected, timeout);
    }

    fn futex_wake(&self, word: &AtomicU32) {
        #[cfg(not(loom))]
        crate::reactor::epoll::futex_wake(word);
        #[cfg(loom)]
        let _ = word;
    }

    fn wake_epoll(&self) {
        // EAGAIN means the counter is saturated: the fd is readable anyway.
        let _ = self.eventfd.notify();
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::executor::Remote;
    use crate::sync::{Arc, Condvar, Mutex};
    use crate::task::waker::WakeId;

    /// The OS calls, simulated strictly: a futex wait blocks until a wake
    /// (no spurious returns, so a lost ring is a loom deadlock), and
    /// `epoll_wait` blocks until an eventfd edge, which it consumes.
    #[derive(Default)]
    struct SimOs {
        edges: Mutex<usize>,
        changed: Condvar,
    }

    impl ParkOs for SimOs {
        fn futex_wait(&self, word: &AtomicU32, expected: u32, _: Option<Duration>) {
            let guard = self.edges.lock().unwrap();
            if word.load(SeqCst) == expected {
                drop(self.changed.wait(guard).unwrap());
            }
        }

        fn futex_wake(&self, _: &AtomicU32) {
            let _guard = self.edges.lock().unwrap();
            self.changed.notify_all();
        }

        fn wake_epoll(&self) {
            *self.edges.lock().unwrap() += 1;
            self.changed.notify_all();
        }
    }

    impl SimOs {
        fn epoll_wait(&self, timeout: Option<Duration>) {
            let mut edges = self.edges.lock().unwrap();
            if timeout.is_none() {
                while *edges == 0 {
                    edges = self.changed.wait(edges).unwrap();
                }
            }
            *edges = 0;
        }
    }

    fn id(n: u32) -> WakeId {
        WakeId::task(1, n, 0)
    }

    /// Another thread pushes two wakes (the second may find the queue
    /// non-empty and not ring) while the runtime thread parks, blocking
    /// with no timeout, whenever its queue looks empty, the way
    /// `Core::block_for_events` does: it receives both, never blocking past
    /// a ring.
    fn runtime_gets_every_push(via: Via) {
        loom::model(move || {
            let remote = Arc::new(Remote::new(Parker::new(SimOs::default())));
            let pusher = {
                let remote = remote.clone();
                loom::thread::spawn(move || {
                    remote.push(id(1));
                    remote.push(id(2));
                })
            };
            let (mut ids, mut jobs) = (Vec::new(), Vec::new());
            while ids.len() < 2 {
                if !remote.has_pending() {
                    let parker = remote.doorbell();
                    parker.park(via, None, |t| parker.os().epoll_wait(t));
                }
                remote.drain_into(&mut ids, &mut jobs);
            }
            pusher.join().unwrap();
            assert_eq!(ids, [id(1), id(2)]);
        });
    }

    #[test]
    fn loom_model_futex_park_never_misses_a_ring() {
        runtime_gets_every_push(Via::Futex);
    }

    #[test]
    fn loom_model_epoll_park_never_misses_a_ring() {
        runtime_gets_every_push(Via::Epoll);
    }
}
