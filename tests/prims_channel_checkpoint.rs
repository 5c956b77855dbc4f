//! Every async channel operation is a checkpoint (trio's order): a cancel
//! point, then the attempt, then a schedule point if it took effect
//! without waiting, keeping its result so nothing taken is lost.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::channel::{self, RecvError, TryRecvError};
use arbor_runtime::{spawn, yield_now};
use futures_lite::StreamExt;
use support::chan::{CountPolls, Log, Token, make_busy, poll_once, rt};

/// Another task that logs `o{i}` and yields, three times.
fn other(log: &Log) -> arbor_runtime::JoinHandle<()> {
    let log = log.clone();
    spawn(async move {
        for i in 0..3 {
            log.push(format!("o{i}"));
            yield_now().await;
        }
    })
}

#[test]
fn a_producer_looping_on_send_with_room_lets_other_tasks_run() {
    for cap in [None, Some(16)] {
        rt().block_on(async {
            let log = Log::default();
            let (tx, rx) = match cap {
                None => channel::unbounded::<u32>(),
                Some(n) => channel::bounded(n),
            };
            let plog = log.clone();
            let producer = spawn(async move {
                for i in 0..3 {
                    tx.send(i).await.unwrap();
                    plog.push(format!("p{i}"));
                }
            });
            let other = other(&log);
            producer.await.unwrap();
            other.await.unwrap();
            // Each send took effect at once, then yielded to `other`.
            assert_eq!(log.take(), ["o0", "p0", "o1", "p1", "o2", "p2"], "{cap:?}");
            assert_eq!((0..3).map(|_| rx.try_recv().unwrap()).sum::<u32>(), 3);
        });
    }
}

#[arbor::test(virtual_clock)]
async fn a_consumer_looping_on_recv_with_items_ready_lets_other_tasks_run() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(3);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    let clog = log.clone();
    let consumer = spawn(async move {
        for _ in 0..3 {
            let v = rx.recv().await.unwrap();
            clog.push(format!("c{v}"));
        }
    });
    let other = other(&log);
    consumer.await.unwrap();
    other.await.unwrap();
    assert_eq!(log.take(), ["o0", "c0", "o1", "c1", "o2", "c2"]);
}

#[arbor::test(virtual_clock)]
async fn a_rendezvous_hand_off_to_a_waiting_receiver_yields_to_it() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(0);
    let rlog = log.clone();
    let receiver = spawn(async move {
        rlog.push("r waits");
        let v = rx.recv().await.unwrap();
        rlog.push(format!("r got {v}"));
    });
    yield_now().await;
    tx.send(1).await.unwrap(); // taken at once by the waiting receiver
    log.push("sent 1");
    receiver.await.unwrap();
    assert_eq!(log.take(), ["r waits", "r got 1", "sent 1"]);
}

#[arbor::test(virtual_clock)]
async fn nothing_else_ready_means_no_yield() {
    let (tx, rx) = channel::bounded::<u32>(1);
    let mut send = tx.send(1);
    assert_eq!(
        poll_once(&mut send).await,
        Some(Ok(())),
        "nobody to yield to"
    );
    let mut recv = rx.recv();
    assert_eq!(poll_once(&mut recv).await, Some(Ok(1)));
}

#[arbor::test(virtual_clock)]
async fn an_operation_that_waited_returns_when_woken_without_another_yield() {
    let (tx, rx) = channel::bounded::<u32>(0);
    let rx = Rc::new(rx);
    let rx2 = rx.clone();
    let recv = spawn(async move {
        let mut recv = CountPolls::new(rx2.recv());
        let v = (&mut recv).await;
        (v, recv.polls)
    });
    yield_now().await; // `recv` waits
    let _busy = make_busy();
    tx.try_send(5).unwrap();
    // Woken with the item while another task is ready: still 2 polls.
    assert_eq!(recv.await.unwrap(), (Ok(5), 2));

    let mut send = CountPolls::new(tx.send(6));
    assert!(poll_once(&mut send).await.is_none(), "waits for a receiver");
    assert_eq!(rx.try_recv(), Ok(6));
    let _busy = make_busy();
    assert_eq!(poll_once(&mut send).await, Some(Ok(())));
    assert_eq!(send.polls, 2);
}

#[arbor::test(virtual_clock)]
async fn failures_return_at_once_without_a_schedule_point() {
    let (tx, rx) = channel::unbounded::<u32>();
    tx.close();
    let _busy = make_busy();
    assert_eq!(
        poll_once(&mut rx.recv()).await,
        Some(Err(RecvError::Closed))
    );
    assert_eq!(rx.statistics().open_send_streams, 0);
    let (tx, rx) = channel::unbounded::<u32>();
    drop(rx);
    let _busy = make_busy();
    assert!(poll_once(&mut tx.send(1)).await.unwrap().is_err());
}

#[arbor::test(virtual_clock)]
async fn a_received_item_held_at_the_schedule_point_goes_back_to_the_front_when_dropped() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(2);
    tx.try_send(Token(1, dropped.clone())).unwrap();
    tx.try_send(Token(2, dropped.clone())).unwrap();
    let _busy = make_busy();
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none(), "took 1, yields");
    assert_eq!(rx.statistics().current_buffer_used, 1);
    drop(recv);
    assert_eq!(rx.statistics().current_buffer_used, 2, "1 is back");
    assert_eq!(rx.try_recv().unwrap().0, 1, "at the front: FIFO kept");
    assert_eq!(rx.try_recv().unwrap().0, 2);
    assert_eq!(dropped.get(), 2, "each dropped once, by the test");
}

#[arbor::test(virtual_clock)]
async fn a_rendezvous_item_held_at_the_schedule_point_goes_to_the_next_receiver() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(0);
    let mut send = tx.send(Token(1, dropped.clone()));
    assert!(poll_once(&mut send).await.is_none(), "no receiver yet");
    let _busy = make_busy();
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none(), "took 1, yields");
    assert_eq!(poll_once(&mut send).await, Some(Ok(())), "the send is done");
    drop(recv);
    // The sender has completed: the item waits in the buffer (above
    // the capacity of 0 for a moment) for the next receive.
    assert_eq!(rx.statistics().current_buffer_used, 1);
    assert!(matches!(
        tx.try_send(Token(2, dropped.clone())),
        Err(channel::TrySendError::Full(_))
    ));
    assert_eq!(dropped.get(), 1, "the refused 2");
    assert_eq!(rx.recv().await.unwrap().0, 1);
    assert_eq!(dropped.get(), 2);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[arbor::test(virtual_clock)]
async fn a_held_item_keeps_the_stream_open_until_it_lands() {
    let log = Log::default();
    let (tx, rx) = channel::unbounded::<u32>();
    tx.try_send(1).unwrap();
    drop(tx); // last sender: the end comes once 1 is received
    let rx = Rc::new(rx);
    let (rx_a, rx_b) = (rx.clone(), rx.clone());
    let a = spawn(async move { rx_a.recv().await });
    let blog = log.clone();
    let b = spawn(async move {
        let out = rx_b.recv().await;
        blog.push(format!("b: {out:?}"));
        out
    });
    // `a` takes 1 and yields (b is ready); `b` must not see the end
    // while 1 may still come back. Abort `a` at its schedule point.
    yield_now().await;
    assert!(!a.is_finished());
    a.abort();
    assert!(a.await.unwrap_err().is_cancelled());
    assert_eq!(b.await.unwrap(), Ok(1), "1 went on to b");
    assert_eq!(rx.recv().await, Err(RecvError::Closed));
    assert_eq!(log.take(), ["b: Ok(1)"]);
}

#[arbor::test(virtual_clock)]
async fn a_send_that_took_effect_is_delivered_even_if_dropped_at_its_schedule_point() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(1);
    let _busy = make_busy();
    let mut send = tx.send(Token(1, dropped.clone()));
    assert!(poll_once(&mut send).await.is_none(), "sent, yields");
    drop(send);
    assert_eq!(dropped.get(), 0);
    assert_eq!(rx.try_recv().unwrap().0, 1);
    assert_eq!(dropped.get(), 1);
}

#[arbor::test(virtual_clock)]
async fn the_kept_result_is_returned_even_if_the_scope_is_cancelled_meanwhile() {
    let log = Log::default();
    let (tx, rx) = channel::unbounded::<u32>();
    tx.try_send(7).unwrap();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let canceller = spawn(async move { handle.cancel() });
    let out = scope
        .run(async {
            let v = rx.recv().await; // takes 7, yields: the canceller runs
            log.push(format!("got {v:?}"));
            yield_now().await; // a cancel point
            log.push("not reached");
            v
        })
        .await;
    canceller.await.unwrap();
    assert!(out.is_err(), "cancelled at the next checkpoint");
    assert_eq!(log.take(), ["got Ok(7)"], "7 was not lost");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[arbor::test(virtual_clock)]
async fn the_stream_returns_ready_items_without_a_schedule_point() {
    let (tx, mut rx) = channel::unbounded::<u32>();
    tx.try_send(1).unwrap();
    let _busy = make_busy();
    // `Stream` is a poll API: a ready item comes at once.
    assert_eq!(poll_once(&mut rx.next()).await, Some(Some(1)));
    // `recv` is a checkpoint: it yields first.
    tx.try_send(2).unwrap();
    let _busy = make_busy();
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none());
    assert_eq!(poll_once(&mut recv).await, Some(Ok(2)));
}
