//! Many producers and consumers with random cancellation: every item is
//! delivered exactly once or, if its send was withdrawn, dropped unsent;
//! nothing is lost, duplicated or leaked.

mod support;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use arbor_nursery::{CancelScope, move_on_after};
use arbor_primitives::channel::{self, RecvError, TryRecvError};
use arbor_runtime::time::sleep;
use arbor_runtime::{spawn, yield_now};
use support::chan::{Rng, rt};

#[derive(Default)]
struct Ledger {
    /// id -> times it was dropped after a receiver got it.
    received: HashMap<u64, u32>,
    /// id -> times it was dropped without reaching a receiver.
    unsent: HashMap<u64, u32>,
}

struct Item {
    id: u64,
    received: bool,
    ledger: Rc<RefCell<Ledger>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        let mut ledger = self.ledger.borrow_mut();
        let map = if self.received {
            &mut ledger.received
        } else {
            &mut ledger.unsent
        };
        *map.entry(self.id).or_default() += 1;
    }
}

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 60;
const CONSUMERS: usize = 4;

fn ms(rng: &RefCell<Rng>, n: u64) -> Duration {
    Duration::from_millis(rng.borrow_mut().below(n))
}

fn stress(seed: u64, cap: Option<usize>) {
    rt().block_on(async move {
        let rng = Rc::new(RefCell::new(Rng::new(seed)));
        let ledger = Rc::new(RefCell::new(Ledger::default()));
        let ok = Rc::new(RefCell::new(HashSet::new()));
        let cancelled_sends = Rc::new(RefCell::new(0u32));
        let (tx, rx) = match cap {
            Some(n) => channel::bounded::<Item>(n),
            None => channel::unbounded::<Item>(),
        };

        let mut producers = Vec::new();
        for p in 0..PRODUCERS {
            let (tx, rng, ledger, ok) = (tx.clone(), rng.clone(), ledger.clone(), ok.clone());
            let cancelled_sends = cancelled_sends.clone();
            producers.push(spawn(async move {
                for k in 0..PER_PRODUCER {
                    let id = p * 1000 + k;
                    let item = Item {
                        id,
                        received: false,
                        ledger: ledger.clone(),
                    };
                    let mode = rng.borrow_mut().below(4);
                    let sent = match mode {
                        0 => tx.try_send(item).is_ok(), // a failed item drops unsent
                        1 | 2 => match move_on_after(ms(&rng, 4), tx.send(item)).await {
                            Some(res) => {
                                assert!(res.is_ok(), "receivers are open");
                                true
                            }
                            None => {
                                *cancelled_sends.borrow_mut() += 1;
                                false
                            }
                        },
                        _ => tx.send(item).await.is_ok(),
                    };
                    if sent {
                        ok.borrow_mut().insert(id);
                    }
                    if rng.borrow_mut().below(3) == 0 {
                        sleep(ms(&rng, 3)).await;
                    }
                }
            }));
        }
        drop(tx);

        let got_by = Rc::new(RefCell::new(vec![0u32; CONSUMERS]));
        let mut consumers = Vec::new();
        let mut kill = Vec::new();
        for c in 0..CONSUMERS {
            let (rx, rng, got_by) = (rx.clone(), rng.clone(), got_by.clone());
            let scope = CancelScope::new();
            kill.push(scope.handle());
            let body = async move {
                loop {
                    let mode = rng.borrow_mut().below(3);
                    let res = match mode {
                        0 => match move_on_after(ms(&rng, 4), rx.recv()).await {
                            Some(res) => res,
                            None => continue, // dropped: consumed nothing
                        },
                        1 => rx.recv().await,
                        _ => match rx.try_recv() {
                            Ok(item) => Ok(item),
                            Err(TryRecvError::Empty) => {
                                yield_now().await;
                                continue;
                            }
                            Err(TryRecvError::Closed) => Err(RecvError::Closed),
                            Err(TryRecvError::ClosedHandle) => unreachable!(),
                        },
                    };
                    match res {
                        Ok(mut item) => {
                            item.received = true;
                            got_by.borrow_mut()[c] += 1;
                        }
                        Err(RecvError::Closed) => break,
                        Err(RecvError::ClosedHandle) => unreachable!(),
                    }
                }
            };
            consumers.push(spawn(async move { scope.run(body).await.is_err() }));
        }
        // Kill consumers 1.. at random times, mid-wait or mid-sleep;
        // consumer 0 keeps draining.
        for handle in kill.iter().skip(1) {
            sleep(ms(&rng, 8)).await;
            handle.cancel();
        }

        for p in producers {
            p.await.unwrap();
        }
        let mut killed = 0;
        for c in consumers {
            killed += u32::from(c.await.unwrap());
        }
        let stats = rx.statistics();
        assert_eq!(
            (stats.tasks_waiting_send, stats.tasks_waiting_receive),
            (0, 0)
        );
        assert_eq!(stats.current_buffer_used, 0);
        drop(rx);

        let ledger = ledger.borrow();
        let ok = ok.borrow();
        for p in 0..PRODUCERS {
            for k in 0..PER_PRODUCER {
                let id = p * 1000 + k;
                let r = ledger.received.get(&id).copied().unwrap_or(0);
                let u = ledger.unsent.get(&id).copied().unwrap_or(0);
                assert_eq!(
                    r + u,
                    1,
                    "item {id} accounted for exactly once (received {r}, unsent {u})"
                );
                if ok.contains(&id) {
                    assert_eq!(r, 1, "item {id} was sent but never received");
                }
            }
        }
        let total = (PRODUCERS * PER_PRODUCER) as usize;
        assert_eq!(ledger.received.len() + ledger.unsent.len(), total);
        assert!(ok.len() <= ledger.received.len(), "received ⊇ sent");
        assert!(
            *cancelled_sends.borrow() > 0,
            "seed {seed}: no send was cancelled"
        );
        assert!(killed > 0, "seed {seed}: no consumer was killed mid-way");
        assert!(got_by.borrow()[0] > 0);
    });
}

#[test]
fn stress_rendezvous() {
    for seed in 1..=4 {
        stress(seed, Some(0));
    }
}

#[test]
fn stress_bounded() {
    for seed in 11..=14 {
        stress(seed, Some(1));
        stress(seed + 100, Some(5));
    }
}

#[test]
fn stress_unbounded() {
    for seed in 21..=23 {
        stress(seed, None);
    }
}
