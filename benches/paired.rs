//! Paired, interleaved comparison of arbor and tokio (current_thread, with
//! a `LocalSet`, as its users set it up) on the structured-concurrency
//! workloads: each round runs every runtime once, alternating which goes
//! first, on a fresh runtime built outside the timed part; the report is
//! the median time per runtime and the median of the per-round ratios
//! arbor / tokio (below 1: arbor faster). Pairing runs from the same
//! moment cancels most of this shared machine's drift, which criterion's
//! separate groups do not.
//!
//! Workloads: `timeout_overhead` (100,000 timeouts around a ready future),
//! `nested_timeouts/10` (10 nested 1 s timeouts around a yield, written
//! out, 10,000 times), `nested_timeouts_boxed/D` (the same with boxed
//! levels, at depths 10, 100 and 1,000: 100,000 levels in all, so linear
//! cost shows as equal times), `nested_timeouts_distinct/D` (each level's
//! timeout shorter than the one around it, so every level arms a timer:
//! arbor's elision of covered deadlines cannot apply), `nursery_spawn_join`
//! and `cancel_fanout` (as in `structured.rs`).
//!
//! ```text
//! cargo bench -p arbor-benches --bench paired                      # every workload, 31 rounds
//! cargo bench -p arbor-benches --bench paired -- nested_timeouts   # workloads whose name contains it
//! ROUNDS=101 cargo bench -p arbor-benches --bench paired
//! ```

use std::cell::Cell;
use std::future::{Future, pending, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

mod pairing;
mod setup;
use pairing::{Side, Workload};

const SEC: Duration = Duration::from_secs(1);
const TIMEOUTS: usize = 100_000;
const CHILDREN: usize = 10_000;
const NESTED_LEVELS: usize = 100_000;

type Boxed = Pin<Box<dyn Future<Output = ()>>>;

fn arbor_rt() -> arbor::Runtime {
    arbor::Runtime::new().expect("arbor runtime")
}

use setup::tokio_rt;

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn arbor_timeout_overhead() -> Duration {
    let rt = arbor_rt();
    timed(|| {
        rt.block_on(async {
            let mut sum = 0;
            for i in 0..TIMEOUTS {
                sum += arbor::move_on_after(SEC, ready(i)).await.expect("ready");
            }
            std::hint::black_box(sum);
        })
    })
}

fn tokio_timeout_overhead() -> Duration {
    let (rt, local) = tokio_rt();
    timed(|| {
        local.block_on(&rt, async {
            let mut sum = 0;
            for i in 0..TIMEOUTS {
                sum += tokio::time::timeout(SEC, ready(i)).await.expect("ready");
            }
            std::hint::black_box(sum);
        })
    })
}

/// Ten nested timeouts around a yield, written out: no allocation.
macro_rules! nest10 {
    ($timeout:path, $inner:expr) => {
        async {
            $timeout(SEC, async {
                $timeout(SEC, async {
                    $timeout(SEC, async {
                        $timeout(SEC, async {
                            $timeout(SEC, async {
                                $timeout(SEC, async {
                                    $timeout(SEC, async {
                                        $timeout(SEC, async {
                                            $timeout(SEC, async {
                                                $timeout(SEC, $inner).await.expect("in time")
                                            })
                                            .await
                                            .expect("in time")
                                        })
                                        .await
                                        .expect("in time")
                                    })
                                    .await
                                    .expect("in time")
                                })
                                .await
                                .expect("in time")
                            })
                            .await
                            .expect("in time")
                        })
                        .await
                        .expect("in time")
                    })
                    .await
                    .expect("in time")
                })
                .await
                .expect("in time")
            })
            .await
            .expect("in time")
        }
    };
}

fn arbor_nested10() -> Duration {
    let rt = arbor_rt();
    timed(|| {
        rt.block_on(async {
            for _ in 0..NESTED_LEVELS / 10 {
                nest10!(arbor::fail_after, arbor::yield_now()).await;
            }
        })
    })
}

fn tokio_nested10() -> Duration {
    let (rt, local) = tokio_rt();
    timed(|| {
        local.block_on(&rt, async {
            for _ in 0..NESTED_LEVELS / 10 {
                nest10!(tokio::time::timeout, tokio::task::yield_now()).await;
            }
        })
    })
}

fn arbor_nested(depth: usize) -> Boxed {
    if depth == 0 {
        return Box::pin(arbor::yield_now());
    }
    let inner = arbor_nested(depth - 1);
    Box::pin(async move { arbor::fail_after(SEC, inner).await.expect("in time") })
}

fn tokio_nested(depth: usize) -> Boxed {
    if depth == 0 {
        return Box::pin(tokio::task::yield_now());
    }
    let inner = tokio_nested(depth - 1);
    Box::pin(async move { tokio::time::timeout(SEC, inner).await.expect("in time") })
}

/// Each level's timeout shorter than the one around it: no level's
/// deadline is covered by an enclosing one, so every level arms a timer.
fn arbor_nested_distinct(depth: usize) -> Boxed {
    if depth == 0 {
        return Box::pin(arbor::yield_now());
    }
    let inner = arbor_nested_distinct(depth - 1);
    let timeout = SEC * depth as u32;
    Box::pin(async move { arbor::fail_after(timeout, inner).await.expect("in time") })
}

fn tokio_nested_distinct(depth: usize) -> Boxed {
    if depth == 0 {
        return Box::pin(tokio::task::yield_now());
    }
    let inner = tokio_nested_distinct(depth - 1);
    let timeout = SEC * depth as u32;
    Box::pin(async move { tokio::time::timeout(timeout, inner).await.expect("in time") })
}

fn arbor_distinct(depth: usize) -> Duration {
    let rt = arbor_rt();
    timed(|| {
        rt.block_on(async {
            for _ in 0..NESTED_LEVELS / depth {
                arbor_nested_distinct(depth).await;
            }
        })
    })
}

fn tokio_distinct(depth: usize) -> Duration {
    let (rt, local) = tokio_rt();
    timed(|| {
        local.block_on(&rt, async {
            for _ in 0..NESTED_LEVELS / depth {
                tokio_nested_distinct(depth).await;
            }
        })
    })
}

fn arbor_nested_boxed(depth: usize) -> Duration {
    let rt = arbor_rt();
    timed(|| {
        rt.block_on(async {
            for _ in 0..NESTED_LEVELS / depth {
                arbor_nested(depth).await;
            }
        })
    })
}

fn tokio_nested_boxed(depth: usize) -> Duration {
    let (rt, local) = tokio_rt();
    timed(|| {
        local.block_on(&rt, async {
            for _ in 0..NESTED_LEVELS / depth {
                tokio_nested(depth).await;
            }
        })
    })
}

fn arbor_nursery_spawn_join() -> Duration {
    let rt = arbor_rt();
    timed(|| {
        rt.block_on(arbor::nursery(async |n| {
            for _ in 0..CHILDREN {
                drop(n.spawn(async {}));
            }
        }))
        .expect("nursery");
    })
}

fn tokio_nursery_spawn_join() -> Duration {
    let (rt, local) = tokio_rt();
    timed(|| {
        local.block_on(&rt, async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..CHILDREN {
                set.spawn_local(async {});
            }
            while let Some(r) = set.join_next().await {
                r.expect("child");
            }
        })
    })
}

/// Only the cancellation is timed: from `cancel` until every child is gone.
fn arbor_cancel_fanout() -> Duration {
    let rt = arbor_rt();
    let started = Rc::new(Cell::new(None));
    let s = started.clone();
    let out = rt.block_on(arbor::nursery(async move |n| {
        for _ in 0..CHILDREN {
            drop(n.spawn(pending::<()>()));
        }
        arbor::yield_now().await; // every child parked
        s.set(Some(Instant::now()));
        n.cancel_scope().cancel();
        arbor::checkpoint().await;
    }));
    let elapsed = started.get().expect("cancelled").elapsed();
    assert!(out.is_err());
    elapsed
}

fn tokio_cancel_fanout() -> Duration {
    let (rt, local) = tokio_rt();
    local.block_on(&rt, async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..CHILDREN {
            set.spawn_local(pending::<()>());
        }
        tokio::task::yield_now().await;
        let start = Instant::now();
        set.abort_all();
        while let Some(r) = set.join_next().await {
            assert!(r.unwrap_err().is_cancelled());
        }
        start.elapsed()
    })
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "timeout_overhead".into(),
            sides: vec![
                Side::arbor("arbor", arbor_timeout_overhead),
                Side::peer("tokio", tokio_timeout_overhead),
            ],
        },
        Workload {
            name: "nested_timeouts/10".into(),
            sides: vec![
                Side::arbor("arbor", arbor_nested10),
                Side::peer("tokio", tokio_nested10),
            ],
        },
        Workload {
            name: "nested_timeouts_boxed/10".into(),
            sides: vec![
                Side::arbor("arbor", || arbor_nested_boxed(10)),
                Side::peer("tokio", || tokio_nested_boxed(10)),
            ],
        },
        Workload {
            name: "nested_timeouts_boxed/100".into(),
            sides: vec![
                Side::arbor("arbor", || arbor_nested_boxed(100)),
                Side::peer("tokio", || tokio_nested_boxed(100)),
            ],
        },
        Workload {
            name: "nested_timeouts_boxed/1000".into(),
            sides: vec![
                Side::arbor("arbor", || arbor_nested_boxed(1000)),
                Side::peer("tokio", || tokio_nested_boxed(1000)),
            ],
        },
        Workload {
            name: "nested_timeouts_distinct/10".into(),
            sides: vec![
                Side::arbor("arbor", || arbor_distinct(10)),
                Side::peer("tokio", || tokio_distinct(10)),
            ],
        },
        Workload {
            name: "nested_timeouts_distinct/1000".into(),
            sides: vec![
                Side::arbor("arbor", || arbor_distinct(1000)),
                Side::peer("tokio", || tokio_distinct(1000)),
            ],
        },
        Workload {
            name: "nursery_spawn_join".into(),
            sides: vec![
                Side::arbor("arbor", arbor_nursery_spawn_join),
                Side::peer("tokio", tokio_nursery_spawn_join),
            ],
        },
        Workload {
            name: "cancel_fanout".into(),
            sides: vec![
                Side::arbor("arbor", arbor_cancel_fanout),
                Side::peer("tokio", tokio_cancel_fanout),
            ],
        },
    ]
}

fn main() {
    pairing::main(workloads());
}
