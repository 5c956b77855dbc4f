//! Spawned tasks: spawning, joining and aborting them.

use std::rc::Rc;

use super::remote::{self, Joined, TaskHandle};
use super::{Cx, Kept, Sink, Tracked, body_future, panic_id, panic_text};
use crate::program::Body;
use crate::world::{Boom, Fail, Kind, Out, TaskRec, World};

pub(super) fn spawn_task(cx: &Cx, slot: usize, body: Rc<Body>, detach: bool, remote: bool) {
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

pub(super) async fn join_task(cx: &Cx, slot: usize) {
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
pub(super) struct AbortOnDrop {
    pub(super) w: Rc<World>,
    pub(super) slot: usize,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        abort_slot(&self.w, self.slot);
    }
}
