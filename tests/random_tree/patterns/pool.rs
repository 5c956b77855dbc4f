//! `Node::PoolGet`/`Node::PoolClose`: the program's `Pool`, its
//! connections, and the checks after the program.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor::move_on_after;
use arbor::patterns::{Pool, PoolError, PoolGuard};

use super::Oops;
use crate::interp::{BoxFut, Cx, Kept, PollOnce, ms};
use crate::program::{GetWrap, PoolSpec};
use crate::world::{Book, Kind, Token};

/// What the pool's hooks share with its connections.
pub struct PoolState {
    spec: PoolSpec,
    book: Rc<Book>,
    live: Cell<usize>,
    opened: Cell<u64>,
    calls: Cell<u32>,
    checks: Cell<u32>,
}

/// A connection: counts itself live, carries a drop token.
pub struct Conn {
    id: u64,
    state: Rc<PoolState>,
    out: Cell<bool>,
    _token: Token,
}

impl Conn {
    fn open(st: &Rc<PoolState>) -> Conn {
        let live = st.live.get() + 1;
        st.live.set(live);
        let id = st.opened.get() + 1;
        st.opened.set(id);
        if live > st.spec.max_size {
            st.book.violation(
                Kind::Exclusion,
                format!(
                    "pool: {live} connections live, max_size {}",
                    st.spec.max_size
                ),
            );
        }
        Conn {
            id,
            state: st.clone(),
            out: Cell::new(false),
            _token: st.book.token("pool connection"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state.live.set(self.state.live.get() - 1);
    }
}

/// The program's pool.
pub struct PoolWorld {
    pub pool: Pool<Conn, Oops>,
    state: Rc<PoolState>,
}

impl PoolWorld {
    pub fn new(spec: PoolSpec, book: &Rc<Book>) -> PoolWorld {
        let state = Rc::new(PoolState {
            spec,
            book: book.clone(),
            live: Cell::new(0),
            opened: Cell::new(0),
            calls: Cell::new(0),
            checks: Cell::new(0),
        });
        let st = state.clone();
        let mut builder = Pool::builder(async move || {
            let n = st.calls.get() + 1;
            st.calls.set(n);
            arbor::time::sleep(ms(st.spec.open_ms)).await;
            if st.spec.fail_every.is_some_and(|e| n.is_multiple_of(e)) {
                return Err(Oops {
                    id: n as usize,
                    fatal: false,
                });
            }
            Ok(Conn::open(&st))
        })
        .max_size(spec.max_size);
        if let Some((sleep, every)) = spec.check {
            let st = state.clone();
            builder = builder.health_check(async move |c: &mut Conn| {
                if c.out.get() {
                    st.book.violation(
                        Kind::Exclusion,
                        format!("pool: connection {} health-checked while checked out", c.id),
                    );
                }
                let n = st.checks.get() + 1;
                st.checks.set(n);
                arbor::time::sleep(ms(sleep)).await;
                !n.is_multiple_of(every)
            });
        }
        if let Some(t) = spec.close_ms {
            builder = builder.on_close(async move |c: Conn| {
                arbor::time::sleep(ms(t)).await;
                drop(c);
            });
        }
        PoolWorld {
            pool: builder.build(),
            state,
        }
    }
}

/// A checked-out connection; clears its `out` mark before the guard goes.
struct Out(Option<PoolGuard<Conn>>);

impl Drop for Out {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            g.out.set(false);
            drop(g);
        }
    }
}

/// Polls every future until all are done.
struct JoinAll(Vec<Option<BoxFut<()>>>);

impl Future for JoinAll {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut pending = false;
        for slot in self.0.iter_mut() {
            if let Some(fut) = slot {
                if fut.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// `crowd` gets at once (see `Node::PoolGet`).
pub async fn pool_crowd(cx: &Cx, crowd: usize, wrap: GetWrap, hold: u32, discard: bool) {
    if crowd == 1 {
        return pool_get(cx, wrap, hold, discard).await;
    }
    let gets = (0..crowd)
        .map(|i| {
            let cx = cx.clone();
            let get: BoxFut<()> =
                Box::pin(async move { pool_get(&cx, wrap, hold + i as u32, discard).await });
            Some(get)
        })
        .collect();
    JoinAll(gets).await;
}

async fn pool_get(cx: &Cx, wrap: GetWrap, hold: u32, discard: bool) {
    let Some(p) = &cx.w.pool else {
        return;
    };
    let book = cx.book();
    let got = match wrap {
        GetWrap::MoveOn(t) => move_on_after(ms(t), Kept::new(p.pool.get())).await,
        GetWrap::PollOnce => {
            let mut get = std::pin::pin!(Kept::new(p.pool.get()));
            PollOnce(get.as_mut()).await
        }
    };
    let Some((got, kept)) = got else {
        cx.log(|| "pool.get() cancelled or dropped".into());
        book.count("pool get cancelled or dropped");
        return;
    };
    cx.progressed_unless_kept("Pool::get", kept);
    let stats = p.pool.statistics();
    let max = p.state.spec.max_size;
    if stats.in_use > max || stats.size > max || p.state.live.get() > max {
        book.violation(
            Kind::Exclusion,
            format!(
                "pool: {stats:?} with {} live, max_size {max}",
                p.state.live.get()
            ),
        );
    }
    if stats.waiting > 0 {
        book.count("pool get returned with gets waiting");
    }
    match got {
        Ok(guard) => {
            let id = guard.id;
            cx.log(|| format!("pool.get() = connection {id}"));
            book.count("pool get Ok");
            if guard.out.replace(true) {
                book.violation(
                    Kind::Exclusion,
                    format!("pool: connection {id} handed out twice"),
                );
            }
            let mut held = Out(Some(guard));
            arbor::time::sleep(ms(hold)).await;
            cx.progressed("sleep");
            if discard {
                let g = held.0.take().expect("held");
                g.out.set(false);
                cx.log(|| format!("discard connection {id}"));
                g.discard();
            }
        }
        Err(PoolError::Closed) => {
            cx.log(|| "pool.get() = Closed".into());
            book.count("pool get Closed");
            if !p.pool.is_closed() {
                book.violation(Kind::WrongOutcome, "pool.get() = Closed on an open pool");
            }
        }
        Err(PoolError::Factory(e)) => {
            cx.log(|| format!("pool.get() = Factory({e:?})"));
            book.count("pool get Factory");
        }
    }
}

pub async fn pool_close(cx: &Cx, timeout: u32) {
    let Some(p) = &cx.w.pool else {
        return;
    };
    let Some(((), kept)) = move_on_after(ms(timeout), Kept::new(p.pool.close())).await else {
        cx.log(|| "pool.close() cancelled".into());
        return;
    };
    cx.progressed_unless_kept("Pool::close", kept);
    cx.log(|| "pool closed".into());
    cx.book().count("pool closed");
    let stats = p.pool.statistics();
    if stats.in_use != 0 || stats.pending != 0 || stats.idle != 0 || !p.pool.is_closed() {
        cx.book().violation(
            Kind::PermitLost,
            format!("pool: {stats:?} after close() returned"),
        );
    }
}

/// After the program: the pool's statistics, then `close()`, then
/// nothing live.
pub async fn finish_pool(p: &PoolWorld) {
    let book = &p.state.book;
    let stats = p.pool.statistics();
    let live = p.state.live.get();
    if stats.in_use != 0
        || stats.pending != 0
        || stats.waiting != 0
        || stats.size != stats.idle
        || stats.size != live
        || stats.created != p.state.opened.get()
    {
        book.violation(
            Kind::PermitLost,
            format!(
                "pool after the program: {stats:?}, {live} connections live, {} opened",
                p.state.opened.get()
            ),
        );
    }
    p.pool.close().await;
    let stats = p.pool.statistics();
    let live = p.state.live.get();
    if live != 0 || stats.size != 0 || stats.idle != 0 || stats.closed != stats.created {
        book.violation(
            Kind::Leak,
            format!("pool after close(): {stats:?}, {live} connections live"),
        );
    }
}
