//! `Node::Workers`: a `WorkerPool` over scripted items, and the checks of
//! what it handled, handed back and dropped.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use arbor::move_on_after;
use arbor::patterns::WorkerPool;
use arbor::patterns::worker::{Closed, TrySubmitError, WorkerError};

use super::Oops;
use crate::interp::{Cx, Kept, ms};
use crate::program::{Step, WorkersEnd};
use crate::world::{Book, Kind, TaskRec, Token};

/// What the interpreter knows of one `WorkerPool` node.
struct WorkersModel {
    id: usize,
    /// Per item: submitted and accepted (`Ok`), handled (handler calls),
    /// handed back.
    accepted: Vec<Cell<bool>>,
    handled: Vec<Cell<u32>>,
    /// Dropped without being handled.
    dropped: Vec<Cell<bool>>,
    /// Errors the handler returned, and those `on_error` got.
    errors: RefCell<Vec<usize>>,
    reported: RefCell<Vec<usize>>,
    /// `cancel()` was called.
    cancelled: Cell<bool>,
    /// Stands for the workers, children of the pool's nursery: whether
    /// they are torn down from outside (their task aborted...).
    workers: Rc<TaskRec>,
}

/// An item: carries a drop token, checks its own drop.
struct Item {
    i: usize,
    model: Rc<WorkersModel>,
    book: Rc<Book>,
    handled: bool,
    _token: Token,
}

impl Drop for Item {
    fn drop(&mut self) {
        let m = &self.model;
        if !self.handled {
            m.dropped[self.i].set(true);
            if m.accepted[self.i].get() {
                self.book
                    .count("worker item accepted and dropped unhandled");
            }
        }
        if m.accepted[self.i].get()
            && !self.handled
            && !m.cancelled.get()
            && !m.workers.doomed(&self.book)
            && !arbor::lowlevel::current_is_cancelled()
            && !std::thread::panicking()
        {
            self.book.violation(
                Kind::Message,
                format!(
                    "w{}: item {} was accepted and dropped unhandled outside any cancellation",
                    m.id, self.i
                ),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn run_workers(
    cx: &Cx,
    up: usize,
    id: usize,
    workers: usize,
    capacity: usize,
    items: &[Step],
    submit: Option<u32>,
    end: WorkersEnd,
) {
    let Some(l) = cx.nursery(up) else {
        return;
    };
    let book = cx.book().clone();
    let n = items.len();
    let model = Rc::new(WorkersModel {
        id,
        accepted: (0..n).map(|_| Cell::new(false)).collect(),
        handled: (0..n).map(|_| Cell::new(0)).collect(),
        dropped: (0..n).map(|_| Cell::new(false)).collect(),
        errors: RefCell::new(Vec::new()),
        reported: RefCell::new(Vec::new()),
        cancelled: Cell::new(false),
        workers: TaskRec::new(0, Some(l.rec.clone()), None),
    });
    let steps: Rc<Vec<Step>> = Rc::new(items.to_vec());
    let (hm, hbook, hcx) = (model.clone(), book.clone(), cx.clone());
    let handler = async move |mut item: Item| -> Result<usize, Oops> {
        item.handled = true;
        let i = item.i;
        let times = hm.handled[i].get() + 1;
        hm.handled[i].set(times);
        hcx.log(|| format!("w{} handles item {i}", hm.id));
        if times > 1 {
            hbook.violation(
                Kind::Message,
                format!("w{}: item {i} handled {times} times", hm.id),
            );
        }
        let step = steps[i];
        arbor::time::sleep(ms(step.sleep)).await;
        drop(item);
        if step.fails {
            hm.errors.borrow_mut().push(i);
            Err(Oops {
                id: i,
                fatal: false,
            })
        } else {
            Ok(i)
        }
    };
    let (em, ebook) = (model.clone(), book.clone());
    let builder = WorkerPool::builder(workers, capacity, handler).on_error(
        move |e: WorkerError<Oops>| match e {
            WorkerError::Failed(Oops { id: i, .. }) => {
                if em.reported.borrow().contains(&i) || !em.errors.borrow().contains(&i) {
                    ebook.violation(
                        Kind::Message,
                        format!("w{}: on_error got item {i}'s error again or unasked", em.id),
                    );
                }
                em.reported.borrow_mut().push(i);
            }
            other => ebook.violation(
                Kind::UnexpectedPanic,
                format!("w{}: on_error got {other:?}", em.id),
            ),
        },
    );
    let pool: WorkerPool<Item> = match builder.try_start(&l.n) {
        Ok(pool) => pool,
        Err(e) => {
            if !l.n.is_closed() {
                book.violation(
                    Kind::WrongOutcome,
                    format!("w{id}: try_start failed ({e}) while the nursery is open"),
                );
            }
            return;
        }
    };
    cx.log(|| format!("w{id} started in n{}", l.rec.id));
    for i in 0..n {
        let item = Item {
            i,
            model: model.clone(),
            book: book.clone(),
            handled: false,
            _token: book.token("worker item"),
        };
        let back = match submit {
            Some(t) => match move_on_after(ms(t), Kept::new(pool.submit(item))).await {
                None => {
                    cx.log(|| format!("w{id}: submit of item {i} cancelled"));
                    continue;
                }
                Some((Ok(()), kept)) => {
                    cx.progressed_unless_kept("WorkerPool::submit", kept);
                    None
                }
                Some((Err(Closed(item)), kept)) => {
                    cx.progressed_unless_kept("WorkerPool::submit", kept);
                    Some(item)
                }
            },
            None => match pool.try_submit(item) {
                Ok(()) => None,
                Err(TrySubmitError::Full(item) | TrySubmitError::Closed(item)) => Some(item),
            },
        };
        match back {
            None => {
                cx.log(|| format!("w{id}: item {i} submitted"));
                book.count("worker item accepted");
                // Taken (and handled) already if a worker was waiting.
                model.accepted[i].set(true);
            }
            Some(item) => {
                book.count("worker item handed back");
                if item.i != i || item.handled || model.handled[i].get() != 0 {
                    book.violation(
                        Kind::Message,
                        format!("w{id}: submit of item {i} handed back item {}", item.i),
                    );
                }
            }
        }
    }
    match end {
        WorkersEnd::Drop => drop(pool),
        WorkersEnd::Cancel => {
            model.cancelled.set(true);
            pool.cancel();
        }
        WorkersEnd::CloseJoin(t) => {
            pool.close();
            let Some(((), kept)) = move_on_after(ms(t), Kept::new(pool.join())).await else {
                return;
            };
            cx.progressed_unless_kept("WorkerPool::join", kept);
            book.count("worker pool joined");
            // Every worker has ended: each accepted item was handled, or
            // dropped (in a cancellation, as its drop checked), and each
            // handler error reported.
            let lost: Vec<usize> = (0..n)
                .filter(|&i| {
                    model.accepted[i].get()
                        && model.handled[i].get() == 0
                        && !model.dropped[i].get()
                })
                .collect();
            let unreported: Vec<usize> = model
                .errors
                .borrow()
                .iter()
                .copied()
                .filter(|i| !model.reported.borrow().contains(i))
                .collect();
            if !lost.is_empty() || !unreported.is_empty() {
                book.violation(
                    Kind::Message,
                    format!(
                        "w{id}: after join, accepted items {lost:?} were neither handled nor \
                         dropped, and errors of items {unreported:?} never reached on_error"
                    ),
                );
            }
        }
    }
}
