//! Spawning and scheduling: `spawn_join`, `yield_many`, `chained_spawn`,
//! `spawn_tree`.

use std::future::Future;
use std::pin::Pin;

use super::{Ex, three};
use crate::pairing::Workload;

const SPAWN_TASKS: usize = 10_000;
const YIELD_TASKS: usize = 1_000;
const YIELDS_PER_TASK: usize = 100;
const CHAIN_DEPTH: usize = 10_000;
/// A binary tree of spawns this deep: 2^(d+1) - 1 tasks.
const TREE_DEPTH: u32 = 14;
const TREE_TASKS: usize = (1 << (TREE_DEPTH + 1)) - 1;

type Local<T> = Pin<Box<dyn Future<Output = T>>>;

// spawn_join: 10,000 no-op tasks, then await every handle.

async fn arbor_spawn_join() {
    let handles: Vec<_> = (0..SPAWN_TASKS)
        .map(|_| arbor::spawn(async { 1 }))
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.await.expect("task");
    }
    assert_eq!(done, SPAWN_TASKS);
}

async fn tokio_spawn_join() {
    let handles: Vec<_> = (0..SPAWN_TASKS)
        .map(|_| tokio::task::spawn_local(async { 1 }))
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.await.expect("task");
    }
    assert_eq!(done, SPAWN_TASKS);
}

async fn smol_spawn_join(ex: Ex) {
    let handles: Vec<_> = (0..SPAWN_TASKS).map(|_| ex.spawn(async { 1 })).collect();
    let mut done = 0;
    for h in handles {
        done += h.await;
    }
    assert_eq!(done, SPAWN_TASKS);
}

// yield_many: 1,000 tasks each yield 100 times.

async fn arbor_yield_many() {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            arbor::spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    arbor::yield_now().await;
                }
                YIELDS_PER_TASK
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.await.expect("task");
    }
    assert_eq!(done, YIELD_TASKS * YIELDS_PER_TASK);
}

async fn tokio_yield_many() {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            tokio::task::spawn_local(async {
                for _ in 0..YIELDS_PER_TASK {
                    tokio::task::yield_now().await;
                }
                YIELDS_PER_TASK
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.await.expect("task");
    }
    assert_eq!(done, YIELD_TASKS * YIELDS_PER_TASK);
}

async fn smol_yield_many(ex: Ex) {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            ex.spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    futures_lite::future::yield_now().await;
                }
                YIELDS_PER_TASK
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.await;
    }
    assert_eq!(done, YIELD_TASKS * YIELDS_PER_TASK);
}

// chained_spawn: each task spawns the next and awaits it.

async fn arbor_chain(remaining: usize) -> usize {
    if remaining == 1 {
        return 1;
    }
    arbor::spawn(arbor_chain(remaining - 1))
        .await
        .expect("link")
        + 1
}

async fn tokio_chain(remaining: usize) -> usize {
    if remaining == 1 {
        return 1;
    }
    tokio::task::spawn_local(tokio_chain(remaining - 1))
        .await
        .expect("link")
        + 1
}

async fn smol_chain(ex: Ex, remaining: usize) -> usize {
    if remaining == 1 {
        return 1;
    }
    ex.spawn(smol_chain(ex.clone(), remaining - 1)).await + 1
}

// spawn_tree: every node spawns two children and awaits both.

fn arbor_tree(depth: u32) -> Local<usize> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let l = arbor::spawn(arbor_tree(depth - 1));
        let r = arbor::spawn(arbor_tree(depth - 1));
        l.await.expect("left") + r.await.expect("right") + 1
    })
}

fn tokio_tree(depth: u32) -> Local<usize> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let l = tokio::task::spawn_local(tokio_tree(depth - 1));
        let r = tokio::task::spawn_local(tokio_tree(depth - 1));
        l.await.expect("left") + r.await.expect("right") + 1
    })
}

fn smol_tree(ex: Ex, depth: u32) -> Local<usize> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let l = ex.spawn(smol_tree(ex.clone(), depth - 1));
        let r = ex.spawn(smol_tree(ex.clone(), depth - 1));
        l.await + r.await + 1
    })
}

pub fn workloads() -> Vec<Workload> {
    vec![
        three(
            "spawn_join",
            arbor_spawn_join,
            tokio_spawn_join,
            smol_spawn_join,
        ),
        three(
            "yield_many",
            arbor_yield_many,
            tokio_yield_many,
            smol_yield_many,
        ),
        three(
            "chained_spawn",
            || async {
                let links = arbor::spawn(arbor_chain(CHAIN_DEPTH)).await.expect("chain");
                assert_eq!(links, CHAIN_DEPTH);
            },
            || async {
                let links = tokio::task::spawn_local(tokio_chain(CHAIN_DEPTH))
                    .await
                    .expect("chain");
                assert_eq!(links, CHAIN_DEPTH);
            },
            |ex| async move {
                let links = ex.spawn(smol_chain(ex.clone(), CHAIN_DEPTH)).await;
                assert_eq!(links, CHAIN_DEPTH);
            },
        ),
        three(
            "spawn_tree",
            || async { assert_eq!(arbor_tree(TREE_DEPTH).await, TREE_TASKS) },
            || async { assert_eq!(tokio_tree(TREE_DEPTH).await, TREE_TASKS) },
            |ex| async move { assert_eq!(smol_tree(ex, TREE_DEPTH).await, TREE_TASKS) },
        ),
    ]
}
