//! Looking at our child processes through /proc.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// How long to wait for the background reaper, in real time: a bound
/// only (the loop ends as soon as the condition holds), never asserted.
pub const BOUND: Duration = Duration::from_secs(10);

/// `pid`'s state letter (`R`, `S`, `Z`...) if it is a process whose parent
/// is this test process; `None` if it is gone (reaped) or not ours (its
/// number was reused).
pub fn our_child_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid: u32 = fields.next()?.parse().ok()?;
    (ppid == std::process::id()).then_some(state)
}

/// Our running children with `marker` among their arguments (a zombie's
/// command line is empty: it is not found).
pub fn children_with_arg(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == marker.as_bytes())
            && our_child_state(pid).is_some()
        {
            found.push(pid);
        }
    }
    found
}

/// Wait until a child of ours with `marker` among its arguments runs, and
/// return its pid: for a process spawned inside a call that does not say
/// its pid ([`arbor_process::run`]). It yields without sleeping in the
/// runtime, so a virtual clock stands still meanwhile.
pub async fn running_child_with_arg(marker: &str) -> u32 {
    let start = Instant::now();
    loop {
        if let [pid] = children_with_arg(marker)[..] {
            return pid;
        }
        assert!(start.elapsed() < BOUND, "no child with {marker} showed up");
        arbor_runtime::yield_now().await;
    }
}

/// Wait (in the runtime, so its reaper tasks run) until none of `pids` is
/// a child of ours any more, bounded by [`BOUND`] of real time. Returns
/// those still there, with their states.
pub async fn until_reaped(pids: &[u32]) -> Vec<(u32, char)> {
    let start = Instant::now();
    loop {
        let left: Vec<(u32, char)> = pids
            .iter()
            .filter_map(|&pid| our_child_state(pid).map(|s| (pid, s)))
            .collect();
        if left.is_empty() || start.elapsed() > BOUND {
            return left;
        }
        // Give the kernel real time, then the runtime a turn (its reactor
        // sees the pidfds; on a virtual clock the sleep is instant).
        std::thread::sleep(Duration::from_millis(1));
        arbor_runtime::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
