// Several misuses in one case (each case is a compile): every error shows.

#[arbor::test]
fn not_async() {}

#[arbor::test]
async fn with_arguments(n: u32) {
    let _ = n;
}

#[arbor::test]
async fn generic<T: Default>() {
    let _ = T::default();
}

#[arbor::test]
const async fn constant() {}

#[arbor::test]
#[test]
async fn second_test_attribute() {}

#[arbor::test]
struct NotAFunction;

fn main() {}
