//! The few thread-crossing types, switched to loom's under `cfg(loom)` so
//! the code where threads meet can be model-checked.
//!
//! Two kinds of shim:
//!
//! - Re-exports ([`Mutex`], [`Condvar`], [`Arc`], [`AtomicBool`], [`AtomicU32`],
//!   [`JoinHandle`]) and
//!   [`spawn_thread`] for state that lives in a heap object (the remote
//!   wake queue, the blocking pool and its completion slots): under `cfg(loom)` it is loom's, and a
//!   model creates the object inside `loom::model`.
//! - [`Atomic64`], a trait, for state that lives in a `static` (the signal
//!   registry's tables). A `static` cannot hold loom's atomics (they are
//!   created inside a model run), so the real tables are std's atomics in
//!   every build; the logic on them is written once, generic over this
//!   trait, and a loom model runs the same functions on a table of loom's
//!   atomics of its own. Outside loom it monomorphizes to the inherent std
//!   calls: no cost.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU32, Ordering},
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU32, Ordering},
};

#[cfg(loom)]
pub(crate) use loom::thread::JoinHandle;
#[cfg(not(loom))]
pub(crate) use std::thread::JoinHandle;

/// Start a thread: a named std thread, or a loom thread in a model (loom
/// threads have no names and cannot fail to start).
#[cfg(not(loom))]
pub(crate) fn spawn_thread(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(f)
}

#[cfg(loom)]
pub(crate) fn spawn_thread(
    _name: String,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    Ok(loom::thread::spawn(f))
}

/// The operations of a `u64` atomic that code shared with a loom model uses.
///
/// Each method is the inherent method of the same name.
pub(crate) trait Atomic64 {
    fn load(&self, order: Ordering) -> u64;
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
    fn compare_exchange_weak(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
    fn fetch_add(&self, val: u64, order: Ordering) -> u64;
    fn fetch_sub(&self, val: u64, order: Ordering) -> u64;
    /// One turn of a loop spinning until another thread changes this
    /// atomic: the CPU's spin hint for std's, a yield for loom's (loom
    /// would otherwise explore the spinning thread forever).
    fn spin_wait();
}

macro_rules! impl_atomic64 {
    ($ty:ty, $spin:expr, $sc:path) => {
        impl Atomic64 for $ty {
            #[inline(always)]
            fn load(&self, order: Ordering) -> u64 {
                $sc(order, || <$ty>::load(self, order))
            }
            #[inline(always)]
            fn compare_exchange(
                &self,
                current: u64,
                new: u64,
                success: Ordering,
                failure: Ordering,
            ) -> Result<u64, u64> {
                $sc(success, || {
                    <$ty>::compare_exchange(self, current, new, success, failure)
                })
            }
            #[inline(always)]
            fn compare_exchange_weak(
                &self,
                current: u64,
                new: u64,
                success: Ordering,
                failure: Ordering,
            ) -> Result<u64, u64> {
                $sc(success, || {
                    <$ty>::compare_exchange_weak(self, current, new, success, failure)
                })
            }
            #[inline(always)]
            fn fetch_add(&self, val: u64, order: Ordering) -> u64 {
                $sc(order, || <$ty>::fetch_add(self, val, order))
            }
            #[inline(always)]
            fn fetch_sub(&self, val: u64, order: Ordering) -> u64 {
                $sc(order, || <$ty>::fetch_sub(self, val, order))
            }
            #[inline(always)]
            fn spin_wait() {
                $spin
            }
        }
    };
}

/// std's atomics implement `SeqCst` as the memory model defines it.
#[inline(always)]
fn as_is<R>(_: Ordering, op: impl FnOnce() -> R) -> R {
    op()
}

/// Loom treats a `SeqCst` access as only `AcqRel` (its README, "Unsupported
/// features"), so it reports store-buffering outcomes that `SeqCst` rules
/// out (a handler's `fetch_add` of the count and load of a slot racing a
/// listener's claim of the slot and load of the count: each may see the
/// other's old value under `AcqRel`, never under `SeqCst`). A `SeqCst` fence
/// it does model, and a `SeqCst` access between two `SeqCst` fences orders
/// like the `SeqCst` access the production code makes.
#[cfg(loom)]
fn fenced<R>(order: Ordering, op: impl FnOnce() -> R) -> R {
    use loom::sync::atomic::fence;
    if order != Ordering::SeqCst {
        return op();
    }
    fence(Ordering::SeqCst);
    let r = op();
    fence(Ordering::SeqCst);
    r
}

impl_atomic64!(std::sync::atomic::AtomicU64, std::hint::spin_loop(), as_is);
#[cfg(loom)]
impl_atomic64!(
    loom::sync::atomic::AtomicU64,
    loom::thread::yield_now(),
    fenced
);
