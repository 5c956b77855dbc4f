//! [`ArborExecutor`]: hyper's executor spawning into a nursery.

use std::fmt;
use std::future::Future;

use arbor_nursery::Nursery;
use hyper::rt::Executor;

/// hyper's [`Executor`] on arbor: the tasks hyper starts (HTTP/2 streams,
/// and the connection task of an HTTP/2 client) become children of a
/// [`Nursery`], so they end with it, or detached tasks
/// ([`arbor_runtime::spawn`]) if the executor was made by
/// [`detached`](ArborExecutor::detached).
///
/// Futures need not be `Send`: arbor runs everything on one thread, and
/// hyper's HTTP/2 support accepts `!Send` executors.
///
/// Cloning is cheap (a reference count). The executor holds a handle to
/// the nursery, and the nursery ends when its body and its children have
/// ended, not when the last handle is dropped: a future given to the
/// executor after its nursery has closed is dropped unpolled (hyper then
/// sees the stream's task gone and resets the stream). Give a connection
/// an executor of a nursery that outlives it, as
/// [`Server::serve`](crate::Server::serve) does (one nursery per
/// connection).
///
/// ```
/// use arbor_hyper::ArborExecutor;
/// use hyper::rt::Executor;
/// use std::{cell::Cell, rc::Rc};
///
/// arbor_runtime::run(async {
///     let ran = Rc::new(Cell::new(false));
///     arbor_nursery::nursery(async |n| {
///         let ran = ran.clone();
///         ArborExecutor::new(&n).execute(async move { ran.set(true) });
///     })
///     .await
///     .unwrap();
///     assert!(ran.get()); // the nursery waited for the spawned future
/// });
/// ```
#[derive(Clone)]
pub struct ArborExecutor {
    nursery: Option<Nursery>,
}

impl ArborExecutor {
    /// Spawn into `nursery`.
    pub fn new(nursery: &Nursery) -> Self {
        ArborExecutor {
            nursery: Some(nursery.clone()),
        }
    }

    /// Spawn detached tasks ([`arbor_runtime::spawn`]), which outlive the
    /// code that started them: prefer [`new`](ArborExecutor::new).
    pub fn detached() -> Self {
        ArborExecutor { nursery: None }
    }
}

impl<F> Executor<F> for ArborExecutor
where
    F: Future<Output = ()> + 'static,
{
    fn execute(&self, future: F) {
        match &self.nursery {
            // A closed nursery: the future is dropped (see the type's docs).
            Some(nursery) => drop(nursery.try_spawn(None, future)),
            None => drop(arbor_runtime::spawn(future)),
        }
    }
}

impl fmt::Debug for ArborExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArborExecutor")
            .field("nursery", &self.nursery)
            .finish()
    }
}
