//! The `compare` bench's workloads, each on arbor, tokio and
//! async-executor, set up as each runtime's users set it up:
//!
//! - arbor: `arbor::Runtime::new()` (real clock), `block_on`.
//! - tokio: a current_thread runtime with `enable_all()` (what
//!   `#[tokio::main(flavor = "current_thread")]` builds) and a `LocalSet`
//!   for the `!Send` tasks, `LocalSet::block_on`.
//! - async-executor: a `LocalExecutor` driven as smol drives it,
//!   `async_io::block_on(ex.run(fut))` (async-io's reactor and timers).
//!
//! Every side asserts that its work was done (counts, sums). See
//! `benches/README.md` for what each workload does on each runtime.

#![allow(dead_code)]

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;

use crate::pairing::{Side, Workload, workload};

mod executor;
mod structured;
mod sync;
mod timers;

pub type Ex = Rc<LocalExecutor<'static>>;

// Re-exported for the bench targets that glob-import this module.
#[allow(unused_imports)]
pub use crate::setup::tokio_rt;

/// An async-executor side: a fresh `LocalExecutor` (untimed), then `body`
/// under `async_io::block_on(ex.run(..))` (timed).
pub fn smol<F: Future + 'static>(body: impl Fn(Ex) -> F + 'static) -> impl Fn() -> Duration {
    move || {
        let ex = Rc::new(LocalExecutor::new());
        let start = Instant::now();
        async_io::block_on(ex.run(body(ex.clone())));
        start.elapsed()
    }
}

/// An async-executor side whose body times itself.
pub fn smol_timed<F: Future<Output = Duration> + 'static>(
    body: impl Fn(Ex) -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let ex = Rc::new(LocalExecutor::new());
        async_io::block_on(ex.run(body(ex.clone())))
    }
}

/// The three sides of a workload whose bodies are timed whole.
pub fn three<A, T, S>(
    name: &str,
    arbor: impl Fn() -> A + 'static,
    tokio: impl Fn() -> T + 'static,
    smol_body: impl Fn(Ex) -> S + 'static,
) -> Workload
where
    A: Future + 'static,
    T: Future + 'static,
    S: Future + 'static,
{
    workload(
        name,
        vec![
            Side::arbor("arbor", crate::pairing::arbor(arbor)),
            Side::peer("tokio", crate::pairing::tokio(tokio_rt, tokio)),
            Side::peer("async-executor", smol(smol_body)),
        ],
    )
}

/// The three sides of a workload whose bodies time themselves (to leave
/// their setup out).
pub fn three_timed<A, T, S>(
    name: &str,
    arbor: impl Fn() -> A + 'static,
    tokio: impl Fn() -> T + 'static,
    smol_body: impl Fn(Ex) -> S + 'static,
) -> Workload
where
    A: Future<Output = Duration> + 'static,
    T: Future<Output = Duration> + 'static,
    S: Future<Output = Duration> + 'static,
{
    workload(
        name,
        vec![
            Side::arbor("arbor", crate::pairing::arbor_timed(arbor)),
            Side::peer("tokio", crate::pairing::tokio_timed(tokio_rt, tokio)),
            Side::peer("async-executor", smol_timed(smol_body)),
        ],
    )
}

/// Every workload, in the order of the table.
pub fn workloads() -> Vec<Workload> {
    let mut all = Vec::new();
    all.extend(executor::workloads());
    all.extend(sync::workloads());
    all.extend(timers::workloads());
    all.extend(structured::workloads());
    all
}
