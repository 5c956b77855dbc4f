#[arbor::main(seeds = 3)]
async fn main() {}
