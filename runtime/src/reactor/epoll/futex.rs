//! `futex(2)` on a 32-bit atomic: the runtime thread's wait when no fd is
//! registered (see `executor/park.rs`). Private futexes: the word is in
//! this process's memory only.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Block while `*word == expected`, at most `timeout` (`None`: until woken).
///
/// Returns on a wake, on the timeout, when `*word` no longer equals
/// `expected` at the call (`EAGAIN`), or spuriously (`EINTR`); the caller
/// re-checks its condition in every case, so the result is not reported.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `word` is a live, aligned `u32` for the whole call (the
    // kernel only reads it, atomically), and `ts_ptr` is null or points at
    // `ts`, which outlives the call. FUTEX_WAIT's other arguments are
    // ignored.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
}

/// Wake one thread blocked in [`futex_wait`] on `word`, if any.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses `word`'s address as a key; it neither
    // reads nor writes memory through it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let word = AtomicU32::new(1);
        futex_wait(&word, 0, None); // would block forever if it compared wrongly
    }

    #[test]
    fn wait_returns_on_its_timeout() {
        let word = AtomicU32::new(0);
        futex_wait(&word, 0, Some(Duration::from_millis(1)));
    }

    #[test]
    fn wake_ends_a_wait_from_another_thread() {
        let word = Arc::new(AtomicU32::new(0));
        let waker = {
            let word = word.clone();
            std::thread::spawn(move || {
                word.store(1, Ordering::SeqCst);
                futex_wake(&word);
            })
        };
        while word.load(Ordering::SeqCst) == 0 {
            futex_wait(&word, 0, None);
        }
        waker.join().unwrap();
    }
}
