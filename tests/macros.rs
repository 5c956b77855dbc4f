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

/// Three tasks that each log their number and yield, three times: the
/// order the schedule ran them in.
async fn interleaving() -> Vec<usize> {
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|n| {
            let log = log.clone();
            arbor::spawn(async move {
                for _ in 0..3 {
                    log.borrow_mut().push(n);
                    arbor::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    log.take()
}

#[arbor::test(seed = 5, virtual_clock)]
async fn seed_builds_the_runtime_with_that_seed() {
    let got = interleaving().await;
    if std::env::var_os("ARBOR_SEED").is_some() {
        return; // replaying another seed
    }
    // The same program on a runtime built by hand (on another thread: a
    // runtime cannot be entered from inside another).
    let expected = std::thread::spawn(|| {
        let rt = arbor::Runtime::builder()
            .virtual_clock()
            .seed(5)
            .build()
            .unwrap();
        rt.block_on(interleaving())
    })
    .join()
    .unwrap();
    assert_eq!(got, expected);
}

#[arbor::test(seeds = 4, virtual_clock)]
async fn seeds_with_a_result_and_question_mark() -> Result<(), std::num::ParseIntError> {
    let n: usize = "3".parse()?;
    assert_eq!(interleaving().await.len(), n * 3);
    Ok(())
}

#[arbor::test(seeds = 3)]
#[should_panic(expected = "boom under a seed")]
async fn seeds_resumes_the_panic() {
    arbor::yield_now().await;
    panic!("boom under a seed");
}

/// Run by `seeds_names_the_failing_seed_and_arbor_seed_replays_it` in a
/// child process: fails under the seeds that do not run task 0 first.
#[arbor::test(seeds = 16, virtual_clock)]
#[ignore = "fails on purpose; run by seeds_names_the_failing_seed_and_arbor_seed_replays_it"]
async fn fails_under_some_seeds() {
    eprintln!("arbor-test: one run");
    let trace = interleaving().await;
    assert_eq!(trace[0], 0, "task 0 did not run first");
}

/// Runs `fails_under_some_seeds` in a child process, with `ARBOR_SEED`
/// set to `seed` or unset: whether it passed, its stderr.
fn run_failing_test(seed: Option<u64>) -> (bool, String) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "fails_under_some_seeds",
        "--nocapture",
    ]);
    cmd.arg("--test-threads=1");
    match seed {
        Some(seed) => cmd.env("ARBOR_SEED", seed.to_string()),
        None => cmd.env_remove("ARBOR_SEED"),
    };
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The seed the failure message names, and how many runs there were.
fn failing_seed(stderr: &str) -> Option<(u64, usize)> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("arbor: failed with seed "))?;
    let seed: u64 = line
        .strip_prefix("arbor: failed with seed ")?
        .split(';')
        .next()?
        .parse()
        .ok()?;
    assert!(
        line.ends_with(&format!("; replay with ARBOR_SEED={seed}")),
        "{line}"
    );
    Some((seed, stderr.matches("arbor-test: one run").count()))
}

#[test]
fn seeds_names_the_failing_seed_and_arbor_seed_replays_it() {
    let (passed, stderr) = run_failing_test(None);
    assert!(!passed, "some of 16 seeds must fail: {stderr}");
    let (seed, runs) = failing_seed(&stderr).expect(&stderr);
    // Seeds 0, 1, ... in order, stopping at the first failure.
    assert!(seed < 16);
    assert_eq!(runs as u64, seed + 1, "{stderr}");
    // The replay runs that seed only, and fails the same way.
    let (passed, replay) = run_failing_test(Some(seed));
    assert!(!passed);
    assert_eq!(failing_seed(&replay), Some((seed, 1)), "{replay}");
    // The seeds before it passed, each alone too.
    for ok in 0..seed {
        let (passed, stderr) = run_failing_test(Some(ok));
        assert!(passed, "seed {ok}: {stderr}");
        assert_eq!(stderr.matches("arbor-test: one run").count(), 1);
    }
}

#[test]
fn a_seeded_run_returning_err_stops_the_seeds_and_is_returned() {
    if std::env::var_os("ARBOR_SEED").is_some() {
        return; // replaying one seed: there is no third run
    }
    // What `seeds = 5` expands to, with a body that fails on its third run.
    let mut runs = 0;
    let got: Result<(), String> = arbor::__macro_support::run_seeded(
        "test",
        0,
        5,
        || arbor::Runtime::builder().virtual_clock(),
        || {
            runs += 1;
            let run = runs;
            async move {
                arbor::yield_now().await;
                if run == 3 {
                    Err(format!("run {run}"))
                } else {
                    Ok(())
                }
            }
        },
    );
    assert_eq!(got, Err("run 3".to_string()));
    assert_eq!(runs, 3);
}
