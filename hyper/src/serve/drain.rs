//! Graceful shutdown: the server's drain signal, each connection's watch
//! of it, and the driver that asks a hyper connection to finish.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Waker};

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use slab::Slab;

/// A hyper connection that can be asked to shut down gracefully.
pub(super) trait Graceful: Future<Output = hyper::Result<()>> {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for http1::Connection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

#[cfg(feature = "http2")]
impl<I, S, B, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Poll `conn`; once the server drains, ask it to shut down gracefully
/// (once) and keep polling it to its end.
pub(super) async fn drive<C: Graceful>(conn: C, mut watch: DrainWatch) -> hyper::Result<()> {
    let mut conn = pin!(conn);
    let mut draining = false;
    poll_fn(|cx| {
        if !draining && watch.poll_draining(cx) {
            draining = true;
            conn.as_mut().graceful();
        }
        conn.as_mut().poll(cx)
    })
    .await
}

/// The server's "shut down gracefully" signal, watched by every
/// connection: a flag and the wakers of the connections waiting for it.
#[derive(Default)]
pub(super) struct Drain {
    started: Cell<bool>,
    waiters: RefCell<Slab<Waker>>,
}

impl Drain {
    pub(super) fn start(&self) {
        if self.started.replace(true) {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, waker) in waiters {
            waker.wake();
        }
    }
}

/// One connection's view of [`Drain`]: its waker stays registered (and is
/// only replaced when the task's waker changes), so watching costs a flag
/// read and a waker comparison per poll.
pub(super) struct DrainWatch {
    drain: Rc<Drain>,
    key: Option<usize>,
}

impl DrainWatch {
    pub(super) fn new(drain: Rc<Drain>) -> Self {
        DrainWatch { drain, key: None }
    }

    pub(super) fn poll_draining(&mut self, cx: &Context<'_>) -> bool {
        if self.drain.started.get() {
            return true;
        }
        let mut waiters = self.drain.waiters.borrow_mut();
        match self.key.and_then(|key| waiters.get_mut(key)) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            None => self.key = Some(waiters.insert(cx.waker().clone())),
        }
        false
    }
}

impl Drop for DrainWatch {
    fn drop(&mut self) {
        if let Some(key) = self.key
            && !self.drain.started.get()
        {
            self.drain.waiters.borrow_mut().try_remove(key);
        }
    }
}

impl fmt::Debug for Drain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("started", &self.started.get())
            .finish()
    }
}
