#[arbor::main(seed = 1)]
async fn main() {}
