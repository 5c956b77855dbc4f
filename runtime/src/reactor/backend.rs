//! Which kernel interface a reactor runs on, and how `Auto` is decided.

use std::io;

/// The kernel interface a runtime's reactor uses to learn about I/O.
///
/// Set with [`Builder::io_backend`](crate::Builder::io_backend); the
/// environment variable `ARBOR_IO_BACKEND` (`epoll`, `io_uring` or
/// `auto`) decides for runtimes built with [`Auto`](IoBackend::Auto),
/// the default, so a whole test suite can be run under either backend.
/// Both carry the same public API; [`Runtime::io_backend`] tells which one
/// a runtime got.
///
/// [`Runtime::io_backend`]: crate::Runtime::io_backend
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoBackend {
    /// `ARBOR_IO_BACKEND` if it is set; otherwise io_uring where the
    /// kernel allows it (5.11+, not disabled by a seccomp filter or
    /// `kernel.io_uring_disabled`), epoll where it does not.
    #[default]
    Auto,
    /// Edge-triggered epoll.
    Epoll,
    /// io_uring; building the runtime fails where the kernel refuses it.
    IoUring,
}

impl IoBackend {
    /// The environment variable that decides for [`IoBackend::Auto`].
    pub const ENV: &'static str = "ARBOR_IO_BACKEND";

    /// `Auto` with the environment applied: `Auto` itself when the
    /// variable is unset or says `auto`.
    pub(super) fn resolve_env(self) -> io::Result<IoBackend> {
        self.resolve(std::env::var(Self::ENV))
    }

    pub(super) fn resolve(self, env: Result<String, std::env::VarError>) -> io::Result<IoBackend> {
        if self != IoBackend::Auto {
            return Ok(self);
        }
        match env {
            Err(std::env::VarError::NotPresent) => Ok(IoBackend::Auto),
            Ok(v) if v.eq_ignore_ascii_case("auto") || v.is_empty() => Ok(IoBackend::Auto),
            Ok(v) if v.eq_ignore_ascii_case("epoll") => Ok(IoBackend::Epoll),
            Ok(v) if v.eq_ignore_ascii_case("io_uring") || v.eq_ignore_ascii_case("uring") => {
                Ok(IoBackend::IoUring)
            }
            Ok(v) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}={v:?}: expected `epoll`, `io_uring` or `auto`",
                    Self::ENV
                ),
            )),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: {e}", Self::ENV),
            )),
        }
    }
}
