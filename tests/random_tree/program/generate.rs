//! The generator: the seeded choices that build a `Program` from a seed
//! and the features.

use std::rc::Rc;

use super::{AN_HOUR, Body, Ending, Node, PoolSpec, Program, Res, ScopeKind, Step, StreamSpec};
use crate::features::Features;
use crate::rng::Rng;

#[path = "generate/stmt.rs"]
mod stmt;

const MAX_DEPTH: usize = 5;
const MAX_SLOTS: usize = 8;
const MAX_CSLOTS: usize = 8;
const MAX_SREFS: usize = 6;
const SLEEPS: &[u32] = &[0, 1, 1, 2, 3, 5, 10, 20];
const TIMEOUTS: &[u32] = &[1, 2, 3, 5, 10, 20, 50];

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
