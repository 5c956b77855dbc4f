//! The paired runner shared by `paired` and `paired_primitives` (and its
//! `Side` and `Workload` types, used by the `compare` runner too): every
//! round runs each side of a workload once, rotating which goes first,
//! each on a fresh runtime built outside the timed part. Reported: the
//! median time per side, and for each arbor side the median over rounds
//! of its time divided by the fastest peer's time in the same round
//! (below 1: arbor faster). Pairing runs from the same moment cancels most
//! of a shared machine's drift, which criterion's separate groups do not.

#![allow(dead_code)] // each runner uses its own subset of the side makers

use std::future::Future;
use std::time::{Duration, Instant};

/// One runtime's side of a workload: build (untimed), then run (timed).
pub type Run = Box<dyn Fn() -> Duration>;

pub struct Side {
    pub name: &'static str,
    /// An arbor side (compared with the peers), or a peer.
    pub arbor: bool,
    pub run: Run,
}

impl Side {
    pub fn arbor(name: &'static str, run: impl Fn() -> Duration + 'static) -> Self {
        Side {
            name,
            arbor: true,
            run: Box::new(run),
        }
    }

    pub fn peer(name: &'static str, run: impl Fn() -> Duration + 'static) -> Self {
        Side {
            name,
            arbor: false,
            run: Box::new(run),
        }
    }
}

/// A tokio current_thread runtime and the `LocalSet` its `!Send` tasks
/// run in, set up as the workload's users set it up.
pub type TokioRt = fn() -> (tokio::runtime::Runtime, tokio::task::LocalSet);

/// An arbor side: a fresh runtime (untimed), then `body` to completion
/// (timed).
pub fn arbor<F: Future>(body: impl Fn() -> F + 'static) -> impl Fn() -> Duration {
    move || {
        let rt = arbor::Runtime::new().expect("arbor runtime");
        let start = Instant::now();
        rt.block_on(body());
        start.elapsed()
    }
}

/// A tokio side: a fresh runtime from `make` (untimed), then `body` in its
/// `LocalSet` (timed).
pub fn tokio<F: Future>(make: TokioRt, body: impl Fn() -> F + 'static) -> impl Fn() -> Duration {
    move || {
        let (rt, local) = make();
        let start = Instant::now();
        local.block_on(&rt, body());
        start.elapsed()
    }
}

/// An arbor side whose body times itself (to leave its setup out).
pub fn arbor_timed<F: Future<Output = Duration>>(
    body: impl Fn() -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        arbor::Runtime::new()
            .expect("arbor runtime")
            .block_on(body())
    }
}

/// A tokio side whose body times itself.
pub fn tokio_timed<F: Future<Output = Duration>>(
    make: TokioRt,
    body: impl Fn() -> F + 'static,
) -> impl Fn() -> Duration {
    move || {
        let (rt, local) = make();
        local.block_on(&rt, body())
    }
}

pub fn workload(name: &str, sides: Vec<Side>) -> Workload {
    Workload {
        name: name.into(),
        sides,
    }
}

pub struct Workload {
    pub name: String,
    pub sides: Vec<Side>,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn best_peer_exists(sides: &[Side]) -> bool {
    sides.iter().any(|s| !s.arbor)
}

fn verdict(ratio: f64) -> String {
    if ratio < 1.0 {
        format!("{:.2}x faster", 1.0 / ratio)
    } else {
        format!("{ratio:.2}x slower")
    }
}

/// Run the workloads whose name contains one of the command-line
/// arguments (all if none), `ROUNDS` rounds each (default 31). `SIDES`
/// (a comma-separated list of side names) runs only those sides, for
/// profiling one runtime; ratios then need a peer among them.
pub fn main(mut workloads: Vec<Workload>) {
    if let Ok(sides) = std::env::var("SIDES") {
        let keep: Vec<&str> = sides.split(',').collect();
        for w in &mut workloads {
            w.sides.retain(|s| keep.contains(&s.name));
        }
    }
    // `cargo bench` passes `--bench`; any other argument filters by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(31);
    println!(
        "({rounds} interleaved rounds; times are medians; ratios are per-round medians against the fastest peer of the round)"
    );
    for w in workloads {
        if !filter.is_empty() && !filter.iter().any(|f| w.name.contains(f.as_str())) {
            continue;
        }
        let n = w.sides.len();
        // Warm up every side (page faults, allocator, lazy statics).
        for side in &w.sides {
            (side.run)();
        }
        let mut times = vec![Vec::with_capacity(rounds); n];
        let mut ratios = vec![Vec::with_capacity(rounds); n];
        for round in 0..rounds {
            let mut this = vec![0.0; n];
            for k in 0..n {
                let i = (round + k) % n;
                this[i] = (w.sides[i].run)().as_secs_f64();
            }
            let best_peer = w
                .sides
                .iter()
                .zip(&this)
                .filter(|(s, _)| !s.arbor)
                .map(|(_, &t)| t)
                .fold(f64::INFINITY, f64::min);
            for i in 0..n {
                times[i].push(this[i]);
                ratios[i].push(this[i] / best_peer);
            }
        }
        let mut line = format!("{:<30}", w.name);
        for (side, t) in w.sides.iter().zip(times) {
            line += &format!(" {}={:.3}ms", side.name, median(t) * 1e3);
        }
        for (side, r) in w.sides.iter().zip(ratios) {
            if side.arbor && best_peer_exists(&w.sides) {
                line += &format!("  {}: {}", side.name, verdict(median(r)));
            }
        }
        println!("{line}");
    }
}
