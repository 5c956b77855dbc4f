//! One statement of a sequence: the weighted pick of what it is, and its
//! generation.

use std::rc::Rc;

use super::{Ctx, Gen, MAX_CSLOTS, MAX_DEPTH, MAX_SLOTS, MAX_SREFS, SLEEPS, TIMEOUTS};
use crate::features::Features;
use crate::program::{
    AN_HOUR, GetWrap, JoinWrap, MapKind, Node, RetrySpec, ScopeKind, SetChild, SetEnd, SetStep,
    WorkersEnd,
};

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

impl Gen {
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
    pub(super) fn stmt(&mut self, ctx: &Ctx) -> (Node, Option<Node>) {
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
}
