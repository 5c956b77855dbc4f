//! A programmer error panics at the caller's line, not inside arbor: the
//! functions that need a runtime, called outside one.

use std::panic::{self, Location};
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

fn here(line: u32) -> (String, u32) {
    (file!().to_string(), line)
}

// One test: panic hooks are global to the process.
#[test]
fn outside_a_runtime_the_panic_points_at_the_callers_line() {
    let line = Location::caller().line();
    assert_eq!(panic_location(|| drop(arbor::time::now())), here(line + 1));
    let line = Location::caller().line();
    assert_eq!(
        panic_location(|| drop(arbor::time::sleep(Duration::from_secs(1)))),
        here(line + 2)
    );
    let line = Location::caller().line();
    assert_eq!(panic_location(|| drop(arbor::spawn(async {}))), here(line + 1));
}
