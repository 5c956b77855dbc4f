//! Timer benchmarks: arbor (virtual clock) vs tokio (`current_thread`,
//! paused clock) on the same workloads.
//!
//! - `timers`: register 100,000 sleeps with deadlines spread over the next
//!   100 ms, cancel every second one, await the rest. All sleeps are polled
//!   from one task (a join-all `poll_fn` over `Vec<Pin<Box<Sleep>>>`).
//! - `timer_register_cancel/<N>`: create a 50 ms sleep, poll it once (which
//!   registers it) and drop it (which cancels it), with N other timers
//!   already registered (N = 0 and 1,000,000).
//!
//! async-executor sits this file out: it has no timers of its own, and the
//! usual companion (`async-io`) has no paused/virtual clock, so a 100 ms
//! workload would measure 100 ms of real sleeping.
//!
//! tokio runs both workloads inside `tokio::task::unconstrained`: otherwise
//! its coop budget makes `Sleep::poll` return `Pending` *without
//! registering* after 128 polls in one task poll, and we would measure
//! that budget check instead of the timer wheel. (tokio is built with its
//! `test-util` feature here, which `pause` needs; with it every
//! `tokio::time::Instant::now` goes through the mockable clock.)
//!
//! Run (then print the comparison table):
//!
//! ```text
//! cargo bench -p arbor-benches --bench executor --bench timers && cargo bench -p arbor-benches --bench ratios
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};

mod timer_workloads;
use timer_workloads::{Timers, timers_workload};

/// The `timers` workload: 100,000 sleeps spread over 100 ms, every
/// second one cancelled.
const TIMERS: Timers = Timers {
    count: 100_000,
    spread_us: 100_000,
    cancel_half: true,
};
/// Timers already registered while `timer_register_cancel` measures.
const PRELOADED: [u64; 2] = [0, 1_000_000];
/// The sleep that `timer_register_cancel` registers and cancels.
const REGISTER_CANCEL_AFTER: Duration = Duration::from_millis(50);

fn bench_timers(c: &mut Criterion) {
    let order = TIMERS.completion_order();
    let mut group = c.benchmark_group("timers");

    let arbor = arbor::Runtime::builder()
        .virtual_clock()
        .build()
        .expect("arbor runtime");
    group.bench_function("arbor", |b| {
        b.iter(|| {
            arbor.block_on(timers_workload(
                arbor::time::now,
                arbor::time::sleep_until,
                TIMERS,
                &order,
            ))
        })
    });
    drop(arbor);

    let tokio = tokio_runtime();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            tokio.block_on(tokio::task::unconstrained(timers_workload(
                tokio::time::Instant::now,
                tokio::time::sleep_until,
                TIMERS,
                &order,
            )))
        })
    });
    drop(tokio);

    // No async-executor: see the module doc.
    group.finish();
}

/// A tokio current-thread runtime with time enabled and paused (it then
/// auto-advances to the next timer whenever it is idle).
fn tokio_runtime() -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    rt.block_on(async { tokio::time::pause() });
    rt
}

/// Create `n` sleeps with deadlines spread over 1 ms .. 10 s and poll each
/// once with a no-op waker, so they are registered. Call inside the
/// runtime. The clock never moves while the benches run (nothing idles),
/// so none of them fires.
fn preload<S: Future<Output = ()>>(n: u64, sleep: fn(Duration) -> S) -> Vec<Pin<Box<S>>> {
    let mut cx = Context::from_waker(Waker::noop());
    (0..n)
        .map(|i| {
            let mut s = Box::pin(sleep(Duration::from_micros(1_000 + i * 7919 % 10_000_000)));
            assert!(s.as_mut().poll(&mut cx).is_pending());
            s
        })
        .collect()
}

/// One measured step: poll a fresh sleep once (registers it), drop it
/// (cancels it). Call inside the runtime.
#[inline(always)]
fn register_cancel<S: Future<Output = ()>>(sleep: S) {
    let mut sleep = pin!(sleep);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(black_box(sleep.as_mut().poll(&mut cx)).is_pending());
}

fn bench_register_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_register_cancel");
    for n in PRELOADED {
        let arbor = arbor::Runtime::builder()
            .virtual_clock()
            .build()
            .expect("arbor runtime");
        let keep = arbor.block_on(async { preload(n, arbor::time::sleep) });
        group.bench_with_input(BenchmarkId::new("arbor", n), &n, |b, _| {
            arbor.block_on(async {
                b.iter(|| register_cancel(arbor::time::sleep(REGISTER_CANCEL_AFTER)))
            })
        });
        drop(keep);
        drop(arbor);

        let tokio = tokio_runtime();
        let keep = tokio.block_on(tokio::task::unconstrained(async {
            preload(n, tokio::time::sleep)
        }));
        group.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, _| {
            tokio.block_on(tokio::task::unconstrained(async {
                b.iter(|| register_cancel(tokio::time::sleep(REGISTER_CANCEL_AFTER)))
            }))
        });
        drop(keep);
        drop(tokio);
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_timers(&mut c);
    bench_register_cancel(&mut c);
    c.final_summary();
}
