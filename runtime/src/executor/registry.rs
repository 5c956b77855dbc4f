//! The process-wide map from runtime key to remote queue.
//!
//! A waker carries only a 20-bit runtime key (see `task::waker`), so a wake
//! on a thread that is not running that runtime looks the key up here. This
//! is the thread-crossing path; wakes on the runtime's own thread never
//! touch it. Each waking thread remembers its last lookup as a `Weak`, so a
//! thread that keeps waking tasks of one runtime takes the global lock
//! once; the `Weak` keeps nothing alive, so a dropped runtime's eventfd is
//! closed at once and a stale cache entry fails to upgrade.
//!
//! The protocol that makes a stale cache entry safe: `unregister` retires
//! the queue while it holds the registry lock, before the key can be handed
//! to a new runtime, and a cache hit counts only while the queue is not
//! retired. Its loom model is at the bottom of this file; the logic it
//! shares with the model ([`Registry`]'s methods and [`cache_hit`]) is
//! generic over [`Handle`], std's `Arc`/`Weak` here, loom's `Arc` there.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::{Doorbell, Remote, RemoteQueue};
use crate::task::waker::{RT_MASK, WakeId};

/// How the registry holds a runtime's queue (`Self`) and how a waking
/// thread's cache points at it (`Cached`).
trait Handle: Clone {
    type Cached;
    fn downgrade(&self) -> Self::Cached;
    fn upgrade(cached: &Self::Cached) -> Option<Self>;
    fn retire(&self);
    fn is_retired(&self) -> bool;
}

impl<D: Doorbell> Handle for Arc<Remote<D>> {
    type Cached = Weak<Remote<D>>;

    fn downgrade(&self) -> Weak<Remote<D>> {
        Arc::downgrade(self)
    }

    fn upgrade(cached: &Weak<Remote<D>>) -> Option<Self> {
        cached.upgrade()
    }

    fn retire(&self) {
        Remote::retire(self);
    }

    fn is_retired(&self) -> bool {
        Remote::is_retired(self)
    }
}

struct Registry<H> {
    next: u32,
    live: HashMap<u32, H>,
}

impl<H: Handle> Registry<H> {
    fn new() -> Self {
        Registry {
            next: 0,
            live: HashMap::new(),
        }
    }

    /// A key no live runtime has.
    fn insert(&mut self, remote: H) -> u32 {
        assert!(
            self.live.len() < RT_MASK as usize,
            "too many arbor runtimes alive at once (at most {RT_MASK})"
        );
        loop {
            let key = self.next;
            self.next = (self.next + 1) & RT_MASK;
            if let Entry::Vacant(slot) = self.live.entry(key) {
                slot.insert(remote);
                return key;
            }
        }
    }

    /// Removes `key` and retires its queue, both under the caller's lock:
    /// the key is free for a new runtime only once a cached handle to the
    /// old queue reads as retired. The caller drops the result after
    /// unlocking (it may free the queue and close its eventfd).
    #[must_use = "drop the removed queue after unlocking"]
    fn remove(&mut self, key: u32) -> Option<H> {
        let removed = self.live.remove(&key);
        if let Some(remote) = &removed {
            remote.retire();
        }
        removed
    }

    fn get(&self, key: u32) -> Option<H> {
        self.live.get(&key).cloned()
    }
}

/// A thread's cached lookup, if it is for `key` and its queue has not been
/// retired since (a retired queue's key may belong to a new runtime now).
fn cache_hit<H: Handle>(cache: &Option<(u32, H::Cached)>, key: u32) -> Option<H> {
    match cache {
        Some((k, cached)) if *k == key => H::upgrade(cached).filter(|r| !r.is_retired()),
        _ => None,
    }
}

static REGISTRY: LazyLock<Mutex<Registry<Arc<RemoteQueue>>>> =
    LazyLock::new(|| Mutex::new(Registry::new()));

thread_local! {
    /// The last runtime this thread woke a task of.
    static LAST: RefCell<Option<(u32, Weak<RemoteQueue>)>> = const { RefCell::new(None) };
}

fn registry() -> std::sync::MutexGuard<'static, Registry<Arc<RemoteQueue>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Give a new runtime a key no live runtime has.
pub(crate) fn register(remote: Arc<RemoteQueue>) -> u32 {
    registry().insert(remote)
}

pub(crate) fn unregister(key: u32) {
    let mut reg = registry();
    let removed = reg.remove(key);
    drop(reg);
    // The queue (and its eventfd) may be freed here: outside the lock.
    drop(removed);
}

fn lookup(key: u32) -> Option<Arc<RemoteQueue>> {
    let cached = LAST
        .try_with(|last| cache_hit(&last.borrow(), key))
        .ok()
        .flatten();
    if cached.is_some() {
        return cached;
    }
    let remote = registry().get(key)?;
    let _ = LAST.try_with(|last| *last.borrow_mut() = Some((key, remote.downgrade())));
    Some(remote)
}

/// A wake from a thread that is not running the task's runtime.
pub(crate) fn wake_remote(id: WakeId) {
    if let Some(remote) = lookup(id.runtime()) {
        remote.push(id);
    }
}

/// Loom model of the lookup/retire protocol.
///
/// The registry is a loom `Mutex<Registry<_>>` and each waking thread's
/// `LAST` a local `Option`; `register`, `unregister` and `lookup` are
/// mirrored line by line around the shared [`Registry`] methods and
/// [`cache_hit`].
///
/// Loom's `Arc` has no `Weak`, so the cache holds a strong `Arc` and
/// "upgrade" always succeeds. That is a superset of the real behaviour: a
/// real upgrade also succeeds whenever anyone still holds the queue (the
/// dropping runtime keeps its own `Arc` until after `unregister`), and when
/// it fails the real lookup goes to the registry, which the model does too
/// whenever it reads the queue as retired (it always is by then). What the
/// strong cache changes is only when a queue is freed, which is not checked
/// here.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc as LoomArc;
    use loom::sync::atomic::{AtomicBool, AtomicUsize};
    use loom::sync::{Mutex as LoomMutex, MutexGuard};

    use crate::sync::Ordering::{Acquire, Release, SeqCst};

    #[derive(Default)]
    struct Bell(AtomicUsize);

    impl Doorbell for Bell {
        fn ring(&self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    type Queue = LoomArc<Remote<Bell>>;

    impl Handle for Queue {
        type Cached = Queue;

        fn downgrade(&self) -> Queue {
            self.clone()
        }

        fn upgrade(cached: &Queue) -> Option<Queue> {
            Some(cached.clone())
        }

        fn retire(&self) {
            Remote::retire(self);
        }

        fn is_retired(&self) -> bool {
            Remote::is_retired(self)
        }
    }

    type Reg = LoomMutex<Registry<Queue>>;

    fn lock(reg: &Reg) -> MutexGuard<'_, Registry<Queue>> {
        reg.lock().unwrap()
    }

    /// `unregister`.
    fn unregister(reg: &Reg, key: u32) {
        let mut guard = lock(reg);
        let removed = guard.remove(key);
        drop(guard);
        drop(removed);
    }

    /// `lookup` with `cache` as this thread's `LAST`; also says whether the
    /// queue came from the cache.
    fn lookup(reg: &Reg, cache: &mut Option<(u32, Queue)>, key: u32) -> Option<(Queue, bool)> {
        if let Some(hit) = cache_hit(cache, key) {
            return Some((hit, true));
        }
        let remote = lock(reg).get(key)?;
        *cache = Some((key, remote.downgrade()));
        Some((remote, false))
    }

    fn drained(queue: &Queue) -> Vec<WakeId> {
        let mut ids = Vec::new();
        queue.drain_into(&mut ids, &mut Vec::new());
        ids
    }

    /// Runtime 1 (key 0) is dropped on its thread while another thread,
    /// whose cache still points at it, wakes one of its tasks. A third
    /// thread then creates runtime 2, which gets key 0 again (the model's
    /// stand-in for the 20-bit key space wrapping), and hands a waker of
    /// its task to the waking thread, which wakes it.
    ///
    /// Runtime 2's wake reaches runtime 2's queue, exactly once, and never
    /// the old queue through the stale cache (that would lose it). A wake
    /// that hits the stale cache goes to runtime 1's queue only, never to
    /// runtime 2's; runtime 1's id can reach runtime 2 only through the
    /// registry, after the key was reused: a spurious wake that the task's
    /// generation check absorbs.
    #[test]
    fn loom_model_registry_stale_cache_never_reaches_new_runtime() {
        loom::model(|| {
            let old_id = WakeId::task(0, 1, 0);
            let new_id = WakeId::task(0, 2, 0);
            let reg: LoomArc<Reg> = LoomArc::new(LoomMutex::new(Registry::new()));
            let rt1: Queue = LoomArc::new(Remote::new(Bell::default()));
            assert_eq!(lock(&reg).insert(rt1.clone()), 0);
            // The waking thread woke a task of runtime 1 before.
            let mut cache = Some((0, rt1.downgrade()));
            // Runtime 2, once created; `handed` is the waker's hand-off.
            let rt2: LoomArc<LoomMutex<Option<Queue>>> = LoomArc::new(LoomMutex::new(None));
            let handed = LoomArc::new(AtomicBool::new(false));

            let dropper = {
                let reg = reg.clone();
                loom::thread::spawn(move || {
                    unregister(&reg, 0);
                    // `Core`'s drop: what is left in the queue is discarded.
                    drop(drained(&rt1));
                    rt1
                })
            };
            let creator = {
                let (reg, rt2, handed) = (reg.clone(), rt2.clone(), handed.clone());
                loom::thread::spawn(move || {
                    let queue: Queue = LoomArc::new(Remote::new(Bell::default()));
                    *rt2.lock().unwrap() = Some(queue.clone());
                    loop {
                        let mut guard = lock(&reg);
                        if !guard.live.contains_key(&0) {
                            guard.next = 0;
                            assert_eq!(guard.insert(queue), 0);
                            break;
                        }
                        drop(guard);
                        loom::thread::yield_now();
                    }
                    handed.store(true, Release);
                })
            };

            // The waking thread (this one).
            let old_wake = lookup(&reg, &mut cache, 0).map(|(q, from_cache)| {
                q.push(old_id);
                (q, from_cache)
            });
            while !handed.load(Acquire) {
                loom::thread::yield_now();
            }
            let (new_queue, _) = lookup(&reg, &mut cache, 0).expect("runtime 2 is registered");
            new_queue.push(new_id);

            let rt1 = dropper.join().unwrap();
            creator.join().unwrap();
            let rt2 = rt2.lock().unwrap().take().unwrap();
            assert!(
                LoomArc::ptr_eq(&new_queue, &rt2),
                "runtime 2's wake went elsewhere"
            );
            let in_rt2 = drained(&rt2);
            assert_eq!(in_rt2.iter().filter(|&&id| id == new_id).count(), 1);
            if let Some((q, true)) = &old_wake {
                assert!(LoomArc::ptr_eq(q, &rt1));
                assert!(
                    !in_rt2.contains(&old_id),
                    "a stale cache hit reached runtime 2"
                );
            }
            assert!(!drained(&rt1).contains(&new_id));
        });
    }
}
