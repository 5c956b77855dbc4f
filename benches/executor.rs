//! Executor benchmarks: arbor vs tokio (`current_thread` + `LocalSet`) vs
//! async-executor (`LocalExecutor`) on the same workloads.
//!
//! - `spawn_join`: spawn 10,000 no-op tasks, then await every handle.
//! - `yield_many`: 1,000 tasks each yield 100 times; await them all.
//! - `chained_spawn`: a chain of 10,000 tasks, each spawning the next and
//!   awaiting its handle.
//! - `wake_remote`: 1,000 round trips between one task and a std thread
//!   that wakes it through its stored `Waker`.
//!
//! Every workload is written once, generic over [`Rt`]; only spawning,
//! yielding and `block_on` differ per runtime. Each runtime is built once
//! per group and reused across iterations.
//!
//! Run (then print the comparison table):
//!
//! ```text
//! cargo bench -p arbor-benches --bench executor --bench timers && cargo bench -p arbor-benches --bench ratios
//! ```

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;

use async_executor::LocalExecutor;
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

const SPAWN_TASKS: usize = 10_000;
const YIELD_TASKS: usize = 1_000;
const YIELDS_PER_TASK: usize = 100;
const CHAIN_DEPTH: usize = 10_000;
const ROUND_TRIPS: usize = 1_000;

/// What a workload needs from a runtime. Implementors are `Copy` handles
/// to a runtime that lives for the rest of the process.
trait Rt: Copy + 'static {
    /// The awaitable handle of a spawned task, yielding the task's output
    /// (`Unpin` outputs only, which keeps the `Joined` wrapper simple).
    type Handle<T: Unpin + 'static>: Future<Output = T> + 'static;
    fn block_on<F: Future>(self, future: F) -> F::Output;
    fn spawn<F>(self, future: F) -> Self::Handle<F::Output>
    where
        F: Future + 'static,
        F::Output: Unpin + 'static;
    fn yield_now(self) -> impl Future<Output = ()> + 'static;
}

/// Turns a `Result`-returning join handle into one that panics on a join
/// error, so all three runtimes' handles yield the bare output.
struct Joined<H>(H);

impl<H, T, E> Future for Joined<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.expect("task failed"))
    }
}

#[derive(Clone, Copy)]
struct Arbor(&'static arbor::Runtime);

impl Rt for Arbor {
    type Handle<T: Unpin + 'static> = Joined<arbor::task::JoinHandle<T>>;
    fn block_on<F: Future>(self, future: F) -> F::Output {
        self.0.block_on(future)
    }
    fn spawn<F>(self, future: F) -> Self::Handle<F::Output>
    where
        F: Future + 'static,
        F::Output: Unpin + 'static,
    {
        Joined(arbor::spawn(future))
    }
    fn yield_now(self) -> impl Future<Output = ()> + 'static {
        arbor::yield_now()
    }
}

#[derive(Clone, Copy)]
struct Tokio(&'static (tokio::runtime::Runtime, tokio::task::LocalSet));

impl Rt for Tokio {
    type Handle<T: Unpin + 'static> = Joined<tokio::task::JoinHandle<T>>;
    fn block_on<F: Future>(self, future: F) -> F::Output {
        let (rt, local) = self.0;
        local.block_on(rt, future)
    }
    fn spawn<F>(self, future: F) -> Self::Handle<F::Output>
    where
        F: Future + 'static,
        F::Output: Unpin + 'static,
    {
        // Inside `LocalSet::block_on` this spawns onto that LocalSet.
        Joined(tokio::task::spawn_local(future))
    }
    fn yield_now(self) -> impl Future<Output = ()> + 'static {
        tokio::task::yield_now()
    }
}

#[derive(Clone, Copy)]
struct AsyncEx(&'static LocalExecutor<'static>);

impl Rt for AsyncEx {
    type Handle<T: Unpin + 'static> = async_executor::Task<T>;
    fn block_on<F: Future>(self, future: F) -> F::Output {
        futures_lite::future::block_on(self.0.run(future))
    }
    fn spawn<F>(self, future: F) -> Self::Handle<F::Output>
    where
        F: Future + 'static,
        F::Output: Unpin + 'static,
    {
        self.0.spawn(future)
    }
    fn yield_now(self) -> impl Future<Output = ()> + 'static {
        futures_lite::future::yield_now()
    }
}

/// One of each runtime. They are leaked: tasks and the async-executor
/// spawner need `'static` access, and the process ends after the benches.
fn runtimes() -> (Arbor, Tokio, AsyncEx) {
    let arbor = Box::leak(Box::new(arbor::Runtime::new().expect("arbor runtime")));
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let tokio = Box::leak(Box::new((tokio_rt, tokio::task::LocalSet::new())));
    let ex = Box::leak(Box::new(LocalExecutor::new()));
    (Arbor(arbor), Tokio(tokio), AsyncEx(ex))
}

async fn spawn_join<R: Rt>(rt: R) {
    let handles: Vec<_> = (0..SPAWN_TASKS).map(|_| rt.spawn(async {})).collect();
    for h in handles {
        h.await;
    }
}

async fn yield_many<R: Rt>(rt: R) {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            rt.spawn(async move {
                for _ in 0..YIELDS_PER_TASK {
                    rt.yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await;
    }
}

/// One link of the chain: spawn the rest of the chain, await it, then
/// report how many links ran.
async fn chain<R: Rt>(rt: R, remaining: usize) -> usize {
    if remaining == 1 {
        return 1;
    }
    let next = rt.spawn(chain(rt, remaining - 1));
    next.await + 1
}

async fn chained_spawn<R: Rt>(rt: R) {
    let links = rt.spawn(chain(rt, CHAIN_DEPTH)).await;
    assert_eq!(links, CHAIN_DEPTH);
}

/// State shared by the ping-pong task and the waking thread. `turn` is
/// even while it is the task's move and odd while the task waits for the
/// thread; each side advances it by one.
#[derive(Default)]
struct PingPong {
    waker: Mutex<Option<Waker>>,
    turn: AtomicUsize,
    stop: AtomicBool,
}

/// The task side: `ROUND_TRIPS` times, store the waker, hand the turn to
/// the thread, and wait until it hands it back.
async fn wake_remote(shared: Arc<PingPong>) {
    for _ in 0..ROUND_TRIPS {
        let mut asked = false;
        poll_fn(|cx| {
            if asked && shared.turn.load(Ordering::Acquire).is_multiple_of(2) {
                return Poll::Ready(());
            }
            // First poll, or a spurious one: (re)store the waker.
            *shared.waker.lock().unwrap() = Some(cx.waker().clone());
            if !asked {
                asked = true;
                shared.turn.fetch_add(1, Ordering::Release);
            }
            Poll::Pending
        })
        .await;
    }
}

/// The thread side: spin until the task hands over the turn, then hand it
/// back and wake the task. Returns when `stop` is set.
fn spawn_waker_thread(shared: Arc<PingPong>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        loop {
            let turn = shared.turn.load(Ordering::Acquire);
            if turn.is_multiple_of(2) {
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                std::hint::spin_loop();
                continue;
            }
            let waker = shared.waker.lock().unwrap().take();
            shared.turn.store(turn + 1, Ordering::Release);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    })
}

/// Bench `work` on runtime `rt` as `id` in `group`.
fn bench_on<R, W, Fut>(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, rt: R, work: W)
where
    R: Rt,
    W: Fn(R) -> Fut,
    Fut: Future<Output = ()>,
{
    group.bench_function(id, |b| b.iter(|| rt.block_on(work(rt))));
}

/// A group running the same generic workload on all three runtimes.
macro_rules! three_way {
    ($c:expr, $rts:expr, $name:literal, $work:ident) => {{
        let (arbor, tokio, ex) = $rts;
        let mut group = $c.benchmark_group($name);
        bench_on(&mut group, "arbor", arbor, $work::<Arbor>);
        bench_on(&mut group, "tokio", tokio, $work::<Tokio>);
        bench_on(&mut group, "async-executor", ex, $work::<AsyncEx>);
        group.finish();
    }};
}

/// `wake_remote` on one runtime: a fresh waking thread for this bench,
/// stopped and joined afterwards.
fn bench_wake_remote<R: Rt>(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, rt: R) {
    let shared = Arc::new(PingPong::default());
    let thread = spawn_waker_thread(shared.clone());
    bench_on(group, id, rt, |rt| {
        let shared = shared.clone();
        async move { rt.spawn(wake_remote(shared)).await }
    });
    shared.stop.store(true, Ordering::Relaxed);
    thread.join().expect("waker thread panicked");
}

/// An instrument whose hooks all do nothing: what the dynamic calls of an
/// installed instrument cost, against the run loop's single flag check
/// when none is installed (issue 14).
struct NoopInstrument;
impl arbor::instrument::Instrument for NoopInstrument {}

/// `spawn_join` and `yield_many` on arbor with no instrument and with one
/// no-op instrument, each on its own runtime.
fn bench_instrument_overhead(c: &mut Criterion) {
    let none = Arbor(Box::leak(Box::new(
        arbor::Runtime::new().expect("arbor runtime"),
    )));
    let noop = Arbor(Box::leak(Box::new(
        arbor::Runtime::builder()
            .instrument(Arc::new(NoopInstrument))
            .build()
            .expect("arbor runtime"),
    )));
    let mut group = c.benchmark_group("instrument_overhead");
    bench_on(&mut group, "spawn_join/none", none, spawn_join::<Arbor>);
    bench_on(&mut group, "spawn_join/noop", noop, spawn_join::<Arbor>);
    bench_on(&mut group, "yield_many/none", none, yield_many::<Arbor>);
    bench_on(&mut group, "yield_many/noop", noop, yield_many::<Arbor>);
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_instrument_overhead(&mut c);
    let rts = runtimes();
    three_way!(c, rts, "spawn_join", spawn_join);
    three_way!(c, rts, "yield_many", yield_many);
    three_way!(c, rts, "chained_spawn", chained_spawn);

    let (arbor, tokio, ex) = rts;
    let mut group = c.benchmark_group("wake_remote");
    bench_wake_remote(&mut group, "arbor", arbor);
    bench_wake_remote(&mut group, "tokio", tokio);
    bench_wake_remote(&mut group, "async-executor", ex);
    group.finish();

    c.final_summary();
}
