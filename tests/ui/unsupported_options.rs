// Issue 14's options that need executor support arbor does not have yet.

#[arbor::test(seed = 7)]
async fn seed() {}

#[arbor::test(seeds = 100)]
async fn seeds() {}

#[arbor::test(virtual_clock, autojump = "10ms")]
async fn autojump() {}

fn main() {}
