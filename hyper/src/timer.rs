//! [`ArborTimer`]: hyper's timer on arbor's timer wheel.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arbor_runtime::time;
use hyper::rt::{Sleep, Timer};
use slab::Slab;

/// hyper's [`Timer`] on arbor's timer wheel, so that hyper's own timeouts
/// (`header_read_timeout`, which also closes idle keep-alive connections,
/// and HTTP/2 keep-alive pings) run on the runtime's clock, virtual clocks
/// included.
///
/// hyper requires its sleeps to be `Send + Sync`, and arbor's
/// [`Sleep`](arbor_runtime::time::Sleep) is neither (it is tied to its
/// runtime's thread). So the [`ArborSleep`] this timer returns holds only
/// a deadline until it is first polled; then it creates an arbor sleep in
/// a thread-local table and keeps the table's key and the thread's id,
/// both `Send + Sync`. A sleep that hyper creates and drops without
/// polling (the header-read timeout of a request whose head arrived in one
/// read) never touches the timer wheel.
///
/// Deadlines are hyper's `std::time::Instant`s, converted at the first poll
/// with [`time::Instant::from_std`]: on the real clock, the same moment; on
/// a virtual clock, the time left until the deadline (on the real clock) is
/// added to the runtime's clock. hyper's durations therefore pass in
/// virtual time (a 30 s header-read timeout fires when the virtual clock
/// has moved 30 s), while [`Timer::now`] stays the real clock.
///
/// ```
/// use arbor_hyper::ArborTimer;
/// use hyper::rt::Timer;
/// use std::time::Duration;
///
/// arbor_runtime::Runtime::builder()
///     .virtual_clock()
///     .build()
///     .unwrap()
///     .block_on(async {
///         let t0 = arbor_runtime::time::now();
///         ArborTimer.sleep(Duration::from_secs(30)).await;
///         assert!(arbor_runtime::time::now() - t0 >= Duration::from_secs(29));
///     });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ArborTimer;

impl Timer for ArborTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(ArborSleep::until(
            Instant::now()
                .checked_add(duration)
                .unwrap_or_else(far_future),
        ))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(ArborSleep::until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<ArborSleep>() {
            Some(mut ours) => ours.as_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// About thirty years from now: what a deadline that overflows `Instant`
/// becomes (it never fires in practice).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

thread_local! {
    /// The arbor sleeps of this thread's polled [`ArborSleep`]s, by key.
    static SLEEPS: RefCell<Slab<time::Sleep>> = const { RefCell::new(Slab::new()) };
    /// This thread's number, unique for the life of the process: cheaper
    /// to read than `thread::current().id()` (which clones an `Arc`), and,
    /// unlike an address, never reused by a later thread.
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

fn this_thread() -> u64 {
    THREAD.with(|t| *t)
}

/// Where a polled [`ArborSleep`]'s arbor sleep lives.
#[derive(Clone, Copy, Debug)]
struct Registered {
    thread: u64,
    key: usize,
}

/// The sleep of [`ArborTimer`]: a `Send + Sync` handle to a sleep on the
/// runtime's timer wheel, created when it is first polled.
///
/// It must be polled on one thread, the thread of the runtime it sleeps
/// on (hyper polls a connection's sleeps on the thread that polls the
/// connection, so this always holds for a connection served on arbor).
/// Polling it on another thread after the first poll panics. Dropping it
/// on another thread is safe: the arbor sleep then stays in its thread's
/// table (disarmed when its deadline passes) until that thread exits.
pub struct ArborSleep {
    deadline: Instant,
    registered: Option<Registered>,
}

impl ArborSleep {
    fn until(deadline: Instant) -> Self {
        ArborSleep {
            deadline,
            registered: None,
        }
    }

    /// The deadline on the runtime's clock (on the real clock, with no
    /// clock read: hyper arms a new header-read timeout per request).
    fn arbor_deadline(deadline: Instant) -> time::Instant {
        time::Instant::from_std(deadline)
    }

    /// Move the deadline (hyper's [`Timer::reset`]).
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        if let Some(registered) = this.registered
            && registered.thread == this_thread()
        {
            let at = Self::arbor_deadline(deadline);
            SLEEPS.with_borrow_mut(|sleeps| sleeps[registered.key].reset(at));
        } else if this.registered.is_some() {
            // Registered on another thread: start afresh on this one at
            // the next poll (the old entry stays, as for a drop there).
            this.registered = None;
        }
    }
}

impl Future for ArborSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let key = match this.registered {
            Some(registered) => {
                assert_eq!(
                    registered.thread,
                    this_thread(),
                    "arbor_hyper::ArborSleep polled on a thread other than its runtime's"
                );
                registered.key
            }
            None => {
                let sleep = time::sleep_until(Self::arbor_deadline(this.deadline));
                let key = SLEEPS.with_borrow_mut(|sleeps| sleeps.insert(sleep));
                this.registered = Some(Registered {
                    thread: this_thread(),
                    key,
                });
                key
            }
        };
        // Polling an arbor sleep touches only the runtime's timer wheel,
        // never `SLEEPS`, so the borrow cannot be re-entered.
        SLEEPS.with_borrow_mut(|sleeps| Pin::new(&mut sleeps[key]).poll(cx))
    }
}

impl Drop for ArborSleep {
    fn drop(&mut self) {
        if let Some(registered) = self.registered
            && registered.thread == this_thread()
        {
            // `try_with`: at thread exit the table may be gone already.
            let removed = SLEEPS
                .try_with(|sleeps| sleeps.try_borrow_mut().ok()?.try_remove(registered.key))
                .ok()
                .flatten();
            // The arbor sleep leaves the timer wheel here, outside the borrow.
            drop(removed);
        }
    }
}

impl Sleep for ArborSleep {}

impl fmt::Debug for ArborSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArborSleep")
            .field("deadline", &self.deadline)
            .field("polled", &self.registered.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_sleep_is_send_and_sync_without_unsafe() {
        assert_send_sync::<ArborSleep>();
    }

    #[test]
    fn an_unpolled_sleep_never_registers_and_a_dropped_one_leaves_the_table() {
        arbor_runtime::run(async {
            let unpolled = ArborTimer.sleep(Duration::from_secs(5));
            drop(unpolled);
            assert_eq!(SLEEPS.with_borrow(Slab::len), 0);
            let mut polled = ArborTimer.sleep(Duration::from_secs(5));
            assert!(
                futures_lite::future::poll_once(polled.as_mut())
                    .await
                    .is_none()
            );
            assert_eq!(SLEEPS.with_borrow(Slab::len), 1);
            assert_eq!(time::armed_timers(), 1);
            drop(polled);
            assert_eq!(SLEEPS.with_borrow(Slab::len), 0);
            assert_eq!(time::armed_timers(), 0);
        });
    }

    #[test]
    fn reset_moves_a_registered_sleep() {
        arbor_runtime::Runtime::builder()
            .virtual_clock()
            .build()
            .unwrap()
            .block_on(async {
                let t0 = time::now();
                let mut sleep = ArborTimer.sleep(Duration::from_secs(3600));
                assert!(
                    futures_lite::future::poll_once(sleep.as_mut())
                        .await
                        .is_none()
                );
                ArborTimer.reset(&mut sleep, Instant::now() + Duration::from_secs(2));
                sleep.await;
                let waited = time::now() - t0;
                assert!(waited < Duration::from_secs(3600), "{waited:?}");
            });
    }
}
