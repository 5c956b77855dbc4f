//! # Cancel scopes and timeouts
//!
//! A [`CancelScope`](crate::CancelScope) wraps a future that can be
//! cancelled as a unit: by a [`CancelHandle`](crate::CancelHandle), or by
//! a deadline. When the scope is cancelled, everything inside it (the
//! future, and every nursery and child the future opened) is dropped at
//! its next suspension, and [`run`](crate::CancelScope::run) returns
//! `Err(`[`Cancelled`](crate::Cancelled)`)`. There is no token to pass
//! down and check: code inside a scope does not need to know it can be
//! cancelled.
//!
//! ```
//! use std::time::Duration;
//! use arbor::{CancelReason, CancelScope};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let t0 = arbor::time::now();
//!     let scope = CancelScope::new();
//!     let handle = scope.handle();
//!     let cancelled = arbor::nursery(async |n| {
//!         n.spawn(async move {
//!             arbor::time::sleep(Duration::from_secs(5)).await;
//!             handle.cancel_with_reason("operator said stop");
//!         });
//!         let out = scope
//!             .run(async {
//!                 // A worker and its own nursery of helpers: all dropped
//!                 // together when the scope is cancelled.
//!                 arbor::nursery(async |workers| {
//!                     for _ in 0..3 {
//!                         workers.spawn(arbor::time::sleep(Duration::from_secs(3600)));
//!                     }
//!                     arbor::time::sleep(Duration::from_secs(3600)).await;
//!                 })
//!                 .await
//!             })
//!             .await;
//!         out.err() // an `Option`: a plain value for the nursery
//!     })
//!     .await
//!     .unwrap()
//!     .unwrap();
//!     assert_eq!(cancelled.cause(), CancelReason::Explicit);
//!     assert_eq!(cancelled.reason(), Some("operator said stop"));
//!     assert!(scope.cancelled_caught());
//!     assert_eq!(arbor::time::now() - t0, Duration::from_secs(5));
//! });
//! ```
//!
//! Had the worker's nursery body returned before the cancellation (say,
//! after spawning its helpers), the nursery would have returned its value
//! once the helpers were dropped, and `run` would give `Ok`: a nursery's
//! exit is not a cancel point (see [`cancellation`](super::cancellation)),
//! so a value that exists is never thrown away. Check
//! [`cancelled_caught`](crate::CancelScope::cancelled_caught) or
//! [`cancel_called`](crate::CancelScope::cancel_called) when it matters.
//!
//! A handle works before the scope is entered (it then starts cancelled),
//! while it runs, and after it ends (nothing happens). It is `!Send`;
//! [`CancelHandle::remote`](crate::CancelHandle::remote) gives a
//! [`RemoteCancelHandle`](crate::RemoteCancelHandle) that other threads
//! can use. A nursery has a scope of its own
//! ([`Nursery::cancel_scope`](crate::Nursery::cancel_scope)), and so does
//! every nursery child
//! ([`ChildHandle::cancel_scope`](crate::ChildHandle::cancel_scope)).
//!
//! ## Timeouts and deadlines
//!
//! A timeout is a cancel scope with a deadline. The shorthands need no
//! handle and allocate nothing:
//!
//! - [`move_on_after`](crate::move_on_after)`(d, fut)` (and
//!   [`move_on_at`](crate::move_on_at)): `Some(output)`, or `None` when the
//!   time ran out;
//! - [`fail_after`](crate::fail_after)`(d, fut)` (and
//!   [`fail_at`](crate::fail_at)): `Ok(output)`, or
//!   `Err(`[`Elapsed`](crate::Elapsed)`)`, an error for `?`;
//! - [`CancelScope::with_timeout`](crate::CancelScope::with_timeout) and
//!   [`with_deadline`](crate::CancelScope::with_deadline), for a timeout
//!   whose deadline you want to read or move while it runs
//!   ([`CancelHandle::set_deadline`](crate::CancelHandle::set_deadline)).
//!
//! A relative timeout counts from when the scope is entered (its first
//! poll), not from when the future was made. Deadlines are
//! [`arbor::time::Instant`](crate::time::Instant)s on the runtime's
//! clock, virtual or real.
//!
//! ```
//! use std::time::Duration;
//! use arbor::{CancelScope, fail_after, move_on_after, time};
//!
//! async fn fetch() -> u32 {
//!     time::sleep(Duration::from_secs(2)).await;
//!     7
//! }
//!
//! // `Elapsed` is an error: `?` passes it on.
//! async fn fetch_quickly() -> Result<u32, Box<dyn std::error::Error>> {
//!     Ok(fail_after(Duration::from_secs(1), fetch()).await?)
//! }
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     assert_eq!(move_on_after(Duration::from_secs(1), fetch()).await, None);
//!     assert_eq!(move_on_after(Duration::from_secs(3), fetch()).await, Some(7));
//!     assert!(fetch_quickly().await.is_err());
//!
//!     // A deadline that can move: pushed back while the code runs.
//!     let scope = CancelScope::new().with_timeout(Duration::from_secs(1));
//!     let handle = scope.handle();
//!     let out = scope
//!         .run(async move {
//!             let deadline = handle.deadline().unwrap();
//!             handle.set_deadline(Some(deadline + Duration::from_secs(5)));
//!             fetch().await
//!         })
//!         .await;
//!     assert_eq!(out.unwrap(), 7);
//! });
//! ```
//!
//! ## Nesting
//!
//! Scopes nest, and each catches only its own cancellation. An inner
//! timeout that fires is caught by the inner scope; the outer one never
//! sees it. An outer cancellation passes through every scope inside it
//! (they report nothing) and is caught by the scope that was cancelled.
//! The code inside sees the nearest deadline,
//! [`current_effective_deadline`](crate::current_effective_deadline).
//!
//! ```
//! use std::time::Duration;
//! use arbor::{CancelScope, EffectiveDeadline, current_effective_deadline, move_on_after, time};
//!
//! let rt = arbor::Runtime::builder().virtual_clock().build().unwrap();
//! rt.block_on(async {
//!     let t0 = time::now();
//!     let outer = CancelScope::new().with_timeout(Duration::from_secs(10));
//!     let inner = CancelScope::new().with_timeout(Duration::from_secs(60));
//!     let out = outer
//!         .run(async {
//!             // The inner timeout fires first: caught inside, and the
//!             // outer code carries on.
//!             let quick = move_on_after(Duration::from_secs(1), time::sleep(Duration::from_secs(5)));
//!             assert_eq!(quick.await, None);
//!             // The outer deadline (9 s left) comes before the inner one:
//!             // it passes through `inner`, which reports nothing.
//!             inner
//!                 .run(async {
//!                     let outer_deadline = t0 + Duration::from_secs(10);
//!                     assert_eq!(current_effective_deadline(), EffectiveDeadline::At(outer_deadline));
//!                     time::sleep(Duration::from_secs(3600)).await
//!                 })
//!                 .await
//!         })
//!         .await;
//!     assert!(out.unwrap_err().by_deadline());
//!     assert!(outer.cancelled_caught());
//!     assert!(!inner.cancel_called() && !inner.cancelled_caught());
//! });
//! ```
//!
//! ## A cancelled nursery
//!
//! A nursery inside a cancelled scope drops its body and children, waits
//! for any shielded ones (next chapter), and then reports what it has: its
//! error group if something failed, or nothing (the scope catches the
//! cancellation). A nursery's exit is never a cancel point, so an error
//! cannot be lost to a timeout around it.
