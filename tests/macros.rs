//! `#[arbor::main]` and `#[arbor::test]` at run time: the options, return
//! types, and the test attributes they must keep working. The compile
//! errors are in `macros_ui.rs`.

use std::time::{Duration, Instant as StdInstant};

use arbor::time::{self, sleep};

const HOUR: Duration = Duration::from_secs(3600);

#[arbor::test]
async fn the_real_clock_is_the_default() {
    let (t0, real0) = (time::now(), StdInstant::now());
    sleep(Duration::from_millis(2)).await;
    assert!(time::now() - t0 >= Duration::from_millis(2));
    assert!(real0.elapsed() >= Duration::from_millis(2), "a real sleep");
}

#[arbor::test(virtual_clock)]
async fn virtual_clock_makes_an_hour_pass_at_once() {
    let (t0, real0) = (time::now(), StdInstant::now());
    assert_eq!(t0 - t0, Duration::ZERO);
    let late = arbor::spawn(async {
        sleep(HOUR).await;
        time::now()
    });
    sleep(Duration::from_secs(1)).await;
    assert_eq!(late.await.unwrap() - t0, HOUR);
    assert!(real0.elapsed() < Duration::from_secs(60));
}

#[arbor::test(virtual_clock)]
async fn a_test_may_return_a_result_and_use_question_mark() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "41".parse()?;
    arbor::yield_now().await;
    assert_eq!(n + 1, 42);
    Ok(())
}

#[arbor::test]
#[should_panic(expected = "boom in the body")]
async fn should_panic_after_the_attribute_works() {
    arbor::yield_now().await;
    panic!("boom in the body");
}

#[should_panic(expected = "boom in a child")]
#[arbor::test(virtual_clock)]
async fn should_panic_before_the_attribute_works() {
    // A panic of a nursery child is re-raised in the parent, then out of
    // the test.
    arbor::nursery(async |n| {
        n.spawn(async {
            arbor::yield_now().await;
            boom("boom in a child");
        });
    })
    .await
    .unwrap();
}

/// Panics, returning `()` as a nursery child must (a bare `panic!` would
/// make the child's output `!`).
fn boom(msg: &str) {
    panic!("{msg}");
}

#[arbor::test]
#[ignore = "shows that #[ignore] is kept: it would fail"]
async fn ignore_is_kept() {
    panic!("an ignored test ran");
}

/// A `main` under another name, so this test can call it.
#[arbor::main(virtual_clock)]
async fn main_like() -> Result<Duration, std::io::Error> {
    let t0 = time::now();
    arbor::move_on_after(Duration::from_secs(5), sleep(HOUR)).await;
    if time::now() - t0 != Duration::from_secs(5) {
        return Err(std::io::Error::other("the timeout did not fire at 5 s"));
    }
    Ok(time::now() - t0)
}

#[test]
fn main_builds_a_runtime_and_returns_the_bodys_value() {
    assert_eq!(main_like().unwrap(), Duration::from_secs(5));
    // Called twice: a fresh runtime each time, its clock at zero again.
    assert_eq!(main_like().unwrap(), Duration::from_secs(5));
}

/// Where a crate that re-exports arbor would have it.
mod reexport {
    pub use ::arbor as rt;
}

#[arbor::test(crate = "reexport::rt", virtual_clock)]
async fn crate_option_names_a_reexported_arbor() {
    let t0 = time::now();
    sleep(HOUR).await;
    assert_eq!(time::now() - t0, HOUR);
}

#[arbor::test(autojump = "200ms")]
async fn autojump_lets_a_worker_thread_beat_a_virtual_timeout() {
    let t0 = arbor::time::now();
    let job = arbor::to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(30)));
    assert!(
        arbor::move_on_after(Duration::from_secs(10), job)
            .await
            .is_some()
    );
    // The clock did not jump while the thread ran.
    assert_eq!(arbor::time::now(), t0);
    // With nothing else pending, timers still jump (after the threshold).
    arbor::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(arbor::time::now() - t0, Duration::from_secs(3600));
}
