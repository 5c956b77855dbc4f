//! Child processes on the arbor runtime (crate `arbor-process`,
//! re-exported as `arbor::process`).
//!
//! - [`Command`]: std's process builder, plus
//!   [`kill_on_drop`](Command::kill_on_drop); [`spawn`](Command::spawn)
//!   gives a [`Child`], [`status`](Command::status) and
//!   [`output`](Command::output) run the process to its end.
//! - [`Child`]: [`wait`](Child::wait) (async, cancel-safe),
//!   [`try_wait`](Child::try_wait), [`kill`](Child::kill),
//!   [`signal`](Child::signal), [`wait_with_output`](Child::wait_with_output),
//!   and its piped [`stdin`](Child::stdin) / [`stdout`](Child::stdout) /
//!   [`stderr`](Child::stderr): [`futures_io::AsyncWrite`] /
//!   [`futures_io::AsyncRead`] on the reactor.
//! - [`run`]: run a process, capture its output, and fail with a
//!   [`ProcessError`] holding the status and output if it exits
//!   unsuccessfully (trio's and AnyIO's `run_process`).
//!
//! ```
//! use arbor_process::Command;
//!
//! arbor_runtime::run(async {
//!     let out = arbor_process::run(Command::new("sh").args(["-c", "echo hello"])).await.unwrap();
//!     assert_eq!(out.stdout, b"hello\n");
//! });
//! ```
//!
//! # How a child is watched
//!
//! std spawns the process (`fork`/`exec` done right, inline on the runtime
//! thread, as tokio does too). Right after, while the child is certainly
//! unreaped (so its pid cannot have been reused), [`Command::spawn`] opens a
//! **pidfd** for it (`pidfd_open(2)`) and registers it with the runtime's
//! epoll reactor like any other fd: it turns readable when the process
//! exits, which wakes [`Child::wait`] even when the runtime is asleep in
//! `epoll_wait`; `wait` then reaps it with a non-blocking `waitpid`.
//! Signals go through the pidfd too (`pidfd_send_signal(2)`), so they can
//! only reach this process. There is no `SIGCHLD` handler and no polling.
//!
//! This needs **Linux 5.3 or newer**. Where `pidfd_open` is missing
//! (`ENOSYS`) `spawn` kills and reaps the child it just started and
//! returns an `Unsupported` error saying so; it does not fall back to
//! polling.
//!
//! Like std, this assumes nothing else in the process reaps children it
//! did not spawn (a `waitpid(-1)`, `SIGCHLD` set to `SIG_IGN`): `wait`
//! would then fail with `ECHILD`.
//!
//! # Structured by default
//!
//! A process belongs to the code that spawned it, as a task belongs to its
//! nursery: a [`Child`] dropped before it was reaped (typically because a
//! cancelled scope dropped the future that owned it) does not leave the
//! process behind.
//!
//! - **Killed**: it gets SIGKILL, because
//!   [`kill_on_drop`](Command::kill_on_drop) defaults to **`true`**. This
//!   differs from std (a dropped `std::process::Child` is never killed)
//!   and from tokio (`kill_on_drop` defaults to `false` there). Set
//!   `kill_on_drop(false)` to let a process run on detached. [`run`]
//!   always kills on drop, whatever the command says (trio's
//!   `run_process` kills on cancel). Only the child is signalled, not
//!   processes it started; to reach those, start it in its own
//!   [`process_group`](Command::process_group) and signal the group.
//! - **Reaped**, killed or not: if it has exited it is reaped at once;
//!   otherwise a small root task of the runtime (named `arbor::process
//!   reaper`, outside every scope, so no cancellation reaches it) waits for
//!   its pidfd and reaps it, so it leaves no zombie while the runtime
//!   lives. A detached process keeps that task (and its pidfd) until it
//!   exits.
//! - **Without a running runtime** (the `Child` is dropped outside
//!   `block_on`, or its runtime is dropped while the reaper still waits):
//!   a killed process is reaped with a blocking `waitpid`, which returns as
//!   soon as the kernel has torn it down; a detached one still running is
//!   left unreaped, and stays a zombie after it exits until this process
//!   exits (a destructor must not block for as long as a process may run).
//!
//! A dropped *wait* loses nothing: [`Child::wait`] can be dropped (a
//! timeout around it) and called again, and after exit it returns the
//! same status.
//!
//! # Checkpoints and cancellation
//!
//! As everywhere in arbor, every async function here is a checkpoint: a
//! cancel point (no progress inside a cancelled scope; [`Command::status`],
//! [`Command::output`] and [`run`] spawn nothing there), then a schedule
//! point even when it completes at once. [`Command::spawn`] is not async:
//! it starts the process at once.
//!
//! # Pipes
//!
//! Piped stdio ([`Stdio::piped`]) comes back as [`ChildStdin`],
//! [`ChildStdout`] and [`ChildStderr`]: our pipe ends, non-blocking and on
//! the reactor. Drive a writer and a reader at once (two tasks, or
//! [`Child::wait_with_output`], which reads both outputs together) when a
//! child both reads and writes a lot: pipes hold 64 KiB, and a child
//! blocked on a full one waits for us.

#![warn(missing_docs)]

mod checkpoint;
mod child;
mod command;
mod reaper;
mod run;
mod stdio;
mod sys;

pub use child::Child;
pub use command::Command;
pub use run::{ProcessError, run};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

pub use arbor_runtime::signal::SignalKind;
pub use std::process::{ExitStatus, Output, Stdio};
