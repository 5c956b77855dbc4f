//! Timers on real clocks: `timers_fire_all`, `timers_half_cancelled`,
//! `timer_register_cancel`. arbor's timer wheel, tokio's (run inside
//! `tokio::task::unconstrained`: otherwise its coop budget makes
//! `Sleep::poll` return `Pending` without registering after 128 polls in
//! one task poll), and async-io's `Timer` (smol's timers).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::three;
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
    ]
}
