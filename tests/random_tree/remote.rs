//! Tasks spawned through `Handle::spawn` (feature `remote_spawn`): the
//! closure rides the remote queue and the task starts when the runtime
//! drains it; the slot keeps a `RemoteJoinHandle`, awaited and aborted as
//! a `JoinHandle` would be.
//!
//! `Handle::spawn` takes a `Send` closure, and the program's futures hold
//! `Rc`s: the future is parked in a thread-local under a key, and the
//! closure (holding only the key) claims it on the runtime thread. A
//! closure dropped unrun (the task aborted before the runtime drained the
//! queue, or the runtime shutting down) drops the parked future there, on
//! the runtime thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use arbor::task::JoinHandle;
use arbor::{Handle, RemoteJoinError, RemoteJoinHandle};

use super::super::world::TaskOut;
use super::BoxFut;

/// A spawn slot's handle, whichever way the task was spawned.
pub enum TaskHandle {
    Local(JoinHandle<TaskOut>),
    Remote(RemoteJoinHandle<TaskOut>),
}

/// How awaiting a [`TaskHandle`] ended.
pub enum Joined {
    Value(TaskOut),
    Panicked(Box<dyn Any + Send>),
    Cancelled,
    /// A remote task's runtime went away: never expected while it runs.
    Gone,
}

impl std::fmt::Debug for Joined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Joined::Value(v) => write!(f, "Ok({v:?})"),
            Joined::Panicked(_) => f.write_str("Panicked"),
            Joined::Cancelled => f.write_str("Cancelled"),
            Joined::Gone => f.write_str("RuntimeGone"),
        }
    }
}

impl TaskHandle {
    pub fn abort(&self) {
        match self {
            TaskHandle::Local(h) => h.abort(),
            TaskHandle::Remote(h) => h.abort(),
        }
    }

    /// Await the task (a checkpoint either way).
    pub async fn join(self) -> Joined {
        match self {
            TaskHandle::Local(h) => match h.await {
                Ok(v) => Joined::Value(v),
                Err(e) if e.is_panic() => Joined::Panicked(e.try_into_panic().expect("a panic")),
                Err(_) => Joined::Cancelled,
            },
            TaskHandle::Remote(h) => match h.await {
                Ok(v) => Joined::Value(v),
                Err(RemoteJoinError::Panicked(p)) => Joined::Panicked(p),
                Err(RemoteJoinError::Cancelled) => Joined::Cancelled,
                Err(RemoteJoinError::RuntimeGone) => Joined::Gone,
                Err(_) => unreachable!("no other RemoteJoinError"),
            },
        }
    }
}

thread_local! {
    static PARKED: RefCell<HashMap<u64, BoxFut<TaskOut>>> = RefCell::new(HashMap::new());
    static NEXT_KEY: Cell<u64> = const { Cell::new(0) };
}

/// The key of a parked future, held by the `Handle::spawn` closure.
struct Claim(u64);

impl Claim {
    fn take(self) -> BoxFut<TaskOut> {
        PARKED
            .with(|p| p.borrow_mut().remove(&self.0))
            .expect("a parked future is claimed once")
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Unrun: drop the future (outside the borrow: its destructor may
        // park or claim others).
        let unclaimed = PARKED.with(|p| p.borrow_mut().remove(&self.0));
        drop(unclaimed);
    }
}

/// `Handle::current().spawn(..)` of `future`, from the runtime thread.
pub fn spawn_remote(future: BoxFut<TaskOut>) -> RemoteJoinHandle<TaskOut> {
    let key = NEXT_KEY.with(|k| {
        let key = k.get();
        k.set(key + 1);
        key
    });
    PARKED.with(|p| p.borrow_mut().insert(key, future));
    let claim = Claim(key);
    match Handle::current().spawn(move || claim.take()) {
        Ok(handle) => handle,
        Err(_) => panic!("Handle::spawn refused while the runtime runs"),
    }
}
