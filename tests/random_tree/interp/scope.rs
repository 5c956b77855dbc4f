//! Cancel scopes: a `Node::Scope` of each kind, and waits under a timeout.

use std::future::Future;
use std::rc::Rc;

use arbor::{CancelScope, fail_after, move_on_after, shield};

use super::{Cx, ShieldRegion, exec, ms};
use crate::program::{Node, ScopeKind};
use crate::world::Kind;

pub(super) async fn run_scope(cx: &Cx, kind: ScopeKind, sref: Option<usize>, body: Rc<Node>) {
    let inner = exec(body, cx.clone());
    let register = |handle| {
        if let Some(s) = sref {
            *cx.w.srefs[s].handle.borrow_mut() = Some((handle, None));
        }
    };
    let scope = match kind {
        ScopeKind::MoveOn(t) => {
            let out = move_on_after(ms(t), inner).await;
            cx.log(|| format!("move_on_after({t}ms) = {out:?}"));
            if out.is_none() {
                cx.book().count("cancel scope caught");
            }
            return;
        }
        ScopeKind::FailAfter(t) => {
            let out = fail_after(ms(t), inner).await;
            cx.log(|| format!("fail_after({t}ms) = {out:?}"));
            return;
        }
        ScopeKind::Shield => {
            ShieldRegion::new(cx, None, Box::pin(shield(inner))).await;
            return;
        }
        ScopeKind::Plain | ScopeKind::PreCancelled => CancelScope::new(),
        ScopeKind::Timeout(t) => CancelScope::new().with_timeout(ms(t)),
        ScopeKind::Deadline(t) => CancelScope::new().with_deadline(arbor::time::now() + ms(t)),
        ScopeKind::Shielded(own) => {
            let s = CancelScope::new().shielded(true);
            match own {
                Some(t) => s.with_timeout(ms(t)),
                None => s,
            }
        }
    };
    register(scope.handle());
    if kind == ScopeKind::PreCancelled {
        scope.cancel();
    }
    let fut = scope.run(inner);
    let out = if kind.is_shield() {
        ShieldRegion::new(cx, Some(scope.handle()), Box::pin(fut)).await
    } else {
        fut.await
    };
    cx.log(|| format!("{kind:?} = {out:?}"));
    if out.is_err() {
        cx.book().count("cancel scope caught");
    }
    if out.is_err() && !(scope.cancel_called() && scope.cancelled_caught()) {
        cx.book().violation(
            Kind::WrongScope,
            format!(
                "{kind:?} returned Cancelled; cancel_called {}, cancelled_caught {}",
                scope.cancel_called(),
                scope.cancelled_caught()
            ),
        );
    }
}

pub(super) async fn bounded<F: Future>(timeout: Option<u32>, fut: F) -> Option<F::Output> {
    match timeout {
        Some(t) => move_on_after(ms(t), fut).await,
        None => Some(fut.await),
    }
}
