//! Readiness bookkeeping seen from tasks: spurious wakeups, stale
//! readiness, and what a cancelled read leaves behind.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Counts how often the wrapped future is polled.
struct Counted<F> {
    polls: Rc<Cell<u32>>,
    inner: Pin<Box<F>>,
}

fn counted<F: Future>(inner: F) -> (Rc<Cell<u32>>, Counted<F>) {
    let polls = Rc::new(Cell::new(0));
    (
        polls.clone(),
        Counted {
            polls,
            inner: Box::pin(inner),
        },
    )
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

#[arbor::test]
async fn spurious_wakeups_neither_lose_data_nor_break_the_wait() {
    let (client, server) = pair().await;
    let mut buf = [0u8; 8];
    // The read shares its task with a ticker that wakes the task ten
    // times: each wake polls the read with nothing to read.
    let read = server.read(&mut buf);
    let ticker = async {
        for _ in 0..10 {
            arbor::yield_now().await;
        }
        client.write_all(b"late").await.unwrap();
    };
    let (n, ()) = futures_lite::future::zip(read, ticker).await;
    assert_eq!(&buf[..n.unwrap()], b"late");
}

#[arbor::test]
async fn stale_readiness_parks_instead_of_spinning() {
    let (client, server) = pair().await;
    client.write_all(b"12345").await.unwrap();
    let mut buf = [0u8; 5];
    server.read_exact(&mut buf).await.unwrap();
    // Readiness is still recorded from that event, but the socket is
    // empty: the next read gets EAGAIN, clears it and must park until
    // the peer writes, not retry in a loop.
    let writer = arbor::spawn(async move {
        arbor::time::sleep(Duration::from_millis(50)).await;
        client.write_all(b"x").await.unwrap();
        client
    });
    let (polls, read) = counted(server.read(&mut buf));
    assert_eq!(read.await.unwrap(), 1);
    assert!(polls.get() <= 3, "read polled {} times", polls.get());
    drop(writer.await.unwrap());
}

#[arbor::test]
async fn a_cancelled_read_leaves_no_waker_behind() {
    let (client, server) = pair().await;
    let at_timeout = Rc::new(Cell::new(0));
    let mark = at_timeout.clone();
    // The body reads its own poll count, which `counted` creates.
    let polls_slot: Rc<Cell<Option<Rc<Cell<u32>>>>> = Rc::default();
    let slot = polls_slot.clone();
    let (polls, body) = counted(async move {
        let mut buf = [0u8; 8];
        let read = arbor::move_on_after(Duration::from_millis(10), server.read(&mut buf));
        assert!(read.await.is_none(), "the read timed out");
        let polls = slot.take().unwrap();
        mark.set(polls.get());
        // Data arrives for the cancelled read's registration while this
        // task sleeps. Were the read's waker still parked with the
        // reactor, that event would poll this task once more.
        arbor::time::sleep(Duration::from_millis(100)).await;
        server
    });
    polls_slot.set(Some(polls.clone()));
    let task = arbor::spawn(body);
    arbor::time::sleep(Duration::from_millis(40)).await;
    client.write_all(b"data").await.unwrap();
    let server = task.await.unwrap();
    // Only the sleep's timer woke the task after the timeout.
    assert_eq!(polls.get(), at_timeout.get() + 1);
    drop(server);
}
