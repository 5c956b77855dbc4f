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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::BoxFut;

#[path = "patterns/map.rs"]
mod map;
#[path = "patterns/pool.rs"]
mod pool;
#[path = "patterns/retry.rs"]
mod retry;
#[path = "patterns/workers.rs"]
mod workers;

pub use map::run_map;
pub use pool::{PoolWorld, finish_pool, pool_close, pool_crowd};
pub use retry::run_retry;
pub use workers::run_workers;

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
