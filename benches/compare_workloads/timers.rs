//! Timers on real clocks: `timers_fire_all`, `timers_half_cancelled`,
//! `timer_register_cancel`, `timer_lateness` (not a time: how late the
//! last of 10,000 timers fires). arbor's timer wheel, tokio's (run inside
//! `tokio::task::unconstrained`: otherwise its coop budget makes
//! `Sleep::poll` return `Pending` without registering after 128 polls in
//! one task poll), and async-io's `Timer` (smol's timers).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{three, three_timed};
use crate::pairing::Workload;
use crate::timer_workloads::{Timers, timers_workload};

const FIRE_ALL: Timers = Timers {
    count: 100_000,
    spread_us: 10_000,
    cancel_half: false,
};
const HALF_CANCELLED: Timers = Timers {
    count: 100_000,
    spread_us: 10_000,
    cancel_half: true,
};
const REGISTER_CANCEL: usize = 100_000;
const REGISTER_CANCEL_AFTER: Duration = Duration::from_millis(50);
/// `timer_lateness`: this many tasks, each sleeping until its own deadline
/// spread evenly over `LATENESS_SPREAD`.
const LATENESS_TIMERS: u32 = 10_000;
const LATENESS_SPREAD: Duration = Duration::from_millis(100);

/// Task `i`'s deadline, after `t0`.
fn lateness_deadline(i: u32) -> Duration {
    LATENESS_SPREAD * i / LATENESS_TIMERS
}

/// The real time between the last timer's deadline and the moment its
/// task ran after it: what `timer_lateness` reports instead of a duration
/// of work. `ended` holds, per task, when it ran; the last task's deadline
/// is the latest.
fn last_lateness(t0: std::time::Instant, ended: &[std::time::Instant]) -> Duration {
    let last = LATENESS_TIMERS - 1;
    ended[last as usize].saturating_duration_since(t0 + lateness_deadline(last))
}

fn timers(name: &str, spec: Timers) -> Workload {
    let order = std::rc::Rc::new(spec.completion_order());
    let expected = order.len();
    let (o1, o2, o3) = (order.clone(), order.clone(), order);
    three(
        name,
        move || {
            let order = o1.clone();
            async move {
                let fired =
                    timers_workload(arbor::time::now, arbor::time::sleep_until, spec, &order).await;
                assert_eq!(fired, expected);
            }
        },
        move || {
            let order = o2.clone();
            tokio::task::unconstrained(async move {
                let fired = timers_workload(
                    tokio::time::Instant::now,
                    tokio::time::sleep_until,
                    spec,
                    &order,
                )
                .await;
                assert_eq!(fired, expected);
            })
        },
        move |_ex| {
            let order = o3.clone();
            async move {
                let fired =
                    timers_workload(std::time::Instant::now, async_io::Timer::at, spec, &order)
                        .await;
                assert_eq!(fired, expected);
            }
        },
    )
}

/// Poll a fresh sleep once (registering it), then drop it (cancelling
/// it). Call inside the runtime.
#[inline(always)]
fn register_cancel<S: Future>(sleep: S) {
    let mut sleep = pin!(sleep);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        black_box(sleep.as_mut().poll(&mut cx)),
        Poll::Pending
    ));
}

/// 10,000 tasks sleep until deadlines spread over 100 ms (each a fixed
/// offset from one start instant, `sleep_until` on each runtime's own
/// instant type); each records when it ran. The row's "time" is how late
/// the last one ran after its deadline.
fn timer_lateness() -> Workload {
    three_timed(
        "timer_lateness",
        || async {
            let t0 = std::time::Instant::now();
            let start = arbor::time::now();
            let tasks: Vec<_> = (0..LATENESS_TIMERS)
                .map(|i| {
                    arbor::spawn(async move {
                        arbor::time::sleep_until(start + lateness_deadline(i)).await;
                        std::time::Instant::now()
                    })
                })
                .collect();
            let mut ended = Vec::with_capacity(tasks.len());
            for task in tasks {
                ended.push(task.await.expect("timer task"));
            }
            last_lateness(t0, &ended)
        },
        || async {
            let t0 = std::time::Instant::now();
            let start = tokio::time::Instant::from_std(t0);
            let tasks: Vec<_> = (0..LATENESS_TIMERS)
                .map(|i| {
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep_until(start + lateness_deadline(i)).await;
                        std::time::Instant::now()
                    })
                })
                .collect();
            let mut ended = Vec::with_capacity(tasks.len());
            for task in tasks {
                ended.push(task.await.expect("timer task"));
            }
            last_lateness(t0, &ended)
        },
        |ex| async move {
            let t0 = std::time::Instant::now();
            let tasks: Vec<_> = (0..LATENESS_TIMERS)
                .map(|i| {
                    ex.spawn(async move {
                        async_io::Timer::at(t0 + lateness_deadline(i)).await;
                        std::time::Instant::now()
                    })
                })
                .collect();
            let mut ended = Vec::with_capacity(tasks.len());
            for task in tasks {
                ended.push(task.await);
            }
            last_lateness(t0, &ended)
        },
    )
}

pub fn workloads() -> Vec<Workload> {
    vec![
        timers("timers_fire_all", FIRE_ALL),
        timers("timers_half_cancelled", HALF_CANCELLED),
        three(
            "timer_register_cancel",
            || async {
                for _ in 0..REGISTER_CANCEL {
                    register_cancel(arbor::time::sleep(REGISTER_CANCEL_AFTER));
                }
            },
            || {
                tokio::task::unconstrained(async {
                    for _ in 0..REGISTER_CANCEL {
                        register_cancel(tokio::time::sleep(REGISTER_CANCEL_AFTER));
                    }
                })
            },
            |_ex| async {
                for _ in 0..REGISTER_CANCEL {
                    register_cancel(async_io::Timer::after(REGISTER_CANCEL_AFTER));
                }
            },
        ),
        timer_lateness(),
    ]
}
