use super::test_util::{Harness, XorShift};
use super::*;

#[test]
fn entry_is_small() {
    assert!(std::mem::size_of::<entries::Entry>() <= 40);
}

#[test]
fn empty_wheel() {
    let mut h = Harness::new();
    assert_eq!(h.wheel.elapsed(), 0);
    assert_eq!((h.wheel.armed(), h.wheel.len()), (0, 0));
    assert!(h.wheel.is_empty());
    assert_eq!(h.wheel.next_expiration(), None);
    assert!(h.poll(1_000_000).is_empty());
    assert_eq!(h.wheel.elapsed(), 1_000_000);
    // Polling backwards never moves elapsed back.
    h.poll(5);
    assert_eq!(h.wheel.elapsed(), 1_000_000);
}

#[test]
fn fires_in_order_polling_every_tick() {
    let mut h = Harness::new();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let deadlines: Vec<u64> = (0..3000).map(|_| 1 + rng.below(10_000)).collect();
    for (id, &d) in deadlines.iter().enumerate() {
        h.insert(d, id as u32);
    }
    let mut seen = vec![false; deadlines.len()];
    for now in 1..=10_001 {
        for id in h.poll(now) {
            assert_eq!(deadlines[id as usize], now, "timer {id} fired at {now}");
            assert!(!std::mem::replace(&mut seen[id as usize], true));
        }
    }
    assert!(seen.iter().all(|&s| s));
    assert_eq!((h.wheel.armed(), h.wheel.len()), (0, deadlines.len()));
}

#[test]
fn fires_in_order_single_far_poll() {
    let mut h = Harness::new();
    let mut rng = XorShift(12345);
    // Few distinct values, so many ties; spread over several levels.
    let deadlines: Vec<u64> = (0..5000).map(|_| 1 + rng.below(300) * 997).collect();
    for (id, &d) in deadlines.iter().enumerate() {
        h.insert(d, id as u32);
    }
    let fired = h.poll(u64::from(u32::MAX));
    let mut expected: Vec<u32> = (0..deadlines.len() as u32).collect();
    // Stable sort: equal deadlines keep insertion order.
    expected.sort_by_key(|&id| deadlines[id as usize]);
    assert_eq!(fired, expected);
}

#[test]
fn random_far_deadlines_never_early_never_late() {
    let mut h = Harness::new();
    let mut rng = XorShift(777);
    let deadlines: Vec<u64> = (0..4000)
        .map(|_| 1 + (rng.next() >> (rng.below(64) as u32)) % (1 << 40))
        .collect();
    for (id, &d) in deadlines.iter().enumerate() {
        h.insert(d, id as u32);
    }
    let (mut prev_now, mut last_d, mut count) = (0u64, 0u64, 0usize);
    while h.wheel.armed() > 0 {
        let now = prev_now + 1 + (rng.next() >> rng.below(64)) % (1 << 36);
        for id in h.poll(now) {
            let d = deadlines[id as usize];
            assert!(
                d > prev_now && d <= now,
                "d={d} fired in ({prev_now}, {now}]"
            );
            assert!(d >= last_d);
            last_d = d;
            count += 1;
        }
        prev_now = now;
    }
    assert_eq!(count, deadlines.len());
}

#[test]
fn level_boundaries() {
    const L5: u64 = 1 << 30;
    const SPAN: u64 = 1 << 36;
    let offsets = [
        1,
        2,
        63,
        64,
        65,
        4095,
        4096,
        4097,
        262_143,
        262_144,
        L5,
        L5 + 1,
        SPAN - 1,
        SPAN,
        SPAN + 1,
    ];
    for start in [0, 1, 63, 4095, 1_000_003, SPAN - 1, SPAN + 12_345] {
        for &off in &offsets {
            let mut h = Harness::new();
            h.poll(start);
            let d = start + off;
            let k = h.insert(d, 1);
            let next = h.wheel.next_expiration().unwrap();
            assert!(next > start && next <= d, "start={start} d={d} next={next}");
            assert!(h.poll(d - 1).is_empty(), "start={start} d={d} fired early");
            assert!(!h.wheel.is_fired(k));
            assert_eq!(h.poll(d), vec![1], "start={start} d={d}");
            assert!(h.wheel.is_fired(k));
            assert_eq!(h.wheel.next_expiration(), None);
        }
    }
}

#[test]
fn far_deadline_is_clamped_and_refiled() {
    let mut h = Harness::new();
    let d = (1u64 << 40) + 5;
    let k = h.insert(d, 1);
    assert_eq!(h.wheel.location(k).unwrap().0, 5);
    assert!(h.poll(d - 1).is_empty());
    assert_eq!(h.wheel.armed(), 1);
    assert_eq!(h.poll(d), vec![1]);
    // In one jump, too.
    let mut h = Harness::new();
    h.insert(d, 1);
    h.insert(3, 2);
    assert_eq!(h.poll(d + 100), vec![2, 1]);
}

#[test]
fn never_deadline_is_dormant_until_reset() {
    let mut h = Harness::new();
    let k = h.insert(NEVER, 1);
    assert_eq!(h.wheel.armed(), 0, "dormant: not armed");
    assert_eq!(h.wheel.next_expiration(), None);
    assert!(h.poll(1 << 40).is_empty());
    assert!(!h.wheel.is_fired(k));
    // Reset to a real deadline: armed with the waker it kept.
    h.wheel.reset_deadline(k, (1 << 40) + 5);
    assert_eq!(h.wheel.armed(), 1);
    assert_eq!(h.poll((1 << 40) + 5), vec![1]);
    // And back to never from the wheel.
    h.wheel.reset_deadline(k, (1 << 40) + 100);
    h.wheel.reset_deadline(k, NEVER);
    assert_eq!((h.wheel.armed(), h.wheel.next_expiration()), (0, None));
    assert!(h.poll(u64::MAX - 1).is_empty());
    h.wheel.remove(k);
    assert_eq!(h.wheel.len(), 0);
}

#[test]
fn deadlines_near_the_top_of_the_tick_range_fire_exactly() {
    let mut h = Harness::new();
    h.poll(u64::MAX - (1 << 37));
    h.insert(NEVER, 1);
    h.insert(u64::MAX - 1, 2);
    h.insert(u64::MAX - (1 << 36), 3);
    assert!(h.wheel.next_expiration().unwrap() <= u64::MAX - (1 << 36));
    assert_eq!(h.poll(u64::MAX - 2), vec![3]);
    assert_eq!(h.wheel.next_expiration(), Some(u64::MAX - 1));
    assert_eq!(h.poll(u64::MAX - 1), vec![2]);
    assert_eq!(h.wheel.elapsed(), u64::MAX - 1);
    // Everything finite is now in the past.
    h.insert(u64::MAX - 1, 4);
    assert_eq!(h.wheel.next_expiration(), Some(u64::MAX - 1));
    assert_eq!(h.poll(u64::MAX - 1), vec![4]);
    assert_eq!(h.wheel.armed(), 0, "the NEVER entry stays dormant");
}

#[test]
fn past_deadline_fires_at_next_poll() {
    let mut h = Harness::new();
    h.insert(150, 9);
    h.poll(100);
    h.insert(50, 1);
    h.insert(100, 2);
    h.insert(0, 3);
    assert_eq!(h.wheel.next_expiration(), Some(100));
    // Even a poll to an earlier tick fires them, before anything else.
    assert_eq!(h.poll(10), vec![1, 2, 3]);
    assert_eq!(h.wheel.elapsed(), 100);
    h.insert(99, 4);
    assert_eq!(h.poll(150), vec![4, 9]);
}

#[test]
fn remove_before_fire() {
    let mut h = Harness::new();
    let a = h.insert(10, 1);
    let b = h.insert(10, 2);
    let c = h.insert(5000, 3);
    h.wheel.remove(a);
    h.wheel.remove(c);
    assert_eq!((h.wheel.armed(), h.wheel.len()), (1, 1));
    assert_eq!(h.poll(10_000), vec![2]);
    assert_eq!((h.wheel.armed(), h.wheel.len()), (0, 1));
    h.wheel.remove(b); // frees a fired entry
    assert_eq!(h.wheel.len(), 0);
    assert_eq!(h.wheel.next_expiration(), None);
}

#[test]
fn stale_key_is_inert_after_reuse() {
    let mut h = Harness::new();
    let old = h.insert(100, 1);
    h.wheel.remove(old);
    let new = h.insert(200, 2);
    assert_eq!(new.index, old.index, "slab slot reused");
    assert_ne!(new, old);
    assert!(h.wheel.is_fired(old));
    assert_eq!(h.wheel.deadline(old), None);
    h.reset(old, 1, 1);
    h.wheel.set_waker(old, &h.waker(1));
    h.wheel.remove(old);
    assert_eq!(h.wheel.deadline(new), Some(200));
    assert!(!h.wheel.is_fired(new));
    assert_eq!(h.wheel.armed(), 1);
    assert_eq!(h.poll(200), vec![2]);
}

#[test]
fn lazy_reset_later_stays_in_slot() {
    let mut h = Harness::new();
    let k = h.insert(100, 1);
    let loc = h.wheel.location(k).unwrap();
    assert_eq!(loc, (1, 1));
    h.reset(k, 5000, 1);
    assert_eq!(h.wheel.location(k).unwrap(), loc, "lazy: not re-filed");
    assert_eq!(h.wheel.deadline(k), Some(5000));
    // Lower bound still reports the old slot.
    assert_eq!(h.wheel.next_expiration(), Some(64));
    assert!(h.poll(100).is_empty());
    assert_ne!(h.wheel.location(k).unwrap(), loc, "re-filed by poll");
    assert!(h.poll(4999).is_empty());
    assert_eq!(h.poll(5000), vec![1]);
}

#[test]
fn reset_earlier_refiles() {
    let mut h = Harness::new();
    let k = h.insert(5000, 1);
    h.insert(20, 2);
    h.reset(k, 10, 1);
    assert_eq!(h.wheel.location(k).unwrap(), (0, 10));
    assert_eq!(h.wheel.next_expiration(), Some(10));
    assert_eq!(h.poll(10), vec![1]);
    assert_eq!(h.poll(10_000), vec![2]);
    // Reset of a pending entry to the future takes it out of pending.
    let k = h.insert(0, 3);
    h.reset(k, 10_500, 3);
    assert!(h.poll(10_499).is_empty());
    assert_eq!(h.poll(10_500), vec![3]);
}

#[test]
fn reset_fired_rearms() {
    let mut h = Harness::new();
    let k = h.insert(10, 1);
    assert_eq!(h.poll(10), vec![1]);
    assert!(h.wheel.is_fired(k));
    assert_eq!(h.wheel.armed(), 0);
    h.reset(k, 30, 7);
    assert!(!h.wheel.is_fired(k));
    assert_eq!(h.wheel.armed(), 1);
    assert!(h.poll(29).is_empty());
    assert_eq!(h.poll(30), vec![7]);
    // Re-armed into the past: next poll.
    h.reset(k, 5, 8);
    assert_eq!(h.poll(30), vec![8]);
}

#[test]
fn set_waker_replaces_unless_same_task() {
    let mut h = Harness::new();
    let k = h.insert(10, 1);
    h.wheel.set_waker(k, &h.waker(2));
    assert_eq!(h.poll(10), vec![2]);
    // A fired entry has no waker; set_waker stores one for a later re-arm.
    h.wheel.set_waker(k, &h.waker(3));
    let w = h.wheel.entries[k.index].waker.clone().unwrap();
    h.wheel.set_waker(k, &w.clone());
    assert!(
        h.wheel.entries[k.index]
            .waker
            .as_ref()
            .unwrap()
            .will_wake(&w)
    );
}

#[test]
fn next_expiration_exact_for_level0_and_none_when_empty() {
    let mut h = Harness::new();
    h.poll(1000);
    let k = h.insert(1020, 1);
    assert_eq!(h.wheel.location(k).unwrap().0, 0);
    assert_eq!(h.wheel.next_expiration(), Some(1020));
    h.wheel.remove(k);
    assert_eq!(h.wheel.next_expiration(), None);
    h.insert(1010, 2);
    assert_eq!(h.poll(1010), vec![2]);
    assert_eq!(h.wheel.next_expiration(), None);
}

#[test]
fn next_expiration_is_a_lower_bound_that_drives_polling() {
    let mut h = Harness::new();
    let mut rng = XorShift(4242);
    let mut deadlines = Vec::new();
    for id in 0..2000u32 {
        let d = 1 + (rng.next() >> rng.below(64)) % (1 << 38);
        deadlines.push(d);
        let k = h.insert(d, id);
        if id % 3 == 0 {
            // Some lazy resets, so bounds get loose.
            let d2 = d + rng.below(1 << 20);
            h.reset(k, d2, id);
            deadlines[id as usize] = d2;
        }
    }
    let mut fired = 0;
    while let Some(next) = h.wheel.next_expiration() {
        let min = (0..deadlines.len())
            .filter(|&i| {
                !h.wheel.is_fired(TimerKey {
                    index: i as u32,
                    generation: 0,
                })
            })
            .map(|i| deadlines[i])
            .min()
            .unwrap();
        assert!(next <= min, "next {next} > min deadline {min}");
        for id in h.poll(next) {
            assert_eq!(
                deadlines[id as usize], next,
                "fires exactly at its deadline"
            );
            fired += 1;
        }
    }
    assert_eq!(fired, deadlines.len());
}

#[test]
fn equal_deadlines_fifo_across_cascades() {
    let mut h = Harness::new();
    let t = 64u64.pow(3) + 64u64.pow(2) + 7;
    h.insert(t, 1); // level 3
    h.poll(64u64.pow(3) + 5);
    h.insert(t, 2); // level 2
    h.poll(64u64.pow(3) + 64u64.pow(2) + 1);
    h.insert(t, 3); // level 0
    assert_eq!(h.poll(t), vec![1, 2, 3]);
}

#[test]
fn bitmaps_track_occupancy() {
    let mut h = Harness::new();
    let a = h.insert(5, 1);
    let b = h.insert(5, 2);
    assert_eq!(h.wheel.levels[0].occupied(), 1 << 5);
    h.wheel.remove(a);
    assert_eq!(h.wheel.levels[0].occupied(), 1 << 5);
    h.wheel.remove(b);
    assert_eq!(h.wheel.levels[0].occupied(), 0);
    h.insert(4096 * 3 + 64 * 5 + 1, 3);
    assert_eq!(h.wheel.levels[2].occupied(), 1 << 3);
    h.poll(4096 * 3);
    assert_eq!(h.wheel.levels[2].occupied(), 0);
    assert_eq!(h.wheel.levels[1].occupied(), 1 << 5);
}
