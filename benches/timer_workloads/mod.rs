//! The many-timers workload, shared by the criterion bench `timers`
//! (virtual and paused clocks) and the `compare` runner (real clocks):
//! register `count` sleeps with deadlines spread over the next `spread`,
//! optionally cancel every second one, await the rest. All sleeps are
//! polled from one task (a join-all `poll_fn` over `Vec<Pin<Box<S>>>`).

#![allow(dead_code)]

use std::future::{Future, poll_fn};
use std::ops::{Add, Sub};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// What one run registers and awaits.
#[derive(Clone, Copy)]
pub struct Timers {
    /// Sleeps per run.
    pub count: u64,
    /// Deadlines are spread over this many microseconds.
    pub spread_us: u64,
    /// Cancel (drop) every second sleep after registering it.
    pub cancel_half: bool,
}

impl Timers {
    /// Deadline offset of sleep `i`: a deterministic shuffle of
    /// 0..spread (7919 is prime, so `i -> i * 7919 % spread` covers it).
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_micros(i * 7919 % self.spread_us)
    }

    /// Indices of the sleeps a run keeps, by deadline.
    pub fn completion_order(&self) -> Vec<usize> {
        let step = if self.cancel_half { 2 } else { 1 };
        let mut order: Vec<u64> = (0..self.count).step_by(step).collect();
        order.sort_by_key(|&i| self.offset(i));
        order.into_iter().map(|i| i as usize).collect()
    }
}

/// The workload, for any runtime's `now` and `sleep_until`; returns how
/// many sleeps completed.
///
/// First poll: create and poll every sleep once (registering it), then
/// drop every second one if `cancel_half`. Afterwards, at each wake, poll
/// the kept sleeps in deadline order up to the first pending one, so each
/// sleep is polled about twice in total.
pub async fn timers_workload<I, S>(
    now: fn() -> I,
    sleep_until: fn(I) -> S,
    spec: Timers,
    order: &[usize],
) -> usize
where
    I: Copy + Add<Duration, Output = I> + Sub<Output = Duration>,
    S: Future,
{
    let start = now();
    let mut sleeps: Vec<Option<Pin<Box<S>>>> = (0..spec.count)
        .map(|i| Some(Box::pin(sleep_until(start + spec.offset(i)))))
        .collect();
    let mut registered = false;
    let mut next = 0;
    let mut fired = 0;
    poll_fn(|cx| {
        if !registered {
            registered = true;
            for (i, slot) in sleeps.iter_mut().enumerate() {
                // The earliest sleeps may be ready at once (deadline
                // `start`, or passed on a real clock while registering).
                if slot.as_mut().unwrap().as_mut().poll(cx).is_ready() {
                    *slot = None;
                    if !spec.cancel_half || i % 2 == 0 {
                        fired += 1;
                    }
                }
            }
            if spec.cancel_half {
                for slot in sleeps.iter_mut().skip(1).step_by(2) {
                    *slot = None;
                }
            }
        }
        while let Some(&i) = order.get(next) {
            if let Some(sleep) = &mut sleeps[i] {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                sleeps[i] = None;
                fired += 1;
            }
            next += 1;
        }
        Poll::Ready(())
    })
    .await;
    // The latest deadline is `start + spread - 1` µs.
    let elapsed = now() - start;
    assert!(
        elapsed >= Duration::from_micros(spec.spread_us - 1),
        "all sleeps done after only {elapsed:?}"
    );
    fired
}
