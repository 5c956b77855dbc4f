// Misused `seed`/`seeds` (issue 14), and `autojump` values that are not
// durations.

#[arbor::test(seed = 7, seeds = 100)]
async fn seed_and_seeds_together() {}

#[arbor::test(seeds = 0)]
async fn zero_seeds() {}

#[arbor::test(seeds = "100")]
async fn seeds_not_an_integer() {}

#[arbor::test(seed = -1)]
async fn a_negative_seed() {}

#[arbor::test(seed = 1.5)]
async fn a_fractional_seed() {}

#[arbor::test(seed)]
async fn seed_without_a_value() {}

#[arbor::test(seeds = 2, seeds = 3)]
async fn seeds_twice() {}

#[arbor::test(autojump = "10 parsecs")]
async fn autojump_with_a_bad_unit() {}

#[arbor::test(autojump)]
async fn autojump_without_a_value() {}

fn main() {}
