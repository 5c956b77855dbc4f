// Issue 14's options that need executor support arbor does not have yet,
// and `autojump` values that are not durations.

#[arbor::test(seed = 7)]
async fn seed() {}

#[arbor::test(seeds = 100)]
async fn seeds() {}

#[arbor::test(autojump = "10 parsecs")]
async fn autojump_with_a_bad_unit() {}

#[arbor::test(autojump)]
async fn autojump_without_a_value() {}

fn main() {}
