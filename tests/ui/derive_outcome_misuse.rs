// `#[derive(arbor::Outcome)]` with an option it does not know.
#[derive(arbor::Outcome)]
#[arbor(krate = "x")]
struct Unknown;

fn main() {}
