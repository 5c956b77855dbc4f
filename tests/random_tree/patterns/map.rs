//! `Node::Map`: the maps over scripted items, and the checks of what
//! they did.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arbor::move_on_after;
use arbor::patterns::{map_concurrent, map_concurrent_unordered, try_map_concurrent};

use super::{Oops, Over};
use crate::interp::{BoxFut, Cx, Kept, PollOnce, Tracked, ms};
use crate::program::{MapKind, Step};
use crate::world::{Book, Kind};

struct MapModel {
    id: usize,
    limit: usize,
    fail_fast: bool,
    items: Vec<Step>,
    made: Vec<Cell<u32>>,
    alive: Cell<usize>,
    /// How each item ended (`true`: `Err`) and its end number.
    ended: Vec<Cell<Option<(bool, u64)>>>,
    /// The call returned or was dropped.
    over: Cell<bool>,
}

impl MapModel {
    fn first_failure(&self) -> Option<(usize, u64)> {
        (0..self.items.len())
            .filter_map(|i| match self.ended[i].get() {
                Some((true, seq)) => Some((i, seq)),
                _ => None,
            })
            .min_by_key(|&(_, seq)| seq)
    }

    /// `f(i)`: the item's future.
    fn start(self: &Rc<Self>, cx: &Cx, i: usize) -> MapItem {
        let (id, book) = (self.id, cx.book());
        if self.over.get() {
            book.violation(
                Kind::WrongOutcome,
                format!("m{id}: item {i} started after the call returned or was dropped"),
            );
        }
        let made = self.made[i].get() + 1;
        self.made[i].set(made);
        if made > 1 {
            book.violation(
                Kind::WrongOutcome,
                format!("m{id}: f called {made} times for item {i}"),
            );
        }
        let alive = self.alive.get() + 1;
        self.alive.set(alive);
        if alive > self.limit {
            book.violation(
                Kind::Exclusion,
                format!("m{id}: {alive} item futures alive, limit {}", self.limit),
            );
        }
        if self.fail_fast
            && let Some((j, _)) = self.first_failure()
        {
            book.violation(
                Kind::WrongOutcome,
                format!("m{id}: item {i} started after item {j} failed (fail fast)"),
            );
        }
        cx.log(|| format!("m{id} starts item {i}"));
        let step = self.items[i];
        let (model, icx) = (self.clone(), cx.clone());
        let code = Box::pin(async move {
            arbor::time::sleep(ms(step.sleep)).await;
            icx.progressed("map item sleep");
            let seq = icx.w.next_end_seq();
            model.ended[i].set(Some((step.fails, seq)));
            icx.log(|| format!("m{} item {i} ends (end #{seq})", model.id));
            if step.fails {
                Err(Oops {
                    id: i,
                    fatal: false,
                })
            } else {
                Ok(i)
            }
        });
        MapItem {
            inner: Tracked::new(book, "map item", code),
            model: self.clone(),
            book: book.clone(),
        }
    }
}

struct MapItem {
    inner: Tracked<Result<usize, Oops>>,
    model: Rc<MapModel>,
    book: Rc<Book>,
}

impl Future for MapItem {
    type Output = Result<usize, Oops>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.model.over.get() {
            this.book.violation(
                Kind::WrongOutcome,
                format!(
                    "m{}: an item future was polled after the call returned",
                    this.model.id
                ),
            );
        }
        Pin::new(&mut this.inner).poll(cx)
    }
}

impl Drop for MapItem {
    fn drop(&mut self) {
        self.model.alive.set(self.model.alive.get() - 1);
    }
}

enum MapOut {
    FailFast(Result<Vec<usize>, Oops>),
    All(Vec<Result<usize, Oops>>),
    /// `(index, output)` in the order the stream gave them.
    Unordered(Vec<(usize, Result<usize, Oops>)>),
}

pub async fn run_map(
    cx: &Cx,
    id: usize,
    kind: MapKind,
    limit: usize,
    timeout: Option<u32>,
    items: &[Step],
) {
    let n = items.len();
    let model = Rc::new(MapModel {
        id,
        limit,
        fail_fast: kind == MapKind::FailFast,
        items: items.to_vec(),
        made: (0..n).map(|_| Cell::new(0)).collect(),
        alive: Cell::new(0),
        ended: (0..n).map(|_| Cell::new(None)).collect(),
        over: Cell::new(false),
    });
    let f = {
        let (model, cx) = (model.clone(), cx.clone());
        move |i: usize| model.start(&cx, i)
    };
    let call: BoxFut<MapOut> = match kind {
        MapKind::FailFast => {
            Box::pin(async move { MapOut::FailFast(map_concurrent(0..n, limit, f).await) })
        }
        MapKind::All => {
            Box::pin(async move { MapOut::All(try_map_concurrent(0..n, limit, f).await) })
        }
        MapKind::Unordered => {
            let scx = cx.clone();
            Box::pin(async move {
                let mut stream = map_concurrent_unordered(0..n, limit, f);
                let mut got = Vec::new();
                loop {
                    // Cancel safe: a `next()` dropped after one poll
                    // takes no output with it.
                    let once = {
                        let mut next = std::pin::pin!(stream.next());
                        PollOnce(next.as_mut()).await
                    };
                    let next = match once {
                        Some(next) => next,
                        None => {
                            scx.book().count("map_unordered next() dropped pending");
                            stream.next().await
                        }
                    };
                    let Some(pair) = next else {
                        break;
                    };
                    scx.progressed("MapUnordered::next");
                    got.push(pair);
                }
                MapOut::Unordered(got)
            })
        }
    };
    let m = model.clone();
    let book = cx.book().clone();
    let call = Over::new(call, move || {
        m.over.set(true);
        if m.alive.get() != 0 {
            book.violation(
                Kind::Leak,
                format!(
                    "m{}: {} item futures alive after the call returned or was dropped",
                    m.id,
                    m.alive.get()
                ),
            );
        }
    });
    let out = match timeout {
        Some(t) => move_on_after(ms(t), Kept::new(call)).await,
        None => Some(Kept::new(call).await),
    };
    let Some((out, kept)) = out else {
        cx.log(|| format!("m{id} was cancelled"));
        cx.book().count("map cancelled");
        return;
    };
    cx.progressed_unless_kept("map_concurrent", kept);
    let book = cx.book();
    let bad = |what: String| {
        let ended: Vec<_> = model.ended.iter().map(Cell::get).collect();
        book.violation(
            Kind::WrongOutcome,
            format!("m{id}: {what} (items ended as (Err?, end #): {ended:?})"),
        );
    };
    let all_ok = |vals: &[usize]| vals.len() == n && vals.iter().enumerate().all(|(i, &v)| v == i);
    match out {
        MapOut::FailFast(Ok(vals)) => {
            cx.log(|| format!("m{id} = Ok({vals:?})"));
            book.count("map Ok");
            let every = (0..n).all(|i| matches!(model.ended[i].get(), Some((false, _))));
            if !all_ok(&vals) || !every {
                bad(format!("map_concurrent returned Ok({vals:?})"));
            }
        }
        MapOut::FailFast(Err(e)) => {
            cx.log(|| format!("m{id} = Err({e:?})"));
            book.count("map Err");
            if model.first_failure().map(|f| f.0) != Some(e.id) {
                bad(format!(
                    "map_concurrent returned Err({e:?}), not the first failure"
                ));
            }
        }
        MapOut::Unordered(got) => {
            cx.log(|| format!("m{id} gave {got:?}"));
            book.count("map_unordered drained");
            let want = |i: usize| match model.ended[i].get() {
                Some((false, _)) => Some(Ok(i)),
                Some((true, _)) => Some(Err(Oops {
                    id: i,
                    fatal: false,
                })),
                None => None,
            };
            let seqs: Vec<u64> = got
                .iter()
                .map(|&(i, _)| model.ended.get(i).and_then(Cell::get).map_or(0, |e| e.1))
                .collect();
            let mut indices: Vec<usize> = got.iter().map(|p| p.0).collect();
            indices.sort_unstable();
            let fine = indices == (0..n).collect::<Vec<_>>()
                && got.iter().all(|&(i, r)| want(i) == Some(r))
                && seqs.windows(2).all(|w| w[0] < w[1]);
            if !fine {
                bad(format!(
                    "map_concurrent_unordered gave {got:?}, not each item's output once in the \
                     order they ended"
                ));
            }
        }
        MapOut::All(results) => {
            cx.log(|| format!("m{id} = {results:?}"));
            book.count("try_map returned");
            let fine = results.len() == n
                && results.iter().enumerate().all(|(i, r)| {
                    let want = match model.ended[i].get() {
                        Some((false, _)) => Ok(i),
                        Some((true, _)) => Err(Oops {
                            id: i,
                            fatal: false,
                        }),
                        None => return false,
                    };
                    *r == want
                });
            if !fine {
                bad(format!("try_map_concurrent returned {results:?}"));
            }
        }
    }
    let made: Vec<u32> = model.made.iter().map(Cell::get).collect();
    let must_all = !(kind == MapKind::FailFast && model.first_failure().is_some());
    if must_all && made.iter().any(|&m| m != 1) {
        bad(format!("f was called {made:?} times per item"));
    }
}
