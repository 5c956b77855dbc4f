//! [`Child`]: a spawned process, its exit watched through a pidfd.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{ExitStatus, Output};
use std::task::Poll;

use arbor_runtime::RuntimeId;
use arbor_runtime::io::Async;
use arbor_runtime::signal::SignalKind;

use crate::checkpoint::checkpointed;
use crate::reaper::{self, Unreaped};
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout, Drain};
use crate::sys;
use arbor_runtime::scope::entry_checkpoint as checkpoint;

/// A child process spawned by [`Command::spawn`](crate::Command::spawn).
///
/// Like [`std::process::Child`] with async waiting, except for what a drop
/// does: a `Child` dropped before it was reaped (its status collected by
/// [`wait`](Child::wait), [`try_wait`](Child::try_wait) or
/// [`wait_with_output`](Child::wait_with_output)) is **killed** (SIGKILL)
/// unless the command said [`kill_on_drop(false)`](crate::Command::kill_on_drop),
/// and is **reaped** in the background either way, so no zombie is left
/// (the [crate docs](crate#structured-by-default) state the rule and its
/// limits). Dropping a `Child` never blocks, except to reap a child it has
/// just killed when no runtime is running to do it.
///
/// ```
/// use arbor_process::Command;
///
/// arbor_runtime::run(async {
///     let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
///     assert!(child.id().is_some());
///     let status = child.wait().await.unwrap();
///     assert_eq!(status.code(), Some(3));
///     assert_eq!(child.id(), None, "reaped: its pid may belong to someone else now");
/// });
/// ```
pub struct Child {
    /// The parent's end of the child's stdin, if it was
    /// [piped](crate::Stdio::piped). Taken (`Option::take`) to write to
    /// it from another task; [`wait`](Child::wait) closes it.
    pub stdin: Option<ChildStdin>,
    /// The parent's end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The parent's end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    /// `Some` until the process is reaped (its pidfd closes then).
    unreaped: Option<Unreaped>,
    /// Once reaped.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    /// Take over a process std has just spawned: open its pidfd, register
    /// it and the pipes with the reactor. On failure the process is
    /// killed: without a pidfd it is reaped here (a blocking wait, brief
    /// after SIGKILL), with one it is dropped as a `Child` is.
    pub(crate) fn adopt(
        mut std: std::process::Child,
        kill_on_drop: bool,
        runtime: RuntimeId,
    ) -> io::Result<Child> {
        let pidfd = match sys::pidfd_open(std.id()).and_then(Async::<OwnedFd>::new) {
            Ok(pidfd) => pidfd,
            Err(e) => {
                reaper::kill_and_reap_blocking(std);
                return Err(e);
            }
        };
        let (stdin, stdout, stderr) = (std.stdin.take(), std.stdout.take(), std.stderr.take());
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            unreaped: Some(Unreaped::new(std, pidfd, runtime)),
            status: None,
            // Until the pipes are set up: a failure kills it.
            kill_on_drop: true,
        };
        child.stdin = stdin.map(ChildStdin::new).transpose()?;
        child.stdout = stdout.map(ChildStdout::new).transpose()?;
        child.stderr = stderr.map(ChildStderr::new).transpose()?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    /// The process id, while the process is not yet reaped; `None` after
    /// (a reaped pid may be reused by an unrelated process at any time).
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let child = Command::new("sh").args(["-c", "echo $$"]).stdout(Stdio::piped()).spawn().unwrap();
    ///     let id = child.id().unwrap();
    ///     let out = child.wait_with_output().await.unwrap();
    ///     assert_eq!(out.stdout, format!("{id}\n").as_bytes());
    /// });
    /// ```
    pub fn id(&self) -> Option<u32> {
        self.unreaped.as_ref().map(Unreaped::id)
    }

    /// Whether dropping this `Child` unreaped kills the process (from
    /// [`Command::kill_on_drop`](crate::Command::kill_on_drop), `true` by
    /// default).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     assert!(Command::new("true").spawn().unwrap().kill_on_drop());
    ///     let mut detached = Command::new("true").kill_on_drop(false).spawn().unwrap();
    ///     assert!(!detached.kill_on_drop());
    ///     detached.wait().await.unwrap();
    /// });
    /// ```
    pub fn kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// Wait for the process to exit and return its status (reaping it).
    /// Closes the child's stdin first, as std does, so a child reading it
    /// to the end is not left waiting for us.
    ///
    /// After the first success it returns the same status again (a
    /// checkpoint all the same).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("false").spawn().unwrap();
    ///     let status = child.wait().await.unwrap();
    ///     assert_eq!(status.code(), Some(1));
    ///     assert_eq!(child.wait().await.unwrap(), status);
    /// });
    /// ```
    ///
    /// # Errors
    /// The `waitpid` error (e.g. `ECHILD` if something else in this
    /// process reaped it: `SIGCHLD` set to `SIG_IGN`, a `waitpid(-1)`), or
    /// an error if the runtime the child was spawned in is gone.
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing: the process keeps running and
    /// stays this `Child`'s, and a later `wait` (or `try_wait`) gets its
    /// status. A status the kernel handed over just before the drop is
    /// kept, not lost.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        match &mut self.unreaped {
            None => {
                let status = self.status.expect("reaped, so the status is known");
                checkpoint().await;
                Ok(status)
            }
            Some(unreaped) => {
                let status = unreaped.reap().await?;
                Ok(self.reaped(status))
            }
        }
    }

    /// The status if the process has exited (reaping it), `None` if it is
    /// still running; never waits.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    ///     assert_eq!(child.try_wait().unwrap(), None);
    ///     child.kill().unwrap();
    ///     let status = child.wait().await.unwrap();
    ///     assert_eq!(child.try_wait().unwrap(), Some(status));
    /// });
    /// ```
    ///
    /// # Errors
    /// The `waitpid` error.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match &mut self.unreaped {
            None => Ok(self.status),
            Some(unreaped) => Ok(unreaped.try_reap()?.map(|status| self.reaped(status))),
        }
    }

    fn reaped(&mut self, status: ExitStatus) -> ExitStatus {
        // Closes the pidfd (and deregisters it) now rather than at drop.
        self.unreaped = None;
        self.status = Some(status);
        status
    }

    /// Send SIGKILL. It does not wait: [`wait`](Child::wait) then reports
    /// the kill (`status.signal() == Some(9)` through
    /// `std::os::unix::process::ExitStatusExt`), unless the process exited
    /// on its own first.
    ///
    /// A process that has exited (reaped or not) is left alone and this
    /// returns `Ok(())`, as std's `kill` does. The signal goes through the
    /// pidfd, so it can only reach this process.
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    ///     child.kill().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    ///     child.kill().unwrap(); // reaped: a no-op
    /// });
    /// ```
    ///
    /// # Errors
    /// The `pidfd_send_signal` error (e.g. `EPERM`).
    pub fn kill(&mut self) -> io::Result<()> {
        self.signal(SignalKind::from_raw(libc::SIGKILL))
    }

    /// Send any signal, e.g. [`SignalKind::terminate`] for a polite
    /// request to exit. As [`kill`](Child::kill): a no-op once the process
    /// has exited.
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use arbor_process::{Command, SignalKind};
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    ///     child.signal(SignalKind::terminate()).unwrap();
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
    /// });
    /// ```
    ///
    /// # Errors
    /// The `pidfd_send_signal` error (`EINVAL` for an invalid signal
    /// number, `EPERM`).
    pub fn signal(&mut self, signal: SignalKind) -> io::Result<()> {
        match &self.unreaped {
            None => Ok(()),
            Some(unreaped) => unreaped.signal(signal.as_raw()),
        }
    }

    /// Read all of the child's piped stdout and stderr (at once, so
    /// neither pipe can fill up and stall the child) and wait for it to
    /// exit. Stdin is closed first. A stream that was not piped comes back
    /// empty.
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let child = Command::new("sh")
    ///         .args(["-c", "echo out; echo err >&2"])
    ///         .stdout(Stdio::piped())
    ///         .stderr(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let output = child.wait_with_output().await.unwrap();
    ///     assert!(output.status.success());
    ///     assert_eq!((&output.stdout[..], &output.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// });
    /// ```
    ///
    /// # Errors
    /// A `read` error, or [`wait`](Child::wait)'s.
    ///
    /// # Cancel safety
    /// Dropping the future drops the `Child`, with what it does (killed
    /// unless `kill_on_drop(false)`, reaped either way); the output read
    /// so far is lost.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        self.stdin = None;
        let mut stdout = self
            .stdout
            .take()
            .map_or_else(Drain::empty, ChildStdout::into_drain);
        let mut stderr = self
            .stderr
            .take()
            .map_or_else(Drain::empty, ChildStderr::into_drain);
        checkpointed(|cx| {
            // Both at once: a child blocked writing to a full stderr pipe
            // would never close its stdout.
            let out = stdout.poll(cx)?;
            let err = stderr.poll(cx)?;
            if out.is_ready() && err.is_ready() {
                Poll::Ready(Ok::<_, io::Error>(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(unreaped) = self.unreaped.take() {
            reaper::orphan(unreaped, self.kill_on_drop);
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("status", &self.status)
            .field("kill_on_drop", &self.kill_on_drop)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}
