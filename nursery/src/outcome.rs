//! What counts as a failure of a child or a nursery body.

use std::error::Error;

/// A boxed error, as collected in an [`ErrorGroup`](crate::ErrorGroup).
pub type BoxError = Box<dyn Error + 'static>;

/// The output of a nursery child or body: a plain value always succeeds,
/// a `Result` fails with its `Err`.
///
/// Implemented for `Result<T, E>` (with `E` convertible to a boxed error),
/// `()`, tuples, and the common plain types of `std` (numbers, strings,
/// collections, `Option`, smart pointers, paths, addresses). For a type
/// of your own, `#[derive(arbor::Outcome)]` (feature `macros` of `arbor`)
/// makes it a plain value; any other value can be wrapped in `Ok`
/// (`Ok::<_, std::convert::Infallible>(value)`).
///
/// Rust cannot tell a `Result` from any other type in a blanket impl (that
/// would need specialization), which is why plain types are listed. Nor
/// can stable Rust give the never type `!` a trait without breaking every
/// impl of that trait in other crates (coherence cannot see through the
/// only stable way to name `!`): a child whose block never returns
/// (`async { loop { tick().await } }`, of type `!` in edition 2024) goes
/// through [`forever`], which gives it the type `()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a nursery outcome",
    label = "a nursery child or body must return a plain value or a `Result`",
    note = "add `#[derive(arbor::Outcome)]` to your type, or return `Ok::<_, std::convert::Infallible>(value)`; a block that never returns (type `!`) goes through `arbor::forever(async {{ loop {{ .. }} }})`"
)]
pub trait Outcome {
    /// The value a success carries.
    type Value;
    /// Split into success or failure.
    fn into_outcome(self) -> Result<Self::Value, BoxError>;

    /// Whether [`into_outcome`](Self::into_outcome) would give a failure,
    /// without consuming the value: `true` for an `Err`, `false` for
    /// anything else (the default, which plain values keep). Used where
    /// the value itself must be handed back untouched, as by
    /// [`per_core`](crate::per_core), whose failing core cancels the
    /// others and still returns its own `Err`. An override must agree
    /// with `into_outcome`.
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T, E: Into<BoxError>> Outcome for Result<T, E> {
    type Value = T;
    fn into_outcome(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

macro_rules! plain_outcome {
    ($($t:ty),* $(,)?) => {$(
        impl Outcome for $t {
            type Value = $t;
            fn into_outcome(self) -> Result<$t, BoxError> {
                Ok(self)
            }
        }
    )*};
}

plain_outcome!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::time::Duration,
    std::time::SystemTime,
    std::path::PathBuf,
    std::ffi::OsString,
    std::net::SocketAddr,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::process::ExitStatus,
    arbor_runtime::time::Instant,
    arbor_runtime::TaskId,
    crate::Nursery,
);

/// Gives a future that never returns the output type `()`, so a nursery
/// accepts it as a child: `async { loop { .. } }` (with no `break`) has
/// type `!` in edition 2024, which is not an [`Outcome`]
/// (see there why). The future is returned as it is; only its type is
/// pinned down.
///
/// ```
/// use std::time::Duration;
/// let rt = arbor_runtime::Runtime::builder().virtual_clock().build().unwrap();
/// rt.block_on(async {
///     let ticks = arbor_nursery::nursery(async |n| {
///         let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
///         let seen = ticks.clone();
///         n.spawn(arbor_nursery::forever(async move {
///             loop {
///                 arbor_runtime::time::sleep(Duration::from_secs(1)).await;
///                 seen.set(seen.get() + 1);
///             }
///         }));
///         arbor_runtime::time::sleep(Duration::from_millis(2500)).await;
///         n.cancel_scope().cancel(); // the looping child is dropped
///         ticks.get()
///     })
///     .await;
///     assert_eq!(ticks.unwrap(), 2);
/// });
/// ```
pub fn forever<F: std::future::Future<Output = ()>>(future: F) -> F {
    future
}

macro_rules! generic_outcome {
    ($($t:ident < $($p:ident $(: ?$sized:ident)?),+ >),* $(,)?) => {$(
        impl<$($p $(: ?$sized)?),+> Outcome for $t<$($p),+> {
            type Value = $t<$($p),+>;
            fn into_outcome(self) -> Result<Self::Value, BoxError> {
                Ok(self)
            }
        }
    )*};
}

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

generic_outcome!(
    Vec<T>,
    VecDeque<T>,
    Option<T>,
    Rc<T: ?Sized>,
    Arc<T: ?Sized>,
    Box<T: ?Sized>,
    HashMap<K, V, S>,
    HashSet<T, S>,
    BTreeMap<K, V>,
    BTreeSet<T>,
);

macro_rules! tuple_outcome {
    ($($name:ident),+) => {
        impl<$($name),+> Outcome for ($($name,)+) {
            type Value = ($($name,)+);
            fn into_outcome(self) -> Result<Self::Value, BoxError> {
                Ok(self)
            }
        }
    };
}

tuple_outcome!(A);
tuple_outcome!(A, B);
tuple_outcome!(A, B, C);
tuple_outcome!(A, B, C, D);
tuple_outcome!(A, B, C, D, E);
tuple_outcome!(A, B, C, D, E, F);
