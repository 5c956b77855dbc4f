//! The worker's side of a [`File`](super::File) operation: one [`Plan`],
//! run in one thread hop, reported back as one [`Done`].
//!
//! Every plan first brings the OS cursor to the position the user sees
//! (steps back over read-ahead the user has not consumed, writes the bytes
//! writes have accepted), then runs its action. A step that fails stops
//! the plan: what comes after it would run at the wrong position.

use std::fs::File as StdFile;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// What one hop does, in order: rewind, write, action.
pub(super) struct Plan {
    pub(super) file: Arc<StdFile>,
    /// Read-ahead bytes the user has not consumed: the OS cursor is this
    /// far ahead of the user's position.
    pub(super) rewind: u64,
    /// Bytes accepted by writes and not yet written (may be empty).
    pub(super) write: Vec<u8>,
    pub(super) action: Action,
}

/// The step after the cursor is where the user sees it.
pub(super) enum Action {
    /// Nothing more: a flush (or the rewind alone, before `into_std`).
    Flush,
    /// One `read` of up to `len` bytes into `buf` (grown as needed).
    Read {
        buf: Vec<u8>,
        len: usize,
    },
    /// `read_to_end` into `buf` (cleared first).
    ReadToEnd {
        buf: Vec<u8>,
    },
    Seek(SeekFrom),
    SyncAll,
    SyncData,
    SetLen(u64),
}

impl Action {
    /// Whether the action needs the OS cursor where the user sees it even
    /// with nothing to write (a read needs it only after a write: it runs
    /// with no read-ahead left otherwise).
    pub(super) fn needs_position(&self) -> bool {
        // `SetLen` too: read-ahead past the new end would be stale.
        matches!(self, Action::Seek(_) | Action::SetLen(_) | Action::Flush)
    }

    /// The outcome of this action when an earlier step failed with `e`
    /// and nothing was written.
    fn failed(self, e: io::Error) -> Ran {
        match self {
            Action::Read { buf, .. } | Action::ReadToEnd { buf } => Ran::Read {
                buf,
                filled: 0,
                result: Err(e),
            },
            Action::Seek(_) => Ran::Seek(Err(e)),
            Action::Flush | Action::SyncAll | Action::SyncData | Action::SetLen(_) => {
                Ran::Unit(Err(e))
            }
        }
    }
}

/// How the rewind went.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rewound {
    /// Nothing to rewind, or the rewind failed (the cursor did not move).
    No,
    /// The cursor is back at the user's position; the read-ahead is void.
    Yes,
    /// The file has no cursor (a pipe, a terminal): reads and writes do
    /// not share a position, so the read-ahead is still the next data.
    NotSeekable,
}

/// What the action did.
pub(super) enum Ran {
    /// It did not run: an earlier step failed (`Done::write_error` says
    /// why), or it was a read on a file that cannot rewind after a write
    /// (its read-ahead is still unread).
    Skipped,
    /// A read: `buf[..filled]` are the bytes read (a `read_to_end` may
    /// have some even if it failed).
    Read {
        buf: Vec<u8>,
        filled: usize,
        result: io::Result<()>,
    },
    Seek(io::Result<u64>),
    Unit(io::Result<()>),
}

/// The report of one hop.
pub(super) struct Done {
    pub(super) rewound: Rewound,
    /// The write buffer, emptied, for reuse.
    pub(super) write: Vec<u8>,
    /// The error that stopped the plan before its action: of the write,
    /// or of the rewind if there were bytes to write.
    pub(super) write_error: Option<io::Error>,
    pub(super) action: Ran,
}

impl Plan {
    /// Run on a worker thread.
    pub(super) fn run(self) -> Done {
        let Plan {
            file,
            rewind,
            mut write,
            action,
        } = self;
        let mut f = &*file;
        let mut done = Done {
            rewound: Rewound::No,
            write: Vec::new(),
            write_error: None,
            action: Ran::Skipped,
        };
        if rewind > 0 {
            match seek_back(f, rewind) {
                Ok(()) => done.rewound = Rewound::Yes,
                Err(e) if e.kind() == io::ErrorKind::NotSeekable => {
                    done.rewound = Rewound::NotSeekable;
                }
                Err(e) => {
                    // The cursor did not move; writing or acting now would
                    // do it at the wrong place.
                    if write.is_empty() {
                        done.action = action.failed(e);
                    } else {
                        done.write_error = Some(e);
                    }
                    write.clear();
                    done.write = write;
                    return done;
                }
            }
        }
        if !write.is_empty() {
            let written = f.write_all(&write);
            write.clear();
            if let Err(e) = written {
                done.write = write;
                done.write_error = Some(e);
                return done;
            }
        }
        done.write = write;
        let no_cursor = done.rewound == Rewound::NotSeekable;
        done.action = match action {
            // The read-ahead is still the next data: read it first.
            Action::Read { .. } | Action::ReadToEnd { .. } if no_cursor => Ran::Skipped,
            Action::Flush => Ran::Unit(Ok(())),
            Action::Read { mut buf, len } => {
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                match read_once(f, &mut buf[..len]) {
                    Ok(filled) => Ran::Read {
                        buf,
                        filled,
                        result: Ok(()),
                    },
                    Err(e) => Ran::Read {
                        buf,
                        filled: 0,
                        result: Err(e),
                    },
                }
            }
            Action::ReadToEnd { mut buf } => {
                buf.clear();
                // std's `read_to_end` for files sizes the buffer from the
                // file's length; on error the bytes read so far are kept.
                let result = f.read_to_end(&mut buf).map(drop);
                Ran::Read {
                    filled: buf.len(),
                    buf,
                    result,
                }
            }
            Action::Seek(pos) => Ran::Seek(f.seek(pos)),
            Action::SyncAll => Ran::Unit(file.sync_all()),
            Action::SyncData => Ran::Unit(file.sync_data()),
            Action::SetLen(len) => Ran::Unit(file.set_len(len)),
        };
        done
    }
}

/// Move the cursor back `n` bytes.
fn seek_back(mut f: &StdFile, n: u64) -> io::Result<()> {
    // Read-ahead is held in memory, so it is far below `i64::MAX`.
    let back = i64::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    f.seek(SeekFrom::Current(-back)).map(drop)
}

/// One `read`, retried if a signal interrupted it (as `read_exact` does).
fn read_once(mut f: &StdFile, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
