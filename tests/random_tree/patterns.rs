//! The `patterns` feature: `arbor::patterns` under the tree's random
//! cancellation, and the checks on what each pattern did.
//!
//! - `Node::Map`: `map_concurrent` (fail fast), `try_map_concurrent` or
//!   `map_concurrent_unordered` over 1 to 5 scripted items (sleep, then `Ok(i)` or `Err(i)`), with a
//!   limit of 1 to 3, sometimes under its own `move_on_after`. Each item
//!   future carries a drop token; the interpreter counts the futures
//!   alive (never more than `limit`), that `f` is called at most once per
//!   item, that no item future is polled after the call returned or was
//!   dropped, and that none is alive then. `Ok` must hold every output in
//!   input order; fail fast must return the failure that happened first
//!   (each item's end takes a number from the world's end sequence) and
//!   start no item after it; `try_map_concurrent` must return each item's
//!   own result; the unordered stream, drained by `next()`s each first
//!   polled once and dropped if pending (cancel safe: that loses no
//!   output), must give each item's output once, in the order they ended.
//! - `Node::Retry`: `retry` with 1 to 4 attempts, sometimes an attempt
//!   timeout and an overall timeout, backoff with factor 1 to 3, jitter off or seeded, and a `retry_if` that rejects
//!   errors marked fatal. The script says how each attempt ends. The
//!   interpreter replays the schedule the docs specify against what the
//!   attempts recorded on the virtual clock: each attempt starts when it
//!   should (the backoff exactly its ceiling without jitter, within
//!   `[0, ceiling]` with it), ends (or is cut by its timeout) when it
//!   should (timers fire on millisecond ticks: an attempt whose sleep ends
//!   on its deadline's tick may go either way), and the returned value or error (kind, attempt count, last
//!   error) and the time it returns are the schedule's. A `retry`
//!   cancelled from outside must have followed the schedule so far and
//!   start nothing after.
//! - `Node::PoolGet`/`Node::PoolClose`: one `Pool` per program (max size
//!   1 to 3; a factory that sleeps and fails every n-th call; sometimes a
//!   health check that sleeps and fails every n-th check; sometimes an
//!   `on_close` hook that sleeps), `get` under a timeout or polled once,
//!   alone or 2 to 4 at once,
//!   the guard held over a sleep then dropped or discarded, anywhere in
//!   the tree (so cancelled in every state). Each connection carries a
//!   drop token and counts itself live: never more than `max_size` live,
//!   never handed out twice at once, never health-checked while out.
//!   After the program, `statistics()` must show nothing in use, pending
//!   or waiting, and the live connections as its size (all idle); after
//!   `close()`, none live and the pool's size 0.
//! - `Node::Workers`: a `WorkerPool` of 1 to 3 workers, capacity 1 to 3,
//!   started in a nursery of the tree, its handler running scripted steps,
//!   `on_error` collecting the errors; the node submits 0 to 5 items
//!   (`submit` under a timeout, or `try_submit`), then closes and joins
//!   (under a timeout), drops its handle, or cancels the pool. Each item
//!   carries a drop token: the handler sees it at most once; an item
//!   handed back (`Closed`, `Full`) is the one submitted and was never
//!   handled; an item accepted (`submit` returned `Ok`) and dropped
//!   without being handled must be dropped by a cancellation (the pool
//!   cancelled, in a cancelled scope, or the workers torn down from
//!   outside as a child of that nursery would be: a task aborted, the
//!   runtime dropped);
//!   every handler error reaches `on_error` once; once a `join` returned
//!   (every worker ended), every accepted item was handled or dropped and
//!   every handler error reported.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arbor::move_on_after;
use arbor::patterns::worker::{Closed, TrySubmitError, WorkerError};
use arbor::patterns::{
    AttemptError, Pool, PoolError, PoolGuard, RetryError, RetryPolicy, WorkerPool, map_concurrent,
    map_concurrent_unordered, retry, try_map_concurrent,
};
use arbor::time::Instant;

use super::{BoxFut, Cx, Kept, PollOnce, Tracked, ms};
use crate::program::{GetWrap, MapKind, PoolSpec, RetrySpec, Step, WorkersEnd};
use crate::world::{Book, Kind, TaskRec, Token};

/// The error of every scripted failure: which item or attempt, and
/// whether `retry_if` rejects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oops {
    pub id: usize,
    pub fatal: bool,
}

/// Runs `inner`; when it completes or is dropped, `at_end` runs (after
/// `inner` is gone).
struct Over<T> {
    inner: Option<BoxFut<T>>,
    at_end: Option<Box<dyn FnOnce()>>,
}

impl<T> Over<T> {
    fn new(inner: BoxFut<T>, at_end: impl FnOnce() + 'static) -> Self {
        Over {
            inner: Some(inner),
            at_end: Some(Box::new(at_end)),
        }
    }

    fn end(&mut self) {
        let inner = self.inner.take();
        drop(inner);
        if let Some(f) = self.at_end.take() {
            f();
        }
    }
}

impl<T> Future for Over<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let out = this
            .inner
            .as_mut()
            .expect("polled after it ended")
            .as_mut()
            .poll(cx);
        if out.is_ready() {
            this.end();
        }
        out
    }
}

impl<T> Drop for Over<T> {
    fn drop(&mut self) {
        self.end();
    }
}

// ---------------------------------------------------------------- map

struct MapModel {
    id: usize,
    limit: usize,
    fail_fast: bool,
    items: Vec<Step>,
    made: Vec<Cell<u32>>,
    alive: Cell<usize>,
    /// How each item ended (`true`: `Err`) and its end number.
    ended: Vec<Cell<Option<(bool, u64)>>>,
    /// The call returned or was dropped.
    over: Cell<bool>,
}

impl MapModel {
    fn first_failure(&self) -> Option<(usize, u64)> {
        (0..self.items.len())
            .filter_map(|i| match self.ended[i].get() {
                Some((true, seq)) => Some((i, seq)),
                _ => None,
            })
            .min_by_key(|&(_, seq)| seq)
    }

    /// `f(i)`: the item's future.
    fn start(self: &Rc<Self>, cx: &Cx, i: usize) -> MapItem {
        let (id, book) = (self.id, cx.book());
        if self.over.get() {
            book.violation(
                Kind::WrongOutcome,
                format!("m{id}: item {i} started after the call returned or was dropped"),
            );
        }
        let made = self.made[i].get() + 1;
        self.made[i].set(made);
        if made > 1 {
            book.violation(
                Kind::WrongOutcome,
                format!("m{id}: f called {made} times for item {i}"),
            );
        }
        let alive = self.alive.get() + 1;
        self.alive.set(alive);
        if alive > self.limit {
            book.violation(
                Kind::Exclusion,
                format!("m{id}: {alive} item futures alive, limit {}", self.limit),
            );
        }
        if self.fail_fast
            && let Some((j, _)) = self.first_failure()
        {
            book.violation(
                Kind::WrongOutcome,
                format!("m{id}: item {i} started after item {j} failed (fail fast)"),
            );
        }
        cx.log(|| format!("m{id} starts item {i}"));
        let step = self.items[i];
        let (model, icx) = (self.clone(), cx.clone());
        let code = Box::pin(async move {
            arbor::time::sleep(ms(step.sleep)).await;
            icx.progressed("map item sleep");
            let seq = icx.w.next_end_seq();
            model.ended[i].set(Some((step.fails, seq)));
            icx.log(|| format!("m{} item {i} ends (end #{seq})", model.id));
            if step.fails {
                Err(Oops {
                    id: i,
                    fatal: false,
                })
            } else {
                Ok(i)
            }
        });
        MapItem {
            inner: Tracked::new(book, "map item", code),
            model: self.clone(),
            book: book.clone(),
        }
    }
}

struct MapItem {
    inner: Tracked<Result<usize, Oops>>,
    model: Rc<MapModel>,
    book: Rc<Book>,
}

impl Future for MapItem {
    type Output = Result<usize, Oops>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.model.over.get() {
            this.book.violation(
                Kind::WrongOutcome,
                format!(
                    "m{}: an item future was polled after the call returned",
                    this.model.id
                ),
            );
        }
        Pin::new(&mut this.inner).poll(cx)
    }
}

impl Drop for MapItem {
    fn drop(&mut self) {
        self.model.alive.set(self.model.alive.get() - 1);
    }
}

enum MapOut {
    FailFast(Result<Vec<usize>, Oops>),
    All(Vec<Result<usize, Oops>>),
    /// `(index, output)` in the order the stream gave them.
    Unordered(Vec<(usize, Result<usize, Oops>)>),
}

pub async fn run_map(
    cx: &Cx,
    id: usize,
    kind: MapKind,
    limit: usize,
    timeout: Option<u32>,
    items: &[Step],
) {
    let n = items.len();
    let model = Rc::new(MapModel {
        id,
        limit,
        fail_fast: kind == MapKind::FailFast,
        items: items.to_vec(),
        made: (0..n).map(|_| Cell::new(0)).collect(),
        alive: Cell::new(0),
        ended: (0..n).map(|_| Cell::new(None)).collect(),
        over: Cell::new(false),
    });
    let f = {
        let (model, cx) = (model.clone(), cx.clone());
        move |i: usize| model.start(&cx, i)
    };
    let call: BoxFut<MapOut> = match kind {
        MapKind::FailFast => {
            Box::pin(async move { MapOut::FailFast(map_concurrent(0..n, limit, f).await) })
        }
        MapKind::All => {
            Box::pin(async move { MapOut::All(try_map_concurrent(0..n, limit, f).await) })
        }
        MapKind::Unordered => {
            let scx = cx.clone();
            Box::pin(async move {
                let mut stream = map_concurrent_unordered(0..n, limit, f);
                let mut got = Vec::new();
                loop {
                    // Cancel safe: a `next()` dropped after one poll
                    // takes no output with it.
                    let once = {
                        let mut next = std::pin::pin!(stream.next());
                        PollOnce(next.as_mut()).await
                    };
                    let next = match once {
                        Some(next) => next,
                        None => {
                            scx.book().count("map_unordered next() dropped pending");
                            stream.next().await
                        }
                    };
                    let Some(pair) = next else {
                        break;
                    };
                    scx.progressed("MapUnordered::next");
                    got.push(pair);
                }
                MapOut::Unordered(got)
            })
        }
    };
    let m = model.clone();
    let book = cx.book().clone();
    let call = Over::new(call, move || {
        m.over.set(true);
        if m.alive.get() != 0 {
            book.violation(
                Kind::Leak,
                format!(
                    "m{}: {} item futures alive after the call returned or was dropped",
                    m.id,
                    m.alive.get()
                ),
            );
        }
    });
    let out = match timeout {
        Some(t) => move_on_after(ms(t), Kept::new(call)).await,
        None => Some(Kept::new(call).await),
    };
    let Some((out, kept)) = out else {
        cx.log(|| format!("m{id} was cancelled"));
        cx.book().count("map cancelled");
        return;
    };
    cx.progressed_unless_kept("map_concurrent", kept);
    let book = cx.book();
    let bad = |what: String| {
        let ended: Vec<_> = model.ended.iter().map(Cell::get).collect();
        book.violation(
            Kind::WrongOutcome,
            format!("m{id}: {what} (items ended as (Err?, end #): {ended:?})"),
        );
    };
    let all_ok = |vals: &[usize]| vals.len() == n && vals.iter().enumerate().all(|(i, &v)| v == i);
    match out {
        MapOut::FailFast(Ok(vals)) => {
            cx.log(|| format!("m{id} = Ok({vals:?})"));
            book.count("map Ok");
            let every = (0..n).all(|i| matches!(model.ended[i].get(), Some((false, _))));
            if !all_ok(&vals) || !every {
                bad(format!("map_concurrent returned Ok({vals:?})"));
            }
        }
        MapOut::FailFast(Err(e)) => {
            cx.log(|| format!("m{id} = Err({e:?})"));
            book.count("map Err");
            if model.first_failure().map(|f| f.0) != Some(e.id) {
                bad(format!(
                    "map_concurrent returned Err({e:?}), not the first failure"
                ));
            }
        }
        MapOut::Unordered(got) => {
            cx.log(|| format!("m{id} gave {got:?}"));
            book.count("map_unordered drained");
            let want = |i: usize| match model.ended[i].get() {
                Some((false, _)) => Some(Ok(i)),
                Some((true, _)) => Some(Err(Oops {
                    id: i,
                    fatal: false,
                })),
                None => None,
            };
            let seqs: Vec<u64> = got
                .iter()
                .map(|&(i, _)| model.ended.get(i).and_then(Cell::get).map_or(0, |e| e.1))
                .collect();
            let mut indices: Vec<usize> = got.iter().map(|p| p.0).collect();
            indices.sort_unstable();
            let fine = indices == (0..n).collect::<Vec<_>>()
                && got.iter().all(|&(i, r)| want(i) == Some(r))
                && seqs.windows(2).all(|w| w[0] < w[1]);
            if !fine {
                bad(format!(
                    "map_concurrent_unordered gave {got:?}, not each item's output once in the \
                     order they ended"
                ));
            }
        }
        MapOut::All(results) => {
            cx.log(|| format!("m{id} = {results:?}"));
            book.count("try_map returned");
            let fine = results.len() == n
                && results.iter().enumerate().all(|(i, r)| {
                    let want = match model.ended[i].get() {
                        Some((false, _)) => Ok(i),
                        Some((true, _)) => Err(Oops {
                            id: i,
                            fatal: false,
                        }),
                        None => return false,
                    };
                    *r == want
                });
            if !fine {
                bad(format!("try_map_concurrent returned {results:?}"));
            }
        }
    }
    let made: Vec<u32> = model.made.iter().map(Cell::get).collect();
    let must_all = !(kind == MapKind::FailFast && model.first_failure().is_some());
    if must_all && made.iter().any(|&m| m != 1) {
        bad(format!("f was called {made:?} times per item"));
    }
}

// ---------------------------------------------------------------- retry

/// How an attempt ended: `Some(failed)` when its code returned, `None`
/// when its future was dropped first.
type AttemptEnd = (Instant, Option<bool>);

struct RetryModel {
    id: usize,
    t0: Instant,
    script: Vec<Step>,
    starts: RefCell<Vec<Instant>>,
    ends: RefCell<Vec<Option<AttemptEnd>>>,
    over: Cell<bool>,
}

struct Attempt {
    inner: Option<Tracked<Result<usize, Oops>>>,
    model: Rc<RetryModel>,
    k: usize,
}

impl Future for Attempt {
    type Output = Result<usize, Oops>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let out = Pin::new(this.inner.as_mut().expect("polled after it ended")).poll(cx);
        if let Poll::Ready(r) = &out {
            this.model.ends.borrow_mut()[this.k] = Some((arbor::time::now(), Some(r.is_err())));
            this.inner = None;
        }
        out
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.inner.take().is_some() {
            self.model.ends.borrow_mut()[self.k] = Some((arbor::time::now(), None));
        }
    }
}

impl RetryModel {
    fn attempt(self: &Rc<Self>, cx: &Cx) -> Attempt {
        let k = self.starts.borrow().len();
        if self.over.get() {
            cx.book().violation(
                Kind::WrongOutcome,
                format!("r{}: attempt {} started after retry ended", self.id, k + 1),
            );
        }
        self.starts.borrow_mut().push(arbor::time::now());
        self.ends.borrow_mut().push(None);
        cx.log(|| format!("r{} attempt {}", self.id, k + 1));
        let step = self.script.get(k).copied().unwrap_or(Step {
            sleep: 0,
            fails: false,
            fatal: false,
        });
        let acx = cx.clone();
        let code = Box::pin(async move {
            arbor::time::sleep(ms(step.sleep)).await;
            acx.progressed("retry attempt sleep");
            if step.fails {
                Err(Oops {
                    id: k,
                    fatal: step.fatal,
                })
            } else {
                Ok(k)
            }
        });
        Attempt {
            inner: Some(Tracked::new(cx.book(), "retry attempt", code)),
            model: self.clone(),
            k,
        }
    }
}

pub async fn run_retry(cx: &Cx, id: usize, spec: RetrySpec, timeout: Option<u32>, script: &[Step]) {
    let mut policy = RetryPolicy::<Oops>::new()
        .max_attempts(spec.max_attempts)
        .backoff(ms(spec.initial), f64::from(spec.factor), ms(spec.max))
        .jitter(spec.jitter.is_some())
        .retry_if(|e: &Oops| !e.fatal);
    if let Some(seed) = spec.jitter {
        policy = policy.seed(seed);
    }
    if let Some(t) = spec.attempt_timeout {
        policy = policy.attempt_timeout(ms(t));
    }
    if let Some(t) = spec.overall {
        policy = policy.overall_timeout(ms(t));
    }
    let model = Rc::new(RetryModel {
        id,
        t0: arbor::time::now(),
        script: script.to_vec(),
        starts: RefCell::new(Vec::new()),
        ends: RefCell::new(Vec::new()),
        over: Cell::new(false),
    });
    let op = {
        let (model, cx) = (model.clone(), cx.clone());
        move || model.attempt(&cx)
    };
    let call: BoxFut<Result<usize, RetryError<Oops>>> =
        Box::pin(async move { retry(&policy, op).await });
    let m = model.clone();
    let call = Over::new(call, move || m.over.set(true));
    let out = match timeout {
        Some(t) => move_on_after(ms(t), Kept::new(call)).await,
        None => Some(Kept::new(call).await),
    };
    let out = out.map(|(out, kept)| {
        cx.progressed_unless_kept("retry", kept);
        out
    });
    cx.log(|| format!("r{id} = {out:?}"));
    cx.book().count(match &out {
        None => "retry cancelled",
        Some(Ok(_)) => "retry Ok",
        Some(Err(RetryError::AttemptsExhausted { .. })) => "retry AttemptsExhausted",
        Some(Err(RetryError::DeadlinePassed { .. })) => "retry DeadlinePassed",
        Some(Err(RetryError::NotRetryable { .. })) => "retry NotRetryable",
    });
    check_retry(cx, &model, spec, out.as_ref(), arbor::time::now());
}

/// Replay the schedule the docs give against what the attempts recorded
/// (see the module docs).
fn check_retry(
    cx: &Cx,
    m: &RetryModel,
    spec: RetrySpec,
    outcome: Option<&Result<usize, RetryError<Oops>>>,
    at: Instant,
) {
    let starts = m.starts.borrow();
    let ends = m.ends.borrow();
    let rel = |t: Instant| t.saturating_duration_since(m.t0);
    let bad = |what: String| {
        let s: Vec<Duration> = starts.iter().map(|&t| rel(t)).collect();
        let e: Vec<Option<(Duration, Option<bool>)>> = ends
            .iter()
            .map(|e| e.map(|(t, how)| (rel(t), how)))
            .collect();
        cx.book().violation(
            Kind::WrongOutcome,
            format!(
                "r{}: {what} (attempts started at {s:?}, ended at (time, failed?) {e:?}; \
                 returned {outcome:?} at {:?})",
                m.id,
                rel(at)
            ),
        );
    };
    let deadline = spec.overall.map(|t| m.t0 + ms(t));
    let mut now = m.t0;
    let mut last: Option<AttemptError<Oops>> = None;
    let mut k = 0usize;
    let (expected, end_at) = loop {
        let Some(&s) = starts.get(k) else {
            if outcome.is_some() {
                bad(format!(
                    "attempt {} should have started at {:?}",
                    k + 1,
                    rel(now)
                ));
            }
            return;
        };
        if s != now {
            bad(format!(
                "attempt {} should have started at {:?}",
                k + 1,
                rel(now)
            ));
            return;
        }
        let step = m.script.get(k).copied().unwrap_or(Step {
            sleep: 0,
            fails: false,
            fatal: false,
        });
        let own = spec.attempt_timeout.map(|t| s + ms(t));
        let (limit, overall_first) = match (own, deadline) {
            (Some(own), Some(overall)) if own < overall => (Some(own), false),
            (_, Some(overall)) => (Some(overall), true),
            (own, None) => (own, false),
        };
        let natural = s + ms(step.sleep);
        let end = ends.get(k).copied().flatten();
        // Timers fire on millisecond ticks: an attempt whose sleep ends
        // on its deadline's tick may end either way.
        let cut = match limit {
            Some(l) if l < natural => Some(l),
            Some(l) if l == natural => matches!(end, Some((_, None))).then_some(l),
            _ => None,
        };
        let (e_at, failure) = match cut {
            Some(l) => {
                match end {
                    Some((t, None)) if t == l => {}
                    Some((t, _)) if t < l && outcome.is_none() => return,
                    None if outcome.is_none() => return,
                    _ => {
                        bad(format!(
                            "attempt {} should have been cut by its timeout at {:?}",
                            k + 1,
                            rel(l)
                        ));
                        return;
                    }
                }
                if overall_first {
                    break (
                        Err(RetryError::DeadlinePassed {
                            attempts: k as u32 + 1,
                            last,
                        }),
                        l,
                    );
                }
                (l, AttemptError::TimedOut)
            }
            None => {
                match end {
                    Some((t, Some(failed))) if t == natural && failed == step.fails => {}
                    Some((t, None)) if t <= natural && outcome.is_none() => return,
                    None if outcome.is_none() => return,
                    _ => {
                        bad(format!(
                            "attempt {} should have ended by itself at {:?}",
                            k + 1,
                            rel(natural)
                        ));
                        return;
                    }
                }
                if !step.fails {
                    break (Ok(k), natural);
                }
                let error = Oops {
                    id: k,
                    fatal: step.fatal,
                };
                if step.fatal {
                    break (
                        Err(RetryError::NotRetryable {
                            attempts: k as u32 + 1,
                            error,
                        }),
                        natural,
                    );
                }
                (natural, AttemptError::Failed(error))
            }
        };
        if k as u32 + 1 >= spec.max_attempts {
            break (
                Err(RetryError::AttemptsExhausted {
                    attempts: k as u32 + 1,
                    last: failure,
                }),
                e_at,
            );
        }
        let ceiling = ms(spec
            .initial
            .saturating_mul(spec.factor.saturating_pow(k as u32))
            .min(spec.max));
        let passed = |delay: Duration| deadline.is_some_and(|d| e_at + delay >= d);
        let delay = match (spec.jitter, starts.get(k + 1)) {
            (None, _) => ceiling,
            // The next attempt starts on the tick at or after the draw.
            (Some(_), Some(&next)) if next >= e_at && next - e_at <= ceiling => {
                if deadline.is_some_and(|d| next > d) {
                    bad(format!("attempt {} started past the deadline", k + 2));
                    return;
                }
                last = Some(failure);
                now = next;
                k += 1;
                continue;
            }
            (Some(_), Some(_)) => {
                bad(format!(
                    "the backoff before attempt {} should be within [0, {ceiling:?}]",
                    k + 2
                ));
                return;
            }
            // No further attempt: a draw past the deadline, or cancelled.
            (Some(_), None) if passed(ceiling) => ceiling,
            (Some(_), None) if outcome.is_none() => return,
            (Some(_), None) => {
                bad(format!("attempt {} never started", k + 2));
                return;
            }
        };
        if passed(delay) {
            break (
                Err(RetryError::DeadlinePassed {
                    attempts: k as u32 + 1,
                    last: Some(failure),
                }),
                e_at,
            );
        }
        last = Some(failure);
        now = e_at + delay;
        k += 1;
    };
    match outcome {
        None => {
            if starts.len() > k + 1 {
                bad(format!("attempts started after attempt {}", k + 1));
            }
        }
        Some(got) => {
            if *got != expected || at != end_at || starts.len() != k + 1 {
                bad(format!(
                    "expected {expected:?} at {:?} after {} attempts",
                    rel(end_at),
                    k + 1
                ));
            }
        }
    }
}

// ---------------------------------------------------------------- pool

/// What the pool's hooks share with its connections.
pub struct PoolState {
    spec: PoolSpec,
    book: Rc<Book>,
    live: Cell<usize>,
    opened: Cell<u64>,
    calls: Cell<u32>,
    checks: Cell<u32>,
}

/// A connection: counts itself live, carries a drop token.
pub struct Conn {
    id: u64,
    state: Rc<PoolState>,
    out: Cell<bool>,
    _token: Token,
}

impl Conn {
    fn open(st: &Rc<PoolState>) -> Conn {
        let live = st.live.get() + 1;
        st.live.set(live);
        let id = st.opened.get() + 1;
        st.opened.set(id);
        if live > st.spec.max_size {
            st.book.violation(
                Kind::Exclusion,
                format!(
                    "pool: {live} connections live, max_size {}",
                    st.spec.max_size
                ),
            );
        }
        Conn {
            id,
            state: st.clone(),
            out: Cell::new(false),
            _token: st.book.token("pool connection"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state.live.set(self.state.live.get() - 1);
    }
}

/// The program's pool.
pub struct PoolWorld {
    pub pool: Pool<Conn, Oops>,
    state: Rc<PoolState>,
}

impl PoolWorld {
    pub fn new(spec: PoolSpec, book: &Rc<Book>) -> PoolWorld {
        let state = Rc::new(PoolState {
            spec,
            book: book.clone(),
            live: Cell::new(0),
            opened: Cell::new(0),
            calls: Cell::new(0),
            checks: Cell::new(0),
        });
        let st = state.clone();
        let mut builder = Pool::builder(async move || {
            let n = st.calls.get() + 1;
            st.calls.set(n);
            arbor::time::sleep(ms(st.spec.open_ms)).await;
            if st.spec.fail_every.is_some_and(|e| n.is_multiple_of(e)) {
                return Err(Oops {
                    id: n as usize,
                    fatal: false,
                });
            }
            Ok(Conn::open(&st))
        })
        .max_size(spec.max_size);
        if let Some((sleep, every)) = spec.check {
            let st = state.clone();
            builder = builder.health_check(async move |c: &mut Conn| {
                if c.out.get() {
                    st.book.violation(
                        Kind::Exclusion,
                        format!("pool: connection {} health-checked while checked out", c.id),
                    );
                }
                let n = st.checks.get() + 1;
                st.checks.set(n);
                arbor::time::sleep(ms(sleep)).await;
                !n.is_multiple_of(every)
            });
        }
        if let Some(t) = spec.close_ms {
            builder = builder.on_close(async move |c: Conn| {
                arbor::time::sleep(ms(t)).await;
                drop(c);
            });
        }
        PoolWorld {
            pool: builder.build(),
            state,
        }
    }
}

/// A checked-out connection; clears its `out` mark before the guard goes.
struct Out(Option<PoolGuard<Conn>>);

impl Drop for Out {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            g.out.set(false);
            drop(g);
        }
    }
}

/// Polls every future until all are done.
struct JoinAll(Vec<Option<BoxFut<()>>>);

impl Future for JoinAll {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut pending = false;
        for slot in self.0.iter_mut() {
            if let Some(fut) = slot {
                if fut.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// `crowd` gets at once (see `Node::PoolGet`).
pub async fn pool_crowd(cx: &Cx, crowd: usize, wrap: GetWrap, hold: u32, discard: bool) {
    if crowd == 1 {
        return pool_get(cx, wrap, hold, discard).await;
    }
    let gets = (0..crowd)
        .map(|i| {
            let cx = cx.clone();
            let get: BoxFut<()> =
                Box::pin(async move { pool_get(&cx, wrap, hold + i as u32, discard).await });
            Some(get)
        })
        .collect();
    JoinAll(gets).await;
}

async fn pool_get(cx: &Cx, wrap: GetWrap, hold: u32, discard: bool) {
    let Some(p) = &cx.w.pool else {
        return;
    };
    let book = cx.book();
    let got = match wrap {
        GetWrap::MoveOn(t) => move_on_after(ms(t), Kept::new(p.pool.get())).await,
        GetWrap::PollOnce => {
            let mut get = std::pin::pin!(Kept::new(p.pool.get()));
            PollOnce(get.as_mut()).await
        }
    };
    let Some((got, kept)) = got else {
        cx.log(|| "pool.get() cancelled or dropped".into());
        book.count("pool get cancelled or dropped");
        return;
    };
    cx.progressed_unless_kept("Pool::get", kept);
    let stats = p.pool.statistics();
    let max = p.state.spec.max_size;
    if stats.in_use > max || stats.size > max || p.state.live.get() > max {
        book.violation(
            Kind::Exclusion,
            format!(
                "pool: {stats:?} with {} live, max_size {max}",
                p.state.live.get()
            ),
        );
    }
    if stats.waiting > 0 {
        book.count("pool get returned with gets waiting");
    }
    match got {
        Ok(guard) => {
            let id = guard.id;
            cx.log(|| format!("pool.get() = connection {id}"));
            book.count("pool get Ok");
            if guard.out.replace(true) {
                book.violation(
                    Kind::Exclusion,
                    format!("pool: connection {id} handed out twice"),
                );
            }
            let mut held = Out(Some(guard));
            arbor::time::sleep(ms(hold)).await;
            cx.progressed("sleep");
            if discard {
                let g = held.0.take().expect("held");
                g.out.set(false);
                cx.log(|| format!("discard connection {id}"));
                g.discard();
            }
        }
        Err(PoolError::Closed) => {
            cx.log(|| "pool.get() = Closed".into());
            book.count("pool get Closed");
            if !p.pool.is_closed() {
                book.violation(Kind::WrongOutcome, "pool.get() = Closed on an open pool");
            }
        }
        Err(PoolError::Factory(e)) => {
            cx.log(|| format!("pool.get() = Factory({e:?})"));
            book.count("pool get Factory");
        }
    }
}

pub async fn pool_close(cx: &Cx, timeout: u32) {
    let Some(p) = &cx.w.pool else {
        return;
    };
    let Some(((), kept)) = move_on_after(ms(timeout), Kept::new(p.pool.close())).await else {
        cx.log(|| "pool.close() cancelled".into());
        return;
    };
    cx.progressed_unless_kept("Pool::close", kept);
    cx.log(|| "pool closed".into());
    cx.book().count("pool closed");
    let stats = p.pool.statistics();
    if stats.in_use != 0 || stats.pending != 0 || stats.idle != 0 || !p.pool.is_closed() {
        cx.book().violation(
            Kind::PermitLost,
            format!("pool: {stats:?} after close() returned"),
        );
    }
}

/// After the program: the pool's statistics, then `close()`, then
/// nothing live.
pub async fn finish_pool(p: &PoolWorld) {
    let book = &p.state.book;
    let stats = p.pool.statistics();
    let live = p.state.live.get();
    if stats.in_use != 0
        || stats.pending != 0
        || stats.waiting != 0
        || stats.size != stats.idle
        || stats.size != live
        || stats.created != p.state.opened.get()
    {
        book.violation(
            Kind::PermitLost,
            format!(
                "pool after the program: {stats:?}, {live} connections live, {} opened",
                p.state.opened.get()
            ),
        );
    }
    p.pool.close().await;
    let stats = p.pool.statistics();
    let live = p.state.live.get();
    if live != 0 || stats.size != 0 || stats.idle != 0 || stats.closed != stats.created {
        book.violation(
            Kind::Leak,
            format!("pool after close(): {stats:?}, {live} connections live"),
        );
    }
}

// ---------------------------------------------------------------- workers

/// What the interpreter knows of one `WorkerPool` node.
struct WorkersModel {
    id: usize,
    /// Per item: submitted and accepted (`Ok`), handled (handler calls),
    /// handed back.
    accepted: Vec<Cell<bool>>,
    handled: Vec<Cell<u32>>,
    /// Dropped without being handled.
    dropped: Vec<Cell<bool>>,
    /// Errors the handler returned, and those `on_error` got.
    errors: RefCell<Vec<usize>>,
    reported: RefCell<Vec<usize>>,
    /// `cancel()` was called.
    cancelled: Cell<bool>,
    /// Stands for the workers, children of the pool's nursery: whether
    /// they are torn down from outside (their task aborted...).
    workers: Rc<TaskRec>,
}

/// An item: carries a drop token, checks its own drop.
struct Item {
    i: usize,
    model: Rc<WorkersModel>,
    book: Rc<Book>,
    handled: bool,
    _token: Token,
}

impl Drop for Item {
    fn drop(&mut self) {
        let m = &self.model;
        if !self.handled {
            m.dropped[self.i].set(true);
            if m.accepted[self.i].get() {
                self.book
                    .count("worker item accepted and dropped unhandled");
            }
        }
        if m.accepted[self.i].get()
            && !self.handled
            && !m.cancelled.get()
            && !m.workers.doomed(&self.book)
            && !arbor::lowlevel::current_is_cancelled()
            && !std::thread::panicking()
        {
            self.book.violation(
                Kind::Message,
                format!(
                    "w{}: item {} was accepted and dropped unhandled outside any cancellation",
                    m.id, self.i
                ),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn run_workers(
    cx: &Cx,
    up: usize,
    id: usize,
    workers: usize,
    capacity: usize,
    items: &[Step],
    submit: Option<u32>,
    end: WorkersEnd,
) {
    let Some(l) = cx.nursery(up) else {
        return;
    };
    let book = cx.book().clone();
    let n = items.len();
    let model = Rc::new(WorkersModel {
        id,
        accepted: (0..n).map(|_| Cell::new(false)).collect(),
        handled: (0..n).map(|_| Cell::new(0)).collect(),
        dropped: (0..n).map(|_| Cell::new(false)).collect(),
        errors: RefCell::new(Vec::new()),
        reported: RefCell::new(Vec::new()),
        cancelled: Cell::new(false),
        workers: TaskRec::new(0, Some(l.rec.clone()), None),
    });
    let steps: Rc<Vec<Step>> = Rc::new(items.to_vec());
    let (hm, hbook, hcx) = (model.clone(), book.clone(), cx.clone());
    let handler = async move |mut item: Item| -> Result<usize, Oops> {
        item.handled = true;
        let i = item.i;
        let times = hm.handled[i].get() + 1;
        hm.handled[i].set(times);
        hcx.log(|| format!("w{} handles item {i}", hm.id));
        if times > 1 {
            hbook.violation(
                Kind::Message,
                format!("w{}: item {i} handled {times} times", hm.id),
            );
        }
        let step = steps[i];
        arbor::time::sleep(ms(step.sleep)).await;
        drop(item);
        if step.fails {
            hm.errors.borrow_mut().push(i);
            Err(Oops {
                id: i,
                fatal: false,
            })
        } else {
            Ok(i)
        }
    };
    let (em, ebook) = (model.clone(), book.clone());
    let builder = WorkerPool::builder(workers, capacity, handler).on_error(
        move |e: WorkerError<Oops>| match e {
            WorkerError::Failed(Oops { id: i, .. }) => {
                if em.reported.borrow().contains(&i) || !em.errors.borrow().contains(&i) {
                    ebook.violation(
                        Kind::Message,
                        format!("w{}: on_error got item {i}'s error again or unasked", em.id),
                    );
                }
                em.reported.borrow_mut().push(i);
            }
            other => ebook.violation(
                Kind::UnexpectedPanic,
                format!("w{}: on_error got {other:?}", em.id),
            ),
        },
    );
    let pool: WorkerPool<Item> = match builder.try_start(&l.n) {
        Ok(pool) => pool,
        Err(e) => {
            if !l.n.is_closed() {
                book.violation(
                    Kind::WrongOutcome,
                    format!("w{id}: try_start failed ({e}) while the nursery is open"),
                );
            }
            return;
        }
    };
    cx.log(|| format!("w{id} started in n{}", l.rec.id));
    for i in 0..n {
        let item = Item {
            i,
            model: model.clone(),
            book: book.clone(),
            handled: false,
            _token: book.token("worker item"),
        };
        let back = match submit {
            Some(t) => match move_on_after(ms(t), Kept::new(pool.submit(item))).await {
                None => {
                    cx.log(|| format!("w{id}: submit of item {i} cancelled"));
                    continue;
                }
                Some((Ok(()), kept)) => {
                    cx.progressed_unless_kept("WorkerPool::submit", kept);
                    None
                }
                Some((Err(Closed(item)), kept)) => {
                    cx.progressed_unless_kept("WorkerPool::submit", kept);
                    Some(item)
                }
            },
            None => match pool.try_submit(item) {
                Ok(()) => None,
                Err(TrySubmitError::Full(item) | TrySubmitError::Closed(item)) => Some(item),
            },
        };
        match back {
            None => {
                cx.log(|| format!("w{id}: item {i} submitted"));
                book.count("worker item accepted");
                // Taken (and handled) already if a worker was waiting.
                model.accepted[i].set(true);
            }
            Some(item) => {
                book.count("worker item handed back");
                if item.i != i || item.handled || model.handled[i].get() != 0 {
                    book.violation(
                        Kind::Message,
                        format!("w{id}: submit of item {i} handed back item {}", item.i),
                    );
                }
            }
        }
    }
    match end {
        WorkersEnd::Drop => drop(pool),
        WorkersEnd::Cancel => {
            model.cancelled.set(true);
            pool.cancel();
        }
        WorkersEnd::CloseJoin(t) => {
            pool.close();
            let Some(((), kept)) = move_on_after(ms(t), Kept::new(pool.join())).await else {
                return;
            };
            cx.progressed_unless_kept("WorkerPool::join", kept);
            book.count("worker pool joined");
            // Every worker has ended: each accepted item was handled, or
            // dropped (in a cancellation, as its drop checked), and each
            // handler error reported.
            let lost: Vec<usize> = (0..n)
                .filter(|&i| {
                    model.accepted[i].get()
                        && model.handled[i].get() == 0
                        && !model.dropped[i].get()
                })
                .collect();
            let unreported: Vec<usize> = model
                .errors
                .borrow()
                .iter()
                .copied()
                .filter(|i| !model.reported.borrow().contains(i))
                .collect();
            if !lost.is_empty() || !unreported.is_empty() {
                book.violation(
                    Kind::Message,
                    format!(
                        "w{id}: after join, accepted items {lost:?} were neither handled nor \
                         dropped, and errors of items {unreported:?} never reached on_error"
                    ),
                );
            }
        }
    }
}
