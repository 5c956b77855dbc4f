//! `Node::Retry`: `retry` over scripted attempts, and the replay of its
//! documented schedule.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arbor::move_on_after;
use arbor::patterns::{AttemptError, RetryError, RetryPolicy, retry};
use arbor::time::Instant;

use super::{Oops, Over};
use crate::interp::{BoxFut, Cx, Kept, Tracked, ms};
use crate::program::{RetrySpec, Step};
use crate::world::Kind;

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
