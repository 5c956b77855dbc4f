//! The permits a [`Semaphore`] hands out: borrowed and owned; dropping
//! one gives its permits back.

use std::fmt;
use std::rc::Rc;

use super::Semaphore;

/// Permits held; dropping it releases them.
#[must_use = "dropping a permit releases it at once"]
pub struct SemaphorePermit<'a> {
    pub(super) sem: &'a Semaphore,
    pub(super) n: usize,
}

impl SemaphorePermit<'_> {
    /// Keep the permits out of the semaphore for good: they no longer
    /// count towards its maximum, and [`Semaphore::release`] or
    /// [`Semaphore::add_permits`] may put them back.
    pub fn forget(mut self) {
        // `total` counts these `n` held permits, so it is at least `n`.
        self.sem.total.set(self.sem.total.get() - self.n);
        self.n = 0;
    }

    /// How many permits this guard holds.
    pub fn permits(&self) -> usize {
        self.n
    }

    /// The count of permits held, which the caller now holds instead of
    /// this guard.
    pub(super) fn into_count(mut self) -> usize {
        std::mem::take(&mut self.n)
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.give_back(self.n);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

/// Permits held through an `Rc<Semaphore>` ([`Semaphore::acquire_owned`]):
/// `'static`, so it can move into another task; dropping it releases them.
#[must_use = "dropping a permit releases it at once"]
pub struct OwnedSemaphorePermit {
    pub(super) sem: Rc<Semaphore>,
    pub(super) n: usize,
}

impl OwnedSemaphorePermit {
    /// Keep the permits out of the semaphore for good, as
    /// [`SemaphorePermit::forget`].
    ///
    /// ```
    /// use std::rc::Rc;
    /// use arbor_primitives::Semaphore;
    ///
    /// arbor_runtime::run(async {
    ///     let sem = Rc::new(Semaphore::new(1));
    ///     sem.clone().acquire_owned().await.forget();
    ///     assert_eq!(sem.available_permits(), 0);
    ///     sem.release().unwrap();
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn forget(mut self) {
        // `total` counts these `n` held permits, so it is at least `n`.
        self.sem.total.set(self.sem.total.get() - self.n);
        self.n = 0;
    }

    /// How many permits this guard holds.
    pub fn permits(&self) -> usize {
        self.n
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Rc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    #[inline]
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.give_back(self.n);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}
