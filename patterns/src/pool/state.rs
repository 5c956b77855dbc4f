//! The pool's synchronous core: who holds which slot, the idle stack, the
//! FIFO queue of waiting gets, and the watchers (`close`, `maintain`)
//! woken on every change.
//!
//! All of it lives in one `RefCell` that is borrowed only by the short,
//! non-async functions below; user code (connections' `Drop`, wakers)
//! runs after the borrow ends.
//!
//! Slot accounting. `slots` counts slots held: by a `get` granted one
//! (from grant until its guard is dropped, including while it closes an
//! expired or unhealthy connection), and by `maintain` while its factory
//! or its close hook runs. A slot is taken only while `slots < max_size`,
//! so `slots <= max_size`. Until the pool is closed, every open connection
//! (being closed included) is either idle or held by a slot holder (one
//! at most each), and a slot holder opens a connection only when the idle
//! stack is empty (`get`) or when `idle + slots < max_size` (`maintain`,
//! counting its own slot), so open connections never exceed `max_size`.
//! After the close nothing is opened any more. A get that waits is queued only while all slots are taken,
//! and every release serves the queue, so a non-empty queue means
//! `slots == max_size`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbor_runtime::time::Instant;

/// A connection and its timestamps.
pub(super) struct Conn<T> {
    pub(super) value: T,
    /// When the factory returned it (for `max_lifetime`).
    pub(super) created: Instant,
    /// When it last became idle (for `idle_timeout`); `None` if it was
    /// returned outside any runtime, where there is no clock: then it
    /// counts as idle for too long. Also `None` in a pool without an idle
    /// timeout or a lifetime, which never reads the clock on a return.
    pub(super) since: Option<Instant>,
}

/// The limits fixed by the builder.
#[derive(Clone, Copy, Debug)]
pub(super) struct Config {
    pub(super) max_size: usize,
    pub(super) min_idle: usize,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) max_lifetime: Option<Duration>,
}

impl Config {
    /// When `conn` must be closed if it stays idle, `None` if never.
    pub(super) fn expiry(&self, conn: &Conn<impl Sized>) -> Option<Instant> {
        let lifetime = self.max_lifetime.map(|d| conn.created.saturating_add(d));
        let idle = self.idle_timeout.map(|d| match conn.since {
            Some(since) => since.saturating_add(d),
            None => conn.created,
        });
        match (lifetime, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether connections can expire at all: without a timeout or a
    /// lifetime, checkouts and returns never read the clock.
    pub(super) fn expires(&self) -> bool {
        self.idle_timeout.is_some() || self.max_lifetime.is_some()
    }

    pub(super) fn is_expired(&self, conn: &Conn<impl Sized>, now: Instant) -> bool {
        self.expiry(conn).is_some_and(|at| at <= now)
    }

    fn outlived(&self, conn: &Conn<impl Sized>, now: Instant) -> bool {
        self.max_lifetime
            .is_some_and(|d| conn.created.saturating_add(d) <= now)
    }
}

/// What a queued `get` was granted.
pub(super) enum Grant<T> {
    /// A slot, with the idle connection on top of the stack if there was one.
    Slot(Option<Conn<T>>),
    /// The pool was closed while it waited.
    Closed,
}

/// What becomes of the connection a slot holder gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// An idle connection the holder did not touch (or one `maintain` just
    /// opened): back on the idle stack with its timestamps.
    Restore,
    /// A connection coming back from a guard: stamped idle now, closed if
    /// it outlived `max_lifetime`.
    Return,
    /// Dropped: discarded, or its state is unknown (a health check was cut
    /// short).
    Drop,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) created: u64,
    pub(super) closed: u64,
    pub(super) timed_out: u64,
}

pub(super) struct State<T> {
    /// Idle connections, the most recently returned last (LIFO reuse).
    pub(super) idle: Vec<Conn<T>>,
    /// Slots held (see the module docs).
    pub(super) slots: usize,
    /// Guards alive.
    pub(super) in_use: usize,
    /// Gets waiting for a slot, in ticket order (tickets only grow): the
    /// front is the longest waiter. A deque, not a map: serving pops the
    /// front, and only a get dropped while queued searches it.
    queue: VecDeque<(u64, Waker)>,
    /// Gets granted while queued, until they take their grant or drop: at
    /// most one per slot, so a short list searched linearly.
    granted: Vec<(u64, Grant<T>)>,
    next_ticket: u64,
    /// Futures waiting for any change (`close`, `maintain`); notifying
    /// removes them, which is how they learn they were notified.
    watchers: BTreeMap<u64, Waker>,
    pub(super) closed: bool,
    /// `close` calls running: while there are any, connections that come
    /// back after the close wait in `closing` for them to run the hook.
    pub(super) closers: usize,
    pub(super) closing: Vec<T>,
    pub(super) counters: Counters,
}

/// What the pool shares with its guards: the state and the limits (the
/// factory and hooks, which know the error type, stay in the `Pool`).
pub(super) struct Shared<T> {
    pub(super) state: RefCell<State<T>>,
    pub(super) config: Config,
}

/// The clock, if this code runs inside a runtime (a guard may be dropped
/// outside one).
pub(super) fn clock() -> Option<Instant> {
    arbor_runtime::current_runtime_id().map(|_| arbor_runtime::time::now())
}

impl<T> Shared<T> {
    pub(super) fn new(config: Config) -> Self {
        Shared {
            state: RefCell::new(State {
                idle: Vec::new(),
                slots: 0,
                in_use: 0,
                queue: VecDeque::new(),
                granted: Vec::new(),
                next_ticket: 0,
                watchers: BTreeMap::new(),
                closed: false,
                closers: 0,
                closing: Vec::new(),
                counters: Counters::default(),
            }),
            config,
        }
    }

    /// Take a slot at once if one is free and nobody waits, with the
    /// idle connection on top of the stack. `None`: queue instead.
    pub(super) fn try_take(&self) -> Option<Option<Conn<T>>> {
        let (conn, wake) = {
            let mut st = self.state.borrow_mut();
            if !st.queue.is_empty() || st.slots >= self.config.max_size {
                return None;
            }
            st.slots += 1;
            let conn = st.idle.pop();
            let mut wake = Wakes::default();
            st.take_watchers(&mut wake);
            (conn, wake)
        };
        wake.wake();
        Some(conn)
    }

    /// Queue a get; it is granted through [`poll_grant`](Self::poll_grant).
    pub(super) fn enqueue(&self, waker: &Waker) -> u64 {
        let mut st = self.state.borrow_mut();
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.queue.push_back((ticket, waker.clone()));
        ticket
    }

    /// The grant of a queued get, or `None` (its waker refreshed).
    pub(super) fn poll_grant(&self, ticket: u64, waker: &Waker) -> Option<Grant<T>> {
        let mut st = self.state.borrow_mut();
        if let Some(grant) = st.take_grant(ticket) {
            return Some(grant);
        }
        if let Some(i) = st.queued_at(ticket) {
            let w = &mut st.queue[i].1;
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
        }
        None
    }

    /// A queued get was dropped: leave the queue, or give back what it was
    /// granted (nothing is lost).
    pub(super) fn withdraw(&self, ticket: u64) {
        let grant = {
            let mut st = self.state.borrow_mut();
            if let Some(i) = st.queued_at(ticket) {
                st.queue.remove(i);
                // Every get asks for one slot: leaving the queue cannot
                // unblock those behind.
                return;
            }
            st.take_grant(ticket)
        };
        if let Some(Grant::Slot(conn)) = grant {
            self.release(conn, Fate::Restore, false);
        }
    }

    /// Pop an idle connection for a slot holder that has none.
    pub(super) fn pop_idle(&self) -> Option<Conn<T>> {
        let (conn, wake) = {
            let mut st = self.state.borrow_mut();
            let conn = st.idle.pop();
            let mut wake = Wakes::default();
            st.take_watchers(&mut wake);
            (conn, wake)
        };
        wake.wake();
        conn
    }

    /// Free a slot, and decide the fate of the connection its holder had:
    /// back to the idle stack, to the closers, or dropped. Then serve the
    /// queue (the connection just returned goes straight to the longest
    /// waiter) and wake the watchers.
    pub(super) fn release(&self, conn: Option<Conn<T>>, fate: Fate, in_use: bool) {
        let now = if fate == Fate::Return && self.config.expires() {
            clock()
        } else {
            None
        };
        let (dropped, wake) = {
            let mut st = self.state.borrow_mut();
            st.slots -= 1;
            if in_use {
                st.in_use -= 1;
            }
            let mut dropped = None;
            if let Some(mut conn) = conn {
                match fate {
                    Fate::Drop => {
                        st.counters.closed += 1;
                        dropped = Some(conn.value);
                    }
                    _ if st.closed => dropped = st.hand_to_closers(conn.value),
                    Fate::Return if now.is_some_and(|now| self.config.outlived(&conn, now)) => {
                        st.counters.closed += 1;
                        st.counters.timed_out += 1;
                        dropped = Some(conn.value);
                    }
                    Fate::Return => {
                        conn.since = now;
                        st.idle.push(conn);
                    }
                    Fate::Restore => st.idle.push(conn),
                }
            }
            let mut wake = Wakes::default();
            st.serve(self.config.max_size, &mut wake);
            st.take_watchers(&mut wake);
            (dropped, wake)
        };
        // The connection's `Drop` and the wakers run with no borrow held.
        drop(dropped);
        wake.wake();
    }

    /// Take a slot for `maintain` to open a connection into the idle
    /// stack, if it is below `min_idle` and there is room.
    pub(super) fn reserve_top_up(&self) -> bool {
        let mut st = self.state.borrow_mut();
        // Counting its own slot: every open connection is idle or held
        // by a slot holder.
        let room = st.idle.len() + st.slots < self.config.max_size;
        if st.closed || !room || st.idle.len() >= self.config.min_idle {
            return false;
        }
        st.slots += 1;
        true
    }

    /// For `maintain`: take an expired idle connection (counted as closed
    /// and timed out) with a slot to close it under, so that it counts
    /// against `max_size` until its close hook is done. Otherwise (none
    /// expired, or no slot free) tell when the next one expires.
    pub(super) fn reap(&self, now: Instant) -> Result<T, Option<Instant>> {
        let mut st = self.state.borrow_mut();
        let mut next: Option<Instant> = None;
        let mut expired = None;
        for (i, conn) in st.idle.iter().enumerate() {
            match self.config.expiry(conn) {
                Some(at) if at <= now => {
                    expired = Some(i);
                    break;
                }
                Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
                None => {}
            }
        }
        match expired {
            // With every slot taken, a slot freed is a change that wakes
            // `maintain` to try again.
            Some(i) if st.slots < self.config.max_size => {
                st.slots += 1;
                st.counters.closed += 1;
                st.counters.timed_out += 1;
                Ok(st.idle.remove(i).value)
            }
            Some(_) => Err(None),
            None => Err(next),
        }
    }

    /// Close the pool: refuse the queued gets, and take the idle
    /// connections (counted as closed) for the caller to close.
    pub(super) fn close(&self) -> Vec<T> {
        let (idle, wake) = {
            let mut st = self.state.borrow_mut();
            st.closed = true;
            let mut wake = Wakes::default();
            while let Some((ticket, waker)) = st.queue.pop_front() {
                st.granted.push((ticket, Grant::Closed));
                wake.push(waker);
            }
            let idle: Vec<T> = std::mem::take(&mut st.idle)
                .into_iter()
                .map(|c| c.value)
                .collect();
            st.counters.closed += idle.len() as u64;
            st.take_watchers(&mut wake);
            (idle, wake)
        };
        wake.wake();
        idle
    }

    /// Register a watcher, woken (and removed) at the next change.
    pub(super) fn watch(&self, waker: &Waker) -> u64 {
        let mut st = self.state.borrow_mut();
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.watchers.insert(ticket, waker.clone());
        ticket
    }
}

impl<T> State<T> {
    /// Grant free slots to the longest waiters, each with the idle
    /// connection on top of the stack.
    fn serve(&mut self, max_size: usize, wake: &mut Wakes) {
        while self.slots < max_size {
            let Some((ticket, waker)) = self.queue.pop_front() else {
                break;
            };
            self.slots += 1;
            let conn = self.idle.pop();
            self.granted.push((ticket, Grant::Slot(conn)));
            wake.push(waker);
        }
    }

    /// Where a still-queued get is in the queue.
    fn queued_at(&self, ticket: u64) -> Option<usize> {
        self.queue.binary_search_by_key(&ticket, |(t, _)| *t).ok()
    }

    fn take_grant(&mut self, ticket: u64) -> Option<Grant<T>> {
        let i = self.granted.iter().position(|(t, _)| *t == ticket)?;
        Some(self.granted.swap_remove(i).1)
    }

    /// A connection that came back after `close`: kept for a running
    /// `close` to pass through the hook, else dropped (returned).
    fn hand_to_closers(&mut self, value: T) -> Option<T> {
        self.counters.closed += 1;
        if self.closers > 0 {
            self.closing.push(value);
            None
        } else {
            Some(value)
        }
    }

    fn take_watchers(&mut self, wake: &mut Wakes) {
        if !self.watchers.is_empty() {
            wake.more
                .extend(std::mem::take(&mut self.watchers).into_values());
        }
    }

    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }
}

/// Wakers to wake once the state's borrow is released. The common case,
/// one waiter served by a return, allocates nothing.
#[derive(Default)]
pub(super) struct Wakes {
    one: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakes {
    fn push(&mut self, waker: Waker) {
        match self.one {
            None => self.one = Some(waker),
            Some(_) => self.more.push(waker),
        }
    }

    #[inline]
    fn wake(self) {
        // Usually nothing or one: no iterator machinery for those.
        if let Some(waker) = self.one {
            waker.wake();
        }
        if !self.more.is_empty() {
            self.more.into_iter().for_each(Waker::wake);
        }
    }
}

/// Wait for the next change of the pool's state (a slot taken or freed,
/// a connection returned, the pool closed). Callers check their
/// condition, then await this in the same poll, so no change is missed.
/// A cancel point: inside a cancelled scope it never completes.
pub(super) struct Changed<'a, T> {
    shared: &'a Shared<T>,
    ticket: Option<u64>,
}

impl<'a, T> Changed<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        Changed {
            shared,
            ticket: None,
        }
    }
}

impl<T> Future for Changed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if arbor_runtime::scope::current_is_cancelled() {
            return Poll::Pending;
        }
        match self.ticket {
            None => {
                self.ticket = Some(self.shared.watch(cx.waker()));
                Poll::Pending
            }
            Some(ticket) => {
                let mut st = self.shared.state.borrow_mut();
                match st.watchers.get_mut(&ticket) {
                    // Notifying removed it.
                    None => {
                        drop(st);
                        self.ticket = None;
                        Poll::Ready(())
                    }
                    Some(w) => {
                        if !w.will_wake(cx.waker()) {
                            *w = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            self.shared.state.borrow_mut().watchers.remove(&ticket);
        }
    }
}
