//! `Node::NSet`: children spawned into a nursery's `ChildSet`, and the
//! checks on what the set gives back.
//!
//! Each child's future is wrapped (inside its drop token) in an [`Ends`]
//! that notes what the set must receive from it, and when: `Ok(v)` or
//! `Failed` in the poll where its code returns, `Panicked` where it
//! panics, `Cancelled` once code that never finished is dropped. The
//! child's task hands its result to the set right after, in the same
//! poll, so no other code runs in between: the interpreter's queue of
//! ended children is the set's queue of results. Each `join_next` (and
//! `try_join_next`) must return the front of that queue, so results come
//! in the order the children ended, each once, and each is what the
//! child's own code recorded (its `Out`, as for a `ChildHandle`);
//! `join_next` returns `None` only when the queue is empty and no child
//! runs; `len()` is the children running plus the results waiting. A
//! `join_next` cancelled (a timeout, a scope cancelled before it runs or
//! by a child of the set while it waits or holds a result at its
//! schedule point) or dropped after one poll must leave its result in the
//! set: a lost one shows up
//! as a later `join_next` returning the wrong result, or `None`, or
//! `len()` counting one too few.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor::{CancelHandle, CancelScope, ChildError, ChildSet, JoinNext, move_on_after, shield};

use super::{BoxFut, Cx, PollOnce, ShieldRegion, Sink, Tracked, exec, finish, ms};
use crate::program::{JoinWrap, SetChild, SetEnd, SetStep};
use crate::world::{Fail, Kind, Out, TaskOut, TaskRec};

/// What `join_next` gives for one child.
type Got = Result<usize, ChildError>;

/// The interpreter's view of one set.
struct SetModel {
    id: usize,
    recs: Vec<Rc<TaskRec>>,
    /// The nursery accepted the child.
    accepted: Vec<Cell<bool>>,
    /// What each child's end hands the set, and its end number.
    ended: Vec<Cell<Option<(Got, u64)>>>,
    /// Accepted children that ended and whose result was not taken, in
    /// the order they ended.
    queue: RefCell<VecDeque<usize>>,
    /// How often each child's result was taken.
    returned: Vec<Cell<u32>>,
    /// The scope of the `join_next` in progress (`JoinWrap::Scope`).
    join_scope: RefCell<Option<CancelHandle>>,
}

impl SetModel {
    fn child_id(&self, i: usize) -> usize {
        self.recs[i].id
    }

    /// Child `i` ended: its result goes to the set next.
    fn ended(&self, cx: &Cx, i: usize, got: Got) {
        let seq = cx.w.next_end_seq();
        if self.ended[i].replace(Some((got, seq))).is_some() {
            cx.book().violation(
                Kind::WrongJoin,
                format!("child {} of s{} ended twice", self.child_id(i), self.id),
            );
            return;
        }
        cx.log(|| format!("ends for s{} as {got:?} (end #{seq})", self.id));
        if self.accepted[i].get() {
            self.queue.borrow_mut().push_back(i);
        }
    }

    fn running(&self) -> Vec<usize> {
        (0..self.recs.len())
            .filter(|&i| self.accepted[i].get() && self.ended[i].get().is_none())
            .map(|i| self.child_id(i))
            .collect()
    }

    fn waiting(&self) -> Vec<usize> {
        self.queue
            .borrow()
            .iter()
            .map(|&i| self.child_id(i))
            .collect()
    }

    /// `how` gave `got`: the result of the child that ended first among
    /// those not taken yet, and what that child's code recorded.
    fn took(&self, cx: &Cx, got: Got, how: &str) {
        let id = self.id;
        cx.log(|| format!("s{id}.{how} = {got:?}"));
        let book = cx.book();
        book.count(match got {
            Ok(_) => "set result Ok",
            Err(ChildError::Failed) => "set result Failed",
            Err(ChildError::Panicked) => "set result Panicked",
            Err(ChildError::Cancelled) => "set result Cancelled",
        });
        let mut queue = self.queue.borrow_mut();
        let gives = |i: usize| self.ended[i].get().map(|e| e.0) == Some(got);
        let Some(pos) = queue.iter().position(|&i| gives(i)) else {
            let waiting: Vec<(usize, Option<(Got, u64)>)> = queue
                .iter()
                .map(|&i| (self.child_id(i), self.ended[i].get()))
                .collect();
            drop(queue);
            let again: Vec<usize> = (0..self.recs.len())
                .filter(|&i| self.returned[i].get() > 0 && gives(i))
                .map(|i| self.child_id(i))
                .collect();
            book.violation(
                Kind::WrongJoin,
                format!(
                    "s{id}.{how} returned {got:?}, which no child whose result was still to be \
                     taken gives (waiting: {waiting:?}; already taken, giving the same: {again:?})"
                ),
            );
            return;
        };
        let i = queue.remove(pos).expect("found above");
        let first = (pos > 0).then(|| queue[0]);
        drop(queue);
        let seq = |i: usize| self.ended[i].get().map_or(0, |e| e.1);
        if let Some(f) = first {
            book.violation(
                Kind::WrongJoin,
                format!(
                    "s{id}.{how} returned the result of child {} (end #{}) before that of child {} \
                     (end #{}), which ended first",
                    self.child_id(i),
                    seq(i),
                    self.child_id(f),
                    seq(f)
                ),
            );
        }
        let times = self.returned[i].get() + 1;
        self.returned[i].set(times);
        if times > 1 {
            book.violation(
                Kind::WrongJoin,
                format!(
                    "s{id}.{how}: the result of child {} was returned {times} times",
                    self.child_id(i)
                ),
            );
        }
        let out = self.recs[i].out.get();
        let fine = match got {
            Ok(v) => out == Some(Out::Ok(v)),
            Err(ChildError::Failed) => matches!(out, Some(Out::Fail(Fail::Err(_)))),
            Err(ChildError::Panicked) => matches!(out, Some(Out::Fail(Fail::Panic(_)))),
            Err(ChildError::Cancelled) => out.is_none(),
        };
        if !fine {
            book.violation(
                Kind::WrongJoin,
                format!(
                    "s{id}.{how} returned {got:?} for child {}; its code recorded {out:?}",
                    self.child_id(i)
                ),
            );
        }
    }

    /// `join_next` returned `None` (`all`), or `try_join_next` did: no
    /// result waits (and, for `join_next`, no child runs).
    fn none(&self, cx: &Cx, how: &str, all: bool) {
        let id = self.id;
        cx.log(|| format!("s{id}.{how} = None"));
        let waiting = self.waiting();
        let running = if all { self.running() } else { Vec::new() };
        if !waiting.is_empty() || !running.is_empty() {
            cx.book().violation(
                Kind::ResultLost,
                format!(
                    "s{id}.{how} returned None while the results of children {waiting:?} were \
                     still to be taken and children {running:?} still ran"
                ),
            );
        }
    }

    /// `len()` counts the children running and the results waiting.
    fn check_len(&self, cx: &Cx, set: &ChildSet<usize>, after: &str) {
        let (running, waiting) = (self.running(), self.waiting());
        let len = set.len();
        if len != running.len() + waiting.len() || set.is_empty() != (len == 0) {
            cx.book().violation(
                Kind::ResultLost,
                format!(
                    "s{}.len() is {len} (is_empty: {}) after {after}, but children {running:?} \
                     run and the results of {waiting:?} wait",
                    self.id,
                    set.is_empty()
                ),
            );
        }
    }
}

/// A set child's future, noting its end in the model (see the module
/// docs).
struct Ends {
    inner: Option<BoxFut<TaskOut>>,
    model: Rc<SetModel>,
    index: usize,
    cx: Cx,
    done: bool,
}

impl Future for Ends {
    type Output = TaskOut;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskOut> {
        let this = self.get_mut();
        let inner = this.inner.as_mut().expect("polled after it ended");
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                this.done = true;
                let got = match &out {
                    Ok(v) => Ok(*v),
                    Err(_) => Err(ChildError::Failed),
                };
                this.model.ended(&this.cx, this.index, got);
                Poll::Ready(out)
            }
            Err(payload) => {
                this.done = true;
                this.model
                    .ended(&this.cx, this.index, Err(ChildError::Panicked));
                resume_unwind(payload)
            }
        }
    }
}

impl Drop for Ends {
    fn drop(&mut self) {
        // The code goes first: whatever its drop runs happens before the
        // set hears of this child.
        let inner = self.inner.take();
        drop(inner);
        if !self.done {
            self.model
                .ended(&self.cx, self.index, Err(ChildError::Cancelled));
        }
    }
}

/// A `join_next` in progress: it may complete inside a cancelled scope
/// only by handing over the result it took at its schedule point (which
/// `JoinNext`'s `Debug` shows), never by taking one there.
struct JoinProbe<'a> {
    inner: JoinNext<'a, usize>,
    cx: &'a Cx,
    set: usize,
}

impl Future for JoinProbe<'_> {
    type Output = Option<Got>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Got>> {
        let this = self.get_mut();
        let cancelled = arbor::lowlevel::current_is_cancelled();
        let holding = cancelled && format!("{:?}", this.inner).contains("holding_result: true");
        let out = Pin::new(&mut this.inner).poll(cx);
        if let Poll::Ready(got) = &out
            && cancelled
        {
            if holding {
                this.cx
                    .book()
                    .count("set result handed over in a cancelled scope");
            } else {
                this.cx.book().violation(
                    Kind::ProgressInCancelled,
                    format!(
                        "s{}.join_next() returned {got:?} inside a cancelled scope, not holding a \
                         result from before (task {})",
                        this.set, this.cx.task.id
                    ),
                );
            }
        }
        out
    }
}

impl Drop for JoinProbe<'_> {
    fn drop(&mut self) {
        if format!("{:?}", self.inner).contains("holding_result: true") {
            self.cx
                .log(|| format!("s{}.join_next() dropped holding a result", self.set));
            self.cx
                .book()
                .count("set join_next dropped holding a result");
        }
    }
}

/// The code of a set child.
fn child_code(c: &SetChild, cx: Cx, model: Rc<SetModel>) -> BoxFut<TaskOut> {
    let (body, cancels_join) = (c.body.clone(), c.cancels_join);
    Box::pin(async move {
        exec(body.node.clone(), cx.clone()).await;
        if cancels_join {
            let scope = model.join_scope.borrow().clone();
            if let Some(scope) = scope {
                cx.log(|| format!("cancels the scope of s{}'s join_next", model.id));
                scope.cancel();
            }
        }
        finish(&cx, body.ending)
    })
}

/// One `join_next`, awaited as `wrap` says: what it returned, unless it
/// was cancelled.
async fn join(
    cx: &Cx,
    set: &mut ChildSet<usize>,
    model: &SetModel,
    wrap: JoinWrap,
) -> Option<Option<Got>> {
    let probe = JoinProbe {
        inner: set.join_next(),
        cx,
        set: model.id,
    };
    let out = match wrap {
        JoinWrap::Plain => Some(probe.await),
        JoinWrap::MoveOn(t) => move_on_after(ms(t), probe).await,
        JoinWrap::PreCancelled => {
            let scope = CancelScope::new();
            scope.cancel();
            scope.run(probe).await.ok()
        }
        JoinWrap::PollOnce => {
            let mut probe = std::pin::pin!(probe);
            PollOnce(probe.as_mut()).await
        }
        JoinWrap::Scope => {
            let scope = CancelScope::new();
            *model.join_scope.borrow_mut() = Some(scope.handle());
            let out = scope.run(probe).await;
            model.join_scope.borrow_mut().take();
            if out.is_err() && !(scope.cancel_called() && scope.cancelled_caught()) {
                cx.book().violation(
                    Kind::WrongScope,
                    format!(
                        "the scope of s{}.join_next() returned Cancelled; cancel_called {}, \
                         cancelled_caught {}",
                        model.id,
                        scope.cancel_called(),
                        scope.cancelled_caught()
                    ),
                );
            }
            out.ok()
        }
    };
    let how = match wrap {
        JoinWrap::Plain => "join_next()".to_string(),
        other => format!("join_next() in {other:?}"),
    };
    match out {
        Some(Some(got)) => model.took(cx, got, &how),
        Some(None) => model.none(cx, &how, true),
        None => {
            cx.log(|| format!("s{}.{how} was cancelled (or dropped)", model.id));
            cx.book().count("set join_next cancelled or dropped");
        }
    }
    out
}

pub async fn run_set(
    cx: &Cx,
    up: usize,
    id: usize,
    children: &[SetChild],
    steps: &[SetStep],
    end: SetEnd,
) {
    let Some(l) = cx.nursery(up) else {
        return;
    };
    let w = &cx.w;
    let count = children.len();
    let model = Rc::new(SetModel {
        id,
        recs: children
            .iter()
            .map(|c| TaskRec::new(c.id, Some(l.rec.clone()), None))
            .collect(),
        accepted: (0..count).map(|_| Cell::new(false)).collect(),
        ended: (0..count).map(|_| Cell::new(None)).collect(),
        queue: RefCell::new(VecDeque::new()),
        returned: (0..count).map(|_| Cell::new(0)).collect(),
        join_scope: RefCell::new(None),
    });
    let mut set: ChildSet<usize> = l.n.child_set();
    cx.log(|| format!("s{id} = n{}.child_set()", l.rec.id));
    let mut handles: Vec<Option<CancelHandle>> = Vec::new();
    for (i, c) in children.iter().enumerate() {
        let rec = model.recs[i].clone();
        let ccx = Cx {
            w: w.clone(),
            task: rec.clone(),
            sink: Sink::Task(rec.clone()),
            nurseries: Some(l.clone()),
            local: cx.local,
        };
        let mut code = child_code(c, ccx.clone(), model.clone());
        if c.shielded {
            code = Box::pin(ShieldRegion::new(&ccx, None, Box::pin(shield(code))));
        }
        let ends = Ends {
            inner: Some(code),
            model: model.clone(),
            index: i,
            cx: ccx,
            done: false,
        };
        let fut = Tracked::new(&w.book, "set child", Box::pin(ends)).task(&rec);
        match set.try_spawn(None, fut) {
            Ok(handle) => {
                rec.accepted.set(true);
                model.accepted[i].set(true);
                // Spawns are queued today, so this never happens.
                if model.ended[i].get().is_some() {
                    model.queue.borrow_mut().push_back(i);
                }
                cx.log(|| format!("s{id} spawns child {}", c.id));
                l.rec.children.borrow_mut().push(Rc::downgrade(&rec));
                handles.push(Some(handle));
            }
            Err(e) => {
                if !l.n.is_closed() {
                    w.book.violation(
                        Kind::WrongOutcome,
                        format!("s{id} of n{}: try_spawn failed ({e}) while open", l.rec.id),
                    );
                }
                handles.push(None);
            }
        }
    }
    model.check_len(cx, &set, "the spawns");
    for step in steps {
        match *step {
            SetStep::Join(wrap) => {
                join(cx, &mut set, &model, wrap).await;
            }
            SetStep::TryJoin => match set.try_join_next() {
                Some(got) => model.took(cx, got, "try_join_next()"),
                None => model.none(cx, "try_join_next()", false),
            },
            SetStep::Pause(t) => {
                arbor::time::sleep(ms(t)).await;
                cx.progressed("sleep");
            }
            SetStep::Cancel(i) => {
                if let Some(Some(handle)) = handles.get(i) {
                    cx.log(|| format!("cancel child {} of s{id}", children[i].id));
                    handle.cancel();
                }
            }
            SetStep::CancelAll => {
                cx.log(|| format!("s{id}.cancel_all()"));
                set.cancel_all();
            }
        }
        model.check_len(cx, &set, &format!("{step:?}"));
    }
    match end {
        SetEnd::JoinAll => {
            while join(cx, &mut set, &model, JoinWrap::Plain).await != Some(None) {}
            w.book.count("set joined to the end");
            model.check_len(cx, &set, "the joins");
            let not_once: Vec<(usize, u32)> = (0..count)
                .filter(|&i| model.accepted[i].get() && model.returned[i].get() != 1)
                .map(|i| (children[i].id, model.returned[i].get()))
                .collect();
            if !not_once.is_empty() {
                w.book.violation(
                    Kind::ResultLost,
                    format!(
                        "s{id}: after join_next returned None, these children's results were \
                         taken other than once (child, times): {not_once:?}"
                    ),
                );
            }
        }
        SetEnd::Drop => {
            let running = model.running();
            cx.log(|| format!("drop(s{id}) with children {running:?} running"));
            w.book.count(if running.is_empty() {
                "set dropped with no child running"
            } else {
                "set dropped with children running"
            });
            drop(set);
        }
    }
}
