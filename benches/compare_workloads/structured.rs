//! Timeouts and structured concurrency: `timeout_overhead`,
//! `nested_timeouts/10`, `nested_timeouts/1000`, `nursery_spawn_join`,
//! `cancel_fanout`. For async-executor a timeout is what smol users
//! write: the future raced (`FutureExt::or`) against an `async_io::Timer`
//! created beforehand.

use std::cell::Cell;
use std::future::{Future, pending, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;

use super::{Ex, three, three_timed};
use crate::pairing::Workload;

const SEC: Duration = Duration::from_secs(1);
const TIMEOUTS: usize = 100_000;
const NESTED_LEVELS: usize = 100_000;
const CHILDREN: usize = 10_000;

type Boxed = Pin<Box<dyn Future<Output = ()>>>;

/// smol's timeout: `fut` or the timer, whichever is first. The timer is
/// created here, before the race, so it exists even when `fut` is ready
/// at once (an `async { Timer::after(..).await }` arm would never be
/// polled then, and never create its timer).
async fn smol_timeout<T>(after: Duration, fut: impl Future<Output = T>) -> Option<T> {
    let timer = async_io::Timer::after(after);
    async { Some(fut.await) }
        .or(async move {
            timer.await;
            None
        })
        .await
}

// timeout_overhead: 100,000 1 s timeouts around a ready future.

async fn arbor_timeout_overhead() {
    let mut sum = 0;
    for i in 0..TIMEOUTS {
        sum += arbor::move_on_after(SEC, ready(i)).await.expect("ready");
    }
    assert_eq!(sum, TIMEOUTS * (TIMEOUTS - 1) / 2);
}

async fn tokio_timeout_overhead() {
    let mut sum = 0;
    for i in 0..TIMEOUTS {
        sum += tokio::time::timeout(SEC, ready(i)).await.expect("ready");
    }
    assert_eq!(sum, TIMEOUTS * (TIMEOUTS - 1) / 2);
}

async fn smol_timeout_overhead(_ex: Ex) {
    let mut sum = 0;
    for i in 0..TIMEOUTS {
        sum += smol_timeout(SEC, ready(i)).await.expect("ready");
    }
    assert_eq!(sum, TIMEOUTS * (TIMEOUTS - 1) / 2);
}

// nested_timeouts/D: D nested timeouts around a yield, each level's
// deadline shorter than the one around it (level k from the inside:
// k seconds), so no deadline is covered by an enclosing one and every
// level arms a timer. Entered 100,000 / D times: the same number of
// levels at every depth, so linear cost shows as equal times.

fn arbor_nested(depth: usize, levels: &Rc<Cell<usize>>) -> Boxed {
    if depth == 0 {
        return Box::pin(arbor::yield_now());
    }
    let inner = arbor_nested(depth - 1, levels);
    let levels = levels.clone();
    let timeout = SEC * depth as u32;
    Box::pin(async move {
        arbor::fail_after(timeout, inner).await.expect("in time");
        levels.set(levels.get() + 1);
    })
}

fn tokio_nested(depth: usize, levels: &Rc<Cell<usize>>) -> Boxed {
    if depth == 0 {
        return Box::pin(tokio::task::yield_now());
    }
    let inner = tokio_nested(depth - 1, levels);
    let levels = levels.clone();
    let timeout = SEC * depth as u32;
    Box::pin(async move {
        tokio::time::timeout(timeout, inner).await.expect("in time");
        levels.set(levels.get() + 1);
    })
}

fn smol_nested(depth: usize, levels: &Rc<Cell<usize>>) -> Boxed {
    if depth == 0 {
        return Box::pin(futures_lite::future::yield_now());
    }
    let inner = smol_nested(depth - 1, levels);
    let levels = levels.clone();
    let timeout = SEC * depth as u32;
    Box::pin(async move {
        smol_timeout(timeout, inner).await.expect("in time");
        levels.set(levels.get() + 1);
    })
}

fn nested(depth: usize) -> Workload {
    let runs = NESTED_LEVELS / depth;
    three(
        &format!("nested_timeouts/{depth}"),
        move || async move {
            let levels = Rc::new(Cell::new(0));
            for _ in 0..runs {
                arbor_nested(depth, &levels).await;
            }
            assert_eq!(levels.get(), runs * depth);
        },
        move || async move {
            let levels = Rc::new(Cell::new(0));
            for _ in 0..runs {
                tokio_nested(depth, &levels).await;
            }
            assert_eq!(levels.get(), runs * depth);
        },
        move |_ex| async move {
            let levels = Rc::new(Cell::new(0));
            for _ in 0..runs {
                smol_nested(depth, &levels).await;
            }
            assert_eq!(levels.get(), runs * depth);
        },
    )
}

// nursery_spawn_join: 10,000 children in one nursery / a tokio `JoinSet`
// / a Vec of async-executor tasks, all awaited.

async fn arbor_nursery_spawn_join() {
    let ran = Rc::new(Cell::new(0));
    arbor::nursery(async |n| {
        for _ in 0..CHILDREN {
            let ran = ran.clone();
            drop(n.spawn(async move { ran.set(ran.get() + 1) }));
        }
    })
    .await
    .expect("nursery");
    assert_eq!(ran.get(), CHILDREN);
}

async fn tokio_nursery_spawn_join() {
    let ran = Rc::new(Cell::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..CHILDREN {
        let ran = ran.clone();
        set.spawn_local(async move { ran.set(ran.get() + 1) });
    }
    while let Some(r) = set.join_next().await {
        r.expect("child");
    }
    assert_eq!(ran.get(), CHILDREN);
}

async fn smol_nursery_spawn_join(ex: Ex) {
    let ran = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..CHILDREN)
        .map(|_| {
            let ran = ran.clone();
            ex.spawn(async move { ran.set(ran.get() + 1) })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(ran.get(), CHILDREN);
}

// cancel_fanout: 10,000 parked tasks, cancelled all at once. Timed: from
// the cancel until every child's future is dropped (counted by a guard
// each child holds).

/// Counts live children: +1 when a child starts, -1 when its future is
/// dropped.
struct Live(Rc<Cell<usize>>);

impl Live {
    fn start(live: &Rc<Cell<usize>>) -> Live {
        live.set(live.get() + 1);
        Live(live.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

fn child(live: &Rc<Cell<usize>>) -> impl Future<Output = ()> + 'static {
    let live = live.clone();
    async move {
        let _guard = Live::start(&live);
        pending::<()>().await
    }
}

async fn arbor_cancel_fanout() -> Duration {
    let live = Rc::new(Cell::new(0));
    let mut start = None;
    let out = arbor::nursery(async |n| {
        for _ in 0..CHILDREN {
            drop(n.spawn(child(&live)));
        }
        while live.get() < CHILDREN {
            arbor::yield_now().await; // until every child is parked
        }
        start = Some(Instant::now());
        n.cancel_scope().cancel();
        arbor::checkpoint().await;
    })
    .await;
    let elapsed = start.expect("cancelled").elapsed();
    assert!(out.is_err());
    assert_eq!(live.get(), 0);
    elapsed
}

async fn tokio_cancel_fanout() -> Duration {
    let live = Rc::new(Cell::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..CHILDREN {
        set.spawn_local(child(&live));
    }
    while live.get() < CHILDREN {
        tokio::task::yield_now().await;
    }
    let start = Instant::now();
    set.abort_all();
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap_err().is_cancelled());
    }
    let elapsed = start.elapsed();
    assert_eq!(live.get(), 0);
    elapsed
}

async fn smol_cancel_fanout(ex: Ex) -> Duration {
    let live = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..CHILDREN).map(|_| ex.spawn(child(&live))).collect();
    while live.get() < CHILDREN {
        futures_lite::future::yield_now().await;
    }
    let start = Instant::now();
    // Dropping a `Task` cancels it; the executor drops its future.
    drop(tasks);
    while live.get() > 0 {
        futures_lite::future::yield_now().await;
    }
    start.elapsed()
}

pub fn workloads() -> Vec<Workload> {
    vec![
        three(
            "timeout_overhead",
            arbor_timeout_overhead,
            tokio_timeout_overhead,
            smol_timeout_overhead,
        ),
        nested(10),
        nested(1000),
        three(
            "nursery_spawn_join",
            arbor_nursery_spawn_join,
            tokio_nursery_spawn_join,
            smol_nursery_spawn_join,
        ),
        three_timed(
            "cancel_fanout",
            arbor_cancel_fanout,
            tokio_cancel_fanout,
            smol_cancel_fanout,
        ),
    ]
}
