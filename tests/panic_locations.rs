//! A programmer error panics at the caller's line, not inside arbor: the
//! functions that need a runtime, called outside one.

use std::panic;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Run `f`, which must panic, and return the file and line the panic
/// reports.
fn panic_location(f: impl FnOnce() + panic::UnwindSafe) -> (String, u32) {
    let seen: Arc<Mutex<Option<(String, u32)>>> = Arc::default();
    let hook_seen = seen.clone();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let at = info.location().expect("a location");
        *hook_seen.lock().unwrap() = Some((at.file().to_string(), at.line()));
    }));
    let result = panic::catch_unwind(f);
    panic::set_hook(previous);
    assert!(result.is_err(), "expected a panic");
    seen.lock().unwrap().take().expect("the hook ran")
}

arbor::task_local! {
    static UNSET: u32;
}

// One test: panic hooks are global to the process. The file is what
// matters (not one of arbor's); the lines are checked loosely so that
// rustfmt's layout does not matter.
#[test]
fn outside_a_runtime_the_panic_points_at_the_callers_line() {
    let cases: [(u32, fn()); 5] = [
        (line!(), || {
            let _ = arbor::time::now();
        }),
        (line!(), || drop(arbor::time::sleep(Duration::from_secs(1)))),
        (line!(), || drop(arbor::spawn(async {}))),
        // Not a runtime's: a task-local read where none is set.
        (line!(), || UNSET.with(|_| ())),
        (line!(), || {
            let _ = UNSET.get();
        }),
    ];
    for (line, case) in cases {
        let (file, at) = panic_location(case);
        assert_eq!(file, file!());
        assert!((line..line + 3).contains(&at), "line {at}, expected {line}");
    }
}
