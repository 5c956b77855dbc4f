//! FIFO fairness as exact event traces, try_ forms and statistics.

mod support;

use arbor_primitives::channel::{self, ChannelStatistics, TryRecvError, TrySendError};
use arbor_runtime::{spawn, yield_now};
use support::chan::Log;

#[arbor::test(virtual_clock)]
async fn waiting_receivers_are_served_in_fifo_order() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(0);
    let mut tasks = Vec::new();
    for r in 0..3 {
        let (rx, log) = (rx.clone(), log.clone());
        tasks.push(spawn(async move {
            log.push(format!("r{r} waits"));
            let v = rx.recv().await.unwrap();
            log.push(format!("r{r} got {v}"));
        }));
    }
    yield_now().await;
    assert_eq!(rx.statistics().tasks_waiting_receive, 3);
    for v in 0..3 {
        tx.send(v).await.unwrap();
        log.push(format!("sent {v}"));
    }
    // Items were handed to the waiters: nothing left to barge for.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    for t in tasks {
        t.await.unwrap();
    }
    // Updated for issue 11: a send handing its item to a waiting
    // receiver is a checkpoint, so it yields (the receiver it woke runs
    // first) before "sent v". The waiters are still served in FIFO
    // order, one item each.
    assert_eq!(
        log.take(),
        [
            "r0 waits", "r1 waits", "r2 waits", "r0 got 0", "sent 0", "r1 got 1", "sent 1",
            "r2 got 2", "sent 2"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn waiting_senders_are_served_in_fifo_order_without_barging() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let mut tasks = Vec::new();
    for s in 1..=3 {
        let (tx, log) = (tx.clone(), log.clone());
        tasks.push(spawn(async move {
            log.push(format!("s{s} waits"));
            tx.send(s).await.unwrap();
            log.push(format!("s{s} sent"));
        }));
    }
    yield_now().await;
    assert_eq!(tx.statistics().tasks_waiting_send, 3);
    // Others queue first: a try_send must not barge.
    assert!(matches!(tx.try_send(99), Err(TrySendError::Full(99))));
    for i in 0..4 {
        let v = rx.recv().await.unwrap();
        log.push(format!("got {v}"));
        if i < 3 {
            // The freed slot went straight to the head sender.
            assert!(matches!(tx.try_send(99), Err(TrySendError::Full(99))));
        }
    }
    tx.try_send(4).unwrap();
    assert_eq!(rx.try_recv(), Ok(4));
    for t in tasks {
        t.await.unwrap();
    }
    // Updated for issue 11: a receive that finds an item is a
    // checkpoint, so it yields (the sender whose item it moved into
    // the buffer runs first) before "got v". The senders are still
    // served in FIFO order and no try_send barged (checked above).
    assert_eq!(
        log.take(),
        [
            "s1 waits", "s2 waits", "s3 waits", "s1 sent", "got 0", "s2 sent", "got 1", "s3 sent",
            "got 2", "got 3"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn ping_pong_over_rendezvous_channels() {
    let log = Log::default();
    let (ping_tx, ping_rx) = channel::bounded::<u32>(0);
    let (pong_tx, pong_rx) = channel::bounded::<u32>(0);
    let b_log = log.clone();
    let b = spawn(async move {
        while let Ok(v) = ping_rx.recv().await {
            b_log.push(format!("B got ping {v}"));
            pong_tx.send(v + 100).await.unwrap();
            b_log.push(format!("B sent pong {}", v + 100));
        }
        b_log.push("B sees end");
    });
    for i in 0..2 {
        ping_tx.send(i).await.unwrap();
        log.push(format!("A sent ping {i}"));
        let v = pong_rx.recv().await.unwrap();
        log.push(format!("A got pong {v}"));
    }
    drop(ping_tx);
    b.await.unwrap();
    // A rendezvous send completes only after the receiver took the item.
    // Updated for issue 11 (trio's order): B's receive takes the item
    // from A's waiting send, then yields at its schedule point, so A
    // (woken by the take) logs "A sent ping i" before B logs "B got
    // ping i". Likewise B's send hands the pong to A's waiting receive
    // and yields, so "A got pong" comes before "B sent pong".
    assert_eq!(
        log.take(),
        [
            "A sent ping 0",
            "B got ping 0",
            "A got pong 100",
            "B sent pong 100",
            "A sent ping 1",
            "B got ping 1",
            "A got pong 101",
            "B sent pong 101",
            "B sees end",
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn rendezvous_try_forms() {
    let (tx, rx) = channel::bounded::<&str>(0);
    // Nobody waits to receive: a rendezvous try_send cannot complete.
    assert!(matches!(tx.try_send("a"), Err(TrySendError::Full("a"))));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // A waiting sender's item can be taken by try_recv.
    let mut send = tx.send("b");
    assert!(support::chan::poll_once(&mut send).await.is_none());
    assert_eq!(tx.statistics().tasks_waiting_send, 1);
    assert_eq!(tx.statistics().current_buffer_used, 0);
    assert_eq!(rx.try_recv(), Ok("b"));
    assert_eq!(support::chan::poll_once(&mut send).await, Some(Ok(())));
    // A waiting receiver lets try_send complete.
    let mut recv = rx.recv();
    assert!(support::chan::poll_once(&mut recv).await.is_none());
    tx.try_send("c").unwrap();
    assert_eq!(support::chan::poll_once(&mut recv).await, Some(Ok("c")));
}

#[arbor::test(virtual_clock)]
async fn statistics_track_buffer_handles_and_waiters() {
    let (tx, rx) = channel::bounded::<u8>(2);
    let stats = |used, send, recv, ws, wr| ChannelStatistics {
        current_buffer_used: used,
        max_buffer_size: Some(2),
        open_send_streams: send,
        open_receive_streams: recv,
        tasks_waiting_send: ws,
        tasks_waiting_receive: wr,
    };
    assert_eq!(tx.statistics(), stats(0, 1, 1, 0, 0));
    let rx2 = rx.clone();
    let mut recv = rx2.recv();
    assert!(support::chan::poll_once(&mut recv).await.is_none());
    assert_eq!(rx.statistics(), stats(0, 1, 2, 0, 1));
    drop(recv);
    assert_eq!(rx.statistics(), stats(0, 1, 2, 0, 0));
    let tx2 = tx.clone();
    tx.try_send(1).unwrap();
    tx2.try_send(2).unwrap();
    let mut send = tx.send(3);
    assert!(support::chan::poll_once(&mut send).await.is_none());
    assert_eq!(tx.statistics(), stats(2, 2, 2, 1, 0));
    rx2.close();
    tx2.close();
    assert_eq!(tx.statistics(), stats(2, 1, 1, 1, 0));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        tx.statistics(),
        stats(2, 1, 1, 0, 0),
        "the waiting item moved in"
    );
    assert_eq!(support::chan::poll_once(&mut send).await, Some(Ok(())));

    let (utx, _urx) = channel::unbounded::<u8>();
    assert_eq!(utx.statistics().max_buffer_size, None);
}

#[arbor::test(virtual_clock)]
async fn a_capacity_of_usize_max_reserves_nothing_and_buffers_like_unbounded() {
    let (tx, rx) = channel::bounded::<u32>(usize::MAX);
    for i in 0..1000 {
        tx.try_send(i).unwrap();
    }
    let stats = rx.statistics();
    assert_eq!(stats.max_buffer_size, Some(usize::MAX));
    assert_eq!(stats.current_buffer_used, 1000);
    drop(tx);
    assert!((0..1000).all(|i| rx.try_recv() == Ok(i)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}
