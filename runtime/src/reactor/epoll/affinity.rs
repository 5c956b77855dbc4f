//! CPU affinity (`sched_getaffinity`/`sched_setaffinity`): pinning the
//! calling thread to one CPU, for [`Builder::pin_to_cpu`](crate::Builder::pin_to_cpu).

use std::fmt;
use std::io;
use std::mem;

use super::cvt;

/// A thread's CPU affinity mask, to put back on another thread: the
/// blocking pool's workers of a pinned runtime get the mask its thread
/// had before the pin, not the pin.
#[derive(Clone, Copy)]
pub(crate) struct CpuMask(libc::cpu_set_t);

impl CpuMask {
    /// Sets the calling thread's mask to this one.
    pub(crate) fn apply(&self) -> io::Result<()> {
        // SAFETY: `self.0` is valid for reads of `size_of::<cpu_set_t>()`
        // bytes, the size passed; pid 0 is the calling thread.
        cvt(unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &self.0) })?;
        Ok(())
    }

    fn cpus(&self) -> Vec<usize> {
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below `CPU_SETSIZE`, the number of bits in
            // a `cpu_set_t`, so the macro's index stays inside the set.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &self.0) })
            .collect()
    }
}

impl fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuMask({})", ranges(&self.cpus()))
    }
}

/// The CPUs the calling thread may run on, as a sorted list.
#[cfg(test)]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    Ok(thread_mask()?.cpus())
}

/// The calling thread's mask.
pub(crate) fn thread_mask() -> io::Result<CpuMask> {
    // SAFETY: `cpu_set_t` is plain old data; all-zero is an empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is valid for writes of `size_of::<cpu_set_t>()` bytes,
    // the size passed; pid 0 is the calling thread.
    cvt(unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    Ok(CpuMask(set))
}

/// Pins the calling thread to `cpu` alone. Fails with `InvalidInput`,
/// naming the CPUs allowed, if `cpu` does not exist or is outside the
/// thread's current affinity mask (a cgroup's or `taskset`'s limit): the
/// kernel's own answer would be a bare `EINVAL`. Returns the mask the
/// thread had before.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<CpuMask> {
    let before = thread_mask()?;
    let allowed = before.cpus();
    if !allowed.contains(&cpu) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot pin to CPU {cpu}: it does not exist or this thread may not run on it \
                 (allowed CPUs: {})",
                ranges(&allowed)
            ),
        ));
    }
    // SAFETY: plain old data; all-zero is an empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `cpu` is in `allowed`, whose members are all below
    // `CPU_SETSIZE`, so the macro's index stays inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    CpuMask(set).apply()?;
    Ok(before)
}

/// `[0, 1, 2, 5]` as `0-2,5`.
fn ranges(cpus: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        out.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[0, 1, 2, 5]), "0-2,5");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[]), "none");
    }

    #[test]
    fn a_cpu_that_does_not_exist_is_a_clear_error() {
        let err = std::thread::spawn(|| pin_current_thread(libc::CPU_SETSIZE as usize + 7))
            .join()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("allowed CPUs"), "{err}");
    }

    #[test]
    fn pinning_to_an_allowed_cpu_narrows_the_mask_to_it() {
        let cpu = *allowed_cpus().unwrap().last().unwrap();
        let all = allowed_cpus().unwrap();
        let (after, restored) = std::thread::spawn(move || {
            let before = pin_current_thread(cpu).unwrap();
            let after = allowed_cpus().unwrap();
            before.apply().unwrap();
            (after, allowed_cpus().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(after, [cpu]);
        assert_eq!(restored, all);
    }
}
