//! What one run shares: the drop book (tokens, messages, violations), the
//! primitives, the handle slots, and the records of tasks and nurseries
//! that the checks read.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use arbor::primitives::channel::{self, Receiver, Sender};
use arbor::primitives::{Event, Lock, Mutex, Semaphore};
use arbor::{CancelHandle, Nursery};

use super::features::Features;
use super::interp::patterns::PoolWorld;
use super::interp::stream::StreamWorld;
use super::program::Program;

/// The invariants a run can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A tracked future (or message) was dropped twice.
    DoubleDrop,
    /// A tracked future (or message) was never dropped.
    Leak,
    /// Something still holds the run's state after the runtime is dropped.
    StateLeak,
    /// Semaphore permits or the lock were not all given back.
    PermitLost,
    /// Two holders of the lock, or more permits out than exist.
    Exclusion,
    /// A message was lost, received twice, or handed back wrongly.
    Message,
    /// A nursery returned before its body or a child had finished.
    EarlyReturn,
    /// A nursery returned a result its children and body do not explain.
    WrongOutcome,
    /// A nursery was dropped by an enclosing cancellation with failures
    /// (an `Err` or a panic) that never surfaced.
    FailureLost,
    /// A nursery was dropped by an enclosing cancellation after its body
    /// returned a value that never surfaced.
    ValueLost,
    /// A nursery child was dropped without ever being polled.
    Unstarted,
    /// A shielded region was dropped before it finished, though nothing
    /// aborted its task.
    ShieldDropped,
    /// An arbor operation completed inside a cancelled scope.
    ProgressInCancelled,
    /// A task's or child's `JoinHandle` gave a result its task does not explain.
    WrongJoin,
    /// A task was polled again after an `abort` (its future must be
    /// dropped at once, or after the poll that aborted itself).
    PolledAfterAbort,
    /// Code saw a task-local value other than the one its enclosing
    /// scopes set or its task inherited at spawn.
    WrongLocal,
    /// `Nursery::start` gave a result its child does not explain.
    WrongStart,
    /// A `ChildSet` lost a child's result: `join_next` returned `None`, or
    /// `len()` counted fewer, while a result was still to come.
    ResultLost,
    /// A scope reported a cancellation nobody asked for.
    WrongScope,
    /// `rt.live_tasks()` was not 0 after the program finished.
    LiveTasks,
    /// `arbor::lowlevel::live_scopes()` did not come back to its start value.
    LiveScopes,
    /// The program did not finish (virtual time ran out, or a park with
    /// nothing left to wake it).
    Hang,
    /// A panic the program did not make (a runtime assertion, a RefCell
    /// borrowed twice, ...).
    UnexpectedPanic,
    /// The seed ran for ten seconds of real time: a busy loop, or a park
    /// nothing wakes (reported by the watchdog).
    Stuck,
    /// The process died (reported by the harness).
    Crash,
    /// The instruments' hooks saw events out of order (a poll of a task
    /// that exited, an exit reported twice or never), or the runtime's
    /// metrics disagree with them (`random_tree/ledger.rs`).
    Instruments,
    /// The bytes read from the program's stream are not exactly the
    /// prefixes its `write`s returned, in order (`random_tree/stream.rs`).
    StreamBytes,
    /// Two runs of the same program took different steps (their traces
    /// differ), so a failing seed would not replay: the runtime let
    /// something other than the seed decide an order (a `HashMap`'s
    /// iteration, a real clock, another thread).
    NoReplay,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::DoubleDrop,
        Kind::Leak,
        Kind::StateLeak,
        Kind::PermitLost,
        Kind::Exclusion,
        Kind::Message,
        Kind::EarlyReturn,
        Kind::WrongOutcome,
        Kind::FailureLost,
        Kind::ValueLost,
        Kind::Unstarted,
        Kind::ShieldDropped,
        Kind::ProgressInCancelled,
        Kind::WrongJoin,
        Kind::PolledAfterAbort,
        Kind::WrongLocal,
        Kind::WrongStart,
        Kind::ResultLost,
        Kind::WrongScope,
        Kind::LiveTasks,
        Kind::LiveScopes,
        Kind::Hang,
        Kind::UnexpectedPanic,
        Kind::Stuck,
        Kind::Crash,
        Kind::Instruments,
        Kind::StreamBytes,
        Kind::NoReplay,
    ];

    pub fn by_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::DoubleDrop => "double-drop",
            Kind::Leak => "leak",
            Kind::StateLeak => "state-leak",
            Kind::PermitLost => "permit-lost",
            Kind::Exclusion => "exclusion",
            Kind::Message => "message",
            Kind::EarlyReturn => "early-return",
            Kind::WrongOutcome => "wrong-outcome",
            Kind::FailureLost => "failure-lost",
            Kind::ValueLost => "value-lost",
            Kind::Unstarted => "unstarted",
            Kind::ShieldDropped => "shield-dropped",
            Kind::ProgressInCancelled => "progress-in-cancelled",
            Kind::WrongJoin => "wrong-join",
            Kind::PolledAfterAbort => "polled-after-abort",
            Kind::WrongLocal => "wrong-local",
            Kind::WrongStart => "wrong-start",
            Kind::ResultLost => "result-lost",
            Kind::WrongScope => "wrong-scope",
            Kind::LiveTasks => "live-tasks",
            Kind::LiveScopes => "live-scopes",
            Kind::Hang => "hang",
            Kind::UnexpectedPanic => "unexpected-panic",
            Kind::Stuck => "stuck",
            Kind::Crash => "crash",
            Kind::Instruments => "instruments",
            Kind::StreamBytes => "stream-bytes",
            Kind::NoReplay => "no-replay",
        }
    }
}

pub struct Violation {
    pub kind: Kind,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind.name(), self.what)
    }
}

/// The payload of every panic the program makes on purpose.
pub struct PanicId(pub usize);

/// The error of every `Err` the program returns on purpose.
#[derive(Debug)]
pub struct Boom(pub usize);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boom {}", self.0)
    }
}

impl std::error::Error for Boom {}

/// A failure recorded where it happens, just before the `Err` is returned
/// or the panic raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    Err(usize),
    Panic(usize),
}

/// How a task's or child's future ended, as its own code saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    Ok(usize),
    Fail(Fail),
}

/// Drop counts and violations: shared by everything, holds no handle, so
/// it never forms a cycle with the futures that report to it.
/// What a run does with its trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceMode {
    /// No trace: events are not even formatted (the batch runs).
    Off,
    /// Print each event as it happens (a replay).
    Print,
    /// Keep only a digest of the events (the replay check).
    Digest,
}

pub struct Book {
    drops: RefCell<Vec<(u8, &'static str)>>,
    pub violations: RefCell<Vec<Violation>>,
    pub msgs: RefCell<Vec<MsgRec>>,
    /// Set while the harness drops everything (hang, runtime drop): drops
    /// then are expected.
    pub teardown: Cell<bool>,
    next_id: Cell<usize>,
    /// Whether events are formatted at all.
    pub trace: bool,
    print: bool,
    /// FNV-1a of every event line so far (while `trace`).
    digest: Cell<u64>,
    /// Virtual time the program started at (for the trace).
    pub start: Cell<Option<arbor::time::Instant>>,
    pub features: Features,
    /// How often each interesting thing happened (for coverage reports).
    pub counts: RefCell<std::collections::BTreeMap<&'static str, u64>>,
    /// Why the root must stop waiting for the program, if it must.
    pub alarm: Cell<Option<Alarm>>,
    /// The root future's waker, for the alarm.
    pub root_waker: RefCell<Option<std::task::Waker>>,
    /// Polls of the program's futures so far.
    polls: Cell<u64>,
}

/// Why a program is given up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// Virtual time ran out.
    Hung,
    /// Its futures were polled far more often than any program needs:
    /// something wakes them in a loop.
    Spinning,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// More polls than any generated program needs (they need thousands).
pub const POLL_LIMIT: u64 = 500_000;

impl Book {
    pub fn new(mode: TraceMode, features: Features) -> Rc<Book> {
        Rc::new(Book {
            drops: RefCell::new(Vec::new()),
            violations: RefCell::new(Vec::new()),
            msgs: RefCell::new(Vec::new()),
            teardown: Cell::new(false),
            next_id: Cell::new(1000),
            trace: mode != TraceMode::Off,
            print: mode == TraceMode::Print,
            digest: Cell::new(FNV_OFFSET),
            start: Cell::new(None),
            features,
            counts: RefCell::new(std::collections::BTreeMap::new()),
            alarm: Cell::new(None),
            root_waker: RefCell::new(None),
            polls: Cell::new(0),
        })
    }

    pub fn id(&self) -> usize {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub fn violation(&self, kind: Kind, what: impl Into<String>) {
        let what = what.into();
        self.log(|| format!("VIOLATION [{}] {what}", kind.name()));
        self.violations.borrow_mut().push(Violation { kind, what });
    }

    /// Stop the program: wake the root, which gives up on it.
    pub fn raise(&self, alarm: Alarm) {
        if self.alarm.get().is_none() {
            self.alarm.set(Some(alarm));
        }
        let waker = self.root_waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Count a poll of one of the program's futures.
    pub fn polled(&self) {
        let n = self.polls.get() + 1;
        self.polls.set(n);
        if n == POLL_LIMIT {
            self.raise(Alarm::Spinning);
        }
    }

    pub fn count(&self, what: &'static str) {
        *self.counts.borrow_mut().entry(what).or_default() += 1;
    }

    /// In a replay, print an event of the trace (as it happens, so a
    /// seed that never returns still shows how far it got); in the replay
    /// check, fold it into the digest.
    pub fn log(&self, event: impl FnOnce() -> String) {
        if !self.trace {
            return;
        }
        let line = event();
        let mut digest = self.digest.get();
        for byte in line.bytes().chain([b'\n']) {
            digest = (digest ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
        self.digest.set(digest);
        if self.print {
            eprintln!("{line}");
        }
    }

    /// The digest of the events logged so far.
    pub fn trace_digest(&self) -> u64 {
        self.digest.get()
    }

    pub fn token(self: &Rc<Book>, what: &'static str) -> Token {
        let mut drops = self.drops.borrow_mut();
        drops.push((0, what));
        Token {
            book: self.clone(),
            id: drops.len() - 1,
        }
    }

    /// Every token dropped exactly once.
    pub fn check_tokens(&self) {
        let drops = self.drops.borrow();
        let mut leaked: Vec<(usize, &str)> = Vec::new();
        for (id, &(n, what)) in drops.iter().enumerate() {
            match n {
                1 => {}
                0 => leaked.push((id, what)),
                // Double drops were reported when they happened.
                _ => {}
            }
        }
        drop(drops);
        if !leaked.is_empty() {
            let first: Vec<String> = leaked
                .iter()
                .take(6)
                .map(|(id, w)| format!("#{id} {w}"))
                .collect();
            self.violation(
                Kind::Leak,
                format!(
                    "{} future(s) never dropped: {}",
                    leaked.len(),
                    first.join(", ")
                ),
            );
        }
    }

    pub fn tokens(&self) -> usize {
        self.drops.borrow().len()
    }
}

/// Carried by every future the program makes; counts its drop.
pub struct Token {
    book: Rc<Book>,
    id: usize,
}

impl Drop for Token {
    fn drop(&mut self) {
        let mut drops = self.book.drops.borrow_mut();
        let entry = &mut drops[self.id];
        entry.0 = entry.0.saturating_add(1);
        let (n, what) = *entry;
        drop(drops);
        if n > 1 {
            self.book.violation(
                Kind::DoubleDrop,
                format!("future #{} ({what}) dropped {n} times", self.id),
            );
        }
    }
}

/// Where a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    InFlight,
    Received,
    /// A send failed and handed it back.
    Returned,
    /// Dropped with the channel (its last receiver gone).
    DroppedInChannel,
    /// Dropped while a receiver was alive: withdrawn with a cancelled send.
    Withdrawn,
}

pub struct MsgRec {
    pub chan: usize,
    pub fate: Fate,
    pub drops: u8,
    /// The send returned `Ok`.
    pub acked: bool,
}

/// A counted message.
pub struct Msg {
    book: Rc<Book>,
    pub id: usize,
    rx_gone: Rc<Cell<bool>>,
}

impl Msg {
    pub fn new(book: &Rc<Book>, chan: usize, rx_gone: &Rc<Cell<bool>>) -> Msg {
        let mut msgs = book.msgs.borrow_mut();
        msgs.push(MsgRec {
            chan,
            fate: Fate::InFlight,
            drops: 0,
            acked: false,
        });
        Msg {
            book: book.clone(),
            id: msgs.len() - 1,
            rx_gone: rx_gone.clone(),
        }
    }

    fn settle(&self, fate: Fate) {
        let mut msgs = self.book.msgs.borrow_mut();
        let rec = &mut msgs[self.id];
        if rec.fate != Fate::InFlight {
            let was = rec.fate;
            drop(msgs);
            self.book.violation(
                Kind::Message,
                format!("message {} {fate:?} after it was {was:?}", self.id),
            );
            return;
        }
        rec.fate = fate;
    }

    pub fn received(self, chan: usize) {
        let from = self.book.msgs.borrow()[self.id].chan;
        if from != chan {
            self.book.violation(
                Kind::Message,
                format!("message {} of ch{from} received from ch{chan}", self.id),
            );
        }
        self.settle(Fate::Received);
    }

    pub fn returned(self) {
        if self.book.msgs.borrow()[self.id].acked {
            self.book.violation(
                Kind::Message,
                format!("message {} handed back after its send returned Ok", self.id),
            );
        }
        self.settle(Fate::Returned);
    }

    pub fn ack(book: &Book, id: usize) {
        book.msgs.borrow_mut()[id].acked = true;
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        let mut msgs = self.book.msgs.borrow_mut();
        let rec = &mut msgs[self.id];
        rec.drops = rec.drops.saturating_add(1);
        let drops = rec.drops;
        let unsettled = rec.fate == Fate::InFlight;
        if unsettled {
            rec.fate = if self.rx_gone.get() || self.book.teardown.get() {
                Fate::DroppedInChannel
            } else {
                Fate::Withdrawn
            };
        }
        let (fate, acked) = (rec.fate, rec.acked);
        drop(msgs);
        if drops > 1 {
            self.book.violation(
                Kind::DoubleDrop,
                format!("message {} dropped {drops} times", self.id),
            );
        }
        if unsettled && acked && fate == Fate::Withdrawn {
            self.book.violation(
                Kind::Message,
                format!(
                    "message {} was sent (send returned Ok) and dropped while a receiver was open",
                    self.id
                ),
            );
        }
    }
}

impl Book {
    /// sent = received + returned + dropped in channel (+ withdrawn by a
    /// cancelled send), each exactly once.
    pub fn check_messages(&self) {
        let msgs = self.msgs.borrow();
        let mut bad = Vec::new();
        for (id, m) in msgs.iter().enumerate() {
            if m.drops == 0 {
                bad.push(format!(
                    "message {id} (ch{}) never dropped ({:?})",
                    m.chan, m.fate
                ));
            }
        }
        drop(msgs);
        if let Some(first) = bad.first() {
            self.violation(Kind::Message, format!("{} lost: {first}", bad.len()));
        }
    }

    pub fn message_counts(&self) -> [usize; 5] {
        let mut c = [0; 5];
        for m in self.msgs.borrow().iter() {
            c[match m.fate {
                Fate::InFlight => 0,
                Fate::Received => 1,
                Fate::Returned => 2,
                Fate::DroppedInChannel => 3,
                Fate::Withdrawn => 4,
            }] += 1;
        }
        c
    }
}

/// A task the program runs: the root, a spawned task or a nursery child.
pub struct TaskRec {
    pub id: usize,
    /// The nursery this is a child of.
    pub parent: Option<Rc<NurseryRec>>,
    /// `abort` was called on it (by an op or an abort-on-drop guard).
    pub abort_requested: Cell<bool>,
    pub polled: Cell<bool>,
    pub ended: Cell<bool>,
    pub out: Cell<Option<Out>>,
    /// The child was accepted by its nursery (a refused spawn drops it
    /// unpolled, which is fine).
    pub accepted: Cell<bool>,
    /// For a `start`ed child: `started` was called.
    pub start: Option<Rc<StartRec>>,
    /// For a `start`ed child: the task that called `start`, whose code it
    /// is part of until `started`.
    pub caller: Option<Rc<TaskRec>>,
}

pub struct StartRec {
    pub started: Cell<bool>,
    pub pre_fail: Cell<Option<Fail>>,
}

impl TaskRec {
    pub fn new(
        id: usize,
        parent: Option<Rc<NurseryRec>>,
        start: Option<Rc<StartRec>>,
    ) -> Rc<TaskRec> {
        TaskRec::started_by(id, parent, start, None)
    }

    pub fn started_by(
        id: usize,
        parent: Option<Rc<NurseryRec>>,
        start: Option<Rc<StartRec>>,
        caller: Option<Rc<TaskRec>>,
    ) -> Rc<TaskRec> {
        Rc::new(TaskRec {
            id,
            parent,
            abort_requested: Cell::new(false),
            polled: Cell::new(false),
            ended: Cell::new(false),
            out: Cell::new(None),
            accepted: Cell::new(false),
            start,
            caller,
        })
    }

    /// Whether the task is being torn down from outside (aborted, the
    /// task holding its nursery aborted, the runtime dropped): its code
    /// may be dropped anywhere then.
    pub fn doomed(&self, book: &Book) -> bool {
        let before_started = self.start.as_ref().is_some_and(|s| !s.started.get());
        book.teardown.get()
            || self.abort_requested.get()
            || self.parent.as_ref().is_some_and(|n| {
                (n.dropped_incomplete.get() && n.dropped_legit.get()) || n.host.doomed(book)
            })
            || (before_started && self.caller.as_ref().is_some_and(|c| c.doomed(book)))
    }
}

pub struct NurseryRec {
    pub id: usize,
    /// The task its body runs in.
    pub host: Rc<TaskRec>,
    pub failures: RefCell<Vec<Fail>>,
    pub body_value: Cell<Option<usize>>,
    pub body_ended: Cell<bool>,
    pub children: RefCell<Vec<Weak<TaskRec>>>,
    /// Its own cancel scope was cancelled by the program.
    pub own_cancel: Cell<bool>,
    pub dropped_incomplete: Cell<bool>,
    /// It was dropped because its task was torn down (or a panic unwound).
    pub dropped_legit: Cell<bool>,
    pub completed: Cell<bool>,
}

impl NurseryRec {
    pub fn new(id: usize, host: Rc<TaskRec>) -> Rc<NurseryRec> {
        Rc::new(NurseryRec {
            id,
            host,
            failures: RefCell::new(Vec::new()),
            body_value: Cell::new(None),
            body_ended: Cell::new(false),
            children: RefCell::new(Vec::new()),
            own_cancel: Cell::new(false),
            dropped_incomplete: Cell::new(false),
            dropped_legit: Cell::new(false),
            completed: Cell::new(false),
        })
    }

    pub fn live_children(&self) -> Vec<Rc<TaskRec>> {
        self.children
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| !c.ended.get())
            .collect()
    }
}

pub type TaskOut = Result<usize, Boom>;

/// A spawn slot: the kept handle of a spawned task.
#[derive(Default)]
pub struct Slot {
    pub handle: RefCell<Option<super::interp::remote::TaskHandle>>,
    pub rec: RefCell<Option<Rc<TaskRec>>>,
}

/// A child slot: a nursery child's kept `JoinHandle`.
#[derive(Default)]
pub struct ChildSlot {
    pub handle: RefCell<Option<arbor::ChildHandle<usize>>>,
    pub rec: RefCell<Option<Rc<TaskRec>>>,
}

/// A scope ref: a cancel handle the program can cancel from anywhere.
#[derive(Default)]
pub struct ScopeRef {
    pub handle: RefCell<Option<(CancelHandle, Option<Rc<NurseryRec>>)>>,
}

pub struct SemRec {
    pub sem: Semaphore,
    pub initial: usize,
    pub out: Cell<usize>,
}

/// The receiving end the program shares; its drop marks the channel's
/// receivers gone before the buffered items are dropped.
pub struct RxHolder {
    pub rx: Receiver<Msg>,
    gone: Rc<Cell<bool>>,
}

impl Drop for RxHolder {
    fn drop(&mut self) {
        self.gone.set(true);
    }
}

pub struct Chan {
    pub tx: RefCell<Option<Rc<Sender<Msg>>>>,
    pub rx: RefCell<Option<Rc<RxHolder>>>,
    pub rx_gone: Rc<Cell<bool>>,
}

/// Everything a run shares.
pub struct World {
    pub book: Rc<Book>,
    pub sems: Vec<SemRec>,
    pub lock: Lock,
    pub lock_held: Cell<bool>,
    pub mutex: Mutex<usize>,
    pub mutex_count: Cell<usize>,
    pub events: Vec<Event>,
    pub chans: Vec<Chan>,
    pub slots: Vec<Slot>,
    pub cslots: Vec<ChildSlot>,
    pub srefs: Vec<ScopeRef>,
    pub live_spawned: Cell<usize>,
    /// The next end sequence number: children of a `ChildSet` take one
    /// when they end, so the order they ended in is known.
    pub end_seq: Cell<u64>,
    /// Woken when the last spawned task ends.
    pub all_ended: RefCell<Option<std::task::Waker>>,
    /// The program's `Pool` (`patterns`).
    pub pool: Option<PoolWorld>,
    /// The program's stream pair and its ledger (`stream`).
    pub stream: Option<Rc<StreamWorld>>,
}

impl World {
    pub fn new(prog: &Program, book: Rc<Book>) -> Rc<World> {
        let chans = prog
            .chans
            .iter()
            .map(|cap| {
                let (tx, rx) = match cap {
                    Some(cap) => channel::bounded(*cap),
                    None => channel::unbounded(),
                };
                let gone = Rc::new(Cell::new(false));
                Chan {
                    tx: RefCell::new(Some(Rc::new(tx))),
                    rx: RefCell::new(Some(Rc::new(RxHolder {
                        rx,
                        gone: gone.clone(),
                    }))),
                    rx_gone: gone,
                }
            })
            .collect();
        let pool = prog.pool.map(|spec| PoolWorld::new(spec, &book));
        let stream = prog.stream.map(|spec| StreamWorld::new(&book, spec));
        Rc::new(World {
            book,
            sems: prog
                .sems
                .iter()
                .map(|&n| SemRec {
                    sem: Semaphore::new(n),
                    initial: n,
                    out: Cell::new(0),
                })
                .collect(),
            lock: Lock::new(),
            lock_held: Cell::new(false),
            mutex: Mutex::new(0),
            mutex_count: Cell::new(0),
            events: (0..prog.events).map(|_| Event::new()).collect(),
            chans,
            slots: (0..prog.slots).map(|_| Slot::default()).collect(),
            cslots: (0..prog.cslots).map(|_| ChildSlot::default()).collect(),
            srefs: (0..prog.srefs).map(|_| ScopeRef::default()).collect(),
            live_spawned: Cell::new(0),
            end_seq: Cell::new(0),
            all_ended: RefCell::new(None),
            pool,
            stream,
        })
    }

    /// A number for something ending now, above every earlier one.
    pub fn next_end_seq(&self) -> u64 {
        let seq = self.end_seq.get();
        self.end_seq.set(seq + 1);
        seq
    }

    /// A spawned task ended.
    pub fn task_ended(&self) {
        let live = self.live_spawned.get() - 1;
        self.live_spawned.set(live);
        if live == 0 {
            let waker = self.all_ended.borrow_mut().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Drop every handle the world keeps (channels, slots, scope refs).
    pub fn clear_handles(&self) {
        for c in &self.chans {
            c.tx.borrow_mut().take();
            c.rx.borrow_mut().take();
        }
        for s in &self.slots {
            let h = s.handle.borrow_mut().take();
            drop(h);
        }
        for s in &self.cslots {
            let h = s.handle.borrow_mut().take();
            drop(h);
        }
        for s in &self.srefs {
            let h = s.handle.borrow_mut().take();
            drop(h);
        }
        if let Some(s) = &self.stream {
            s.clear();
        }
    }

    /// Permits all back, lock and mutex free.
    pub fn check_resources(&self) {
        for (i, s) in self.sems.iter().enumerate() {
            let avail = s.sem.available_permits();
            if avail != s.initial || s.out.get() != 0 {
                self.book.violation(
                    Kind::PermitLost,
                    format!(
                        "semaphore {i}: {avail} of {} permits available at the end ({} held by the program)",
                        s.initial,
                        s.out.get()
                    ),
                );
            }
        }
        if self.lock.locked() || self.lock_held.get() {
            self.book
                .violation(Kind::PermitLost, "the Lock is still held at the end");
        }
        if self.mutex.is_locked() {
            self.book
                .violation(Kind::PermitLost, "the Mutex is still held at the end");
        }
    }
}

/// The nurseries reachable from some code, innermost first.
pub struct NList {
    pub n: Nursery,
    pub rec: Rc<NurseryRec>,
    pub next: Option<Rc<NList>>,
}
