//! hyper hello-world over keep-alive HTTP/1.1: arbor (`arbor_hyper`) against
//! tokio's current_thread runtime (`hyper_util::rt::TokioIo`), the same
//! hyper service and settings on both (HTTP/1.1, hyper's default 30 s
//! `header_read_timeout` on each runtime's own timer, `TCP_NODELAY`).
//!
//! The load comes from `wrk` (`benches/http.sh` installs it from the
//! distribution's packages if it is missing). Each round starts a fresh
//! server process per runtime, pinned to core 0 (`taskset -c 0`), warms it
//! up for a second, then runs `wrk -t1 -cCONNS -dSECS --latency` pinned to
//! core 1; the two runtimes alternate which goes first. Reported per
//! round and as medians: requests/s, p99 latency and the server's CPU
//! time per request (its thread's time on a CPU over the run, from
//! `/proc/PID/schedstat`, divided by the requests wrk counted), and
//! arbor's ratio to tokio (requests/s: higher is better for arbor; p99
//! and CPU per request: lower), both of the medians and paired per round
//! (the median of each round's ratio). When wrk saturates its own core,
//! requests/s measures the load generator as much as the server; the CPU
//! per request is the server's own cost.
//!
//! ```text
//! bash benches/http.sh                          # 11 rounds of 10 s, 64 connections
//! ROUNDS=2 SECS=2 bash benches/http.sh          # a smoke run
//! cargo bench -p arbor-benches --bench http     # the same, if wrk is installed
//! ```
//!
//! Environment: `ROUNDS` (default 11), `SECS` (10), `CONNS` (64),
//! `SERVER_CPU` (0), `LOAD_CPU` (1). Without `wrk` on the PATH the bench
//! prints how to get it and exits successfully (so `cargo bench
//! --workspace` does not fail on a machine without it).

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};

const BODY: &[u8] = b"Hello, World!";

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let side = args.get(1).expect("--serve arbor|tokio");
        match side.as_str() {
            "arbor" => serve_arbor(),
            "tokio" => serve_tokio(),
            other => panic!("unknown side {other:?}"),
        }
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` and the like: nothing to list.
        return;
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("http: wrk is not installed; run `bash benches/http.sh` (it installs wrk)");
        return;
    }
    compare();
}

/// Serve on 127.0.0.1:0 with arbor; print the port; run until killed.
fn serve_arbor() {
    let rt = arbor::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = arbor::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        arbor_hyper::serve(listener, service_fn(hello))
            .await
            .unwrap();
    });
}

/// Serve on 127.0.0.1:0 with tokio current_thread; print the port; run
/// until killed.
fn serve_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1.timer(hyper_util::rt::TokioTimer::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn =
                http1.serve_connection(hyper_util::rt::TokioIo::new(stream), service_fn(hello));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(side: &str, cpu: usize) -> Server {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .arg(exe)
            .args(["--serve", side])
            .stdout(Stdio::piped())
            .spawn()
            .expect("taskset");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    rps: f64,
    p99: Duration,
    /// Requests completed in the run.
    requests: u64,
    /// The server's CPU time per request, in µs (filled in after the run).
    cpu_us: f64,
}

/// CPU time the server's thread has used so far, in ns: the first field
/// of `/proc/PID/schedstat` (both servers run on their main thread). The
/// kernel's network work done on that thread counts too, as it does for
/// both runtimes.
fn cpu_ns(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .expect("/proc/PID/schedstat (CONFIG_SCHEDSTATS)");
    text.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat's first field")
}

fn wrk(port: u16, cpu: usize, conns: usize, secs: u64) -> Sample {
    let out = Command::new("taskset")
        .arg("-c")
        .arg(cpu.to_string())
        .args([
            "wrk",
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).unwrap_or_else(|| panic!("cannot parse wrk's output:\n{text}"))
}

/// Requests/s, the 99th percentile and the request count from `wrk
/// --latency`.
fn parse_wrk(text: &str) -> Option<Sample> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_duration(v.trim()))?;
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))?
        .0
        .trim()
        .parse()
        .ok()?;
    Some(Sample {
        rps,
        p99,
        requests,
        cpu_us: 0.0,
    })
}

/// wrk's durations: `512.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn compare() {
    // The parser against a sample of wrk's output (a bench has no tests).
    let sample =
        "     99%    1.52ms\n  912345 requests in 10.00s, 1.2MB read\nRequests/sec:  91234.56\n";
    let parsed = parse_wrk(sample).expect("wrk output parser");
    assert_eq!(parsed.p99, Duration::from_micros(1520));
    assert_eq!(parsed.requests, 912_345);
    let rounds: usize = env_or("ROUNDS", 11);
    let secs: u64 = env_or("SECS", 10);
    let conns: usize = env_or("CONNS", 64);
    let server_cpu: usize = env_or("SERVER_CPU", 0);
    let load_cpu: usize = env_or("LOAD_CPU", 1);
    println!(
        "http: hello world, keep-alive HTTP/1.1, wrk -t1 -c{conns} -d{secs}s; \
         server on cpu {server_cpu}, wrk on cpu {load_cpu}; {rounds} rounds"
    );
    let mut arbor = Vec::new();
    let mut tokio = Vec::new();
    for round in 0..rounds {
        let order: [&str; 2] = if round % 2 == 0 {
            ["arbor", "tokio"]
        } else {
            ["tokio", "arbor"]
        };
        for side in order {
            let server = Server::start(side, server_cpu);
            // Warm-up: connections, allocator, caches.
            wrk(server.port, load_cpu, conns, 1);
            let cpu_before = cpu_ns(server.child.id());
            let mut sample = wrk(server.port, load_cpu, conns, secs);
            let cpu = cpu_ns(server.child.id()) - cpu_before;
            sample.cpu_us = cpu as f64 / 1e3 / sample.requests.max(1) as f64;
            drop(server);
            println!(
                "round {round:>2} {side:<5} {:>10.0} req/s  p99 {:>8.3} ms  server cpu {:>6.2} us/req",
                sample.rps,
                sample.p99.as_secs_f64() * 1e3,
                sample.cpu_us
            );
            if side == "arbor" {
                &mut arbor
            } else {
                &mut tokio
            }
            .push(sample);
        }
    }
    let med = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
    let rps = |s: &Sample| s.rps;
    let p99 = |s: &Sample| s.p99.as_secs_f64() * 1e3;
    let (a_rps, t_rps) = (med(&arbor, rps), med(&tokio, rps));
    let (a_p99, t_p99) = (med(&arbor, p99), med(&tokio, p99));
    let cpu = |s: &Sample| s.cpu_us;
    let (a_cpu, t_cpu) = (med(&arbor, cpu), med(&tokio, cpu));
    println!(
        "median arbor {a_rps:>10.0} req/s  p99 {a_p99:>8.3} ms  server cpu {a_cpu:>6.2} us/req"
    );
    println!(
        "median tokio {t_rps:>10.0} req/s  p99 {t_p99:>8.3} ms  server cpu {t_cpu:>6.2} us/req"
    );
    println!(
        "arbor/tokio of the medians: requests/s {:.3}x, p99 {:.3}x, server cpu per request {:.3}x (below 1 is better for arbor)",
        a_rps / t_rps,
        a_p99 / t_p99,
        a_cpu / t_cpu
    );
    // Paired per round, as the compare runner reports: the two runs of a
    // round are back to back, so the machine's drift cancels.
    let paired = |f: fn(&Sample) -> f64| {
        median(arbor.iter().zip(&tokio).map(|(a, t)| f(a) / f(t)).collect())
    };
    println!(
        "arbor/tokio paired per round (median of {rounds}): requests/s {:.3}x, p99 {:.3}x, server cpu per request {:.3}x",
        paired(rps),
        paired(p99),
        paired(cpu)
    );
}
