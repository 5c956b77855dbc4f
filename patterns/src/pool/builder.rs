//! [`PoolBuilder`], and the boxed hooks a pool stores.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use super::Pool;
use super::state::{Config, Shared};

type BoxFuture<'a, O> = Pin<Box<dyn Future<Output = O> + 'a>>;

/// The factory, behind a trait object so `Pool` has no parameter for it
/// (one allocation per connection opened, against a network round trip).
pub(super) trait Factory<T, E> {
    fn create(&self) -> BoxFuture<'_, Result<T, E>>;
}

pub(super) trait HealthCheck<T> {
    fn check<'a>(&'a self, conn: &'a mut T) -> BoxFuture<'a, bool>;
}

pub(super) trait CloseHook<T> {
    fn close(&self, conn: T) -> BoxFuture<'_, ()>;
}

/// Adapts an `AsyncFn` to the traits above.
struct Hook<F>(F);

impl<T, E, F: AsyncFn() -> Result<T, E>> Factory<T, E> for Hook<F> {
    fn create(&self) -> BoxFuture<'_, Result<T, E>> {
        Box::pin((self.0)())
    }
}

impl<T, F: AsyncFn(&mut T) -> bool> HealthCheck<T> for Hook<F> {
    fn check<'a>(&'a self, conn: &'a mut T) -> BoxFuture<'a, bool> {
        Box::pin((self.0)(conn))
    }
}

impl<T: 'static, F: AsyncFn(T)> CloseHook<T> for Hook<F> {
    fn close(&self, conn: T) -> BoxFuture<'_, ()> {
        Box::pin((self.0)(conn))
    }
}

/// What only the `Pool` (not its guards) needs: the user's functions.
pub(super) struct Hooks<T, E> {
    pub(super) factory: Box<dyn Factory<T, E>>,
    pub(super) health_check: Option<Box<dyn HealthCheck<T>>>,
    pub(super) on_close: Option<Box<dyn CloseHook<T>>>,
}

/// Configures a [`Pool`]; made by [`Pool::builder`].
///
/// ```
/// use std::time::Duration;
/// use arbor_patterns::Pool;
///
/// let pool = Pool::builder(async || Ok::<_, std::io::Error>(String::from("conn")))
///     .max_size(4)
///     .min_idle(1)
///     .idle_timeout(Duration::from_secs(60))
///     .max_lifetime(Duration::from_secs(1800))
///     .health_check(async |conn: &mut String| !conn.is_empty())
///     .on_close(async |conn: String| drop(conn))
///     .build();
/// assert_eq!(pool.statistics().max_size, 4);
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct PoolBuilder<T, E> {
    config: Config,
    hooks: Hooks<T, E>,
}

impl<T: 'static, E: 'static> PoolBuilder<T, E> {
    pub(super) fn new(factory: impl AsyncFn() -> Result<T, E> + 'static) -> Self {
        PoolBuilder {
            config: Config {
                max_size: PoolBuilder::<T, E>::DEFAULT_MAX_SIZE,
                min_idle: 0,
                idle_timeout: None,
                max_lifetime: None,
            },
            hooks: Hooks {
                factory: Box::new(Hook(factory)),
                health_check: None,
                on_close: None,
            },
        }
    }

    /// The default [`max_size`](PoolBuilder::max_size).
    pub const DEFAULT_MAX_SIZE: usize = 10;

    /// At most `n` connections open at once, counting those being opened;
    /// as many `get`s can hold a connection at once (default
    /// [`DEFAULT_MAX_SIZE`](PoolBuilder::DEFAULT_MAX_SIZE)).
    ///
    /// # Panics
    /// If `n` is 0 (no `get` could ever succeed).
    #[track_caller]
    pub fn max_size(mut self, n: usize) -> Self {
        assert!(n > 0, "Pool max_size must be at least 1");
        self.config.max_size = n;
        self
    }

    /// Keep at least `k` idle connections open, opened ahead of demand by
    /// [`Pool::maintain`] (default 0). Without a running `maintain` this
    /// has no effect: a pool spawns nothing on its own.
    pub fn min_idle(mut self, k: usize) -> Self {
        self.config.min_idle = k;
        self
    }

    /// Close a connection that stayed idle for `d` (default: never).
    /// Enforced lazily by `get` (an expired connection is closed, not
    /// handed out) and promptly by a running [`Pool::maintain`].
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config.idle_timeout = Some(d);
        self
    }

    /// Close a connection `d` after it was opened (default: never): an
    /// idle one as for [`idle_timeout`](PoolBuilder::idle_timeout), a
    /// checked-out one when its guard returns it.
    pub fn max_lifetime(mut self, d: Duration) -> Self {
        self.config.max_lifetime = Some(d);
        self
    }

    /// Check an idle connection before handing it out again; a connection
    /// that fails is closed (through the close hook) and the `get` tries
    /// the next idle one, or opens a new one (which is not checked).
    pub fn health_check(mut self, check: impl AsyncFn(&mut T) -> bool + 'static) -> Self {
        self.hooks.health_check = Some(Box::new(Hook(check)));
        self
    }

    /// Close connections through `hook` (e.g. a goodbye message) where
    /// the pool closes them in async code; see [`Pool`] for which paths
    /// those are. Without it connections are simply dropped.
    pub fn on_close(mut self, hook: impl AsyncFn(T) + 'static) -> Self {
        self.hooks.on_close = Some(Box::new(Hook(hook)));
        self
    }

    /// The pool. It opens no connection yet: the first `get` (or
    /// [`Pool::maintain`]) does.
    ///
    /// # Panics
    /// If `min_idle` exceeds `max_size` (it could never be met).
    #[track_caller]
    pub fn build(self) -> Pool<T, E> {
        assert!(
            self.config.min_idle <= self.config.max_size,
            "Pool min_idle ({}) must not exceed max_size ({})",
            self.config.min_idle,
            self.config.max_size
        );
        Pool {
            shared: Rc::new(Shared::new(self.config)),
            hooks: Rc::new(self.hooks),
        }
    }
}

impl<T, E> fmt::Debug for PoolBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", &self.config)
            .field("health_check", &self.hooks.health_check.is_some())
            .field("on_close", &self.hooks.on_close.is_some())
            .finish()
    }
}
