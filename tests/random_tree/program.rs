//! The generated program: a tree of operations, its generator, and a
//! readable listing for replays.

use std::fmt;
use std::rc::Rc;

use super::features::Features;
use super::rng::Rng;

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

/// The program's stream pair (`stream`).
#[derive(Clone, Copy, Debug)]
pub struct StreamSpec {
    /// The end flushes before it shuts the write side down.
    pub final_flush: bool,
    /// The drain sleeps this long (ms) before each read, so the program's
    /// reads get bytes too, and its writes fill the socket.
    pub drain_pause: u32,
    /// `SO_SNDBUF` of the write side, if set (small: writes wait).
    pub sndbuf: Option<i32>,
}

pub struct Program {
    pub seed: u64,
    pub features: Features,
    pub root: Rc<Node>,
    /// Initial permits of each semaphore.
    pub sems: Vec<usize>,
    /// Capacity of each channel (`None`: unbounded).
    pub chans: Vec<Option<usize>>,
    pub events: usize,
    pub slots: usize,
    pub cslots: usize,
    pub srefs: usize,
    /// At the end, abort the kept handles instead of letting them finish.
    pub final_abort: bool,
    pub size: usize,
    /// The program's shared `Pool`, if it has one (`patterns`).
    pub pool: Option<PoolSpec>,
    /// The program's stream pair, if it has one (`stream`).
    pub stream: Option<StreamSpec>,
}

const MAX_DEPTH: usize = 5;
const MAX_SLOTS: usize = 8;
const MAX_CSLOTS: usize = 8;
const MAX_SREFS: usize = 6;
const SLEEPS: &[u32] = &[0, 1, 1, 2, 3, 5, 10, 20];
const TIMEOUTS: &[u32] = &[1, 2, 3, 5, 10, 20, 50];
/// The timeout of a wait that is unbounded with `shield_waits`, in ms.
const AN_HOUR: u32 = 3_600_000;

/// The generator's view of where a statement goes.
#[derive(Clone)]
struct Ctx {
    depth: usize,
    /// Lowest resource index this code may wait for.
    min_res: usize,
    /// Whether a failure here is caught (by a nursery, a child, a task).
    sink: bool,
    /// Nurseries reachable from here.
    nurseries: usize,
    /// The spawned task this code belongs to (nursery children inherit it).
    owner: Option<usize>,
    /// Resources held by the innermost nursery body in this task.
    body_held: Vec<usize>,
    /// Resources a child may wait for at its top, holding nothing: its
    /// nursery's body holds them (`shield_waits`).
    share: Vec<usize>,
    holding: bool,
    /// Code of a `start`ed child (which may run in its caller's task).
    in_start: bool,
}

struct Gen {
    pool: bool,
    stream: bool,
    rng: Rng,
    f: Features,
    budget: i64,
    size: usize,
    res: Vec<Res>,
    sems: Vec<usize>,
    chans: usize,
    events: usize,
    slots: usize,
    cslots: usize,
    ids: usize,
    /// Set when a child's top level waited for a shared permit.
    used_share: bool,
    /// Make the next child's first statement wait for a shared permit.
    force_share: bool,
    /// Children generated so far that wait for their body's permit.
    sharing_children: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pick {
    Sleep,
    Yield,
    LocalScope,
    CheckLocal,
    Checkpoint,
    Panic,
    Spawn,
    Abort,
    AbortGuard,
    Nursery,
    NSpawn,
    NStart,
    NSet,
    NCancel,
    NCancelOwn,
    Scope,
    CancelRef,
    Cancelled,
    CancelledKept,
    Acquire,
    SetEvent,
    WaitEvent,
    Send,
    Recv,
    Close,
    Map,
    Retry,
    PoolGet,
    PoolClose,
    Workers,
    Write,
    Read,
    Flush,
}

pub fn generate(seed: u64, f: Features) -> Program {
    let mut rng = Rng::new(seed);
    let sems: Vec<usize> = if f.has(Features::SEMAPHORE) {
        (0..1 + rng.below(2)).map(|_| 1 + rng.below(2)).collect()
    } else {
        Vec::new()
    };
    let mut res: Vec<Res> = (0..sems.len()).map(Res::Sem).collect();
    if f.has(Features::LOCK) {
        // The order of resources is part of the program.
        if rng.chance(1, 2) {
            res.push(Res::Lock);
            res.push(Res::Mutex);
        } else {
            res.insert(0, Res::Mutex);
            res.push(Res::Lock);
        }
    }
    let chans: Vec<Option<usize>> = if f.has(Features::CHANNEL) {
        (0..1 + rng.below(2))
            .map(|_| rng.pick(&[Some(0), Some(1), Some(2), None]))
            .collect()
    } else {
        Vec::new()
    };
    let events = if f.has(Features::EVENT) { 2 } else { 0 };
    let pool = (f.has(Features::PATTERNS) && rng.chance(1, 2)).then(|| PoolSpec {
        max_size: rng.pick(&[1, 1, 2, 3]),
        open_ms: rng.pick(&[0, 0, 1, 2, 3]),
        fail_every: rng.chance(1, 3).then(|| 2 + rng.below(2) as u32),
        check: rng
            .chance(1, 3)
            .then(|| (rng.pick(&[0, 1, 2]), 2 + rng.below(3) as u32)),
        close_ms: rng.chance(1, 4).then(|| rng.pick(&[0, 1, 2])),
    });
    // Drawn only with the feature, so `-stream` generates what it did before.
    let stream = (f.has(Features::STREAM) && rng.chance(1, 2)).then(|| StreamSpec {
        final_flush: rng.chance(1, 2),
        drain_pause: rng.pick(&[0, 1, 2, 5, 20]),
        sndbuf: rng.pick(&[None, None, Some(4096), Some(32 * 1024)]),
    });
    let budget = 8 + rng.below(48) as i64;
    let mut g = Gen {
        pool: pool.is_some(),
        stream: stream.is_some(),
        rng,
        f,
        budget,
        size: 0,
        res,
        sems: sems.clone(),
        chans: chans.len(),
        events,
        slots: 0,
        cslots: 0,
        ids: 0,
        used_share: false,
        force_share: false,
        sharing_children: 0,
    };
    let ctx = Ctx {
        depth: 0,
        min_res: 0,
        sink: false,
        nurseries: 0,
        owner: None,
        body_held: Vec::new(),
        share: Vec::new(),
        holding: false,
        in_start: false,
    };
    // Most programs are a nursery at the root: a body that can fail.
    let root = if f.has(Features::NURSERY) && g.rng.chance(3, 4) {
        g.size += 1;
        let body = g.body(&ctx.nursery_body(), true);
        let id = g.id();
        Rc::new(Node::Nursery {
            id,
            supervisor: g.rng.chance(1, 3),
            sref: None,
            reraise: false,
            body,
        })
    } else {
        g.seq(&ctx)
    };
    let final_abort = g.rng.chance(1, 2);
    Program {
        seed,
        features: f,
        root,
        sems,
        chans,
        events,
        slots: g.slots,
        cslots: g.cslots,
        srefs: MAX_SREFS,
        final_abort,
        size: g.size,
        pool,
        stream,
    }
}

impl Ctx {
    fn nursery_body(&self) -> Ctx {
        Ctx {
            depth: self.depth + 1,
            sink: true,
            nurseries: self.nurseries + 1,
            body_held: Vec::new(),
            share: Vec::new(),
            ..self.clone()
        }
    }

    fn deeper(&self) -> Ctx {
        Ctx {
            depth: self.depth + 1,
            share: Vec::new(),
            ..self.clone()
        }
    }
}

impl Gen {
    fn id(&mut self) -> usize {
        self.ids += 1;
        self.ids
    }

    fn ending(&mut self) -> Ending {
        // Mostly Ok: a failure cancels its nursery, and programs that
        // end at once test less.
        let mut choices = vec![Ending::Ok; 7];
        if self.f.has(Features::ERRORS) {
            choices.extend([Ending::Err; 2]);
        }
        if self.f.has(Features::PANICS) {
            choices.push(Ending::Panic);
        }
        self.rng.pick(&choices)
    }

    fn body(&mut self, ctx: &Ctx, can_fail: bool) -> Rc<Body> {
        let node = self.seq(ctx);
        let ending = if can_fail { self.ending() } else { Ending::Ok };
        Rc::new(Body { node, ending })
    }

    fn seq(&mut self, ctx: &Ctx) -> Rc<Node> {
        let len = 1 + self.rng.below(4);
        let mut items: Vec<Rc<Node>> = Vec::new();
        // Handles joinable here: spawned in this sequence, same resources held.
        let mut joinable: Vec<Node> = Vec::new();
        let mut ctx = ctx.clone();
        for i in 0..len {
            if self.budget <= 0 {
                break;
            }
            if !joinable.is_empty() && self.rng.chance(1, 3) {
                let j = self.rng.below(joinable.len());
                items.push(Rc::new(joinable.swap_remove(j)));
                self.size += 1;
            }
            let (node, join) = self.stmt(&ctx);
            items.push(Rc::new(node));
            if let Some(join) = join {
                joinable.push(join);
            }
            // Only the first statement of a child may wait for a shared
            // permit: later ones might hold something it needs.
            if i == 0 {
                ctx.share.clear();
                self.force_share = false;
            }
        }
        for join in joinable {
            if self.rng.chance(2, 3) {
                items.push(Rc::new(join));
                self.size += 1;
            }
        }
        if items.len() == 1 {
            return items.pop().unwrap();
        }
        Rc::new(Node::Seq(items))
    }

    fn picks(&self, ctx: &Ctx) -> Vec<(u32, Pick)> {
        let f = self.f;
        let deep = ctx.depth >= MAX_DEPTH;
        let mut v = vec![(4, Pick::Sleep)];
        let mut add = |on: bool, w: u32, p: Pick| {
            if on {
                v.push((w, p));
            }
        };
        add(f.has(Features::CHECKPOINTS), 1, Pick::Yield);
        add(f.has(Features::TASK_LOCALS) && !deep, 1, Pick::LocalScope);
        add(f.has(Features::TASK_LOCALS), 1, Pick::CheckLocal);
        add(f.has(Features::CHECKPOINTS), 1, Pick::Checkpoint);
        add(f.has(Features::PANICS) && ctx.sink, 1, Pick::Panic);
        add(
            f.has(Features::SPAWN) && !deep && self.slots < MAX_SLOTS,
            3,
            Pick::Spawn,
        );
        add(f.has(Features::ABORT) && self.slots > 0, 2, Pick::Abort);
        add(
            (f.has(Features::ABORT_GUARD) || f.has(Features::ABORT_CYCLE)) && !deep,
            2,
            Pick::AbortGuard,
        );
        add(f.has(Features::NURSERY) && !deep, 3, Pick::Nursery);
        add(ctx.nurseries > 0 && !deep, 5, Pick::NSpawn);
        add(
            f.has(Features::START) && ctx.nurseries > 0 && !deep,
            2,
            Pick::NStart,
        );
        add(
            f.has(Features::CHILD_SET) && ctx.nurseries > 0 && !deep,
            2,
            Pick::NSet,
        );
        add(
            f.has(Features::CHILD_CANCEL) && self.cslots > 0,
            2,
            Pick::NCancel,
        );
        add(
            f.has(Features::REMOTE_CANCEL) && ctx.nurseries > 0,
            1,
            Pick::NCancelOwn,
        );
        let scopes = f.has(Features::SCOPES)
            || f.has(Features::DEADLINES)
            || f.has(Features::SHIELD)
            || f.has(Features::PRE_CANCELLED);
        add(scopes && !deep, 4, Pick::Scope);
        add(f.has(Features::REMOTE_CANCEL), 2, Pick::CancelRef);
        add(f.has(Features::CANCELLED), 1, Pick::Cancelled);
        add(
            f.has(Features::CANCELLED_KEPT) && !deep,
            1,
            Pick::CancelledKept,
        );
        let can_acquire =
            !self.acquirable(ctx).is_empty() || (!ctx.holding && !ctx.share.is_empty());
        add(can_acquire && !deep, 4, Pick::Acquire);
        add(self.events > 0, 1, Pick::SetEvent);
        add(self.events > 0, 2, Pick::WaitEvent);
        add(self.chans > 0, 3, Pick::Send);
        add(self.chans > 0, 3, Pick::Recv);
        add(self.chans > 0, 1, Pick::Close);
        let patterns = f.has(Features::PATTERNS);
        add(patterns, 2, Pick::Map);
        add(patterns, 2, Pick::Retry);
        add(self.pool, 8, Pick::PoolGet);
        add(self.pool, 1, Pick::PoolClose);
        add(patterns && ctx.nurseries > 0 && !deep, 2, Pick::Workers);
        add(self.stream, 4, Pick::Write);
        add(self.stream, 2, Pick::Read);
        add(self.stream, 1, Pick::Flush);
        v
    }

    /// One statement, and the `Join`/`NJoin` that may follow it in the
    /// same sequence.
    fn stmt(&mut self, ctx: &Ctx) -> (Node, Option<Node>) {
        self.budget -= 1;
        self.size += 1;
        if self.force_share && !ctx.share.is_empty() {
            self.force_share = false;
            let r = self.rng.pick(&ctx.share);
            return (self.acquire_res(ctx, r, true), None);
        }
        let picks = self.picks(ctx);
        let total: u32 = picks.iter().map(|p| p.0).sum();
        let mut r = self.rng.below(total as usize) as u32;
        let mut pick = Pick::Sleep;
        for (w, p) in picks {
            if r < w {
                pick = p;
                break;
            }
            r -= w;
        }
        let f = self.f;
        let node = match pick {
            Pick::Sleep => Node::Sleep(self.rng.pick(SLEEPS)),
            Pick::Yield => Node::Yield,
            Pick::LocalScope => Node::LocalScope {
                value: self.rng.below(1000) as u32,
                body: self.seq(&ctx.deeper()),
            },
            Pick::CheckLocal => Node::CheckLocal,
            Pick::Checkpoint => Node::Checkpoint,
            Pick::Panic => Node::Panic,
            Pick::Spawn => {
                let slot = self.slots;
                self.slots += 1;
                let inner = Ctx {
                    depth: ctx.depth + 1,
                    sink: true,
                    nurseries: 0,
                    owner: Some(slot),
                    body_held: Vec::new(),
                    share: Vec::new(),
                    holding: false,
                    in_start: false,
                    min_res: ctx.min_res,
                };
                let body = self.body(&inner, true);
                let detach = self.rng.chance(1, 4);
                let remote = f.has(Features::REMOTE_SPAWN) && self.rng.chance(1, 3);
                let join = (!detach).then_some(Node::Join { slot });
                return (
                    Node::Spawn {
                        slot,
                        body,
                        detach,
                        remote,
                    },
                    join,
                );
            }
            Pick::Abort => Node::Abort {
                slot: self.rng.below(self.slots),
            },
            Pick::AbortGuard => {
                let slot = if f.has(Features::ABORT_CYCLE) {
                    // Anything, the own task and earlier ones included.
                    self.rng.below(self.slots + 2)
                } else {
                    // Only tasks later in spawn order than the owner: an
                    // abort chain can never come back.
                    let lo = ctx.owner.map_or(0, |o| o + 1);
                    let hi = (self.slots + 2).max(lo + 1);
                    lo + self.rng.below(hi - lo)
                };
                let body = self.seq(&ctx.deeper());
                Node::AbortGuard { slot, body }
            }
            Pick::Nursery => {
                let id = self.id();
                let sref = self.sref();
                let sharing = self.sharing_children;
                let body = self.body(&ctx.nursery_body(), true);
                let sharing = self.sharing_children > sharing;
                let nursery = Node::Nursery {
                    id,
                    supervisor: self.rng.chance(1, 3),
                    sref,
                    reraise: ctx.sink && f.has(Features::PANICS) && self.rng.chance(1, 3),
                    body,
                };
                // A nursery under a deadline: the common way to bound one
                // (and, when a child waits for its body's permit, the way
                // to cancel the body while it holds it).
                let odds = if sharing { 2 } else { 4 };
                if f.has(Features::DEADLINES) && self.rng.chance(1, odds) {
                    let t = self.rng.pick(TIMEOUTS);
                    let kind = self
                        .rng
                        .pick(&[ScopeKind::MoveOn(t), ScopeKind::Timeout(t)]);
                    Node::Scope {
                        kind,
                        sref: None,
                        body: Rc::new(nursery),
                    }
                } else {
                    nursery
                }
            }
            Pick::NSpawn => {
                let up = self.up(ctx);
                let id = self.id();
                let share = if up == 0 && f.has(Features::SHIELD_WAITS) {
                    ctx.body_held.clone()
                } else {
                    Vec::new()
                };
                let inner = Ctx {
                    depth: ctx.depth + 1,
                    sink: true,
                    nurseries: ctx.nurseries - up,
                    body_held: Vec::new(),
                    share,
                    holding: false,
                    in_start: false,
                    ..ctx.clone()
                };
                let saved = std::mem::replace(&mut self.used_share, false);
                // A child that waits for its body's permit, often
                // shielded: a cancellation must drop the body (and its
                // permit), never freeze it while the child waits.
                self.force_share = !inner.share.is_empty() && self.rng.chance(1, 2);
                let child = self.body(&inner, true);
                self.force_share = false;
                let shared = std::mem::replace(&mut self.used_share, saved);
                self.sharing_children += usize::from(shared);
                let odds = if shared { 2 } else { 4 };
                let shielded = f.has(Features::SHIELD) && self.rng.chance(1, odds);
                let keep = f.has(Features::CHILD_CANCEL)
                    && self.cslots < MAX_CSLOTS
                    && self.rng.chance(1, 2);
                let cslot = keep.then(|| {
                    self.cslots += 1;
                    self.cslots - 1
                });
                // A child waiting for a permit the body holds is never
                // awaited by that body.
                let join = cslot.filter(|_| !shared).map(|cslot| Node::NJoin { cslot });
                return (
                    Node::NSpawn {
                        up,
                        id,
                        cslot,
                        shielded,
                        shares: shared,
                        child,
                    },
                    join,
                );
            }
            Pick::NStart => {
                let up = self.up(ctx);
                let id = self.id();
                let inner = Ctx {
                    depth: ctx.depth + 1,
                    sink: true,
                    nurseries: ctx.nurseries - up,
                    body_held: Vec::new(),
                    share: Vec::new(),
                    holding: false,
                    in_start: true,
                    ..ctx.clone()
                };
                let pre = self.seq(&inner);
                let pre_end = self.rng.chance(1, 4).then(|| self.ending());
                let post = self.body(&inner, true);
                Node::NStart {
                    up,
                    id,
                    pre,
                    pre_end,
                    post,
                }
            }
            Pick::NSet => self.child_set(ctx),
            Pick::NCancel => Node::NCancel {
                cslot: self.rng.below(self.cslots),
            },
            Pick::NCancelOwn => Node::NCancelOwn { up: self.up(ctx) },
            Pick::Scope => {
                let kind = self.scope_kind();
                // Only a `CancelScope` has a handle.
                let sref = match kind {
                    ScopeKind::MoveOn(_) | ScopeKind::FailAfter(_) | ScopeKind::Shield => None,
                    _ => self.sref(),
                };
                let body = self.seq(&ctx.deeper());
                Node::Scope { kind, sref, body }
            }
            Pick::CancelRef => Node::CancelRef {
                sref: self.rng.below(MAX_SREFS),
            },
            Pick::Cancelled => Node::Cancelled {
                timeout: self.rng.pick(TIMEOUTS),
            },
            Pick::CancelledKept => Node::CancelledKept {
                body: self.seq(&ctx.deeper()),
            },
            Pick::Acquire => return (self.acquire(ctx), None),
            Pick::SetEvent => Node::SetEvent {
                ev: self.rng.below(self.events),
            },
            Pick::WaitEvent => Node::WaitEvent {
                ev: self.rng.below(self.events),
                timeout: self.rng.pick(TIMEOUTS),
            },
            Pick::Send | Pick::Recv => {
                let chan = self.rng.below(self.chans);
                let count = 1 + self.rng.below(3) as u32;
                // Every wait is bounded: nothing guarantees a partner.
                let timeout = Some(self.rng.pick(TIMEOUTS));
                let try_ = self.rng.chance(1, 4);
                if pick == Pick::Send {
                    Node::Send {
                        chan,
                        count,
                        timeout,
                        try_,
                    }
                } else {
                    Node::Recv {
                        chan,
                        count,
                        timeout,
                        try_,
                    }
                }
            }
            Pick::Close => {
                let chan = self.rng.below(self.chans);
                if self.rng.chance(1, 2) {
                    Node::CloseTx { chan }
                } else {
                    Node::CloseRx { chan }
                }
            }
            Pick::Write => Node::Write {
                len: self.chunk_len(),
                timeout: self.rng.chance(2, 3).then(|| self.rng.pick(TIMEOUTS)),
            },
            Pick::Read => Node::Read {
                max: self.chunk_len(),
                count: 1 + self.rng.below(3) as u32,
                timeout: self.rng.chance(2, 3).then(|| self.rng.pick(TIMEOUTS)),
            },
            Pick::Flush => Node::Flush {
                timeout: self.rng.chance(2, 3).then(|| self.rng.pick(TIMEOUTS)),
            },
            Pick::Map => {
                let count = 1 + self.rng.below(5);
                Node::Map {
                    id: self.id(),
                    kind: self.rng.pick(&[
                        MapKind::FailFast,
                        MapKind::FailFast,
                        MapKind::All,
                        MapKind::Unordered,
                    ]),
                    limit: 1 + self.rng.below(3),
                    timeout: self.rng.chance(1, 3).then(|| self.rng.pick(TIMEOUTS)),
                    items: self.steps(count, 1, 4),
                }
            }
            Pick::Retry => {
                let max_attempts = 1 + self.rng.below(4) as u32;
                let policy = RetrySpec {
                    max_attempts,
                    attempt_timeout: self.rng.chance(1, 2).then(|| self.rng.pick(&[0, 1, 2, 4])),
                    overall: self
                        .rng
                        .chance(1, 3)
                        .then(|| self.rng.pick(&[0, 2, 5, 10, 20])),
                    initial: self.rng.pick(&[0, 1, 2]),
                    factor: self.rng.pick(&[1, 2, 3]),
                    max: self.rng.pick(&[1, 3, 10]),
                    jitter: self.rng.chance(1, 3).then(|| self.rng.below(1000) as u64),
                };
                let mut script = self.steps(max_attempts as usize, 2, 3);
                // Mostly fail a scripted number of times, then succeed.
                if self.rng.chance(2, 3) {
                    let ok = self.rng.below(script.len() + 1);
                    for (k, s) in script.iter_mut().enumerate() {
                        s.fails = k < ok;
                    }
                }
                if self.rng.chance(1, 5) {
                    let k = self.rng.below(script.len());
                    script[k].fails = true;
                    script[k].fatal = true;
                }
                Node::Retry {
                    id: self.id(),
                    policy,
                    timeout: self.rng.chance(1, 3).then(|| self.rng.pick(TIMEOUTS)),
                    script,
                }
            }
            Pick::PoolGet => {
                let wrap = if self.rng.chance(1, 4) {
                    GetWrap::PollOnce
                } else if self.rng.chance(1, 5) {
                    GetWrap::MoveOn(AN_HOUR)
                } else {
                    GetWrap::MoveOn(self.rng.pick(TIMEOUTS))
                };
                Node::PoolGet {
                    crowd: if self.rng.chance(1, 3) {
                        2 + self.rng.below(3)
                    } else {
                        1
                    },
                    wrap,
                    hold: self.rng.pick(&[0, 1, 2, 5, 10, 20]),
                    discard: self.rng.chance(1, 4),
                }
            }
            Pick::PoolClose => Node::PoolClose {
                timeout: self.rng.pick(TIMEOUTS),
            },
            Pick::Workers => {
                let count = self.rng.below(6);
                Node::Workers {
                    up: self.up(ctx),
                    id: self.id(),
                    workers: 1 + self.rng.below(3),
                    capacity: 1 + self.rng.below(3),
                    items: self.steps(count, 1, 4),
                    submit: (!self.rng.chance(1, 4)).then(|| self.rng.pick(TIMEOUTS)),
                    end: match self.rng.below(6) {
                        0 => WorkersEnd::Drop,
                        1 => WorkersEnd::Cancel,
                        _ => WorkersEnd::CloseJoin(self.rng.pick(&[5, 20, 50, AN_HOUR])),
                    },
                }
            }
        };
        (node, None)
    }

    /// `n` scripted steps, each failing with odds `fail` in `of`.
    fn steps(&mut self, n: usize, fail: u64, of: u64) -> Vec<Step> {
        (0..n)
            .map(|_| Step {
                sleep: self.rng.pick(&[0, 1, 1, 2, 3, 5]),
                fails: self.rng.chance(fail, of),
                fatal: false,
            })
            .collect()
    }

    /// A `ChildSet` of 1 to 4 children. Its owner only waits (in
    /// `join_next`) for children that, like `NSpawn` children joined in
    /// the same sequence, wait only for resources above those it holds.
    fn child_set(&mut self, ctx: &Ctx) -> Node {
        let f = self.f;
        let up = self.up(ctx);
        let id = self.id();
        let inner = Ctx {
            depth: ctx.depth + 1,
            sink: true,
            nurseries: ctx.nurseries - up,
            body_held: Vec::new(),
            share: Vec::new(),
            holding: false,
            in_start: false,
            ..ctx.clone()
        };
        let count = 1 + self.rng.below(4);
        let children: Vec<SetChild> = (0..count)
            .map(|_| {
                let id = self.id();
                let body = self.body(&inner, true);
                SetChild {
                    id,
                    shielded: f.has(Features::SHIELD) && self.rng.chance(1, 5),
                    cancels_join: self.rng.chance(1, 4),
                    body,
                }
            })
            .collect();
        let mut wraps = vec![JoinWrap::Plain, JoinWrap::Plain, JoinWrap::PollOnce];
        if f.has(Features::DEADLINES) {
            wraps.push(JoinWrap::MoveOn(self.rng.pick(&[1, 2, 5])));
        }
        if f.has(Features::PRE_CANCELLED) {
            wraps.push(JoinWrap::MoveOn(0));
            wraps.push(JoinWrap::PreCancelled);
        }
        if f.has(Features::SCOPES) {
            wraps.extend([JoinWrap::Scope; 2]);
        }
        let mut steps = Vec::new();
        for _ in 0..self.rng.below(6) {
            let step = match self.rng.below(10) {
                0..=3 => SetStep::Join(self.rng.pick(&wraps)),
                4 => SetStep::TryJoin,
                5 | 6 => SetStep::Pause(self.rng.pick(&[0, 0, 1, 2, 5])),
                7 | 8 => SetStep::Cancel(self.rng.below(count)),
                _ => SetStep::CancelAll,
            };
            steps.push(step);
        }
        self.size += steps.len();
        let end = if self.rng.chance(2, 3) {
            SetEnd::JoinAll
        } else {
            SetEnd::Drop
        };
        Node::NSet {
            up,
            id,
            children,
            steps,
            end,
        }
    }

    /// A chunk length for a stream write or a read buffer: 1..=64 KiB,
    /// mostly small.
    fn chunk_len(&mut self) -> usize {
        let max = self.rng.pick(&[16, 512, 8 * 1024, 64 * 1024]);
        1 + self.rng.below(max)
    }

    fn up(&mut self, ctx: &Ctx) -> usize {
        if self.rng.chance(3, 4) {
            0
        } else {
            self.rng.below(ctx.nurseries)
        }
    }

    fn sref(&mut self) -> Option<usize> {
        if self.f.has(Features::REMOTE_CANCEL) && self.rng.chance(1, 3) {
            Some(self.rng.below(MAX_SREFS))
        } else {
            None
        }
    }

    fn scope_kind(&mut self) -> ScopeKind {
        let f = self.f;
        let mut kinds = Vec::new();
        if f.has(Features::SCOPES) {
            kinds.push(ScopeKind::Plain);
        }
        if f.has(Features::DEADLINES) {
            let t = self.rng.pick(TIMEOUTS);
            kinds.push(ScopeKind::Timeout(t));
            kinds.push(ScopeKind::Deadline(t));
            kinds.push(ScopeKind::MoveOn(t));
            kinds.push(ScopeKind::FailAfter(t));
        }
        if f.has(Features::SHIELD) {
            kinds.push(ScopeKind::Shield);
            let own = (f.has(Features::DEADLINES) && self.rng.chance(1, 3))
                .then(|| self.rng.pick(TIMEOUTS));
            kinds.push(ScopeKind::Shielded(own));
        }
        if f.has(Features::PRE_CANCELLED) {
            kinds.push(ScopeKind::PreCancelled);
            kinds.push(ScopeKind::Deadline(0));
            kinds.push(ScopeKind::MoveOn(0));
        }
        self.rng.pick(&kinds)
    }

    /// Resources this code may wait for (not counting shared permits).
    fn acquirable(&self, ctx: &Ctx) -> Vec<usize> {
        let owned_ok = !ctx.in_start || self.f.has(Features::LOCK_IN_START);
        (ctx.min_res..self.res.len())
            .filter(|&r| owned_ok || matches!(self.res[r], Res::Sem(_)))
            .collect()
    }

    fn acquire(&mut self, ctx: &Ctx) -> Node {
        let mut choices: Vec<(usize, bool)> = self
            .acquirable(ctx)
            .into_iter()
            .map(|r| (r, false))
            .collect();
        if !ctx.holding {
            choices.extend(ctx.share.iter().map(|&r| (r, true)));
        }
        let (r, shared) = self.rng.pick(&choices);
        self.acquire_res(ctx, r, shared)
    }

    fn acquire_res(&mut self, ctx: &Ctx, r: usize, shared: bool) -> Node {
        if shared {
            self.used_share = true;
        }
        let res = self.res[r];
        let permits = match res {
            Res::Sem(i) => 1 + self.rng.below(self.sems[i]),
            _ => 1,
        };
        // A shared permit is waited for without a timeout: the body drops
        // it when the nursery is cancelled, or when it finishes.
        let timeout = if shared {
            None
        } else if self.rng.chance(1, 3) {
            Some(self.rng.pick(TIMEOUTS))
        } else if self.f.has(Features::SHIELD_WAITS) {
            None
        } else {
            Some(AN_HOUR)
        };
        let mut inner = ctx.deeper();
        inner.min_res = ctx.min_res.max(r + 1);
        inner.holding = true;
        if !shared {
            inner.body_held.push(r);
        }
        let sharing = self.sharing_children;
        let mut body = self.seq(&inner);
        // Hold on a while after spawning a child that waits for this.
        if self.sharing_children > sharing && self.rng.chance(1, 2) {
            self.size += 1;
            body = Rc::new(Node::Seq(vec![body, Rc::new(Node::Sleep(20))]));
        }
        Node::Acquire {
            res,
            permits,
            timeout,
            body,
        }
    }
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

struct Listing<'a>(&'a Node, usize);

fn ending(e: Ending) -> &'static str {
    match e {
        Ending::Ok => "Ok",
        Ending::Err => "Err",
        Ending::Panic => "panic!",
    }
}

/// Scripted steps as `[2ms Ok, 0ms Err, 1ms Err!]` (`!`: not retryable).
fn steps(items: &[Step]) -> String {
    let v: Vec<String> = items
        .iter()
        .map(|s| {
            format!(
                "{}ms {}",
                s.sleep,
                match (s.fails, s.fatal) {
                    (false, _) => "Ok",
                    (true, false) => "Err",
                    (true, true) => "Err!",
                }
            )
        })
        .collect();
    format!("[{}]", v.join(", "))
}

fn ms(t: Option<u32>) -> String {
    match t {
        None => "-".into(),
        Some(AN_HOUR) => "1h".into(),
        Some(t) => format!("{t}ms"),
    }
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Listing(node, ind) = *self;
        let pad = "  ".repeat(ind);
        let block = |f: &mut fmt::Formatter<'_>, head: String, body: &Node| {
            writeln!(f, "{pad}{head} {{")?;
            write!(f, "{}", Listing(body, ind + 1))?;
            writeln!(f, "{pad}}}")
        };
        let body_block = |f: &mut fmt::Formatter<'_>, head: String, body: &Body| {
            writeln!(f, "{pad}{head} {{")?;
            write!(f, "{}", Listing(&body.node, ind + 1))?;
            writeln!(f, "{pad}}} -> {}", ending(body.ending))
        };
        match node {
            Node::Seq(items) => {
                for item in items {
                    write!(f, "{}", Listing(item, ind))?;
                }
                Ok(())
            }
            Node::Sleep(t) => writeln!(f, "{pad}sleep({t}ms)"),
            Node::Yield => writeln!(f, "{pad}yield_now()"),
            Node::Checkpoint => writeln!(f, "{pad}checkpoint()"),
            Node::Panic => writeln!(f, "{pad}panic!()"),
            Node::Spawn {
                slot,
                body,
                detach,
                remote,
            } => body_block(
                f,
                format!(
                    "task{slot} = {}{}",
                    if *remote {
                        "Handle::current().spawn"
                    } else {
                        "arbor::spawn"
                    },
                    if *detach { " (detached)" } else { "" }
                ),
                body,
            ),
            Node::Join { slot } => writeln!(f, "{pad}task{slot}.await"),
            Node::Abort { slot } => writeln!(f, "{pad}task{slot}.abort()"),
            Node::AbortGuard { slot, body } => {
                block(f, format!("with AbortOnDrop(task{slot})"), body)
            }
            Node::LocalScope { value, body } => block(f, format!("LOCAL.scope({value})"), body),
            Node::CheckLocal => writeln!(f, "{pad}check LOCAL"),
            Node::Nursery {
                id,
                supervisor,
                sref,
                reraise,
                body,
            } => body_block(
                f,
                format!(
                    "n{id} = {}{}{}",
                    if *supervisor { "supervisor" } else { "nursery" },
                    sref.map_or(String::new(), |s| format!(" [scope ref {s}]")),
                    if *reraise { " [re-raise panics]" } else { "" },
                ),
                body,
            ),
            Node::NSpawn {
                up,
                id,
                cslot,
                shielded,
                shares,
                child,
            } => body_block(
                f,
                format!(
                    "{}child{id} = n[up {up}].spawn{}{}",
                    cslot.map_or(String::new(), |c| format!("c{c} = ")),
                    if *shielded { "(shield)" } else { "" },
                    if *shares {
                        " [waits for its body's permit]"
                    } else {
                        ""
                    },
                ),
                child,
            ),
            Node::NStart {
                up,
                id,
                pre,
                pre_end,
                post,
            } => {
                writeln!(f, "{pad}child{id} = n[up {up}].start(|status| {{")?;
                write!(f, "{}", Listing(pre, ind + 1))?;
                match pre_end {
                    Some(e) => writeln!(f, "{pad}  return {} (before started)", ending(*e))?,
                    None => writeln!(f, "{pad}  status.started({id})")?,
                }
                write!(f, "{}", Listing(&post.node, ind + 1))?;
                writeln!(f, "{pad}}}) -> {}", ending(post.ending))
            }
            Node::NSet {
                up,
                id,
                children,
                steps,
                end,
            } => {
                writeln!(f, "{pad}s{id} = n[up {up}].child_set()")?;
                for (i, c) in children.iter().enumerate() {
                    body_block(
                        f,
                        format!(
                            "[{i}] child{} = s{id}.spawn{}{}",
                            c.id,
                            if c.shielded { "(shield)" } else { "" },
                            if c.cancels_join {
                                " [cancels the join's scope at its end]"
                            } else {
                                ""
                            },
                        ),
                        &c.body,
                    )?;
                }
                for step in steps {
                    match step {
                        SetStep::Join(JoinWrap::Plain) => writeln!(f, "{pad}s{id}.join_next()"),
                        SetStep::Join(JoinWrap::MoveOn(t)) => {
                            writeln!(f, "{pad}move_on_after({t}ms, s{id}.join_next())")
                        }
                        SetStep::Join(JoinWrap::PreCancelled) => {
                            writeln!(f, "{pad}PreCancelled {{ s{id}.join_next() }}")
                        }
                        SetStep::Join(JoinWrap::Scope) => writeln!(
                            f,
                            "{pad}CancelScope [a child may cancel it] {{ s{id}.join_next() }}"
                        ),
                        SetStep::Join(JoinWrap::PollOnce) => {
                            writeln!(f, "{pad}s{id}.join_next() polled once")
                        }
                        SetStep::TryJoin => writeln!(f, "{pad}s{id}.try_join_next()"),
                        SetStep::Pause(t) => writeln!(f, "{pad}sleep({t}ms)"),
                        SetStep::Cancel(i) => writeln!(f, "{pad}s{id}[{i}].cancel()"),
                        SetStep::CancelAll => writeln!(f, "{pad}s{id}.cancel_all()"),
                    }?;
                }
                match end {
                    SetEnd::JoinAll => {
                        writeln!(f, "{pad}while let Some(_) = s{id}.join_next().await {{}}")
                    }
                    SetEnd::Drop => writeln!(f, "{pad}drop(s{id})"),
                }
            }
            Node::NJoin { cslot } => writeln!(f, "{pad}c{cslot}.await"),
            Node::NCancel { cslot } => writeln!(f, "{pad}c{cslot}.cancel()"),
            Node::NCancelOwn { up } => writeln!(f, "{pad}n[up {up}].cancel_scope().cancel()"),
            Node::Scope { kind, sref, body } => block(
                f,
                format!(
                    "{kind:?}{}",
                    sref.map_or(String::new(), |s| format!(" [scope ref {s}]"))
                ),
                body,
            ),
            Node::CancelRef { sref } => writeln!(f, "{pad}scope_ref{sref}.cancel()"),
            Node::Cancelled { timeout } => {
                writeln!(f, "{pad}move_on_after({timeout}ms, cancelled())")
            }
            Node::CancelledKept { body } => block(f, "with cancelled() polled once".into(), body),
            Node::Acquire {
                res,
                permits,
                timeout,
                body,
            } => block(
                f,
                format!("with {res:?}.acquire({permits}) timeout {}", ms(*timeout)),
                body,
            ),
            Node::SetEvent { ev } => writeln!(f, "{pad}ev{ev}.set()"),
            Node::WaitEvent { ev, timeout } => {
                writeln!(f, "{pad}move_on_after({timeout}ms, ev{ev}.wait())")
            }
            Node::Send {
                chan,
                count,
                timeout,
                try_,
            } => writeln!(
                f,
                "{pad}ch{chan}.{}send x{count} timeout {}",
                if *try_ { "try_" } else { "" },
                ms(*timeout)
            ),
            Node::Recv {
                chan,
                count,
                timeout,
                try_,
            } => writeln!(
                f,
                "{pad}ch{chan}.{}recv x{count} timeout {}",
                if *try_ { "try_" } else { "" },
                ms(*timeout)
            ),
            Node::CloseTx { chan } => writeln!(f, "{pad}drop(ch{chan}.tx)"),
            Node::CloseRx { chan } => writeln!(f, "{pad}drop(ch{chan}.rx)"),
            Node::Map {
                id,
                kind,
                limit,
                timeout,
                items,
            } => writeln!(
                f,
                "{pad}m{id} = {}{}(items {}, limit {limit})",
                timeout.map_or(String::new(), |t| format!("move_on_after({t}ms) ")),
                match kind {
                    MapKind::FailFast => "map_concurrent",
                    MapKind::All => "try_map_concurrent",
                    MapKind::Unordered => "map_concurrent_unordered",
                },
                steps(items),
            ),
            Node::Retry {
                id,
                policy,
                timeout,
                script,
            } => writeln!(
                f,
                "{pad}r{id} = {}retry({policy:?}, attempts {})",
                timeout.map_or(String::new(), |t| format!("move_on_after({t}ms) ")),
                steps(script)
            ),
            Node::PoolGet {
                crowd,
                wrap,
                hold,
                discard,
            } => writeln!(
                f,
                "{pad}{}{} then hold {hold}ms and {}",
                if *crowd > 1 {
                    format!("{crowd} at once: ")
                } else {
                    String::new()
                },
                match wrap {
                    GetWrap::MoveOn(t) => format!("move_on_after({}, pool.get())", ms(Some(*t))),
                    GetWrap::PollOnce => "pool.get() polled once".into(),
                },
                if *discard { "discard" } else { "drop" }
            ),
            Node::PoolClose { timeout } => {
                writeln!(f, "{pad}move_on_after({timeout}ms, pool.close())")
            }
            Node::Write { len, timeout } => writeln!(
                f,
                "{pad}move_on_after({}, stream.write({len} bytes))",
                ms(Some(timeout.unwrap_or(AN_HOUR)))
            ),
            Node::Read {
                max,
                count,
                timeout,
            } => writeln!(
                f,
                "{pad}{count} x move_on_after({}, stream.read({max} bytes))",
                ms(Some(timeout.unwrap_or(AN_HOUR)))
            ),
            Node::Flush { timeout } => writeln!(
                f,
                "{pad}move_on_after({}, stream.flush())",
                ms(Some(timeout.unwrap_or(AN_HOUR)))
            ),
            Node::Workers {
                up,
                id,
                workers,
                capacity,
                items,
                submit,
                end,
            } => writeln!(
                f,
                "{pad}w{id} = WorkerPool({workers} workers, capacity {capacity}) in n[up {up}]; {} items {}; then {end:?}",
                match submit {
                    Some(t) => format!("submit under move_on_after({})", ms(Some(*t))),
                    None => "try_submit".into(),
                },
                steps(items)
            ),
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// seed {} features {} ({} nodes)",
            self.seed, self.features, self.size
        )?;
        writeln!(
            f,
            "// semaphores {:?}, channels {:?} (None: unbounded), {} events, final {}",
            self.sems,
            self.chans,
            self.events,
            if self.final_abort {
                "abort of kept tasks"
            } else {
                "wait for tasks"
            }
        )?;
        if let Some(pool) = &self.pool {
            writeln!(f, "// pool {pool:?}")?;
        }
        if let Some(spec) = self.stream {
            writeln!(
                f,
                "// a UnixStream pair (SO_SNDBUF {:?}), drained with a {}ms pause before each read; at the end {}shutdown(Write), read to EOF",
                spec.sndbuf,
                spec.drain_pause,
                if spec.final_flush { "flush, " } else { "" }
            )?;
        }
        write!(f, "{}", Listing(&self.root, 0))
    }
}
