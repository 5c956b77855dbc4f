//! Socket address resolution that never blocks the runtime thread.
//!
//! A literal address (`"127.0.0.1:80"`, `"[::1]:80"`, `(ip, port)`, a
//! [`SocketAddr`]) is parsed in place. A host name goes to `getaddrinfo`
//! (through `std`'s `ToSocketAddrs`) on a short-lived worker thread, because
//! `getaddrinfo` blocks — for seconds if a DNS server is slow — and the
//! runtime thread must keep running every other task meanwhile. The worker
//! hands its result back with a cross-thread wake.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// Something that names one or more socket addresses: a literal address or
/// a `"host:port"` / `(host, port)` pair. Sealed; the implementations
/// mirror `std::net::ToSocketAddrs`.
pub trait ToSocketAddrs: sealed::Sealed {
    #[doc(hidden)]
    fn to_target(&self) -> Target;
}

mod sealed {
    pub trait Sealed {}
}

/// What a [`ToSocketAddrs`] value names, before any lookup.
#[doc(hidden)]
#[derive(Debug)]
pub enum Target {
    /// Literal addresses: nothing to look up.
    Addrs(Vec<SocketAddr>),
    /// A host name and port for the resolver.
    Host(String, u16),
    /// A string that is neither a literal address nor `host:port`.
    Invalid(String),
}

macro_rules! literal {
    ($($ty:ty => |$v:ident| $addr:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl ToSocketAddrs for $ty {
            fn to_target(&self) -> Target {
                let $v = self;
                Target::Addrs(vec![$addr])
            }
        }
    )*};
}

literal! {
    SocketAddr => |a| *a;
    SocketAddrV4 => |a| SocketAddr::V4(*a);
    SocketAddrV6 => |a| SocketAddr::V6(*a);
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1);
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1);
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1);
}

impl sealed::Sealed for [SocketAddr] {}
impl ToSocketAddrs for [SocketAddr] {
    fn to_target(&self) -> Target {
        Target::Addrs(self.to_vec())
    }
}

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn to_target(&self) -> Target {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Target::Addrs(vec![addr]);
        }
        // As std: split at the last ':' so "host:port" works; IPv6 literals
        // need brackets and were parsed above.
        match self.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            Some((host, Ok(port))) => (host, port).to_target(),
            _ => Target::Invalid(self.to_owned()),
        }
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> Target {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Target::Addrs(vec![SocketAddr::new(ip, port)]),
            Err(_) => Target::Host(host.to_owned(), port),
        }
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> Target {
        (self.0.as_str(), self.1).to_target()
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn to_target(&self) -> Target {
        self.as_str().to_target()
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}

/// Resolve `addr` to socket addresses, in the resolver's order.
///
/// Literal addresses return at once without a thread. Host names are
/// resolved by `getaddrinfo` on a worker thread (one per lookup), so the
/// runtime keeps running other tasks while it waits.
///
/// ```
/// arbor_runtime::run(async {
///     let addrs = arbor_runtime::net::lookup_host("127.0.0.1:8080").await.unwrap();
///     assert_eq!(addrs, ["127.0.0.1:8080".parse().unwrap()]);
///     let addrs = arbor_runtime::net::lookup_host(("localhost", 80)).await.unwrap();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// });
/// ```
///
/// # Errors
/// `InvalidInput` for a string that is neither an address nor
/// `host:port`; otherwise the resolver's error (e.g. an unknown host), or
/// the error of spawning the worker thread.
///
/// # Cancel safety
/// Dropping the future abandons the lookup: the worker thread finishes
/// `getaddrinfo` (it cannot be interrupted) and discards the result.
pub async fn lookup_host(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    match addr.to_target() {
        Target::Addrs(addrs) => Ok(addrs),
        Target::Host(host, port) => resolve_on_worker(host, port).await,
        Target::Invalid(s) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid socket address {s:?}: expected \"host:port\" or an IP address and port"
            ),
        )),
    }
}

/// The worker's result and the waker of the task awaiting it.
#[derive(Default)]
struct Handoff {
    result: Option<io::Result<Vec<SocketAddr>>>,
    waker: Option<Waker>,
}

async fn resolve_on_worker(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    let handoff = Arc::new(Mutex::new(Handoff::default()));
    let theirs = handoff.clone();
    std::thread::Builder::new()
        .name("arbor-resolve".into())
        .spawn(move || {
            let result = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map(Vec::from_iter);
            let waker = {
                let mut h = theirs.lock().unwrap_or_else(|e| e.into_inner());
                h.result = Some(result);
                h.waker.take()
            };
            // Wake outside the lock: the woken runtime takes it right away.
            if let Some(waker) = waker {
                waker.wake();
            }
        })?;
    poll_fn(|cx| {
        let mut h = handoff.lock().unwrap_or_else(|e| e.into_inner());
        match h.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                h.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// Try each address of `addr` in turn with `connect`, returning the first
/// success or the last error.
pub(crate) async fn connect_any<T, F>(
    addr: impl ToSocketAddrs,
    mut connect: impl FnMut(SocketAddr) -> F,
) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in lookup_host(addr).await? {
        match connect(a).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(t: Target) -> Vec<SocketAddr> {
        match t {
            Target::Addrs(a) => a,
            other => panic!("expected literal addresses, got {other:?}"),
        }
    }

    #[test]
    fn literals_need_no_lookup() {
        let v4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(addrs("10.0.0.1:80".to_target()), [v4]);
        assert_eq!(addrs(("10.0.0.1", 80).to_target()), [v4]);
        assert_eq!(addrs(v4.to_target()), [v4]);
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(addrs("[::1]:9".to_target()), [v6]);
        assert_eq!(addrs(("::1", 9).to_target()), [v6]);
        assert_eq!(addrs((Ipv6Addr::LOCALHOST, 9).to_target()), [v6]);
    }

    #[test]
    fn names_go_to_the_resolver_and_junk_is_invalid() {
        assert!(
            matches!("example.com:443".to_target(), Target::Host(h, 443) if h == "example.com")
        );
        assert!(
            matches!(("localhost".to_string(), 1).to_target(), Target::Host(h, 1) if h == "localhost")
        );
        assert!(matches!("no-port".to_target(), Target::Invalid(_)));
        assert!(matches!("host:99999".to_target(), Target::Invalid(_)));
        // As std: the last ':' splits, and "::1" is then an IP literal.
        assert_eq!(addrs("::1:80".to_target()), ["[::1]:80".parse().unwrap()]);
    }
}
