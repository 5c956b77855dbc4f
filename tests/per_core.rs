//! `arbor::per_core`: one runtime per core, shut down and joined as one
//! group, and `SO_REUSEPORT` listeners shared by the cores. Two cores (the
//! machine's count here); no test asserts a duration.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use arbor::net::TcpListener;
use arbor::per_core::{CoreError, PerCore};

/// Pinned when the machine has two CPUs this process may use (pinning
/// itself is tested below); unpinned otherwise.
fn two_cores() -> PerCore {
    PerCore::new(2).pin(cpus() >= 2)
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn the_closure_runs_once_per_core_on_its_own_thread() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let out = two_cores()
        .run(move |core| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                // `!Send` state across an await: the future stays on the
                // core's thread.
                let here = std::rc::Rc::new(std::thread::current().id());
                arbor::yield_now().await;
                let name = std::thread::current().name().map(String::from);
                (core.index, core.cores, core.cpu, *here, name)
            }
        })
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    let indices: Vec<_> = out.iter().map(|o| (o.0, o.1)).collect();
    assert_eq!(indices, [(0, 2), (1, 2)]);
    let threads: HashSet<_> = out.iter().map(|o| o.3).collect();
    assert_eq!(threads.len(), 2, "one thread per core");
    assert!(!threads.contains(&std::thread::current().id()));
    assert_eq!(out[1].4.as_deref(), Some("arbor-core-1"));
    if cpus() >= 2 {
        assert_eq!((out[0].2, out[1].2), (Some(0), Some(1)));
    }
}

#[test]
fn pinned_cores_run_on_their_cpu() {
    if cpus() < 2 {
        eprintln!("skipped: fewer than 2 CPUs available");
        return;
    }
    // The kernel reports the CPU a thread is on; pinned, it can only be
    // the one the core was pinned to. (Through /proc, to keep libc out.)
    let out = PerCore::new(2)
        .run(|core| async move { (core.cpu, current_cpu()) })
        .unwrap();
    for (i, o) in out.into_iter().enumerate() {
        let (pinned, on) = o.unwrap();
        assert_eq!(pinned, Some(i));
        assert_eq!(on, Some(i));
    }
}

/// The CPU this thread last ran on, from `/proc/thread-self/stat` (field 39).
fn current_cpu() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split(' ').nth(36)?.parse().ok()
}

#[test]
fn a_cpu_that_does_not_exist_is_a_clear_error_and_started_cores_are_joined() {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (started.clone(), finished.clone());
    // One core more than this process may use: the last one cannot pin.
    let n = cpus() + 1;
    let err = PerCore::new(n)
        .spawn(move |_core| {
            s.fetch_add(1, Ordering::SeqCst);
            let f = f.clone();
            async move {
                let _done = Finished(f);
                std::future::pending::<()>().await
            }
        })
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(
        text.contains(&format!("core {} did not start", n - 1)),
        "{text}"
    );
    assert!(
        text.contains(&format!("cannot pin to CPU {}", n - 1)),
        "{text}"
    );
    // Every core that started was cancelled and joined before `spawn`
    // returned.
    assert_eq!(
        started.load(Ordering::SeqCst),
        finished.load(Ordering::SeqCst)
    );
}

struct Finished(Arc<AtomicUsize>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_cancels_every_core_and_join_returns_each_outcome() {
    let (done_tx, done_rx) = mpsc::channel();
    let done_tx = std::sync::Mutex::new(done_tx);
    let group = two_cores()
        .spawn(move |core| {
            let done = done_tx.lock().unwrap().clone();
            async move {
                if core.index == 0 {
                    // Finishes before the shutdown: keeps its value.
                    done.send(()).unwrap();
                    return "finished";
                }
                arbor::time::sleep(Duration::from_secs(3600)).await;
                "slept an hour"
            }
        })
        .unwrap();
    done_rx.recv().unwrap();
    group.shutdown();
    group.shutdown(); // idempotent
    let out = group.join();
    assert_eq!(out.len(), 2);
    assert_eq!(*out[0].as_ref().unwrap(), "finished");
    match &out[1] {
        Err(CoreError::Cancelled(c)) => assert_eq!(c.reason(), Some("shutdown")),
        other => panic!("core 1: {other:?}"),
    }
}

#[test]
fn shutdown_reaches_nursery_children_and_cleanup_runs_on_the_core() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let group = two_cores()
        .spawn(move |_core| {
            let c = c.clone();
            async move {
                arbor::nursery(async |n| {
                    for _ in 0..3 {
                        let c = c.clone();
                        n.spawn(async move {
                            let _done = Finished(c);
                            std::future::pending::<()>().await
                        });
                    }
                    std::future::pending::<()>().await
                })
                .await
                .is_ok() // (a NurseryError is not `Send`)
            }
        })
        .unwrap();
    let handle = group.shutdown_handle();
    std::thread::spawn(move || handle.shutdown())
        .join()
        .unwrap();
    for outcome in group.join() {
        assert!(outcome.unwrap_err().is_cancelled());
    }
    assert_eq!(cleaned.load(Ordering::SeqCst), 6, "3 children on each core");
}

#[test]
fn a_panic_on_one_core_is_reported_and_cancels_the_others() {
    let out = two_cores()
        .run(|core| async move {
            if core.index == 1 {
                arbor::yield_now().await;
                panic!("core one fails");
            }
            arbor::time::sleep(Duration::from_secs(3600)).await;
            7
        })
        .unwrap();
    match &out[0] {
        Err(CoreError::Cancelled(c)) => assert_eq!(c.reason(), Some("core 1 panicked")),
        other => panic!("core 0: {other:?}"),
    }
    let panic = out[1].as_ref().unwrap_err();
    assert!(panic.is_panic());
    assert_eq!(panic.panic_message(), Some("core one fails"));
}

#[test]
fn an_err_on_one_core_cancels_the_others_and_is_returned_untouched() {
    let out = two_cores()
        .run(|core| async move {
            if core.index == 0 {
                return Err(std::io::Error::other("boom"));
            }
            // Cancelled by core 0's failure; without it, this core would
            // return `Ok` after a minute and the test fail (not hang).
            arbor::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .unwrap();
    let err = out[0].as_ref().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Other);
    assert_eq!(err.to_string(), "boom");
    match &out[1] {
        Err(CoreError::Cancelled(c)) => assert_eq!(c.reason(), Some("core 0 failed")),
        other => panic!("core 1: {other:?}"),
    }
}

#[test]
fn an_ok_on_one_core_cancels_nobody() {
    // Set when core 0's runtime is dropped: after the point where a
    // failure of core 0 would have cancelled core 1.
    let gone = Arc::new(AtomicBool::new(false));
    let g = gone.clone();
    let out = two_cores()
        .run(move |core| {
            let gone = g.clone();
            async move {
                if core.index == 0 {
                    // An unstructured task: the runtime drops it, and
                    // with it the flag's guard, once core 0 is done.
                    // (Polled or not, its future holds the guard.)
                    let guard = SetOnDrop(gone);
                    drop(arbor::spawn(async move {
                        let _guard = guard;
                        std::future::pending::<()>().await
                    }));
                    return Ok::<_, std::io::Error>(0);
                }
                while !gone.load(Ordering::SeqCst) {
                    arbor::time::sleep(Duration::from_millis(1)).await;
                }
                // Room for a cancel on its way to land.
                for _ in 0..10 {
                    arbor::yield_now().await;
                }
                arbor::time::sleep(Duration::from_millis(1)).await;
                Ok(1)
            }
        })
        .unwrap();
    let values: Vec<_> = out.into_iter().map(|o| o.unwrap().unwrap()).collect();
    assert_eq!(values, [0, 1]);
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_panic_building_the_future_is_reported_too() {
    let out = two_cores()
        .run(|core| {
            assert_ne!(core.index, 0, "the closure itself panicked");
            std::future::pending::<()>()
        })
        .unwrap();
    assert!(out[0].as_ref().unwrap_err().is_panic());
    assert!(out[1].as_ref().unwrap_err().is_cancelled());
}

#[test]
fn a_core_can_shut_the_group_down() {
    let out = two_cores()
        .run(|core| async move {
            if core.index == 0 {
                core.shutdown();
            }
            arbor::time::sleep(Duration::from_secs(3600)).await;
        })
        .unwrap();
    assert!(out.iter().all(|o| o.as_ref().unwrap_err().is_cancelled()));
}

#[test]
fn dropping_the_group_shuts_it_down_and_waits() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let group = two_cores()
        .spawn(move |_core| {
            let f = f.clone();
            async move {
                let _done = Finished(f);
                std::future::pending::<()>().await
            }
        })
        .unwrap();
    drop(group);
    assert_eq!(finished.load(Ordering::SeqCst), 2);
}

#[test]
fn reuseport_listeners_on_two_cores_share_one_port_and_accept_every_connection() {
    const CONNECTIONS: usize = 64;
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    let port_tx = std::sync::Mutex::new(port_tx);
    let port_rx = std::sync::Mutex::new(port_rx);
    let (bound_tx, bound_rx) = mpsc::channel::<(usize, u16)>();
    let bound_tx = std::sync::Mutex::new(bound_tx);
    let per_core: Arc<[AtomicUsize; 2]> = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));
    let (counts, t) = (per_core.clone(), total.clone());
    let group = two_cores()
        .spawn(move |core| {
            // Core 0 picks the port; core 1 binds the same one.
            let port = if core.index == 0 {
                0
            } else {
                port_rx.lock().unwrap().recv().unwrap()
            };
            let listener = TcpListener::bind_reuseport(([127, 0, 0, 1], port).into()).unwrap();
            let port = listener.local_addr().unwrap().port();
            if core.index == 0 {
                port_tx.lock().unwrap().send(port).unwrap();
            }
            bound_tx.lock().unwrap().send((core.index, port)).unwrap();
            let (counts, total, shutdown) = (counts.clone(), t.clone(), core.shutdown_handle());
            // A loop that never returns (type `!`, not an `Outcome`).
            arbor::forever(async move {
                // Kept open until the core stops.
                let mut streams = Vec::new();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    streams.push(stream);
                    counts[core.index].fetch_add(1, Ordering::SeqCst);
                    // The last connection, on whichever core, stops both.
                    if total.fetch_add(1, Ordering::SeqCst) + 1 == CONNECTIONS {
                        shutdown.shutdown();
                    }
                }
            })
        })
        .unwrap();
    let mut bound: Vec<_> = (0..2).map(|_| bound_rx.recv().unwrap()).collect();
    bound.sort();
    assert_eq!(bound[0].0, 0);
    assert_eq!(bound[1].0, 1);
    let port = bound[0].1;
    assert_eq!(
        bound[1].1, port,
        "both listeners are bound to the same port"
    );
    // Distinct client ports: the kernel hashes each to one listener.
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for outcome in group.join() {
        assert!(outcome.unwrap_err().is_cancelled());
    }
    let split = [0, 1].map(|i| per_core[i].load(Ordering::SeqCst));
    eprintln!("connections accepted per core: {split:?}");
    assert_eq!(split[0] + split[1], CONNECTIONS);
    drop(clients);
}
