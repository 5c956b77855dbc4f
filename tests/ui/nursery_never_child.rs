// A child whose block never returns has type `!`, which cannot be a
// nursery outcome on stable Rust: the error says to use `arbor::forever`.
fn main() {
    arbor::run(async {
        let _ = arbor::nursery(async |n| {
            n.spawn(async {
                loop {
                    arbor::yield_now().await;
                }
            });
        })
        .await;
    });
}
