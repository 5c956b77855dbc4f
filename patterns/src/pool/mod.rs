//! [`Pool`]: a bounded pool of reusable connections (or any costly
//! resource), with FIFO waiting, LIFO reuse, expiry, health checks and an
//! orderly close.
//!
//! The specification is on [`Pool`]'s own page (the module is private).

mod builder;
mod error;
mod guard;
mod slot;
mod state;

use std::fmt;
use std::rc::Rc;

use arbor_runtime::time;

pub use builder::PoolBuilder;
pub use error::PoolError;
pub use guard::PoolGuard;

use builder::Hooks;
use slot::{AcquireSlot, Slot};
use state::{Changed, Conn, Fate, Shared};

/// A pool of at most `max_size` connections of type `T`, opened by an
/// async factory that fails with `E`.
///
/// Single-threaded: clone it (an `Rc` inside) to share it between tasks.
///
/// ```
/// use std::time::Duration;
/// use arbor_patterns::Pool;
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let opened = std::rc::Rc::new(std::cell::Cell::new(0));
///     let count = opened.clone();
///     let pool = Pool::builder(async move || {
///         count.set(count.get() + 1);
///         Ok::<_, std::io::Error>(format!("conn {}", count.get()))
///     })
///     .max_size(2)
///     .build();
///
///     let a = pool.get().await.unwrap();
///     let b = pool.get().await.unwrap();
///     assert_eq!((a.as_str(), b.as_str()), ("conn 1", "conn 2"));
///     drop(b);
///     // The most recently returned idle connection is reused.
///     assert_eq!(pool.get().await.unwrap().as_str(), "conn 2");
///     assert_eq!(opened.get(), 2);
///     drop(a);
///     pool.close().await;
///     assert!(pool.get().await.is_err());
/// });
/// ```
///
/// # Slots
///
/// A pool has `max_size` *slots*. A [`get`](Pool::get) takes one (waiting
/// in FIFO order if none is free) and holds it until its [`PoolGuard`] is
/// dropped or discarded, including while the factory opens a connection
/// for it. So at most `max_size` connections are checked out or being
/// opened at once, and, since a connection is only opened when no idle
/// one is left (or, by [`maintain`](Pool::maintain), when there is room),
/// at most `max_size` are open at all, counting connections whose close
/// hook is still running (their closer holds a slot meanwhile). (The
/// Python plan this comes from
/// released its limiter as soon as a connection was handed out, which
/// bounds nothing.)
///
/// A slot comes with the most recently returned idle connection, if any
/// (LIFO: warm connections stay warm, cold ones age out); a connection
/// returned while gets wait goes straight to the longest waiter. Before
/// handing out an idle connection, `get` closes it instead if it is past
/// `idle_timeout` or `max_lifetime`, or if the health check says no, and
/// tries the next one; with none left it opens one through the factory.
///
/// ```text
///            get: slot taken         factory Ok / idle conn passes
///  (waiting) ─────────────────▶ (pending) ─────────────────────────▶ (in use: PoolGuard)
///      │ dropped: leaves queue      │ dropped, factory Err: slot freed,   │ drop: back to idle (or closed)
///      ▼                            ▼ conn back to idle / closed          ▼ discard: dropped
/// ```
///
/// # Closing connections
///
/// The [`on_close`](PoolBuilder::on_close) hook is async, so it runs where
/// the pool has async code running: in `get` (an expired or unhealthy
/// idle connection), in `maintain` (expired idle connections), and in
/// [`close`](Pool::close) (the idle connections, and every connection
/// returned while `close` runs). Where a connection leaves in synchronous
/// code it is dropped without the hook: a guard [discarded](PoolGuard::discard),
/// a guard returning a connection past `max_lifetime`, a connection
/// returned after a `close` call was cancelled, idle connections left when
/// the last handle to the pool goes away, and a connection whose health
/// check was cut short by cancellation (its state is unknown).
///
/// # Background work, structured
///
/// A pool spawns nothing. `min_idle` and prompt expiry need a task that
/// runs on its own: that task is [`Pool::maintain`], a future the caller
/// runs as a child of a nursery it owns, so it lives exactly as long as
/// that nursery, is cancelled with it, and its errors (a factory failure
/// while topping up) reach the nursery instead of a log. It returns `Ok`
/// once the pool is closed, so `pool.close().await` at the end of the
/// nursery body lets the nursery finish. Without it, expiry is enforced
/// lazily by `get` and `min_idle` has no effect.
///
/// # Cancellation
///
/// Every async operation is a checkpoint (a cancel point, and a schedule
/// point when `get` did not have to wait). A `get` dropped at any point
/// loses nothing: while queued it leaves the queue; once granted (even if
/// it never ran again) or while the factory or health check runs, its slot
/// is freed, an idle connection it had not started checking goes back to
/// the idle stack, one whose check was interrupted is dropped, and the
/// factory's future is dropped with whatever it had opened.
pub struct Pool<T, E> {
    shared: Rc<Shared<T>>,
    hooks: Rc<Hooks<T, E>>,
}

/// A pool's counters ([`Pool::statistics`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatistics {
    /// The most connections open at once.
    pub max_size: usize,
    /// Connections open: `created - closed` (idle, in use, or held by a
    /// `get` checking them).
    pub size: usize,
    /// Idle connections.
    pub idle: usize,
    /// Connections checked out (guards alive).
    pub in_use: usize,
    /// Slots held by a `get` or `maintain` that has no guard yet (opening
    /// or checking a connection, or granted and not yet run).
    pub pending: usize,
    /// `get`s waiting for a slot.
    pub waiting: usize,
    /// Connections the factory opened, ever.
    pub created: u64,
    /// Connections closed (or being closed by the hook), ever, for any
    /// reason.
    pub closed: u64,
    /// Of those, connections closed for outliving `idle_timeout` or
    /// `max_lifetime`.
    pub timed_out: u64,
}

impl<T: 'static, E: 'static> Pool<T, E> {
    /// Start configuring a pool whose connections `factory` opens.
    ///
    /// ```
    /// use arbor_patterns::Pool;
    ///
    /// let pool = Pool::builder(async || Ok::<u32, std::io::Error>(7)).max_size(1).build();
    /// arbor_runtime::run(async move {
    ///     assert_eq!(*pool.get().await.unwrap(), 7);
    /// });
    /// ```
    pub fn builder(factory: impl AsyncFn() -> Result<T, E> + 'static) -> PoolBuilder<T, E> {
        PoolBuilder::new(factory)
    }
}

impl<T, E> Pool<T, E> {
    /// Check out a connection: wait (FIFO) for a slot, then reuse the most
    /// recently returned idle connection that is neither expired nor
    /// unhealthy, or else open one through the factory. The guard returns
    /// it when dropped.
    ///
    /// For a bounded wait, wrap it: `fail_after(d, pool.get())`.
    ///
    /// ```
    /// use arbor_patterns::{Pool, PoolError};
    ///
    /// arbor_runtime::run(async {
    ///     let pool = Pool::builder(async || Err::<(), _>("no route to host")).build();
    ///     // The factory's error goes to the caller, and the slot is freed.
    ///     assert_eq!(pool.get().await.unwrap_err(), PoolError::Factory("no route to host"));
    ///     assert_eq!(pool.statistics().pending, 0);
    /// });
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Closed`] if the pool is or gets closed before a
    /// connection is handed out; [`PoolError::Factory`] with the factory's
    /// error (its slot is freed; the next waiter tries).
    ///
    /// # Cancel safety
    /// A checkpoint: inside a cancelled scope it makes no progress. Dropped
    /// while waiting, it leaves the queue; dropped after it was granted a
    /// slot (before it ran again, or while the factory or the health check
    /// runs), it frees the slot for the next waiter, puts an unchecked
    /// idle connection back, drops one whose check it interrupted, and
    /// drops the factory's future. No slot or connection is lost.
    pub async fn get(&self) -> Result<PoolGuard<T>, PoolError<E>> {
        let mut slot = AcquireSlot::new(self.shared.clone())
            .await
            .map_err(|_| PoolError::Closed)?;
        while let Some(conn) = slot.conn.take().or_else(|| self.shared.pop_idle()) {
            if self.is_closed() {
                // The slot's drop hands the connection to `close`.
                slot.conn = Some(conn);
                return Err(PoolError::Closed);
            }
            if self.shared.config.expires() && self.shared.config.is_expired(&conn, time::now()) {
                self.count_closed(true);
                self.close_conn(conn.value).await;
                continue;
            }
            slot.conn = Some(conn);
            if let (Some(check), Some(conn)) = (&self.hooks.health_check, &mut slot.conn) {
                // Interrupted, the check leaves the connection in an
                // unknown state: the slot's drop then drops it.
                slot.fate = Fate::Drop;
                let healthy = check.check(&mut conn.value).await;
                slot.fate = Fate::Restore;
                if !healthy {
                    let conn = slot.conn.take().expect("checked just now");
                    self.count_closed(false);
                    self.close_conn(conn.value).await;
                    continue;
                }
            }
            return self.hand_out(slot);
        }
        if self.is_closed() {
            // Granted before the close, polled after it: open nothing.
            return Err(PoolError::Closed);
        }
        slot.conn = Some(self.open().await?);
        self.hand_out(slot)
    }

    /// Open a connection through the factory, counted as created and
    /// stamped now. The caller holds the slot it counts against.
    async fn open(&self) -> Result<Conn<T>, PoolError<E>> {
        let value = self
            .hooks
            .factory
            .create()
            .await
            .map_err(PoolError::Factory)?;
        self.shared.state.borrow_mut().counters.created += 1;
        let now = time::now();
        Ok(Conn {
            value,
            created: now,
            since: Some(now),
        })
    }

    /// The slot holds a connection ready to go: make it a guard, unless
    /// the pool was closed meanwhile.
    fn hand_out(&self, slot: Slot<T>) -> Result<PoolGuard<T>, PoolError<E>> {
        if self.is_closed() {
            // Dropping the slot hands the connection to `close`.
            return Err(PoolError::Closed);
        }
        Ok(PoolGuard::new(slot))
    }

    fn count_closed(&self, timed_out: bool) {
        let counters = &mut self.shared.state.borrow_mut().counters;
        counters.closed += 1;
        counters.timed_out += u64::from(timed_out);
    }

    async fn close_conn(&self, value: T) {
        match &self.hooks.on_close {
            Some(hook) => hook.close(value).await,
            None => drop(value),
        }
    }

    /// Close the pool: refuse new `get`s (and wake the waiting ones with
    /// [`PoolError::Closed`]), close the idle connections through the
    /// close hook, then wait until every checked-out connection has come
    /// back and close each as it does. Returns when no slot is held any
    /// more (no connection checked out or being opened) and every
    /// connection it took has been closed. Calling it again (or from
    /// several tasks) waits the same way; a closed pool stays closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor_patterns::{Pool, PoolError};
    ///
    /// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
    /// rt.block_on(async {
    ///     let pool = Pool::builder(async || Ok::<u8, ()>(1))
    ///         .on_close(async |_conn: u8| { /* say goodbye */ })
    ///         .build();
    ///     let guard = pool.get().await.unwrap();
    ///     let user = arbor_runtime::spawn(async move {
    ///         arbor_runtime::time::sleep(Duration::from_secs(5)).await;
    ///         drop(guard);
    ///     });
    ///     let t0 = arbor_runtime::time::now();
    ///     pool.close().await; // waits for the guard
    ///     assert_eq!(arbor_runtime::time::now() - t0, Duration::from_secs(5));
    ///     assert_eq!(pool.get().await.unwrap_err(), PoolError::Closed);
    ///     user.await.unwrap();
    /// });
    /// ```
    ///
    /// # Cancel safety
    /// A checkpoint: cancelled on entry, it does nothing. Once past that
    /// the pool is closed for good; if it is dropped later, the
    /// connections it had not closed yet are dropped without the hook,
    /// and so are those returned afterwards (unless another `close` runs).
    pub async fn close(&self) {
        arbor_runtime::scope::entry_checkpoint().await;
        let idle = self.shared.close();
        // No suspension since `close()`: every connection returned from
        // now on reaches this closer (or another).
        let _closer = Closer::new(&self.shared);
        for value in idle {
            self.close_conn(value).await;
        }
        loop {
            let (batch, done) = {
                let mut st = self.shared.state.borrow_mut();
                (std::mem::take(&mut st.closing), st.slots == 0)
            };
            if batch.is_empty() {
                if done {
                    return;
                }
                Changed::new(&self.shared).await;
            }
            for value in batch {
                self.close_conn(value).await;
            }
        }
    }

    /// The pool's background work, run by the caller as a nursery child:
    /// keeps at least `min_idle` idle connections open (within
    /// `max_size`), and closes idle connections through the close hook as
    /// soon as they pass `idle_timeout` or `max_lifetime` (on the runtime's
    /// clock, virtual or real). It sleeps until the next expiry or the next
    /// change of the pool, and returns `Ok(())` once the pool is closed.
    ///
    /// A pool never runs this on its own (see the [module
    /// docs](Pool#background-work-structured)): without it, expiry is
    /// enforced lazily by `get` and `min_idle` does nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor_nursery::nursery;
    /// use arbor_patterns::Pool;
    ///
    /// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
    /// rt.block_on(async {
    ///     let pool = Pool::builder(async || Ok::<u8, std::io::Error>(0)).min_idle(2).build();
    ///     let maintained = pool.clone();
    ///     nursery(async |n| {
    ///         n.spawn(async move { maintained.maintain().await });
    ///         arbor_runtime::time::sleep(Duration::from_secs(1)).await;
    ///         assert_eq!(pool.statistics().idle, 2); // opened ahead of demand
    ///         pool.close().await; // maintain returns, the nursery ends
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Factory`] if the factory fails while topping up: the
    /// error ends `maintain` (and so fails its nursery, if not caught);
    /// wrap it in a loop with a delay to keep maintaining through outages.
    ///
    /// # Cancel safety
    /// A checkpoint on entry. Dropped while it opens a connection, the
    /// factory's future is dropped and the slot freed; while it closes
    /// an expired one, that connection is dropped. Nothing else is held
    /// across its suspensions.
    pub async fn maintain(&self) -> Result<(), PoolError<E>> {
        arbor_runtime::scope::entry_checkpoint().await;
        loop {
            if self.is_closed() {
                return Ok(());
            }
            let next_expiry = match self.shared.reap(time::now()) {
                Ok(value) => {
                    let _slot = Slot::new(self.shared.clone(), None);
                    self.close_conn(value).await;
                    continue;
                }
                Err(next_expiry) => next_expiry,
            };
            if self.shared.reserve_top_up() {
                let mut slot = Slot::new(self.shared.clone(), None);
                slot.conn = Some(self.open().await?);
                // Onto the idle stack (or to `close`, if closed meanwhile).
                drop(slot);
                continue;
            }
            let changed = Changed::new(&self.shared);
            match next_expiry {
                Some(at) => drop(arbor_nursery::move_on_at(at, changed).await),
                None => changed.await,
            }
        }
    }

    /// Whether [`close`](Pool::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().closed
    }

    /// The pool's counters now.
    ///
    /// ```
    /// use arbor_patterns::Pool;
    ///
    /// arbor_runtime::run(async {
    ///     let pool = Pool::builder(async || Ok::<u8, ()>(0)).max_size(3).build();
    ///     let _a = pool.get().await.unwrap();
    ///     drop(pool.get().await.unwrap());
    ///     let stats = pool.statistics();
    ///     assert_eq!((stats.size, stats.idle, stats.in_use, stats.created), (2, 1, 1, 2));
    /// });
    /// ```
    pub fn statistics(&self) -> PoolStatistics {
        let st = self.shared.state.borrow();
        PoolStatistics {
            max_size: self.shared.config.max_size,
            size: (st.counters.created - st.counters.closed) as usize,
            idle: st.idle.len(),
            in_use: st.in_use,
            pending: st.slots - st.in_use,
            waiting: st.queued(),
            created: st.counters.created,
            closed: st.counters.closed,
            timed_out: st.counters.timed_out,
        }
    }
}

impl<T, E> Clone for Pool<T, E> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Pool<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pool").field(&self.statistics()).finish()
    }
}

/// Counts a running `close`; the last one to go drops what is still
/// waiting to be closed (nobody is left to run the hook).
struct Closer<'a, T> {
    shared: &'a Shared<T>,
}

impl<'a, T> Closer<'a, T> {
    fn new(shared: &'a Shared<T>) -> Self {
        shared.state.borrow_mut().closers += 1;
        Closer { shared }
    }
}

impl<T> Drop for Closer<'_, T> {
    fn drop(&mut self) {
        let orphans = {
            let mut st = self.shared.state.borrow_mut();
            st.closers -= 1;
            if st.closers == 0 {
                std::mem::take(&mut st.closing)
            } else {
                Vec::new()
            }
        };
        drop(orphans);
    }
}
