//! oneshot and watch channels.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use arbor_nursery::CancelScope;
use arbor_primitives::channel::{oneshot, watch};
use arbor_runtime::{spawn, yield_now};
use support::chan::{Log, Rng, Token, make_busy, poll_once};

#[arbor::test(virtual_clock)]
async fn oneshot_delivers_once_and_reports_a_dropped_sender() {
    let (tx, rx) = oneshot::channel();
    let waiter = spawn(rx);
    yield_now().await;
    assert!(!tx.is_closed());
    tx.send("v").unwrap();
    assert_eq!(waiter.await.unwrap(), Ok("v"));

    let (tx, rx) = oneshot::channel::<u8>();
    drop(tx);
    assert_eq!(rx.await, Err(oneshot::RecvError));
    assert!(
        oneshot::RecvError
            .to_string()
            .contains("dropped without sending")
    );
}

#[test]
fn oneshot_send_to_a_dropped_receiver_hands_the_value_back() {
    let (tx, rx) = oneshot::channel::<String>();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send("back".into()), Err("back".to_string()));
}

#[test]
fn oneshot_try_recv() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
}

#[arbor::test(virtual_clock)]
async fn oneshot_in_a_cancelled_scope_takes_nothing_and_a_dropped_receiver_drops_the_value() {
    struct Token(Rc<Cell<bool>>);
    impl Drop for Token {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let (tx, mut rx) = oneshot::channel();
    tx.send(Token(dropped.clone()))
        .unwrap_or_else(|_| panic!("receiver alive"));
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(&mut rx).await.is_err());
    assert!(
        rx.try_recv().is_ok(),
        "still there after the cancelled wait"
    );
    assert!(dropped.get());

    let dropped = Rc::new(Cell::new(false));
    let (tx, rx) = oneshot::channel();
    tx.send(Token(dropped.clone()))
        .unwrap_or_else(|_| panic!("receiver alive"));
    drop(rx);
    assert!(dropped.get(), "the receiver's drop dropped the value");
}

#[arbor::test(virtual_clock)]
async fn watch_changed_sees_the_latest_value_and_coalesces() {
    let (tx, rx) = watch::channel(0);
    assert_eq!(rx.has_changed(), Ok(false));
    tx.send(1);
    tx.send(2);
    assert_eq!(rx.has_changed(), Ok(true));
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow(), 2);
    let mut again = rx.changed();
    assert!(poll_once(&mut again).await.is_none(), "nothing newer yet");
    tx.send_modify(|v| *v += 10);
    assert_eq!(poll_once(&mut again).await, Some(Ok(())));
    assert_eq!(*tx.borrow(), 12);
    assert_eq!(tx.send_replace(13), 12);
    assert_eq!(*rx.borrow_and_update(), 13);
    assert_eq!(rx.has_changed(), Ok(false));
}

#[arbor::test(virtual_clock)]
async fn watch_wakes_every_waiter_in_fifo_order() {
    let log = Log::default();
    let (tx, rx) = watch::channel("a");
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let (rx, log) = (rx.clone(), log.clone());
            spawn(async move {
                log.push(format!("w{i} waits"));
                rx.changed().await.unwrap();
                log.push(format!("w{i} sees {}", *rx.borrow()));
            })
        })
        .collect();
    yield_now().await;
    tx.send("b");
    log.push("sent b");
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        log.take(),
        [
            "w0 waits",
            "w1 waits",
            "w2 waits",
            "sent b",
            "w0 sees b",
            "w1 sees b",
            "w2 sees b"
        ]
    );
}

#[arbor::test(virtual_clock)]
async fn watch_sender_drop_ends_after_the_last_value_is_seen() {
    let (tx, rx) = watch::channel(0);
    let rx2 = rx.clone();
    assert_eq!(tx.receiver_count(), 2);
    let waiter = spawn(async move { rx2.changed().await });
    yield_now().await;
    drop(tx);
    assert_eq!(
        waiter.await.unwrap(),
        Err(watch::RecvError),
        "no new value: error"
    );

    let (tx, rx) = watch::channel(0);
    tx.send(1);
    drop(tx);
    assert_eq!(rx.changed().await, Ok(()), "the unseen value comes first");
    assert_eq!(rx.changed().await, Err(watch::RecvError));
    assert_eq!(rx.has_changed(), Err(watch::RecvError));
}

#[test]
fn watch_clones_and_subscribers_inherit_what_was_seen() {
    let (tx, rx) = watch::channel(0);
    tx.send(1);
    let clone = rx.clone();
    assert_eq!(clone.has_changed(), Ok(true));
    let sub = tx.subscribe();
    assert_eq!(sub.has_changed(), Ok(false));
    assert_eq!(tx.receiver_count(), 3);
}

#[test]
#[should_panic(expected = "drop it first")]
fn watch_send_while_a_ref_is_held_panics_clearly() {
    let (tx, rx) = watch::channel(0);
    let held = rx.borrow();
    tx.send(1);
    drop(held);
}

#[arbor::test(virtual_clock)]
async fn watch_dropped_and_cancelled_waits_lose_nothing() {
    let (tx, rx) = watch::channel(0);
    // Dropped before the notification.
    let mut w = rx.changed();
    assert!(poll_once(&mut w).await.is_none());
    drop(w);
    // Dropped after it (granted, not yet run).
    let mut w = rx.changed();
    assert!(poll_once(&mut w).await.is_none());
    tx.send(1);
    drop(w);
    assert_eq!(rx.has_changed(), Ok(true));
    // In a cancelled scope: no progress, the change stays unseen.
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(rx.changed()).await.is_err());
    assert_eq!(rx.has_changed(), Ok(true));
    rx.changed().await.unwrap();
}

#[arbor::test(virtual_clock)]
async fn watch_stress_random_cancellation_every_waiter_sees_the_last_value() {
    let mut rng = Rng::new(7);
    let (tx, rx) = watch::channel(0u32);
    let mut tasks = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..20 {
        let rx = rx.clone();
        let scope = CancelScope::new();
        handles.push(scope.handle());
        tasks.push(spawn(async move {
            let mut last = 0;
            let out = scope
                .run(async {
                    while rx.changed().await.is_ok() {
                        let v = *rx.borrow_and_update();
                        assert!(v > last, "values only move forward");
                        last = v;
                    }
                })
                .await;
            (out.is_ok(), last)
        }));
    }
    let mut cancelled = [false; 20];
    for v in 1..=100 {
        if rng.below(4) == 0 {
            yield_now().await;
        }
        tx.send(v);
        if rng.below(10) == 0 {
            let i = rng.below(20) as usize;
            handles[i].cancel();
            cancelled[i] = true;
        }
    }
    drop(tx);
    let mut finished = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (ended, last) = t.await.unwrap();
        assert_eq!(ended, !cancelled[i], "waiter {i}");
        if ended {
            assert_eq!(last, 100, "waiter {i} missed the last value");
            finished += 1;
        }
    }
    assert!(finished > 0 && finished < 20);
}

#[arbor::test(virtual_clock)]
async fn oneshot_and_watch_report_statistics() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let s = tx.statistics();
    assert!(s.sender_open && s.receiver_open && !s.value_waiting);
    assert!(poll_once(&mut rx).await.is_none());
    assert_eq!(tx.statistics().tasks_waiting, 1);
    tx.send(3).unwrap();
    let s = rx.statistics();
    assert!(!s.sender_open && s.value_waiting);
    assert_eq!(rx.await, Ok(3));

    let (tx, rx) = watch::channel(0u32);
    let rx2 = rx.clone();
    tx.send(1);
    tx.send(2);
    let s = rx2.statistics();
    assert_eq!(
        (s.version, s.receivers, s.sender_open, s.tasks_waiting),
        (2, 2, true, 0)
    );
    drop(tx);
    assert!(!rx.statistics().sender_open);
}

#[arbor::test(virtual_clock)]
async fn oneshot_and_watch_receives_that_find_a_value_are_checkpoints() {
    let log = Log::default();
    let other = |log: &Log, name: &'static str| {
        let log = log.clone();
        spawn(async move { log.push(name) })
    };
    let (tx, rx) = oneshot::channel();
    tx.send(1).unwrap();
    let o = other(&log, "o1");
    let v = rx.await.unwrap(); // the value is there: still yields to `o1`
    log.push(format!("got {v}"));
    o.await.unwrap();

    let (tx, rx) = watch::channel(0);
    tx.send(1);
    let o = other(&log, "o2");
    rx.changed().await.unwrap(); // a change is there: still yields
    log.push(format!("changed to {}", *rx.borrow()));
    o.await.unwrap();
    assert_eq!(log.take(), ["o1", "got 1", "o2", "changed to 1"]);

    // With nothing else ready, no yield.
    let (tx, mut rx) = oneshot::channel();
    tx.send(2).unwrap();
    assert_eq!(poll_once(&mut rx).await, Some(Ok(2)));
    tx_then_changed_at_once().await;
}

async fn tx_then_changed_at_once() {
    let (tx, rx) = watch::channel(0);
    tx.send(1);
    assert_eq!(poll_once(&mut rx.changed()).await, Some(Ok(())));
}

#[arbor::test(virtual_clock)]
async fn oneshot_value_found_at_once_stays_in_the_channel_over_the_schedule_point() {
    let dropped = Rc::new(Cell::new(0));
    let token = |n| Token(n, dropped.clone());

    // The `&mut rx` future is dropped at the schedule point: the value
    // is still there for `try_recv`.
    let (tx, mut rx) = oneshot::channel();
    tx.send(token(1))
        .unwrap_or_else(|_| panic!("receiver alive"));
    let _busy = make_busy();
    assert!(poll_once(&mut rx).await.is_none(), "yields");
    assert!(rx.statistics().value_waiting);
    let v = rx.try_recv().unwrap();
    assert_eq!((v.0, dropped.get()), (1, 0));
    drop(v);
    assert_eq!(dropped.get(), 1);

    // The next poll returns it even inside a cancelled scope.
    let (tx, mut rx) = oneshot::channel();
    tx.send(token(2))
        .unwrap_or_else(|_| panic!("receiver alive"));
    let _busy = make_busy();
    assert!(poll_once(&mut rx).await.is_none(), "yields");
    let scope = CancelScope::new();
    scope.cancel();
    let v = scope
        .run(&mut rx)
        .await
        .expect("polled once before the drop");
    assert_eq!(v.map(|t| t.0), Ok(2));
    assert_eq!(dropped.get(), 2);

    // The receiver is dropped at the schedule point: the value is
    // dropped once, with it.
    let (tx, mut rx) = oneshot::channel();
    tx.send(token(3))
        .unwrap_or_else(|_| panic!("receiver alive"));
    let _busy = make_busy();
    assert!(poll_once(&mut rx).await.is_none(), "yields");
    drop(rx);
    assert_eq!(dropped.get(), 3);
}

#[arbor::test(virtual_clock)]
async fn watch_change_found_at_once_is_marked_seen_only_when_returned() {
    let (tx, rx) = watch::channel(0);
    tx.send(1);
    let _busy = make_busy();
    let mut changed = rx.changed();
    assert!(poll_once(&mut changed).await.is_none(), "yields");
    drop(changed);
    assert_eq!(rx.has_changed(), Ok(true), "still unseen");

    let _busy = make_busy();
    let mut changed = rx.changed();
    assert!(poll_once(&mut changed).await.is_none(), "yields");
    tx.send(2); // while it yields: it marks the newest seen
    assert_eq!(poll_once(&mut changed).await, Some(Ok(())));
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(*rx.borrow(), 2);

    // A wait that was woken returns without another yield.
    let mut changed = rx.changed();
    assert!(poll_once(&mut changed).await.is_none(), "waits");
    tx.send(3);
    let _busy = make_busy();
    assert_eq!(poll_once(&mut changed).await, Some(Ok(())));
}
