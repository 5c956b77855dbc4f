//! What a nursery child or body may return without ceremony: plain
//! values of std types, tuples, `!` (a child that never returns), a type
//! of one's own with `#[derive(arbor::Outcome)]`; and a `Result`, whose
//! `Err` stays a failure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor::{NurseryError, nursery};

#[derive(arbor::Outcome, Debug, PartialEq)]
struct Report {
    lines: usize,
}

#[derive(arbor::Outcome, Debug, PartialEq)]
enum Verdict<T> {
    Pass(T),
    Fail,
}

#[arbor::test(virtual_clock)]
async fn a_derived_struct_and_a_generic_enum_are_plain_values() {
    let (report, verdict) = nursery(async |n| {
        let report = n.spawn(async { Report { lines: 3 } });
        let verdict = n.spawn(async { Verdict::Pass("ok") });
        (report.await.unwrap(), verdict.await.unwrap())
    })
    .await
    .unwrap();
    assert_eq!(report, Report { lines: 3 });
    assert_eq!(verdict, Verdict::Pass("ok"));
    let body: Verdict<u8> = nursery(async |_n| Verdict::Fail).await.unwrap();
    assert_eq!(body, Verdict::Fail);
}

#[arbor::test(virtual_clock)]
async fn std_values_and_tuples_are_plain_values() {
    let (map, shared, pair) = nursery(async |n| {
        let map = n.spawn(async { HashMap::from([(1, "one")]) });
        let shared = n.spawn(async { Arc::new(5u8) });
        let pair = n.spawn(async { (String::from("a"), Duration::from_secs(1)) });
        (
            map.await.unwrap(),
            shared.await.unwrap(),
            pair.await.unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(map[&1], "one");
    assert_eq!(*shared, 5);
    assert_eq!(pair, ("a".to_string(), Duration::from_secs(1)));
}

#[arbor::test(virtual_clock)]
async fn children_that_loop_forever_are_cancelled_with_the_nursery() {
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let seen = ticks.clone();
    let out = nursery(async |n| {
        // Its block's type is `!`: `forever` makes it `()`.
        n.spawn(arbor::forever(async move {
            loop {
                arbor::time::sleep(Duration::from_secs(1)).await;
                seen.set(seen.get() + 1);
            }
        }));
        arbor::time::sleep(Duration::from_millis(3500)).await;
        n.cancel_scope().cancel();
        "body done"
    })
    .await;
    // The body returned after cancelling: its value stands, and the
    // looping child was dropped at its next suspension.
    assert_eq!(out.unwrap(), "body done");
    assert_eq!(ticks.get(), 3);
}

#[arbor::test(virtual_clock)]
async fn a_result_child_still_fails_with_its_err() {
    let out = nursery(async |n| {
        n.spawn(async { Err::<Report, _>(std::io::Error::other("boom")) });
        Report { lines: 0 }
    })
    .await;
    let Err(NurseryError::Failed(group)) = out else {
        panic!("the Err child fails the nursery");
    };
    assert_eq!(group.len(), 1, "{group}");
    assert!(group.to_string().contains("boom"), "{group}");
}
