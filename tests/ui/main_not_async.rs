#[arbor::main]
fn main() {}
