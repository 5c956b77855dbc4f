//! Closing one handle wakes the operations blocked on that handle (trio):
//! a blocked send gets its item back, a blocked receive a closed-handle
//! error; other clones keep working.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_primitives::channel::{self, RecvError, SendError, TryRecvError};
use arbor_runtime::{spawn, yield_now};
use futures_lite::StreamExt;
use support::chan::{Log, Token, poll_once, rt};
use support::within;

/// A task sending `item` through `tx`, logging `name` and the outcome.
fn sender_task(
    log: &Log,
    tx: &Rc<channel::Sender<u32>>,
    name: &'static str,
    item: u32,
) -> arbor_runtime::JoinHandle<()> {
    let (log, tx) = (log.clone(), tx.clone());
    spawn(async move {
        log.push(format!("{name} waits"));
        let out = tx.send(item).await;
        log.push(format!("{name}: {out:?}"));
    })
}

/// A task receiving through `rx`, logging `name` and the outcome.
fn receiver_task(
    log: &Log,
    rx: &Rc<channel::Receiver<u32>>,
    name: &'static str,
) -> arbor_runtime::JoinHandle<()> {
    let (log, rx) = (log.clone(), rx.clone());
    spawn(async move {
        log.push(format!("{name} waits"));
        let out = rx.recv().await;
        log.push(format!("{name}: {out:?}"));
    })
}

#[arbor::test(virtual_clock)]
async fn closing_a_rendezvous_sender_wakes_its_blocked_send_with_the_item() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<String>(0);
    let tx = Rc::new(tx);
    let (tx1, log1) = (tx.clone(), log.clone());
    let sender = spawn(async move {
        log1.push("send waits");
        let out = tx1.send("x".to_string()).await;
        log1.push(format!(
            "send woke: {out:?} {:?}",
            out.clone().err().map(SendError::into_inner)
        ));
    });
    yield_now().await;
    assert_eq!(tx.statistics().tasks_waiting_send, 1);
    tx.close();
    log.push("closed");
    within(sender).await.unwrap();
    assert_eq!(rx.recv().await, Err(RecvError::Closed), "nothing was sent");
    assert_eq!(
        log.take(),
        [
            "send waits",
            "closed",
            "send woke: Err(ClosedHandle(..)) Some(\"x\")"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn closing_a_sender_clone_wakes_only_the_sends_blocked_on_it() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(0).unwrap(); // full
    let tx_a = Rc::new(tx.clone());
    let tx_b = Rc::new(tx);
    // Queued in the channel as a1, b1, a2.
    let tasks = [
        sender_task(&log, &tx_a, "a1", 1),
        sender_task(&log, &tx_b, "b1", 2),
        sender_task(&log, &tx_a, "a2", 3),
    ];
    yield_now().await;
    assert_eq!(rx.statistics().tasks_waiting_send, 3);
    tx_a.close();
    log.push("closed a");
    assert_eq!(rx.statistics().tasks_waiting_send, 1, "b1 still waits");
    assert_eq!(rx.statistics().open_send_streams, 1);
    assert_eq!(rx.recv().await, Ok(0));
    assert_eq!(rx.recv().await, Ok(2), "b1's item, nothing of a's");
    tx_b.send(4).await.unwrap();
    log.push("b sent 4");
    for t in tasks {
        within(t).await.unwrap();
    }
    drop(tx_b);
    assert_eq!(rx.recv().await, Ok(4));
    assert_eq!(rx.recv().await, Err(RecvError::Closed));
    assert_eq!(
        log.take(),
        [
            "a1 waits",
            "b1 waits",
            "a2 waits",
            "closed a",
            "a1: Err(ClosedHandle(..))",
            "a2: Err(ClosedHandle(..))",
            "b1: Ok(())",
            "b sent 4",
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn closing_the_last_sender_hands_blocked_items_back_and_ends_after_the_drain() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let tx = Rc::new(tx);
    let send = sender_task(&log, &tx, "s", 1);
    let rx = Rc::new(rx);
    yield_now().await;
    tx.close();
    log.push("closed");
    assert_eq!(rx.recv().await, Ok(0), "the buffer drains first");
    assert_eq!(rx.recv().await, Err(RecvError::Closed), "1 was not sent");
    within(send).await.unwrap();
    assert_eq!(
        log.take(),
        ["s waits", "closed", "s: Err(ClosedHandle(..))"]
    );
}

#[arbor::test(virtual_clock)]
async fn closing_a_receiver_clone_wakes_only_the_receives_blocked_on_it() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(0);
    let rx_a = Rc::new(rx.clone());
    let rx_b = Rc::new(rx);
    let tasks = [
        receiver_task(&log, &rx_a, "a1"),
        receiver_task(&log, &rx_b, "b1"),
        receiver_task(&log, &rx_a, "a2"),
    ];
    yield_now().await;
    assert_eq!(tx.statistics().tasks_waiting_receive, 3);
    rx_a.close();
    log.push("closed a");
    assert_eq!(tx.statistics().tasks_waiting_receive, 1, "b1 still waits");
    assert_eq!(tx.statistics().open_receive_streams, 1);
    tx.send(7).await.unwrap();
    log.push("sent 7");
    for t in tasks {
        within(t).await.unwrap();
    }
    assert_eq!(
        log.take(),
        [
            "a1 waits",
            "b1 waits",
            "a2 waits",
            "closed a",
            "a1: Err(ClosedHandle)",
            "a2: Err(ClosedHandle)",
            "b1: Ok(7)",
            "sent 7",
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn closing_the_last_receiver_wakes_its_receive_and_fails_sends() {
    let log = Log::default();
    let (tx, rx) = channel::bounded::<u32>(0);
    let rx = Rc::new(rx);
    let recv = receiver_task(&log, &rx, "r");
    yield_now().await;
    rx.close();
    log.push("closed");
    assert!(matches!(tx.send(1).await, Err(SendError::Closed(1))));
    within(recv).await.unwrap();
    assert_eq!(log.take(), ["r waits", "closed", "r: Err(ClosedHandle)"]);
}

#[arbor::test(virtual_clock)]
async fn operations_granted_before_the_close_complete_with_their_outcome() {
    // A receive handed an item before its handle closed returns it
    // (trio: it was already delivered).
    let (tx, rx) = channel::bounded::<u32>(0);
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none());
    tx.try_send(3).unwrap(); // handed to `recv`
    rx.close();
    assert_eq!(poll_once(&mut recv).await, Some(Ok(3)));
    drop(recv);
    assert!(matches!(
        tx.try_send(4),
        Err(channel::TrySendError::Closed(4))
    ));

    // A send whose item a receiver took before its handle closed is
    // done: `Ok(())`, and the receiver has the item.
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let mut send = tx.send(1);
    assert!(poll_once(&mut send).await.is_none());
    assert_eq!(rx.try_recv(), Ok(0)); // moves 1 into the buffer
    tx.close();
    assert_eq!(poll_once(&mut send).await, Some(Ok(())));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[arbor::test(virtual_clock)]
async fn a_send_woken_by_the_close_and_then_dropped_drops_its_item_once() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(0);
    let tx2 = tx.clone();
    let mut send = tx.send(Token(1, dropped.clone()));
    assert!(poll_once(&mut send).await.is_none());
    tx.close();
    assert_eq!(dropped.get(), 0, "handed back to the send, not dropped yet");
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "a receiver gets nothing"
    );
    drop(send);
    assert_eq!(dropped.get(), 1, "dropped with the send, once");
    drop((tx, tx2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(dropped.get(), 1);

    // Handed back to the caller instead: dropped once, by the caller.
    let (tx, _rx) = channel::bounded::<Token>(0);
    let mut send = tx.send(Token(2, dropped.clone()));
    assert!(poll_once(&mut send).await.is_none());
    tx.close();
    let back = poll_once(&mut send)
        .await
        .unwrap()
        .unwrap_err()
        .into_inner();
    drop(send);
    assert_eq!((back.0, dropped.get()), (2, 1));
    drop(back);
    assert_eq!(dropped.get(), 2);
}

#[arbor::test(virtual_clock)]
async fn a_receive_woken_by_the_close_with_an_item_passes_it_on_if_dropped() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = channel::bounded::<Token>(0);
    let other = rx.clone();
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none());
    tx.try_send(Token(1, dropped.clone())).unwrap(); // handed to `recv`
    rx.close();
    drop(recv); // never ran: the item goes on
    assert_eq!(dropped.get(), 0);
    assert_eq!(other.try_recv().unwrap().0, 1);
    assert_eq!(dropped.get(), 1);
}

#[arbor::test(virtual_clock)]
async fn a_dropped_blocked_send_hands_nothing_to_a_receiver() {
    let dropped = Rc::new(Cell::new(0));
    let log = Log::default();
    let (tx, rx) = channel::bounded::<Token>(0);
    let (tx, rx) = (Rc::new(tx), Rc::new(rx));
    let tx1 = tx.clone();
    let d = dropped.clone();
    let send = spawn(async move { tx1.send(Token(1, d)).await.is_ok() });
    yield_now().await;
    assert_eq!(tx.statistics().tasks_waiting_send, 1);
    send.abort();
    assert_eq!(dropped.get(), 1, "withdrawn and dropped once");
    let recv = receiver_task_tokens(&log, &rx);
    yield_now().await;
    tx.close();
    within(recv).await.unwrap();
    assert_eq!(log.take(), ["r: Err(Closed)"], "nothing was handed over");
    assert_eq!(dropped.get(), 1);
}

fn receiver_task_tokens(
    log: &Log,
    rx: &Rc<channel::Receiver<Token>>,
) -> arbor_runtime::JoinHandle<()> {
    let (log, rx) = (log.clone(), rx.clone());
    spawn(async move {
        let out = rx.recv().await.map(|t| t.0);
        log.push(format!("r: {out:?}"));
    })
}

#[arbor::test(virtual_clock)]
async fn closing_a_receiver_withdraws_a_stream_wait_left_behind_and_passes_its_item_on() {
    let (tx, rx) = channel::unbounded::<u32>();
    let mut streamer = rx.clone();
    assert!(poll_once(&mut streamer.next()).await.is_none());
    tx.try_send(3).unwrap(); // granted to the stream's wait
    streamer.close();
    assert_eq!(rx.try_recv(), Ok(3), "passed on at the close");
    assert_eq!(streamer.next().await, None);
    assert_eq!(tx.statistics().tasks_waiting_receive, 0);
}

/// An item that records, when dropped, whether a receiver got it.
struct Item {
    id: u32,
    received: bool,
    ledger: Rc<std::cell::RefCell<std::collections::BTreeMap<u32, (u32, u32)>>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        let mut ledger = self.ledger.borrow_mut();
        let (received, unsent) = ledger.entry(self.id).or_default();
        if self.received {
            *received += 1;
        } else {
            *unsent += 1;
        }
    }
}

#[test]
fn stress_closing_clones_mid_wait_loses_and_duplicates_nothing() {
    use std::cell::RefCell;
    use std::time::Duration;
    use support::chan::Rng;
    const PRODUCERS: u32 = 4;
    const PER: u32 = 50;
    for (seed, cap) in [
        (1, Some(0)),
        (2, Some(1)),
        (3, Some(4)),
        (4, None),
        (5, Some(0)),
    ] {
        rt().block_on(async move {
            let rng = Rc::new(RefCell::new(Rng::new(seed)));
            let ms = {
                let rng = rng.clone();
                move |n| Duration::from_millis(rng.borrow_mut().below(n))
            };
            let ledger = Rc::new(RefCell::new(std::collections::BTreeMap::new()));
            let sent_ok = Rc::new(RefCell::new(Vec::new()));
            let (tx, rx) = match cap {
                Some(n) => channel::bounded::<Item>(n),
                None => channel::unbounded(),
            };
            let mut senders = Vec::new();
            let mut producers = Vec::new();
            for p in 0..PRODUCERS {
                let tx = Rc::new(tx.clone());
                senders.push(tx.clone());
                let (ledger, sent_ok, ms) = (ledger.clone(), sent_ok.clone(), ms.clone());
                producers.push(spawn(async move {
                    for k in 0..PER {
                        let id = p * 1000 + k;
                        let item = Item {
                            id,
                            received: false,
                            ledger: ledger.clone(),
                        };
                        match tx.send(item).await {
                            Ok(()) => sent_ok.borrow_mut().push(id),
                            Err(SendError::ClosedHandle(item)) => {
                                drop(item); // handed back: unsent
                                return;
                            }
                            Err(SendError::Closed(_)) => unreachable!("consumer 0 stays open"),
                        }
                        arbor_runtime::time::sleep(ms(2)).await;
                    }
                }));
            }
            drop(tx);
            let mut receivers = Vec::new();
            let mut consumers = Vec::new();
            for c in 0..4 {
                let rx = Rc::new(rx.clone());
                receivers.push(rx.clone());
                consumers.push(spawn(async move {
                    let mut got = 0u32;
                    loop {
                        match rx.recv().await {
                            Ok(mut item) => {
                                item.received = true;
                                got += 1;
                            }
                            Err(RecvError::Closed) => return (c, got, false),
                            Err(RecvError::ClosedHandle) => return (c, got, true),
                        }
                    }
                }));
            }
            drop(rx);
            // Close producers 0..3 and consumers 1..4 at random moments,
            // mid-wait or not; producer 3 and consumer 0 run to the end.
            for i in 0..3 {
                arbor_runtime::time::sleep(ms(30)).await;
                senders[i].close();
                arbor_runtime::time::sleep(ms(10)).await;
                receivers[i + 1].close();
            }
            drop(senders);
            for p in producers {
                within(p).await.unwrap();
            }
            let mut closed_mid_way = 0;
            for c in consumers {
                let (c, _got, closed) = within(c).await.unwrap();
                assert_eq!(closed, c != 0);
                closed_mid_way += u32::from(closed);
            }
            assert_eq!(closed_mid_way, 3);
            assert_eq!(receivers[0].statistics().current_buffer_used, 0);
            drop(receivers);
            let ledger = ledger.borrow();
            for (&id, &(received, unsent)) in ledger.iter() {
                assert_eq!(received + unsent, 1, "seed {seed}: item {id}");
            }
            for id in sent_ok.borrow().iter() {
                assert_eq!(
                    ledger[id].0, 1,
                    "seed {seed}: item {id} sent, never received"
                );
            }
            assert!(
                ledger.values().any(|&(_, unsent)| unsent == 1) || cap.is_none(),
                "seed {seed}: no item came back from a closed sender"
            );
        });
    }
}
