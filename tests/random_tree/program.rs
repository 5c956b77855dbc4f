//! The generated program: a tree of operations, its generator, and a
//! readable listing for replays.

use std::rc::Rc;

use super::features::Features;

#[path = "program/generate.rs"]
mod generate;
#[path = "program/listing.rs"]
mod listing;
#[path = "program/node.rs"]
mod node;

pub use generate::generate;
pub use node::{
    Body, Ending, GetWrap, JoinWrap, MapKind, Node, PoolSpec, Res, RetrySpec, ScopeKind, SetChild,
    SetEnd, SetStep, Step, WorkersEnd,
};

/// The timeout of a wait that is unbounded with `shield_waits`, in ms.
const AN_HOUR: u32 = 3_600_000;

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
