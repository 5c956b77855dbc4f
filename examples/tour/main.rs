//! A tour of arbor in one program: a TCP service that misbehaves on purpose,
//! and a client that copes, all in one nursery tree on one thread.
//!
//! ```text
//! cargo run --release --example tour            # about three seconds
//! cargo run --release --example tour -- 2000    # more requests
//! ```
//!
//! - The service (`service.rs`) runs on 127.0.0.1, every connection a
//!   nursery child. It answers some first attempts late and drops the
//!   connection of others.
//! - The client sends its requests through [`map_concurrent`] (at most
//!   `CONCURRENCY` in flight), each under [`retry`] with a per-attempt
//!   timeout and jittered backoff, over a [`Pool`] of connections. A request
//!   cut by its timeout discards its connection: a late reply must not
//!   reach the next user.
//! - Replies go to a [`WorkerPool`] that checks each value.
//! - A progress line redraws itself on a terminal (plain lines otherwise);
//!   halfway through, the program prints the live task tree
//!   (`arbor::dump()`); at the end, a summary with latency percentiles.
//! - Ctrl-C cancels the whole tree at once: the summary still prints.
//!
//! `tests/tour_example.rs` runs it end to end.

#[path = "service.rs"]
mod service;

use std::cell::{Cell, RefCell};
use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use arbor::patterns::{Pool, PoolError, PoolGuard, RetryPolicy, WorkerPool, map_concurrent, retry};
use arbor::time::{self, Instant};
use arbor::{CancelScope, nursery};

use service::{LineReader, ServiceStats};

/// What a run does.
#[derive(Debug, Clone)]
pub struct Config {
    /// Requests to send.
    pub requests: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Workers checking replies.
    pub workers: usize,
    /// One attempt's timeout (the service's slow replies take longer).
    pub attempt_timeout: Duration,
    /// Redraw a progress line (a terminal) or print plain lines.
    pub redraw: bool,
    /// Print the task tree halfway through.
    pub dump: bool,
}

impl Config {
    /// The defaults: `requests` requests, output for a terminal if stdout
    /// is one.
    pub fn new(requests: u64) -> Self {
        Config {
            requests,
            concurrency: 32,
            pool_size: 16,
            workers: 4,
            attempt_timeout: Duration::from_millis(150),
            redraw: io::stdout().is_terminal(),
            dump: true,
        }
    }
}

/// What a run measured.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Requests answered and checked by a worker.
    pub succeeded: u64,
    /// Requests that failed for good.
    pub failed: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Attempts cut by their timeout.
    pub timeouts: u64,
    /// Attempts whose connection the service dropped.
    pub dropped: u64,
    /// Replies a worker found wrong.
    pub bad_values: u64,
    /// Connections the pool opened.
    pub connections_opened: u64,
    /// Connections the service accepted.
    pub connections_accepted: u64,
    /// The first request that failed for good, and why.
    pub first_failure: Option<String>,
    /// Connections the pool still held after closing (0 unless one leaked).
    pub connections_open_at_end: usize,
    /// Whether Ctrl-C (or the caller) cut the run short.
    pub cancelled: bool,
    /// Median and 99th percentile request latency, retries included.
    pub p50: Duration,
    /// See `p50`.
    pub p99: Duration,
    /// Wall time.
    pub elapsed: Duration,
}

/// Counters shared by the tree while it runs; read into a [`Summary`] at
/// the end, however the run ended.
#[derive(Default)]
struct Stats {
    done: Cell<u64>,
    checked: Cell<u64>,
    failed: Cell<u64>,
    retries: Cell<u64>,
    timeouts: Cell<u64>,
    dropped: Cell<u64>,
    bad_values: Cell<u64>,
    latencies: RefCell<Vec<Duration>>,
    /// Set just before Ctrl-C cancels the tree.
    stopping: Cell<bool>,
    first_failure: RefCell<Option<String>>,
}

fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

/// A pooled connection: the stream and what was read past the last reply.
struct Conn {
    stream: TcpStream,
    lines: LineReader,
}

async fn connect(addr: SocketAddr) -> io::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(Conn {
        stream,
        lines: LineReader::default(),
    })
}

/// Why one attempt failed.
#[derive(Debug)]
enum RequestError {
    Pool(PoolError<io::Error>),
    Io(io::Error),
    Dropped,
    Bad(String),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Pool(e) => write!(f, "no connection: {e}"),
            RequestError::Io(e) => write!(f, "I/O error: {e}"),
            RequestError::Dropped => f.write_str("the service closed the connection"),
            RequestError::Bad(reply) => write!(f, "unexpected reply {reply:?}"),
        }
    }
}

/// Holds a connection for one request and discards it unless the request
/// finished: a request dropped by its timeout leaves a reply in flight on
/// that connection, which must not reach the next user.
struct Checkout(Option<PoolGuard<Conn>>);

impl Checkout {
    fn conn(&mut self) -> &mut Conn {
        self.0.as_mut().expect("checked out")
    }

    /// The request finished cleanly: the connection goes back to the pool.
    fn finish(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(guard) = self.0.take() {
            guard.discard();
        }
    }
}

async fn request(pool: &Pool<Conn, io::Error>, id: u64, attempt: u32) -> Result<u64, RequestError> {
    let mut checkout = Checkout(Some(pool.get().await.map_err(RequestError::Pool)?));
    let conn = checkout.conn();
    let line = format!("GET {id} {attempt}\n");
    conn.stream
        .write_all(line.as_bytes())
        .await
        .map_err(RequestError::Io)?;
    let reply = match conn.lines.next_line(&conn.stream).await {
        Ok(Some(reply)) => reply,
        Ok(None) => return Err(RequestError::Dropped),
        Err(e) => return Err(RequestError::Io(e)),
    };
    let value = parse_reply(&reply, id).ok_or(RequestError::Bad(reply))?;
    checkout.finish();
    Ok(value)
}

fn parse_reply(reply: &str, id: u64) -> Option<u64> {
    let mut words = reply.split_ascii_whitespace();
    (words.next()? == "OK" && words.next()?.parse::<u64>().ok()? == id).then_some(())?;
    words.next()?.parse().ok()
}

/// Run the tour: start the service, send `config.requests` requests
/// through it, check the replies. Returns when every request is done, or
/// as soon as `stop` completes (Ctrl-C), with what was measured either way.
///
/// # Errors
/// Binding the listener, or a task of the tree panicking.
pub async fn run(
    config: Config,
    stop: impl Future<Output = ()> + 'static,
) -> Result<Summary, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    let stats = Rc::new(Stats::default());
    let service = Rc::new(ServiceStats::default());
    let pool: Rc<Pool<Conn, io::Error>> = Rc::new(
        Pool::builder(async move || connect(addr).await)
            .max_size(config.pool_size)
            .idle_timeout(Duration::from_secs(5))
            .build(),
    );

    // Everything below runs in this scope: Ctrl-C cancels it, which drops
    // the service, the requests, the workers and the progress line at once.
    let everything = CancelScope::new();
    let cancel = everything.handle();
    let outcome = everything
        .run(nursery(async |top| {
            let stopping = stats.clone();
            top.spawn_named("ctrl-c", async move {
                stop.await;
                stopping.stopping.set(true);
                cancel.cancel_with_reason("Ctrl-C");
            });
            let service_stats = service.clone();
            top.spawn_named(
                "service",
                nursery(async move |conns| {
                    service::serve(listener, conns.clone(), service_stats).await;
                }),
            );
            top.spawn_named("progress", show_progress(config.clone(), stats.clone()));

            let checker = WorkerPool::builder(config.workers, 64, {
                let stats = stats.clone();
                async move |(id, value): (u64, u64)| {
                    // Checking is "work": a little time per item.
                    time::sleep(Duration::from_micros(200)).await;
                    bump(&stats.checked);
                    if value == service::value_of(id) {
                        Ok(())
                    } else {
                        Err(format!("request {id}: got {value}"))
                    }
                }
            })
            .on_error({
                let stats = stats.clone();
                move |_e| bump(&stats.bad_values)
            })
            .name("checker")
            .start(&top);

            let policy = RetryPolicy::new()
                .max_attempts(4)
                .attempt_timeout(config.attempt_timeout)
                .backoff(Duration::from_millis(5), 2.0, Duration::from_millis(100))
                .jitter(true);
            let _ = map_concurrent(0..config.requests, config.concurrency, |id| {
                let (pool, stats, checker, policy) = (&pool, &stats, &checker, &policy);
                async move {
                    let begun = Instant::now();
                    let attempt = Cell::new(0u32);
                    let result = retry(policy, || {
                        attempt.set(attempt.get() + 1);
                        if attempt.get() > 1 {
                            bump(&stats.retries);
                        }
                        async {
                            let mut cut = CountIfCut { stats, armed: true };
                            let r = request(pool, id, attempt.get()).await;
                            cut.armed = false;
                            if let Err(RequestError::Dropped) = r {
                                bump(&stats.dropped);
                            }
                            r
                        }
                    })
                    .await;
                    stats.latencies.borrow_mut().push(begun.elapsed());
                    bump(&stats.done);
                    match result {
                        Ok(value) => {
                            // Backpressure: waits while the checkers are behind.
                            let _ = checker.submit((id, value)).await;
                        }
                        Err(e) => {
                            bump(&stats.failed);
                            stats
                                .first_failure
                                .borrow_mut()
                                .get_or_insert_with(|| format!("request {id}: {e}"));
                        }
                    }
                    Ok::<(), ()>(())
                }
            })
            .await;
            checker.close();
            checker.join().await;
            // The work is done: stop the service, the progress line and the
            // Ctrl-C listener (the nursery's own cancellation is a normal
            // exit; the body returns without suspending again).
            top.cancel_scope().cancel();
        }))
        .await;
    if config.redraw {
        // The progress task was cancelled mid-line: finish it.
        println!("\r{}", progress_line(&config, &stats));
    }
    let cancelled = outcome.is_err();
    if let Ok(result) = outcome {
        result?;
    }
    pool.close().await;
    let pool_stats = pool.statistics();
    let mut summary = summarize(&stats, &service, cancelled, started.elapsed());
    summary.connections_opened = pool_stats.created;
    summary.connections_open_at_end = pool_stats.size;
    Ok(summary)
}

/// Counts an attempt dropped before it finished: its timeout cut it
/// (`retry` reports only the last attempt's error, so each one counts
/// itself). Not when Ctrl-C is dropping everything.
struct CountIfCut<'a> {
    stats: &'a Stats,
    armed: bool,
}

impl Drop for CountIfCut<'_> {
    fn drop(&mut self) {
        if self.armed && !self.stats.stopping.get() {
            bump(&self.stats.timeouts);
        }
    }
}

async fn show_progress(config: Config, stats: Rc<Stats>) {
    let mut dumped = !config.dump;
    let every = if config.redraw {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(500)
    };
    loop {
        time::sleep(every).await;
        let done = stats.done.get();
        if !dumped && done * 2 >= config.requests {
            dumped = true;
            if config.redraw {
                println!();
            }
            println!("tour: the task tree halfway through:\n{}", tree(40));
        }
        let line = progress_line(&config, &stats);
        if config.redraw {
            print!("\r{line}");
            let _ = io::stdout().flush();
        } else {
            println!("{line}");
        }
    }
}

fn progress_line(config: &Config, stats: &Stats) -> String {
    format!(
        "{} {}/{} requests, {} retries, {} timeouts, {} dropped connections",
        bar(stats.done.get(), config.requests, 24),
        stats.done.get(),
        config.requests,
        stats.retries.get(),
        stats.timeouts.get(),
        stats.dropped.get(),
    )
}

/// The live task tree, with runs of same-named sibling tasks and child
/// scopes folded after the first two (a folded child's subtree with it),
/// cut at `max_lines`.
fn tree(max_lines: usize) -> String {
    let dump = arbor::dump();
    let mut lines: Vec<String> = Vec::new();
    // The run of similar siblings being folded: its key and length.
    let mut run: Option<(String, usize)> = None;
    // While inside a folded child's subtree: that child's indentation.
    let mut skipping_below: Option<usize> = None;
    let flush = |lines: &mut Vec<String>, run: &mut Option<(String, usize)>| {
        if let Some((key, n)) = run.take()
            && n > 2
        {
            lines.push(format!("{key}: {} more like these", n - 2));
        }
    };
    for line in dump.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(folded) = skipping_below {
            if indent > folded {
                continue;
            }
            skipping_below = None;
        }
        let key = fold_key(line);
        match (&mut run, key) {
            (Some((k, n)), Some(key)) if *k == key => {
                *n += 1;
                if *n <= 2 {
                    lines.push(line.to_string());
                } else {
                    skipping_below = Some(indent);
                }
            }
            (_, key) => {
                flush(&mut lines, &mut run);
                run = key.map(|k| (k, 1));
                lines.push(line.to_string());
            }
        }
    }
    flush(&mut lines, &mut run);
    let mut out = lines[..lines.len().min(max_lines)].join("\n");
    if lines.len() > max_lines {
        out.push_str(&format!("\n  ... ({} more lines)", lines.len() - max_lines));
    }
    out
}

/// What makes two lines of the dump "the same" for folding: the
/// indentation, the kind (a task, or a child scope) and the name, as the
/// text the folded line starts with (`      - "connection"`). `None` for
/// other lines.
fn fold_key(line: &str) -> Option<String> {
    let rest = line.trim_start();
    let indent = &line[..line.len() - rest.len()];
    let kind = ["- task", "Child", "Scope"]
        .into_iter()
        .find(|kind| rest.starts_with(kind))?;
    match rest.split('"').nth(1) {
        Some(name) => Some(format!("{indent}{kind} \"{name}\" ...")),
        None => Some(format!("{indent}{kind} ...")),
    }
}

fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = (done as usize * width)
        .checked_div(total as usize)
        .unwrap_or(width)
        .min(width);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

fn summarize(stats: &Stats, service: &ServiceStats, cancelled: bool, elapsed: Duration) -> Summary {
    let mut latencies = stats.latencies.borrow().clone();
    latencies.sort();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Summary {
        succeeded: stats.checked.get() - stats.bad_values.get(),
        failed: stats.failed.get(),
        retries: stats.retries.get(),
        timeouts: stats.timeouts.get(),
        dropped: service.dropped.get(),
        bad_values: stats.bad_values.get(),
        connections_opened: 0,
        connections_accepted: service.connections.get(),
        first_failure: stats.first_failure.borrow().clone(),
        connections_open_at_end: 0,
        cancelled,
        p50: percentile(50),
        p99: percentile(99),
        elapsed,
    }
}

fn print_summary(s: &Summary) {
    println!(
        "tour: {} requests succeeded, {} failed{}",
        s.succeeded,
        s.failed,
        if s.cancelled {
            " (cancelled by Ctrl-C)"
        } else {
            ""
        }
    );
    if let Some(failure) = &s.first_failure {
        println!("tour: first failure: {failure}");
    }
    println!(
        "tour: {} retries, {} attempts timed out, {} connections dropped by the service",
        s.retries, s.timeouts, s.dropped
    );
    println!(
        "tour: {} connections opened by the pool, {} accepted by the service",
        s.connections_opened, s.connections_accepted
    );
    println!(
        "tour: latency p50 {:.1} ms, p99 {:.1} ms; {:.2} s in all",
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.elapsed.as_secs_f64()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("requests: {e}"))?,
        None => 1000,
    };
    let rt = arbor::Runtime::new()?;
    let summary = rt.block_on(async {
        let ctrl_c = arbor::signal::ctrl_c();
        let stop = async move {
            if ctrl_c.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        run(Config::new(requests), stop).await
    })?;
    print_summary(&summary);
    Ok(())
}
