//! Runs a generated program on arbor, recording what the checks need.
//!
//! Every node runs as its own boxed future inside a [`Tracked`] wrapper
//! whose token counts the drop. Failures are recorded just before the `Err`
//! is returned or the panic raised, in the record of whoever must surface
//! them: a nursery (for its body and children), a `start` call (for a
//! child that has not started), or a task (for its `JoinHandle`).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arbor::primitives::LockError;
use arbor::{
    CancelHandle, CancelScope, ChildError, Nursery, NurseryError, StartError, TaskStatus,
    cancelled, checkpoint, fail_after, move_on_after, shield,
};

use super::features::Features;
use super::program::{Body, Ending, Node, Res, ScopeKind};
use super::world::{
    Book, Boom, Fail, Kind, Msg, NList, NurseryRec, Out, PanicId, SemRec, StartRec, TaskOut,
    TaskRec, World,
};
use remote::{Joined, TaskHandle};

#[path = "child_set.rs"]
mod child_set;
#[path = "patterns.rs"]
pub mod patterns;
#[path = "remote.rs"]
pub mod remote;
#[path = "stream.rs"]
pub mod stream;

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T>>>;

fn ms(t: u32) -> Duration {
    Duration::from_millis(u64::from(t))
}

/// Where the code runs and where its failures go.
#[derive(Clone)]
pub struct Cx {
    pub w: Rc<World>,
    /// The task the code runs in (the root, a spawned task, a child).
    pub task: Rc<TaskRec>,
    pub sink: Sink,
    pub nurseries: Option<Rc<NList>>,
    /// The `LOCAL` value this code must see: set by an enclosing
    /// `LocalScope`, or inherited by its task at spawn.
    pub local: Option<u32>,
}

arbor::task_local! {
    /// The program's task-local (feature `task_locals`).
    pub static LOCAL: u32;
}

/// Who must surface a failure raised here.
#[derive(Clone)]
pub enum Sink {
    /// The root program: it never fails on purpose.
    Root,
    /// A nursery body: the nursery reports it.
    Body(Rc<NurseryRec>),
    /// A spawned task (its `JoinHandle`) or a nursery child (its nursery,
    /// or its `start` call before `started`).
    Task(Rc<TaskRec>),
}

impl Sink {
    fn fail(&self, f: Fail) {
        match self {
            Sink::Root => {}
            Sink::Body(n) => n.failures.borrow_mut().push(f),
            Sink::Task(t) => {
                t.out.set(Some(Out::Fail(f)));
                if let Some(n) = &t.parent {
                    match &t.start {
                        Some(s) if !s.started.get() => s.pre_fail.set(Some(f)),
                        _ => n.failures.borrow_mut().push(f),
                    }
                }
            }
        }
    }
}

impl Cx {
    fn book(&self) -> &Rc<Book> {
        &self.w.book
    }

    fn log(&self, event: impl FnOnce() -> String) {
        let book = self.book();
        if book.trace {
            let now = arbor::time::now();
            let t = now.saturating_duration_since(book.start.get().unwrap_or(now));
            book.log(|| format!("{:>6}ms task{:<5} {}", t.as_millis(), self.task.id, event()));
        }
    }

    /// Level-triggered cancellation: an arbor operation that just
    /// completed must not have done so inside a cancelled scope.
    fn progressed(&self, what: &str) {
        self.progressed_unless_kept(what, false);
    }

    /// [`progressed`](Cx::progressed) for an operation run in [`Kept`]: a
    /// result it kept over its schedule point may come back inside a
    /// scope cancelled during that yield (the operation took effect
    /// before).
    fn progressed_unless_kept(&self, what: &str, kept: bool) {
        if !kept && arbor::lowlevel::current_is_cancelled() {
            self.book().violation(
                Kind::ProgressInCancelled,
                format!(
                    "{what} completed inside a cancelled scope (task {})",
                    self.task.id
                ),
            );
        }
    }

    fn nursery(&self, up: usize) -> Option<Rc<NList>> {
        let mut l = self.nurseries.clone()?;
        for _ in 0..up {
            match l.next.clone() {
                Some(next) => l = next,
                None => break,
            }
        }
        Some(l)
    }
}

/// A future carrying a drop token; for the top future of a task it also
/// marks the task polled and ended.
pub struct Tracked<T> {
    inner: Option<BoxFut<T>>,
    task: Option<Rc<TaskRec>>,
    on_end: Option<Box<dyn FnOnce()>>,
    book: Rc<Book>,
    // Dropped last: the count goes up once the future is really gone.
    _token: super::world::Token,
}

impl<T> Tracked<T> {
    pub fn new(book: &Rc<Book>, what: &'static str, inner: BoxFut<T>) -> Self {
        Tracked {
            inner: Some(inner),
            task: None,
            on_end: None,
            book: book.clone(),
            _token: book.token(what),
        }
    }

    fn task(mut self, rec: &Rc<TaskRec>) -> Self {
        self.task = Some(rec.clone());
        self
    }

    fn on_end(mut self, f: impl FnOnce() + 'static) -> Self {
        self.on_end = Some(Box::new(f));
        self
    }
}

impl<T> Future for Tracked<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.book.polled();
        if let Some(t) = &this.task {
            t.polled.set(true);
            // An abort drops the future at once, or (a task aborting
            // itself) right after the poll that asked: never a later poll.
            if t.abort_requested.get() {
                this.book.violation(
                    Kind::PolledAfterAbort,
                    format!("task {} was polled after it was aborted", t.id),
                );
            }
        }
        let inner = this
            .inner
            .as_mut()
            .expect("a tracked future was polled after it was dropped");
        inner.as_mut().poll(cx)
    }
}

impl<T> Drop for Tracked<T> {
    fn drop(&mut self) {
        let inner = self.inner.take();
        drop(inner);
        if let Some(t) = &self.task {
            t.ended.set(true);
            // A task always starts: a nursery child is dropped only after
            // a poll, unless its task is torn down.
            if t.accepted.get()
                && !t.polled.get()
                && !std::thread::panicking()
                && !t.doomed(&self.book)
            {
                self.book.violation(
                    Kind::Unstarted,
                    format!("child {} was dropped without ever being polled", t.id),
                );
            }
        }
        if let Some(f) = self.on_end.take() {
            f();
        }
    }
}

/// Catches a panic of the wrapped future's poll.
struct CatchUnwind<T>(BoxFut<T>);

impl<T> Future for CatchUnwind<T> {
    type Output = Result<T, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Whether the scope was already cancelled when the poll that completed
/// the wrapped future began, and how many polls it took.
struct Probe<F> {
    inner: F,
    polls: u32,
}

struct Probed<T> {
    output: T,
    cancelled_before: bool,
    polls: u32,
}

impl<F> Probe<F> {
    fn new(inner: F) -> Self {
        Probe { inner, polls: 0 }
    }
}

impl<F: Future + Unpin> Future for Probe<F> {
    type Output = Probed<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let cancelled_before = arbor::lowlevel::current_is_cancelled();
        self.polls += 1;
        let polls = self.polls;
        Pin::new(&mut self.inner).poll(cx).map(|output| Probed {
            output,
            cancelled_before,
            polls,
        })
    }
}

/// Runs an arbor operation and tells, when it completes, whether its
/// previous poll was a yield at a schedule point: that poll began outside
/// any cancellation, woke its own task and returned `Pending`, so the
/// operation had taken effect and kept its result for this poll. (An
/// operation that wakes itself for another reason would pass as such; no
/// arbor operation does.)
struct Kept<F: Future> {
    inner: Pin<Box<F>>,
    yielded: bool,
}

impl<F: Future> Kept<F> {
    fn new(inner: F) -> Self {
        Kept {
            inner: Box::pin(inner),
            yielded: false,
        }
    }
}

/// A waker that notes being woken, then wakes the task's own waker.
struct NoteWake {
    task: std::task::Waker,
    woken: std::sync::atomic::AtomicBool,
}

impl std::task::Wake for NoteWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.wake_by_ref();
    }
}

impl<F: Future> Future for Kept<F> {
    /// The output, and whether it was kept over a schedule point.
    type Output = (F::Output, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let began_cancelled = arbor::lowlevel::current_is_cancelled();
        let note = std::sync::Arc::new(NoteWake {
            task: cx.waker().clone(),
            woken: false.into(),
        });
        let waker = std::task::Waker::from(note.clone());
        match self.inner.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => Poll::Ready((output, self.yielded)),
            Poll::Pending => {
                self.yielded =
                    !began_cancelled && note.woken.load(std::sync::atomic::Ordering::Relaxed);
                Poll::Pending
            }
        }
    }
}

/// Polls a future once, giving its output if it was ready.
struct PollOnce<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for PollOnce<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match self.0.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    }
}

/// A shielded region: dropped before it finished while its task is not
/// being torn down (and its own scope not cancelled) is a violation.
struct ShieldRegion<T> {
    inner: Option<BoxFut<T>>,
    task: Rc<TaskRec>,
    book: Rc<Book>,
    /// The shielded scope's own handle: once it is cancelled (by the
    /// handle or its deadline) the region no longer protects anything.
    own: Option<CancelHandle>,
    entered: bool,
    done: bool,
    unwound: bool,
}

impl<T> ShieldRegion<T> {
    fn new(cx: &Cx, own: Option<CancelHandle>, inner: BoxFut<T>) -> Self {
        ShieldRegion {
            inner: Some(inner),
            task: cx.task.clone(),
            book: cx.book().clone(),
            own,
            entered: false,
            done: false,
            unwound: false,
        }
    }
}

impl<T> Future for ShieldRegion<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.entered = true;
        // Still set in `drop` if the inner future panicked.
        this.unwound = true;
        let out = this
            .inner
            .as_mut()
            .expect("polled after done")
            .as_mut()
            .poll(cx);
        this.unwound = false;
        if out.is_ready() {
            this.done = true;
            this.book.count("shielded region finished");
        }
        out
    }
}

impl<T> Drop for ShieldRegion<T> {
    fn drop(&mut self) {
        let own_cancel = self.own.as_ref().is_some_and(|h| h.cancel_called());
        if self.entered
            && !self.done
            && !own_cancel
            && !self.unwound
            && !std::thread::panicking()
            && !self.task.doomed(&self.book)
        {
            self.book.violation(
                Kind::ShieldDropped,
                format!(
                    "a shielded region of task {} was dropped before it finished",
                    self.task.id
                ),
            );
        }
        let inner = self.inner.take();
        drop(inner);
    }
}

/// A nursery future as its caller holds it: a drop before it completed is
/// checked (and marks its children as torn down).
struct NurseryWatch<T> {
    inner: Option<BoxFut<T>>,
    rec: Rc<NurseryRec>,
    book: Rc<Book>,
}

impl<T> Future for NurseryWatch<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let out = this
            .inner
            .as_mut()
            .expect("polled after done")
            .as_mut()
            .poll(cx);
        if out.is_ready() {
            this.rec.completed.set(true);
        }
        out
    }
}

impl<T> Drop for NurseryWatch<T> {
    fn drop(&mut self) {
        let rec = &self.rec;
        if !rec.completed.get() {
            let legit = std::thread::panicking() || rec.host.doomed(&self.book);
            self.book.count(if legit {
                "nursery dropped with its task"
            } else {
                "nursery dropped by a cancellation"
            });
            if !legit {
                nursery_dropped(rec, &self.book);
            }
            rec.dropped_legit.set(legit);
            rec.dropped_incomplete.set(true);
        }
        let inner = self.inner.take();
        drop(inner);
    }
}

/// A nursery future dropped from outside (not by an abort): an enclosing
/// cancel scope caught. What the nursery had to report must not be lost.
/// (Its children check for themselves that they were polled and that no
/// shielded region of theirs was cut.)
fn nursery_dropped(rec: &NurseryRec, book: &Book) {
    let fails = rec.failures.borrow().clone();
    if !fails.is_empty() && book.features.has(Features::SURFACE_FAILURES) {
        book.violation(
            Kind::FailureLost,
            format!(
                "n{} was dropped by an enclosing cancellation with failures {fails:?} that never surfaced",
                rec.id
            ),
        );
    }
    if let Some(v) = rec
        .body_value
        .get()
        .filter(|_| book.features.has(Features::SURFACE_VALUES))
    {
        book.violation(
            Kind::ValueLost,
            format!(
                "n{} was dropped by an enclosing cancellation after its body returned {v}",
                rec.id
            ),
        );
    }
}

/// Run one node.
pub fn exec(node: Rc<Node>, cx: Cx) -> Tracked<()> {
    let book = cx.book().clone();
    Tracked::new(&book, node.name(), Box::pin(run(node, cx)))
}

async fn run(node: Rc<Node>, cx: Cx) {
    if !matches!(&*node, Node::Seq(_)) {
        cx.log(|| node.name().to_string());
    }
    match &*node {
        Node::Seq(items) => {
            for item in items {
                exec(item.clone(), cx.clone()).await;
            }
        }
        Node::Sleep(t) => {
            arbor::time::sleep(ms(*t)).await;
            cx.progressed("sleep");
        }
        Node::Yield => {
            arbor::yield_now().await;
            cx.progressed("yield_now");
        }
        Node::Checkpoint => {
            checkpoint().await;
            cx.progressed("checkpoint");
        }
        Node::Panic => {
            let id = cx.book().id();
            cx.log(|| format!("panic {id}"));
            cx.sink.fail(Fail::Panic(id));
            panic_any(PanicId(id));
        }
        Node::Spawn {
            slot,
            body,
            detach,
            remote,
        } => spawn_task(&cx, *slot, body.clone(), *detach, *remote),
        Node::Join { slot } => join_task(&cx, *slot).await,
        Node::Abort { slot } => {
            cx.log(|| format!("abort task{slot}"));
            abort_slot(&cx.w, *slot);
        }
        Node::LocalScope { value, body } => {
            let inner = Cx {
                local: Some(*value),
                ..cx.clone()
            };
            LOCAL.scope(*value, exec(body.clone(), inner)).await;
        }
        Node::CheckLocal => {
            let seen = LOCAL.try_with(|v| *v).ok();
            cx.log(|| format!("LOCAL = {seen:?}"));
            if seen != cx.local {
                cx.book().violation(
                    Kind::WrongLocal,
                    format!(
                        "task {} saw LOCAL = {seen:?}, expected {:?}",
                        cx.task.id, cx.local
                    ),
                );
            }
        }
        Node::AbortGuard { slot, body } => {
            let _guard = AbortOnDrop {
                w: cx.w.clone(),
                slot: *slot,
            };
            exec(body.clone(), cx.clone()).await;
        }
        Node::Nursery {
            id,
            supervisor,
            sref,
            reraise,
            body,
        } => run_nursery(&cx, *id, *supervisor, *sref, *reraise, body.clone()).await,
        Node::NSpawn {
            up,
            id,
            cslot,
            shielded,
            child,
            ..
        } => nursery_spawn(&cx, *up, *id, *cslot, *shielded, child.clone()),
        Node::NStart {
            up,
            id,
            pre,
            pre_end,
            post,
        } => nursery_start(&cx, *up, *id, pre.clone(), *pre_end, post.clone()).await,
        Node::NSet {
            up,
            id,
            children,
            steps,
            end,
        } => child_set::run_set(&cx, *up, *id, children, steps, *end).await,
        Node::NJoin { cslot } => join_child(&cx, *cslot).await,
        Node::NCancel { cslot } => {
            if let Some(slot) = cx.w.cslots.get(*cslot) {
                let handle = slot.handle.borrow();
                if let Some(h) = handle.as_ref() {
                    cx.log(|| format!("cancel c{cslot}"));
                    h.cancel();
                }
            }
        }
        Node::NCancelOwn { up } => {
            if let Some(l) = cx.nursery(*up) {
                cx.log(|| format!("cancel n{}", l.rec.id));
                l.rec.own_cancel.set(true);
                l.n.cancel_scope().cancel();
            }
        }
        Node::Scope { kind, sref, body } => run_scope(&cx, *kind, *sref, body.clone()).await,
        Node::CancelRef { sref } => {
            let entry = cx.w.srefs[*sref].handle.borrow().clone();
            if let Some((handle, nursery)) = entry {
                cx.log(|| format!("cancel scope ref {sref}"));
                if let Some(n) = nursery {
                    n.own_cancel.set(true);
                }
                handle.cancel();
            }
        }
        Node::Cancelled { timeout } => {
            let _ = move_on_after(ms(*timeout), cancelled()).await;
        }
        Node::CancelledKept { body } => {
            let mut noticed = std::pin::pin!(cancelled());
            if PollOnce(noticed.as_mut()).await.is_none() {
                cx.book().count("cancelled() kept pending");
                exec(body.clone(), cx.clone()).await;
            }
        }
        Node::Acquire {
            res,
            permits,
            timeout,
            body,
        } => acquire(&cx, *res, *permits, *timeout, body.clone()).await,
        Node::SetEvent { ev } => cx.w.events[*ev].set(),
        Node::WaitEvent { ev, timeout } => {
            let event = &cx.w.events[*ev];
            if let Some(((), kept)) = move_on_after(ms(*timeout), Kept::new(event.wait())).await {
                cx.progressed_unless_kept("Event::wait", kept);
                if !event.is_set() {
                    cx.book()
                        .violation(Kind::WrongOutcome, format!("ev{ev}.wait() returned unset"));
                }
            }
        }
        Node::Send {
            chan,
            count,
            timeout,
            try_,
        } => send(&cx, *chan, *count, *timeout, *try_).await,
        Node::Recv {
            chan,
            count,
            timeout,
            try_,
        } => recv(&cx, *chan, *count, *timeout, *try_).await,
        Node::CloseTx { chan } => {
            let tx = cx.w.chans[*chan].tx.borrow_mut().take();
            drop(tx);
        }
        Node::CloseRx { chan } => {
            let rx = cx.w.chans[*chan].rx.borrow_mut().take();
            drop(rx);
        }
        Node::Map {
            id,
            kind,
            limit,
            timeout,
            items,
        } => patterns::run_map(&cx, *id, *kind, *limit, *timeout, items).await,
        Node::Retry {
            id,
            policy,
            timeout,
            script,
        } => patterns::run_retry(&cx, *id, *policy, *timeout, script).await,
        Node::PoolGet {
            crowd,
            wrap,
            hold,
            discard,
        } => patterns::pool_crowd(&cx, *crowd, *wrap, *hold, *discard).await,
        Node::PoolClose { timeout } => patterns::pool_close(&cx, *timeout).await,
        Node::Write { len, timeout } => stream::write(&cx, *len, *timeout).await,
        Node::Read {
            max,
            count,
            timeout,
        } => stream::read(&cx, *max, *count, *timeout).await,
        Node::Flush { timeout } => stream::flush(&cx, *timeout).await,
        Node::Workers {
            up,
            id,
            workers,
            capacity,
            items,
            submit,
            end,
        } => patterns::run_workers(&cx, *up, *id, *workers, *capacity, items, *submit, *end).await,
    }
}

/// End a body the way the program says, recording it first.
fn finish(cx: &Cx, ending: Ending) -> TaskOut {
    match ending {
        Ending::Ok => {
            let v = match &cx.sink {
                Sink::Body(n) => {
                    n.body_value.set(Some(n.id));
                    n.id
                }
                _ => {
                    cx.task.out.set(Some(Out::Ok(cx.task.id)));
                    cx.task.id
                }
            };
            Ok(v)
        }
        Ending::Err => {
            let id = cx.book().id();
            cx.log(|| format!("returns Err({id})"));
            cx.sink.fail(Fail::Err(id));
            Err(Boom(id))
        }
        Ending::Panic => {
            let id = cx.book().id();
            cx.log(|| format!("panics {id}"));
            cx.sink.fail(Fail::Panic(id));
            panic_any(PanicId(id))
        }
    }
}

fn body_future(body: Rc<Body>, cx: Cx) -> BoxFut<TaskOut> {
    Box::pin(async move {
        exec(body.node.clone(), cx.clone()).await;
        finish(&cx, body.ending)
    })
}

fn panic_id(payload: &(dyn Any + Send)) -> Option<usize> {
    payload.downcast_ref::<PanicId>().map(|p| p.0)
}

pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<PanicId>() {
        format!("program panic {}", p.0)
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".into()
    }
}

fn spawn_task(cx: &Cx, slot: usize, body: Rc<Body>, detach: bool, remote: bool) {
    let w = cx.w.clone();
    let rec = TaskRec::new(w.book.id(), None, None);
    let tcx = Cx {
        w: w.clone(),
        task: rec.clone(),
        sink: Sink::Task(rec.clone()),
        nurseries: None,
        // `Handle::spawn` tasks start with no task-local.
        local: if remote { None } else { cx.local },
    };
    w.live_spawned.set(w.live_spawned.get() + 1);
    let w2 = w.clone();
    let fut = Tracked::new(&w.book, "task", body_future(body, tcx))
        .task(&rec)
        .on_end(move || w2.task_ended());
    let handle = if remote {
        TaskHandle::Remote(remote::spawn_remote(Box::pin(fut)))
    } else {
        TaskHandle::Local(arbor::spawn(fut))
    };
    cx.log(|| {
        let how = if remote { "Handle::spawn" } else { "spawn" };
        format!("{how} task{slot} = task {}", rec.id)
    });
    let s = &w.slots[slot];
    *s.rec.borrow_mut() = Some(rec);
    if !detach {
        *s.handle.borrow_mut() = Some(handle);
    }
}

async fn join_task(cx: &Cx, slot: usize) {
    let w = &cx.w;
    let handle = w.slots[slot].handle.borrow_mut().take();
    let rec = w.slots[slot].rec.borrow().clone();
    let (Some(handle), Some(rec)) = (handle, rec) else {
        return;
    };
    let (joined, kept) = Kept::new(handle.join()).await;
    cx.progressed_unless_kept("JoinHandle await", kept);
    let out = rec.out.get();
    let bad = match &joined {
        Joined::Value(Ok(v)) => out != Some(Out::Ok(*v)),
        Joined::Value(Err(Boom(e))) => out != Some(Out::Fail(Fail::Err(*e))),
        Joined::Panicked(_) => false,
        Joined::Cancelled => !rec.abort_requested.get(),
        Joined::Gone => true,
    };
    let result = match joined {
        Joined::Panicked(payload) => match panic_id(&*payload) {
            Some(p) if out == Some(Out::Fail(Fail::Panic(p))) => "panicked".to_string(),
            _ => {
                cx.book().violation(
                    Kind::WrongJoin,
                    format!(
                        "task{slot} (task {}) panicked with {:?}; its code recorded {out:?}",
                        rec.id,
                        panic_text(&*payload)
                    ),
                );
                return;
            }
        },
        other => format!("{other:?}"),
    };
    cx.log(|| format!("task{slot}.await = {result}"));
    cx.book().count("task joined");
    if bad {
        cx.book().violation(
            Kind::WrongJoin,
            format!(
                "task{slot} (task {}) joined as {result}; its code recorded {out:?}, aborted: {}",
                rec.id,
                rec.abort_requested.get()
            ),
        );
    }
}

pub fn abort_slot(w: &World, slot: usize) {
    let Some(s) = w.slots.get(slot) else {
        return;
    };
    let handle = s.handle.borrow();
    if let Some(h) = handle.as_ref() {
        if let Some(rec) = s.rec.borrow().as_ref() {
            rec.abort_requested.set(true);
            if !rec.ended.get() {
                w.book.count("running task aborted");
            }
        }
        h.abort();
    }
}

/// Aborts the task in `slot` when dropped.
struct AbortOnDrop {
    w: Rc<World>,
    slot: usize,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        abort_slot(&self.w, self.slot);
    }
}

async fn run_nursery(
    cx: &Cx,
    id: usize,
    supervisor: bool,
    sref: Option<usize>,
    reraise: bool,
    body: Rc<Body>,
) {
    let rec = NurseryRec::new(id, cx.task.clone());
    let (rec2, cx2) = (rec.clone(), cx.clone());
    let closure = async move |n: Nursery| -> TaskOut {
        if let Some(s) = sref {
            *cx2.w.srefs[s].handle.borrow_mut() = Some((n.cancel_scope(), Some(rec2.clone())));
        }
        let bcx = Cx {
            w: cx2.w.clone(),
            task: cx2.task.clone(),
            sink: Sink::Body(rec2.clone()),
            nurseries: Some(Rc::new(NList {
                n,
                rec: rec2.clone(),
                next: cx2.nurseries.clone(),
            })),
            local: cx2.local,
        };
        let rec3 = rec2.clone();
        Tracked::new(&cx2.w.book, "nursery body", body_future(body, bcx))
            .on_end(move || rec3.body_ended.set(true))
            .await
    };
    cx.log(|| {
        let kind = if supervisor { "supervisor" } else { "nursery" };
        format!("n{id} opens ({kind})")
    });
    let fut: BoxFut<Result<usize, NurseryError>> = if supervisor {
        Box::pin(arbor::supervisor(closure))
    } else {
        Box::pin(arbor::nursery(closure))
    };
    let out = NurseryWatch {
        inner: Some(Box::pin(CatchUnwind(fut))),
        rec: rec.clone(),
        book: cx.book().clone(),
    }
    .await;
    cx.log(|| {
        format!(
            "n{id} returns {}",
            match &out {
                Ok(r) => format!("{r:?}"),
                Err(p) => format!("panic ({})", panic_text(&**p)),
            }
        )
    });
    cx.book().count(match &out {
        Ok(Ok(_)) => "nursery returned Ok",
        Ok(Err(NurseryError::Failed(_))) => "nursery returned Failed",
        Ok(Err(NurseryError::Cancelled)) => "nursery returned Cancelled",
        Err(_) => "nursery re-raised a panic",
    });
    check_nursery(cx, &rec, &out);
    if let Err(payload) = out
        && let Some(p) = panic_id(&*payload).filter(|_| reraise)
    {
        cx.sink.fail(Fail::Panic(p));
        resume_unwind(payload);
    }
}

/// A nursery returned (or panicked): every child and the body are done,
/// and the result is what its failures and body say.
fn check_nursery(
    cx: &Cx,
    rec: &NurseryRec,
    out: &Result<Result<usize, NurseryError>, Box<dyn Any + Send>>,
) {
    let book = cx.book();
    let id = rec.id;
    let live: Vec<usize> = rec.live_children().iter().map(|c| c.id).collect();
    if !live.is_empty() {
        book.violation(
            Kind::EarlyReturn,
            format!("n{id} returned while its children {live:?} were still running"),
        );
    }
    if !rec.body_ended.get() {
        book.violation(
            Kind::EarlyReturn,
            format!("n{id} returned while its body was still alive"),
        );
    }
    let fails = rec.failures.borrow().clone();
    let first_panic = fails.iter().find_map(|f| match f {
        Fail::Panic(p) => Some(*p),
        Fail::Err(_) => None,
    });
    let errs: Vec<usize> = fails
        .iter()
        .filter_map(|f| match f {
            Fail::Err(e) => Some(*e),
            Fail::Panic(_) => None,
        })
        .collect();
    let wrong = |what: String| book.violation(Kind::WrongOutcome, format!("n{id}: {what}"));
    match out {
        Err(payload) => match panic_id(&**payload) {
            Some(p) if Some(p) == first_panic => {}
            Some(p) => wrong(format!(
                "re-raised panic {p}, but its failures were {fails:?}"
            )),
            None => book.violation(
                Kind::UnexpectedPanic,
                format!(
                    "n{id} raised a panic the program did not make: {}",
                    panic_text(&**payload)
                ),
            ),
        },
        Ok(result) => {
            if let Some(p) = first_panic {
                book.violation(
                    Kind::FailureLost,
                    format!("n{id}: panic {p} was not re-raised; the nursery returned {result:?}"),
                );
                return;
            }
            match result {
                Err(NurseryError::Failed(group)) => {
                    let got: Vec<Option<usize>> = group
                        .failures()
                        .iter()
                        .map(|f| f.error().downcast_ref::<Boom>().map(|b| b.0))
                        .collect();
                    let want: Vec<Option<usize>> = errs.iter().map(|e| Some(*e)).collect();
                    if got != want || group.dropped() != 0 {
                        wrong(format!(
                            "error group {got:?}, but its failures were {fails:?}"
                        ));
                    }
                }
                Err(NurseryError::Cancelled) => {
                    if !errs.is_empty() {
                        book.violation(
                            Kind::FailureLost,
                            format!("n{id} returned Cancelled and lost its errors {errs:?}"),
                        );
                    } else if let Some(v) = rec.body_value.get() {
                        book.violation(
                            Kind::ValueLost,
                            format!("n{id} returned Cancelled after its body returned {v}"),
                        );
                    } else if !rec.own_cancel.get() {
                        wrong("returned Cancelled, but its own scope was never cancelled".into());
                    }
                }
                Ok(v) => {
                    if !errs.is_empty() {
                        book.violation(
                            Kind::FailureLost,
                            format!("n{id} returned Ok({v}) and lost its errors {errs:?}"),
                        );
                    } else if rec.body_value.get() != Some(*v) {
                        wrong(format!(
                            "returned Ok({v}), but its body returned {:?}",
                            rec.body_value.get()
                        ));
                    }
                }
            }
        }
    }
}

fn nursery_spawn(
    cx: &Cx,
    up: usize,
    id: usize,
    cslot: Option<usize>,
    shielded: bool,
    child: Rc<Body>,
) {
    let Some(l) = cx.nursery(up) else {
        return;
    };
    let w = &cx.w;
    let rec = TaskRec::new(id, Some(l.rec.clone()), None);
    let ccx = Cx {
        w: w.clone(),
        task: rec.clone(),
        sink: Sink::Task(rec.clone()),
        nurseries: Some(l.clone()),
        local: cx.local,
    };
    let mut fut = body_future(child, ccx.clone());
    if shielded {
        fut = Box::pin(ShieldRegion::new(&ccx, None, Box::pin(shield(fut))));
    }
    let fut = Tracked::new(&w.book, "child", fut).task(&rec);
    match l.n.try_spawn(None, fut) {
        Ok(handle) => {
            rec.accepted.set(true);
            cx.log(|| format!("n{} spawns child {id}", l.rec.id));
            l.rec.children.borrow_mut().push(Rc::downgrade(&rec));
            if let Some(c) = cslot {
                *w.cslots[c].handle.borrow_mut() = Some(handle);
                *w.cslots[c].rec.borrow_mut() = Some(rec);
            }
        }
        Err(e) => {
            if !l.n.is_closed() {
                w.book.violation(
                    Kind::WrongOutcome,
                    format!("n{}: try_spawn failed ({e}) while open", l.rec.id),
                );
            }
        }
    }
}

async fn nursery_start(
    cx: &Cx,
    up: usize,
    id: usize,
    pre: Rc<Node>,
    pre_end: Option<Ending>,
    post: Rc<Body>,
) {
    let Some(l) = cx.nursery(up) else {
        return;
    };
    let w = cx.w.clone();
    let srec = Rc::new(StartRec {
        started: std::cell::Cell::new(false),
        pre_fail: std::cell::Cell::new(None),
    });
    let rec = TaskRec::started_by(
        id,
        Some(l.rec.clone()),
        Some(srec.clone()),
        Some(cx.task.clone()),
    );
    let ccx = Cx {
        w: w.clone(),
        task: rec.clone(),
        sink: Sink::Task(rec.clone()),
        nurseries: Some(l.clone()),
        local: cx.local,
    };
    let (rec2, srec2, book) = (rec.clone(), srec.clone(), w.book.clone());
    let (nrec, n) = (l.rec.clone(), l.n.clone());
    let n2 = n.clone();
    let start = async move {
        n.start(move |status: TaskStatus<usize>| {
            nrec.children.borrow_mut().push(Rc::downgrade(&rec2));
            // `start` spawns the child next; that fails only when closed.
            rec2.accepted.set(!n2.is_closed());
            let body: BoxFut<TaskOut> = Box::pin(async move {
                exec(pre, ccx.clone()).await;
                if let Some(ending) = pre_end {
                    return finish(&ccx, ending);
                }
                srec2.started.set(true);
                ccx.log(|| "started".into());
                let _ = status.started(ccx.task.id);
                exec(post.node.clone(), ccx.clone()).await;
                finish(&ccx, post.ending)
            });
            Tracked::new(&book, "child", body).task(&rec2)
        })
        .await
    };
    // The child's code runs inside the `start` call until `started`, so it
    // may cancel the caller's scope itself, and a shielded region in it
    // may finish (and call `started`) after the caller's scope was
    // cancelled. What the caller's cancellation must never do is end in
    // the child's own region: the call then returns `Cancelled` inside
    // the cancelled scope instead of that scope dropping it.
    let out = Probe::new(CatchUnwind(Box::pin(start))).await;
    if out.cancelled_before
        && out.polls > 1
        && matches!(out.output, Ok(Err(StartError::Cancelled)))
        && cx.book().features.has(Features::OUTER_CATCHES_START)
    {
        cx.book().violation(
            Kind::ProgressInCancelled,
            format!(
                "Nursery::start returned Err(Cancelled) on its poll {} inside the cancelled scope \
                 that cancelled its child (task {})",
                out.polls, cx.task.id
            ),
        );
    }
    let out = out.output;
    let started = srec.started.get();
    let pre_fail = srec.pre_fail.get();
    let fine = match &out {
        Ok(Ok(v)) => *v == id && started,
        Ok(Err(StartError::Failed(f))) => {
            let e = f.error().downcast_ref::<Boom>().map(|b| b.0);
            e.is_some() && pre_fail == e.map(Fail::Err)
        }
        Ok(Err(StartError::NotStarted)) => !started && matches!(rec.out.get(), Some(Out::Ok(_))),
        Ok(Err(StartError::Cancelled)) => !started && rec.out.get().is_none(),
        Ok(Err(StartError::Closed)) => l.n.is_closed(),
        Err(payload) => panic_id(&**payload).is_some_and(|p| pre_fail == Some(Fail::Panic(p))),
    };
    let shown = match &out {
        Ok(r) => format!("{r:?}"),
        Err(p) => format!("panic ({})", panic_text(&**p)),
    };
    cx.log(|| format!("start child {id} = {shown}"));
    cx.book().count(match &out {
        Ok(Ok(_)) => "start Ok",
        Ok(Err(StartError::Failed(_))) => "start Failed",
        Ok(Err(StartError::NotStarted)) => "start NotStarted",
        Ok(Err(StartError::Cancelled)) => "start Cancelled",
        Ok(Err(StartError::Closed)) => "start Closed",
        Err(_) => "start re-raised a panic",
    });
    if !fine {
        w.book.violation(
            Kind::WrongStart,
            format!(
                "start of child {id} gave {shown}; started: {started}, failure before started: {pre_fail:?}, ending: {:?}",
                rec.out.get()
            ),
        );
    }
}

async fn join_child(cx: &Cx, cslot: usize) {
    let w = &cx.w;
    let handle = w.cslots[cslot].handle.borrow_mut().take();
    let rec = w.cslots[cslot].rec.borrow().clone();
    let (Some(handle), Some(rec)) = (handle, rec) else {
        return;
    };
    let (result, kept) = Kept::new(handle).await;
    cx.progressed_unless_kept("child JoinHandle await", kept);
    let out = rec.out.get();
    let fine = match result {
        Ok(v) => out == Some(Out::Ok(v)),
        Err(ChildError::Failed) => matches!(out, Some(Out::Fail(Fail::Err(_)))),
        Err(ChildError::Panicked) => matches!(out, Some(Out::Fail(Fail::Panic(_)))),
        Err(ChildError::Cancelled) => out.is_none(),
    };
    cx.log(|| format!("c{cslot}.await = {result:?}"));
    cx.book().count(match result {
        Ok(_) => "child joined Ok",
        Err(ChildError::Failed) => "child joined Failed",
        Err(ChildError::Panicked) => "child joined Panicked",
        Err(ChildError::Cancelled) => "child joined Cancelled",
    });
    if !fine {
        w.book.violation(
            Kind::WrongJoin,
            format!(
                "child {} joined as {result:?}; its code recorded {out:?}",
                rec.id
            ),
        );
    }
}

async fn run_scope(cx: &Cx, kind: ScopeKind, sref: Option<usize>, body: Rc<Node>) {
    let inner = exec(body, cx.clone());
    let register = |handle| {
        if let Some(s) = sref {
            *cx.w.srefs[s].handle.borrow_mut() = Some((handle, None));
        }
    };
    let scope = match kind {
        ScopeKind::MoveOn(t) => {
            let out = move_on_after(ms(t), inner).await;
            cx.log(|| format!("move_on_after({t}ms) = {out:?}"));
            if out.is_none() {
                cx.book().count("cancel scope caught");
            }
            return;
        }
        ScopeKind::FailAfter(t) => {
            let out = fail_after(ms(t), inner).await;
            cx.log(|| format!("fail_after({t}ms) = {out:?}"));
            return;
        }
        ScopeKind::Shield => {
            ShieldRegion::new(cx, None, Box::pin(shield(inner))).await;
            return;
        }
        ScopeKind::Plain | ScopeKind::PreCancelled => CancelScope::new(),
        ScopeKind::Timeout(t) => CancelScope::new().with_timeout(ms(t)),
        ScopeKind::Deadline(t) => CancelScope::new().with_deadline(arbor::time::now() + ms(t)),
        ScopeKind::Shielded(own) => {
            let s = CancelScope::new().shielded(true);
            match own {
                Some(t) => s.with_timeout(ms(t)),
                None => s,
            }
        }
    };
    register(scope.handle());
    if kind == ScopeKind::PreCancelled {
        scope.cancel();
    }
    let fut = scope.run(inner);
    let out = if kind.is_shield() {
        ShieldRegion::new(cx, Some(scope.handle()), Box::pin(fut)).await
    } else {
        fut.await
    };
    cx.log(|| format!("{kind:?} = {out:?}"));
    if out.is_err() {
        cx.book().count("cancel scope caught");
    }
    if out.is_err() && !(scope.cancel_called() && scope.cancelled_caught()) {
        cx.book().violation(
            Kind::WrongScope,
            format!(
                "{kind:?} returned Cancelled; cancel_called {}, cancelled_caught {}",
                scope.cancel_called(),
                scope.cancelled_caught()
            ),
        );
    }
}

/// The program's count of permits out; dropped before the permit.
struct PermitOut<'a, P> {
    rec: &'a SemRec,
    n: usize,
    _permit: P,
}

impl<P> Drop for PermitOut<'_, P> {
    fn drop(&mut self) {
        self.rec.out.set(self.rec.out.get() - self.n);
    }
}

/// The program's "held" flag of a lock; cleared before the guard.
struct HeldFlag<'a, G> {
    flag: &'a std::cell::Cell<bool>,
    _guard: G,
}

impl<G> Drop for HeldFlag<'_, G> {
    fn drop(&mut self) {
        self.flag.set(false);
    }
}

async fn bounded<F: Future>(timeout: Option<u32>, fut: F) -> Option<F::Output> {
    match timeout {
        Some(t) => move_on_after(ms(t), fut).await,
        None => Some(fut.await),
    }
}

async fn acquire(cx: &Cx, res: Res, permits: usize, timeout: Option<u32>, body: Rc<Node>) {
    let w = cx.w.clone();
    let book = w.book.clone();
    match res {
        Res::Sem(i) => {
            let rec = &w.sems[i];
            let Some((permit, kept)) =
                bounded(timeout, Kept::new(rec.sem.acquire_many(permits))).await
            else {
                return;
            };
            cx.progressed_unless_kept("Semaphore::acquire_many", kept);
            cx.book().count("permits acquired");
            let permit = match permit {
                Ok(p) => p,
                Err(e) => {
                    book.violation(Kind::WrongOutcome, format!("acquire_many({permits}): {e}"));
                    return;
                }
            };
            let out = rec.out.get() + permits;
            if out > rec.initial {
                book.violation(
                    Kind::Exclusion,
                    format!("semaphore {i}: {out} permits out of {}", rec.initial),
                );
            }
            rec.out.set(out);
            cx.log(|| format!("holds {permits} of sem{i}"));
            let _held = PermitOut {
                rec,
                n: permits,
                _permit: permit,
            };
            exec(body, cx.clone()).await;
        }
        Res::Lock => {
            let Some((guard, kept)) = bounded(timeout, Kept::new(w.lock.lock())).await else {
                return;
            };
            cx.progressed_unless_kept("Lock::lock", kept);
            let guard = match guard {
                Ok(g) => g,
                Err(e) => return lock_error(&book, "Lock", e),
            };
            if w.lock_held.replace(true) {
                book.violation(Kind::Exclusion, "two holders of the Lock");
            }
            cx.log(|| "holds the Lock".into());
            let _held = HeldFlag {
                flag: &w.lock_held,
                _guard: guard,
            };
            exec(body, cx.clone()).await;
        }
        Res::Mutex => {
            let Some((guard, kept)) = bounded(timeout, Kept::new(w.mutex.lock())).await else {
                return;
            };
            cx.progressed_unless_kept("Mutex::lock", kept);
            let mut guard = match guard {
                Ok(g) => g,
                Err(e) => return lock_error(&book, "Mutex", e),
            };
            if *guard != w.mutex_count.get() {
                book.violation(
                    Kind::Exclusion,
                    "the Mutex's value changed under its holder",
                );
            }
            *guard += 1;
            w.mutex_count.set(*guard);
            cx.log(|| "holds the Mutex".into());
            exec(body, cx.clone()).await;
            drop(guard);
        }
    }
}

fn lock_error(book: &Book, what: &str, e: LockError) {
    book.violation(Kind::Exclusion, format!("{what}::lock failed: {e}"));
}

async fn send(cx: &Cx, chan: usize, count: u32, timeout: Option<u32>, try_: bool) {
    let w = &cx.w;
    let c = &w.chans[chan];
    let tx = c.tx.borrow().clone();
    let Some(tx) = tx else {
        return;
    };
    for _ in 0..count {
        let msg = Msg::new(&w.book, chan, &c.rx_gone);
        let id = msg.id;
        if try_ {
            match tx.try_send(msg) {
                Ok(()) => Msg::ack(&w.book, id),
                Err(e) => e.into_inner().returned(),
            }
            continue;
        }
        match bounded(timeout, Kept::new(tx.send(msg))).await {
            Some((Ok(()), kept)) => {
                cx.progressed_unless_kept("Sender::send", kept);
                Msg::ack(&w.book, id);
                cx.log(|| format!("sent message {id} on ch{chan}"));
            }
            Some((Err(e), kept)) => {
                cx.progressed_unless_kept("Sender::send", kept);
                e.into_inner().returned();
                break;
            }
            None => break,
        }
    }
}

async fn recv(cx: &Cx, chan: usize, count: u32, timeout: Option<u32>, try_: bool) {
    let w = &cx.w;
    let c = &w.chans[chan];
    let rx = c.rx.borrow().clone();
    let Some(rx) = rx else {
        return;
    };
    for _ in 0..count {
        if try_ {
            match rx.rx.try_recv() {
                Ok(m) => m.received(chan),
                Err(_) => break,
            }
            continue;
        }
        match bounded(timeout, Kept::new(rx.rx.recv())).await {
            Some((Ok(m), kept)) => {
                cx.progressed_unless_kept("Receiver::recv", kept);
                cx.log(|| format!("received message {} on ch{chan}", m.id));
                m.received(chan);
            }
            Some((Err(_), kept)) => {
                cx.progressed_unless_kept("Receiver::recv", kept);
                break;
            }
            None => break,
        }
    }
}
