//! The interleaved three-runtime runner of the `compare` bench: every
//! round runs each side of a workload once (arbor, tokio, async-executor),
//! rotating which goes first, each on a fresh runtime built outside the
//! timed part, after one untimed warm-up run of every side. Reported per
//! workload: the median time per side, the paired ratios arbor/tokio and
//! arbor/async-executor (the median over rounds of that round's ratio,
//! with the interquartile range of the per-round ratios), and a verdict
//! against each peer with an equal band of ±3 %.
//!
//! With `--save` it also writes `results/compare.md` (the table, the date,
//! the machine and the command) and `results/compare.svg` (a bar chart of
//! the paired ratios, log scale, centred on 1).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pairing::{Workload, median};

/// Ratios within `1 ± EQUAL_BAND` count as equal.
pub const EQUAL_BAND: f64 = 0.03;
/// The side names the ratios are taken between.
pub const ARBOR: &str = "arbor";
pub const PEERS: [&str; 2] = ["tokio", "async-executor"];
const DEFAULT_ROUNDS: usize = 21;

/// One workload's result.
pub struct Row {
    pub name: String,
    /// Median seconds per side, by side name (`None`: side not run).
    pub times: Vec<(&'static str, f64)>,
    /// Per peer in `PEERS`: (median, 25th, 75th percentile) of the
    /// per-round ratios arbor/peer.
    pub ratios: [Option<(f64, f64, f64)>; 2],
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between closest ranks.
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn summarize(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (median(v.clone()), quantile(&v, 0.25), quantile(&v, 0.75))
}

/// "faster", "equal" or "slower", with the factor.
pub fn verdict(ratio: f64) -> String {
    if (ratio - 1.0).abs() <= EQUAL_BAND {
        "equal".into()
    } else if ratio < 1.0 {
        format!("faster ({:.2}x)", 1.0 / ratio)
    } else {
        format!("slower ({ratio:.2}x)")
    }
}

fn fmt_time(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

/// Run one workload: warm-up, then `rounds` interleaved rounds.
fn run_workload(w: &Workload, rounds: usize) -> Row {
    let n = w.sides.len();
    for side in &w.sides {
        (side.run)();
    }
    let mut times = vec![Vec::with_capacity(rounds); n];
    let arbor = w.sides.iter().position(|s| s.name == ARBOR);
    let peer_idx = PEERS.map(|p| w.sides.iter().position(|s| s.name == p));
    let mut ratios: [Vec<f64>; 2] = Default::default();
    for round in 0..rounds {
        let mut this = vec![0.0; n];
        for k in 0..n {
            let i = (round + k) % n;
            this[i] = (w.sides[i].run)().as_secs_f64();
        }
        for (p, idx) in peer_idx.iter().enumerate() {
            if let (Some(a), Some(b)) = (arbor, idx) {
                ratios[p].push(this[a] / this[*b]);
            }
        }
        for i in 0..n {
            times[i].push(this[i]);
        }
    }
    let [r0, r1] = ratios;
    let sum = |r: Vec<f64>| (!r.is_empty()).then(|| summarize(r));
    Row {
        name: w.name.clone(),
        times: w
            .sides
            .iter()
            .zip(times)
            .map(|(s, t)| (s.name, median(t)))
            .collect(),
        ratios: [sum(r0), sum(r1)],
    }
}

struct Options {
    rounds: usize,
    filter: Vec<String>,
    sides: Option<String>,
    save: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    Options {
        rounds: std::env::var("ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r| r > 0)
            .unwrap_or(DEFAULT_ROUNDS),
        // `cargo bench` passes `--bench`; other non-flag arguments filter.
        filter: args
            .iter()
            .filter(|a| !a.starts_with("--"))
            .cloned()
            .collect(),
        sides: std::env::var("SIDES").ok(),
        save: args.iter().any(|a| a == "--save"),
    }
}

/// Run the workloads whose name contains one of the arguments (all if
/// none), `ROUNDS` rounds each (default 21); `SIDES` (comma-separated
/// side names) runs only those sides; `--save` writes `results/`.
pub fn main(mut workloads: Vec<Workload>) {
    let opts = options();
    if let Some(sides) = &opts.sides {
        let keep: Vec<&str> = sides.split(',').collect();
        for w in &mut workloads {
            w.sides.retain(|s| keep.contains(&s.name));
        }
    }
    workloads.retain(|w| {
        opts.filter.is_empty() || opts.filter.iter().any(|f| w.name.contains(f.as_str()))
    });
    println!(
        "({} interleaved rounds per workload; times are medians; ratios are medians of per-round ratios, below 1: arbor faster; equal within ±{:.0}%)",
        opts.rounds,
        EQUAL_BAND * 100.0
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10}  {:>13} {:>13}  verdict (vs tokio; vs async-executor)",
        "workload", "arbor", "tokio", "async-ex", "arbor/tokio", "arbor/a-ex"
    );
    let mut rows = Vec::new();
    for w in &workloads {
        let row = run_workload(w, opts.rounds);
        println!("{}", console_line(&row));
        rows.push(row);
    }
    if opts.save {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        std::fs::create_dir_all(&dir).expect("create results/");
        let md = dir.join("compare.md");
        let svg = dir.join("compare.svg");
        std::fs::write(&md, markdown(&rows, &opts)).expect("write compare.md");
        chart(&rows, &svg, opts.rounds);
        println!("wrote {} and {}", md.display(), svg.display());
    }
}

fn time_of(row: &Row, side: &str) -> Option<f64> {
    row.times.iter().find(|(n, _)| *n == side).map(|&(_, t)| t)
}

fn console_line(row: &Row) -> String {
    let t = |s| time_of(row, s).map_or("-".into(), fmt_time);
    let r = |i: usize| row.ratios[i].map_or("-".into(), |(m, _, _)| format!("{m:.3}"));
    let v = |i: usize| row.ratios[i].map_or("-".into(), |(m, _, _)| verdict(m));
    format!(
        "{:<28} {:>10} {:>10} {:>10}  {:>13} {:>13}  {}; {}",
        row.name,
        t(ARBOR),
        t(PEERS[0]),
        t(PEERS[1]),
        r(0),
        r(1),
        v(0),
        v(1)
    )
}

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// The command that reproduces this run.
fn command(opts: &Options) -> String {
    let mut cmd = String::new();
    if opts.rounds != DEFAULT_ROUNDS {
        write!(cmd, "ROUNDS={} ", opts.rounds).unwrap();
    }
    if let Some(s) = &opts.sides {
        write!(cmd, "SIDES={s} ").unwrap();
    }
    if let Ok(d) = std::env::var("TOKIO_DRIVERS") {
        write!(cmd, "TOKIO_DRIVERS={d} ").unwrap();
    }
    cmd += "cargo bench -p arbor-benches --bench compare -- --save";
    for f in &opts.filter {
        write!(cmd, " {f}").unwrap();
    }
    cmd
}

fn markdown(rows: &[Row], opts: &Options) -> String {
    let mut s = String::new();
    let date = shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    writeln!(s, "Measured {date} with `{}`", command(opts)).unwrap();
    writeln!(
        s,
        "on {} ({} cores, Linux {}), {}; {} interleaved rounds per workload, a fresh runtime per run.",
        cpu_model(),
        shell("nproc", &[]),
        shell("uname", &["-r"]),
        shell("rustc", &["-V"]),
        opts.rounds
    )
    .unwrap();
    writeln!(
        s,
        "arbor: `Runtime::new()`; tokio: current_thread with {}, a `LocalSet`; async-executor: a `LocalExecutor` under `async_io::block_on`. Times are medians; ratios are the median over rounds of arbor's time divided by the peer's in the same round (below 1: arbor faster), with the interquartile range of the per-round ratios; equal means within ±{:.0}%.\n",
        match std::env::var("TOKIO_DRIVERS").as_deref() {
            Ok("time") => "`enable_time()` only",
            _ => "`enable_all()`",
        },
        EQUAL_BAND * 100.0
    )
    .unwrap();
    writeln!(
        s,
        "| workload | arbor | tokio | async-executor | arbor / tokio | arbor / async-executor |"
    )
    .unwrap();
    writeln!(s, "|---|---:|---:|---:|---|---|").unwrap();
    for row in rows {
        let t = |side| time_of(row, side).map_or("-".into(), fmt_time);
        let r = |i: usize| {
            row.ratios[i].map_or("-".into(), |(m, lo, hi)| {
                format!("{m:.2} ({lo:.2}–{hi:.2}) {}", verdict(m))
            })
        };
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            t(ARBOR),
            t(PEERS[0]),
            t(PEERS[1]),
            r(0),
            r(1)
        )
        .unwrap();
    }
    s
}

/// A horizontal bar chart of the paired ratios, on a log axis through 1
/// (bars grow left of 1 when arbor is faster, right when slower), with
/// the equal band shaded and each ratio printed by its bar.
fn chart(rows: &[Row], path: &PathBuf, rounds: usize) {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let n = rows.len().max(1);
    // A log axis from a power of two below the smallest ratio to one
    // above the largest, at least 1/2 .. 2.
    let medians = || {
        rows.iter()
            .flat_map(|r| r.ratios.iter().flatten())
            .map(|&(m, _, _)| m)
    };
    let (mut lo, mut hi) = (0.5f64, 2.0f64);
    while lo > medians().fold(1.0, f64::min) / 1.1 {
        lo /= 2.0;
    }
    while hi < medians().fold(1.0, f64::max) * 1.1 {
        hi *= 2.0;
    }
    let mut ticks = vec![1.0];
    let mut t = 2.0;
    while t <= hi {
        ticks.push(t);
        t *= 2.0;
    }
    let mut t = 0.5;
    while t >= lo {
        ticks.push(t);
        t /= 2.0;
    }
    ticks.sort_by(|a, b| a.total_cmp(b));

    // Each workload is a band of 20 units, top-down: the tokio bar at
    // 10..16, the async-executor bar at 4..10, the name at 10.
    // Room above the rows for the legend.
    const LEGEND_ROOM: i32 = 30;
    let rows_px = 40 * n as u32 + 2 * LEGEND_ROOM as u32;
    let root = SVGBackend::new(path, (1000, rows_px + 170)).into_drawing_area();
    root.fill(&WHITE).expect("svg");
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let label_points: Vec<i32> = (0..n as i32).map(|i| i * 20 + 10).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("arbor time / peer time, paired per round (median of {rounds} rounds)"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(230)
        .build_cartesian_2d(
            (lo..hi).log_scale().with_key_points(ticks),
            (0..20 * n as i32 + LEGEND_ROOM).with_key_points(label_points),
        )
        .expect("chart");
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("below 1: arbor faster  |  above 1: arbor slower  |  grey band: equal (±3%)  |  log scale")
        .x_label_formatter(&|&x| {
            // Powers of two: 1/8, 1/4, 1/2, 1, 2, 4.
            if x < 1.0 {
                format!("1/{}", (1.0 / x).round())
            } else {
                format!("{}", x.round())
            }
        })
        .y_label_formatter(&|y| {
            // Rows are drawn top-down: row 0 at the top.
            let i = (n as i32 - 1) - (y - 10) / 20;
            names.get(i as usize).cloned().unwrap_or_default()
        })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .expect("mesh");

    // The equal band.
    chart
        .draw_series([Rectangle::new(
            [(1.0 - EQUAL_BAND, 0), (1.0 + EQUAL_BAND, 20 * n as i32)],
            RGBColor(0xcc, 0xcc, 0xcc).mix(0.6).filled(),
        )])
        .expect("band");
    let colors = [RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e)];
    for (p, peer) in PEERS.iter().enumerate() {
        let color = colors[p];
        let bars: Vec<_> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (m, _, _) = r.ratios[p]?;
                let base = (n - 1 - i) as i32 * 20;
                let (y0, y1) = if p == 0 {
                    (base + 10, base + 16)
                } else {
                    (base + 4, base + 10)
                };
                Some(Rectangle::new([(1.0, y0), (m, y1)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .expect("bars")
            .label(format!("arbor / {peer}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        // The ratio, printed past the end of its bar.
        let values: Vec<_> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (m, _, _) = r.ratios[p]?;
                let base = (n - 1 - i) as i32 * 20;
                let y = if p == 0 { base + 13 } else { base + 7 };
                let x = if m < 1.0 { m / 1.03 } else { m * 1.03 };
                let style = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(
                    if m < 1.0 { HPos::Right } else { HPos::Left },
                    VPos::Center,
                ));
                Some(Text::new(format!("{m:.2}"), (x, y), style))
            })
            .collect();
        chart.draw_series(values).expect("values");
    }
    chart
        .draw_series([PathElement::new(
            vec![(1.0, 0), (1.0, 20 * n as i32 + LEGEND_ROOM)],
            BLACK.stroke_width(2),
        )])
        .expect("line at 1");
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .expect("legend");
    root.present().expect("write svg");
}
