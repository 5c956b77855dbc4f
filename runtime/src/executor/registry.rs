//! The process-wide map from runtime key to remote queue.
//!
//! A waker carries only a 20-bit runtime key (see `task::waker`), so a wake
//! on a thread that is not running that runtime looks the key up here. This
//! is the thread-crossing path; wakes on the runtime's own thread never
//! touch it. Each waking thread remembers its last lookup as a `Weak`, so a
//! thread that keeps waking tasks of one runtime takes the global lock
//! once; the `Weak` keeps nothing alive, so a dropped runtime's eventfd is
//! closed at once and a stale cache entry fails to upgrade.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::RemoteQueue;
use crate::task::waker::{RT_MASK, WakeId};

struct Registry {
    next: u32,
    live: HashMap<u32, Arc<RemoteQueue>>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| {
    Mutex::new(Registry {
        next: 0,
        live: HashMap::new(),
    })
});

thread_local! {
    /// The last runtime this thread woke a task of.
    static LAST: RefCell<Option<(u32, Weak<RemoteQueue>)>> = const { RefCell::new(None) };
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Give a new runtime a key no live runtime has.
pub(crate) fn register(remote: Arc<RemoteQueue>) -> u32 {
    let mut reg = registry();
    assert!(
        reg.live.len() < RT_MASK as usize,
        "too many arbor runtimes alive at once (at most {RT_MASK})"
    );
    loop {
        let key = reg.next;
        reg.next = (reg.next + 1) & RT_MASK;
        if let Entry::Vacant(slot) = reg.live.entry(key) {
            slot.insert(remote);
            return key;
        }
    }
}

pub(crate) fn unregister(key: u32) {
    let mut reg = registry();
    let removed = reg.live.remove(&key);
    if let Some(remote) = &removed {
        remote.retire();
    }
    drop(reg);
    // The queue (and its eventfd) may be freed here: outside the lock.
    drop(removed);
}

fn lookup(key: u32) -> Option<Arc<RemoteQueue>> {
    let cached = LAST
        .try_with(|last| match &*last.borrow() {
            // A queue is retired (under the registry lock) before its key
            // can be handed to a new runtime.
            Some((k, weak)) if *k == key => weak.upgrade().filter(|r| !r.is_retired()),
            _ => None,
        })
        .ok()
        .flatten();
    if cached.is_some() {
        return cached;
    }
    let remote = registry().live.get(&key).cloned()?;
    let _ = LAST.try_with(|last| *last.borrow_mut() = Some((key, Arc::downgrade(&remote))));
    Some(remote)
}

/// A wake from a thread that is not running the task's runtime.
pub(crate) fn wake_remote(id: WakeId) {
    if let Some(remote) = lookup(id.runtime()) {
        remote.push(id);
    }
}
