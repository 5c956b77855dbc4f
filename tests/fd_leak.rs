//! Descriptors are closed exactly once: runtimes, registrations, wakers.
//!
//! The only test in its binary, so no other test opens descriptors while
//! it counts them.

mod support;

use std::future::pending;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use arbor::io::Async;
use support::open_fds;

#[test]
fn runtimes_and_registrations_leak_no_file_descriptors() {
    let before = open_fds();
    for _ in 0..20 {
        let rt = arbor::Runtime::new().unwrap();
        let waker = rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
            // One registration stays parked in a task at runtime drop.
            drop(arbor::spawn(async move {
                let _b = b;
                pending::<()>().await
            }));
            a.write_with(|mut s| s.write(b"x")).await.unwrap();
            let (c, mut d) = UnixStream::pair().unwrap();
            let c = Async::new(c).unwrap();
            d.write_all(b"y").unwrap();
            let mut buf = [0u8; 1];
            c.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await
        });
        drop(rt);
        // A waker woken after the runtime is gone must not touch its fds.
        std::thread::spawn(move || waker.wake()).join().unwrap();
    }
    assert_eq!(open_fds(), before);
}
