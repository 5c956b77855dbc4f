//! Taking a slot: [`AcquireSlot`], the FIFO wait of `get`, and [`Slot`],
//! the RAII holder that frees it.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::state::{Conn, Fate, Grant, Shared};

/// A slot held, and the connection that comes with it (if any). Dropping
/// it frees the slot and gives the connection its `fate`.
pub(super) struct Slot<T> {
    pub(super) shared: Rc<Shared<T>>,
    pub(super) conn: Option<Conn<T>>,
    pub(super) fate: Fate,
    /// A guard holds it: `in_use` counts it.
    pub(super) in_use: bool,
}

impl<T> Slot<T> {
    pub(super) fn new(shared: Rc<Shared<T>>, conn: Option<Conn<T>>) -> Self {
        Slot {
            shared,
            conn,
            fate: Fate::Restore,
            in_use: false,
        }
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        self.shared
            .release(self.conn.take(), self.fate, self.in_use);
    }
}

enum Step<T> {
    Start,
    /// Queued with this ticket.
    Queued(u64),
    /// Took a free slot and yielded at the schedule point: ours, returned
    /// at the next poll (or freed if dropped first).
    Taken(Option<Conn<T>>),
    /// Found the pool closed and yielded at the schedule point; took
    /// nothing, so the next poll is a cancel point again.
    Refused,
    Done,
}

/// Wait, FIFO, for a slot: a checkpoint in trio's order (a cancel point,
/// the attempt, a schedule point if it did not wait).
///
/// Cancel safety: dropped while queued, it leaves the queue; dropped after
/// its grant (or at the schedule point), it frees the slot, whose idle
/// connection goes back on the stack, so the next waiter gets both.
pub(super) struct AcquireSlot<T> {
    shared: Rc<Shared<T>>,
    step: Step<T>,
}

impl<T> AcquireSlot<T> {
    pub(super) fn new(shared: Rc<Shared<T>>) -> Self {
        AcquireSlot {
            shared,
            step: Step::Start,
        }
    }
}

// No field is structurally pinned (the connection is moved out by
// value), so the future need not be pinned to be polled.
impl<T> Unpin for AcquireSlot<T> {}

/// `get` found the pool closed.
pub(super) struct ClosedError;

impl<T> Future for AcquireSlot<T> {
    type Output = Result<Slot<T>, ClosedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Step::Taken(_) = this.step {
            let Step::Taken(conn) = std::mem::replace(&mut this.step, Step::Done) else {
                unreachable!()
            };
            return Poll::Ready(Ok(Slot::new(this.shared.clone(), conn)));
        }
        if arbor_runtime::scope::current_is_cancelled() {
            // Level-triggered: a grant stays untaken and is passed on when
            // the scope drops this future.
            return Poll::Pending;
        }
        match this.step {
            Step::Start => {
                if this.shared.state.borrow().closed {
                    if arbor_runtime::scope::schedule_point(cx) {
                        this.step = Step::Refused;
                        return Poll::Pending;
                    }
                    this.step = Step::Done;
                    return Poll::Ready(Err(ClosedError));
                }
                match this.shared.try_take() {
                    Some(conn) if arbor_runtime::scope::schedule_point(cx) => {
                        this.step = Step::Taken(conn);
                        Poll::Pending
                    }
                    Some(conn) => {
                        this.step = Step::Done;
                        Poll::Ready(Ok(Slot::new(this.shared.clone(), conn)))
                    }
                    None => {
                        this.step = Step::Queued(this.shared.enqueue(cx.waker()));
                        Poll::Pending
                    }
                }
            }
            Step::Queued(ticket) => match this.shared.poll_grant(ticket, cx.waker()) {
                None => Poll::Pending,
                Some(grant) => {
                    this.step = Step::Done;
                    match grant {
                        Grant::Slot(conn) => Poll::Ready(Ok(Slot::new(this.shared.clone(), conn))),
                        Grant::Closed => Poll::Ready(Err(ClosedError)),
                    }
                }
            },
            Step::Refused => {
                this.step = Step::Done;
                Poll::Ready(Err(ClosedError))
            }
            Step::Taken(_) | Step::Done => panic!("AcquireSlot polled after completion"),
        }
    }
}

impl<T> Drop for AcquireSlot<T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::Queued(ticket) => self.shared.withdraw(ticket),
            Step::Taken(conn) => self.shared.release(conn, Fate::Restore, false),
            Step::Start | Step::Refused | Step::Done => {}
        }
    }
}
