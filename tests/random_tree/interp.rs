//! Runs a generated program on arbor, recording what the checks need.
//!
//! Every node runs as its own boxed future inside a [`Tracked`] wrapper
//! whose token counts the drop. Failures are recorded just before the `Err`
//! is returned or the panic raised, in the record of whoever must surface
//! them: a nursery (for its body and children), a `start` call (for a
//! child that has not started), or a task (for its `JoinHandle`).

use std::any::Any;
use std::future::Future;
use std::panic::panic_any;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use arbor::{cancelled, checkpoint, move_on_after};

use super::program::{Body, Ending, Node};
use super::world::{
    Book, Boom, Fail, Kind, NList, NurseryRec, Out, PanicId, TaskOut, TaskRec, World,
};

#[path = "child_set.rs"]
mod child_set;
#[path = "interp/nursery.rs"]
mod nursery;
#[path = "patterns.rs"]
pub mod patterns;
#[path = "interp/primitives.rs"]
mod primitives;
#[path = "remote.rs"]
pub mod remote;
#[path = "interp/scope.rs"]
mod scope;
#[path = "stream.rs"]
pub mod stream;
#[path = "interp/tasks.rs"]
mod tasks;
#[path = "interp/wrappers.rs"]
mod wrappers;

use nursery::{join_child, nursery_spawn, nursery_start, run_nursery};
use primitives::{acquire, recv, send};
use scope::{bounded, run_scope};
pub use tasks::abort_slot;
use tasks::{AbortOnDrop, join_task, spawn_task};
use wrappers::{CatchUnwind, Kept, PollOnce, Probe, ShieldRegion, Tracked};

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
