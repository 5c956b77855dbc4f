#[arbor::test(start_paused)]
async fn unknown() {}

#[arbor::test(virtual_clock, virtual_clock)]
async fn twice() {}

#[arbor::test(virtual_clock = true)]
async fn flag_with_a_value() {}

#[arbor::test(crate = arbor)]
async fn crate_not_a_string() {}

#[arbor::main(crate = "not a path")]
async fn not_main() {}

#[arbor::test(crate)]
async fn crate_without_a_value() {}

#[arbor::test("virtual_clock")]
async fn a_literal() {}

fn main() {}
