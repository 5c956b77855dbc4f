//! The ring against real pipes: what the reactor relies on from the kernel.
//! (Miri has no io_uring: these run natively, and under ASan in `.ci/run`.)

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::*;
use crate::reactor::epoll;

fn completions(uring: &mut Uring, timeout: Option<Duration>) -> Vec<Cqe> {
    let mut out = Vec::new();
    uring.wait(&mut out, timeout).unwrap();
    out
}

#[test]
#[cfg_attr(miri, ignore)]
fn multishot_poll_reports_each_edge_and_stays_armed() {
    let mut uring = Uring::new().unwrap();
    let (rx, tx) = epoll::pipe().unwrap();
    let token = tag(7, OpKind::PollRead);
    uring.poll_add(rx.as_raw_fd(), token).unwrap();
    // Nothing to read yet: the poll is armed, nothing is posted.
    assert!(completions(&mut uring, Some(Duration::ZERO)).is_empty());

    for round in 0..3 {
        epoll::write(tx.as_raw_fd(), b"x").unwrap();
        let cqes = completions(&mut uring, Some(Duration::from_secs(5)));
        assert_eq!(cqes.len(), 1, "round {round}: {cqes:?}");
        assert_eq!(cqes[0].user_data, token);
        assert!(cqes[0].res as u32 & libc::EPOLLIN as u32 != 0);
        assert!(cqes[0].flags & sys::CQE_F_MORE != 0, "still armed");
    }
    assert_eq!(untag(token), Some((7, OpKind::PollRead)));
}

#[test]
#[cfg_attr(miri, ignore)]
fn poll_remove_ends_the_poll_with_ecanceled() {
    let mut uring = Uring::new().unwrap();
    let (rx, tx) = epoll::pipe().unwrap();
    let token = tag(3, OpKind::PollRead);
    uring.poll_add(rx.as_raw_fd(), token).unwrap();
    uring.submit().unwrap();
    uring.poll_remove(token).unwrap();
    let cqes = completions(&mut uring, Some(Duration::from_secs(5)));
    assert_eq!(cqes.len(), 1, "{cqes:?}");
    assert_eq!(cqes[0].user_data, token);
    assert_eq!(cqes[0].res, -libc::ECANCELED);
    assert_eq!(cqes[0].flags & sys::CQE_F_MORE, 0, "the last completion");
    // Removed: a write posts nothing more.
    epoll::write(tx.as_raw_fd(), b"x").unwrap();
    assert!(completions(&mut uring, Some(Duration::from_millis(20))).is_empty());
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_blocking_wait_ends_at_its_timeout() {
    let mut uring = Uring::new().unwrap();
    assert!(completions(&mut uring, Some(Duration::from_millis(5))).is_empty());
}

#[test]
fn reserved_tokens_do_not_untag() {
    assert_eq!(untag(WAKER_TOKEN), None);
    assert_eq!(untag(IGNORED_TOKEN), None);
    let token = (5u64 << 32) | u64::from(MAX_INDEX);
    assert_eq!(untag(tag(token, OpKind::Send)), Some((token, OpKind::Send)));
    assert_eq!(untag(tag(token, OpKind::Recv)), Some((token, OpKind::Recv)));
}

#[test]
#[cfg_attr(miri, ignore)]
fn after_poll_remove_closing_the_fd_closes_the_socket() {
    let mut uring = Uring::new().unwrap();
    let (a, b) = epoll::socketpair().unwrap();
    let token = tag(9, OpKind::PollRead);
    // Added and removed in one submission, as a registration dropped in
    // the tick it was made.
    uring.poll_add(a.as_raw_fd(), token).unwrap();
    // The socket is writable at once, so the kernel is delivering the
    // poll's first event when the remove arrives: the remove must retry
    // past `EALREADY` (it used to leave the poll armed, and the socket
    // open after its last fd closed).
    uring.poll_remove(token).unwrap();
    drop(a);
    // The ring holds no reference to the socket any more: the peer sees
    // the close at once.
    let mut buf = [0u8; 1];
    assert_eq!(epoll::read(b.as_raw_fd(), &mut buf).unwrap(), 0);
    // The poll's own completions were kept for the reactor, not lost.
    let cqes = completions(&mut uring, Some(Duration::ZERO));
    assert!(cqes.iter().all(|c| c.user_data == token), "{cqes:?}");
    assert!(
        cqes.last().is_some_and(|c| c.flags & sys::CQE_F_MORE == 0),
        "{cqes:?}"
    );
}
