//! # How arbor is built
//!
//! Where each piece of the runtime lives in the repository, and the main
//! decisions in it. arbor is Linux only: the reactor runs on io_uring
//! where the kernel allows it and on epoll otherwise, and wakes from
//! other threads go through an eventfd or a futex. The crates:
//! `arbor-runtime` (executor, tasks, timers, reactor, sockets, signals,
//! the scope tree), `arbor-nursery` (nurseries, cancel scopes),
//! `arbor-primitives` (primitives, channels, `to_thread`), `arbor-patterns`,
//! `arbor-fs`, `arbor-process` and `arbor-macros`, all re-exported by
//! `arbor`.
//!
//! | piece | where | notes |
//! | --- | --- | --- |
//! | executor | `runtime/src/executor/` | FIFO batches per tick; a task woken during a tick runs in the next one; the reactor is polled every 61 task polls while busy; idle means `epoll_wait` (or `io_uring_enter`) until the next deadline, or a futex wait when no fd is registered (`park.rs`: a waker makes a syscall only if the runtime is parked; loom models) |
//! | tasks | `runtime/src/task/` | one allocation per task, a generational slab, `JoinHandle` with abort, panics caught at the poll boundary; a future's destructor may re-enter its task (abort it, drop its handle or its runtime) safely |
//! | wakers | `runtime/src/task/waker.rs` | the waker's data word is a packed id: clone/drop/wake on the runtime thread do no atomic RMW and no allocation; wakes from other threads go through a remote queue and the runtime's parker (an eventfd or a futex wake, only when it is parked) |
//! | timers | `runtime/src/time/` | hierarchical wheel, 6 levels × 64 slots of 1 ms, O(1) insert/cancel, lazy reset; `sleep`, `interval` (burst/delay/skip), virtual clock with `advance` |
//! | reactor | `runtime/src/reactor/` | readiness from edge-triggered epoll or, on io_uring, one multishot `POLL_ADD` per fd (the same edge contract), stamped so clearing cannot erase a newer event; `io::Async<T>` turns any fd into readiness futures; the backend is chosen per runtime (`IoBackend`, `ARBOR_IO_BACKEND`) |
//! | io_uring | `runtime/src/reactor/uring/`, `reactor/completion.rs` | byte streams complete in the reactor: a multishot `RECV` per stream into provided buffers (a stream holds 8 at most; a stream the ring has none for reads by syscall), writes copied and sent in batches with one `SEND` in flight per stream; one `io_uring_enter` per tick submits and reaps, none when nothing is queued (`DEFER_TASKRUN`); removals wait until the kernel let go of the fd; the ring's shared memory is `uring/sys.rs`, run under ASan in CI |
//! | scope tree | `runtime/src/scope/` | `Region`, the one guard every scope runs its code in (enter, poll inside, drop decision, arm the deadline, close), `ScopeCell` (a scope's settings, apart from its node), and the nodes cancel scopes, nurseries and tasks hang off; cancellation walks the tree with an explicit stack and wakes exactly the code inside; a timeout, a plain scope or a child that completes at once makes no node, a suspended timeout keeps only a timer entry (none if an enclosing timeout's deadline covers it) |
//! | nurseries, cancel scopes | `nursery/` | `nursery`, `supervisor`, `server`, `CancelScope`/`CancelHandle`, `move_on_after`/`fail_after`, `shield`, `start`/`TaskStatus`, error groups |
//! | primitives, channels | `primitives/` | one FIFO wait queue (`waiters.rs`, its own small slab) under every primitive; one `unsafe` (`OwnedMutexGuard`), run under Miri |
//! | patterns | `patterns/` | `Pool`, `map_concurrent`, `retry`, `WorkerPool`; no `unsafe` |
//! | sockets | `runtime/src/net/` | TCP, UDP, Unix stream and datagram sockets on `io::Async`: non-blocking connect, `futures-io` traits (also on `&TcpStream`), borrowed and owned halves, `incoming()`, `MSG_NOSIGNAL` sends, an accept that backs off after `EMFILE`, host names resolved on a worker thread |
//! | files | `fs/` | `arbor::fs`: free functions (one hop each), `File` (read-ahead, double-buffered writes, the hop in flight owned by the file), `ReadDir` (64 entries per hop); no `unsafe` |
//! | blocking pool | `runtime/src/blocking/`, `primitives/src/to_thread.rs` | per-runtime worker threads (started on demand, reused, retired when idle) with an `Arc` completion slot whose wake rides the remote queue; loom models for completion, abandon and token release; the limiter and cancellation policy on top, in the primitives |
//! | signals | `runtime/src/signal.rs` | `ctrl_c()`, `signal(kind)`: a process-wide handler bumps per-signal counters and writes each listener's eventfd, so every listener sees every delivery |
//! | processes | `process/` | `Command` on `std::process::Command`; a child's exit is a pidfd on the reactor (no `SIGCHLD` handler); pipes are `futures-io` streams; a dropped `Child` is killed (by default) and reaped by a root task |
//! | syscalls | `runtime/src/reactor/epoll/`, `runtime/src/reactor/uring/sys.rs`, `process/src/sys.rs` | the only code that calls `libc` (epoll, io_uring, eventfd, futex, sockets, signal handler; `pidfd_open`, `pidfd_send_signal`) |
//!
//! Per-task bookkeeping is 64 bytes beyond the future (a 48-byte header in
//! the task's allocation, 16 bytes of which are the await point and park
//! time [`dump`](crate::dump) shows, and a 16-byte slab slot), checked by
//! the unit test `executor::tests::bookkeeping_is_64_bytes_per_task`.
