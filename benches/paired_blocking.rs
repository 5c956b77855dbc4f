//! Paired, interleaved comparison of arbor's thread offload
//! (`arbor::to_thread::run_sync`) with tokio's `spawn_blocking`
//! (current_thread + `LocalSet`), each used as its users use it (arbor's
//! default capacity limiter of 40 included); see `pairing` for how rounds
//! are run and reported. A fresh runtime per run, so both pay for
//! starting their worker threads.
//!
//! - `to_thread_round_trip`: 10,000 offloads of a trivial closure, one
//!   after another (the latency of a hop to a worker and back).
//! - `to_thread_fan_out`: 100 tasks × 100 offloads each, at once.
//!
//! tokio runs twice: as `#[tokio::main(flavor = "current_thread")]` builds
//! it (`enable_all`), and without drivers.
//!
//! ```text
//! cargo bench --bench paired_blocking
//! ROUNDS=11 cargo bench --bench paired_blocking -- round_trip
//! ```

mod pairing;
use pairing::{Side, arbor, tokio, workload};

const ROUND_TRIPS: u64 = 10_000;
const TASKS: u64 = 100;
const PER_TASK: u64 = 100;

/// As `#[tokio::main(flavor = "current_thread")]` builds it: with the I/O
/// and time drivers, so an idle runtime parks in `epoll_wait` as arbor's
/// does.
fn tokio_rt() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

/// Without drivers (`Builder::new_current_thread().build()`): an idle
/// runtime parks on a condition variable, which a worker wakes faster than
/// an eventfd wakes `epoll_wait`. Not what `#[tokio::main]` builds, but
/// what a program without I/O may use; the parking change of issue 13 is
/// meant to close this gap.
fn tokio_rt_no_drivers() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

async fn arbor_round_trip() {
    let mut sum = 0;
    for i in 0..ROUND_TRIPS {
        sum += arbor::to_thread::run_sync(move || i).await;
    }
    assert_eq!(sum, ROUND_TRIPS * (ROUND_TRIPS - 1) / 2);
}

async fn tokio_round_trip() {
    let mut sum = 0;
    for i in 0..ROUND_TRIPS {
        sum += tokio::task::spawn_blocking(move || i).await.expect("job");
    }
    assert_eq!(sum, ROUND_TRIPS * (ROUND_TRIPS - 1) / 2);
}

async fn arbor_fan_out() {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            arbor::spawn(async move {
                let mut sum = 0;
                for i in 0..PER_TASK {
                    sum += arbor::to_thread::run_sync(move || t + i).await;
                }
                sum
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert!(total > 0);
}

async fn tokio_fan_out() {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            tokio::task::spawn_local(async move {
                let mut sum = 0;
                for i in 0..PER_TASK {
                    sum += tokio::task::spawn_blocking(move || t + i)
                        .await
                        .expect("job");
                }
                sum
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert!(total > 0);
}

fn main() {
    pairing::main(vec![
        workload(
            "to_thread_round_trip",
            vec![
                Side::arbor("arbor", arbor(arbor_round_trip)),
                Side::peer("tokio", tokio(tokio_rt, tokio_round_trip)),
                Side::peer(
                    "tokio-no-drivers",
                    tokio(tokio_rt_no_drivers, tokio_round_trip),
                ),
            ],
        ),
        workload(
            "to_thread_fan_out",
            vec![
                Side::arbor("arbor", arbor(arbor_fan_out)),
                Side::peer("tokio", tokio(tokio_rt, tokio_fan_out)),
                Side::peer(
                    "tokio-no-drivers",
                    tokio(tokio_rt_no_drivers, tokio_fan_out),
                ),
            ],
        ),
    ]);
}
