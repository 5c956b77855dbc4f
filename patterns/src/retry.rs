//! [`retry`]: run a fallible operation again, with exponential backoff
//! and full jitter, a per-attempt timeout and an overall deadline, as set
//! by a [`RetryPolicy`].
//!
//! # The schedule
//!
//! Attempt 1 starts at once. After attempt `k` fails (an `Err` that
//! [`retry_if`](RetryPolicy::retry_if) accepts, or its timeout), and if
//! attempts remain, `retry` sleeps the backoff delay, then starts attempt
//! `k + 1`. The delay's ceiling is `min(max, initial * factor^(k-1))`:
//! `initial` before the second attempt, doubling (by default) up to
//! `max`. With jitter (the default) the delay is drawn uniformly from
//! `[0, ceiling]` ("full jitter"), so clients that failed together do not
//! retry together; without it, the delay is the ceiling.
//!
//! # Timeouts are cancel scopes
//!
//! Each attempt runs in a cancel scope whose deadline is the earlier of
//! its own timeout (counted from its start) and the overall deadline: when
//! it passes, the attempt's future is dropped (as any cancelled arbor code
//! is, at its next suspension). The backoff sleep is an ordinary sleep in
//! the caller's scopes, so a cancellation of the caller drops it, and
//! `retry` never sleeps past the overall deadline: when the next attempt
//! could not start before it, `retry` returns
//! [`RetryError::DeadlinePassed`] at once instead of sleeping. A
//! cancellation of a scope around `retry` is not a timeout: it passes
//! through and drops `retry` (no attempt is counted, nothing retried).
//! Like any arbor scope, an attempt entered with its deadline already
//! passed (an absolute [`deadline`](RetryPolicy::deadline) in the past)
//! runs to its first suspension and is dropped there.
//!
//! # Randomness
//!
//! Jitter comes from a small splitmix64 generator, seeded per call:
//! with [`seed`](RetryPolicy::seed), every call with the policy draws the
//! same delays (deterministic tests); without, each call takes a fresh
//! seed from std's `RandomState` (random per process, different per
//! call), so that processes started together do not draw the same delays.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::fail_at;

use arbor_runtime::scope::entry_checkpoint as checkpoint;
use arbor_runtime::time::{Instant, sleep};

/// How [`retry`] retries: attempts, timeouts, backoff, and which errors
/// are worth another attempt. Built from [`RetryPolicy::new`] with the
/// setters below; cheap to clone (the predicate is shared).
///
/// Defaults: 3 attempts, no attempt timeout, no overall deadline, backoff
/// from 100 ms doubling up to 10 s with full jitter, a fresh random seed
/// per call, every error retried.
///
/// `E` is the operation's error type (what `retry_if` looks at).
pub struct RetryPolicy<E> {
    max_attempts: u32,
    attempt_timeout: Option<Duration>,
    overall: Option<Overall>,
    initial: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: bool,
    seed: Option<u64>,
    retry_if: Option<Predicate<E>>,
}

/// A `retry_if` predicate, shared by clones of the policy.
type Predicate<E> = Rc<dyn Fn(&E) -> bool>;

/// The overall deadline, absolute or counted from the call.
#[derive(Clone, Copy, Debug)]
enum Overall {
    At(Instant),
    After(Duration),
}

impl<E> Clone for RetryPolicy<E> {
    fn clone(&self) -> Self {
        RetryPolicy {
            retry_if: self.retry_if.clone(),
            ..*self
        }
    }
}

impl<E> Default for RetryPolicy<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> RetryPolicy<E> {
    /// The default policy (see the type's docs).
    pub fn new() -> Self {
        RetryPolicy {
            max_attempts: 3,
            attempt_timeout: None,
            overall: None,
            initial: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            jitter: true,
            seed: None,
            retry_if: None,
        }
    }

    /// Make at most `attempts` attempts in all (the first one included).
    ///
    /// # Panics
    /// If `attempts` is 0.
    #[track_caller]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        assert!(
            attempts > 0,
            "RetryPolicy::max_attempts: at least 1 attempt"
        );
        self.max_attempts = attempts;
        self
    }

    /// Give each attempt at most `timeout` (from its start); an attempt
    /// that runs out is dropped and counts as [`AttemptError::TimedOut`].
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Give up at `deadline` (on the runtime's clock): an attempt running
    /// then is dropped, and no backoff sleeps past it.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.overall = Some(Overall::At(deadline));
        self
    }

    /// Give up `timeout` after [`retry`] is called: the
    /// [`deadline`](RetryPolicy::deadline) counted from each call.
    pub fn overall_timeout(mut self, timeout: Duration) -> Self {
        self.overall = Some(Overall::After(timeout));
        self
    }

    /// The backoff: `initial` before the second attempt, multiplied by
    /// `factor` before each further one, never more than `max`.
    ///
    /// # Panics
    /// If `factor` is below 1 or not a number.
    #[track_caller]
    pub fn backoff(mut self, initial: Duration, factor: f64, max: Duration) -> Self {
        assert!(
            factor >= 1.0,
            "RetryPolicy::backoff: the factor must be at least 1 (got {factor})"
        );
        self.initial = initial;
        self.factor = factor;
        self.max_delay = max;
        self
    }

    /// Full jitter (the default): each delay drawn uniformly from
    /// `[0, its ceiling]`. `false` sleeps the ceiling exactly.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seed the jitter's generator: every call with this policy then
    /// draws the same delays.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Retry only errors for which `predicate` returns true; any other is
    /// returned at once as [`RetryError::NotRetryable`]. Timeouts are
    /// always retried (there is no error to look at).
    pub fn retry_if(mut self, predicate: impl Fn(&E) -> bool + 'static) -> Self {
        self.retry_if = Some(Rc::new(predicate));
        self
    }

    /// The ceiling of the delay before attempt `failed + 1`, after
    /// `failed` (at least 1) failed attempts: `min(max, initial *
    /// factor^(failed-1))`, the delay itself without jitter.
    pub fn delay_ceiling(&self, failed: u32) -> Duration {
        let exponent = i32::try_from(failed.saturating_sub(1)).unwrap_or(i32::MAX);
        // In nanoseconds as f64: exact for whole milliseconds up to
        // months, so `100 ms * 2^3` is exactly 800 ms; an overflow is
        // infinite and capped by `max`.
        let nanos = self.initial.as_nanos() as f64 * self.factor.powi(exponent);
        let max = self.max_delay.as_nanos() as f64;
        Duration::from_nanos(nanos.min(max) as u64)
    }

    fn retryable(&self, error: &E) -> bool {
        self.retry_if.as_ref().is_none_or(|p| p(error))
    }
}

impl<E> fmt::Debug for RetryPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("overall", &self.overall)
            .field("initial", &self.initial)
            .field("factor", &self.factor)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("seed", &self.seed)
            .field("retry_if", &self.retry_if.is_some())
            .finish()
    }
}

/// How one attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptError<E> {
    /// The operation returned this error.
    Failed(E),
    /// The attempt's own timeout passed; its future was dropped.
    TimedOut,
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Failed(e) => write!(f, "failed: {e}"),
            AttemptError::TimedOut => f.write_str("timed out"),
        }
    }
}

/// Why [`retry`] gave up. Every variant counts the attempts started and
/// hands back the last error, if there was one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryError<E> {
    /// Every allowed attempt failed; `last` is how the last one did.
    AttemptsExhausted {
        /// Attempts made (the policy's maximum).
        attempts: u32,
        /// How the last attempt failed.
        last: AttemptError<E>,
    },
    /// The overall deadline passed during an attempt (which was dropped),
    /// or the next attempt could not have started before it (`retry`
    /// then returns at once rather than sleep until it).
    DeadlinePassed {
        /// Attempts started, the one the deadline cut included.
        attempts: u32,
        /// How the last attempt that ended on its own failed; `None` if
        /// the deadline cut the first one.
        last: Option<AttemptError<E>>,
    },
    /// `retry_if` rejected this error: returned at once, not retried.
    NotRetryable {
        /// Attempts made, the one that failed with `error` included.
        attempts: u32,
        /// The error.
        error: E,
    },
}

impl<E> RetryError<E> {
    /// Attempts started.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::AttemptsExhausted { attempts, .. }
            | RetryError::DeadlinePassed { attempts, .. }
            | RetryError::NotRetryable { attempts, .. } => *attempts,
        }
    }

    /// The last error the operation returned, if the last attempt that
    /// ended returned one (not if it timed out).
    pub fn last_error(&self) -> Option<&E> {
        match self {
            RetryError::AttemptsExhausted {
                last: AttemptError::Failed(e),
                ..
            }
            | RetryError::DeadlinePassed {
                last: Some(AttemptError::Failed(e)),
                ..
            }
            | RetryError::NotRetryable { error: e, .. } => Some(e),
            _ => None,
        }
    }

    /// [`last_error`](RetryError::last_error), by value.
    pub fn into_last_error(self) -> Option<E> {
        match self {
            RetryError::AttemptsExhausted {
                last: AttemptError::Failed(e),
                ..
            }
            | RetryError::DeadlinePassed {
                last: Some(AttemptError::Failed(e)),
                ..
            }
            | RetryError::NotRetryable { error: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryError::AttemptsExhausted { attempts, last } => write!(
                f,
                "gave up after {attempts} attempts (the last one {last}); \
                 allow more attempts or a longer timeout if this is expected"
            ),
            RetryError::DeadlinePassed {
                attempts,
                last: Some(last),
            } => write!(
                f,
                "the retry deadline passed after {attempts} attempts (the last \
                 one that ended {last})"
            ),
            RetryError::DeadlinePassed {
                attempts,
                last: None,
            } => write!(
                f,
                "the retry deadline passed during attempt {attempts}, before any attempt ended"
            ),
            RetryError::NotRetryable { attempts, error } => write!(
                f,
                "attempt {attempts} failed with an error the policy does not retry: {error}"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last_error().map(|e| e as _)
    }
}

/// splitmix64: tiny, fast, and good enough for jitter.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound]` (multiply-shift: no modulo bias to speak of).
    fn up_to(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * (u128::from(bound) + 1)) >> 64) as u64
    }
}

fn fresh_seed() -> u64 {
    // Each `RandomState::new()` has keys of its own (random per process,
    // then incremented), so this differs per call and per process.
    RandomState::new().build_hasher().finish()
}

/// Call `op` until it succeeds, as `policy` says: the value, or a
/// [`RetryError`] saying whether attempts ran out, the deadline passed,
/// or an error was not retryable, with the last error. See the [module
/// docs](self) for the schedule and how timeouts work.
///
/// A checkpoint: a cancel point and a schedule point at entry.
///
/// ```
/// use std::cell::Cell;
/// use std::time::Duration;
/// use arbor_patterns::{RetryError, RetryPolicy, retry};
/// use arbor_runtime::time::Instant;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let policy = RetryPolicy::new()
///         .max_attempts(4)
///         .backoff(Duration::from_millis(100), 2.0, Duration::from_secs(1))
///         .jitter(false);
///     let calls = Cell::new(0);
///     let start = Instant::now();
///     // Fails twice, then succeeds: sleeps 100 ms, then 200 ms.
///     let out = retry(&policy, || async {
///         calls.set(calls.get() + 1);
///         if calls.get() < 3 { Err("busy") } else { Ok(calls.get()) }
///     })
///     .await;
///     assert_eq!(out, Ok(3));
///     assert_eq!(Instant::now() - start, Duration::from_millis(300));
///
///     // Always failing: 4 attempts, then the last error.
///     let out = retry(&policy, || async { Err::<(), _>("down") }).await;
///     assert!(matches!(out, Err(RetryError::AttemptsExhausted { attempts: 4, .. })));
///     assert_eq!(out.unwrap_err().into_last_error(), Some("down"));
/// });
/// ```
///
/// # Cancel safety
/// Dropping the future (or cancelling a scope around it) drops the
/// attempt running or the backoff sleep; no further attempt starts.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy<E>, mut op: F) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    checkpoint().await;
    let deadline = match policy.overall {
        Some(Overall::At(at)) => Some(at),
        Some(Overall::After(timeout)) => Some(Instant::now() + timeout),
        None => None,
    };
    // Seeded at the first jittered delay: a first attempt that succeeds
    // (the common case) pays nothing for it.
    let mut rng: Option<SplitMix64> = None;
    let mut attempts = 0;
    let mut last = None;
    loop {
        attempts += 1;
        let own = policy.attempt_timeout.map(|t| Instant::now() + t);
        // One scope per attempt, with the earlier deadline; ties go to
        // the overall one.
        let (limit, overall_first) = match (own, deadline) {
            (Some(own), Some(overall)) if own < overall => (Some(own), false),
            (_, Some(overall)) => (Some(overall), true),
            (own, None) => (own, false),
        };
        let outcome = match limit {
            Some(at) => fail_at(at, op()).await,
            None => Ok(op().await),
        };
        let failure = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) if !policy.retryable(&error) => {
                return Err(RetryError::NotRetryable { attempts, error });
            }
            Ok(Err(error)) => AttemptError::Failed(error),
            Err(_) if overall_first => return Err(RetryError::DeadlinePassed { attempts, last }),
            Err(_) => AttemptError::TimedOut,
        };
        if attempts >= policy.max_attempts {
            return Err(RetryError::AttemptsExhausted {
                attempts,
                last: failure,
            });
        }
        let ceiling = policy.delay_ceiling(attempts);
        let delay = if policy.jitter {
            let rng = rng.get_or_insert_with(|| SplitMix64(policy.seed.unwrap_or_else(fresh_seed)));
            Duration::from_nanos(rng.up_to(ceiling.as_nanos() as u64))
        } else {
            ceiling
        };
        if let Some(deadline) = deadline
            && Instant::now() + delay >= deadline
        {
            // The next attempt would start at or past the deadline.
            return Err(RetryError::DeadlinePassed {
                attempts,
                last: Some(failure),
            });
        }
        last = Some(failure);
        sleep(delay).await;
    }
}
