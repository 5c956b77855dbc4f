//! Errors of nurseries, their children and `start`.

use std::any::Any;
use std::fmt;

use crate::outcome::BoxError;

/// One failure in a nursery: a child's or the body's `Err`.
pub struct Failure {
    task: Option<String>,
    error: BoxError,
}

impl Failure {
    pub(crate) fn new(task: Option<String>, error: BoxError) -> Self {
        Failure { task, error }
    }

    /// The failing child's name (`None` for the body or an unnamed child).
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// The error.
    pub fn error(&self) -> &(dyn std::error::Error + 'static) {
        &*self.error
    }

    /// Take the error out.
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("task", &self.task)
            .field("error", &self.error.to_string())
            .finish()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(name) => write!(f, "task {name:?} failed: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// Every failure of a nursery, in the order they happened.
#[derive(Debug)]
pub struct ErrorGroup {
    failures: Vec<Failure>,
    /// Failures past the ones kept (a server nursery keeps a bounded number).
    dropped: usize,
}

impl ErrorGroup {
    pub(crate) fn new(failures: Vec<Failure>, dropped: usize) -> Self {
        ErrorGroup { failures, dropped }
    }

    /// The failures, first first.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Take the failures out.
    pub fn into_failures(self) -> Vec<Failure> {
        self.failures
    }

    /// How many failures were not kept (only a server nursery drops any).
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Number of failures kept.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Whether no failure was kept.
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for ErrorGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} task(s) in the nursery failed",
            self.failures.len() + self.dropped
        )?;
        for (i, failure) in self.failures.iter().enumerate() {
            write!(f, "\n  {}: {failure}", i + 1)?;
        }
        if self.dropped > 0 {
            write!(f, "\n  ... and {} more not kept", self.dropped)?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorGroup {}

/// Why a nursery returned no body value.
#[derive(Debug)]
pub enum NurseryError {
    /// Children or the body failed; the nursery cancelled the rest and
    /// waited for them.
    Failed(ErrorGroup),
    /// The nursery's own cancel scope was cancelled (through
    /// [`Nursery::cancel_scope`](crate::Nursery::cancel_scope) or its
    /// deadline) before the body finished.
    Cancelled,
}

impl NurseryError {
    /// The error group, if the nursery failed.
    pub fn failures(&self) -> Option<&ErrorGroup> {
        match self {
            NurseryError::Failed(group) => Some(group),
            NurseryError::Cancelled => None,
        }
    }
}

impl fmt::Display for NurseryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NurseryError::Failed(group) => group.fmt(f),
            NurseryError::Cancelled => {
                f.write_str("the nursery's cancel scope was cancelled before its body finished")
            }
        }
    }
}

impl std::error::Error for NurseryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NurseryError::Failed(group) => Some(group),
            NurseryError::Cancelled => None,
        }
    }
}

/// Why awaiting a child's [`ChildHandle`](crate::ChildHandle) gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildError {
    /// The child was cancelled (alone, or with its nursery) and dropped.
    Cancelled,
    /// The child returned an `Err`; the error is in the nursery's group.
    Failed,
    /// The child panicked; the nursery re-raises the panic.
    Panicked,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildError::Cancelled => "the child task was cancelled before it finished",
            ChildError::Failed => {
                "the child task failed; its error is in the nursery's error group"
            }
            ChildError::Panicked => "the child task panicked; the nursery re-raises the panic",
        })
    }
}

impl std::error::Error for ChildError {}

/// Why [`Nursery::start`](crate::Nursery::start) gave no value.
#[derive(Debug)]
pub enum StartError {
    /// The child failed before calling `started`; the failure is here, not
    /// in the nursery's group, and the nursery is not cancelled.
    Failed(Failure),
    /// The child returned without calling `started`.
    NotStarted,
    /// The child was cancelled before calling `started`.
    Cancelled,
    /// The nursery was closed.
    Closed,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Failed(failure) => write!(f, "the task failed before it started: {failure}"),
            StartError::NotStarted => f.write_str(
                "the task returned without calling TaskStatus::started; call it once initialisation is done",
            ),
            StartError::Cancelled => f.write_str("the task was cancelled before it started"),
            StartError::Closed => f.write_str("cannot start a task in a closed nursery"),
        }
    }
}

impl std::error::Error for StartError {}

/// `TaskStatus::started` was called a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskStatus::started was already called; call it exactly once")
    }
}

impl std::error::Error for AlreadyStarted {}

/// A panic payload, kept until every child has finished.
pub(crate) type Panic = Box<dyn Any + Send>;
