//! Not a benchmark: prints a Markdown table comparing arbor with tokio and
//! async-executor, read from the results criterion saved for the
//! `executor`, `timers`, `structured`, `primitives` and `net` benches (the
//! mean of each bench's last run), a second table for the `patterns` bench
//! (arbor against its peers on tokio), then tcp_echo's two runtime-free
//! floors.
//! A group with an `arbor-fast` result (a primitive's explicit fast mode)
//! gets a second row for it.
//!
//! Run the benches first, then this:
//!
//! ```text
//! cargo bench -p arbor-benches --bench executor --bench timers --bench structured --bench primitives --bench net && cargo bench -p arbor-benches --bench ratios
//! ```
//!
//! Results are looked up where criterion writes them: `$CRITERION_HOME`,
//! else `$CARGO_TARGET_DIR/criterion`, else the `criterion` directory of
//! the target directory this binary was built into. Missing results print
//! as "—".

use std::path::{Path, PathBuf};
use std::{env, fs};

/// Bench groups (with their parameter, if any), in table order.
const ROWS: &[(&str, Option<&str>)] = &[
    ("spawn_join", None),
    ("yield_many", None),
    ("chained_spawn", None),
    ("wake_remote", None),
    ("timers", None),
    ("timer_register_cancel", Some("0")),
    ("timer_register_cancel", Some("1000000")),
    ("timeout_overhead", None),
    ("nursery_spawn_join", None),
    ("cancel_fanout", None),
    ("semaphore", None),
    ("semaphore_uncontended", None),
    ("mutex", None),
    ("mutex_uncontended", None),
    ("ping_pong", None),
    ("channel_throughput", None),
    ("mpsc", None),
    ("tcp_echo", None),
];

const RUNTIMES: [&str; 3] = ["arbor", "tokio", "async-executor"];

/// The `patterns` bench's groups and their peers (on tokio), in table
/// order.
const PATTERN_ROWS: &[(&str, &[&str])] = &[
    ("map_concurrent", &["tokio-joinset", "buffer_unordered"]),
    (
        "map_concurrent_yield",
        &["tokio-joinset", "buffer_unordered"],
    ),
    ("retry_ready", &["backon"]),
    ("pool_get_put", &["deadpool", "bb8"]),
    ("pool_contended", &["deadpool", "bb8"]),
];

fn criterion_dir() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // This binary is <target>/<profile>/deps/ratios-<hash>.
    env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The mean point estimate, in nanoseconds, from a criterion
/// `estimates.json` (`{"mean":{..., "point_estimate":1.5, ...}, ...}`).
fn mean_ns(json: &str) -> Option<f64> {
    let mean = &json[json.find("\"mean\"")?..];
    let value = &mean[mean.find("\"point_estimate\"")? + "\"point_estimate\"".len()..];
    let value = value.trim_start().strip_prefix(':')?.trim_start();
    let end = value.find([',', '}']).unwrap_or(value.len());
    value[..end].trim().parse().ok()
}

fn load(dir: &Path, group: &str, id: &str, param: Option<&str>) -> Option<f64> {
    let mut path = dir.join(group).join(id);
    if let Some(param) = param {
        path.push(param);
    }
    mean_ns(&fs::read_to_string(path.join("new").join("estimates.json")).ok()?)
}

fn human(ns: Option<f64>) -> String {
    match ns {
        None => "—".into(),
        Some(ns) if ns < 1e3 => format!("{ns:.2} ns"),
        Some(ns) if ns < 1e6 => format!("{:.2} µs", ns / 1e3),
        Some(ns) if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        Some(ns) => format!("{:.2} s", ns / 1e9),
    }
}

/// arbor's time against another runtime's: "2.00× faster" when arbor takes
/// half the time.
fn ratio(arbor: Option<f64>, other: Option<f64>) -> String {
    match (arbor, other) {
        (Some(a), Some(o)) if a > 0.0 && o > 0.0 => {
            if a <= o {
                format!("{:.2}× faster", o / a)
            } else {
                format!("{:.2}× slower", a / o)
            }
        }
        _ => "—".into(),
    }
}

fn main() {
    let dir = criterion_dir();
    println!("Means from `{}`.\n", dir.display());
    println!("| group | arbor | tokio | async-executor | arbor/tokio | arbor/async-executor |");
    println!("|---|---|---|---|---|---|");
    for &(group, param) in ROWS {
        let [arbor, tokio, ex] = RUNTIMES.map(|id| load(&dir, group, id, param));
        let name = match param {
            Some(p) => format!("{group}/{p}"),
            None => group.to_string(),
        };
        let row = |name: &str, arbor: Option<f64>| {
            println!(
                "| {name} | {} | {} | {} | {} | {} |",
                human(arbor),
                human(tokio),
                human(ex),
                ratio(arbor, tokio),
                ratio(arbor, ex),
            );
        };
        row(&name, arbor);
        // The primitives' explicit fast mode, where the bench has one.
        if let Some(fast) = load(&dir, group, "arbor-fast", param) {
            row(&format!("{name} (fast mode)"), Some(fast));
        }
    }
    println!("\n| pattern | arbor | peers (arbor against each) |");
    println!("|---|---|---|");
    for &(group, peers) in PATTERN_ROWS {
        let arbor = load(&dir, group, "arbor", None);
        let against: Vec<String> = peers
            .iter()
            .map(|&peer| {
                let time = load(&dir, group, peer, None);
                format!("{peer} {} ({})", human(time), ratio(arbor, time))
            })
            .collect();
        println!("| {group} | {} | {} |", human(arbor), against.join(", "));
    }
    // How close the runtimes come to the same work done without a runtime.
    let [arbor, tokio, _] = RUNTIMES.map(|id| load(&dir, "tcp_echo", id, None));
    for floor in ["syscall-floor", "epoll-floor"] {
        let f = load(&dir, "tcp_echo", floor, None);
        let times = |t: Option<f64>| match (t, f) {
            (Some(t), Some(f)) if f > 0.0 => format!("{:.2}×", t / f),
            _ => "—".into(),
        };
        println!(
            "\ntcp_echo/{floor}: {} (arbor {} of it, tokio {})",
            human(f),
            times(arbor),
            times(tokio)
        );
    }
}
