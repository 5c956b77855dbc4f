//! The primitives: semaphores, locks and mutexes held over a body, and
//! channel sends and receives.

use std::rc::Rc;

use arbor::primitives::LockError;

use super::{Cx, Kept, bounded, exec};
use crate::program::{Node, Res};
use crate::world::{Book, Kind, Msg, SemRec};

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

pub(super) async fn acquire(
    cx: &Cx,
    res: Res,
    permits: usize,
    timeout: Option<u32>,
    body: Rc<Node>,
) {
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

pub(super) async fn send(cx: &Cx, chan: usize, count: u32, timeout: Option<u32>, try_: bool) {
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

pub(super) async fn recv(cx: &Cx, chan: usize, count: u32, timeout: Option<u32>, try_: bool) {
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
