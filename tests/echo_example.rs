//! End-to-end tests of `examples/echo.rs` on 127.0.0.1: the example's
//! server and load generator, its graceful shutdown, and Ctrl-C.

#[allow(dead_code)] // `main` and the self-test are the example's own.
#[path = "../examples/echo.rs"]
mod echo;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use arbor::net::{TcpListener, TcpStream};
use arbor::primitives::Event;

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A shutdown trigger the test controls.
fn trigger() -> (Rc<Event>, impl Future<Output = ()> + 'static) {
    let event = Rc::new(Event::new());
    let waiter = event.clone();
    (event, async move { waiter.wait().await })
}

/// A client that talks in `rounds` round trips with `pause` between them.
async fn talk(addr: SocketAddr, rounds: usize, pause: Duration) -> std::io::Result<usize> {
    let stream = TcpStream::connect(addr).await?;
    let mut buf = [0u8; 5];
    for _ in 0..rounds {
        stream.write_all(b"hello").await?;
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello");
        arbor::time::sleep(pause).await;
    }
    Ok(rounds)
}

#[test]
fn load_runs_through_the_server_and_shutdown_is_clean() {
    arbor::run(async {
        let (listener, addr) = listener();
        let (stop, shutdown) = trigger();
        let server = arbor::spawn(echo::serve(listener, shutdown, Duration::from_secs(5)));
        let stats = echo::load(addr, 20, 200, 64).await.unwrap();
        assert_eq!(stats.round_trips, 20 * 200);
        stop.set();
        let stats = server.await.unwrap().unwrap();
        assert_eq!(
            stats,
            echo::ServerStats {
                accepted: 20,
                finished: 20,
                cut_at_deadline: 0,
                accept_errors: 0,
            }
        );
    });
}

#[test]
fn shutdown_refuses_new_connections_lets_talkers_finish_and_cuts_idlers() {
    arbor::run(async {
        let (listener, addr) = listener();
        let (stop, shutdown) = trigger();
        let grace = Duration::from_millis(1500);
        let server = arbor::spawn(echo::serve(listener, shutdown, grace));
        // Still talking for ~100 ms after shutdown, well inside the grace.
        let talker = arbor::spawn(talk(addr, 5, Duration::from_millis(20)));
        // Connected, then silent forever.
        let idle = TcpStream::connect(addr).await.unwrap();
        arbor::time::sleep(Duration::from_millis(10)).await;
        stop.set();
        arbor::time::sleep(Duration::from_millis(10)).await;

        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(talker.await.unwrap().unwrap(), 5, "talker finished");

        let stats = server.await.unwrap().unwrap();
        assert_eq!(stats.accepted, 2);
        assert_eq!(stats.finished, 1, "the talker's connection ended by itself");
        assert_eq!(stats.cut_at_deadline, 1, "the idle one was cut");
        // The cut connection was closed: the idle client reads EOF.
        let mut buf = [0u8; 1];
        assert_eq!(idle.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn cancelling_the_server_from_outside_is_also_graceful() {
    arbor::run(async {
        let (listener, addr) = listener();
        let talker = arbor::spawn(talk(addr, 5, Duration::from_millis(20)));
        // The server's caller gives up after 30 ms: the accept loop stops,
        // but the connection already open still gets its grace period.
        let served = arbor::move_on_after(
            Duration::from_millis(30),
            echo::serve(listener, std::future::pending(), Duration::from_secs(5)),
        )
        .await;
        // The server did not drop its open connection at the caller's
        // timeout: it finished serving it (so `serve` even returned).
        assert_eq!(talker.await.unwrap().unwrap(), 5);
        let stats = served.expect("serve completed inside the grace").unwrap();
        assert_eq!(
            (stats.accepted, stats.finished, stats.cut_at_deadline),
            (1, 1, 0)
        );
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn ctrl_c_stops_the_server() {
    arbor::run(async {
        let (listener, addr) = listener();
        let server = arbor::spawn(echo::serve(
            listener,
            echo::ctrl_c(),
            Duration::from_secs(5),
        ));
        assert_eq!(talk(addr, 3, Duration::ZERO).await.unwrap(), 3);
        // SAFETY: `raise` sends SIGINT to this thread; `echo::ctrl_c()`
        // installed arbor's handler, so the process is not killed.
        assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
        let stats = arbor::fail_after(Duration::from_secs(10), server)
            .await
            .expect("Ctrl-C stopped the server")
            .unwrap()
            .unwrap();
        assert_eq!((stats.accepted, stats.finished), (1, 1));
    });
}

#[test]
fn the_server_runs_on_two_cores_and_shuts_down_as_one() {
    let cores = arbor::per_core::PerCore::new(2)
        .pin(std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2);
    let (group, addr) = echo::serve_on_cores(
        "127.0.0.1:0".parse().unwrap(),
        cores,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_ne!(addr.port(), 0);
    let stats = arbor::run(echo::load(addr, 20, 200, 64)).unwrap();
    assert_eq!(stats.round_trips, 20 * 200);
    group.shutdown();
    let mut accepted = 0;
    for outcome in group.join() {
        // Cancelled from outside, each core's server still stops
        // gracefully and reports (its connections had all closed).
        let stats = outcome.unwrap().unwrap();
        assert_eq!(stats.accepted, stats.finished);
        assert_eq!((stats.cut_at_deadline, stats.accept_errors), (0, 0));
        accepted += stats.accepted;
    }
    assert_eq!(
        accepted, 20,
        "the kernel spread the connections over the cores"
    );
    // Every listener is closed: new connections are refused.
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_port_in_use_is_reported_by_the_per_core_server() {
    // A plain listener (no SO_REUSEPORT) holds the port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let cores = arbor::per_core::PerCore::new(2).pin(false);
    let err = echo::serve_on_cores(addr, cores, Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
