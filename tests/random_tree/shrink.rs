//! Shrinking a failing program: delete statements, unwrap scopes, guards,
//! acquires and nurseries, drop a child set's last step or child, drop the
//! last item of a map or a worker pool (or an attempt of a retry), turn
//! failures into `Ok`, as long as the same
//! kind of violation remains. An edit names a node by its pre-order index
//! in the program as edited so far, so a seed plus a list of edits
//! (`ARBOR_EDITS=d12,u5,o3`) replays the shrunk program anywhere.
//!
//! Each candidate runs in this process, or, for crashes and busy loops
//! (which end the process), in a worker process.

use std::fmt;
use std::process::{Command, Stdio};
use std::rc::Rc;

use super::features::Features;
use super::harness;
use super::program::{Body, Ending, Node, Program, SetChild, generate};
use super::world::{Kind, TraceMode};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// Replace the node by an empty sequence.
    Delete,
    /// Replace a wrapper (scope, guard, acquire, nursery...) by its body;
    /// for a child set, drop its last step, or else its last child.
    Unwrap,
    /// End a body (or a `start` child before `started`) with `Ok`.
    EndOk,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Edit {
    pub op: Op,
    pub at: usize,
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.op {
            Op::Delete => 'd',
            Op::Unwrap => 'u',
            Op::EndOk => 'o',
        };
        write!(f, "{c}{}", self.at)
    }
}

pub fn parse_edits(text: &str) -> Result<Vec<Edit>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let op = match t.as_bytes()[0] {
                b'd' => Op::Delete,
                b'u' => Op::Unwrap,
                b'o' => Op::EndOk,
                _ => return Err(format!("bad edit {t:?}: d<n>, u<n> or o<n>")),
            };
            let at = t[1..].parse().map_err(|e| format!("bad edit {t:?}: {e}"))?;
            Ok(Edit { op, at })
        })
        .collect()
}

pub fn show_edits(edits: &[Edit]) -> String {
    edits
        .iter()
        .map(Edit::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn body(b: &Rc<Body>, f: &mut dyn FnMut(&Rc<Node>) -> Rc<Node>) -> Rc<Body> {
    Rc::new(Body {
        node: f(&b.node),
        ending: b.ending,
    })
}

fn set_child(c: &SetChild, body: Rc<Body>) -> SetChild {
    SetChild {
        id: c.id,
        shielded: c.shielded,
        cancels_join: c.cancels_join,
        body,
    }
}

fn ok(b: &Rc<Body>) -> Option<Rc<Body>> {
    (b.ending != Ending::Ok).then(|| {
        Rc::new(Body {
            node: b.node.clone(),
            ending: Ending::Ok,
        })
    })
}

impl Node {
    /// The same node with every child node mapped through `f`, in
    /// pre-order.
    fn map(&self, f: &mut dyn FnMut(&Rc<Node>) -> Rc<Node>) -> Node {
        match self {
            Node::Seq(items) => Node::Seq(items.iter().map(&mut *f).collect()),
            Node::Spawn {
                slot,
                body: b,
                detach,
                remote,
            } => Node::Spawn {
                slot: *slot,
                body: body(b, f),
                detach: *detach,
                remote: *remote,
            },
            Node::AbortGuard { slot, body: b } => Node::AbortGuard {
                slot: *slot,
                body: f(b),
            },
            Node::LocalScope { value, body: b } => Node::LocalScope {
                value: *value,
                body: f(b),
            },
            Node::Nursery {
                id,
                supervisor,
                sref,
                reraise,
                body: b,
            } => Node::Nursery {
                id: *id,
                supervisor: *supervisor,
                sref: *sref,
                reraise: *reraise,
                body: body(b, f),
            },
            Node::NSpawn {
                up,
                id,
                cslot,
                shielded,
                shares,
                child,
            } => Node::NSpawn {
                up: *up,
                id: *id,
                cslot: *cslot,
                shielded: *shielded,
                shares: *shares,
                child: body(child, f),
            },
            Node::NStart {
                up,
                id,
                pre,
                pre_end,
                post,
            } => Node::NStart {
                up: *up,
                id: *id,
                pre: f(pre),
                pre_end: *pre_end,
                post: body(post, f),
            },
            Node::NSet {
                up,
                id,
                children,
                steps,
                end,
            } => Node::NSet {
                up: *up,
                id: *id,
                children: children
                    .iter()
                    .map(|c| set_child(c, body(&c.body, f)))
                    .collect(),
                steps: steps.clone(),
                end: *end,
            },
            Node::Scope {
                kind,
                sref,
                body: b,
            } => Node::Scope {
                kind: *kind,
                sref: *sref,
                body: f(b),
            },
            Node::CancelledKept { body: b } => Node::CancelledKept { body: f(b) },
            Node::Acquire {
                res,
                permits,
                timeout,
                body: b,
            } => Node::Acquire {
                res: *res,
                permits: *permits,
                timeout: *timeout,
                body: f(b),
            },
            leaf => leaf.clone_leaf(),
        }
    }

    fn clone_leaf(&self) -> Node {
        match *self {
            Node::Sleep(t) => Node::Sleep(t),
            Node::Yield => Node::Yield,
            Node::CheckLocal => Node::CheckLocal,
            Node::Checkpoint => Node::Checkpoint,
            Node::Panic => Node::Panic,
            Node::Join { slot } => Node::Join { slot },
            Node::Abort { slot } => Node::Abort { slot },
            Node::NJoin { cslot } => Node::NJoin { cslot },
            Node::NCancel { cslot } => Node::NCancel { cslot },
            Node::NCancelOwn { up } => Node::NCancelOwn { up },
            Node::CancelRef { sref } => Node::CancelRef { sref },
            Node::Cancelled { timeout } => Node::Cancelled { timeout },
            Node::SetEvent { ev } => Node::SetEvent { ev },
            Node::WaitEvent { ev, timeout } => Node::WaitEvent { ev, timeout },
            Node::Send {
                chan,
                count,
                timeout,
                try_,
            } => Node::Send {
                chan,
                count,
                timeout,
                try_,
            },
            Node::Recv {
                chan,
                count,
                timeout,
                try_,
            } => Node::Recv {
                chan,
                count,
                timeout,
                try_,
            },
            Node::CloseTx { chan } => Node::CloseTx { chan },
            Node::CloseRx { chan } => Node::CloseRx { chan },
            Node::Map {
                id,
                kind,
                limit,
                timeout,
                ref items,
            } => Node::Map {
                id,
                kind,
                limit,
                timeout,
                items: items.clone(),
            },
            Node::Retry {
                id,
                policy,
                timeout,
                ref script,
            } => Node::Retry {
                id,
                policy,
                timeout,
                script: script.clone(),
            },
            Node::PoolGet {
                crowd,
                wrap,
                hold,
                discard,
            } => Node::PoolGet {
                crowd,
                wrap,
                hold,
                discard,
            },
            Node::PoolClose { timeout } => Node::PoolClose { timeout },
            Node::Write { len, timeout } => Node::Write { len, timeout },
            Node::Read {
                max,
                count,
                timeout,
            } => Node::Read {
                max,
                count,
                timeout,
            },
            Node::Flush { timeout } => Node::Flush { timeout },
            Node::Workers {
                up,
                id,
                workers,
                capacity,
                ref items,
                submit,
                end,
            } => Node::Workers {
                up,
                id,
                workers,
                capacity,
                items: items.clone(),
                submit,
                end,
            },
            _ => unreachable!("not a leaf"),
        }
    }

    /// This node with `op` applied, if it applies.
    fn edited(&self, op: Op) -> Option<Node> {
        match (op, self) {
            (Op::Delete, Node::Seq(items)) if items.is_empty() => None,
            (Op::Delete, _) => Some(Node::Seq(Vec::new())),
            (Op::Unwrap, Node::AbortGuard { body, .. })
            | (Op::Unwrap, Node::LocalScope { body, .. })
            | (Op::Unwrap, Node::Scope { body, .. })
            | (Op::Unwrap, Node::CancelledKept { body })
            | (Op::Unwrap, Node::Acquire { body, .. }) => Some(body.map(&mut |c| c.clone())),
            (Op::Unwrap, Node::Nursery { body, .. }) => Some(body.node.map(&mut |c| c.clone())),
            (
                Op::Unwrap,
                Node::NSet {
                    up,
                    id,
                    children,
                    steps,
                    end,
                },
            ) => {
                let (mut kept, mut steps) = (children.len(), steps.clone());
                if steps.pop().is_none() {
                    kept = kept.checked_sub(1).filter(|&k| k > 0)?;
                }
                Some(Node::NSet {
                    up: *up,
                    id: *id,
                    children: children[..kept]
                        .iter()
                        .map(|c| set_child(c, c.body.clone()))
                        .collect(),
                    steps,
                    end: *end,
                })
            }
            (
                Op::EndOk,
                Node::Spawn {
                    slot,
                    body,
                    detach,
                    remote,
                },
            ) => Some(Node::Spawn {
                slot: *slot,
                body: ok(body)?,
                detach: *detach,
                remote: *remote,
            }),
            (
                Op::EndOk,
                Node::Nursery {
                    id,
                    supervisor,
                    sref,
                    reraise,
                    body,
                },
            ) => Some(Node::Nursery {
                id: *id,
                supervisor: *supervisor,
                sref: *sref,
                reraise: *reraise,
                body: ok(body)?,
            }),
            (
                Op::EndOk,
                Node::NSpawn {
                    up,
                    id,
                    cslot,
                    shielded,
                    shares,
                    child,
                },
            ) => Some(Node::NSpawn {
                up: *up,
                id: *id,
                cslot: *cslot,
                shielded: *shielded,
                shares: *shares,
                child: ok(child)?,
            }),
            (
                Op::EndOk,
                Node::NStart {
                    up,
                    id,
                    pre,
                    pre_end,
                    post,
                },
            ) => {
                let (pre_end, post) = match (pre_end, ok(post)) {
                    (Some(_), _) => (None, post.clone()),
                    (None, Some(post)) => (None, post),
                    (None, None) => return None,
                };
                Some(Node::NStart {
                    up: *up,
                    id: *id,
                    pre: pre.clone(),
                    pre_end,
                    post,
                })
            }
            (
                Op::EndOk,
                Node::NSet {
                    up,
                    id,
                    children,
                    steps,
                    end,
                },
            ) => {
                // The first child that does not end with `Ok` does.
                let first = children.iter().position(|c| c.body.ending != Ending::Ok)?;
                Some(Node::NSet {
                    up: *up,
                    id: *id,
                    children: children
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let body = if i == first { ok(&c.body) } else { None };
                            set_child(c, body.unwrap_or_else(|| c.body.clone()))
                        })
                        .collect(),
                    steps: steps.clone(),
                    end: *end,
                })
            }
            // The patterns nodes: unwrapping drops the last scripted
            // step (or, for a retry, lowers its attempts), ending Ok
            // makes the first failing step succeed.
            (
                Op::Unwrap | Op::EndOk,
                Node::Map { .. } | Node::Retry { .. } | Node::Workers { .. },
            ) => {
                let mut node = self.clone_leaf();
                let steps = match &mut node {
                    Node::Map { items, .. } | Node::Workers { items, .. } => items,
                    Node::Retry { policy, script, .. } => {
                        if op == Op::Unwrap {
                            policy.max_attempts =
                                policy.max_attempts.checked_sub(1).filter(|&a| a > 0)?;
                            script.truncate(policy.max_attempts as usize);
                            return Some(node);
                        }
                        script
                    }
                    _ => unreachable!(),
                };
                if op == Op::Unwrap {
                    let keep = if matches!(node, Node::Workers { .. }) {
                        0
                    } else {
                        1
                    };
                    let steps = match &mut node {
                        Node::Map { items, .. } | Node::Workers { items, .. } => items,
                        _ => unreachable!(),
                    };
                    if steps.len() <= keep {
                        return None;
                    }
                    steps.pop();
                } else {
                    let s = steps.iter_mut().find(|s| s.fails)?;
                    s.fails = false;
                    s.fatal = false;
                }
                Some(node)
            }
            (
                Op::Unwrap,
                &Node::PoolGet {
                    crowd,
                    wrap,
                    hold,
                    discard,
                },
            ) if crowd > 1 => Some(Node::PoolGet {
                crowd: crowd - 1,
                wrap,
                hold,
                discard,
            }),
            (Op::EndOk, Node::Panic) => Some(Node::Seq(Vec::new())),
            _ => None,
        }
    }

    /// Nodes in this tree.
    pub fn count(&self) -> usize {
        let mut n = 1;
        self.map(&mut |c| {
            n += c.count();
            c.clone()
        });
        n
    }
}

/// Apply `edit` to the tree; `None` if it does not apply.
fn apply(root: &Rc<Node>, edit: Edit) -> Option<Rc<Node>> {
    fn walk(node: &Rc<Node>, edit: Edit, next: &mut usize, done: &mut bool) -> Rc<Node> {
        let me = *next;
        *next += 1;
        if me == edit.at {
            *done = true;
            return match node.edited(edit.op) {
                Some(n) => Rc::new(n),
                None => {
                    *done = false;
                    node.clone()
                }
            };
        }
        if *done || me > edit.at {
            return node.clone();
        }
        Rc::new(node.map(&mut |c| walk(c, edit, next, done)))
    }
    let mut next = 0;
    let mut done = false;
    let out = walk(root, edit, &mut next, &mut done);
    done.then_some(out)
}

/// The program of `seed` with `edits` applied in order.
pub fn program_with(seed: u64, features: Features, edits: &[Edit]) -> Option<Program> {
    let mut prog = generate(seed, features);
    for &edit in edits {
        prog.root = apply(&prog.root, edit)?;
    }
    prog.size = prog.root.count();
    Some(prog)
}

/// The kinds of violation a candidate shows, looking for `target`: a
/// crash or a hang in a worker process, a replay failure by running the
/// candidate twice.
fn kinds_of(seed: u64, features: Features, edits: &[Edit], target: Kind) -> Vec<Kind> {
    if !matches!(target, Kind::Crash | Kind::Stuck) {
        let prog = program_with(seed, features, edits).expect("a valid candidate");
        let o = if target == Kind::NoReplay {
            harness::run_program_twice(&prog)
        } else {
            harness::run_program(&prog, TraceMode::Off)
        };
        return o.violations.iter().map(|v| v.kind).collect();
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            "random_tree_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ARBOR_RT_EVAL", format!("{seed}:{}", show_edits(edits)))
        .env("ARBOR_RT_FEATURES", format!("{:#x}", features.0))
        .env("ARBOR_RT_REAL_LIMIT_MS", "2000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .expect("run a worker");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("@rt hang") {
        return vec![Kind::Stuck];
    }
    match text
        .lines()
        .find_map(|l| l.find("@rt kinds ").map(|at| &l[at + 10..]))
    {
        Some(list) => list.split(',').filter_map(Kind::by_name).collect(),
        None => vec![Kind::Crash],
    }
}

/// The worker's side of an isolated candidate: print its kinds.
pub fn eval_in_worker(spec: &str, features: Features) {
    let (seed, edits) = spec.split_once(':').expect("ARBOR_RT_EVAL=seed:edits");
    let seed = seed.parse().expect("seed");
    let edits = parse_edits(edits).expect("edits");
    let prog = program_with(seed, features, &edits).expect("a valid candidate");
    let limit = std::env::var("ARBOR_RT_REAL_LIMIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(harness::REAL_LIMIT, std::time::Duration::from_millis);
    let dog = harness::Watchdog::start(features, limit);
    dog.begin(seed);
    let o = harness::run_program(&prog, TraceMode::Off);
    let kinds: Vec<&str> = o.violations.iter().map(|v| v.kind.name()).collect();
    println!("@rt kinds {}", kinds.join(","));
}

/// Shrink the program of `seed` (after `edits`) while it still shows
/// `target`; gives the longer list of edits.
pub fn shrink_from(seed: u64, features: Features, mut edits: Vec<Edit>, target: Kind) -> Vec<Edit> {
    let mut tried = 0;
    loop {
        let prog = program_with(seed, features, &edits).expect("edits so far apply");
        let n = prog.root.count();
        let mut better = None;
        'search: for at in 0..n {
            for op in [Op::Delete, Op::Unwrap, Op::EndOk] {
                let mut cand = edits.clone();
                cand.push(Edit { op, at });
                if program_with(seed, features, &cand).is_none() {
                    continue;
                }
                tried += 1;
                if kinds_of(seed, features, &cand, target).contains(&target) {
                    better = Some(cand);
                    break 'search;
                }
            }
        }
        match better {
            Some(cand) => edits = cand,
            None => break,
        }
    }
    eprintln!("shrink: {tried} candidates tried");
    edits
}
