//! What the generator may put in a program, and the stricter checks that
//! are not always on. Each feature is one bit; the
//! CI batch runs the set that passes on main today, and `ARBOR_RT_FEATURES`
//! picks another (`all`, `ci`, `none`, a hex mask, and `+name`/`-name`
//! edits, comma separated: `ci,+cancelled_kept`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features(pub u32);

macro_rules! features {
    ($($(#[doc = $doc:literal])* $name:ident = $bit:literal, $text:literal;)*) => {
        impl Features {
            $($(#[doc = $doc])* pub const $name: Features = Features(1 << $bit);)*
            pub const NAMES: &'static [(&'static str, Features)] = &[$(($text, Features::$name)),*];
        }
    };
}

features! {
    /// `arbor::spawn`, kept or detached handles, awaiting a handle.
    SPAWN = 0, "spawn";
    /// `JoinHandle::abort` of any spawned task, from anywhere.
    ABORT = 1, "abort";
    /// Abort-on-drop guards aimed at tasks later in spawn order (no cycle).
    ABORT_GUARD = 2, "abort_guard";
    /// Abort-on-drop guards aimed at the task's own handle or forming a
    /// cycle (two tasks aborting each other in their destructors).
    ABORT_CYCLE = 3, "abort_cycle";
    /// `nursery` and `supervisor`, children with `Nursery::spawn`.
    NURSERY = 4, "nursery";
    /// Children and bodies returning `Err`.
    ERRORS = 5, "errors";
    /// Children, bodies and tasks panicking; nurseries re-raising.
    PANICS = 6, "panics";
    /// `Nursery::start` and `TaskStatus::started`.
    START = 7, "start";
    /// A nursery child's `JoinHandle`: awaited, or `cancel()`ed.
    CHILD_CANCEL = 8, "child_cancel";
    /// `CancelScope::new().run(..)`.
    SCOPES = 9, "scopes";
    /// Deadlines: `with_timeout`, `with_deadline`, `move_on_after`, `fail_after`.
    DEADLINES = 10, "deadlines";
    /// Scopes entered already cancelled (past deadline, pre-cancelled handle).
    PRE_CANCELLED = 11, "pre_cancelled";
    /// `shield(..)`, `CancelScope::shielded(true)`, shielded children.
    SHIELD = 12, "shield";
    /// `CancelHandle::cancel` of a scope or a nursery from any task.
    REMOTE_CANCEL = 13, "remote_cancel";
    /// `yield_now`, `checkpoint`.
    CHECKPOINTS = 14, "checkpoints";
    /// `cancelled()` awaited (under a timeout).
    CANCELLED = 15, "cancelled";
    /// `cancelled()` polled once and kept alive while other code runs.
    CANCELLED_KEPT = 16, "cancelled_kept";
    /// `Semaphore` acquire/release.
    SEMAPHORE = 17, "semaphore";
    /// `Lock` and `Mutex`.
    LOCK = 18, "lock";
    /// `Event` set/wait.
    EVENT = 19, "event";
    /// Bounded and unbounded channels: send, recv, close.
    CHANNEL = 20, "channel";
    /// Waits for a permit or lock without a timeout, among them nursery
    /// children waiting for a permit their nursery's body holds. Without
    /// it every such wait gives up after a virtual hour, so a body that a
    /// cancellation freezes (instead of dropping it) while it holds what a
    /// shielded region waits for cannot hang the program.
    SHIELD_WAITS = 21, "shield_waits";
    /// Check: a nursery dropped by an enclosing cancellation had no
    /// failure (`Err` or panic) left to report.
    SURFACE_FAILURES = 22, "surface_failures";
    /// Check: a nursery dropped by an enclosing cancellation had no body
    /// value left to report.
    SURFACE_VALUES = 23, "surface_values";
    /// Check: a `start` call whose child the caller's cancelled scope
    /// stops is dropped by that scope; it never returns (with
    /// `StartError::Cancelled`) inside the cancelled scope.
    OUTER_CATCHES_START = 24, "outer_catches_start";
    /// A `start`ed child takes the `Lock` or `Mutex` (whose owner is a task).
    LOCK_IN_START = 25, "lock_in_start";
    /// `Nursery::child_set`: children spawned into a `ChildSet`, taken
    /// with `join_next` (plain, under a timeout, in a scope cancelled
    /// before it runs or by a child of the set) and `try_join_next`,
    /// cancelled by their `CancelHandle` or `cancel_all`, or left running
    /// when the set is dropped.
    CHILD_SET = 26, "child_set";
    /// `arbor::patterns`: `map_concurrent`/`try_map_concurrent` and
    /// `retry` nodes of scripted steps, `get`s (and a `close`) of a `Pool`
    /// shared by the program, `WorkerPool`s started in a nursery.
    PATTERNS = 27, "patterns";
    /// Tasks spawned through `Handle::spawn` (the closure sent through the
    /// remote queue, the task started when the runtime drains it), joined
    /// and aborted through their `RemoteJoinHandle`.
    REMOTE_SPAWN = 28, "remote_spawn";
    /// `task_local!` scopes around code, and checks of the value visible
    /// (what the enclosing scopes set, or what the task inherited at its
    /// spawn).
    TASK_LOCALS = 29, "task_locals";
    /// A `UnixStream::pair()`: `write`s of chunks, `read`s and `flush`es
    /// in tasks that may be cancelled, a drain reading all along, and the
    /// check that the bytes read are the prefixes the writes returned.
    STREAM = 30, "stream";
    /// Kept so seeds replay the same programs: it used to turn on the
    /// byte check for runs where an abort dropped a stream op at its
    /// schedule point, which skipped it then. Since the fix
    /// (`reproducers::stream_abort`) the check always runs.
    STREAM_ABORT = 31, "stream_abort";
}

impl Features {
    pub const NONE: Features = Features(0);
    pub const ALL: Features = Features(u32::MAX);

    /// What `cargo test -p arbor --test random_tree` runs: every feature that keeps
    /// every invariant on main today. See the module docs of the test for
    /// the failures the others find.
    pub const CI: Features = Features(Features::ALL.0 & !Features::KNOWN_FAILING.0);

    /// The features that find bugs still open on main (listed in
    /// `random_tree.rs`, reproduced in `reproducers::open`): take one out
    /// once its bug is fixed.
    pub const KNOWN_FAILING: Features = Features::NONE;

    pub fn has(self, f: Features) -> bool {
        self.0 & f.0 == f.0
    }

    pub fn with(self, f: Features) -> Features {
        Features(self.0 | f.0)
    }

    pub fn without(self, f: Features) -> Features {
        Features(self.0 & !f.0)
    }

    pub fn by_name(name: &str) -> Option<Features> {
        Features::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }

    /// Parse `ARBOR_RT_FEATURES`: comma-separated `all`/`ci`/`none`/hex
    /// mask/feature name, each optionally prefixed by `+` (add) or `-`
    /// (remove). A bare name starts from nothing.
    pub fn parse(spec: &str) -> Result<Features, String> {
        let mut set = Features::NONE;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (op, name) = match part.as_bytes()[0] {
                b'+' => ('+', &part[1..]),
                b'-' => ('-', &part[1..]),
                _ => ('=', part),
            };
            let f = match name {
                "all" => Features::ALL,
                "ci" => Features::CI,
                "none" => Features::NONE,
                hex if hex.starts_with("0x") => u32::from_str_radix(&hex[2..], 16)
                    .map(Features)
                    .map_err(|e| format!("bad mask {hex}: {e}"))?,
                name => Features::by_name(name).ok_or_else(|| {
                    let known: Vec<&str> = Features::NAMES.iter().map(|(n, _)| *n).collect();
                    format!("unknown feature {name:?}; known: {}", known.join(", "))
                })?,
            };
            set = match op {
                '-' => set.without(f),
                _ => set.with(f),
            };
        }
        Ok(set)
    }
}

impl fmt::Display for Features {
    /// The shortest of: the names, `ci` with edits, `all` with edits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let relative = |base: Features, name: &str| {
            let mut parts = vec![name.to_string()];
            for &(n, b) in Features::NAMES {
                match (base.has(b), self.has(b)) {
                    (false, true) => parts.push(format!("+{n}")),
                    (true, false) => parts.push(format!("-{n}")),
                    _ => {}
                }
            }
            parts.join(",")
        };
        let names: Vec<&str> = Features::NAMES
            .iter()
            .filter(|(_, b)| self.has(*b))
            .map(|(n, _)| *n)
            .collect();
        let plain = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(",")
        };
        let shortest = [
            plain,
            relative(Features::CI, "ci"),
            relative(Features::ALL, "all"),
        ]
        .into_iter()
        .min_by_key(String::len)
        .expect("three candidates");
        f.write_str(&shortest)
    }
}
