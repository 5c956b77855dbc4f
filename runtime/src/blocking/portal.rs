//! The way back from a worker to the task awaiting its job
//! ([`from_thread`](super::from_thread)): a one-request mailbox per job,
//! and a one-shot reply per request.
//!
//! ```text
//!   worker (in the job)                 task (polling its BlockingJob)
//!   ───────────────────                 ──────────────────────────────
//!   post(request) ──── store, wake ───▶ take: start it in the poll
//!   Reply::wait (blocks)                  run_sync: run f, send the answer
//!        ▲                                run: poll the future in later polls,
//!        │                                     send the answer when ready
//!        └──────── Answer (or Cancelled when the request or the
//!                  future being served is dropped unanswered) ──────┘
//! ```
//!
//! # Who touches what
//!
//! [`Portal`]'s state is under one mutex. The worker [`post`]s (it blocks
//! on the reply right after, so at most one request is ever in flight per
//! job) and reads [`is_closed`]; the task [`take`]s (storing its waker
//! under the same lock every time, also when it takes a request, so a
//! post either finds the waker or is found by the next take: no lost
//! wake, the slot's argument) and [`close`]s.
//! Once closed, the mailbox stays closed: the pending request, and any
//! posted later, is dropped.
//!
//! # Nobody hangs
//!
//! A request owns a [`Responder`]; dropping a responder that has not
//! answered answers [`Cancelled`]. So every way a request can end
//! without being served (refused by a closed portal, dropped with the
//! job, with the runtime, or with the future being served) answers, and
//! the worker's [`Reply::wait`] returns. The loom models in
//! `loom_models.rs` check the hand-off and its race with abandon.
//!
//! [`post`]: Portal::post
//! [`is_closed`]: Portal::is_closed
//! [`take`]: Portal::take
//! [`close`]: Portal::close

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::scope::Step;
#[cfg(not(loom))]
use crate::scope::{NodeKind, Region, ScopeCell};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The awaiting task will not serve the request: its cancel context was
/// cancelled or the job was abandoned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cancelled;

/// What the worker gets back: the value (or the panic payload of the
/// code that ran on the runtime thread), or [`Cancelled`].
pub(crate) type Answer<T> = Result<thread::Result<T>, Cancelled>;

/// A request being served over several polls (`from_thread::run`'s future).
pub(crate) type Serving = Pin<Box<dyn Future<Output = ()>>>;

/// A request from a worker, type-erased.
pub(crate) trait Request: Send {
    /// Runtime thread, in the awaiting task's poll: serve it. A
    /// synchronous request runs to its end and answers (`None`); an
    /// asynchronous one hands back the future to poll (which answers when
    /// it is ready, or `Cancelled` if dropped first).
    fn start(self: Box<Self>) -> Option<Serving>;
}

/// One request's answer, filled once on the runtime thread, waited for
/// on the worker.
pub(crate) struct Reply<T> {
    answer: Mutex<Option<Answer<T>>>,
    ready: Condvar,
}

/// The runtime side of a [`Reply`]: answers once, `Cancelled` if dropped
/// without answering.
pub(crate) struct Responder<T> {
    reply: Option<Arc<Reply<T>>>,
}

/// A reply and its responder.
pub(crate) fn reply<T>() -> (Responder<T>, Arc<Reply<T>>) {
    let reply = Arc::new(Reply {
        answer: Mutex::new(None),
        ready: Condvar::new(),
    });
    (
        Responder {
            reply: Some(reply.clone()),
        },
        reply,
    )
}

impl<T> Reply<T> {
    fn lock(&self) -> MutexGuard<'_, Option<Answer<T>>> {
        // No code that can panic runs under the lock.
        self.answer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker: block until the answer is there.
    pub(crate) fn wait(&self) -> Answer<T> {
        let mut answer = self.lock();
        loop {
            if let Some(a) = answer.take() {
                return a;
            }
            answer = self.ready.wait(answer).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T> Responder<T> {
    /// Answer with the served code's outcome.
    pub(crate) fn send(mut self, out: thread::Result<T>) {
        self.answer(Ok(out));
    }

    fn answer(&mut self, answer: Answer<T>) {
        if let Some(reply) = self.reply.take() {
            *reply.lock() = Some(answer);
            reply.ready.notify_one();
        }
    }
}

impl<T> Drop for Responder<T> {
    fn drop(&mut self) {
        self.answer(Err(Cancelled));
    }
}

/// The mailbox of one job.
pub(crate) struct Portal {
    state: Mutex<PortalState>,
}

struct PortalState {
    /// Posted by the worker, not yet taken by the task.
    request: Option<Box<dyn Request>>,
    /// The task's waker, from its last `take`.
    waker: Option<Waker>,
    /// The task will serve no more requests.
    closed: bool,
}

/// What [`Portal::post`] did with the request.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Stored, and the task woken (if it had polled).
    Sent,
    /// The portal is closed: the request was dropped (answering
    /// `Cancelled`).
    Refused,
}

/// What [`Portal::close`] found.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// A request was waiting: it was dropped (answering `Cancelled`).
    DroppedRequest,
    /// Nothing was waiting.
    Empty,
}

impl Portal {
    pub(crate) fn new() -> Self {
        Portal {
            state: Mutex::new(PortalState {
                request: None,
                waker: None,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PortalState> {
        // No code that can panic runs under the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker: hand `request` to the task and wake it.
    pub(crate) fn post(&self, request: Box<dyn Request>) -> Posted {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            drop(request);
            return Posted::Refused;
        }
        debug_assert!(state.request.is_none(), "one request in flight per job");
        state.request = Some(request);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Posted::Sent
    }

    /// Worker: whether the task will serve no more requests.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Task: the waiting request, if any; and remember `cx`'s waker in
    /// either case (a worker posts its next request as soon as this one
    /// is answered, maybe in this same poll: that post must find a waker).
    pub(crate) fn take(&self, cx: &mut Context<'_>) -> Option<Box<dyn Request>> {
        let mut state = self.lock();
        let old = match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => state.waker.replace(cx.waker().clone()),
        };
        let request = state.request.take();
        drop(state);
        drop(old);
        request
    }

    /// Task: serve no more requests (its cancel context was cancelled, or
    /// the job is abandoned). Idempotent.
    pub(crate) fn close(&self) -> Closed {
        let mut state = self.lock();
        state.closed = true;
        let request = state.request.take();
        let waker = state.waker.take();
        drop(state);
        drop(waker);
        match request {
            Some(request) => {
                drop(request);
                Closed::DroppedRequest
            }
            None => Closed::Empty,
        }
    }
}

/// `from_thread::run_sync`'s request: run `f` on the runtime thread.
pub(crate) struct SyncRequest<F, T> {
    pub(crate) f: F,
    pub(crate) responder: Responder<T>,
}

impl<F, T> Request for SyncRequest<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn start(self: Box<Self>) -> Option<Serving> {
        let SyncRequest { f, responder } = *self;
        responder.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        None
    }
}

/// `from_thread::run`'s request: build a future on the runtime thread
/// and poll it in the task.
pub(crate) struct AsyncRequest<F, T> {
    pub(crate) make: F,
    pub(crate) responder: Responder<T>,
}

impl<F, Fut> Request for AsyncRequest<F, Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    fn start(self: Box<Self>) -> Option<Serving> {
        let AsyncRequest { make, responder } = *self;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(make)) {
            Ok(future) => Some(Box::pin(ServeFuture {
                region: Box::pin(served_region(future)),
                responder: Some(responder),
            })),
            Err(payload) => {
                responder.send(Err(payload));
                None
            }
        }
    }
}

/// Polls a `from_thread::run` future and answers with its output.
///
/// The future runs in a region of its own, a plain scope in the context
/// it is served in, so an enclosing cancellation drops it by the scope
/// rules (at a suspension, and not while a shield inside it must finish)
/// instead of outright; then, or if it is dropped unfinished, the worker
/// hears `Cancelled` (the region goes first: field order).
struct ServeFuture<Fut: Future> {
    region: Pin<Box<ServedRegion<Fut>>>,
    responder: Option<Responder<Fut::Output>>,
}

#[cfg(not(loom))]
type ServedRegion<Fut> = Region<ScopeCell, Fut>;

#[cfg(not(loom))]
fn served_region<Fut: Future>(future: Fut) -> ServedRegion<Fut> {
    Region::new(ScopeCell::new(), NodeKind::Scope, future)
}

// The loom models poll served futures without a runtime, which a region
// needs: there, the future is polled as it is (the models check the
// thread hand-off, not the scope rules).
#[cfg(loom)]
pin_project_lite::pin_project! {
    struct ServedRegion<Fut> {
        #[pin]
        future: Option<Fut>,
    }
}

#[cfg(loom)]
fn served_region<Fut: Future>(future: Fut) -> ServedRegion<Fut> {
    ServedRegion {
        future: Some(future),
    }
}

#[cfg(loom)]
impl<Fut: Future> ServedRegion<Fut> {
    fn poll_inner(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Step<Fut::Output> {
        match self.project().future.as_pin_mut().map(|f| f.poll(cx)) {
            Some(Poll::Ready(value)) => Step::Ready(value),
            _ => Step::Pending,
        }
    }

    fn close(self: Pin<&mut Self>) {
        self.project().future.set(None);
    }
}

impl<Fut: Future> Future for ServeFuture<Fut> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            this.region.as_mut().poll_inner(cx)
        }));
        let out = match polled {
            Ok(Step::Pending) => return Poll::Pending,
            Ok(Step::Ready(value)) => {
                this.region.as_mut().close();
                Ok(value)
            }
            // Nothing cancels the region itself: an enclosing cancellation
            // dropped the future. The worker hears `Cancelled`.
            Ok(Step::Caught(_) | Step::Dropped) => {
                this.responder = None;
                return Poll::Ready(());
            }
            Err(payload) => Err(payload),
        };
        if let Some(responder) = this.responder.take() {
            responder.send(out);
        }
        Poll::Ready(())
    }
}
