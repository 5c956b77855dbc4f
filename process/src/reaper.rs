//! The unreaped child and what happens to it when its [`Child`] is dropped.
//!
//! [`Unreaped`] is a spawned process that has not been waited for: the std
//! handle (which `waitpid`s it) and its pidfd on the reactor (which says
//! when to). While it exists the pid cannot be reused, so signalling it
//! through the pidfd or `waitpid`ing its pid always means this process.
//!
//! # The reaping rule
//!
//! A [`Child`] dropped before its status was collected hands its
//! `Unreaped` to [`orphan`]:
//!
//! ```text
//!             exited already? ──yes──> reaped now (waitpid, WNOHANG)
//!                   │ no
//!      kill_on_drop? ──yes──> SIGKILL through the pidfd
//!                   │
//!  on the thread of the runtime it was spawned in, inside it?
//!          │ yes                                  │ no
//!  a root task "arbor::process reaper"       fallback (below), now
//!  awaits the pidfd and reaps; dropped
//!  with the runtime: fallback
//! ```
//!
//! The fallback, when no runtime is there to wait: reap if it has exited;
//! otherwise, if it was killed, a blocking `waitpid` (SIGKILL cannot be
//! caught, so this returns as soon as the kernel has torn the process
//! down); otherwise (`kill_on_drop(false)`, still running) it is left
//! unreaped: it becomes a zombie when it exits, until this process exits
//! (then init reaps it). A blocking wait on a process that may run for
//! hours is not something a destructor may do.
//!
//! [`Child`]: crate::Child

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitStatus;
use std::task::{Context, Poll};

use arbor_runtime::RuntimeId;
use arbor_runtime::io::Async;

use crate::sys;

/// A spawned process not yet reaped (module docs).
pub(crate) struct Unreaped {
    /// Its stdio handles were taken; `try_wait`/`wait`/`id` are what is
    /// left of it.
    std: std::process::Child,
    pidfd: Async<OwnedFd>,
    /// The runtime whose reactor `pidfd` is registered with.
    runtime: RuntimeId,
}

impl Unreaped {
    pub(crate) fn new(std: std::process::Child, pidfd: Async<OwnedFd>, runtime: RuntimeId) -> Self {
        Unreaped {
            std,
            pidfd,
            runtime,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.std.id()
    }

    /// Reap it if it has exited, without waiting.
    pub(crate) fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        self.std.try_wait()
    }

    /// Reap it, waiting for the pidfd to turn readable (it exited).
    ///
    /// The status, once `waitpid` returned it, is also kept by the std
    /// handle (its `try_wait` returns it again), so an attempt whose
    /// result is dropped loses nothing.
    pub(crate) fn poll_reap(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let std = &mut self.std;
        self.pidfd.poll_read_with(cx, |_| reap_or_would_block(std))
    }

    /// [`poll_reap`](Self::poll_reap) as an arbor checkpoint (a cancel
    /// point, and a schedule point when it did not have to wait).
    pub(crate) async fn reap(&mut self) -> io::Result<ExitStatus> {
        let std = &mut self.std;
        self.pidfd.read_with(|_| reap_or_would_block(std)).await
    }

    /// Send `signal` unless the process is already gone.
    pub(crate) fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        match sys::pidfd_send_signal(self.pidfd.as_fd(), signal) {
            // Exited and reaped by someone else (`SIGCHLD` ignored, a
            // stray `waitpid(-1)`): nothing left to signal.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }
}

/// For a process just spawned that cannot be watched (no pidfd): kill it
/// and wait (briefly: SIGKILL) so that it leaves no zombie behind.
pub(crate) fn kill_and_reap_blocking(mut std: std::process::Child) {
    let _ = std.kill();
    let _ = std.wait();
}

fn reap_or_would_block(std: &mut std::process::Child) -> io::Result<ExitStatus> {
    std.try_wait()?
        .ok_or_else(|| io::ErrorKind::WouldBlock.into())
}

/// Take over a dropped child's process (the [module docs](self)' rule).
pub(crate) fn orphan(mut unreaped: Unreaped, kill: bool) {
    // An error here means another waiter reaped it: nothing left to do.
    if !matches!(unreaped.try_reap(), Ok(None)) {
        return;
    }
    let killed = kill && unreaped.signal(libc::SIGKILL).is_ok();
    let orphan = Orphan { unreaped, killed };
    if arbor_runtime::current_runtime_id() == Some(orphan.unreaped.runtime) {
        // A root task: no scope's cancellation reaches it. If the runtime
        // is dropped first, so is the task, and `Orphan::drop` falls back.
        drop(arbor_runtime::spawn_named(
            "arbor::process reaper",
            orphan.reap(),
        ));
    }
    // Otherwise `orphan` is dropped here: the fallback.
}

/// A dropped child's process, until it is reaped.
struct Orphan {
    unreaped: Unreaped,
    /// SIGKILL was sent, so a blocking wait is short.
    killed: bool,
}

impl Orphan {
    async fn reap(mut self) {
        // An error (another waiter reaped it; the runtime is going away)
        // leaves the rest to the fallback.
        let _ = poll_fn(|cx| self.unreaped.poll_reap(cx)).await;
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        match self.unreaped.try_reap() {
            Ok(Some(_)) | Err(_) => {}
            Ok(None) if self.killed => {
                let _ = self.unreaped.std.wait();
            }
            // Running on its own with nobody left to wait for it: see the
            // module docs.
            Ok(None) => {}
        }
    }
}
