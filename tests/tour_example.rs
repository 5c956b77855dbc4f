//! End to end: `examples/tour` in its non-interactive mode (plain progress
//! lines), on 127.0.0.1 with the real clock.

#[allow(dead_code)] // `main` and the printing are the example's own.
#[path = "../examples/tour/main.rs"]
mod tour;

use std::time::Duration;

/// The faults the service injects are a function of the request, so these
/// counts are exact; timeouts can only add retries (a normal reply that a
/// stalled machine delays past the attempt timeout).
fn expected_faults(requests: u64) -> (u64, u64) {
    let slow = (0..requests).filter(|id| id % 7 == 3).count() as u64;
    let dropped = (0..requests)
        .filter(|id| id % 7 != 3 && id % 11 == 5)
        .count() as u64;
    (slow, dropped)
}

fn quiet(requests: u64) -> tour::Config {
    tour::Config {
        redraw: false,
        ..tour::Config::new(requests)
    }
}

#[test]
fn every_request_succeeds_through_timeouts_dropped_connections_and_retries() {
    let requests = 300;
    let summary = arbor::run(tour::run(quiet(requests), std::future::pending())).unwrap();
    let (slow, dropped) = expected_faults(requests);
    assert!(!summary.cancelled);
    assert_eq!(summary.succeeded, requests, "{summary:?}");
    assert_eq!((summary.failed, summary.bad_values), (0, 0), "{summary:?}");
    // Each slow first attempt is cut by its timeout, each dropped one fails
    // at once; both are retried.
    assert_eq!(summary.dropped, dropped, "{summary:?}");
    assert!(summary.timeouts >= slow, "{summary:?}");
    assert!(summary.retries >= slow + dropped, "{summary:?}");
    assert_eq!(summary.retries, summary.timeouts + dropped, "{summary:?}");
    // Every connection the pool opened reached the service, and the pool
    // closed them all.
    assert_eq!(
        summary.connections_opened, summary.connections_accepted,
        "{summary:?}"
    );
    assert_eq!(summary.connections_open_at_end, 0, "{summary:?}");
    assert!(summary.p50 <= summary.p99);
}

#[test]
fn a_stop_request_cancels_the_whole_tree_and_still_summarizes() {
    // Far more requests than fit before the stop: the run ends by the stop.
    let requests = 1_000_000;
    let summary = arbor::run(async {
        let stop = arbor::time::sleep(Duration::from_millis(300));
        let summary = tour::run(quiet(requests), stop).await.unwrap();
        // Nothing of the tree is left behind: the root scope only.
        assert_eq!(arbor::lowlevel::live_scopes(), 1);
        summary
    });
    assert!(summary.cancelled, "{summary:?}");
    assert!(summary.succeeded < requests, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_eq!(summary.connections_open_at_end, 0, "{summary:?}");
}
