//! Timers, the virtual clock and intervals.

mod support;

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use arbor::time::{self, Instant, MissedTickBehavior, interval, sleep, sleep_until};
use arbor::{spawn, yield_now};
use support::{Trace, virtual_rt};

const MS: Duration = Duration::from_millis(1);

#[test]
fn timers_fire_in_deadline_order_not_spawn_order() {
    let trace = Trace::new();
    let t = trace.clone();
    virtual_rt().block_on(async move {
        let delays = [50u64, 10, 30, 20, 40, 10, 5000, 1];
        let handles: Vec<_> = delays
            .iter()
            .enumerate()
            .map(|(i, &ms)| {
                let t = t.clone();
                spawn(async move {
                    sleep(MS * ms as u32).await;
                    t.log(format!("{ms}#{i}"));
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(
        trace.events(),
        [
            "1#7", "10#1", "10#5", "20#3", "30#2", "40#4", "50#0", "5000#6"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn virtual_clock_starts_at_zero_and_jumps_to_the_next_deadline() {
    let t0 = time::now();
    assert_eq!(t0 - t0, Duration::ZERO);
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        time::now() - t0,
        Duration::from_secs(3600),
        "exactly an hour, at once"
    );
    let h = spawn(async {
        sleep(Duration::from_secs(10)).await;
        time::now()
    });
    let woke = h.await.unwrap();
    assert_eq!(woke - t0, Duration::from_secs(3610));
}

#[arbor::test(virtual_clock)]
async fn virtual_clock_does_not_move_while_tasks_are_runnable() {
    let t0 = time::now();
    let sleeper = spawn(async { sleep(Duration::from_secs(1)).await });
    for _ in 0..100 {
        yield_now().await;
    }
    assert_eq!(time::now(), t0);
    assert!(!sleeper.is_finished());
    sleeper.await.unwrap();
    assert_eq!(time::now() - t0, Duration::from_secs(1));
}

#[arbor::test(virtual_clock)]
async fn manual_advance_fires_due_timers() {
    let h = spawn(sleep(MS * 100));
    yield_now().await; // registered
    time::advance(MS * 99);
    yield_now().await;
    assert!(!h.is_finished());
    time::advance(MS);
    yield_now().await;
    yield_now().await;
    assert!(h.is_finished());
}

#[test]
#[should_panic(expected = "needs a runtime built with Builder::virtual_clock()")]
fn advance_on_the_real_clock_panics() {
    arbor::run(async { time::advance(MS) });
}

#[arbor::test]
async fn sleep_never_completes_before_its_deadline_on_the_real_clock() {
    for ms in [0u64, 1, 3] {
        let deadline = time::now() + MS * ms as u32;
        sleep_until(deadline).await;
        assert!(time::now() >= deadline);
    }
}

#[arbor::test(virtual_clock)]
async fn past_deadline_completes_at_first_poll_without_a_timer() {
    time::advance(Duration::from_secs(5));
    let mut s = pin!(sleep_until(time::now() - Duration::from_secs(1)));
    let first = poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
    assert!(first.is_ready());
}

#[arbor::test(virtual_clock)]
async fn dropped_sleep_never_wakes_and_reset_moves_the_deadline() {
    let t0 = time::now();
    // Registered, then dropped: the clock must not stop at its deadline.
    {
        let mut s = pin!(sleep(MS * 10));
        let _ = poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
    }
    let mut s = pin!(sleep(MS * 20));
    let _ = poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
    s.as_mut().get_mut().reset(t0 + MS * 50); // later: lazy
    s.as_mut().await;
    assert_eq!(time::now() - t0, MS * 50);
    let mut s = pin!(sleep(MS * 100));
    let _ = poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
    s.as_mut().get_mut().reset(t0 + MS * 60); // earlier: re-filed
    s.as_mut().await;
    assert_eq!(time::now() - t0, MS * 60);
}

async fn ticks_with(policy: MissedTickBehavior) -> Vec<u64> {
    let t0 = time::now();
    let mut iv = interval(MS * 10);
    iv.set_missed_tick_behavior(policy);
    let mut seen = Vec::new();
    for n in 0..5 {
        let tick = iv.tick().await;
        seen.push((
            (tick - t0).as_millis() as u64,
            (time::now() - t0).as_millis() as u64,
        ));
        if n == 1 {
            // Fall 35 ms behind: the ticks at 20, 30, 40 are missed.
            sleep(MS * 35).await;
        }
    }
    seen.into_iter().map(|(scheduled, _)| scheduled).collect()
}

#[test]
fn interval_burst_catches_up_on_the_original_schedule() {
    let ticks = virtual_rt().block_on(ticks_with(MissedTickBehavior::Burst));
    assert_eq!(ticks, [0, 10, 20, 30, 40]);
}

#[test]
fn interval_delay_restarts_the_schedule_from_now() {
    let ticks = virtual_rt().block_on(ticks_with(MissedTickBehavior::Delay));
    // Woke at 45 to take the tick scheduled at 20; the next is 45 + 10.
    assert_eq!(ticks, [0, 10, 20, 55, 65]);
}

#[test]
fn interval_skip_drops_missed_ticks_and_keeps_the_phase() {
    let ticks = virtual_rt().block_on(ticks_with(MissedTickBehavior::Skip));
    // At 45 the tick of 20 fires; 30 and 40 are skipped; 50 keeps the phase.
    assert_eq!(ticks, [0, 10, 20, 50, 60]);
}

#[arbor::test(virtual_clock)]
async fn interval_ticks_on_schedule_when_not_behind() {
    let start = time::now() + MS * 5;
    let mut iv = time::interval_at(start, MS * 7);
    for n in 0..4u32 {
        assert_eq!(iv.tick().await, start + MS * 7 * n);
        assert_eq!(time::now(), start + MS * 7 * n);
    }
}

#[arbor::test(virtual_clock)]
async fn instant_arithmetic_saturates() {
    let t0 = Instant::now();
    assert_eq!(t0 - Duration::from_secs(1), t0, "virtual origin is zero");
    assert_eq!(t0.checked_sub(Duration::from_secs(1)), None);
    assert_eq!((t0 + MS) - t0, MS);
    assert_eq!(t0 - (t0 + MS), Duration::ZERO);
    assert_eq!(t0.checked_duration_since(t0 + MS), None);
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

#[arbor::test(virtual_clock)]
async fn a_far_deadline_fires_exactly_when_the_virtual_clock_reaches_it() {
    let t0 = time::now();
    sleep(YEAR * 500).await;
    assert_eq!(time::now() - t0, YEAR * 500);
    // One nanosecond before the end of time, where `Instant + Duration`
    // saturates: still a deadline, and it fires.
    let last = Instant::now() + Duration::MAX - Duration::from_nanos(1);
    sleep_until(last).await;
    assert_eq!(time::now(), last);
}

#[arbor::test(virtual_clock)]
async fn sleeping_forever_under_a_timeout_parks_until_the_timeout_and_arms_no_timer() {
    let t0 = time::now();
    let forever = spawn(sleep(Duration::MAX));
    yield_now().await;
    assert_eq!(
        time::armed_timers(),
        0,
        "a sleep that never ends is not armed"
    );
    let out = arbor::move_on_after(Duration::from_secs(3600), sleep(Duration::MAX)).await;
    assert_eq!(out, None);
    assert_eq!(time::now() - t0, Duration::from_secs(3600));
    // Advancing to the end of time does not end it either.
    time::advance(Duration::MAX);
    yield_now().await;
    assert!(!forever.is_finished());
    forever.abort();
}

#[test]
fn a_virtual_clock_with_only_a_sleep_forever_parks_without_moving() {
    // The runtime parks in epoll_wait until another thread wakes it; before
    // the fix it spun, jumping the clock towards a deadline it never reached.
    let woken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = woken.clone();
    let runner = std::thread::spawn(move || {
        let rt = virtual_rt();
        rt.block_on(async move {
            let t0 = time::now();
            let mut forever = pin!(sleep(Duration::MAX));
            poll_fn(|cx| {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                let _ = tx.send(cx.waker().clone());
                forever.as_mut().poll(cx)
            })
            .await;
            time::now() - t0
        })
    });
    let waker = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    woken.store(true, std::sync::atomic::Ordering::SeqCst);
    waker.wake();
    let moved = runner.join().unwrap();
    assert_eq!(moved, Duration::ZERO, "the clock never moved");
}

#[arbor::test(virtual_clock)]
async fn resetting_a_sleep_forever_to_a_real_deadline_wakes_it_then() {
    let t0 = time::now();
    let mut forever = Box::pin(sleep(Duration::MAX));
    let mut forever2 = forever.as_mut();
    poll_fn(|cx| {
        assert!(forever2.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    forever.as_mut().reset(t0 + Duration::from_secs(5));
    forever.await;
    assert_eq!(time::now() - t0, Duration::from_secs(5));
}

/// A sleep made a tick or more before its deadline registers at its
/// first poll without reading the clock again; if that poll comes after
/// the deadline, the wheel files it as due and it completes at once,
/// with no more time passing.
#[arbor::test(virtual_clock)]
async fn a_sleep_first_polled_after_its_deadline_completes_without_more_time() {
    let late = arbor::time::sleep(Duration::from_secs(1));
    arbor::time::advance(Duration::from_secs(2));
    let before = arbor::time::now();
    late.await;
    assert_eq!(arbor::time::now(), before);
    // The same for a sleep shorter than a tick, which checks the clock.
    let short = arbor::time::sleep(Duration::from_micros(10));
    arbor::time::advance(Duration::from_millis(1));
    let before = arbor::time::now();
    short.await;
    assert_eq!(arbor::time::now(), before);
}
