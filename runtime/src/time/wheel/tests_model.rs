//! Randomized model test: the wheel against a plain map of timers.

use super::test_util::{Harness, XorShift};
use super::{NEVER, TimerKey};
use std::collections::BTreeMap;

/// What the model knows about one allocated timer.
#[derive(Clone, Debug)]
struct Timer {
    key: TimerKey,
    deadline: u64,
    fired: bool,
    /// Tick it is due at: the deadline, or `elapsed` when filed in the past.
    eff: u64,
    /// Filing order, for FIFO among equal deadlines.
    seq: u64,
    /// Lazily moved since last filed: FIFO among equals not promised.
    lazy: bool,
}

fn deadline(rng: &mut XorShift, e: u64) -> u64 {
    match rng.below(20) {
        0..=1 => e.saturating_sub(rng.below(100)),
        2..=8 => e + 1 + rng.below(64),
        9..=13 => e + rng.below(5000),
        14..=16 => e + rng.below(1 << 20),
        17..=18 => e + rng.below(1 << 40),
        _ if rng.below(4) == 0 => u64::MAX,
        _ => e + (1 << 36) + rng.below(1 << 36),
    }
}

fn poll_target(rng: &mut XorShift, e: u64) -> u64 {
    match rng.below(40) {
        0..=3 => e.saturating_sub(rng.below(10)),
        4..=27 => e + rng.below(64),
        28..=35 => e + rng.below(5000),
        36..=38 => e + rng.below(1 << 20),
        _ => e + rng.below(1 << 37),
    }
}

/// A random live id, preferring (a few tries) one whose `fired` is `want_fired`.
fn pick(rng: &mut XorShift, live: &BTreeMap<u32, Timer>, want_fired: bool) -> Option<u32> {
    let n = live.len() as u64;
    let mut id = None;
    for _ in 0..4 {
        let (&k, t) = live.iter().nth(rng.below(n.max(1)) as usize)?;
        id = Some(k);
        if t.fired == want_fired {
            break;
        }
    }
    id
}

fn run(seed: u64, ops: usize) {
    let mut h = Harness::new();
    let mut rng = XorShift(seed);
    let mut live: BTreeMap<u32, Timer> = BTreeMap::new();
    let mut dead: Vec<TimerKey> = Vec::new();
    let (mut next_id, mut seq) = (0u32, 0u64);
    let (mut fires, mut lazies) = (0usize, 0usize);

    for op in 0..ops {
        let e = h.wheel.elapsed();
        match rng.below(100) {
            0..=27 => {
                let d = deadline(&mut rng, e);
                let key = h.insert(d, next_id);
                seq += 1;
                let t = Timer {
                    key,
                    deadline: d,
                    fired: false,
                    eff: d.max(e),
                    seq,
                    lazy: false,
                };
                live.insert(next_id, t);
                next_id += 1;
            }
            28..=49 => {
                if let Some(id) = pick(&mut rng, &live, true) {
                    let t = live.remove(&id).unwrap();
                    h.wheel.remove(t.key);
                    dead.push(t.key);
                }
            }
            50..=54 => {
                if let Some(&key) = dead.get(rng.below(dead.len() as u64 + 1) as usize) {
                    let before = (h.wheel.armed(), h.wheel.len(), h.wheel.next_expiration());
                    h.reset(key, e + 1, u32::MAX);
                    h.wheel.set_waker(key, &h.waker(u32::MAX));
                    h.wheel.remove(key);
                    assert!(h.wheel.is_fired(key));
                    assert_eq!(h.wheel.deadline(key), None);
                    let after = (h.wheel.armed(), h.wheel.len(), h.wheel.next_expiration());
                    assert_eq!(before, after, "stale key had an effect");
                }
            }
            55..=79 => {
                if let Some(id) = pick(&mut rng, &live, false) {
                    let d = if rng.below(2) == 0 {
                        deadline(&mut rng, e)
                    } else {
                        // Bias to "later": the lazy path.
                        live[&id].deadline.saturating_add(rng.below(1 << 12))
                    };
                    let t = live.get_mut(&id).unwrap();
                    h.reset(t.key, d, id);
                    // A NEVER deadline is dormant: filed nowhere.
                    let in_wheel = !t.fired && t.deadline > e && t.deadline != NEVER;
                    if in_wheel && d >= t.deadline && d != NEVER {
                        lazies += 1;
                        if d > t.deadline {
                            t.lazy = true;
                            t.eff = d;
                        }
                    } else {
                        seq += 1;
                        (t.eff, t.seq, t.lazy, t.fired) = (d.max(e), seq, false, false);
                    }
                    t.deadline = d;
                }
            }
            _ => {
                let now = poll_target(&mut rng, e);
                let due = now.max(e);
                let fired = h.poll(now);
                let mut expected: Vec<u32> = live
                    .iter()
                    .filter(|(_, t)| !t.fired && t.deadline <= due && t.deadline != NEVER)
                    .map(|(&id, _)| id)
                    .collect();
                let mut got = fired.clone();
                got.sort_unstable();
                expected.sort_unstable();
                assert_eq!(
                    got, expected,
                    "seed {seed} op {op}: wrong set at poll({now})"
                );
                for pair in fired.windows(2) {
                    let (a, b) = (&live[&pair[0]], &live[&pair[1]]);
                    assert!(
                        a.eff <= b.eff,
                        "seed {seed} op {op}: out of order {a:?} {b:?}"
                    );
                }
                // FIFO among equal deadlines, for entries never lazily moved.
                let strict: Vec<&Timer> = fired
                    .iter()
                    .map(|id| &live[id])
                    .filter(|t| !t.lazy)
                    .collect();
                for pair in strict.windows(2) {
                    if pair[0].eff == pair[1].eff {
                        assert!(
                            pair[0].seq < pair[1].seq,
                            "seed {seed} op {op}: FIFO {pair:?}"
                        );
                    }
                }
                for id in &fired {
                    live.get_mut(id).unwrap().fired = true;
                }
                fires += fired.len();
                assert_eq!(h.wheel.elapsed(), due);
            }
        }
        check(&h, &live, op % 16 == 0);
    }
    assert!(
        fires > ops / 10 && lazies > ops / 50,
        "weak run: {fires} fires, {lazies} lazy"
    );
}

fn check(h: &Harness, live: &BTreeMap<u32, Timer>, full: bool) {
    let armed: Vec<&Timer> = live
        .values()
        .filter(|t| !t.fired && t.deadline != NEVER)
        .collect();
    assert_eq!(h.wheel.armed(), armed.len());
    assert_eq!(h.wheel.len(), live.len());
    let min_due = armed.iter().map(|t| t.eff).min();
    match (h.wheel.next_expiration(), min_due) {
        (None, None) => {}
        (Some(next), Some(min)) => {
            assert!(
                next <= min,
                "next_expiration {next} after earliest due {min}"
            );
            assert!(next >= h.wheel.elapsed());
        }
        other => panic!("next_expiration/armed mismatch: {other:?}"),
    }
    if full {
        for t in live.values() {
            assert_eq!(h.wheel.is_fired(t.key), t.fired);
            assert_eq!(h.wheel.deadline(t.key), Some(t.deadline));
        }
    }
}

#[test]
fn model_random_ops() {
    for seed in 1..=8u64 {
        run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 20_000);
    }
}
