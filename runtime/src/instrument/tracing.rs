//! `TracingInstrument`: the runtime's events as `tracing` spans and events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tracing::Span;

use super::{Instrument, ScopeCancelEvent, SpawnEvent, TaskExit};
use crate::task::TaskId;

/// An [`Instrument`] that opens a [`tracing`] span per task (feature
/// `tracing`).
///
/// - Each task gets an `INFO` span named `task` (target `arbor::task`)
///   with fields `task` (its id), `name` (empty if it has none) and
///   `scope`. Its parent is the span of the task that spawned it, or, for
///   a task spawned outside any task, the span current at the spawn (a
///   span around `block_on` becomes the parent of its tasks).
/// - The span is entered for each poll of the task, so events logged by
///   the task's code, and spans it opens, sit inside it; it closes when
///   the task exits.
/// - A `DEBUG` event (target `arbor::scope`) for each scope cancellation,
///   and `TRACE` events (target `arbor::park`) for the runtime thread's
///   parks.
///
/// Install it on the builder, so it sees every task from the first:
///
/// ```
/// use std::sync::Arc;
/// use arbor_runtime::instrument::TracingInstrument;
///
/// let rt = arbor_runtime::Runtime::builder()
///     .instrument(Arc::new(TracingInstrument::new()))
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     // With a subscriber installed (tracing-subscriber's `fmt()`, say),
///     // this event is printed inside the span `task{task=.. name="worker"}`.
///     arbor_runtime::spawn_named("worker", async { tracing::info!("hello") })
///         .await
///         .unwrap();
/// });
/// ```
#[derive(Debug, Default)]
pub struct TracingInstrument {
    /// Each live task's span. Behind a mutex only so the instrument is
    /// `Sync` for [`Builder::instrument`](crate::Builder::instrument): it
    /// is only ever locked on the runtime thread, uncontended.
    spans: Mutex<HashMap<TaskId, Span>>,
}

impl TracingInstrument {
    /// An instrument with no task seen yet.
    pub fn new() -> TracingInstrument {
        TracingInstrument::default()
    }

    fn span(&self, task: TaskId) -> Option<Span> {
        self.lock().get(&task).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Span>> {
        // A panic while the lock was held poisoned it; the map is still
        // consistent (each operation is one insert, get or remove).
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Instrument for TracingInstrument {
    fn on_spawn(&self, event: &SpawnEvent<'_>) {
        let name = event.name.unwrap_or("");
        let parent = event.spawned_by.and_then(|t| self.span(t));
        let span = match parent {
            Some(parent) => tracing::info_span!(
                target: "arbor::task", parent: &parent, "task",
                task = %event.task, name, scope = ?event.scope
            ),
            None => tracing::info_span!(
                target: "arbor::task", "task",
                task = %event.task, name, scope = ?event.scope
            ),
        };
        self.lock().insert(event.task, span);
    }

    fn on_poll_start(&self, task: TaskId) {
        if let Some(span) = self.span(task) {
            // `Span::enter`'s guard cannot outlive this call: enter here,
            // exit in `on_poll_end`, through the span's own subscriber.
            span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
        }
    }

    fn on_poll_end(&self, task: TaskId) {
        if let Some(span) = self.span(task) {
            span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }

    fn on_task_exit(&self, task: TaskId, exit: TaskExit) {
        let span = self.lock().remove(&task);
        if let Some(span) = span {
            tracing::debug!(target: "arbor::task", parent: &span, ?exit, "task exit");
        }
    }

    fn on_park(&self, timeout: Option<Duration>) {
        tracing::trace!(target: "arbor::park", ?timeout, "park");
    }

    fn on_unpark(&self) {
        tracing::trace!(target: "arbor::park", "unpark");
    }

    fn on_scope_cancel(&self, event: &ScopeCancelEvent) {
        tracing::debug!(
            target: "arbor::scope",
            scope = ?event.scope, reason = ?event.reason, "scope cancelled"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::TracingInstrument;

    /// A subscriber that records spans (name field, parent), the span
    /// each event was logged in, and enters, exits and closes.
    #[derive(Default)]
    struct Log {
        spans: Vec<(String, Option<u64>)>,
        stack: Vec<u64>,
        events: Vec<(String, Option<u64>)>,
        /// Handles alive per span (`clone_span` adds, `try_close` drops).
        refs: std::collections::HashMap<u64, usize>,
        closed: usize,
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Log>>);

    struct Fields(String);
    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "name" {
                self.0 = value.to_string();
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let mut log = self.0.lock().unwrap();
            let mut name = Fields(String::new());
            attrs.record(&mut name);
            let parent = match attrs.parent() {
                Some(p) => Some(p.into_u64()),
                None if attrs.is_contextual() => log.stack.last().copied(),
                None => None,
            };
            log.spans.push((name.0, parent));
            let id = log.spans.len() as u64;
            log.refs.insert(id, 1);
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut log = self.0.lock().unwrap();
            let mut message = Fields(String::new());
            event.record(&mut message);
            let inside = log.stack.last().copied();
            log.events.push((message.0, inside));
        }
        fn enter(&self, span: &Id) {
            self.0.lock().unwrap().stack.push(span.into_u64());
        }
        fn exit(&self, span: &Id) {
            let top = self.0.lock().unwrap().stack.pop();
            assert_eq!(top, Some(span.into_u64()), "exits nest");
        }
        fn clone_span(&self, span: &Id) -> Id {
            *self
                .0
                .lock()
                .unwrap()
                .refs
                .get_mut(&span.into_u64())
                .unwrap() += 1;
            span.clone()
        }
        fn try_close(&self, span: Id) -> bool {
            let mut log = self.0.lock().unwrap();
            let refs = log.refs.get_mut(&span.into_u64()).unwrap();
            *refs -= 1;
            let last = *refs == 0;
            if last {
                log.closed += 1;
            }
            last
        }
    }

    #[test]
    fn each_task_gets_a_span_under_its_spawner_entered_for_its_polls() {
        let recorder = Recorder::default();
        let rt = crate::Runtime::builder()
            .virtual_clock()
            .instrument(Arc::new(TracingInstrument::new()))
            .build()
            .unwrap();
        tracing::subscriber::with_default(recorder.clone(), || {
            rt.block_on(async {
                let parent = crate::spawn_named("parent", async {
                    tracing::info!("in parent");
                    let child = crate::spawn_named("child", async {
                        crate::yield_now().await;
                        tracing::info!("in child");
                    });
                    child.await.unwrap();
                });
                parent.await.unwrap();
                tracing::info!("in block_on");
            });
        });
        let log = recorder.0.lock().unwrap();
        // Span ids are 1-based positions in `spans`.
        assert_eq!(log.spans[0], ("parent".to_string(), None));
        assert_eq!(log.spans[1], ("child".to_string(), Some(1)));
        let logged: Vec<_> = log
            .events
            .iter()
            .filter(|(m, _)| m.starts_with("in "))
            .cloned()
            .collect();
        assert_eq!(
            logged,
            [
                ("in parent".to_string(), Some(1)),
                ("in child".to_string(), Some(2)),
                ("in block_on".to_string(), None),
            ]
        );
        assert!(log.stack.is_empty(), "every enter was exited");
        assert_eq!(log.closed, 2, "both spans closed when their tasks exited");
    }
}
