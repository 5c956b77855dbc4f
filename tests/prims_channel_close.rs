//! Closing semantics (AnyIO memory object streams) and misuse errors.

mod support;

use arbor_primitives::channel::{self, RecvError, SendError, TryRecvError, TrySendError};
use arbor_runtime::{spawn, yield_now};
use futures_lite::StreamExt;
use support::chan::poll_once;

#[arbor::test(virtual_clock)]
async fn last_sender_drop_drains_buffer_then_ends() {
    let (tx, rx) = channel::bounded::<u32>(3);
    let tx2 = tx.clone();
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    assert_eq!(rx.statistics().open_send_streams, 1);
    assert_eq!(rx.recv().await, Ok(0), "one sender left: not closed");
    drop(tx2);
    assert_eq!(rx.recv().await, Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.recv().await, Err(RecvError::Closed));
    assert_eq!(rx.recv().await, Err(RecvError::Closed), "the end is sticky");
}

#[arbor::test(virtual_clock)]
async fn end_of_stream_wakes_waiting_receivers_and_ends_streams() {
    let (tx, rx) = channel::unbounded::<u32>();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            spawn(async move { rx.recv().await })
        })
        .collect();
    let mut stream = rx.clone();
    let collector = spawn(async move { (&mut stream).collect::<Vec<_>>().await });
    yield_now().await;
    assert_eq!(rx.statistics().tasks_waiting_receive, 3);
    tx.try_send(1).unwrap();
    tx.close();
    assert_eq!(rx.statistics().open_send_streams, 0);
    let mut results = Vec::new();
    for w in waiters {
        results.push(w.await.unwrap());
    }
    assert_eq!(results, [Ok(1), Err(RecvError::Closed)]);
    assert_eq!(collector.await.unwrap(), Vec::<u32>::new());
}

#[arbor::test(virtual_clock)]
async fn stream_yields_items_then_none() {
    let (tx, mut rx) = channel::unbounded();
    for i in 0..4 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    assert_eq!((&mut rx).collect::<Vec<_>>().await, [0, 1, 2, 3]);
    assert_eq!(rx.next().await, None);
}

#[arbor::test(virtual_clock)]
async fn last_receiver_close_fails_sends_and_hands_items_back() {
    let (tx, rx) = channel::bounded::<String>(1);
    tx.try_send("buffered".into()).unwrap();
    let waiting: Vec<_> = ["w1", "w2"]
        .into_iter()
        .map(|s| {
            let tx = tx.clone();
            spawn(async move { tx.send(s.to_string()).await })
        })
        .collect();
    yield_now().await;
    assert_eq!(tx.statistics().tasks_waiting_send, 2);
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(
        tx.statistics().open_receive_streams,
        1,
        "one receiver left: still open"
    );
    assert_eq!(tx.statistics().tasks_waiting_send, 2);
    rx2.close();
    let stats = tx.statistics();
    assert_eq!(
        (stats.tasks_waiting_send, stats.current_buffer_used),
        (0, 0)
    );
    for (w, name) in waiting.into_iter().zip(["w1", "w2"]) {
        match w.await.unwrap() {
            Err(SendError::Closed(item)) => assert_eq!(item, name),
            other => panic!("expected Closed, got {other:?}"),
        }
    }
    assert_eq!(
        tx.send("late".into()).await.unwrap_err().into_inner(),
        "late"
    );
    assert!(matches!(tx.try_send("x".into()), Err(TrySendError::Closed(s)) if s == "x"));
    assert_eq!(rx2.try_recv(), Err(TryRecvError::ClosedHandle));
}

#[arbor::test(virtual_clock)]
async fn closed_handles_are_errors_other_clones_keep_working() {
    let (tx, rx) = channel::unbounded::<u32>();
    let tx2 = tx.clone();
    tx.close();
    tx.close(); // idempotent
    assert!(tx.is_closed() && !tx2.is_closed());
    assert!(matches!(tx.send(1).await, Err(SendError::ClosedHandle(1))));
    assert!(matches!(tx.try_send(2), Err(TrySendError::ClosedHandle(2))));
    let tx3 = tx.clone();
    assert!(tx3.is_closed(), "a clone of a closed handle is closed");
    assert_eq!(tx.statistics().open_send_streams, 1);
    tx2.send(3).await.unwrap();

    let rx2 = rx.clone();
    rx.close();
    assert_eq!(rx.recv().await, Err(RecvError::ClosedHandle));
    assert_eq!(rx.try_recv(), Err(TryRecvError::ClosedHandle));
    assert!(rx.clone().is_closed());
    assert_eq!(rx2.recv().await, Ok(3));
    drop(tx2);
    assert_eq!(rx2.recv().await, Err(RecvError::Closed));
}

#[test]
fn error_messages_say_what_to_do() {
    let msg = SendError::Closed(1).to_string();
    assert!(
        msg.contains("receiver") && msg.contains("into_inner"),
        "{msg}"
    );
    assert!(TrySendError::Full(1).to_string().contains("use send"));
    assert!(TryRecvError::Empty.to_string().contains("use recv"));
    assert!(RecvError::ClosedHandle.to_string().contains("close()"));
    assert_eq!(
        format!("{:?}", SendError::ClosedHandle(vec![1])),
        "ClosedHandle(..)"
    );
}

// Updated for issue 11 (trio semantics): closing a handle no longer
// leaves its queued send queued; it wakes it with `ClosedHandle`, handing
// the item back. The old checks stay, for a send whose item a receiver
// took before the close: it still completes with `Ok(())` and the item
// arrives, then the end.
#[arbor::test(virtual_clock)]
async fn closing_a_handle_wakes_its_queued_send_unless_its_item_was_taken() {
    let (tx, rx) = channel::bounded::<u32>(0);
    let mut send = tx.send(5);
    assert!(poll_once(&mut send).await.is_none());
    tx.close();
    assert_eq!(
        poll_once(&mut send).await,
        Some(Err(SendError::ClosedHandle(5))),
        "woken by the close, item handed back"
    );
    assert_eq!(rx.recv().await, Err(RecvError::Closed), "5 was not sent");

    let (tx, rx) = channel::bounded::<u32>(0);
    let mut send = tx.send(5);
    assert!(poll_once(&mut send).await.is_none());
    let mut recv = rx.recv();
    let taken = poll_once(&mut recv).await; // takes 5 from the queued send
    tx.close();
    // The last sender is closed but its item was already taken: it
    // arrives, the send completes, then the end.
    assert_eq!(taken, Some(Ok(5)));
    assert_eq!(poll_once(&mut send).await, Some(Ok(())));
    assert_eq!(rx.recv().await, Err(RecvError::Closed));
}
