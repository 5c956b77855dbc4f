//! Bounded concurrent map: [`map_concurrent`] (results in input order,
//! fail fast), [`try_map_concurrent`] (every result) and
//! [`map_concurrent_unordered`] (a stream, in completion order).
//!
//! # How the items run
//!
//! The item futures are not tasks: they are polled in place, inside the
//! task that awaits the call (or polls the stream), like
//! `futures::stream::buffer_unordered`, each with a waker of its own so a
//! wake polls only its future. That keeps the pattern structured without
//! a nursery: the futures are owned by the call's future, so nothing
//! outlives it, and they run inside the caller's cancel scopes, so a
//! cancellation of the caller drops them all at its next suspension, as
//! it would drop the call's own code. It is also cheap: after the first
//! `limit` items, starting an item allocates nothing (each slot's box and
//! waker are reused), and no task, scope node or permit is made per item.
//! And since the futures never leave the call, they need not be
//! `'static`: `f` and its futures may borrow from the caller. The price
//! is that the items share one task: a blocking item blocks the others
//! (as it would block the rest of the runtime anyway), and a woken item
//! is polled when that task is, next tick. A future woken while it is
//! polled is polled again at the task's next poll, not in a loop, so an
//! item yielding in a loop still lets other tasks run.
//!
//! Items are taken from the iterator lazily: an item's future is made
//! (`f` called) only when a slot is free, so at most `limit` futures
//! exist at a time, and once the call has failed, or the stream is
//! dropped, no further item is taken.
//!
//! # Failure, cancellation, panics
//!
//! [`map_concurrent`] runs its futures in a cancel scope of its own. The
//! first `Err` cancels that scope: the other futures are dropped at once,
//! in the same poll (a future inside a [`shield`](arbor_nursery::shield)
//! first finishes its shielded part, as a cancelled nursery child would),
//! and the error is returned once they are gone, at the (virtual) time
//! the failure happened. An item panicking propagates out of the call as
//! that panic, at once; the other futures are dropped while it unwinds.

mod in_flight;

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use arbor_nursery::CancelScope;

use arbor_runtime::scope::entry_checkpoint as checkpoint;
use futures_core::Stream;

use in_flight::{Drive, Flow, InFlight};

#[track_caller]
fn check_limit(limit: usize, what: &str) {
    assert!(
        limit > 0,
        "{what}: limit must be at least 1 (a limit of 0 would never start an item)"
    );
}

/// Apply `f` to every item with at most `limit` futures in flight, and
/// return the outputs in input order, or the first error (fail fast).
///
/// Items are taken from `items` only when one of the `limit` slots is
/// free. The first `Err` cancels every other future at once (they are
/// dropped; items not yet taken never start, and `f` is not called for
/// them) and is returned as is. See the [module docs](self) for how the
/// futures run and why they are not tasks.
///
/// A checkpoint: at entry it is a cancel point and a schedule point
/// (even for no items).
///
/// ```
/// use std::time::Duration;
/// use arbor_patterns::map_concurrent;
/// use arbor_runtime::time::{Instant, sleep};
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let start = Instant::now();
///     // Four 1 s jobs, two at a time: 2 s, results in input order.
///     let out = map_concurrent([4, 3, 2, 1], 2, async |n: u32| {
///         sleep(Duration::from_secs(1)).await;
///         Ok::<_, std::io::Error>(n * 10)
///     })
///     .await
///     .unwrap();
///     assert_eq!(out, [40, 30, 20, 10]);
///     assert_eq!(Instant::now() - start, Duration::from_secs(2));
///
///     // The first failure returns at once; the 1 h job is dropped.
///     let err = map_concurrent([1, 3600], 2, async |secs: u64| {
///         sleep(Duration::from_secs(secs)).await;
///         Err::<(), _>(format!("job {secs} failed"))
///     })
///     .await
///     .unwrap_err();
///     assert_eq!(err, "job 1 failed");
///     assert_eq!(Instant::now() - start, Duration::from_secs(3));
/// });
/// ```
///
/// # Panics
/// At the call, if `limit` is 0. When an item's future panics, the panic
/// propagates out of the await (the other futures are dropped).
///
/// # Cancel safety
/// Dropping the future (or cancelling a scope around it) drops every item
/// future in flight at once and takes no further item; results already
/// received are lost. Nothing of it outlives the drop.
#[track_caller]
pub fn map_concurrent<It, F, Fut, T, E>(
    items: It,
    limit: usize,
    f: F,
) -> impl Future<Output = Result<Vec<T>, E>>
where
    It: IntoIterator,
    F: FnMut(It::Item) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    check_limit(limit, "map_concurrent");
    let items = items.into_iter();
    async move {
        checkpoint().await;
        let mut results: Vec<Option<T>> = Vec::with_capacity(items.size_hint().0);
        let mut failure: Option<E> = None;
        let scope = CancelScope::new();
        let handle = scope.handle();
        let (results_ref, failure_ref) = (&mut results, &mut failure);
        let mut set = InFlight::new(items, limit, f);
        let run = scope.run(poll_fn(move |cx| {
            if failure_ref.is_some() {
                // Failed, and something inside is shielded: our scope
                // drops the set once that part is done. Drive it meanwhile
                // (the unshielded futures make no progress); outputs of
                // the futures still finishing are dropped.
                set.poll_drive(cx, |_, _| Flow::Continue);
                return Poll::Pending;
            }
            let drive = set.poll_drive(cx, |index, output| match output {
                Ok(value) => {
                    if index >= results_ref.len() {
                        results_ref.resize_with(index + 1, || None);
                    }
                    results_ref[index] = Some(value);
                    Flow::Continue
                }
                Err(error) => {
                    *failure_ref = Some(error);
                    Flow::Stop
                }
            });
            match drive {
                Drive::Done => Poll::Ready(()),
                Drive::Pending => Poll::Pending,
                Drive::Stopped => {
                    set.stop_starting();
                    // Our scope drops the set after this poll (at once,
                    // unless a future is inside a shield).
                    handle.cancel();
                    Poll::Pending
                }
            }
        }));
        match run.await {
            Ok(()) => Ok(results
                .into_iter()
                .map(|r| r.expect("map_concurrent: every item finished"))
                .collect()),
            // Only our handle cancels our scope, and only after a failure.
            Err(_) => Err(failure.expect("map_concurrent: the scope was cancelled by a failure")),
        }
    }
}

/// Apply `f` to every item with at most `limit` futures in flight, and
/// return every output, `Ok` or `Err`, in input order. A failure does not
/// stop the others.
///
/// A checkpoint: at entry it is a cancel point and a schedule point.
///
/// ```
/// use arbor_patterns::try_map_concurrent;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// let out = rt.block_on(try_map_concurrent(1..=4, 2, async |n: u32| {
///     if n % 2 == 0 { Ok(n) } else { Err(format!("{n} is odd")) }
/// }));
/// assert_eq!(out, [Err("1 is odd".into()), Ok(2), Err("3 is odd".into()), Ok(4)]);
/// ```
///
/// # Panics
/// At the call, if `limit` is 0. When an item's future panics, the panic
/// propagates out of the await (the other futures are dropped).
///
/// # Cancel safety
/// As for [`map_concurrent`]: dropping it drops everything in flight.
#[track_caller]
pub fn try_map_concurrent<It, F, Fut, T, E>(
    items: It,
    limit: usize,
    f: F,
) -> impl Future<Output = Vec<Result<T, E>>>
where
    It: IntoIterator,
    F: FnMut(It::Item) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    check_limit(limit, "try_map_concurrent");
    let items = items.into_iter();
    async move {
        checkpoint().await;
        let mut results: Vec<Option<Result<T, E>>> = Vec::with_capacity(items.size_hint().0);
        let mut set = InFlight::new(items, limit, f);
        poll_fn(|cx| {
            let drive = set.poll_drive(cx, |index, output| {
                if index >= results.len() {
                    results.resize_with(index + 1, || None);
                }
                results[index] = Some(output);
                Flow::Continue
            });
            match drive {
                Drive::Done => Poll::Ready(()),
                Drive::Pending | Drive::Stopped => Poll::Pending,
            }
        })
        .await;
        results
            .into_iter()
            .map(|r| r.expect("try_map_concurrent: every item finished"))
            .collect()
    }
}

/// Apply `f` to every item with at most `limit` futures in flight, as a
/// [`Stream`] of `(input index, output)` in the order the futures finish.
///
/// The stream is structured because it owns its futures: dropping it
/// drops every future in flight at once and takes no further item, and
/// they run in the task polling the stream, inside its cancel scopes.
/// An `Err` output is yielded like any other (the stream does not stop;
/// drop it to stop). Futures only make progress while the stream is
/// polled; items are taken as slots free up, during polls.
///
/// ```
/// use std::time::Duration;
/// use arbor_patterns::map_concurrent_unordered;
/// use arbor_runtime::time::sleep;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let mut stream = map_concurrent_unordered([3, 1, 2], 3, async |secs: u64| {
///         sleep(Duration::from_secs(secs)).await;
///         secs
///     });
///     let mut order = Vec::new();
///     while let Some((index, secs)) = stream.next().await {
///         order.push((index, secs));
///     }
///     assert_eq!(order, [(1, 1), (2, 2), (0, 3)]);
/// });
/// ```
///
/// # Panics
/// At the call, if `limit` is 0. When an item's future panics, the panic
/// propagates out of the poll of the stream.
#[track_caller]
pub fn map_concurrent_unordered<It, F, Fut>(
    items: It,
    limit: usize,
    f: F,
) -> MapUnordered<It::IntoIter, F, Fut>
where
    It: IntoIterator,
    F: FnMut(It::Item) -> Fut,
    Fut: Future,
{
    check_limit(limit, "map_concurrent_unordered");
    MapUnordered {
        set: InFlight::new(items.into_iter(), limit, f),
        done: false,
    }
}

/// The stream of [`map_concurrent_unordered`]: `(input index, output)`
/// pairs in completion order.
///
/// Polling it in a cancelled scope makes no progress (it is level
/// triggered like every arbor operation). Dropping it drops the futures
/// in flight.
#[must_use = "streams do nothing unless polled"]
pub struct MapUnordered<I, F, Fut> {
    set: InFlight<I, F, Fut>,
    done: bool,
}

// Nothing is pinned structurally: the futures are boxed in their slots.
impl<I, F, Fut> Unpin for MapUnordered<I, F, Fut> {}

impl<I, F, Fut> MapUnordered<I, F, Fut>
where
    I: Iterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    /// The next `(input index, output)` to finish, or `None` once every
    /// item has finished.
    ///
    /// A cancel point: in a cancelled scope it makes no progress. It is
    /// not a schedule point of its own (the item futures' operations are).
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the returned future loses no output (an
    /// output is taken only in the poll that returns it), and the futures
    /// in flight stay in the stream.
    // The async `next` of a stream (as `StreamExt::next`), not an iterator's.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> impl Future<Output = Option<(usize, Fut::Output)>> + '_ {
        poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }

    /// Item futures made and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.set.live()
    }
}

impl<I, F, Fut> Stream for MapUnordered<I, F, Fut>
where
    I: Iterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    type Item = (usize, Fut::Output);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: nothing is polled, nothing taken.
            return Poll::Pending;
        }
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut next = None;
        let drive = this.set.poll_drive(cx, |index, output| {
            next = Some((index, output));
            Flow::Stop
        });
        match drive {
            Drive::Stopped => Poll::Ready(next),
            Drive::Done => {
                this.done = true;
                Poll::Ready(None)
            }
            Drive::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (self.set.live(), None)
        }
    }
}

impl<I, F, Fut> fmt::Debug for MapUnordered<I, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("in_flight", &self.set.live())
            .field("done", &self.done)
            .finish()
    }
}
