//! [`Command`]: a process builder on top of [`std::process::Command`].

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use crate::child::Child;
use arbor_runtime::scope::entry_checkpoint as checkpoint;

/// A process builder, as [`std::process::Command`] (which it wraps: std
/// does the `fork`/`exec`, inline on the runtime thread), whose
/// [`spawn`](Command::spawn) gives a [`Child`] the runtime watches.
///
/// One difference from std and tokio: [`kill_on_drop`](Command::kill_on_drop)
/// is **on** by default.
///
/// ```
/// use arbor_process::Command;
///
/// arbor_runtime::run(async {
///     let output = Command::new("sh")
///         .arg("-c")
///         .arg("echo \"$GREETING, $0\"")
///         .arg("world")
///         .env("GREETING", "hello")
///         .output()
///         .await
///         .unwrap();
///     assert!(output.status.success());
///     assert_eq!(output.stdout, b"hello, world\n");
/// });
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Which streams the caller chose, so that `output` and `status` only
    /// apply their defaults to the others (as std does).
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

/// What the unset streams (stdin, stdout, stderr) become for one way of
/// starting the process; `None` keeps std's default, inherit.
type Defaults = [Option<fn() -> Stdio>; 3];

/// `spawn` and `status` inherit everything (std's defaults).
const INHERIT: Defaults = [None, None, None];

/// `output` captures stdout and stderr, and gives no stdin (std's).
const CAPTURE: Defaults = [Some(Stdio::null), Some(Stdio::piped), Some(Stdio::piped)];

impl Command {
    /// A command to run `program`: a path, or a name looked up in `PATH`
    /// when the process is spawned. No arguments, the parent's
    /// environment and working directory, stdio inherited (by
    /// [`spawn`](Command::spawn) and [`status`](Command::status); see
    /// [`output`](Command::output)), killed if dropped unreaped.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let status = Command::new("true").status().await.unwrap();
    ///     assert!(status.success());
    /// });
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            kill_on_drop: true,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// Add an argument.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("echo").arg("hello").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"hello\n");
    /// });
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Add arguments.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("echo").args(["a", "b"]).output().await.unwrap();
    ///     assert_eq!(out.stdout, b"a b\n");
    /// });
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Set an environment variable for the child.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo $NAME"]).env("NAME", "arbor").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"arbor\n");
    /// });
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Set environment variables for the child.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let vars = [("A", "1"), ("B", "2")];
    ///     let out = Command::new("sh").args(["-c", "echo $A$B"]).envs(vars).output().await.unwrap();
    ///     assert_eq!(out.stdout, b"12\n");
    /// });
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Remove an environment variable from the child's environment.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("sh")
    ///         .args(["-c", "echo ${GONE-unset}"])
    ///         .env("GONE", "here")
    ///         .env_remove("GONE")
    ///         .output()
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(out.stdout, b"unset\n");
    /// });
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Start the child with an empty environment (plus what
    /// [`env`](Command::env) adds after).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("env").env_clear().env("ONLY", "1").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"ONLY=1\n");
    /// });
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("pwd").current_dir("/").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"/\n");
    /// });
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped`] gives [`Child::stdin`].
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     child.stdin.take().unwrap().write_all(b"fed").await.unwrap();
    ///     assert_eq!(child.wait_with_output().await.unwrap().stdout, b"fed");
    /// });
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout: [`Stdio::piped`] gives [`Child::stdout`].
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("echo").arg("out").stdout(Stdio::piped()).spawn().unwrap();
    ///     let mut out = Vec::new();
    ///     child.stdout.take().unwrap().read_to_end(&mut out).await.unwrap();
    ///     assert_eq!(out, b"out\n");
    ///     assert!(child.wait().await.unwrap().success());
    /// });
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr: [`Stdio::piped`] gives [`Child::stderr`].
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("sh").args(["-c", "echo err >&2"]).stderr(Stdio::piped()).spawn().unwrap();
    ///     let mut err = Vec::new();
    ///     child.stderr.take().unwrap().read_to_end(&mut err).await.unwrap();
    ///     assert_eq!(err, b"err\n");
    ///     assert!(child.wait().await.unwrap().success());
    /// });
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Run the child as user `id` (`setuid`; std's `CommandExt::uid`).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     // Our own uid: allowed without privileges.
    ///     // SAFETY: getuid takes no arguments and cannot fail.
    ///     let uid = unsafe { libc::getuid() };
    ///     let out = Command::new("id").arg("-u").uid(uid).output().await.unwrap();
    ///     assert_eq!(out.stdout, format!("{uid}\n").as_bytes());
    /// });
    /// ```
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.std.uid(id);
        self
    }

    /// Run the child as group `id` (`setgid`; std's `CommandExt::gid`).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     // Our own gid: allowed without privileges.
    ///     // SAFETY: getgid takes no arguments and cannot fail.
    ///     let gid = unsafe { libc::getgid() };
    ///     let out = Command::new("id").arg("-g").gid(gid).output().await.unwrap();
    ///     assert_eq!(out.stdout, format!("{gid}\n").as_bytes());
    /// });
    /// ```
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.std.gid(id);
        self
    }

    /// Put the child in process group `pgroup` (0: a new group whose id is
    /// the child's pid; std's `CommandExt::process_group`). A terminal's
    /// Ctrl-C then no longer reaches it.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("sleep").arg("1000").process_group(0).spawn().unwrap();
    ///     let pid = child.id().unwrap() as i32;
    ///     // SAFETY: getpgid takes a plain pid; a bad one is an error code.
    ///     let pgid = unsafe { libc::getpgid(pid) };
    ///     assert_eq!(pgid, pid);
    ///     child.kill().unwrap();
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// Whether a [`Child`] dropped before it was reaped kills its process
    /// with SIGKILL. **Default `true`**, unlike std (which has no such
    /// option and never kills) and tokio (default `false`): a process
    /// outliving the scope that started it would break structured
    /// concurrency, so by default a child dropped by a cancelled scope
    /// dies with it (as trio's `run_process` kills on cancel).
    ///
    /// `kill_on_drop(false)` lets it run on detached. Either way it is
    /// reaped in the background when it exits, while the runtime lives
    /// (the [crate docs](crate#structured-by-default) have the rule).
    /// Only the child is signalled, not processes it started.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let child = Command::new("sleep").arg("1000").spawn().unwrap();
    ///     assert!(child.kill_on_drop());
    ///     drop(child); // SIGKILL, then reaped by a background task
    ///
    ///     let detached = Command::new("true").kill_on_drop(false).spawn().unwrap();
    ///     drop(detached); // runs to its end, then reaped
    /// });
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The program, as given to [`new`](Command::new).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     assert_eq!(Command::new("echo").arg("hi").get_program(), "echo");
    /// });
    /// ```
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The arguments, in order.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let mut cmd = Command::new("sh");
    ///     cmd.args(["-c", "exit 0"]);
    ///     assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-c", "exit 0"]);
    /// });
    /// ```
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The std command underneath, e.g. for `CommandExt::pre_exec` or
    /// `arg0`. Set stdio through [`Command`]'s own methods, not here:
    /// [`output`](Command::output) and [`run`](crate::run) would not know
    /// about it, and would apply their defaults over it.
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     // `sh -c` with no name after the script: `$0` is the argv[0] set here.
    ///     let mut cmd = Command::new("sh");
    ///     cmd.args(["-c", "echo $0"]).as_std_mut().arg0("greeter");
    ///     assert_eq!(cmd.output().await.unwrap().stdout, b"greeter\n");
    /// });
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Spawn the process, stdio inherited unless set. The process starts
    /// at once (this does not wait in the runtime, and is not a
    /// checkpoint); the [`Child`] is how to wait for it.
    ///
    /// ```
    /// use arbor_process::{Command, Stdio};
    ///
    /// arbor_runtime::run(async {
    ///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    ///     stdin.write_all(b"ping").await.unwrap();
    ///     drop(stdin);
    ///     let mut echoed = Vec::new();
    ///     stdout.read_to_end(&mut echoed).await.unwrap();
    ///     assert_eq!(echoed, b"ping");
    ///     assert!(child.wait().await.unwrap().success());
    /// });
    /// ```
    ///
    /// # Errors
    /// std's spawn error (`NotFound` for a missing program, `EACCES`...);
    /// `Unsupported` if the kernel has no `pidfd_open` (Linux older than
    /// 5.3): arbor watches children only through pidfds, and the child is
    /// then killed and reaped before the error is returned. Also the error
    /// of opening the pidfd or registering it or a pipe with the reactor
    /// (e.g. `EMFILE`); the child is killed and reaped then too.
    ///
    /// # Panics
    /// Outside an arbor runtime (checked before anything is spawned).
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_with(&INHERIT, self.kill_on_drop)
    }

    /// Spawn with `defaults` for the streams the caller did not set; the
    /// command keeps std's defaults afterwards.
    #[track_caller]
    fn spawn_with(&mut self, defaults: &Defaults, kill_on_drop: bool) -> io::Result<Child> {
        // Before the fork: a child nobody can watch must never exist.
        let Some(runtime) = arbor_runtime::current_runtime_id() else {
            panic!("arbor::process::Command::spawn called outside an arbor runtime");
        };
        let set = [self.stdin_set, self.stdout_set, self.stderr_set];
        let mut overridden = [false; 3];
        for (stream, default) in defaults.iter().enumerate() {
            if let Some(default) = default
                && !set[stream]
            {
                set_stream(&mut self.std, stream, default());
                overridden[stream] = true;
            }
        }
        let spawned = self.std.spawn();
        // Back to std's default (inherit) for the next spawn.
        for stream in (0..3).filter(|&s| overridden[s]) {
            set_stream(&mut self.std, stream, Stdio::inherit());
        }
        Child::adopt(spawned?, kill_on_drop, runtime)
    }

    /// Run the process to its end, stdio inherited unless set, and return
    /// its exit status (std's `status`).
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let status = Command::new("sh").args(["-c", "exit 7"]).status().await.unwrap();
    ///     assert_eq!(status.code(), Some(7));
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    ///
    /// # Cancel safety
    /// The process is spawned at the first poll, after a checkpoint: a
    /// call first polled inside a cancelled scope spawns nothing. Dropping
    /// the future after that drops the [`Child`]: the process is killed
    /// (unless [`kill_on_drop(false)`](Command::kill_on_drop)) and reaped.
    ///
    /// # Panics
    /// Outside an arbor runtime.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        checkpoint().await;
        let mut child = self.spawn_with(&INHERIT, self.kill_on_drop)?;
        child.wait().await
    }

    /// Run the process to its end and collect its output (std's
    /// `output`): stdout and stderr are captured and stdin is empty,
    /// unless set otherwise. A non-zero exit is not an error here; see
    /// [`run`](crate::run) for that.
    ///
    /// ```
    /// use arbor_process::Command;
    ///
    /// arbor_runtime::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo to-out; echo to-err >&2; exit 3"]).output().await.unwrap();
    ///     assert_eq!(out.status.code(), Some(3));
    ///     assert_eq!(out.stdout, b"to-out\n");
    ///     assert_eq!(out.stderr, b"to-err\n");
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait_with_output`].
    ///
    /// # Cancel safety
    /// As [`status`](Command::status): nothing is spawned in a cancelled
    /// scope, and a dropped call kills (unless `kill_on_drop(false)`) and
    /// reaps its process; the output read so far is lost.
    ///
    /// # Panics
    /// Outside an arbor runtime.
    pub async fn output(&mut self) -> io::Result<Output> {
        self.output_with(self.kill_on_drop).await
    }

    pub(crate) async fn output_with(&mut self, kill_on_drop: bool) -> io::Result<Output> {
        checkpoint().await;
        let child = self.spawn_with(&CAPTURE, kill_on_drop)?;
        child.wait_with_output().await
    }
}

/// Set stdin (0), stdout (1) or stderr (2).
fn set_stream(std: &mut std::process::Command, stream: usize, cfg: Stdio) {
    match stream {
        0 => std.stdin(cfg),
        1 => std.stdout(cfg),
        _ => std.stderr(cfg),
    };
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // std's form (`"sh" "-c" "..."`, with env changes and directory).
        fmt::Debug::fmt(&self.std, f)?;
        if !self.kill_on_drop {
            f.write_str(" (kill_on_drop: false)")?;
        }
        Ok(())
    }
}
