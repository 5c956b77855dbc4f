//! A programmer error panics at the caller's line, not inside arbor: the
//! functions that need a runtime, called outside one.

use std::net::SocketAddr;
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
    let cases: Vec<(u32, fn())> = vec![
        (line!(), || {
            let _ = arbor::time::now();
        }),
        (line!(), || drop(arbor::time::sleep(Duration::from_secs(1)))),
        (line!(), || {
            let _ = arbor::time::Instant::now();
        }),
        (line!(), || arbor::time::advance(Duration::from_secs(1))),
        (line!(), || drop(arbor::spawn(async {}))),
        (line!(), || drop(arbor::spawn_named("x", async {}))),
        (line!(), || drop(arbor::Handle::current())),
        (line!(), || {
            drop(arbor::CancelScope::new().handle().remote())
        }),
        (line!(), || {
            drop(arbor::to_thread::current_default_thread_limiter())
        }),
        (line!(), || drop(arbor::signal::ctrl_c())),
        (line!(), || {
            drop(arbor::signal::signal(
                arbor::signal::SignalKind::user_defined2(),
            ))
        }),
        (line!(), || {
            let (r, _w) = std::io::pipe().unwrap();
            drop(arbor::io::Async::new(r));
        }),
        (line!(), || {
            drop(arbor::net::TcpListener::bind(localhost()));
        }),
        (line!(), || {
            drop(arbor::net::UdpSocket::bind(localhost()));
        }),
        (line!(), || drop(arbor::net::UnixStream::pair())),
        (line!(), || drop(arbor::net::UnixDatagram::unbound())),
        (line!(), || drop(arbor::net::UnixDatagram::pair())),
        (line!(), || {
            drop(arbor::lowlevel::open_scope(arbor::lowlevel::ScopeId::ROOT));
        }),
        (line!(), || {
            drop(arbor::lowlevel::spawn_in(
                arbor::lowlevel::ScopeId::ROOT,
                None,
                async {},
            ));
        }),
        (line!(), || {
            drop(arbor::process::Command::new("true").spawn());
        }),
        // Not a runtime's: a task-local read where none is set.
        (line!(), || UNSET.with(|_| ())),
        (line!(), || {
            let _ = UNSET.get();
        }),
    ];
    for (line, case) in cases {
        let (file, at) = panic_location(case);
        assert_eq!(file, file!(), "the case at line {line}");
        assert!((line..line + 8).contains(&at), "line {at}, expected {line}");
    }
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}
