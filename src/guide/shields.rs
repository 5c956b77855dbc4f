//! # Shields and cleanup
//!
//! A cancelled scope drops its code at the next suspension, so async
//! cleanup (send a goodbye, flush a buffer, roll back a transaction)
//! written after an `.await` that was cancelled never runs. A *shield*
//! keeps the cancellation of enclosing scopes out:
//!
//! - [`shield`](crate::shield)`(fut)` runs `fut` to completion whatever is
//!   cancelled around it; the outer cancellation lands at the next
//!   suspension after it;
//! - [`CancelScope::shielded`](crate::CancelScope::shielded)`(true)` is a
//!   shielded scope that its own handle or deadline can still cancel:
//!   cleanup with a time limit.
//!
//! While a shielded region runs inside a cancelled scope, the drop of the
//! code around it waits for it to finish.
//!
//! ```
//! use std::cell::RefCell;
//! use std::time::Duration;
//! use arbor::{move_on_after, shield, time};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let t0 = time::now();
//!     let log = RefCell::new(Vec::new());
//!     let out = move_on_after(Duration::from_secs(1), async {
//!         shield(async {
//!             time::sleep(Duration::from_secs(2)).await; // outlives the timeout
//!             log.borrow_mut().push("cleanup done");
//!         })
//!         .await;
//!         // Runs: there was no suspension since the shield ended.
//!         log.borrow_mut().push("after the shield");
//!         time::sleep(Duration::from_secs(3600)).await; // dropped here
//!         log.borrow_mut().push("never");
//!     })
//!     .await;
//!     assert_eq!(out, None);
//!     assert_eq!(*log.borrow(), ["cleanup done", "after the shield"]);
//!     assert_eq!(time::now() - t0, Duration::from_secs(2));
//! });
//! ```
//!
//! Destructors run when cancelled code is dropped, but they cannot await:
//! synchronous cleanup (release a lock, cancel a handle, set a flag) goes
//! in a `Drop`; cleanup that awaits must already be running in a shield
//! when the cancellation arrives, or the cancellation must be turned into
//! a deadline, as below.
//!
//! ## Cleanup with a time limit
//!
//! A shield without a deadline waits as long as its code does; a peer that
//! never answers would hold the shutdown forever. Give cleanup a shielded
//! scope with a timeout of its own:
//!
//! ```
//! use std::time::Duration;
//! use arbor::{CancelScope, move_on_after, time};
//!
//! async fn say_goodbye(peer_answers_in: Duration) -> &'static str {
//!     time::sleep(peer_answers_in).await;
//!     "goodbye sent"
//! }
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let out = move_on_after(Duration::from_secs(1), async {
//!         let cleanup = CancelScope::new().shielded(true).with_timeout(Duration::from_secs(5));
//!         // A stuck peer: the cleanup's own deadline ends it after 5 s.
//!         cleanup.run(say_goodbye(Duration::from_secs(3600))).await
//!     })
//!     .await;
//!     // The shield caught its own deadline; the code after it then ran
//!     // to its end, so the outer timeout had nothing left to drop.
//!     assert!(out.unwrap().is_err());
//! });
//! ```
//!
//! ## Grace periods
//!
//! A server's shutdown turns a cancellation into a deadline: stop
//! accepting at once, give the open connections until now + grace, then
//! drop them. `examples/echo.rs` does this: the connections' nursery runs
//! in a shielded scope, so cancelling the server reaches only the accept
//! loop (its own scope); a guard in a sibling child, dropped when shutdown
//! comes (or when the server is cancelled from outside), cancels the
//! accept loop and sets the connections' deadline. A condensed version:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use arbor::{CancelHandle, CancelScope, nursery, time};
//!
//! /// Shutdown, run by a destructor: it needs no await.
//! struct StopOnDrop {
//!     accepting: CancelHandle,
//!     connections: CancelHandle,
//!     grace: Duration,
//! }
//!
//! impl Drop for StopOnDrop {
//!     fn drop(&mut self) {
//!         self.accepting.cancel();
//!         self.connections.set_deadline(Some(time::now() + self.grace));
//!     }
//! }
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let finished = Rc::new(Cell::new(0));
//!     let accepting = CancelScope::new();
//!     let connections = CancelScope::new().shielded(true);
//!     let stop = StopOnDrop {
//!         accepting: accepting.handle(),
//!         connections: connections.handle(),
//!         grace: Duration::from_secs(5),
//!     };
//!     let f = finished.clone();
//!     nursery(async move |top| {
//!         top.spawn(async move {
//!             let _stop = stop;
//!             time::sleep(Duration::from_secs(10)).await; // the shutdown signal
//!         });
//!         let _ = connections
//!             .run(nursery(async move |conns| {
//!                 // A conversation ending at 12 s, and an idle client.
//!                 for secs in [12, 3600] {
//!                     let f = f.clone();
//!                     conns.spawn(async move {
//!                         time::sleep(Duration::from_secs(secs)).await;
//!                         f.set(f.get() + 1);
//!                     });
//!                 }
//!                 // The accept loop.
//!                 let _ = accepting.run(std::future::pending::<()>()).await;
//!             }))
//!             .await;
//!     })
//!     .await
//!     .unwrap();
//!     // The conversation finished within the grace period; the idle
//!     // client was dropped at 10 s + 5 s.
//!     assert_eq!(finished.get(), 1);
//! });
//! ```
//!
//! ## Noticing cancellation
//!
//! Code that wants to react to a cancellation itself awaits
//! [`cancelled`](crate::cancelled): it resolves once the scope around it is
//! cancelled, and the code after it runs to its next suspension (enough
//! to flip a flag or cancel another scope, not to await anything).
//! [`current_effective_deadline`](crate::current_effective_deadline) tells
//! code how long it has.
