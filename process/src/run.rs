//! [`run`]: run a process to its end and fail on an unsuccessful exit
//! (trio's and AnyIO's `run_process`).

use std::fmt;
use std::io;
use std::process::{ExitStatus, Output};

use crate::Command;

/// Run `cmd` to its end, capturing its stdout and stderr (stdin is empty),
/// and return the [`Output`] if it exited successfully; an unsuccessful
/// exit (a non-zero code, or death by a signal) is
/// [`ProcessError::Failed`], carrying the status and the captured output.
/// trio's and AnyIO's `run_process` with `check=True`;
/// [`Command::output`] is the unchecked form.
///
/// Streams set on `cmd` are kept (e.g. `stderr(Stdio::inherit())` to let
/// the child's errors through to the terminal; that stream then comes back
/// empty).
///
/// ```
/// use arbor_process::{Command, ProcessError};
///
/// arbor_runtime::run(async {
///     let out = arbor_process::run(Command::new("echo").arg("hi")).await.unwrap();
///     assert_eq!(out.stdout, b"hi\n");
///
///     let err = arbor_process::run(Command::new("sh").args(["-c", "echo oops >&2; exit 2"]))
///         .await
///         .unwrap_err();
///     assert_eq!(err.status().and_then(|s| s.code()), Some(2));
///     assert!(matches!(&err, ProcessError::Failed { output, .. } if output.stderr == b"oops\n"));
///     assert!(err.to_string().contains("oops"));
/// });
/// ```
///
/// # Errors
/// [`ProcessError::Failed`] for an unsuccessful exit;
/// [`ProcessError::Io`] if the process could not be spawned (as
/// [`Command::spawn`]) or its output or status could not be read.
///
/// # Cancel safety
/// Nothing is spawned in a cancelled scope. A call dropped while the
/// process runs (a cancelled scope, a timeout) **kills it with SIGKILL**,
/// whatever [`kill_on_drop`](Command::kill_on_drop) says (the call owns
/// the process, as in trio), and it is reaped in the background; the
/// output read so far is lost. There is no SIGTERM grace period: send
/// your own with [`Child::signal`](crate::Child::signal) if the child
/// needs one.
///
/// # Panics
/// Outside an arbor runtime.
pub async fn run(cmd: &mut Command) -> Result<Output, ProcessError> {
    let output = cmd.output_with(true).await?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(ProcessError::Failed {
            command: describe(cmd),
            output,
        })
    }
}

/// Program and arguments, each quoted as std's `Command` debug output
/// does (no environment: it may hold secrets).
fn describe(cmd: &Command) -> String {
    let mut text = format!("{:?}", cmd.get_program());
    for arg in cmd.get_args() {
        text.push_str(&format!(" {arg:?}"));
    }
    text
}

/// Why [`run`] failed.
///
/// ```
/// use arbor_process::{Command, ProcessError};
///
/// arbor_runtime::run(async {
///     let err = arbor_process::run(&mut Command::new("no-such-program-arbor")).await.unwrap_err();
///     assert!(matches!(&err, ProcessError::Io(e) if e.kind() == std::io::ErrorKind::NotFound));
///
///     let err = arbor_process::run(&mut Command::new("false")).await.unwrap_err();
///     assert!(matches!(err, ProcessError::Failed { .. }));
/// });
/// ```
#[derive(Debug)]
pub enum ProcessError {
    /// The process could not be spawned, or its output or status could
    /// not be read.
    Io(io::Error),
    /// The process ran and exited unsuccessfully.
    Failed {
        /// The program and its arguments, quoted (`"sh" "-c" "exit 1"`).
        command: String,
        /// Its exit status and everything it wrote to the captured streams.
        output: Output,
    },
}

impl ProcessError {
    /// The exit status, for [`Failed`](ProcessError::Failed).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let err = arbor_process::run(Command::new("sh").args(["-c", "exit 4"])).await.unwrap_err();
    ///     assert_eq!(err.status().unwrap().code(), Some(4));
    /// });
    /// ```
    pub fn status(&self) -> Option<ExitStatus> {
        match self {
            ProcessError::Failed { output, .. } => Some(output.status),
            ProcessError::Io(_) => None,
        }
    }

    /// The captured output, for [`Failed`](ProcessError::Failed).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let err = arbor_process::run(Command::new("sh").args(["-c", "echo bad >&2; exit 1"])).await.unwrap_err();
    ///     assert_eq!(err.output().unwrap().stderr, b"bad\n");
    /// });
    /// ```
    pub fn output(&self) -> Option<&Output> {
        match self {
            ProcessError::Failed { output, .. } => Some(output),
            ProcessError::Io(_) => None,
        }
    }

    /// The captured output by value, for [`Failed`](ProcessError::Failed).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let err = arbor_process::run(Command::new("sh").args(["-c", "echo partial; exit 1"])).await.unwrap_err();
    ///     let output = err.into_output().unwrap();
    ///     assert_eq!(output.stdout, b"partial\n");
    /// });
    /// ```
    pub fn into_output(self) -> Option<Output> {
        match self {
            ProcessError::Failed { output, .. } => Some(output),
            ProcessError::Io(_) => None,
        }
    }
}

impl From<io::Error> for ProcessError {
    fn from(e: io::Error) -> ProcessError {
        ProcessError::Io(e)
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Io(e) => write!(f, "could not run the process: {e}"),
            ProcessError::Failed { command, output } => {
                write!(
                    f,
                    "{command} failed ({}); the error holds its captured output",
                    output.status
                )?;
                // The last line of stderr usually says why.
                let stderr = String::from_utf8_lossy(&output.stderr);
                if let Some(line) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
                    const MAX: usize = 200;
                    match line.char_indices().nth(MAX) {
                        Some((cut, _)) => write!(f, "; stderr: {}...", &line[..cut])?,
                        None => write!(f, "; stderr: {line}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Io(e) => Some(e),
            ProcessError::Failed { .. } => None,
        }
    }
}
