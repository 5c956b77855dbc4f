//! What counts as a failure of a child or a nursery body.

use std::error::Error;

/// A boxed error, as collected in an [`ErrorGroup`](crate::ErrorGroup).
pub type BoxError = Box<dyn Error + 'static>;

/// The output of a nursery child or body: a plain value always succeeds,
/// a `Result` fails with its `Err`.
///
/// Implemented for `Result<T, E>` (with `E` convertible to a boxed error),
/// `()`, tuples, and the common plain types; wrap any other value in `Ok`
/// (for example `Ok::<_, std::convert::Infallible>(value)`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a nursery outcome",
    label = "a nursery child or body must return a plain value or a `Result`",
    note = "return `Ok::<_, std::convert::Infallible>(value)` to pass any value through"
)]
pub trait Outcome {
    /// The value a success carries.
    type Value;
    /// Split into success or failure.
    fn into_outcome(self) -> Result<Self::Value, BoxError>;
}

impl<T, E: Into<BoxError>> Outcome for Result<T, E> {
    type Value = T;
    fn into_outcome(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
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
    arbor_runtime::time::Instant,
    crate::Nursery,
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

impl<T> Outcome for Vec<T> {
    type Value = Vec<T>;
    fn into_outcome(self) -> Result<Vec<T>, BoxError> {
        Ok(self)
    }
}

impl<T> Outcome for Option<T> {
    type Value = Option<T>;
    fn into_outcome(self) -> Result<Option<T>, BoxError> {
        Ok(self)
    }
}

impl<T: ?Sized> Outcome for std::rc::Rc<T> {
    type Value = std::rc::Rc<T>;
    fn into_outcome(self) -> Result<Self::Value, BoxError> {
        Ok(self)
    }
}

impl<T: ?Sized> Outcome for Box<T> {
    type Value = Box<T>;
    fn into_outcome(self) -> Result<Box<T>, BoxError> {
        Ok(self)
    }
}
