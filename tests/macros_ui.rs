//! Compile-fail tests of `#[arbor::main]` and `#[arbor::test]`: each
//! misuse gets a clear error at the right span (the expected messages are
//! the `.stderr` files beside the cases in `tests/ui/`; regenerate them
//! with `TRYBUILD=overwrite cargo test -p arbor --test macros_ui` and read them).

#[test]
fn misuse_is_a_clear_compile_error() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
