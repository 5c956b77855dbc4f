//! `arbor::dump()`'s task tree, await points and time parked, and the
//! task tree's ids: `parent_nursery`, `child_nurseries`.

use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use arbor::lowlevel::{ScopeId, child_nurseries, current_scope, parent_nursery};
use arbor::primitives::Event;
use arbor::time::sleep;
use arbor::{TaskId, current_task_id, move_on_after, nursery, spawn_named, yield_now};

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

/// The dump's line of the task named `name`.
fn line_of(text: &str, name: &str) -> String {
    let quoted = format!("{name:?}");
    text.lines()
        .find(|l| l.trim_start().starts_with("- ") && l.contains(&quoted))
        .unwrap_or_else(|| panic!("no task {quoted} in:\n{text}"))
        .trim()
        .to_string()
}

/// `- task 3.0 "name"`: the start of a task's line.
fn head(id: TaskId, name: &str) -> String {
    let text = format!("{id}");
    // "task I.G of runtime R" -> "task I.G"
    let short: Vec<&str> = text.split(' ').take(2).collect();
    format!("- {} {name:?}", short.join(" "))
}

#[arbor::test(virtual_clock)]
async fn a_sleeping_task_shows_its_sleep_line_and_time_parked() {
    let line = line!() + 2;
    let h = spawn_named("sleeper", async {
        sleep(HOUR).await;
    });
    sleep(2 * SEC).await;
    let text = arbor::dump();
    assert_eq!(
        line_of(&text, "sleeper"),
        format!(
            "{} parked 2s at {}:{line}:9",
            head(h.id(), "sleeper"),
            file!()
        ),
        "{text}"
    );
    h.abort();
}

#[arbor::test(virtual_clock)]
async fn an_event_wait_shows_its_line_and_a_woken_task_is_runnable() {
    let event = Rc::new(Event::new());
    let ev = event.clone();
    let line = line!() + 2;
    let h = spawn_named("waiter", async move {
        ev.wait().await;
        sleep(HOUR).await;
    });
    yield_now().await;
    let text = arbor::dump();
    let waiting = line_of(&text, "waiter");
    assert!(
        waiting.starts_with(&format!(
            "{} parked 0ns at {}:{line}:",
            head(h.id(), "waiter"),
            file!()
        )),
        "{text}"
    );
    event.set();
    // Woken, not yet polled: no stale await point.
    let text = arbor::dump();
    assert_eq!(
        line_of(&text, "waiter"),
        format!("{} runnable", head(h.id(), "waiter")),
        "{text}"
    );
    h.abort();
}

#[arbor::test(virtual_clock)]
async fn the_task_dumping_is_running_and_a_finished_task_is_gone() {
    let h = spawn_named("me", async { line_of(&arbor::dump(), "me") });
    let id = h.id();
    let own = h.await.unwrap();
    assert_eq!(own, format!("{} running", head(id, "me")));
    let text = arbor::dump();
    assert!(!text.contains("\"me\""), "{text}");
    assert!(!text.contains(&head(id, "me")), "{text}");
}

#[arbor::test(virtual_clock)]
async fn a_timeout_shows_the_wait_inside_or_else_its_own_line() {
    let sleep_line = line!() + 2;
    let inner = spawn_named("inner", async {
        move_on_after(HOUR, sleep(HOUR)).await;
    });
    let timeout_line = line!() + 2;
    let bare = spawn_named("bare", async {
        move_on_after(HOUR, pending::<()>()).await;
    });
    yield_now().await;
    let text = arbor::dump();
    assert!(
        line_of(&text, "inner").ends_with(&format!(" at {}:{sleep_line}:29", file!())),
        "{text}"
    );
    assert!(
        line_of(&text, "bare").ends_with(&format!(" at {}:{timeout_line}:9", file!())),
        "{text}"
    );
    inner.abort();
    bare.abort();
}

#[arbor::test(virtual_clock)]
async fn join_and_nursery_waits_show_a_line_in_arbor() {
    let sleeper = spawn_named("sleeper", sleep(HOUR));
    let joiner = spawn_named("joiner", async move {
        let _ = sleeper.await;
    });
    let parent = spawn_named("parent", async {
        nursery(async |n| {
            n.spawn_named("child", sleep(HOUR));
        })
        .await
        .unwrap();
    });
    yield_now().await;
    yield_now().await;
    let text = arbor::dump();
    assert!(line_of(&text, "joiner").contains("join.rs:"), "{text}");
    assert!(line_of(&text, "parent").contains("nursery.rs:"), "{text}");
    joiner.abort();
    parent.abort();
}

#[arbor::test(virtual_clock)]
async fn nested_nurseries_give_the_task_tree() {
    let ids = Rc::new(std::cell::RefCell::new(
        Vec::<(&str, TaskId, ScopeId)>::new(),
    ));
    let seen = ids.clone();
    let outer = spawn_named("outer", async move {
        let seen2 = seen.clone();
        nursery(async move |a| {
            let outer_nursery = current_scope();
            seen2
                .borrow_mut()
                .push(("outer", current_task_id().unwrap(), outer_nursery));
            let seen3 = seen2.clone();
            a.spawn_named("middle", async move {
                nursery(async move |b| {
                    seen3.borrow_mut().push((
                        "middle",
                        current_task_id().unwrap(),
                        current_scope(),
                    ));
                    let seen4 = seen3.clone();
                    b.spawn_named("leaf", async move {
                        seen4.borrow_mut().push((
                            "leaf",
                            current_task_id().unwrap(),
                            current_scope(),
                        ));
                        sleep(HOUR).await;
                    });
                    pending::<()>().await;
                })
                .await
                .unwrap();
            });
            pending::<()>().await;
        })
        .await
        .unwrap();
    });
    for _ in 0..4 {
        yield_now().await;
    }
    let ids = ids.borrow().clone();
    let find = |name: &str| *ids.iter().find(|(n, ..)| *n == name).unwrap();
    let (_, outer_task, a) = find("outer");
    let (_, middle_task, b) = find("middle");
    let (_, leaf_task, _) = find("leaf");
    assert_eq!(outer_task, outer.id());
    assert_ne!(a, b);

    assert_eq!(parent_nursery(outer_task), None);
    assert_eq!(child_nurseries(outer_task), vec![a]);
    assert_eq!(parent_nursery(middle_task), Some(a));
    assert_eq!(child_nurseries(middle_task), vec![b]);
    assert_eq!(parent_nursery(leaf_task), Some(b));
    assert_eq!(child_nurseries(leaf_task), Vec::<ScopeId>::new());

    // The dump reads task -> its nursery -> the nursery's tasks.
    let text = arbor::dump();
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"))
    };
    let depth = |needle: &str| {
        let line = text.lines().find(|l| l.contains(needle)).unwrap();
        line.len() - line.trim_start().len()
    };
    let outer_line = head(outer_task, "outer");
    let middle_line = head(middle_task, "middle");
    let leaf_line = head(leaf_task, "leaf");
    assert!(pos(&outer_line) < pos(&middle_line), "{text}");
    assert!(pos(&middle_line) < pos(&leaf_line), "{text}");
    assert!(depth(&outer_line) < depth(&middle_line), "{text}");
    assert!(depth(&middle_line) < depth(&leaf_line), "{text}");
    let nursery_of = |task: TaskId| {
        let short: Vec<String> = format!("{task}")
            .split(' ')
            .take(2)
            .map(String::from)
            .collect();
        format!(
            "Nursery #{} in {}",
            index_of(&text, &short.join(" ")),
            short.join(" ")
        )
    };
    assert!(pos(&outer_line) < pos(&nursery_of(outer_task)), "{text}");
    assert!(pos(&nursery_of(outer_task)) < pos(&middle_line), "{text}");

    outer.abort();
    yield_now().await;
    assert_eq!(child_nurseries(outer_task), Vec::<ScopeId>::new());
    assert_eq!(parent_nursery(leaf_task), None, "finished");
}

/// The index of the nursery node owned by `owner` ("task I.G") in a dump.
fn index_of(text: &str, owner: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Nursery #") && l.ends_with(&format!("in {owner}")))
        .unwrap_or_else(|| panic!("no nursery of {owner} in:\n{text}"));
    let rest = &line.trim_start()["Nursery #".len()..];
    rest.split(' ').next().unwrap().to_string()
}

/// A task that parked at a sleep, then parks in a future that notes no
/// await point, shows no location: the sleep's line would be stale.
#[arbor::test(virtual_clock)]
async fn a_park_without_a_note_drops_the_previous_await_point() {
    let h = spawn_named("later", async {
        sleep(SEC).await;
        pending::<()>().await;
    });
    yield_now().await;
    assert!(line_of(&arbor::dump(), "later").contains(" at "));
    sleep(2 * SEC).await;
    let text = arbor::dump();
    assert_eq!(
        line_of(&text, "later"),
        format!("{} parked 1s", head(h.id(), "later")),
        "{text}"
    );
    h.abort();
}
