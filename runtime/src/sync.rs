//! The few thread-crossing types, switched to loom's under `cfg(loom)` so
//! the remote wake hand-off can be model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};
