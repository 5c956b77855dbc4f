//! The one heap allocation of a task: header, then the future or its output.
//!
//! A [`RawTask`] is a type-erased pointer to a `TaskCell<F>`. The allocation
//! has owners, each recorded by a state bit: the task slab (`IN_SLAB`), the
//! [`JoinHandle`](super::JoinHandle) (`JOIN_HANDLE`), and, while the future
//! is being dropped, the drop itself (`DROPPING`). Whoever releases the
//! last one deallocates. Every `RawTask` value in the crate is either one
//! of those owners or a copy used while an owner is known to be alive (the
//! run loop polls through a copy while the slab entry exists: nothing
//! removes a running task from the slab). That is the invariant every
//! `unsafe` block below relies on, together with the stage bits in
//! [`State`], which say which union field is live.
//!
//! The future is dropped in one place, [`finish`], whether it completed or
//! was aborted: `begin_drop` first, so a destructor that re-enters the task
//! (aborting it, waking it, dropping its handle or its runtime) finds it
//! finished and cannot free the allocation under us; the join waker is
//! woken last, after every reference into the allocation is gone.
//!
//! Everything here runs on the runtime thread: the header uses `Cell`s.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::JoinError;
use super::state::{Release, State};

/// The type-independent front of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    /// Index of the scope node the task is attached to.
    pub(crate) scope: Cell<u32>,
    vtable: &'static Vtable,
    /// Woken when the output is stored; set by the join handle.
    join_waker: Cell<Option<Waker>>,
    /// The innermost arbor wait the last poll suspended in (the first one
    /// noted in that poll, `Core::note_await`), for `scope::dump`:
    /// cleared when a poll starts, so it is never stale for a parked task.
    pub(crate) await_at: Cell<Option<&'static Location<'static>>>,
    /// The clock's last reading (`Clock::last`, in nanoseconds) when the
    /// task last went idle: no clock read of its own on the hot path.
    pub(crate) parked_since: Cell<u64>,
}

struct Vtable {
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    drop_future: unsafe fn(NonNull<Header>),
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    drop_output: unsafe fn(NonNull<Header>),
    dealloc: unsafe fn(NonNull<Header>),
}

#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// Which field is live is recorded by `HAS_FUTURE` / `HAS_OUTPUT`.
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<Result<F::Output, JoinError>>,
}

/// A type-erased pointer to a task allocation. See the module doc for when
/// it is valid.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask(NonNull<Header>);

impl RawTask {
    /// Allocate a task: the one heap allocation it ever makes.
    #[inline]
    pub(crate) fn new<F: Future + 'static>(future: F, scope: u32) -> RawTask {
        let cell = Box::new(TaskCell {
            header: Header {
                state: State::new_spawned(),
                scope: Cell::new(scope),
                vtable: vtable::<F>(),
                join_waker: Cell::new(None),
                await_at: Cell::new(None),
                parked_since: Cell::new(0),
            },
            stage: UnsafeCell::new(Stage {
                future: ManuallyDrop::new(future),
            }),
        });
        RawTask(NonNull::from(Box::leak(cell)).cast())
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the allocation is alive while any RawTask is used (module
        // invariant), and the header is only accessed through shared refs.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn state(&self) -> &State {
        &self.header().state
    }

    /// Poll the future. On `Ready` (or a panic, which is caught here and
    /// never unwinds into the scheduler) the future has been dropped, the
    /// output stored and the join waker woken, and the allocation is held
    /// only by its remaining owners: the caller may use this `RawTask` again
    /// only through its slab entry.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        debug_assert!(self.state().is_running());
        // SAFETY: the caller moved the state to RUNNING, so HAS_FUTURE holds
        // and nobody else touches the stage during the call.
        unsafe { (self.header().vtable.poll)(self.0, cx) }
    }

    /// Drop the future of a task whose abort was decided
    /// ([`AbortAction::DropNow`](super::state::AbortAction::DropNow) or
    /// [`AfterPending::Abort`](super::state::AfterPending::Abort)) and
    /// store `Err(cancelled)`; wakes the join waker. As after [`poll`]'s
    /// `Ready`, the caller may use this `RawTask` again only through an
    /// owner it still holds.
    ///
    /// [`poll`]: RawTask::poll
    pub(crate) fn drop_future(&self) {
        debug_assert!(self.state().output_pending() && !self.state().is_running());
        // SAFETY: HAS_FUTURE holds (the abort decision said so) and the task
        // is not being polled.
        unsafe { (self.header().vtable.drop_future)(self.0) }
    }

    /// Move the output out. The caller checked `has_output` and passes a
    /// pointer to a `Poll<Result<T, JoinError>>` of the task's output type.
    ///
    /// # Safety
    /// `dst` must point to a `Poll<Result<F::Output, JoinError>>` for this
    /// task's `F`.
    pub(crate) unsafe fn read_output(&self, dst: *mut ()) {
        debug_assert!(self.state().has_output());
        // SAFETY: HAS_OUTPUT holds (checked by the caller) and `dst` has the
        // right type (the caller's contract).
        unsafe { (self.header().vtable.read_output)(self.0, dst) };
        self.state().take_output();
    }

    /// Store the join handle's waker, replacing an older one.
    pub(crate) fn set_join_waker(&self, waker: &Waker) {
        let slot = &self.header().join_waker;
        let old = slot.take();
        match old {
            Some(w) if w.will_wake(waker) => slot.set(Some(w)),
            _ => slot.set(Some(waker.clone())),
        }
    }

    /// Act on the release of one owner's reference: the last one drops an
    /// untaken output and frees the allocation. A panic from the output's
    /// destructor is caught and discarded (its message was printed by the
    /// panic hook): nobody is left to receive it, and it must neither
    /// unwind into the scheduler nor leak the allocation.
    pub(crate) fn release(self, release: Release) {
        if release == Release::Dealloc {
            let vtable = self.header().vtable;
            if self.state().has_output() {
                let ptr = self.0;
                let dropped = catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: HAS_OUTPUT holds; no owner is left to read it.
                    unsafe { (vtable.drop_output)(ptr) }
                }));
                drop(dropped);
            }
            debug_assert!(!self.state().output_pending());
            // SAFETY: no owner is left, so no RawTask copy is used after this.
            unsafe { (vtable.dealloc)(self.0) };
        }
    }
}

fn vtable<F: Future + 'static>() -> &'static Vtable {
    &Vtable {
        poll: poll::<F>,
        drop_future: drop_future::<F>,
        read_output: read_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
    }
}

/// # Safety
/// `ptr` is a live `TaskCell<F>` whose stage holds the future, RUNNING.
unsafe fn poll<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    let output = {
        // SAFETY: the caller's contract: live TaskCell<F>.
        let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
        // SAFETY: RUNNING gives this call exclusive use of the stage; the
        // future field is live (HAS_FUTURE).
        let future = unsafe { &mut (*cell.stage.get()).future };
        // SAFETY: the future lives in the heap allocation and is never moved
        // until it is dropped in place.
        let pinned = unsafe { Pin::new_unchecked(&mut **future) };
        match catch_unwind(AssertUnwindSafe(|| pinned.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(JoinError::panicked(payload)),
        }
    };
    // SAFETY: the future is live and no reference into the stage is left.
    unsafe { finish::<F>(ptr, output) };
    Poll::Ready(())
}

/// # Safety
/// `ptr` is a live `TaskCell<F>` whose stage holds the future, not running.
unsafe fn drop_future<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller's contract.
    unsafe { finish::<F>(ptr, Err(JoinError::cancelled())) };
}

/// The one place a task's future is dropped: `HAS_FUTURE -> DROPPING ->
/// HAS_OUTPUT`, then the drop's hold on the allocation is released, then
/// the join waker is woken.
///
/// A panicking destructor is caught; its panic becomes the output.
///
/// # Safety
/// `ptr` is a live `TaskCell<F>` whose future field is live and not
/// borrowed, and the task is not being polled by anyone else.
unsafe fn finish<F: Future>(ptr: NonNull<Header>, output: Result<F::Output, JoinError>) {
    let (release, waker) = {
        // SAFETY: the caller's contract: live TaskCell<F>. From
        // `begin_drop` on, DROPPING keeps it alive until `finish_drop`.
        let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
        cell.header.state.begin_drop();
        let stage = cell.stage.get();
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the future field is live; DROPPING makes every
            // re-entrant abort, wake and poll leave the stage alone, so it
            // is dropped exactly once, here.
            unsafe { ManuallyDrop::drop(&mut (*stage).future) }
        }))
        .map_err(JoinError::panicked);
        // SAFETY: the future is gone: writing the union drops nothing.
        unsafe { (*cell.stage.get()).output = ManuallyDrop::new(dropped.and(output)) };
        let waker = cell.header.join_waker.take();
        (cell.header.state.finish_drop(), waker)
    };
    // No reference into the allocation is live any more: it may go now.
    RawTask(ptr).release(release);
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// # Safety
/// `ptr` is a live `TaskCell<F>` with HAS_OUTPUT; `dst` points to a
/// `Poll<Result<F::Output, JoinError>>`.
unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the caller's contract.
    let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
    // SAFETY: the output field is live; it is moved out once and the caller
    // clears HAS_OUTPUT so it is never read or dropped again.
    let output = unsafe { ManuallyDrop::take(&mut (*cell.stage.get()).output) };
    // SAFETY: `dst` has this type (the caller's contract); assignment drops
    // the old value, a valid `Poll` owned by the caller.
    unsafe { *(dst as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(output) };
}

/// # Safety
/// `ptr` is a live `TaskCell<F>` with HAS_OUTPUT and no owner left.
unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller's contract.
    let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
    cell.header.state.take_output();
    // SAFETY: the output field is live and dropped exactly once, here.
    unsafe { ManuallyDrop::drop(&mut (*cell.stage.get()).output) };
}

/// # Safety
/// `ptr` came from `RawTask::new::<F>` and no owner is left.
unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the allocation was made by `Box::new` with this exact type.
    drop(unsafe { Box::from_raw(ptr.cast::<TaskCell<F>>().as_ptr()) });
}

#[cfg(test)]
/// Bytes of the allocation that are the runtime's, not the future's: used
/// by the bookkeeping test and documented in the task module.
pub(crate) const fn header_size() -> usize {
    std::mem::size_of::<Header>()
}

#[cfg(test)]
/// The size of the allocation for a future type (header + stage).
pub(crate) const fn allocation_size<F: Future>() -> usize {
    std::mem::size_of::<TaskCell<F>>()
}

impl JoinError {
    pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> JoinError {
        JoinError::from_panic(payload)
    }
}
