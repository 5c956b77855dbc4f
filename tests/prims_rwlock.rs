//! RwLock: writer preference, reader batching, cancel orders, stress.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::{RwLock, RwLockStatistics, WouldBlock};
use futures_lite::future::poll_once;
use support::prims::{Log, Rng, run, settle};

fn reader(lock: &Rc<RwLock<u32>>, log: &Log, name: &str) -> arbor_runtime::JoinHandle<()> {
    let (lock, log, name) = (lock.clone(), log.clone(), name.to_string());
    arbor_runtime::spawn(async move {
        log.push(format!("{name} wait"));
        let g = lock.read().await;
        log.push(format!("{name} read {}", *g));
        arbor_runtime::yield_now().await;
        drop(g);
        log.push(format!("{name} done"));
    })
}

fn writer(lock: &Rc<RwLock<u32>>, log: &Log, name: &str) -> arbor_runtime::JoinHandle<()> {
    let (lock, log, name) = (lock.clone(), log.clone(), name.to_string());
    arbor_runtime::spawn(async move {
        log.push(format!("{name} wait"));
        let mut g = lock.write().await;
        *g += 1;
        log.push(format!("{name} wrote {}", *g));
        arbor_runtime::yield_now().await;
        drop(g);
        log.push(format!("{name} done"));
    })
}

#[test]
fn waiting_writer_blocks_new_readers_and_later_readers_share() {
    run(async {
        let lock = Rc::new(RwLock::new(0));
        let log = Log::default();
        let r0 = lock.read().await;
        let mut hs = vec![writer(&lock, &log, "w1")];
        settle().await;
        // A writer waits: new readers queue behind it.
        assert!(matches!(lock.try_read(), Err(WouldBlock)));
        hs.push(reader(&lock, &log, "r1"));
        hs.push(reader(&lock, &log, "r2"));
        hs.push(writer(&lock, &log, "w2"));
        hs.push(reader(&lock, &log, "r3"));
        settle().await;
        assert_eq!(
            lock.statistics(),
            RwLockStatistics {
                readers: 1,
                writer: false,
                tasks_waiting_read: 3,
                tasks_waiting_write: 2
            }
        );
        drop(r0);
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(
            log.take(),
            [
                "w1 wait",
                "r1 wait",
                "r2 wait",
                "w2 wait",
                "r3 wait", //
                "w1 wrote 1",
                "w1 done", //
                "r1 read 1",
                "r2 read 1",
                "r1 done",
                "r2 done", // admitted together
                "w2 wrote 2",
                "w2 done", //
                "r3 read 2",
                "r3 done",
            ]
        );
        assert_eq!(
            lock.statistics(),
            RwLockStatistics {
                readers: 0,
                writer: false,
                tasks_waiting_read: 0,
                tasks_waiting_write: 0
            }
        );
    });
}

#[test]
fn try_forms_and_no_barging() {
    run(async {
        let lock = Rc::new(RwLock::new(5));
        let r = lock.try_read().unwrap();
        let r2 = lock.try_read().unwrap();
        assert_eq!(*r + *r2, 10);
        assert!(lock.try_write().is_err());
        drop((r, r2));
        let mut w = lock.try_write().unwrap();
        *w = 6;
        assert!(lock.try_read().is_err() && lock.try_write().is_err());
        let log = Log::default();
        let h = reader(&lock, &log, "r");
        settle().await;
        drop(w);
        // The queued reader was granted: a barging writer fails.
        assert!(lock.try_write().is_err());
        h.await.unwrap();
        assert_eq!(log.take(), ["r wait", "r read 6", "r done"]);
        assert!(WouldBlock.to_string().contains("wait"));
        let mut lock = Rc::try_unwrap(lock).ok().unwrap();
        *lock.get_mut() += 1;
        assert_eq!(lock.into_inner(), 7);
    });
}

#[test]
fn writer_granted_then_dropped_passes_the_lock_on() {
    run(async {
        let lock = Rc::new(RwLock::new(0));
        let log = Log::default();
        let r0 = lock.read().await;
        let mut w = lock.write();
        assert!(poll_once(&mut w).await.is_none());
        let hs = [reader(&lock, &log, "r1"), reader(&lock, &log, "r2")];
        settle().await;
        drop(r0);
        assert!(lock.statistics().writer, "granted to the queued writer");
        drop(w);
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(
            log.take(),
            [
                "r1 wait",
                "r2 wait",
                "r1 read 0",
                "r2 read 0",
                "r1 done",
                "r2 done"
            ]
        );
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn writer_withdrawn_admits_readers_behind_it() {
    run(async {
        let lock = Rc::new(RwLock::new(0));
        let log = Log::default();
        let r0 = lock.read().await;
        let scope = CancelScope::new();
        let handle = scope.handle();
        let l2 = lock.clone();
        let w =
            arbor_runtime::spawn(async move { scope.run(async { *l2.write().await = 9 }).await });
        settle().await;
        let h = reader(&lock, &log, "r1");
        settle().await;
        assert_eq!(log.take(), ["r1 wait"], "queued behind the writer");
        handle.cancel();
        assert!(w.await.unwrap().is_err());
        h.await.unwrap();
        assert_eq!(
            log.take(),
            ["r1 read 0", "r1 done"],
            "admitted while r0 still reads"
        );
        drop(r0);
        assert_eq!(lock.statistics().readers, 0);
    });
}

#[test]
fn reader_granted_then_cancelled_releases() {
    run(async {
        let lock = Rc::new(RwLock::new(0));
        let log = Log::default();
        let w0 = lock.write().await;
        let scope = CancelScope::new();
        let handle = scope.handle();
        let l2 = lock.clone();
        let r = arbor_runtime::spawn(async move { scope.run(async { *l2.read().await }).await });
        let h = writer(&lock, &log, "w1");
        settle().await;
        drop(w0); // grants the reader
        assert_eq!(lock.statistics().readers, 1);
        handle.cancel();
        assert!(r.await.unwrap().is_err());
        h.await.unwrap();
        assert_eq!(log.take(), ["w1 wait", "w1 wrote 1", "w1 done"]);
    });
}

/// Counts live holders; decrements also when its future is cancelled.
struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn new(c: &Rc<Cell<usize>>) -> Self {
        c.set(c.get() + 1);
        Counted(c.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[test]
fn stress_random_cancels_leave_lock_free() {
    for seed in [3, 99, 2024] {
        run(async move {
            let mut rng = Rng::new(seed);
            let lock = Rc::new(RwLock::new(0u64));
            let active_readers = Rc::new(Cell::new(0usize));
            let writes = Rc::new(Cell::new(0u64));
            let mut tasks = Vec::new();
            for _ in 0..80 {
                let (l, ar, wr) = (lock.clone(), active_readers.clone(), writes.clone());
                let is_writer = rng.below(3) == 0;
                let hold = rng.below(8);
                let scope = CancelScope::new();
                let handle = scope.handle();
                tasks.push((
                    arbor_runtime::spawn(async move {
                        scope
                            .run(async {
                                if is_writer {
                                    let mut g = l.write().await;
                                    assert_eq!(ar.get(), 0, "writer overlaps readers");
                                    let before = *g;
                                    for _ in 0..hold {
                                        arbor_runtime::yield_now().await;
                                    }
                                    *g = before + 1; // not reached if cancelled
                                    wr.set(wr.get() + 1);
                                } else {
                                    let g = l.read().await;
                                    let _counted = Counted::new(&ar);
                                    let seen = *g;
                                    for _ in 0..hold {
                                        arbor_runtime::yield_now().await;
                                        assert_eq!(*g, seen);
                                    }
                                }
                            })
                            .await
                            .is_ok()
                    }),
                    handle,
                ));
                if rng.below(3) == 0 {
                    // Cancel a recent task: waiting, holding, or done.
                    let k = tasks.len() - 1 - rng.below(tasks.len().min(6) as u64) as usize;
                    tasks[k].1.cancel();
                }
                if rng.below(2) == 0 {
                    arbor_runtime::yield_now().await;
                }
            }
            let mut cancelled = 0;
            for (h, _) in tasks {
                cancelled += usize::from(!h.await.unwrap());
            }
            assert!(
                cancelled > 5,
                "the test cancels waiters and holders: {cancelled}"
            );
            assert_eq!(
                lock.statistics(),
                RwLockStatistics {
                    readers: 0,
                    writer: false,
                    tasks_waiting_read: 0,
                    tasks_waiting_write: 0
                }
            );
            assert_eq!(
                *lock.try_write().unwrap(),
                writes.get(),
                "every completed write counted once"
            );
        });
    }
}
