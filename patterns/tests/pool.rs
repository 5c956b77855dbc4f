//! `Pool`: FIFO slots, LIFO reuse, the `max_size` bound, expiry on the
//! virtual clock, health checks, close, statistics, and cancellation in
//! every state of a `get`. Every test runs on a virtual clock and compares
//! whole event traces ("<virtual seconds>s <event>").

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::{CancelScope, move_on_after, nursery};
use arbor_patterns::{Pool, PoolBuilder, PoolError};
use arbor_runtime::time::{self, Instant, sleep};
use arbor_runtime::{Runtime, spawn, yield_now};

fn rt() -> Runtime {
    Runtime::builder().virtual_clock().build().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The test's world: an event log stamped with virtual time, and a count
/// of the connections alive (opened by the factory, not yet dropped).
#[derive(Clone)]
struct Env(Rc<EnvInner>);

struct EnvInner {
    t0: Instant,
    log: RefCell<Vec<String>>,
    next_id: Cell<u32>,
    live: Cell<usize>,
    max_live: Cell<usize>,
    /// How long the factory takes.
    open_delay: Cell<Duration>,
    /// Ids whose opening fails.
    failing: RefCell<Vec<u32>>,
    /// Ids the health check rejects.
    unhealthy: RefCell<Vec<u32>>,
    /// How long the health check takes.
    check_delay: Cell<Duration>,
}

struct Conn {
    id: u32,
    env: Env,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({})", self.id)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.env.0.live.set(self.env.0.live.get() - 1);
        self.env.log(format_args!("drop {}", self.id));
    }
}

type TestPool = Pool<Conn, std::io::Error>;

impl Env {
    /// Inside a runtime: time counts from here.
    fn new() -> Env {
        Env(Rc::new(EnvInner {
            t0: time::now(),
            log: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
            live: Cell::new(0),
            max_live: Cell::new(0),
            open_delay: Cell::new(Duration::ZERO),
            failing: RefCell::new(Vec::new()),
            unhealthy: RefCell::new(Vec::new()),
            check_delay: Cell::new(Duration::ZERO),
        }))
    }

    fn log(&self, event: impl Display) {
        let t = (time::now() - self.0.t0).as_secs_f64();
        self.0.log.borrow_mut().push(format!("{t}s {event}"));
    }

    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.log.borrow_mut())
    }

    /// A pool whose factory opens `Conn`s with ids 0, 1, 2, ...
    fn builder(&self) -> PoolBuilder<Conn, std::io::Error> {
        let env = self.clone();
        Pool::builder(async move || {
            let id = env.0.next_id.get();
            env.0.next_id.set(id + 1);
            env.log(format_args!("open {id}"));
            let delay = env.0.open_delay.get();
            if !delay.is_zero() {
                sleep(delay).await;
            }
            if env.0.failing.borrow().contains(&id) {
                env.log(format_args!("open {id} failed"));
                return Err(std::io::Error::other(format!("open {id} failed")));
            }
            let live = env.0.live.get() + 1;
            env.0.live.set(live);
            env.0.max_live.set(env.0.max_live.get().max(live));
            Ok(Conn {
                id,
                env: env.clone(),
            })
        })
    }

    fn with_close_hook(
        &self,
        builder: PoolBuilder<Conn, std::io::Error>,
    ) -> PoolBuilder<Conn, std::io::Error> {
        let env = self.clone();
        builder.on_close(async move |conn: Conn| env.log(format_args!("close {}", conn.id)))
    }

    fn with_health_check(
        &self,
        builder: PoolBuilder<Conn, std::io::Error>,
    ) -> PoolBuilder<Conn, std::io::Error> {
        let env = self.clone();
        builder.health_check(async move |conn: &mut Conn| {
            env.log(format_args!("check {}", conn.id));
            let delay = env.0.check_delay.get();
            if !delay.is_zero() {
                sleep(delay).await;
            }
            !env.0.unhealthy.borrow().contains(&conn.id)
        })
    }
}

/// (size, idle, in_use, pending, waiting, created, closed, timed_out)
fn counts(pool: &TestPool) -> (usize, usize, usize, usize, usize, u64, u64, u64) {
    let s = pool.statistics();
    (
        s.size,
        s.idle,
        s.in_use,
        s.pending,
        s.waiting,
        s.created,
        s.closed,
        s.timed_out,
    )
}

#[test]
fn waiters_are_served_in_fifo_order() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.builder().max_size(1).build();
        let held = pool.get().await.unwrap();
        let mut tasks = Vec::new();
        // Spawned a, b, c but queued b, c, a: the queue order counts.
        for (name, delay) in [("a", 3), ("b", 1), ("c", 2)] {
            let (pool, env) = (pool.clone(), env.clone());
            tasks.push(spawn(async move {
                sleep(secs(delay)).await;
                env.log(format_args!("{name} waits"));
                let conn = pool.get().await.unwrap();
                env.log(format_args!("{name} got {}", conn.id));
                sleep(secs(1)).await;
            }));
        }
        sleep(secs(5)).await;
        assert_eq!(counts(&pool), (1, 0, 1, 0, 3, 1, 0, 0));
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "1s b waits",
                "2s c waits",
                "3s a waits",
                "5s b got 0",
                "6s c got 0",
                "7s a got 0",
            ]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
    });
}

#[test]
fn the_most_recently_returned_idle_connection_is_reused_first() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.builder().max_size(3).build();
        let (a, b, c) = (
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        );
        assert_eq!((a.id, b.id, c.id), (0, 1, 2));
        drop(a);
        drop(c);
        drop(b);
        assert_eq!(counts(&pool), (3, 3, 0, 0, 0, 3, 0, 0));
        let (x, y, z) = (
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        );
        assert_eq!((x.id, y.id, z.id), (1, 2, 0));
        assert_eq!(env.take_log(), ["0s open 0", "0s open 1", "0s open 2"]);
        assert_eq!(counts(&pool), (3, 0, 3, 0, 0, 3, 0, 0));
    });
}

#[test]
fn live_connections_never_exceed_max_size_under_churn() {
    rt().block_on(async {
        let env = Env::new();
        env.0.open_delay.set(Duration::from_millis(300));
        // Every fifth connection fails its health check once idle.
        *env.0.unhealthy.borrow_mut() = (0..200).filter(|id| id % 5 == 4).collect();
        let hook_env = env.clone();
        let builder = env
            .builder()
            .max_size(3)
            .min_idle(2)
            .idle_timeout(secs(2))
            // A slow goodbye: a connection being closed is still open.
            .on_close(async move |conn: Conn| {
                sleep(Duration::from_millis(500)).await;
                hook_env.log(format_args!("closed {}", conn.id));
            });
        let pool = env.with_health_check(builder).build();
        let maintained = pool.clone();
        nursery(async |n| {
            n.spawn(async move { maintained.maintain().await });
            let workers: Vec<_> = (0..12u64)
                .map(|i| {
                    let pool = pool.clone();
                    n.spawn(async move {
                        for round in 0..4u64 {
                            sleep(Duration::from_millis((i * 7 + round * 3) % 5 * 400)).await;
                            let conn = pool.get().await?;
                            sleep(Duration::from_millis((i + round) % 3 * 700)).await;
                            if (i + round) % 4 == 0 {
                                conn.discard();
                            }
                        }
                        Ok::<_, PoolError<std::io::Error>>(())
                    })
                })
                .collect();
            for worker in workers {
                worker.await.unwrap();
            }
            assert!(pool.statistics().created > 3, "connections were churned");
            pool.close().await;
        })
        .await
        .unwrap();
        assert_eq!(env.0.max_live.get(), 3, "max_size reached, never exceeded");
        assert_eq!(env.0.live.get(), 0, "close closed every connection");
        let s = pool.statistics();
        assert_eq!(
            (s.size, s.idle, s.in_use, s.pending, s.waiting),
            (0, 0, 0, 0, 0)
        );
        assert_eq!(s.created, s.closed);
    });
}

#[test]
fn a_factory_error_goes_to_its_caller_and_frees_the_slot() {
    rt().block_on(async {
        let env = Env::new();
        env.0.open_delay.set(secs(1));
        env.0.failing.borrow_mut().push(0);
        let pool = env.builder().max_size(1).build();
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let (pool, env) = (pool.clone(), env.clone());
                spawn(async move {
                    match pool.get().await {
                        Ok(conn) => env.log(format_args!("{name} got {}", conn.id)),
                        Err(e) => env.log(format_args!("{name}: {e}")),
                    }
                })
            })
            .collect();
        yield_now().await;
        assert_eq!(counts(&pool), (0, 0, 0, 1, 1, 0, 0, 0));
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "1s open 0 failed",
                "1s a: the pool's factory failed to open a connection (its slot was freed; get again to retry): open 0 failed",
                "1s open 1",
                "2s b got 1",
            ]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
    });
}

#[test]
fn a_failed_health_check_closes_the_connection_and_tries_the_next() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env
            .with_health_check(env.with_close_hook(env.builder().max_size(3)))
            .build();
        let conns = [
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        ];
        drop(conns); // idle: 0, 1, 2 (2 on top)
        env.take_log();
        env.0.unhealthy.borrow_mut().extend([2, 1]);
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 0);
        assert_eq!(
            env.take_log(),
            [
                "0s check 2",
                "0s close 2",
                "0s drop 2",
                "0s check 1",
                "0s close 1",
                "0s drop 1",
                "0s check 0",
            ]
        );
        assert_eq!(counts(&pool), (1, 0, 1, 0, 0, 3, 2, 0));
        drop(conn);
        // With no healthy idle connection left, a new one is opened (and
        // not checked).
        env.0.unhealthy.borrow_mut().push(0);
        assert_eq!(pool.get().await.unwrap().id, 3);
        assert_eq!(
            env.take_log(),
            ["0s check 0", "0s close 0", "0s drop 0", "0s open 3"]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 4, 3, 0));
    });
}

#[test]
fn idle_timeout_closes_an_expired_idle_connection_instead_of_handing_it_out() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env
            .with_close_hook(env.builder().idle_timeout(secs(10)))
            .build();
        drop(pool.get().await.unwrap());
        sleep(secs(9)).await;
        // Idle for 9 s: still good, and idle again from 9 s.
        drop(pool.get().await.unwrap());
        sleep(secs(10)).await;
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 1);
        assert_eq!(
            env.take_log(),
            ["0s open 0", "19s close 0", "19s drop 0", "19s open 1"]
        );
        assert_eq!(counts(&pool), (1, 0, 1, 0, 0, 2, 1, 1));
    });
}

#[test]
fn max_lifetime_closes_idle_connections_lazily_and_checked_out_ones_on_return() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env
            .with_close_hook(env.builder().max_lifetime(secs(10)))
            .build();
        let conn = pool.get().await.unwrap();
        sleep(secs(12)).await;
        // Past its lifetime when returned: closed at once, without the
        // (async) hook.
        drop(conn);
        assert_eq!(counts(&pool), (0, 0, 0, 0, 0, 1, 1, 1));
        let conn = pool.get().await.unwrap();
        sleep(secs(5)).await;
        drop(conn); // 5 s old: back to idle
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 2, 1, 1));
        sleep(secs(5)).await;
        // Idle, but 10 s old now: closed through the hook by this get.
        assert_eq!(pool.get().await.unwrap().id, 2);
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "12s drop 0",
                "12s open 1",
                "22s close 1",
                "22s drop 1",
                "22s open 2",
            ]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 3, 2, 2));
    });
}

#[test]
fn a_discarded_connection_is_dropped_and_its_slot_freed() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.with_close_hook(env.builder().max_size(1)).build();
        let conn = pool.get().await.unwrap();
        let waiter = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                let conn = pool.get().await.unwrap();
                env.log(format_args!("waiter got {}", conn.id));
            })
        };
        sleep(secs(1)).await;
        conn.discard();
        waiter.await.unwrap();
        assert_eq!(
            env.take_log(),
            ["0s open 0", "1s drop 0", "1s open 1", "1s waiter got 1",]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 2, 1, 0));
    });
}

#[test]
fn close_closes_idle_connections_now_and_checked_out_ones_as_they_return() {
    rt().block_on(async {
        let env = Env::new();
        let hook_env = env.clone();
        let pool = env
            .builder()
            .max_size(3)
            .on_close(async move |conn: Conn| {
                hook_env.log(format_args!("closing {}", conn.id));
                sleep(secs(1)).await; // a goodbye round trip
            })
            .build();
        let (a, b, c) = (
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        );
        drop(c);
        let users = [(a, 5), (b, 10)].map(|(conn, at)| {
            spawn(async move {
                sleep(secs(at)).await;
                drop(conn);
            })
        });
        env.take_log();
        pool.close().await;
        env.log("close returned");
        assert_eq!(
            pool.get().await.unwrap_err().to_string(),
            "the pool is closed and hands out no more connections; build a new pool"
        );
        for user in users {
            user.await.unwrap();
        }
        assert_eq!(
            env.take_log(),
            [
                "0s closing 2",
                "1s drop 2",
                "5s closing 0",
                "6s drop 0",
                "10s closing 1",
                "11s drop 1",
                "11s close returned",
            ]
        );
        assert_eq!(counts(&pool), (0, 0, 0, 0, 0, 3, 3, 0));
        // Closing again returns at once.
        pool.close().await;
        assert!(pool.is_closed());
    });
}

#[test]
fn close_refuses_waiting_and_new_gets() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.with_close_hook(env.builder().max_size(1)).build();
        let held = pool.get().await.unwrap();
        let waiter = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                let err = pool.get().await.unwrap_err();
                env.log(format_args!(
                    "waiter: {:?}",
                    matches!(err, PoolError::Closed)
                ));
            })
        };
        let closer = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                sleep(secs(1)).await;
                pool.close().await;
                env.log("closed");
            })
        };
        sleep(secs(2)).await;
        assert!(matches!(pool.get().await, Err(PoolError::Closed)));
        assert_eq!(counts(&pool), (1, 0, 1, 0, 0, 1, 0, 0));
        drop(held);
        waiter.await.unwrap();
        closer.await.unwrap();
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "1s waiter: true",
                "2s close 0",
                "2s drop 0",
                "2s closed",
            ]
        );
        assert_eq!(counts(&pool), (0, 0, 0, 0, 0, 1, 1, 0));
    });
}

#[test]
fn close_waits_for_a_connection_being_opened_and_closes_it() {
    rt().block_on(async {
        let env = Env::new();
        env.0.open_delay.set(secs(2));
        let pool = env.with_close_hook(env.builder().max_size(1)).build();
        let opening = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                let out = pool.get().await;
                env.log(format_args!(
                    "get closed: {}",
                    matches!(out, Err(PoolError::Closed))
                ));
            })
        };
        sleep(secs(1)).await;
        assert_eq!(counts(&pool), (0, 0, 0, 1, 0, 0, 0, 0));
        pool.close().await;
        env.log("close returned");
        opening.await.unwrap();
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "2s get closed: true",
                "2s close 0",
                "2s drop 0",
                "2s close returned",
            ]
        );
        assert_eq!(counts(&pool), (0, 0, 0, 0, 0, 1, 1, 0));
    });
}

#[test]
fn statistics_follow_every_state_of_a_get() {
    rt().block_on(async {
        let env = Env::new();
        env.0.open_delay.set(secs(1));
        let pool = env.builder().max_size(2).build();
        assert_eq!(
            pool.statistics(),
            arbor_patterns::PoolStatistics {
                max_size: 2,
                size: 0,
                idle: 0,
                in_use: 0,
                pending: 0,
                waiting: 0,
                created: 0,
                closed: 0,
                timed_out: 0,
            }
        );
        let gets: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                spawn(async move { pool.get().await.map(|conn| conn.id) })
            })
            .collect();
        yield_now().await;
        // Two opening (pending), one waiting.
        assert_eq!(counts(&pool), (0, 0, 0, 2, 1, 0, 0, 0));
        let mut ids = Vec::new();
        for get in gets {
            ids.push(get.await.unwrap().unwrap());
        }
        // The third reused the first one returned.
        assert_eq!(ids, [0, 1, 0]);
        assert_eq!(counts(&pool), (2, 2, 0, 0, 0, 2, 0, 0));
    });
}

#[test]
fn a_get_in_a_cancelled_scope_takes_nothing() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.builder().build();
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(pool.get()).await.is_err());
        assert_eq!(counts(&pool), (0, 0, 0, 0, 0, 0, 0, 0));
        assert_eq!(
            env.take_log(),
            Vec::<String>::new(),
            "the factory never ran"
        );
    });
}

#[test]
fn a_get_cancelled_while_queued_loses_no_slot() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.builder().max_size(1).build();
        let held = pool.get().await.unwrap();
        let behind = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                sleep(secs(1)).await;
                let conn = pool.get().await.unwrap();
                env.log(format_args!("behind got {}", conn.id));
            })
        };
        assert!(move_on_after(secs(2), pool.get()).await.is_none());
        env.log("timed out");
        assert_eq!(counts(&pool), (1, 0, 1, 0, 1, 1, 0, 0));
        sleep(secs(1)).await;
        drop(held);
        behind.await.unwrap();
        assert_eq!(pool.get().await.unwrap().id, 0);
        assert_eq!(
            env.take_log(),
            ["0s open 0", "2s timed out", "3s behind got 0"]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
    });
}

#[test]
fn a_get_cancelled_after_its_grant_before_it_ran_passes_the_slot_on() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.builder().max_size(1).build();
        let held = pool.get().await.unwrap();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let first = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                let out = scope.run(pool.get()).await;
                env.log(format_args!("first cancelled: {}", out.is_err()));
            })
        };
        let second = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                let conn = pool.get().await.unwrap();
                env.log(format_args!("second got {}", conn.id));
            })
        };
        sleep(secs(1)).await;
        assert_eq!(counts(&pool), (1, 0, 1, 0, 2, 1, 0, 0));
        // Grants the slot (and connection 0) to `first`, which is
        // cancelled before it runs again.
        drop(held);
        assert_eq!(counts(&pool), (1, 0, 0, 1, 1, 1, 0, 0));
        handle.cancel();
        first.await.unwrap();
        second.await.unwrap();
        assert_eq!(
            env.take_log(),
            ["0s open 0", "1s first cancelled: true", "1s second got 0"]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
    });
}

#[test]
fn a_get_aborted_at_its_schedule_point_frees_the_slot() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env.builder().max_size(1).build();
        drop(pool.get().await.unwrap());
        let getter = {
            let pool = pool.clone();
            spawn(async move { drop(pool.get().await) })
        };
        // `getter` takes the free slot and idle connection, then yields at
        // its schedule point because this task is ready too.
        yield_now().await;
        assert_eq!(counts(&pool), (1, 0, 0, 1, 0, 1, 0, 0));
        getter.abort();
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
        assert_eq!(pool.get().await.unwrap().id, 0);
        assert_eq!(env.take_log(), ["0s open 0"]);
    });
}

#[test]
fn a_get_cancelled_while_the_factory_runs_frees_the_slot() {
    rt().block_on(async {
        let env = Env::new();
        env.0.open_delay.set(secs(10));
        let pool = env.builder().max_size(1).build();
        let behind = {
            let (pool, env) = (pool.clone(), env.clone());
            spawn(async move {
                yield_now().await;
                env.log("behind waits");
                let conn = pool.get().await.unwrap();
                env.log(format_args!("behind got {}", conn.id));
            })
        };
        assert!(move_on_after(secs(1), pool.get()).await.is_none());
        env.log("timed out");
        behind.await.unwrap();
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "0s behind waits",
                "1s timed out",
                "1s open 1",
                "11s behind got 1",
            ]
        );
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
        assert_eq!(env.0.live.get(), 1);
    });
}

#[test]
fn a_get_cancelled_during_the_health_check_drops_that_connection() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env
            .with_health_check(env.with_close_hook(env.builder().max_size(1)))
            .build();
        drop(pool.get().await.unwrap());
        env.0.check_delay.set(secs(5));
        assert!(move_on_after(secs(1), pool.get()).await.is_none());
        assert_eq!(counts(&pool), (0, 0, 0, 0, 0, 1, 1, 0));
        assert_eq!(pool.get().await.unwrap().id, 1);
        assert_eq!(
            env.take_log(),
            ["0s open 0", "0s check 0", "1s drop 0", "1s open 1"]
        );
    });
}

#[test]
fn maintain_keeps_min_idle_and_reaps_expired_connections_on_the_clock() {
    rt().block_on(async {
        let env = Env::new();
        let pool = env
            .with_close_hook(env.builder().max_size(3).min_idle(2).idle_timeout(secs(10)))
            .build();
        let maintained = pool.clone();
        nursery(async |n| {
            let maintenance = n.spawn(async move { maintained.maintain().await });
            sleep(secs(1)).await;
            assert_eq!(counts(&pool), (2, 2, 0, 0, 0, 2, 0, 0));
            env.log("get");
            let conn = pool.get().await.unwrap(); // 1 (the top), then 2 is opened
            sleep(secs(4)).await;
            drop(conn); // idle: 0 (since 0 s), 2 (since 1 s), 1 (since 5 s)
            // At 10 s connection 0 expires, leaving two idle (enough); at
            // 11 s, 15 s and 21 s each expiry is replaced by a new one.
            sleep(secs(18)).await;
            assert_eq!(counts(&pool), (2, 2, 0, 0, 0, 6, 4, 4));
            pool.close().await;
            maintenance.await.unwrap();
            env.log("maintenance ended");
        })
        .await
        .unwrap();
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "0s open 1",
                "1s get",
                "1s open 2",
                "10s close 0",
                "10s drop 0",
                "11s close 2",
                "11s drop 2",
                "11s open 3",
                "15s close 1",
                "15s drop 1",
                "15s open 4",
                "21s close 3",
                "21s drop 3",
                "21s open 5",
                "23s close 4",
                "23s drop 4",
                "23s close 5",
                "23s drop 5",
                "23s maintenance ended",
            ]
        );
    });
}

#[test]
fn a_connection_maintain_is_closing_still_counts_against_max_size() {
    rt().block_on(async {
        let env = Env::new();
        let hook_env = env.clone();
        let pool = env
            .builder()
            .max_size(1)
            .idle_timeout(secs(1))
            .on_close(async move |conn: Conn| {
                hook_env.log(format_args!("closing {}", conn.id));
                sleep(secs(5)).await;
            })
            .build();
        let maintained = pool.clone();
        nursery(async |n| {
            n.spawn(async move { maintained.maintain().await });
            drop(pool.get().await.unwrap());
            sleep(secs(2)).await;
            // Connection 0 expired at 1 s and is being closed until 6 s:
            // opening another before then would make two.
            assert_eq!(counts(&pool), (0, 0, 0, 1, 0, 1, 1, 1));
            let conn = pool.get().await.unwrap();
            env.log(format_args!("got {}", conn.id));
            drop(conn);
            pool.close().await;
        })
        .await
        .unwrap();
        assert_eq!(env.0.max_live.get(), 1);
        assert_eq!(
            env.take_log(),
            [
                "0s open 0",
                "1s closing 0",
                "6s drop 0",
                "6s open 1",
                "6s got 1",
                "6s closing 1",
                "11s drop 1",
            ]
        );
    });
}

#[test]
fn maintain_returns_the_factory_error() {
    rt().block_on(async {
        let env = Env::new();
        env.0.failing.borrow_mut().push(1);
        let pool = env.builder().min_idle(2).build();
        let err = pool.maintain().await.unwrap_err();
        assert_eq!(err.to_string(), "the pool's factory failed to open a connection (its slot was freed; get again to retry): open 1 failed");
        assert_eq!(counts(&pool), (1, 1, 0, 0, 0, 1, 0, 0));
        assert_eq!(env.take_log(), ["0s open 0", "0s open 1", "0s open 1 failed"]);
    });
}

#[test]
#[should_panic(expected = "Pool max_size must be at least 1")]
fn max_size_zero_panics() {
    let _ = Pool::builder(async || Ok::<u8, std::io::Error>(0)).max_size(0);
}

#[test]
#[should_panic(expected = "Pool min_idle (3) must not exceed max_size (2)")]
fn min_idle_above_max_size_panics() {
    let _ = Pool::builder(async || Ok::<u8, std::io::Error>(0))
        .max_size(2)
        .min_idle(3)
        .build();
}
