//! Unix signals as async listeners on the reactor.
//!
//! [`signal`] registers a [`Signal`] listener for one [`SignalKind`];
//! [`Signal::recv`] resolves once the signal has been delivered since the
//! listener was created or last returned. [`ctrl_c`] is the one-shot form for
//! `SIGINT`.
//!
//! ```
//! use arbor_runtime::signal::{SignalKind, signal};
//!
//! arbor_runtime::run(async {
//!     let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
//!     // Another process (here a shell) signals us.
//!     let me = std::process::id();
//!     let status = std::process::Command::new("sh")
//!         .args(["-c", &format!("kill -USR1 {me}")])
//!         .status()
//!         .unwrap();
//!     assert!(status.success());
//!     usr1.recv().await.unwrap();
//! });
//! ```
//!
//! # How it works
//!
//! The first listener of a signal number installs a process-wide handler for
//! it (once, never uninstalled). On each delivery the handler bumps that
//! signal's global delivery counter, then writes to the eventfd of every
//! listener of the signal: the self-pipe trick, with an eventfd per listener
//! instead of a pipe. Each listener's eventfd is registered with its
//! runtime's reactor like any other fd, so a delivery wakes the runtime even
//! when it is asleep in `epoll_wait`, whichever thread the kernel ran the
//! handler on. The counter is the source of truth: a listener remembers the
//! count it has reported and is ready when the count moved past it; the
//! eventfd only says "look again". That is what makes every listener of a
//! signal (in any runtime, on any thread) see every delivery, and what makes
//! dropping a [`Signal::recv`] future lose nothing.
//!
//! Why not `signalfd`: it only receives signals that are *blocked* in every
//! thread of the process (otherwise the kernel runs the default action or a
//! handler instead), and a library cannot block a signal in threads it did
//! not create, nor in threads created before it was called.
//!
//! # Coalescing
//!
//! Deliveries coalesce: several deliveries between two `recv`s make the next
//! `recv` return once, not once per delivery (the kernel itself merges a
//! standard signal that arrives while the same one is still pending). A
//! listener tells "something happened", not how often.
//!
//! # Process-wide effects
//!
//! Installing the handler replaces the signal's default action for the
//! whole process, for good: after the first listener of `SIGINT`, Ctrl-C no
//! longer kills the process, also after every listener is dropped; it is
//! only counted. The same holds for `SIGTERM`, `SIGHUP` and the others. A
//! handler installed earlier by someone else (not `SIG_DFL`/`SIG_IGN`) is
//! kept and called after ours. At most 1024 listeners exist at once,
//! process-wide.
//!
//! `SIGKILL` and `SIGSTOP` cannot be caught, and `SIGILL`, `SIGFPE`,
//! `SIGSEGV` and `SIGBUS` report faults of the program itself (a handler that
//! returns re-runs the faulting instruction): [`signal`] refuses them.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::context;
use crate::io::Async;
use crate::reactor::epoll::signal::{self as sys, Registration};

/// A Unix signal number to listen for.
///
/// ```
/// use arbor_runtime::signal::SignalKind;
/// assert_eq!(SignalKind::interrupt().as_raw(), 2); // SIGINT on Linux
/// assert_eq!(SignalKind::from_raw(10), SignalKind::user_defined1());
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// `SIGINT`: interrupt from the terminal (Ctrl-C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(sys::SIGINT)
    }

    /// `SIGTERM`: polite request to terminate.
    pub const fn terminate() -> SignalKind {
        SignalKind(sys::SIGTERM)
    }

    /// `SIGHUP`: the terminal hung up; daemons use it for "reload".
    pub const fn hangup() -> SignalKind {
        SignalKind(sys::SIGHUP)
    }

    /// `SIGQUIT`: quit from the terminal (Ctrl-\\).
    pub const fn quit() -> SignalKind {
        SignalKind(sys::SIGQUIT)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(sys::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(sys::SIGUSR2)
    }

    /// `SIGCHLD`: a child process stopped or exited.
    pub const fn child() -> SignalKind {
        SignalKind(sys::SIGCHLD)
    }

    /// `SIGPIPE`: write to a pipe with no reader.
    pub const fn pipe() -> SignalKind {
        SignalKind(sys::SIGPIPE)
    }

    /// `SIGALRM`: a timer set with `alarm(2)` expired.
    pub const fn alarm() -> SignalKind {
        SignalKind(sys::SIGALRM)
    }

    /// `SIGWINCH`: the terminal window changed size.
    pub const fn window_change() -> SignalKind {
        SignalKind(sys::SIGWINCH)
    }

    /// Any signal number, e.g. a real-time signal. Validated by [`signal`],
    /// not here.
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

/// A listener for one signal, created by [`signal`].
///
/// Also a [`Stream`] of `io::Result<()>` that never ends. Dropping it frees
/// its slot and closes its eventfd (the process-wide handler stays).
pub struct Signal {
    kind: SignalKind,
    /// The delivery count last reported (or the count at registration).
    seen: u64,
    /// Drop order: deregister from epoll, free the slot, close the eventfd
    /// (`Registration`'s drop).
    io: Async<Registration>,
}

/// Starts listening for `kind`.
///
/// The listener is registered when this returns: a delivery after this call
/// and before the first [`recv`](Signal::recv) is seen by it; one before
/// this call is not.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// use arbor_runtime::signal::{SignalKind, signal};
///
/// arbor_runtime::run(async {
///     let mut hup = signal(SignalKind::hangup()).unwrap();
///     // No SIGHUP since the listener was created: not ready.
///     assert!(poll_fn(|cx| Poll::Ready(hup.poll_recv(cx).is_pending())).await);
///     assert!(signal(SignalKind::from_raw(9)).is_err()); // SIGKILL
/// });
/// ```
///
/// # Errors
/// `InvalidInput` for `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV`,
/// `SIGBUS`, numbers outside `1..=SIGRTMAX` and the two real-time signals
/// reserved by the C library. An error when all 1024 listener slots of the
/// process are taken, and the OS error if `sigaction` or `eventfd` fails.
///
/// # Panics
/// Outside a runtime, like [`Async::new`](crate::io::Async::new) (checked
/// before the handler is installed).
#[track_caller]
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    context::expect("arbor::signal::signal", |_| ());
    let (registration, seen) = Registration::new(kind.0)?;
    let io = Async::new(registration)?;
    Ok(Signal { kind, seen, io })
}

impl Signal {
    /// The signal this listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits until the signal has been delivered at least once since this
    /// listener was created or `recv` last returned. Several deliveries in
    /// between make one return (see [Coalescing](self#coalescing)).
    ///
    /// # Cancel safety
    /// Dropping the future loses no delivery: the process-wide counter still
    /// records it, and the next `recv` returns at once.
    ///
    /// # Errors
    /// When the runtime the listener was created in has been dropped, or
    /// reading its eventfd fails.
    pub async fn recv(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll form of [`recv`](Signal::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if crate::scope::current_is_cancelled() {
            // Level-triggered cancellation, as for all I/O.
            return Poll::Pending;
        }
        loop {
            let now = sys::deliveries(self.kind.0);
            if now != self.seen {
                self.seen = now;
                // Spare the next `recv` a spurious wakeup. A write this
                // swallows is never lost news: the handler bumps the count
                // before writing, so its delivery is counted, and the next
                // `recv` checks the count before it waits.
                let _ = self.io.get_ref().drain();
                return Poll::Ready(Ok(()));
            }
            // Nothing new: read the eventfd, *after* the count check. A
            // delivery that the check missed bumped the count after it and
            // so writes after it: either this read gets that write (and we
            // loop to check the count again) or the write comes later, a new
            // edge for the reactor, which then wakes us. Reading rather than
            // only awaiting readability is what lets `WouldBlock` clear the
            // reactor's remembered readiness, so we do not spin.
            match self.io.poll_read_with(cx, Registration::read) {
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Stream for Signal {
    type Item = io::Result<()>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("seen", &self.seen)
            .finish()
    }
}

/// Completes at the next `SIGINT` (Ctrl-C) after the call.
///
/// The listener is registered when `ctrl_c` is called, not when the future
/// is first polled, so a `SIGINT` in between is not missed. A registration
/// error is returned by the future. From then on, `SIGINT` no longer
/// terminates the process (see [the module docs](self#process-wide-effects)).
///
/// ```
/// arbor_runtime::run(async {
///     let ctrl_c = arbor_runtime::signal::ctrl_c();
///     // e.g. race it against the work: whichever finishes first.
///     drop(ctrl_c);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        state: signal(SignalKind::interrupt()).map_err(Some),
    }
}

/// The future returned by [`ctrl_c`].
///
/// # Cancel safety
/// Dropping it loses nothing anyone could still observe; polling it again
/// after it completed waits for the next `SIGINT`.
#[must_use = "futures do nothing unless awaited"]
pub struct CtrlC {
    /// The listener, or the registration error until it is returned.
    state: Result<Signal, Option<io::Error>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            Ok(signal) => signal.poll_recv(cx),
            Err(error) => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                None => panic!("CtrlC polled again after returning its error"),
            },
        }
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC").field("state", &self.state).finish()
    }
}
