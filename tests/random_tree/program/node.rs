//! The program's tree: `Node` and the types its operations carry.

use std::rc::Rc;

/// How a task body or a nursery body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Ok,
    Err,
    Panic,
}

/// The kinds of cancel scope `Node::Scope` opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    /// `CancelScope::new()`.
    Plain,
    /// `CancelScope::new()`, cancelled before it is run.
    PreCancelled,
    /// `CancelScope::new().with_timeout(ms)`.
    Timeout(u32),
    /// `CancelScope::new().with_deadline(now + ms)` (0: a deadline now).
    Deadline(u32),
    /// `CancelScope::new().shielded(true)`, with an optional own timeout.
    Shielded(Option<u32>),
    /// `move_on_after(ms, ..)`.
    MoveOn(u32),
    /// `fail_after(ms, ..)`.
    FailAfter(u32),
    /// `shield(..)`.
    Shield,
}

impl ScopeKind {
    pub fn is_shield(self) -> bool {
        matches!(self, ScopeKind::Shielded(_) | ScopeKind::Shield)
    }
}

/// A resource to hold: a semaphore (with a permit count), the lock or the
/// mutex. Resources are numbered; code holding resource `r` only waits for
/// resources numbered above `r`, so correct programs never deadlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Res {
    Sem(usize),
    Lock,
    Mutex,
}

pub struct Body {
    pub node: Rc<Node>,
    pub ending: Ending,
}

/// A child spawned into a `ChildSet` (`Node::NSet`).
pub struct SetChild {
    pub id: usize,
    /// Its code runs inside `shield(..)`.
    pub shielded: bool,
    /// At the end of its code it cancels the scope of the set's
    /// `join_next` in progress (`JoinWrap::Scope`), if one is.
    pub cancels_join: bool,
    pub body: Rc<Body>,
}

/// How one `join_next` of a set is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinWrap {
    Plain,
    /// `move_on_after(ms, set.join_next())` (0: a deadline now).
    MoveOn(u32),
    /// In a `CancelScope` cancelled before it runs: no progress.
    PreCancelled,
    /// In a `CancelScope` that a child of the set marked `cancels_join`
    /// cancels when its code ends.
    Scope,
    /// Polled once, and dropped if that poll was `Pending` (as a
    /// `select!` drops the branch that lost).
    PollOnce,
}

/// One step of a set's owner after it spawned the children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetStep {
    Join(JoinWrap),
    TryJoin,
    /// `sleep(ms)` (0: a schedule point).
    Pause(u32),
    /// Cancel child `i` of the set through the `CancelHandle` its spawn
    /// returned.
    Cancel(usize),
    CancelAll,
}

/// What the owner does with the set after its steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetEnd {
    /// `while let Some(_) = set.join_next().await {}`: every child's
    /// result comes back once.
    JoinAll,
    /// Drop the set: the children still running are cancelled.
    Drop,
}

/// A scripted step of the patterns nodes: sleep `sleep` ms, then end
/// with `Ok` or (`fails`) `Err`; `fatal` marks an `Err` that `retry`'s
/// `retry_if` rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub sleep: u32,
    pub fails: bool,
    pub fatal: bool,
}

/// A `RetryPolicy` (`Node::Retry`), times in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySpec {
    pub max_attempts: u32,
    pub attempt_timeout: Option<u32>,
    pub overall: Option<u32>,
    pub initial: u32,
    pub factor: u32,
    pub max: u32,
    /// Full jitter with this seed; `None`: no jitter.
    pub jitter: Option<u64>,
}

/// The program's `Pool` (`Node::PoolGet`, `Node::PoolClose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub max_size: usize,
    /// The factory sleeps this long, and fails every `fail_every`th call.
    pub open_ms: u32,
    pub fail_every: Option<u32>,
    /// A health check sleeping `.0` ms that fails every `.1`th check.
    pub check: Option<(u32, u32)>,
    /// An `on_close` hook that sleeps this long.
    pub close_ms: Option<u32>,
}

/// Which map `Node::Map` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// `map_concurrent`: in input order, fail fast.
    FailFast,
    /// `try_map_concurrent`: every result in input order.
    All,
    /// `map_concurrent_unordered`, drained with `next()`; each `next()`
    /// is first polled once and dropped if pending (it must lose nothing).
    Unordered,
}

/// How a `pool.get()` is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetWrap {
    /// `move_on_after(ms, pool.get())`.
    MoveOn(u32),
    /// Polled once, dropped if pending.
    PollOnce,
}

/// How a `WorkerPool` node lets go of its pool after submitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkersEnd {
    /// `close()`, then `move_on_after(ms, join())`.
    CloseJoin(u32),
    /// Drop the handle (the pool closes and drains on its own).
    Drop,
    /// `cancel()`: the items in flight and queued are dropped.
    Cancel,
}

pub enum Node {
    Seq(Vec<Rc<Node>>),
    Sleep(u32),
    Yield,
    Checkpoint,
    /// Panic here (only where a nursery, a child or a task catches it).
    Panic,
    /// `arbor::spawn` into slot `slot` (`Handle::spawn` if `remote`);
    /// `detach` drops the handle at once.
    Spawn {
        slot: usize,
        body: Rc<Body>,
        detach: bool,
        remote: bool,
    },
    /// Await the handle in `slot` (always in the same sequence as its spawn).
    Join {
        slot: usize,
    },
    Abort {
        slot: usize,
    },
    /// `LOCAL.scope(value, body)`.
    LocalScope {
        value: u32,
        body: Rc<Node>,
    },
    /// Check the task-local value visible here.
    CheckLocal,
    /// Run `body` holding a guard that aborts the task in `slot` on drop.
    AbortGuard {
        slot: usize,
        body: Rc<Node>,
    },
    Nursery {
        id: usize,
        supervisor: bool,
        /// Register the nursery's cancel scope as scope ref `sref`.
        sref: Option<usize>,
        /// Re-raise a panic of the nursery after checking it.
        reraise: bool,
        body: Rc<Body>,
    },
    /// `Nursery::spawn` into the nursery `up` levels out.
    NSpawn {
        up: usize,
        id: usize,
        cslot: Option<usize>,
        shielded: bool,
        /// It first waits for a permit the spawning body holds.
        shares: bool,
        child: Rc<Body>,
    },
    /// `Nursery::start`: run `pre`, maybe end before `started`, else call
    /// `started` and run `post`.
    NStart {
        up: usize,
        id: usize,
        pre: Rc<Node>,
        pre_end: Option<Ending>,
        post: Rc<Body>,
    },
    /// `Nursery::child_set` of the nursery `up` levels out: spawn the
    /// children into it, run the steps, then join the rest or drop it.
    NSet {
        up: usize,
        id: usize,
        children: Vec<SetChild>,
        steps: Vec<SetStep>,
        end: SetEnd,
    },
    NJoin {
        cslot: usize,
    },
    NCancel {
        cslot: usize,
    },
    NCancelOwn {
        up: usize,
    },
    Scope {
        kind: ScopeKind,
        sref: Option<usize>,
        body: Rc<Node>,
    },
    CancelRef {
        sref: usize,
    },
    /// `move_on_after(ms, cancelled())`.
    Cancelled {
        timeout: u32,
    },
    /// Poll `cancelled()` once and keep it alive while `body` runs.
    CancelledKept {
        body: Rc<Node>,
    },
    Acquire {
        res: Res,
        permits: usize,
        timeout: Option<u32>,
        body: Rc<Node>,
    },
    SetEvent {
        ev: usize,
    },
    WaitEvent {
        ev: usize,
        timeout: u32,
    },
    Send {
        chan: usize,
        count: u32,
        timeout: Option<u32>,
        try_: bool,
    },
    Recv {
        chan: usize,
        count: u32,
        timeout: Option<u32>,
        try_: bool,
    },
    CloseTx {
        chan: usize,
    },
    CloseRx {
        chan: usize,
    },
    /// `map_concurrent`, `try_map_concurrent` or
    /// `map_concurrent_unordered` over the items, at most `limit` at once,
    /// under `move_on_after` if `timeout`.
    Map {
        id: usize,
        kind: MapKind,
        limit: usize,
        timeout: Option<u32>,
        items: Vec<Step>,
    },
    /// `retry(policy, op)`, attempt `k` of `op` doing `script[k]` (`Ok`
    /// past the script), under `move_on_after` if `timeout`.
    Retry {
        id: usize,
        policy: RetrySpec,
        timeout: Option<u32>,
        script: Vec<Step>,
    },
    /// `pool.get()`; with a connection, sleep `hold` ms, then drop the
    /// guard or discard it. `crowd` of them at once (the `i`th holding
    /// `i` ms longer), all polled by this node's future.
    PoolGet {
        crowd: usize,
        wrap: GetWrap,
        hold: u32,
        discard: bool,
    },
    /// `move_on_after(ms, pool.close())`.
    PoolClose {
        timeout: u32,
    },
    /// `write` a new chunk of `len` bytes to the program's stream, under
    /// `move_on_after(timeout)` (an hour if `None`).
    Write {
        len: usize,
        timeout: Option<u32>,
    },
    /// `count` `read`s of at most `max` bytes from the program's stream,
    /// each under `move_on_after(timeout)` (an hour if `None`).
    Read {
        max: usize,
        count: u32,
        timeout: Option<u32>,
    },
    /// `flush` of the program's stream under `move_on_after(timeout)`.
    Flush {
        timeout: Option<u32>,
    },
    /// `WorkerPool::builder(workers, capacity, handler)` started in the
    /// nursery `up` levels out, with an `on_error` collector; submit each
    /// item (`submit` under a timeout, or `try_submit`), then let go.
    Workers {
        up: usize,
        id: usize,
        workers: usize,
        capacity: usize,
        items: Vec<Step>,
        /// `submit` under `move_on_after(ms)`; `None`: `try_submit`.
        submit: Option<u32>,
        end: WorkersEnd,
    },
}

impl Node {
    /// A short name, for token accounting.
    pub fn name(&self) -> &'static str {
        match self {
            Node::Seq(_) => "seq",
            Node::Sleep(_) => "sleep",
            Node::Yield => "yield",
            Node::Checkpoint => "checkpoint",
            Node::Panic => "panic",
            Node::Spawn { .. } => "spawn",
            Node::Join { .. } => "join",
            Node::Abort { .. } => "abort",
            Node::AbortGuard { .. } => "abort_guard",
            Node::LocalScope { .. } => "local_scope",
            Node::CheckLocal => "check_local",
            Node::Nursery { .. } => "nursery",
            Node::NSpawn { .. } => "nursery.spawn",
            Node::NStart { .. } => "nursery.start",
            Node::NSet { .. } => "child_set",
            Node::NJoin { .. } => "child.join",
            Node::NCancel { .. } => "child.cancel",
            Node::NCancelOwn { .. } => "nursery.cancel",
            Node::Scope { .. } => "scope",
            Node::CancelRef { .. } => "cancel_ref",
            Node::Cancelled { .. } => "cancelled",
            Node::CancelledKept { .. } => "cancelled_kept",
            Node::Acquire { .. } => "acquire",
            Node::SetEvent { .. } => "event.set",
            Node::WaitEvent { .. } => "event.wait",
            Node::Send { .. } => "send",
            Node::Recv { .. } => "recv",
            Node::CloseTx { .. } => "close_tx",
            Node::CloseRx { .. } => "close_rx",
            Node::Map { .. } => "map_concurrent",
            Node::Retry { .. } => "retry",
            Node::PoolGet { .. } => "pool.get",
            Node::PoolClose { .. } => "pool.close",
            Node::Workers { .. } => "worker_pool",
            Node::Write { .. } => "stream.write",
            Node::Read { .. } => "stream.read",
            Node::Flush { .. } => "stream.flush",
        }
    }
}
