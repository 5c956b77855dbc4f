//! Nurseries: running one, its children (`spawn`, `start`, joins), and
//! the check of its result.

use std::any::Any;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor::{ChildError, Nursery, NurseryError, StartError, TaskStatus, shield};

use super::{
    BoxFut, CatchUnwind, Cx, Kept, Probe, ShieldRegion, Sink, Tracked, body_future, exec, finish,
    panic_id, panic_text,
};
use crate::features::Features;
use crate::program::{Body, Ending, Node};
use crate::world::{Book, Boom, Fail, Kind, NList, NurseryRec, Out, StartRec, TaskOut, TaskRec};

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

pub(super) async fn run_nursery(
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

pub(super) fn nursery_spawn(
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

pub(super) async fn nursery_start(
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

pub(super) async fn join_child(cx: &Cx, cslot: usize) {
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
