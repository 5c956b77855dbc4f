//! Running seeds: one run per seed on a fresh virtual-clock runtime, the
//! checks after it, and the batch drivers (in this process, or in a
//! worker process so that a crash or a hang reports its seed and the
//! batch goes on).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::features::Features;
use super::interp::{BoxFut, Cx, Sink, abort_slot, exec, panic_text, patterns, stream};
use super::ledger::Ledger;
use super::program::{Program, generate};
use super::world::{Alarm, Book, Kind, POLL_LIMIT, PanicId, TaskRec, TraceMode, Violation, World};

/// The program must finish within this much virtual time (it needs a few
/// seconds at most); past it, it is hung.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(10 * 3600);
const BEAT: Duration = Duration::from_secs(600);
/// Real time a single seed may take before the watchdog gives up on it.
pub const REAL_LIMIT: Duration = Duration::from_secs(10);

pub struct Outcome {
    pub seed: u64,
    pub size: usize,
    pub violations: Vec<Violation>,
    /// The digest of the run's trace (`TraceMode::Digest`).
    pub trace_digest: u64,
    /// What the run made, for the replay's report.
    pub stats: String,
    pub counts: BTreeMap<&'static str, u64>,
}

thread_local! {
    static UNEXPECTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Keep quiet about the program's own panics; remember any other.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().is::<PanicId>() {
                return;
            }
            let text = format!("{info}");
            let recorded = UNEXPECTED.try_with(|u| u.borrow_mut().push(text)).is_ok();
            if !recorded || std::env::var_os("ARBOR_RT_LOUD").is_some() {
                previous(info);
            }
        }));
    });
}

/// The program, until the book's alarm goes off.
struct UntilAlarm {
    program: Option<BoxFut<()>>,
    book: Rc<Book>,
}

impl Future for UntilAlarm {
    type Output = Option<Alarm>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Alarm>> {
        if let Some(alarm) = self.book.alarm.get() {
            self.book
                .log(|| format!("{alarm:?}; live tree:\n{}", arbor::dump()));
            self.book.teardown.set(true);
            self.program = None;
            return Poll::Ready(Some(alarm));
        }
        *self.book.root_waker.borrow_mut() = Some(cx.waker().clone());
        let program = self.program.as_mut().expect("polled after it finished");
        match program.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Waits for every spawned task to end (without a timer: a task that
/// never ends is seen by the heartbeat).
struct AllEnded<'a>(&'a World);

impl Future for AllEnded<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.live_spawned.get() == 0 {
            return Poll::Ready(());
        }
        *self.0.all_ended.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The root future: the program, then the end of every spawned task. A
/// heartbeat task keeps virtual time moving so a stuck program is seen,
/// and a poll count catches one that spins. Gives whether the program
/// finished.
async fn root(prog: &Program, w: Rc<World>, ledger: Rc<Ledger>) -> bool {
    // Before anything is spawned: the ledger sees every task.
    arbor::instrument::add(ledger.clone());
    let book = w.book.clone();
    book.start.set(Some(arbor::time::now()));
    let scopes_before = arbor::lowlevel::live_scopes();
    if scopes_before != 1 {
        book.violation(
            Kind::LiveScopes,
            format!("a fresh runtime has {scopes_before} scope nodes, not just the root"),
        );
    }
    let b = book.clone();
    let heartbeat = arbor::spawn(async move {
        let beats = VIRTUAL_LIMIT.as_secs() / BEAT.as_secs();
        for _ in 0..beats {
            arbor::time::sleep(BEAT).await;
        }
        b.raise(Alarm::Hung);
        std::future::pending::<()>().await;
    });
    let cx = Cx {
        w: w.clone(),
        task: TaskRec::new(0, None, None),
        sink: Sink::Root,
        nurseries: None,
        local: None,
    };
    let (node, final_abort) = (prog.root.clone(), prog.final_abort);
    let program: BoxFut<()> = Box::pin(async move {
        stream::start(&cx.w);
        exec(node, cx.clone()).await;
        if final_abort {
            for slot in 0..cx.w.slots.len() {
                abort_slot(&cx.w, slot);
            }
        }
        AllEnded(&cx.w).await;
        if let Some(pool) = &cx.w.pool {
            patterns::finish_pool(pool).await;
        }
        stream::finish(&cx.w).await;
    });
    let alarm = UntilAlarm {
        program: Some(program),
        book: book.clone(),
    }
    .await;
    match alarm {
        None => {}
        Some(Alarm::Hung) => {
            let timers = arbor::time::armed_timers();
            book.violation(
                Kind::Hang,
                if timers == 0 {
                    "the program never finished: nothing runnable and no timer armed \
                     (without the test's heartbeat the runtime would park forever)"
                        .to_string()
                } else {
                    format!(
                        "the program never finished: still running after {}h of virtual time with {timers} timer(s) armed",
                        VIRTUAL_LIMIT.as_secs() / 3600
                    )
                },
            );
        }
        Some(Alarm::Spinning) => book.violation(
            Kind::Stuck,
            format!(
                "the program never finished: its futures were polled {POLL_LIMIT} times \
                 (something wakes them in a loop)"
            ),
        ),
    }
    heartbeat.abort();
    drop(heartbeat);
    w.clear_handles();
    if alarm.is_none() {
        ledger.check_metrics(&book, arbor::instrument::metrics());
        let scopes = arbor::lowlevel::live_scopes();
        if scopes != scopes_before {
            book.violation(
                Kind::LiveScopes,
                format!(
                    "{scopes} scope nodes alive at the end, {scopes_before} at the start:\n{}",
                    arbor::dump()
                ),
            );
        }
    }
    alarm.is_none()
}

/// Generate and run one seed, then check everything.
pub fn run_seed(seed: u64, features: Features, trace: TraceMode) -> Outcome {
    run_program(&generate(seed, features), trace)
}

/// Every this many seeds, a batch runs the seed twice and checks that
/// both runs took the same steps (their trace digests agree).
pub const REPLAY_EVERY: u64 = 16;

/// One seed of a batch: run and checked; every [`REPLAY_EVERY`]th one
/// also checked to replay ([`run_program_twice`]).
pub fn run_batch_seed(seed: u64, features: Features) -> Outcome {
    if seed.is_multiple_of(REPLAY_EVERY) {
        run_program_twice(&generate(seed, features))
    } else {
        run_seed(seed, features, TraceMode::Off)
    }
}

/// Run `prog` twice, each run keeping a digest of its trace: the first
/// run's outcome, checked by [`check_replays`].
pub fn run_program_twice(prog: &Program) -> Outcome {
    let mut first = run_program(prog, TraceMode::Digest);
    check_replays(prog, &mut first);
    first
}

/// Run `prog` again and add a [`Kind::NoReplay`] violation to `first` (a
/// run that kept its trace, with nothing else wrong) if this run took
/// other steps. Programs with a stream are not compared: their reads race
/// the kernel's delivery while the virtual clock jumps.
pub fn check_replays(prog: &Program, first: &mut Outcome) {
    if prog.stream.is_some() || !first.violations.is_empty() {
        return;
    }
    let again = run_program(prog, TraceMode::Digest);
    if again.trace_digest != first.trace_digest {
        first.violations.push(Violation {
            kind: Kind::NoReplay,
            what: format!(
                "two runs of the program took different steps (trace digests {:016x} and {:016x}); diff the traces of two replays",
                first.trace_digest, again.trace_digest
            ),
        });
    }
}

/// The program's schedule: a runtime seed derived from its program seed
/// (`Builder::seed`), so each program also runs its ticks in its own
/// order and replays with it; `ARBOR_RT_FIFO=1` keeps FIFO order.
fn schedule(seed: u64, builder: arbor::Builder) -> arbor::Builder {
    if std::env::var_os("ARBOR_RT_FIFO").is_some() {
        builder
    } else {
        // Another stream than the generator's, which also starts from `seed`.
        builder.seed(seed ^ 0x5eed_5eed_5eed_5eed)
    }
}

/// Run one program on a fresh virtual-clock runtime, then check everything.
pub fn run_program(prog: &Program, trace: TraceMode) -> Outcome {
    install_panic_hook();
    UNEXPECTED.with(|u| u.borrow_mut().clear());
    let (seed, features) = (prog.seed, prog.features);
    let book = Book::new(trace, features);
    let w = World::new(prog, book.clone());
    let rt = schedule(seed, arbor::Runtime::builder().virtual_clock())
        .build()
        .expect("a virtual-clock runtime");
    let ledger = Rc::new(Ledger::default());
    let finished = match catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(root(prog, w.clone(), ledger.clone()))
    })) {
        Ok(finished) => finished,
        Err(payload) => {
            book.violation(
                Kind::UnexpectedPanic,
                format!("block_on panicked: {}", panic_text(&*payload)),
            );
            false
        }
    };
    if finished && rt.live_tasks() != 0 {
        book.violation(
            Kind::LiveTasks,
            format!(
                "rt.live_tasks() is {} after the program awaited or aborted everything",
                rt.live_tasks()
            ),
        );
    }
    book.teardown.set(true);
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(rt))) {
        book.violation(
            Kind::UnexpectedPanic,
            format!("dropping the runtime panicked: {}", panic_text(&*payload)),
        );
    }
    w.clear_handles();
    ledger.check_end(&book);
    w.check_resources();
    let refs = Rc::strong_count(&w);
    if refs != 1 {
        book.violation(
            Kind::StateLeak,
            format!(
                "{} reference(s) to the run's state outlive the runtime",
                refs - 1
            ),
        );
    }
    drop(w);
    book.check_tokens();
    book.check_messages();
    for text in UNEXPECTED.with(|u| std::mem::take(&mut *u.borrow_mut())) {
        book.violation(Kind::UnexpectedPanic, text);
    }
    let [in_flight, received, returned, in_channel, withdrawn] = book.message_counts();
    let stats = format!(
        "{} futures tracked; messages: {} received, {} handed back, {} dropped with their channel, {} withdrawn by a cancelled send, {} unaccounted",
        book.tokens(),
        received,
        returned,
        in_channel,
        withdrawn,
        in_flight
    );
    for (what, n) in [
        ("messages received", received),
        ("messages handed back", returned),
        ("messages dropped with their channel", in_channel),
        ("messages withdrawn", withdrawn),
    ] {
        *book.counts.borrow_mut().entry(what).or_default() += n as u64;
    }
    Outcome {
        seed,
        size: prog.size,
        violations: std::mem::take(&mut *book.violations.borrow_mut()),
        trace_digest: book.trace_digest(),
        stats,
        counts: std::mem::take(&mut *book.counts.borrow_mut()),
    }
}

/// Aborts the process, naming the seed, if one seed runs too long in real
/// time (a busy loop, or a park nothing will ever wake).
pub struct Watchdog {
    seed: Arc<AtomicU64>,
    progress: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn start(features: Features, limit: Duration) -> Watchdog {
        let seed = Arc::new(AtomicU64::new(u64::MAX));
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, p, st) = (seed.clone(), progress.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last = p.load(Ordering::SeqCst);
            let mut since = Instant::now();
            while !st.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let now = p.load(Ordering::SeqCst);
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() > limit {
                    let seed = s.load(Ordering::SeqCst);
                    let _ = writeln!(std::io::stdout(), "@rt hang {seed}");
                    eprintln!(
                        "random_tree: seed {seed} still running after {limit:?} of real time; \
                         aborting the process. Replay: ARBOR_SEED={seed} ARBOR_RT_FEATURES={features} \
                         cargo test -p arbor --test random_tree"
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog {
            seed,
            progress,
            stop,
        }
    }

    pub fn begin(&self, seed: u64) {
        self.seed.store(seed, Ordering::SeqCst);
        self.progress.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One failing seed: the first violation of each kind.
#[derive(Clone)]
pub struct Failure {
    pub seed: u64,
    pub size: usize,
    pub firsts: Vec<(String, String)>,
}

impl Failure {
    fn from_outcome(o: &Outcome) -> Failure {
        let mut firsts: Vec<(String, String)> = Vec::new();
        for v in &o.violations {
            let kind = v.kind.name();
            if !firsts.iter().any(|(k, _)| k == kind) {
                let text = v.what.replace(['\n', '\t', '\x1f'], " | ");
                firsts.push((kind.to_string(), text));
            }
        }
        Failure {
            seed: o.seed,
            size: o.size,
            firsts,
        }
    }

    /// One line: `SEED SIZE\tKIND\x1fTEXT\tKIND\x1fTEXT...`.
    fn to_line(&self) -> String {
        let mut line = format!("{} {}", self.seed, self.size);
        for (kind, text) in &self.firsts {
            line += &format!("\t{kind}\x1f{text}");
        }
        line
    }

    fn from_line(line: &str) -> Option<Failure> {
        let mut parts = line.split('\t');
        let mut head = parts.next()?.split(' ');
        let seed = head.next()?.parse().ok()?;
        let size = head.next()?.parse().ok()?;
        let firsts = parts
            .filter_map(|p| p.split_once('\x1f'))
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect();
        Some(Failure { seed, size, firsts })
    }
}

/// The worker's side: run `count` seeds from `start`, one line per seed
/// on stdout (`@rt seed N`, `@rt fail N SIZE KINDS :: TEXT`, `@rt done`).
pub fn worker(start: u64, count: u64, features: Features) {
    let dog = Watchdog::start(features, REAL_LIMIT);
    let out = std::io::stdout();
    for seed in start..start.saturating_add(count) {
        dog.begin(seed);
        writeln!(out.lock(), "@rt seed {seed}").unwrap();
        let o = run_batch_seed(seed, features);
        if !o.violations.is_empty() {
            let line = Failure::from_outcome(&o).to_line();
            writeln!(out.lock(), "@rt fail {line}").unwrap();
        }
    }
    writeln!(out.lock(), "@rt done").unwrap();
}

/// Run seeds in this process (no crash isolation).
pub fn run_in_process(start: u64, count: u64, features: Features) -> Vec<Failure> {
    let dog = Watchdog::start(features, REAL_LIMIT);
    let mut failures = Vec::new();
    for seed in start..start.saturating_add(count) {
        dog.begin(seed);
        let o = run_batch_seed(seed, features);
        if !o.violations.is_empty() {
            failures.push(Failure::from_outcome(&o));
        }
    }
    failures
}

/// Run seeds in worker processes running `worker_test` of this binary;
/// a worker that dies or hangs is reported against the seed it was
/// running and a new one goes on from the next seed.
pub fn run_in_workers(
    start: u64,
    count: u64,
    features: Features,
    worker_test: &str,
) -> Vec<Failure> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let end = start.saturating_add(count);
    let mut next = start;
    let mut failures = Vec::new();
    while next < end {
        let mut child = Command::new(&exe)
            .args([
                worker_test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ARBOR_RT_WORKER", format!("{next}:{}", end - next))
            .env("ARBOR_RT_FEATURES", format!("{:#x}", features.0))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a worker process");
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(Ok(line)).is_err() {
                    break;
                }
            }
        });
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx2.send(Err(line)).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<u64> = None;
        let mut done = false;
        let mut hung = false;
        let mut stderr_tail: Vec<String> = Vec::new();
        loop {
            match rx.recv_timeout(REAL_LIMIT * 3) {
                Ok(Ok(line)) => {
                    // libtest may print "test name ... " first on the line.
                    let Some(at) = line.find("@rt ") else {
                        continue;
                    };
                    let rest = &line[at + 4..];
                    let mut words = rest.splitn(2, ' ');
                    match (words.next(), words.next()) {
                        (Some("seed"), Some(n)) => current = n.trim().parse().ok(),
                        (Some("done"), _) => done = true,
                        (Some("hang"), _) => hung = true,
                        (Some("fail"), Some(rest)) => {
                            if let Some(f) = Failure::from_line(rest) {
                                failures.push(f);
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Err(line)) => {
                    stderr_tail.push(line);
                    if stderr_tail.len() > 12 {
                        stderr_tail.remove(0);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    hung = true;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait().expect("wait for the worker");
        let _ = out_reader.join();
        let _ = err_reader.join();
        if done {
            break;
        }
        let seed = current.expect("the worker names each seed before running it");
        let (kind, first) = if hung {
            (
                Kind::Stuck,
                format!("still running after {REAL_LIMIT:?} of real time (a busy loop?)"),
            )
        } else {
            (
                Kind::Crash,
                format!(
                    "the process died ({status}): {}",
                    stderr_tail
                        .iter()
                        .filter(|l| !l.trim().is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            )
        };
        failures.push(Failure {
            seed,
            size: generate(seed, features).size,
            firsts: vec![(kind.name().to_string(), first)],
        });
        next = seed + 1;
    }
    failures
}

/// Failures grouped by kind, with the smallest program of each as the
/// replaying seed.
pub fn summarize(failures: &[Failure], features: Features) -> String {
    let mut by_kind: BTreeMap<&str, Vec<(&Failure, &str)>> = BTreeMap::new();
    for f in failures {
        for (kind, text) in &f.firsts {
            by_kind.entry(kind.as_str()).or_default().push((f, text));
        }
    }
    let mut text = format!(
        "{} failing seed(s) with features {features}\n",
        failures.len()
    );
    for (kind, fs) in &by_kind {
        let (min, first) = fs
            .iter()
            .min_by_key(|(f, _)| (f.size, f.seed))
            .expect("non-empty");
        text += &format!(
            "\n== {kind}: {} seed(s); smallest program: seed {} ({} nodes)\n   {first}\n   \
             replay: ARBOR_SEED={} ARBOR_RT_FEATURES={features} cargo test -p arbor --test random_tree \
             (add ARBOR_SHRINK={kind} to shrink it)\n",
            fs.len(),
            min.seed,
            min.size,
            min.seed
        );
        let listing = generate(min.seed, features).to_string();
        for line in listing.lines().filter(|l| !l.starts_with("//")).take(40) {
            text += &format!("   | {line}\n");
        }
        let seeds: Vec<String> = fs
            .iter()
            .take(12)
            .map(|(f, _)| f.seed.to_string())
            .collect();
        text += &format!(
            "   seeds: {}{}\n",
            seeds.join(" "),
            if fs.len() > 12 { " ..." } else { "" }
        );
    }
    text
}
