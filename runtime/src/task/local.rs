//! Task-local values: [`task_local!`](crate::task_local), [`LocalKey`].
//!
//! # Model
//!
//! The values visible to code are one immutable, reference-counted map,
//! a *context* (`Ctx`): a small vec of (key address, value) pairs. The map
//! the code being polled sees is in the thread-local `CURRENT`; `None` is
//! the empty map. Nothing ever mutates a map: [`LocalKey::scope`] and
//! [`LocalKey::sync_scope`] build a new one from the current one with
//! their value added (or replaced), so a snapshot is an `Rc` clone.
//!
//! A `WithCtx` owns a context and installs it around each poll of its
//! future and around its future's drop (swapping it with what was current,
//! swapping back after, also on unwind). It is what the executor spawns
//! instead of the bare future for a task spawned while some value is set,
//! and the inside of the [`TaskLocalFuture`] that `scope` returns, whose
//! context is the one current where it is polled with its value added
//! (built at the first poll, rebuilt only if that enclosing context
//! changes). Deriving at the poll, not at the `scope` call, makes
//! `A.scope(1, B.scope(2, fut))` see both values, although the inner
//! `scope` is called first.
//!
//! # Who installs what
//!
//! While a runtime drives its tasks the current context is empty, and every
//! installer restores what it replaced, so a task spawned with no value set
//! (spawned bare, not wrapped) is polled and dropped with the empty
//! context at no cost per poll:
//!
//! - `Runtime::block_on` takes the caller's context out of `CURRENT` for
//!   its whole run and gives it to the root future alone (trio's
//!   `trio.run` runs the main task in the caller's contextvars);
//! - the executor runs a task nested in another poll (`spawn_now`, a drop
//!   of an aborted task) with the empty context (`Core::as_task`).
//!
//! # Inheritance
//!
//! `Core::spawn` and `Core::spawn_now` check `ANY` (one thread-local load):
//! with no value set the future is spawned as it is; otherwise, out of
//! line, it is wrapped in a `WithCtx` holding a snapshot of `CURRENT` (an
//! `Rc` clone). So a task costs nothing more, in bytes or per poll, unless
//! it inherited a value; one that did carries one pointer in its future.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// An immutable set of task-local values (see the module doc).
pub(crate) struct Ctx {
    entries: Vec<Entry>,
}

struct Entry {
    /// The address of the `LocalKey` static: its identity.
    key: *const (),
    value: Rc<dyn Any>,
}

type CtxRef = Option<Rc<Ctx>>;

thread_local! {
    static CURRENT: Cell<CtxRef> = const { Cell::new(None) };
    /// `CURRENT.is_some()`, in a thread-local without a destructor: the
    /// one load a spawn pays when no task-local is set.
    static ANY: Cell<bool> = const { Cell::new(false) };
}

/// Replace the current context, returning the one it replaced. `None`
/// back when the thread's locals are being destroyed (nothing to restore
/// then either).
fn replace(ctx: CtxRef) -> CtxRef {
    ANY.set(ctx.is_some());
    CURRENT.try_with(|c| c.replace(ctx)).unwrap_or(None)
}

/// Whether some task-local value is visible here: if not, a task spawned
/// now inherits nothing.
#[inline]
pub(crate) fn any_set() -> bool {
    ANY.get()
}

/// A clone of the current context: what a task spawned now inherits.
pub(crate) fn snapshot() -> CtxRef {
    CURRENT
        .try_with(|c| {
            let ctx = c.take();
            let copy = ctx.clone();
            c.set(ctx);
            copy
        })
        .unwrap_or(None)
}

/// Makes the current context empty until dropped, then restores it.
pub(crate) struct Cleared(CtxRef);

/// Empty the current context for the life of the guard (see the module
/// doc: the executor's loop and nested task polls run with it empty).
#[inline]
pub(crate) fn clear() -> Cleared {
    Cleared(replace(None))
}

impl Cleared {
    /// The context that was current before (for `block_on`'s root).
    pub(crate) fn outer(&self) -> CtxRef {
        self.0.clone()
    }
}

impl Drop for Cleared {
    fn drop(&mut self) {
        drop(replace(self.0.take()));
    }
}

impl Ctx {
    fn get(&self, key: *const ()) -> Option<&Rc<dyn Any>> {
        self.entries
            .iter()
            .find(|e| std::ptr::eq(e.key, key))
            .map(|e| &e.value)
    }

    /// `base` with `key` set to `value`.
    fn with_value(base: Option<&Ctx>, key: *const (), value: Rc<dyn Any>) -> Ctx {
        let mut entries = Vec::with_capacity(base.map_or(0, |b| b.entries.len()) + 1);
        if let Some(base) = base {
            entries.extend(
                base.entries
                    .iter()
                    .filter(|e| !std::ptr::eq(e.key, key))
                    .map(|e| Entry {
                        key: e.key,
                        value: e.value.clone(),
                    }),
            );
        }
        entries.push(Entry { key, value });
        Ctx { entries }
    }
}

/// A key for a task-local value of type `T`, declared with
/// [`task_local!`](crate::task_local).
///
/// A value is set for a region of code with [`scope`](LocalKey::scope)
/// (async) or [`sync_scope`](LocalKey::sync_scope), and read with
/// [`with`](LocalKey::with), [`try_with`](LocalKey::try_with) or
/// [`get`](LocalKey::get). Unlike tokio's task-locals, arbor's are
/// **inherited**: a task spawned (by [`spawn`](crate::spawn),
/// [`spawn_named`](crate::spawn_named), a nursery's `spawn` or `start`, a
/// `ChildSet`, [`Runtime::spawn`](crate::Runtime::spawn), or
/// [`scope::spawn_in`](crate::scope::spawn_in)) starts with a snapshot of
/// every value visible at the spawn call, as a trio task starts with a
/// copy of its spawner's contextvars. Values are never mutated, only
/// shadowed by an inner `scope`, so later scopes in the parent do not reach
/// the child and the child's do not reach the parent.
/// [`Handle::spawn`](crate::Handle::spawn) is the exception: its future is
/// made later, at the root of the runtime's loop, and starts with no
/// values (like trio's `TrioToken.run_sync_soon`), also when called from
/// the runtime's own thread.
///
/// `T` need not be `Send` or `Clone` (children share the parent's value
/// through an `Rc`); a value is dropped when the last scope and task
/// holding it are gone.
pub struct LocalKey<T: 'static> {
    name: &'static str,
    // `fn() -> T`: the key holds no `T`, and stays `Sync` for a `static`.
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    /// Used by `task_local!`. The key is non-zero-sized, so distinct
    /// statics have distinct addresses: the address is its identity.
    pub const fn __new(name: &'static str) -> Self {
        LocalKey {
            name,
            _value: PhantomData,
        }
    }

    fn addr(&'static self) -> *const () {
        (self as *const Self).cast()
    }

    /// Derive the map with this key set, from the current one.
    fn derive(&'static self, value: T) -> Rc<Ctx> {
        let base = snapshot();
        Rc::new(Ctx::with_value(
            base.as_deref(),
            self.addr(),
            Rc::new(value),
        ))
    }

    /// Run `future` with this key set to `value`: around each poll of
    /// `future` (and its drop) the value is visible, on top of the values
    /// visible where the returned future is polled; after each poll what was visible
    /// before is restored, also if the poll panics. Tasks spawned inside
    /// inherit the value.
    ///
    /// ```
    /// arbor_runtime::task_local! {
    ///     static REQUEST_ID: u64;
    /// }
    ///
    /// arbor_runtime::run(async {
    ///     REQUEST_ID
    ///         .scope(7, async {
    ///             assert_eq!(REQUEST_ID.get(), 7);
    ///             // A child spawned here starts with a snapshot.
    ///             let child = arbor_runtime::spawn(async { REQUEST_ID.get() });
    ///             assert_eq!(child.await.unwrap(), 7);
    ///         })
    ///         .await;
    ///     assert!(REQUEST_ID.try_with(|_| ()).is_err());
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops `future`, with the scope's values
    /// still visible to its destructor; it is as cancel-safe as `future`.
    /// The scope itself holds no state beyond the values.
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<F> {
        TaskLocalFuture {
            inner: WithCtx::new(None, future),
            key: self.addr(),
            value: Rc::new(value),
            base: None,
        }
    }

    /// Run `f` with this key set to `value`; what was visible before is
    /// restored when `f` returns or panics.
    ///
    /// ```
    /// arbor_runtime::task_local! {
    ///     static DEPTH: u32;
    /// }
    /// let inner = DEPTH.sync_scope(1, || DEPTH.sync_scope(2, || DEPTH.get()));
    /// assert_eq!(inner, 2);
    /// assert_eq!(DEPTH.sync_scope(1, || DEPTH.get()), 1);
    /// ```
    pub fn sync_scope<F, R>(&'static self, value: T, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        let _restore = Installed(replace(Some(self.derive(value))));
        f()
    }

    /// Call `f` with a reference to the value visible here.
    ///
    /// ```
    /// arbor_runtime::task_local! {
    ///     static USER: String;
    /// }
    /// USER.sync_scope("ada".to_string(), || {
    ///     assert_eq!(USER.with(|name| name.len()), 3);
    /// });
    /// ```
    ///
    /// # Panics
    /// If no value is set for this key here (outside every `scope` of it,
    /// in a task not spawned inside one); the panic points at the caller.
    /// [`try_with`](LocalKey::try_with) returns an error instead.
    #[track_caller]
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        match self.try_with(f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Call `f` with a reference to the value visible here, or an
    /// [`AccessError`] if none is set.
    ///
    /// ```
    /// arbor_runtime::task_local! {
    ///     static LIMIT: usize;
    /// }
    /// assert!(LIMIT.try_with(|n| *n).is_err());
    /// assert_eq!(LIMIT.sync_scope(3, || LIMIT.try_with(|n| *n)), Ok(3));
    /// ```
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        // A clone of the map keeps the value alive while `f` runs, even if
        // `f` enters or leaves scopes itself.
        let ctx = snapshot();
        let value = ctx
            .as_deref()
            .and_then(|c| c.get(self.addr()))
            .and_then(|v| v.downcast_ref::<T>());
        match value {
            Some(v) => Ok(f(v)),
            None => Err(AccessError { name: self.name }),
        }
    }

    /// A clone of the value visible here.
    ///
    /// ```
    /// arbor_runtime::task_local! {
    ///     static ATTEMPT: u32;
    /// }
    /// assert_eq!(ATTEMPT.sync_scope(2, || ATTEMPT.get()), 2);
    /// ```
    ///
    /// # Panics
    /// As [`with`](LocalKey::with), if no value is set here.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("name", &self.name)
            .finish()
    }
}

/// A task-local was read where no value is set for it: outside every
/// [`LocalKey::scope`] of it, in a task not spawned inside one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError {
    name: &'static str,
}

impl AccessError {
    /// The name of the key (the `static` declared by `task_local!`).
    pub fn key_name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError")
            .field("key", &self.name)
            .finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task-local `{0}` is not set here: read it inside `{0}.scope(value, future)` \
             or `{0}.sync_scope(value, f)`, or in a task spawned there; \
             `try_with` returns this error instead of panicking",
            self.name
        )
    }
}

impl std::error::Error for AccessError {}

/// Restores the context it holds on drop (what an install replaced).
struct Installed(CtxRef);

impl Drop for Installed {
    fn drop(&mut self) {
        drop(replace(self.0.take()));
    }
}

/// A `TaskLocalFuture`'s context. Between polls it holds the future's own
/// context; while the future is polled or dropped it holds what was
/// current before, and the future's is in `CURRENT`. Each swap with
/// `CURRENT` flips between the two.
struct Slot(CtxRef);

impl Slot {
    fn swap(&mut self) {
        let other = replace(self.0.take());
        self.0 = other;
    }
}

/// Swaps back when a poll ends, also on unwind.
struct SwapBack<'a>(&'a mut Slot);

impl Drop for SwapBack<'_> {
    fn drop(&mut self) {
        self.0.swap();
    }
}

/// The second half of a drop: the future field was dropped with the
/// context installed (`PinnedDrop` swapped it in); dropping this field,
/// declared after it, swaps back, also if the future's destructor panicked.
struct SwapBackOnDrop(Slot);

impl Drop for SwapBackOnDrop {
    fn drop(&mut self) {
        self.0.swap();
    }
}

pin_project! {
    /// Runs a future with a whole context installed around each poll and
    /// its drop: what a task that inherited values is spawned as, and the
    /// inside of a [`TaskLocalFuture`].
    pub(crate) struct WithCtx<F> {
        // Declared first: dropped before `ctx` swaps back (see `SwapBackOnDrop`).
        #[pin]
        future: F,
        ctx: SwapBackOnDrop,
    }

    impl<F> PinnedDrop for WithCtx<F> {
        fn drop(this: Pin<&mut Self>) {
            // Install the context for the future's destructor; the `ctx`
            // field's own drop, after the future's, swaps back.
            this.project().ctx.0.swap();
        }
    }
}

impl<F> WithCtx<F> {
    /// Run `future` with `ctx` (`None`: no value) installed.
    pub(crate) fn new(ctx: CtxRef, future: F) -> Self {
        WithCtx {
            future,
            ctx: SwapBackOnDrop(Slot(ctx)),
        }
    }
}

impl<F: Future> Future for WithCtx<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.ctx.0.swap();
        let _back = SwapBack(&mut this.ctx.0);
        this.future.poll(cx)
    }
}

pin_project! {
    /// The future [`LocalKey::scope`] returns: runs a future with a
    /// task-local value set around each of its polls and its drop, on top
    /// of the values visible where it is polled.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner future, with the scope's values still
    /// visible to its destructor: it is as cancel-safe as the inner future.
    #[must_use = "futures do nothing unless polled"]
    pub struct TaskLocalFuture<F> {
        // Its context is `base` with `key` set to `value`, made at the
        // first poll and again only if the enclosing context changes (it
        // does not while the future stays in one place), so a poll costs
        // a pointer comparison and two swaps.
        #[pin]
        inner: WithCtx<F>,
        key: *const (),
        value: Rc<dyn Any>,
        // The enclosing context `inner`'s was derived from; held so that
        // the pointer comparison cannot be fooled by a reused address.
        base: Option<CtxRef>,
    }

    impl<F> PinnedDrop for TaskLocalFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // The inner future's destructor sees the scope's values on top
            // of those visible where it is dropped.
            this.refresh();
        }
    }
}

impl<F> TaskLocalFuture<F> {
    /// Make `inner`'s context match the current enclosing one.
    fn refresh(self: Pin<&mut Self>) {
        let this = self.project();
        if let Some(base) = this.base.as_ref()
            && is_current(base)
        {
            return;
        }
        let base = snapshot();
        let ctx = Ctx::with_value(base.as_deref(), *this.key, this.value.clone());
        this.inner.project().ctx.0.0 = Some(Rc::new(ctx));
        *this.base = Some(base);
    }
}

/// Whether `ctx` is the current context (by identity).
fn is_current(ctx: &CtxRef) -> bool {
    CURRENT
        .try_with(|c| {
            let current = c.take();
            let same = match (&current, ctx) {
                (Some(a), Some(b)) => Rc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            c.set(current);
            same
        })
        .unwrap_or(false)
}

impl<F: Future> Future for TaskLocalFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.as_mut().refresh();
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for TaskLocalFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture").finish_non_exhaustive()
    }
}

/// Declares task-local keys: `static`s of type [`LocalKey<T>`](LocalKey).
///
/// A task spawned sees a snapshot of the values set where it was spawned
/// (a task started with [`Handle::spawn`](crate::Handle::spawn) from
/// another thread sees none). Code a `to_thread` call runs on a worker
/// thread sees none either, since the values are not `Send`; its
/// `from_thread` calls back into the runtime see the calling task's
/// values.
///
/// ```
/// use std::time::Duration;
///
/// arbor_runtime::task_local! {
///     /// The request being served.
///     pub static REQUEST_ID: u64;
///     static TRACE: Vec<&'static str>;
/// }
///
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(REQUEST_ID.scope(1, async {
///     let child = arbor_runtime::spawn(async {
///         arbor_runtime::time::sleep(Duration::from_secs(1)).await;
///         REQUEST_ID.get() // the value at the spawn call
///     });
///     let inner = REQUEST_ID.scope(2, async { REQUEST_ID.get() }).await;
///     assert_eq!(inner, 2);
///     assert_eq!(child.await.unwrap(), 1);
///     assert!(TRACE.try_with(|t| t.len()).is_err());
/// }));
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> =
            $crate::task::LocalKey::__new(::std::stringify!($name));
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::task_local!($(#[$attr])* $vis static $name: $t;);
    };
}
