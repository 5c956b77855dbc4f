//! Instruments and metrics: the exact sequence of hook calls for spawns,
//! polls, exits, parks and scope cancellations; a panicking instrument is
//! removed; the counters count what happened.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbor::instrument::{self, Instrument, ScopeCancelEvent, SpawnEvent, TaskExit};
use arbor::lowlevel::{CancelReason, ScopeId};
use arbor::{TaskId, spawn, yield_now};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Spawn {
        task: TaskId,
        name: Option<String>,
        by: Option<TaskId>,
    },
    Start(TaskId),
    End(TaskId),
    Exit(TaskId, TaskExit),
    Park,
    Unpark,
    Cancel(Option<ScopeId>, CancelReason),
}

/// Records every hook call, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
    /// The events without parks (whose count depends on the machine).
    fn take_unparked(&self) -> Vec<Event> {
        let mut events = self.take();
        events.retain(|e| !matches!(e, Event::Park | Event::Unpark));
        events
    }
}

impl Instrument for Recorder {
    fn on_spawn(&self, e: &SpawnEvent<'_>) {
        self.push(Event::Spawn {
            task: e.task,
            name: e.name.map(String::from),
            by: e.spawned_by,
        });
    }
    fn on_poll_start(&self, task: TaskId) {
        self.push(Event::Start(task));
    }
    fn on_poll_end(&self, task: TaskId) {
        self.push(Event::End(task));
    }
    fn on_task_exit(&self, task: TaskId, exit: TaskExit) {
        self.push(Event::Exit(task, exit));
    }
    fn on_park(&self, _timeout: Option<Duration>) {
        self.push(Event::Park);
    }
    fn on_unpark(&self) {
        self.push(Event::Unpark);
    }
    fn on_scope_cancel(&self, e: &ScopeCancelEvent) {
        self.push(Event::Cancel(e.scope, e.reason));
    }
}

fn recorded_rt() -> (arbor::Runtime, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let rt = arbor::Runtime::builder()
        .virtual_clock()
        .instrument(rec.clone())
        .build()
        .unwrap();
    (rt, rec)
}

#[test]
fn a_task_that_yields_once_is_spawned_polled_twice_and_exits() {
    let (rt, rec) = recorded_rt();
    let parent = rt.block_on(async {
        let parent = arbor::spawn_named("parent", async {
            let me = arbor::current_task_id().unwrap();
            let child = spawn(async { yield_now().await });
            child.await.unwrap();
            me
        });
        parent.await.unwrap()
    });
    let events = rec.take_unparked();
    let child = match &events[2] {
        Event::Spawn { task, .. } => *task,
        other => panic!("expected the child's spawn, got {other:?}"),
    };
    use Event::*;
    let expected = [
        Spawn {
            task: parent,
            name: Some("parent".into()),
            by: None,
        },
        Start(parent),
        // The parent spawns its child inside its first poll.
        Spawn {
            task: child,
            name: None,
            by: Some(parent),
        },
        End(parent),
        Start(child),
        End(child),
        Start(child),
        End(child),
        Exit(child, TaskExit::Finished),
        Start(parent),
        End(parent),
        Exit(parent, TaskExit::Finished),
    ];
    assert_eq!(events, expected);
}

#[test]
fn an_abort_reports_a_dropped_exit_and_cancellations_report_their_scope_and_reason() {
    let (rt, rec) = recorded_rt();
    let (sleeper, cancelled_scope, timeout_scope) = rt.block_on(async {
        let sleeper = spawn(arbor::time::sleep(Duration::from_secs(60)));
        let id = sleeper.id();
        yield_now().await;
        sleeper.abort();
        let cancel = arbor::CancelScope::new();
        let handle = cancel.handle();
        let cancelled_scope = Rc::new(Cell::new(None));
        let seen = cancelled_scope.clone();
        let ran = cancel
            .run(async move {
                seen.set(Some(arbor::lowlevel::current_scope()));
                handle.cancel();
                arbor::checkpoint().await;
            })
            .await;
        assert!(ran.is_err(), "the scope was cancelled");
        let timeout_scope = Rc::new(Cell::new(None));
        let seen = timeout_scope.clone();
        arbor::move_on_after(Duration::from_secs(1), async move {
            // Asking for the scope gives the region a node of its own.
            seen.set(Some(arbor::lowlevel::current_scope()));
            arbor::time::sleep(Duration::from_secs(60)).await;
        })
        .await;
        // This timeout's code waits on nothing but its timer: it never
        // gets a node, and its cancellation names no scope.
        arbor::move_on_after(
            Duration::from_secs(1),
            arbor::time::sleep(Duration::from_secs(60)),
        )
        .await;
        (
            id,
            cancelled_scope.get().unwrap(),
            timeout_scope.get().unwrap(),
        )
    });
    let events = rec.take_unparked();
    use Event::*;
    let tail: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Exit(..) | Cancel(..)))
        .cloned()
        .collect();
    assert_eq!(tail[0], Exit(sleeper, TaskExit::Dropped));
    assert_eq!(
        tail[1],
        Cancel(Some(cancelled_scope), CancelReason::Explicit)
    );
    assert_eq!(tail[2], Cancel(Some(timeout_scope), CancelReason::Deadline));
    assert_eq!(tail[3], Cancel(None, CancelReason::Deadline));
    assert_eq!(tail.len(), 4, "{tail:?}");
}

#[test]
fn each_park_is_reported_before_the_thread_blocks_and_after_it_wakes() {
    let rec = Arc::new(Recorder::default());
    let rt = arbor::Runtime::builder()
        .instrument(rec.clone())
        .build()
        .unwrap();
    let parks_before = rt.metrics().parks;
    rt.block_on(async {
        arbor::time::sleep(Duration::from_millis(2)).await;
    });
    let parks: Vec<_> = rec
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::Park | Event::Unpark))
        .collect();
    assert!(!parks.is_empty(), "a real 2 ms sleep parks the thread");
    for pair in parks.chunks(2) {
        assert_eq!(pair, [Event::Park, Event::Unpark]);
    }
    assert_eq!(rt.metrics().parks - parks_before, (parks.len() / 2) as u64);
}

#[test]
fn a_virtual_clock_jump_is_not_a_park() {
    let (rt, rec) = recorded_rt();
    rt.block_on(async {
        arbor::time::sleep(Duration::from_secs(3600)).await;
    });
    assert!(!rec.take().contains(&Event::Park));
    assert_eq!(rt.metrics().parks, 0);
}

/// Panics in the hook it is given.
struct Bomb;
impl Instrument for Bomb {
    fn on_poll_start(&self, _task: TaskId) {
        panic!("bomb");
    }
}

#[test]
fn a_panicking_instrument_is_removed_and_the_others_still_see_the_event() {
    arbor::run(async {
        let bomb = instrument::add(Rc::new(Bomb));
        let rec = Rc::new(Recorder::default());
        let after = instrument::add(rec.clone());
        assert_eq!(instrument::installed(), [bomb, after]);
        let task = spawn(async { 7 });
        assert_eq!(task.await.unwrap(), 7);
        assert_eq!(instrument::installed(), [after]);
        assert!(!instrument::remove(bomb), "already gone");
        let events = rec.take_unparked();
        assert!(matches!(events[1], Event::Start(_)), "{events:?}");
        assert!(instrument::remove(after));
        assert!(instrument::installed().is_empty());
        spawn(async {}).await.unwrap();
        assert!(rec.take().is_empty(), "removed: sees nothing more");
    });
}

/// Spawns one task from its first `on_poll_start`.
struct Spawner {
    spawned: Cell<bool>,
    ran: Rc<Cell<bool>>,
}
impl Instrument for Spawner {
    fn on_poll_start(&self, _task: TaskId) {
        if !self.spawned.replace(true) {
            let ran = self.ran.clone();
            drop(spawn(async move { ran.set(true) }));
        }
    }
}

#[test]
fn a_hook_may_spawn_and_read_the_runtime() {
    arbor::run(async {
        let ran = Rc::new(Cell::new(false));
        instrument::add(Rc::new(Spawner {
            spawned: Cell::new(false),
            ran: ran.clone(),
        }));
        spawn(async {}).await.unwrap();
        yield_now().await;
        assert!(ran.get(), "the hook's task ran");
    });
}

#[test]
fn metrics_count_spawns_polls_live_tasks_and_timers() {
    let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
    rt.block_on(async {
        let m0 = instrument::metrics();
        let sleeper = spawn(arbor::time::sleep(Duration::from_secs(10)));
        let yielder = spawn(async {
            yield_now().await;
            yield_now().await;
        });
        yielder.await.unwrap();
        let m1 = instrument::metrics();
        assert_eq!(m1.tasks_spawned - m0.tasks_spawned, 2);
        assert_eq!(m1.tasks_alive, 1, "the sleeper");
        assert_eq!(m1.timers_armed, 1, "its timer");
        assert_eq!(
            m1.polls - m0.polls,
            1 + 3,
            "the sleeper once, the yielder thrice"
        );
        // A task aborted before its turn is not polled, and not counted.
        let never = spawn(async {});
        never.abort();
        sleeper.await.unwrap();
        let m2 = instrument::metrics();
        assert_eq!(m2.polls - m1.polls, 1, "the sleeper's last poll only");
        assert_eq!(m2.tasks_alive, 0);
        assert_eq!(m2.timers_armed, 0);
    });
    assert_eq!(rt.metrics().tasks_spawned, 3);
}

#[test]
fn metrics_count_reactor_events_and_wakes_from_other_threads() {
    arbor::run(async {
        let m0 = instrument::metrics();
        let (a, b) = arbor::net::UnixStream::pair().unwrap();
        let reader = spawn(async move {
            let mut buf = [0u8; 5];
            b.read_exact(&mut buf).await.unwrap();
            buf
        });
        yield_now().await; // the reader parks on its empty socket
        a.write_all(b"hello").await.unwrap();
        assert_eq!(&reader.await.unwrap(), b"hello");
        let m1 = instrument::metrics();
        assert!(m1.reactor_events > m0.reactor_events, "{m0:?} {m1:?}");
        arbor::to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(5))).await;
        let m2 = instrument::metrics();
        assert!(m2.remote_wakes > m1.remote_wakes, "{m1:?} {m2:?}");
    });
}
