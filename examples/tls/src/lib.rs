//! Nothing here: the package exists for its example, `examples/tls.rs`
//! (whose test is the root package's `tests/tls.rs`).
