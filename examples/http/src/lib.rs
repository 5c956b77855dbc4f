//! Nothing here: the package exists for its example, `examples/http.rs`
//! (and that example's test, `tests/http_example.rs`).
