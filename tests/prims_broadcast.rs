//! The broadcast channel: every receiver sees every item, lagging
//! receivers are told how many they missed, recv is a cancel-safe
//! checkpoint, and every item is dropped exactly once.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::channel::{
    self,
    broadcast::{self, BroadcastStatistics, Lagged, RecvError, SendError, TryRecvError},
};
use arbor_runtime::{spawn, yield_now};
use futures_lite::StreamExt;
use support::chan::{Log, make_busy, poll_once, rt};

/// Which values are alive: the channel's own copy of each item (the
/// original, sent) and the clones handed to receivers.
#[derive(Default)]
struct Ledger {
    /// id -> times the original was dropped.
    originals_dropped: BTreeMap<u32, u32>,
    /// Clones alive.
    clones_alive: i64,
}

struct Item {
    id: u32,
    original: bool,
    ledger: Rc<RefCell<Ledger>>,
}

impl Item {
    fn new(id: u32, ledger: &Rc<RefCell<Ledger>>) -> Self {
        Item {
            id,
            original: true,
            ledger: ledger.clone(),
        }
    }
}

impl Clone for Item {
    fn clone(&self) -> Self {
        self.ledger.borrow_mut().clones_alive += 1;
        Item {
            id: self.id,
            original: false,
            ledger: self.ledger.clone(),
        }
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        let mut ledger = self.ledger.borrow_mut();
        if self.original {
            *ledger.originals_dropped.entry(self.id).or_default() += 1;
        } else {
            ledger.clones_alive -= 1;
        }
    }
}

fn dropped(ledger: &Rc<RefCell<Ledger>>) -> Vec<u32> {
    let ledger = ledger.borrow();
    assert!(
        ledger.originals_dropped.values().all(|&n| n == 1),
        "an item dropped twice: {:?}",
        ledger.originals_dropped
    );
    ledger.originals_dropped.keys().copied().collect()
}

#[test]
fn every_receiver_sees_every_item_sent_after_it_subscribed() {
    let (tx, mut rx1) = channel::broadcast::<u32>(8);
    assert_eq!(tx.send(1), Ok(1));
    let mut rx2 = tx.subscribe();
    let mut rx3 = rx1.resubscribe();
    assert_eq!(tx.send(2), Ok(3));
    let mut twin = rx1.clone(); // where rx1 stands: sees 1 and 2
    let tx2 = tx.clone();
    assert_eq!(tx2.send(3), Ok(4));
    let all = |rx: &mut broadcast::Receiver<u32>| {
        std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>()
    };
    assert_eq!(all(&mut rx1), [1, 2, 3]);
    assert_eq!(all(&mut rx2), [2, 3]);
    assert_eq!(all(&mut rx3), [2, 3]);
    assert_eq!(all(&mut twin), [1, 2, 3]);
    assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.statistics().retained, 0, "read by all: none kept");
}

#[arbor::test(virtual_clock)]
async fn a_lagging_receiver_is_told_how_many_it_missed_then_continues_from_the_oldest() {
    let (tx, mut slow) = broadcast::channel::<u32>(2);
    let mut fast = tx.subscribe();
    for i in 1..=5 {
        tx.send(i).unwrap();
        assert_eq!(fast.recv().await, Ok(i));
    }
    // Capacity 2: 4 and 5 are retained, 1..=3 were dropped for room.
    assert_eq!(tx.statistics().retained, 2);
    assert_eq!(slow.recv().await, Err(RecvError::Lagged(3)));
    assert_eq!(slow.recv().await, Ok(4));
    tx.send(6).unwrap();
    tx.send(7).unwrap(); // drops 5 (unread by slow)
    assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(slow.try_recv(), Ok(6));
    assert_eq!(slow.try_recv(), Ok(7));
    assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
    // Exactly `capacity` behind is not a lag.
    tx.send(8).unwrap();
    tx.send(9).unwrap();
    assert_eq!(slow.try_recv(), Ok(8));
    assert_eq!(slow.try_recv(), Ok(9));
    assert!(
        RecvError::Lagged(3).to_string().contains("missed 3"),
        "{}",
        RecvError::Lagged(3)
    );
}

#[arbor::test(virtual_clock)]
async fn closing_all_senders_ends_every_receiver_after_it_drains() {
    let log = Log::default();
    let (tx, rx) = broadcast::channel::<u32>(4);
    let tx2 = tx.clone();
    let mut waiters = Vec::new();
    for name in ["w0", "w1"] {
        let (mut rx, log) = (rx.resubscribe(), log.clone());
        waiters.push(spawn(async move {
            loop {
                let out = rx.recv().await;
                log.push(format!("{name}: {out:?}"));
                if out.is_err() {
                    break;
                }
            }
        }));
    }
    let mut rx = rx;
    yield_now().await;
    assert_eq!(tx.statistics().tasks_waiting, 2);
    tx.send(1).unwrap();
    drop(tx);
    tx2.send(2).unwrap();
    drop(tx2);
    log.push("senders gone");
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(rx.recv().await, Ok(1), "retained items drain first");
    assert_eq!(rx.recv().await, Ok(2));
    assert_eq!(rx.recv().await, Err(RecvError::Closed));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    // Woken by the send, each takes 1 at once; 2 is found ready, so
    // that receive yields to the other receiver first (a checkpoint).
    assert_eq!(
        log.take(),
        [
            "senders gone",
            "w0: Ok(1)",
            "w1: Ok(1)",
            "w0: Ok(2)",
            "w0: Err(Closed)",
            "w1: Ok(2)",
            "w1: Err(Closed)"
        ]
    );
}

#[test]
fn send_never_waits_and_hands_the_item_back_without_receivers() {
    let (tx, rx) = broadcast::channel::<String>(1);
    for i in 0..100 {
        assert_eq!(tx.send(i.to_string()), Ok(1), "never full");
    }
    assert_eq!(tx.receiver_count(), 1);
    drop(rx);
    assert_eq!(tx.receiver_count(), 0);
    assert_eq!(
        tx.statistics().retained,
        0,
        "dropped with the last receiver"
    );
    let err = tx.send("x".into()).unwrap_err();
    assert_eq!(format!("{err:?}"), "SendError(..)");
    assert!(err.to_string().contains("subscribe"));
    assert_eq!(err.into_inner(), "x");
    let mut late = tx.subscribe();
    assert_eq!(tx.send("y".into()), Ok(1));
    assert_eq!(late.try_recv().as_deref(), Ok("y"));
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn a_capacity_of_zero_panics_clearly() {
    let _ = broadcast::channel::<u8>(0);
}

#[arbor::test(virtual_clock)]
async fn waiting_receivers_are_all_woken_in_fifo_order() {
    let log = Log::default();
    let (tx, rx) = broadcast::channel::<u32>(4);
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let (mut rx, log) = (rx.resubscribe(), log.clone());
            spawn(async move {
                log.push(format!("r{i} waits"));
                let v = rx.recv().await.unwrap();
                log.push(format!("r{i} got {v}"));
            })
        })
        .collect();
    yield_now().await;
    assert_eq!(tx.send(7), Ok(4));
    log.push("sent 7");
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        log.take(),
        [
            "r0 waits", "r1 waits", "r2 waits", "sent 7", "r0 got 7", "r1 got 7", "r2 got 7"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn recv_of_a_retained_item_is_a_checkpoint() {
    let log = Log::default();
    let (tx, mut rx) = broadcast::channel::<u32>(4);
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    let clog = log.clone();
    let consumer = spawn(async move {
        for _ in 0..3 {
            let v = rx.recv().await.unwrap();
            clog.push(format!("c{v}"));
        }
    });
    let olog = log.clone();
    let other = spawn(async move {
        for i in 0..3 {
            olog.push(format!("o{i}"));
            yield_now().await;
        }
    });
    consumer.await.unwrap();
    other.await.unwrap();
    assert_eq!(log.take(), ["o0", "c0", "o1", "c1", "o2", "c2"]);

    // Nothing else ready: no yield. Lagged: returned at once.
    let mut rx = tx.subscribe();
    tx.send(9).unwrap();
    assert_eq!(poll_once(&mut rx.recv()).await, Some(Ok(9)));
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    let _busy = make_busy();
    assert_eq!(
        poll_once(&mut rx.recv()).await,
        Some(Err(RecvError::Lagged(1)))
    );
}

#[arbor::test(virtual_clock)]
async fn a_dropped_recv_loses_nothing_wherever_it_was_dropped() {
    let (tx, mut rx) = broadcast::channel::<u32>(2);
    // Dropped while waiting.
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none());
    drop(recv);
    assert_eq!(tx.statistics().tasks_waiting, 0);
    tx.send(1).unwrap();
    // Dropped at the schedule point, holding a clone of 1.
    let _busy = make_busy();
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none(), "yields");
    drop(recv);
    assert_eq!(tx.statistics().retained, 1, "1 not consumed");
    // In a cancelled scope: no progress.
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(rx.recv()).await.is_err());
    assert_eq!(rx.recv().await, Ok(1), "the same item again");

    // Held while its slot is dropped for room: the held item is still
    // returned, and the lag counts only what came after it.
    tx.send(2).unwrap();
    let _busy = make_busy();
    let mut recv = rx.recv();
    assert!(poll_once(&mut recv).await.is_none(), "holds 2");
    for i in 3..=6 {
        tx.send(i).unwrap(); // drops 2, 3, 4
    }
    assert_eq!(poll_once(&mut recv).await, Some(Ok(2)));
    drop(recv);
    assert_eq!(rx.recv().await, Err(RecvError::Lagged(2)), "3 and 4");
    assert_eq!(rx.recv().await, Ok(5));
}

#[arbor::test(virtual_clock)]
async fn the_kept_item_is_returned_even_if_the_scope_is_cancelled_meanwhile() {
    let (tx, mut rx) = broadcast::channel::<u32>(2);
    tx.send(1).unwrap();
    let scope = CancelScope::new();
    let handle = scope.handle();
    let canceller = spawn(async move { handle.cancel() });
    let got = Rc::new(RefCell::new(None));
    let out = scope
        .run(async {
            let v = rx.recv().await; // takes 1, yields: the canceller runs
            *got.borrow_mut() = Some(v);
            yield_now().await;
        })
        .await;
    canceller.await.unwrap();
    assert!(out.is_err());
    assert_eq!(*got.borrow(), Some(Ok(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "1 was consumed");
}

#[arbor::test(virtual_clock)]
async fn every_item_is_dropped_exactly_once_and_only_when_no_one_can_read_it() {
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let (tx, mut a) = broadcast::channel::<Item>(3);
    let mut b = tx.subscribe();
    for id in 1..=2 {
        tx.send(Item::new(id, &ledger)).unwrap();
    }
    drop(a.recv().await.unwrap());
    assert_eq!(dropped(&ledger), Vec::<u32>::new(), "b has not read 1");
    drop(b.recv().await.unwrap());
    assert_eq!(dropped(&ledger), [1], "read by both: dropped at once");
    // Overflow drops the oldest, once.
    for id in 3..=5 {
        tx.send(Item::new(id, &ledger)).unwrap();
    }
    assert_eq!(dropped(&ledger), [1, 2], "2 dropped for room");
    assert_eq!(b.try_recv().err(), Some(TryRecvError::Lagged(1)));
    let mut c = b.clone(); // counts in 3..=5 too
    assert_eq!(b.try_recv().map(|i| i.id).ok(), Some(3));
    assert_eq!(a.try_recv().err(), Some(TryRecvError::Lagged(1)));
    assert_eq!(a.try_recv().map(|i| i.id).ok(), Some(3));
    assert_eq!(dropped(&ledger), [1, 2], "c has not read 3");
    drop(c.try_recv().unwrap());
    assert_eq!(dropped(&ledger), [1, 2, 3]);
    // A dropped receiver no longer holds items back.
    drop(a);
    drop(b);
    assert_eq!(dropped(&ledger), [1, 2, 3], "c still has 4 and 5 to read");
    drop(c);
    assert_eq!(dropped(&ledger), [1, 2, 3, 4, 5]);
    assert_eq!(tx.statistics().retained, 0);
    // A send without receivers hands its item back: dropped by us.
    let back = tx.send(Item::new(6, &ledger)).unwrap_err().into_inner();
    drop(back);
    // Items still retained when the last handle goes are dropped then.
    let mut d = tx.subscribe();
    tx.send(Item::new(7, &ledger)).unwrap();
    tx.send(Item::new(8, &ledger)).unwrap();
    let _busy = make_busy();
    let mut recv = d.recv();
    assert!(poll_once(&mut recv).await.is_none(), "holds a clone of 7");
    drop(recv);
    drop(tx);
    assert_eq!(d.recv().await.map(|i| i.id).ok(), Some(7));
    assert_eq!(dropped(&ledger), [1, 2, 3, 4, 5, 6, 7]);
    drop(d);
    assert_eq!(dropped(&ledger), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(ledger.borrow().clones_alive, 0);
}

#[arbor::test(virtual_clock)]
async fn the_stream_yields_lags_and_items_then_ends() {
    let (tx, mut rx) = broadcast::channel::<u32>(2);
    let mut waiting = tx.subscribe();
    for i in 0..4 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(
        (&mut rx).collect::<Vec<_>>().await,
        [Err(Lagged(2)), Ok(2), Ok(3)]
    );
    assert_eq!(rx.next().await, None);
    assert_eq!(RecvError::from(Lagged(2)), RecvError::Lagged(2));

    let (tx, mut rx) = broadcast::channel::<u32>(2);
    assert!(poll_once(&mut rx.next()).await.is_none(), "waits");
    tx.send(5).unwrap();
    assert_eq!(rx.next().await, Some(Ok(5)));
    assert_eq!(waiting.next().await, Some(Err(Lagged(2))));
}

#[arbor::test(virtual_clock)]
async fn statistics_track_items_handles_and_waiters() {
    let (tx, mut rx) = broadcast::channel::<u8>(2);
    let stats = |retained, senders, receivers, tasks_waiting| BroadcastStatistics {
        retained,
        capacity: 2,
        senders,
        receivers,
        tasks_waiting,
    };
    assert_eq!(tx.statistics(), stats(0, 1, 1, 0));
    let tx2 = tx.clone();
    let rx2 = rx.resubscribe();
    {
        let mut recv = rx.recv();
        assert!(poll_once(&mut recv).await.is_none());
        assert_eq!(tx.statistics(), stats(0, 2, 2, 1));
    }
    for i in 0..3 {
        tx2.send(i).unwrap();
    }
    assert_eq!(rx2.statistics(), stats(2, 2, 2, 0));
    drop(rx2);
    drop(tx2);
    assert_eq!(rx.statistics(), stats(2, 1, 1, 0));
    let _ = SendError(0u8).into_inner();
}

#[test]
fn stress_random_cancellation_every_item_is_seen_or_counted_as_lagged() {
    use std::time::Duration;
    for seed in 1..=4 {
        rt().block_on(async move {
            let ledger = Rc::new(RefCell::new(Ledger::default()));
            let rng = Rc::new(RefCell::new(support::chan::Rng::new(seed)));
            let (tx, rx) = broadcast::channel::<Item>(3);
            let mut readers = Vec::new();
            for _ in 0..4 {
                let (mut rx, rng) = (rx.resubscribe(), rng.clone());
                readers.push(spawn(async move {
                    let (mut seen, mut lagged, mut last) = (0u64, 0u64, 0u32);
                    loop {
                        let wait = Duration::from_millis(rng.borrow_mut().below(3));
                        match arbor_nursery::move_on_after(wait, rx.recv()).await {
                            None => continue, // dropped: loses nothing
                            Some(Ok(item)) => {
                                assert!(item.id > last, "in order, no repeats");
                                last = item.id;
                                seen += 1;
                            }
                            Some(Err(RecvError::Lagged(n))) => lagged += n,
                            Some(Err(RecvError::Closed)) => return (seen, lagged, last),
                        }
                    }
                }));
            }
            drop(rx);
            for id in 1..=200 {
                tx.send(Item::new(id, &ledger)).unwrap();
                let r = rng.borrow_mut().below(4);
                if r == 0 {
                    arbor_runtime::time::sleep(Duration::from_millis(1)).await;
                } else if r == 1 {
                    yield_now().await;
                }
            }
            drop(tx);
            let mut total_lag = 0;
            for r in readers {
                let (seen, lagged, last) = r.await.unwrap();
                assert_eq!(seen + lagged, 200, "seed {seed}");
                assert_eq!(last, 200, "the last item is always retained");
                total_lag += lagged;
            }
            assert!(
                total_lag > 0,
                "seed {seed}: the test should make readers lag"
            );
            assert_eq!(dropped(&ledger), (1..=200).collect::<Vec<_>>());
            assert_eq!(ledger.borrow().clones_alive, 0);
        });
    }
}
