//! The epoll reactor: owned and polled by the executor, it records readiness
//! for registered fds and hands out the wakers of tasks waiting on them.
//!
//! # Readiness stamps
//!
//! Registration is edge-triggered (see [`epoll`]), so the kernel tells us
//! about a transition once and we remember it in [`ScheduledIo::readiness`]
//! until an operation proves it stale by returning `WouldBlock`. That clear is
//! racy without extra care: between the task observing readiness and the
//! operation failing, a *new* event may have arrived (e.g. the peer wrote more
//! after our `read` returned `WouldBlock`). Clearing blindly would erase that
//! event, and with edge triggering the kernel will never repeat it: a lost
//! wakeup and a hung task.
//!
//! So every event delivered to an entry bumps its `tick` (tokio calls it the
//! tick; here also "the stamp"). [`Reactor::poll_ready`] returns the tick
//! together with the readiness, and [`Reactor::clear_readiness`] clears only if
//! the entry's tick still equals it: readiness is stamped so that clearing it
//! cannot erase a newer event.
//!
//! # Tokens
//!
//! Entries live in a `Vec` slab with a free list. A slot's `u32` generation is
//! bumped when it is freed and is part of both the [`IoKey`] and the epoll
//! token (`generation << 32 | index`), so a stale key or a stale event (from an
//! fd deregistered within the same batch, or one closed without
//! deregistering) can never reach the slot's next occupant. Token `u64::MAX`
//! is reserved for the eventfd; indices stop below `u32::MAX`, so no entry's
//! token can collide with it.

mod backend;
mod completion;
pub mod epoll;
mod ready;
pub(crate) mod uring;

pub use backend::IoBackend;
pub use ready::{Direction, IoKey, Ready, ReadyEvent};

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use epoll::{Epoll, Events, Interest};

/// Token of the cross-thread wakeup eventfd.
const WAKER_TOKEN: u64 = u64::MAX;

/// Events fetched per `epoll_wait`; more simply wait for the next poll.
const EVENTS_CAPACITY: usize = 1024;

/// Per-fd state.
struct ScheduledIo {
    /// Accumulated readiness; cleared per direction only after `WouldBlock`.
    readiness: Ready,
    /// Incremented on every event delivered to this entry: the stamp.
    tick: u32,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The fd, for the io_uring backend to arm its polls.
    fd: RawFd,
    /// The io_uring backend's polls armed: [`Direction::bit`]s.
    polled: u8,
    /// The io_uring backend's receive, from the stream's first read.
    recv: Option<Box<uring::stream::RecvState>>,
    /// The io_uring backend's sends, from the stream's first write.
    send: Option<Box<uring::send::SendState>>,
    /// The stream was deregistered with bytes unsent: the entry owns a
    /// duplicate of its fd until they are sent.
    closing: Option<std::os::fd::OwnedFd>,
}

impl ScheduledIo {
    fn new(fd: RawFd) -> ScheduledIo {
        ScheduledIo {
            readiness: Ready::EMPTY,
            tick: 0,
            reader: None,
            writer: None,
            fd,
            polled: 0,
            recv: None,
            send: None,
            closing: None,
        }
    }
}

struct Slot {
    generation: u32,
    io: Option<ScheduledIo>,
}

/// The live entry for `key`, or `None` if the key is stale.
fn entry(slots: &[Slot], key: IoKey) -> Option<&ScheduledIo> {
    slots
        .get(key.index as usize)
        .filter(|slot| slot.generation == key.generation)
        .and_then(|slot| slot.io.as_ref())
}

/// The live entry for `key`, or `None` if the key is stale. A free function
/// so `poll` can borrow the slab while iterating the event buffer.
fn entry_mut(slots: &mut [Slot], key: IoKey) -> Option<&mut ScheduledIo> {
    slots
        .get_mut(key.index as usize)
        .filter(|slot| slot.generation == key.generation)
        .and_then(|slot| slot.io.as_mut())
}

/// Records `ready` on the entry of `token` (if it is live), bumps its
/// stamp and takes the wakers it lets make progress.
fn deliver(slots: &mut [Slot], wakers: &mut Vec<Waker>, token: u64, ready: Ready) {
    let Some(io) = entry_mut(slots, IoKey::from_token(token)) else {
        return;
    };
    io.readiness |= ready;
    io.tick = io.tick.wrapping_add(1);
    if ready.intersects(Direction::Read.mask()) {
        wakers.extend(io.reader.take());
    }
    if ready.intersects(Direction::Write.mask()) {
        wakers.extend(io.writer.take());
    }
}

/// The reactor's kernel side.
enum Backend {
    Epoll {
        epoll: Epoll,
        events: Events,
    },
    Uring {
        uring: uring::Uring,
        /// Completions of the last wait, kept to reuse the allocation.
        cqes: Vec<uring::Cqe>,
        /// The wakeup eventfd, to arm its poll again.
        waker_fd: Option<RawFd>,
    },
}

/// The reactor. Single-threaded: only the executor touches it.
pub struct Reactor {
    backend: Backend,
    slots: Vec<Slot>,
    /// Indices of vacant slots, reused LIFO.
    free: Vec<u32>,
    registered: usize,
    /// Streams with bytes written and not yet sent (io_uring).
    unsent_streams: usize,
    /// Wakers collected during `poll`, kept to reuse the allocation.
    pending_wakers: Vec<Waker>,
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Reactor");
        match &self.backend {
            Backend::Epoll { epoll, .. } => s.field("epoll", epoll),
            Backend::Uring { uring, .. } => s.field("io_uring", uring),
        };
        s.field("registrations", &self.registered)
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// Creates a reactor on `backend` (see [`IoBackend`] for `Auto`).
    ///
    /// # Errors
    /// `epoll_create1`'s or `io_uring_setup`'s error; for an explicit
    /// [`IoBackend::IoUring`] the kernel's refusal, with a note saying so.
    pub fn new(backend: IoBackend) -> io::Result<Self> {
        let backend = match backend.resolve_env()? {
            IoBackend::Epoll => Self::epoll_backend()?,
            IoBackend::IoUring => Self::uring_backend().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("arbor: the io_uring backend is not available here: {e}"),
                )
            })?,
            // Fall back on any refusal: ENOSYS, EPERM (seccomp, sysctl), an
            // old kernel without the features the backend needs.
            IoBackend::Auto => match Self::uring_backend() {
                Ok(backend) => backend,
                Err(_) => Self::epoll_backend()?,
            },
        };
        Ok(Reactor {
            backend,
            slots: Vec::new(),
            free: Vec::new(),
            registered: 0,
            unsent_streams: 0,
            pending_wakers: Vec::new(),
        })
    }

    fn epoll_backend() -> io::Result<Backend> {
        Ok(Backend::Epoll {
            epoll: Epoll::new()?,
            events: Events::with_capacity(EVENTS_CAPACITY),
        })
    }

    fn uring_backend() -> io::Result<Backend> {
        // Miri has no io_uring (it would stop at the syscall, not fail it):
        // refuse here, so `Auto` falls back to epoll under Miri.
        if cfg!(miri) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring is not available under Miri",
            ));
        }
        Ok(Backend::Uring {
            uring: uring::Uring::new()?,
            cqes: Vec::with_capacity(EVENTS_CAPACITY),
            waker_fd: None,
        })
    }

    /// The backend this reactor runs on: `Epoll` or `IoUring`.
    pub fn backend(&self) -> IoBackend {
        match self.backend {
            Backend::Epoll { .. } => IoBackend::Epoll,
            Backend::Uring { .. } => IoBackend::IoUring,
        }
    }

    /// Registers the cross-thread wakeup eventfd, edge-triggered `EPOLLIN`, on
    /// the reserved token. When [`poll`](Self::poll) reports it, the caller
    /// must drain the eventfd so the next notification is a new edge.
    pub fn register_waker_fd(&mut self, fd: RawFd) -> io::Result<()> {
        match &mut self.backend {
            Backend::Epoll { epoll, .. } => epoll.add(fd, WAKER_TOKEN, Interest::READABLE),
            Backend::Uring {
                uring, waker_fd, ..
            } => {
                *waker_fd = Some(fd);
                uring.poll_add(fd, uring::WAKER_TOKEN)
            }
        }
    }

    /// Registers a non-blocking `fd` once, edge-triggered, for both directions.
    pub fn register(&mut self, fd: RawFd) -> io::Result<IoKey> {
        let max_index = match self.backend {
            // u32::MAX is excluded so no token can equal WAKER_TOKEN.
            Backend::Epoll { .. } => u32::MAX - 1,
            Backend::Uring { .. } => uring::MAX_INDEX,
        };
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i <= max_index)
                    .ok_or_else(|| io::Error::other("reactor slab is full"))?;
                self.slots.push(Slot {
                    generation: 0,
                    io: None,
                });
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        let key = IoKey {
            index,
            generation: slot.generation,
        };
        let added = match &mut self.backend {
            Backend::Epoll { epoll, .. } => epoll.add(fd, key.token(), Interest::BOTH),
            // Polls are armed by the first wait for each direction.
            Backend::Uring { .. } => Ok(()),
        };
        if let Err(e) = added {
            // No key escaped, so the generation need not change.
            self.free.push(index);
            return Err(e);
        }
        slot.io = Some(ScheduledIo::new(fd));
        self.registered += 1;
        Ok(key)
    }

    /// Removes `fd` from epoll and frees the entry, dropping its wakers. A
    /// stale key is a no-op `Ok(())`.
    ///
    /// The entry is freed even if `EPOLL_CTL_DEL` fails (e.g. `fd` was already
    /// closed); the error is still returned. Any event still queued for the
    /// old token is ignored thanks to the generation bump.
    pub fn deregister(&mut self, key: IoKey, fd: RawFd) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return Ok(());
        };
        if slot.generation != key.generation || slot.io.is_none() {
            return Ok(());
        }
        let result = match &mut self.backend {
            Backend::Epoll { epoll, .. } => epoll.delete(fd),
            Backend::Uring { uring, .. } => {
                // Queued operations name the fd by number: they must reach
                // the kernel while it is still this file (the caller
                // closes it when we return, and the number is reused).
                let mut result = uring.submit();
                // The receive first: it is the one writing into buffers.
                if let Some(recv) = slot.io.as_mut().and_then(|io| io.recv.as_mut()) {
                    if recv.is_armed() {
                        let cancelled =
                            uring.cancel_now(uring::tag(key.token(), uring::OpKind::Recv));
                        result = result.and(cancelled);
                    }
                    if let Some(bufs) = uring.bufs_if_any() {
                        recv.release(bufs);
                    }
                }
                let polled = slot.io.as_ref().map_or(0, |io| io.polled);
                for dir in [Direction::Read, Direction::Write] {
                    if polled & dir.bit() != 0 {
                        let removed = uring.poll_remove(uring::tag(key.token(), dir.poll_kind()));
                        result = result.and(removed);
                    }
                }
                if let Some(io) = slot.io.as_mut() {
                    io.polled = 0;
                }
                if let Some(io) = slot.io.as_mut()
                    && io.send.as_ref().is_some_and(|send| !send.is_idle())
                {
                    // Bytes written are still to be sent: the entry lives
                    // on, without its owner, until they are.
                    let (stays, kept) = Self::keep_sending(uring, key, io);
                    if stays {
                        return result.and(kept);
                    }
                    // Given up (no fd to send on): freed below.
                    self.unsent_streams -= 1;
                    result.and(kept)
                } else {
                    result
                }
            }
        };
        let io = slot.io.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.registered -= 1;
        // Wakers are dropped last, after the slab is consistent again.
        drop(io);
        result
    }

    /// Waits for events (`Some(ZERO)`: don't block; `None`: block until one).
    ///
    /// Each event ORs its readiness into its entry, bumps the entry's tick and
    /// takes the reader and/or writer waker out of it. Events for stale tokens
    /// are ignored. The wakers are passed to `wake` only after all events are
    /// processed, so `wake` never runs while an entry is borrowed. Returns
    /// whether the eventfd token fired.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        wake: &mut dyn FnMut(Waker),
    ) -> io::Result<bool> {
        let woken = match &mut self.backend {
            Backend::Epoll { epoll, events } => {
                epoll.wait(events, timeout)?;
                let mut woken = false;
                for (token, ready) in events.iter() {
                    if token == WAKER_TOKEN {
                        woken = true;
                    } else {
                        deliver(&mut self.slots, &mut self.pending_wakers, token, ready);
                    }
                }
                woken
            }
            Backend::Uring { uring, cqes, .. } => {
                uring.wait(cqes, timeout)?;
                let cqes = std::mem::take(cqes);
                let result = self.complete_all(&cqes);
                if let Backend::Uring { cqes: buf, .. } = &mut self.backend {
                    *buf = cqes;
                }
                result?
            }
        };
        for waker in self.pending_wakers.drain(..) {
            wake(waker);
        }
        Ok(woken)
    }

    /// If the entry is ready in `dir`, returns that readiness with the tick.
    /// Otherwise stores `cx`'s waker for `dir` (replacing a different one) and
    /// returns `Pending`. A stale key gives an `ErrorKind::Other` error.
    pub fn poll_ready(
        &mut self,
        key: IoKey,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ReadyEvent>> {
        let Some(io) = entry_mut(&mut self.slots, key) else {
            return Poll::Ready(Err(io::Error::other("I/O resource was deregistered")));
        };
        let ready = io.readiness & dir.mask();
        if !ready.is_empty() {
            return Poll::Ready(Ok(ReadyEvent {
                tick: io.tick,
                ready,
            }));
        }
        if let Backend::Uring { uring, .. } = &mut self.backend
            && io.polled & dir.bit() == 0
        {
            // The first wait in this direction: watch it from now on. The
            // poll checks the fd's state as it is armed, so nothing that
            // happened before is missed.
            if let Err(e) = uring.poll_add(io.fd, uring::tag(key.token(), dir.poll_kind())) {
                return Poll::Ready(Err(e));
            }
            io.polled |= dir.bit();
        }
        let slot = match dir {
            Direction::Read => &mut io.reader,
            Direction::Write => &mut io.writer,
        };
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            // The old waker is dropped here; it belongs to a task that moved on.
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Forget `waker` as the entry's waiter for `dir`, if it still is: a
    /// future that parked there was dropped, and must leave nothing behind
    /// for a later event to wake. A stale key is a no-op.
    pub fn release_waker(&mut self, key: IoKey, dir: Direction, waker: &Waker) {
        if let Some(io) = entry_mut(&mut self.slots, key) {
            let slot = match dir {
                Direction::Read => &mut io.reader,
                Direction::Write => &mut io.writer,
            };
            if slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                // Dropped outside the borrow would be tidier, but an arbor
                // waker's drop is a no-op and a foreign one only decrements.
                *slot = None;
            }
        }
    }

    /// Whether an operation in `dir` is known not to wait: readiness
    /// recorded, or (io_uring) received bytes queued, the stream ended, or
    /// room in its send buffer. A stale key says `true`: the operation
    /// fails at once.
    pub fn ready_hint(&self, key: IoKey, dir: Direction) -> bool {
        let Some(io) = self
            .slots
            .get(key.index as usize)
            .filter(|slot| slot.generation == key.generation)
            .and_then(|slot| slot.io.as_ref())
        else {
            return true;
        };
        // A stream that reads (writes) through the ring knows exactly.
        match (dir, &io.recv, &io.send) {
            (Direction::Read, Some(recv), _) => recv.has_news(),
            (Direction::Write, _, Some(send)) => send.has_room(),
            _ => io.readiness.intersects(dir.mask()),
        }
    }

    /// An operation in `dir` succeeded: the fd was ready then, whether or
    /// not its event was collected yet (it is cleared as usual by a later
    /// `WouldBlock`). A stale key is a no-op.
    pub fn note_ready(&mut self, key: IoKey, dir: Direction) {
        let Some(io) = entry_mut(&mut self.slots, key) else {
            return;
        };
        match (dir, &io.recv, &io.send) {
            // Through the ring: `ready_hint` asks the ring's state.
            (Direction::Read, Some(_), _) | (Direction::Write, _, Some(_)) => {}
            (Direction::Read, ..) => io.readiness |= Ready::READABLE,
            (Direction::Write, ..) => io.readiness |= Ready::WRITABLE,
        }
    }

    /// Call after an operation returned `WouldBlock`: clears the
    /// READABLE/WRITABLE bits of `event` only if no event arrived since it was
    /// observed (tick unchanged). Never clears `*_CLOSED` or `ERROR`: those
    /// are terminal. A stale key is a no-op.
    pub fn clear_readiness(&mut self, key: IoKey, event: ReadyEvent) {
        if let Some(io) = entry_mut(&mut self.slots, key)
            && io.tick == event.tick
        {
            let clearable = event.ready & (Ready::READABLE | Ready::WRITABLE);
            io.readiness = io.readiness.without(clearable);
        }
    }

    /// Number of live registrations (the eventfd not included).
    pub fn registrations(&self) -> usize {
        self.registered
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // The kernel must let go of every operation before the provided
        // buffers are freed (they go with `Uring`, after its ring, but a
        // receive could still be in flight until the ring's teardown).
        self.finish_sends_before_drop();
        if let Backend::Uring { uring, .. } = &mut self.backend {
            let _ = uring.cancel_all();
        }
    }
}

#[cfg(test)]
mod tests;
