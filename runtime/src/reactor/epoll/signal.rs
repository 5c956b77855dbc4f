//! The process-wide signal registry: the handler, its counters and its
//! listener slots. All the `libc` that `crate::signal` needs lives here.
//!
//! # What the handler touches
//!
//! A signal handler may run on any thread, between any two instructions of
//! the code it interrupts, so it uses only async-signal-safe operations:
//! atomics on `static`s and `write(2)`. No allocation, no lock.
//!
//! - [`DELIVERIES`]: one counter per signal number, bumped by every
//!   delivery. It is the source of truth a listener compares against.
//! - [`SLOTS`]: a fixed table of listeners. A slot packs a signal number, the
//!   listener's eventfd and a count of handlers currently writing to that
//!   eventfd; `0` is a free slot. For each slot of its signal the handler
//!   takes a busy reference (CAS), writes `1u64` to the eventfd, and drops the
//!   reference. [`Registration`]'s drop frees the slot with a CAS that only
//!   succeeds when no reference is held, and closes the eventfd only after
//!   that, so a handler never writes to a closed (or reused) fd number.
//!
//! The busy mark is a count rather than a single bit so that a second
//! handler of the same signal, running concurrently on another thread, never
//! has to skip a slot: skipping could leave its delivery without a write after
//! the listener's last read, a lost wakeup. A count lets both write.
//!
//! Removing a slot spins while the count is non-zero. That cannot deadlock:
//! a handler holding a reference on another thread is a few instructions and
//! one non-blocking `write` from dropping it, and a handler on the remover's
//! own thread always finishes before the interrupted code resumes.
//!
//! That protocol (packing, `claim`, `acquire`/`Busy`, `free`, `deliver`)
//! lives in the `slots` submodule, apart from the `static`s and the
//! syscalls, so that its loom models run the same code as the handler.
//!
//! # Installing
//!
//! The handler is installed once per signal number, on the first listener,
//! with `SA_RESTART | SA_SIGINFO`, and never uninstalled (a later listener
//! could otherwise race with the restore). So after the first listener of
//! `SIGINT`, Ctrl-C no longer terminates the process: it is only counted.
//! Installation is serialized by a mutex (never touched by the handler), so
//! two threads creating the first listener of a signal install it once.
//!
//! A handler that was installed before ours (not `SIG_DFL` or `SIG_IGN`) is
//! remembered and called after ours, with the same arguments, so a library
//! that had hooked the signal keeps working. Its `sa_mask` and flags other
//! than `SA_SIGINFO` are not reproduced.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, PoisonError};

use super::{EventFd, cvt, read};

mod slots;

/// `SIGINT`.
pub(crate) const SIGINT: i32 = libc::SIGINT;
/// `SIGTERM`.
pub(crate) const SIGTERM: i32 = libc::SIGTERM;
/// `SIGHUP`.
pub(crate) const SIGHUP: i32 = libc::SIGHUP;
/// `SIGQUIT`.
pub(crate) const SIGQUIT: i32 = libc::SIGQUIT;
/// `SIGUSR1`.
pub(crate) const SIGUSR1: i32 = libc::SIGUSR1;
/// `SIGUSR2`.
pub(crate) const SIGUSR2: i32 = libc::SIGUSR2;
/// `SIGCHLD`.
pub(crate) const SIGCHLD: i32 = libc::SIGCHLD;
/// `SIGPIPE`.
pub(crate) const SIGPIPE: i32 = libc::SIGPIPE;
/// `SIGALRM`.
pub(crate) const SIGALRM: i32 = libc::SIGALRM;
/// `SIGWINCH`.
pub(crate) const SIGWINCH: i32 = libc::SIGWINCH;

/// Highest signal number the tables have room for (Linux's `SIGRTMAX`).
const MAX_SIGNAL: usize = 64;
/// How many listeners can exist at once, process-wide.
pub(crate) const SLOT_COUNT: usize = 1024;

/// Deliveries per signal number (index 0 unused).
static DELIVERIES: [AtomicU64; MAX_SIGNAL + 1] = [const { AtomicU64::new(0) }; MAX_SIGNAL + 1];
/// Listener slots: `busy << 40 | signo << 32 | fd`, or 0 when free.
static SLOTS: [AtomicU64; SLOT_COUNT] = [const { AtomicU64::new(0) }; SLOT_COUNT];
/// The handler found at install time, to chain to (0: none).
static PREVIOUS: [AtomicUsize; MAX_SIGNAL + 1] = [const { AtomicUsize::new(0) }; MAX_SIGNAL + 1];
/// Whether that handler takes `(signo, info, context)` (`SA_SIGINFO`).
static PREVIOUS_SIGINFO: [AtomicBool; MAX_SIGNAL + 1] =
    [const { AtomicBool::new(false) }; MAX_SIGNAL + 1];
/// Bit `signo` is set once our handler is installed for it.
static INSTALLED: Mutex<u128> = Mutex::new(0);

/// How many times `signo` has been delivered since the process started
/// (counting only deliveries after our handler was installed).
pub(crate) fn deliveries(signo: i32) -> u64 {
    DELIVERIES[signo as usize].load(SeqCst)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Checks that a listener for `signo` can exist.
pub(crate) fn validate(signo: i32) -> io::Result<()> {
    let max = libc::SIGRTMAX().min(MAX_SIGNAL as i32);
    if !(1..=max).contains(&signo) {
        return Err(invalid(format!(
            "signal number {signo} is outside 1..={max}"
        )));
    }
    match signo {
        libc::SIGKILL | libc::SIGSTOP => Err(invalid(format!(
            "signal {signo} (SIGKILL or SIGSTOP) cannot be caught"
        ))),
        libc::SIGILL | libc::SIGFPE | libc::SIGSEGV | libc::SIGBUS => Err(invalid(format!(
            "signal {signo} (SIGILL, SIGFPE, SIGSEGV or SIGBUS) reports a fault of the \
             program itself; a handler that returns would re-run the faulting instruction"
        ))),
        _ if signo > 31 && signo < libc::SIGRTMIN() => Err(invalid(format!(
            "signal {signo} is reserved by the C library's threads implementation; \
             real-time signals start at {}",
            libc::SIGRTMIN()
        ))),
        _ => Ok(()),
    }
}

/// Installs [`handler`] for `signo` unless it already is.
fn install(signo: i32) -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed & (1 << signo) != 0 {
        return Ok(());
    }
    // SAFETY: `sigaction` is plain old data; all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // Remember the current handler *before* ours can run, so the first
    // delivery after the switch is already chained.
    // SAFETY: a null `act` only queries; `old` is valid for writes.
    cvt(unsafe { libc::sigaction(signo, ptr::null(), &mut old) })?;
    remember_previous(signo, &old);
    // SAFETY: as above, all-zero is valid; the fields are set below.
    let mut new: libc::sigaction = unsafe { mem::zeroed() };
    new.sa_sigaction = handler as extern "C" fn(_, _, _) as libc::sighandler_t;
    new.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
    // SAFETY: `sa_mask` is a valid, writable sigset_t.
    cvt(unsafe { libc::sigemptyset(&mut new.sa_mask) })?;
    // SAFETY: `new` is a fully initialized sigaction whose handler only does
    // async-signal-safe work; `old` is valid for writes.
    cvt(unsafe { libc::sigaction(signo, &new, &mut old) })?;
    // Someone may have changed it between the two calls.
    remember_previous(signo, &old);
    *installed |= 1 << signo;
    Ok(())
}

fn remember_previous(signo: i32, old: &libc::sigaction) {
    let ours = handler as extern "C" fn(_, _, _) as libc::sighandler_t;
    let prev = old.sa_sigaction;
    // Our own handler can be there if this crate is linked twice; chaining
    // to ourselves would recurse forever.
    let chain = if prev == libc::SIG_DFL || prev == libc::SIG_IGN || prev == ours {
        0
    } else {
        prev
    };
    // The flag first: the handler reads the address, then the flag.
    PREVIOUS_SIGINFO[signo as usize].store(old.sa_flags & libc::SA_SIGINFO != 0, SeqCst);
    PREVIOUS[signo as usize].store(chain, SeqCst);
}

/// The signal handler. Async-signal-safe: atomics and `write` only.
extern "C" fn handler(signo: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for
    // the thread's whole life; the interrupted code expects it unchanged.
    let errno = unsafe { *libc::__errno_location() };
    if (1..=MAX_SIGNAL as i32).contains(&signo) {
        let one = 1u64.to_ne_bytes();
        slots::deliver(&DELIVERIES[signo as usize], &SLOTS, signo, |fd| {
            // The result is ignored: EAGAIN means the counter is saturated,
            // which still reads as "something happened". `cvt` on failure
            // only reads errno into an `io::Error::Os`: no allocation.
            // SAFETY: `deliver` calls this under a busy reference on the
            // slot, which keeps the fd open (the listener's drop waits for
            // it to be dropped before closing); `one` is 8 readable bytes.
            let _ = cvt(unsafe { libc::write(fd, one.as_ptr().cast(), 8) });
        });
        chain(signo, info, context);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn chain(signo: i32, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let prev = PREVIOUS[signo as usize].load(SeqCst);
    if prev == 0 {
        return;
    }
    if PREVIOUS_SIGINFO[signo as usize].load(SeqCst) {
        // SAFETY: `prev` was the `sa_sigaction` of a handler installed with
        // SA_SIGINFO, so it is a function of exactly this signature, and we
        // pass it the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { mem::transmute(prev) };
        f(signo, info, context);
    } else {
        // SAFETY: `prev` was the `sa_handler` of a handler installed without
        // SA_SIGINFO (and is neither SIG_DFL nor SIG_IGN), so it is a
        // function taking the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { mem::transmute(prev) };
        f(signo);
    }
}

/// One listener's entry in the registry: a slot pointing at its own
/// non-blocking eventfd, which the handler writes to on every delivery.
///
/// Dropping it frees the slot first (waiting out a handler that is writing)
/// and closes the eventfd after, so the handler never writes to a closed fd.
#[derive(Debug)]
pub(crate) struct Registration {
    slot: &'static AtomicU64,
    value: u64,
    /// Dropped after `Drop::drop` has freed the slot.
    fd: EventFd,
}

impl Registration {
    /// Installs the handler for `signo` if needed, then registers a
    /// listener. Also returns [`deliveries`] as of the registration: a
    /// delivery is news to the listener once the count moves past it.
    pub(crate) fn new(signo: i32) -> io::Result<(Registration, u64)> {
        validate(signo)?;
        install(signo)?;
        let fd = EventFd::new()?;
        // Read the count before taking the slot: a delivery in between bumps
        // the count past `seen` (news to us) without writing to our eventfd,
        // which `recv` handles since it checks the count first.
        let seen = deliveries(signo);
        let value = slots::pack(signo, fd.as_raw_fd());
        let slot = slots::claim(&SLOTS, value).ok_or_else(|| {
            io::Error::other(format!(
                "all {SLOT_COUNT} signal listener slots are in use; \
                     drop some arbor::signal::Signal listeners"
            ))
        })?;
        Ok((Registration { slot, value, fd }, seen))
    }

    /// Reads (and resets) the eventfd once: `WouldBlock` when nothing was
    /// written since the last read.
    pub(crate) fn read(&self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        read(self.fd.as_raw_fd(), &mut buf)?;
        Ok(u64::from_ne_bytes(buf))
    }

    /// Resets the eventfd to 0.
    pub(crate) fn drain(&self) -> io::Result<()> {
        self.fd.drain()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Waits out any handler holding a busy reference (see `slots::free`).
        slots::free(self.slot, self.value);
        // Only now may `self.fd` close (it drops after this body).
    }
}

impl AsFd for Registration {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncatchable_and_fault_signals_are_invalid_input() {
        for signo in [0, -1, 65, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 32] {
            let err = validate(signo).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signo}");
        }
        validate(libc::SIGUSR1).unwrap();
        validate(libc::SIGRTMAX()).unwrap();
    }
}
