//! Cancellation in both orders, and level-triggered cancel scopes.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::channel::{self, TryRecvError};
use arbor_runtime::{spawn, yield_now};
use support::chan::{Log, poll_once};

/// Counts its drops, to prove what was dropped and what was not.
struct Token(u32, Rc<Cell<u32>>);

impl Drop for Token {
    fn drop(&mut self) {
        self.1.set(self.1.get() + 1);
    }
}

#[arbor::test(virtual_clock)]
async fn recv_dropped_before_grant_consumes_nothing() {
    let (tx, rx) = channel::bounded::<u32>(1);
    let mut first = rx.recv();
    assert!(poll_once(&mut first).await.is_none());
    let mut second = rx.recv();
    assert!(poll_once(&mut second).await.is_none());
    drop(first);
    assert_eq!(rx.statistics().tasks_waiting_receive, 1);
    tx.try_send(7).unwrap();
    assert_eq!(
        poll_once(&mut second).await,
        Some(Ok(7)),
        "the next waiter got it"
    );
}

#[arbor::test(virtual_clock)]
async fn recv_dropped_after_grant_passes_item_to_next_waiter() {
    let (tx, rx) = channel::bounded::<u32>(0);
    let mut first = rx.recv();
    assert!(poll_once(&mut first).await.is_none());
    let mut second = rx.recv();
    assert!(poll_once(&mut second).await.is_none());
    tx.send(1).await.unwrap(); // handed to `first`
    drop(first);
    assert_eq!(poll_once(&mut second).await, Some(Ok(1)));
}

#[arbor::test(virtual_clock)]
async fn recv_dropped_after_grant_puts_item_back_at_the_front() {
    let (tx, rx) = channel::bounded::<u32>(1);
    let mut waiter = rx.recv();
    assert!(poll_once(&mut waiter).await.is_none());
    tx.try_send(1).unwrap(); // handed to `waiter`
    tx.try_send(2).unwrap(); // buffered
    assert_eq!(rx.statistics().current_buffer_used, 1);
    drop(waiter);
    // Back at the front, even above the capacity for a moment.
    assert_eq!(rx.statistics().current_buffer_used, 2);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[arbor::test(virtual_clock)]
async fn stream_wait_dropped_with_receiver_passes_item_on() {
    let (tx, rx) = channel::unbounded::<u32>();
    let mut streamer = rx.clone();
    let mut next = futures_lite::StreamExt::next(&mut streamer);
    assert!(poll_once(&mut next).await.is_none());
    drop(next); // the Stream's wait lives in the receiver
    tx.try_send(3).unwrap(); // granted to the stream's wait
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(streamer);
    assert_eq!(rx.try_recv(), Ok(3));
}

#[arbor::test(virtual_clock)]
async fn send_dropped_before_grant_withdraws_its_item() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(0);
    let mut send = tx.send(Token(1, dropped.clone()));
    assert!(poll_once(&mut send).await.is_none());
    assert_eq!(tx.statistics().tasks_waiting_send, 1);
    drop(send);
    assert_eq!(dropped.get(), 1, "the withdrawn item was dropped, not sent");
    assert_eq!(tx.statistics().tasks_waiting_send, 0);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
}

#[arbor::test(virtual_clock)]
async fn rendezvous_send_dropped_after_hand_off_loses_nothing() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(0);
    let mut send = tx.send(Token(1, dropped.clone()));
    assert!(poll_once(&mut send).await.is_none());
    let got = rx.try_recv().unwrap(); // taken: counts as sent
    drop(send);
    assert_eq!((got.0, dropped.get()), (1, 0), "the receiver has it");
}

#[arbor::test(virtual_clock)]
async fn bounded_send_dropped_after_moving_into_buffer_loses_nothing() {
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let mut send = tx.send(2);
    assert!(poll_once(&mut send).await.is_none());
    assert_eq!(rx.try_recv(), Ok(1)); // moves 2 into the buffer
    drop(send);
    assert_eq!(rx.try_recv(), Ok(2));
}

#[arbor::test(virtual_clock)]
async fn operations_in_a_cancelled_scope_make_no_progress() {
    let (tx, rx) = channel::unbounded::<u32>();
    tx.try_send(1).unwrap();
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(async { rx.recv().await }).await.is_err());
    assert_eq!(rx.statistics().current_buffer_used, 1, "nothing was taken");
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(async { tx.send(2).await }).await.is_err());
    assert_eq!(rx.statistics().current_buffer_used, 1, "nothing was sent");
    assert_eq!(rx.try_recv(), Ok(1));
}

#[arbor::test(virtual_clock)]
async fn item_granted_to_a_receiver_in_a_cancelled_scope_is_passed_on() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(0);
    let scope = CancelScope::new();
    let handle = scope.handle();
    let (rx1, log1) = (rx.clone(), log.clone());
    let a = spawn(async move {
        let out = scope.run(rx1.recv()).await;
        log1.push(format!("a cancelled: {}", out.is_err()));
    });
    let (rx2, log2) = (rx.clone(), log.clone());
    let b = spawn(async move {
        let v = rx2.recv().await.unwrap();
        log2.push(format!("b got {v}"));
    });
    yield_now().await;
    assert_eq!(rx.statistics().tasks_waiting_receive, 2);
    // Cancel, then hand the item to `a` before it runs: its scope drops
    // the waiter, and the item goes on to `b`.
    handle.cancel();
    tx.send(9).await.unwrap();
    // The last sender goes while 9 is in flight to `a`: `b` must not
    // see the end before 9 comes back from the dropped waiter.
    drop(tx);
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(log.take(), ["a cancelled: true", "b got 9"]);
}
