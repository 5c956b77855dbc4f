//! The readable listing of a program, printed by replays.

use std::fmt;

use super::{
    AN_HOUR, Body, Ending, GetWrap, JoinWrap, MapKind, Node, Program, SetEnd, SetStep, Step,
};

struct Listing<'a>(&'a Node, usize);

fn ending(e: Ending) -> &'static str {
    match e {
        Ending::Ok => "Ok",
        Ending::Err => "Err",
        Ending::Panic => "panic!",
    }
}

/// Scripted steps as `[2ms Ok, 0ms Err, 1ms Err!]` (`!`: not retryable).
fn steps(items: &[Step]) -> String {
    let v: Vec<String> = items
        .iter()
        .map(|s| {
            format!(
                "{}ms {}",
                s.sleep,
                match (s.fails, s.fatal) {
                    (false, _) => "Ok",
                    (true, false) => "Err",
                    (true, true) => "Err!",
                }
            )
        })
        .collect();
    format!("[{}]", v.join(", "))
}

fn ms(t: Option<u32>) -> String {
    match t {
        None => "-".into(),
        Some(AN_HOUR) => "1h".into(),
        Some(t) => format!("{t}ms"),
    }
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Listing(node, ind) = *self;
        let pad = "  ".repeat(ind);
        let block = |f: &mut fmt::Formatter<'_>, head: String, body: &Node| {
            writeln!(f, "{pad}{head} {{")?;
            write!(f, "{}", Listing(body, ind + 1))?;
            writeln!(f, "{pad}}}")
        };
        let body_block = |f: &mut fmt::Formatter<'_>, head: String, body: &Body| {
            writeln!(f, "{pad}{head} {{")?;
            write!(f, "{}", Listing(&body.node, ind + 1))?;
            writeln!(f, "{pad}}} -> {}", ending(body.ending))
        };
        match node {
            Node::Seq(items) => {
                for item in items {
                    write!(f, "{}", Listing(item, ind))?;
                }
                Ok(())
            }
            Node::Sleep(t) => writeln!(f, "{pad}sleep({t}ms)"),
            Node::Yield => writeln!(f, "{pad}yield_now()"),
            Node::Checkpoint => writeln!(f, "{pad}checkpoint()"),
            Node::Panic => writeln!(f, "{pad}panic!()"),
            Node::Spawn {
                slot,
                body,
                detach,
                remote,
            } => body_block(
                f,
                format!(
                    "task{slot} = {}{}",
                    if *remote {
                        "Handle::current().spawn"
                    } else {
                        "arbor::spawn"
                    },
                    if *detach { " (detached)" } else { "" }
                ),
                body,
            ),
            Node::Join { slot } => writeln!(f, "{pad}task{slot}.await"),
            Node::Abort { slot } => writeln!(f, "{pad}task{slot}.abort()"),
            Node::AbortGuard { slot, body } => {
                block(f, format!("with AbortOnDrop(task{slot})"), body)
            }
            Node::LocalScope { value, body } => block(f, format!("LOCAL.scope({value})"), body),
            Node::CheckLocal => writeln!(f, "{pad}check LOCAL"),
            Node::Nursery {
                id,
                supervisor,
                sref,
                reraise,
                body,
            } => body_block(
                f,
                format!(
                    "n{id} = {}{}{}",
                    if *supervisor { "supervisor" } else { "nursery" },
                    sref.map_or(String::new(), |s| format!(" [scope ref {s}]")),
                    if *reraise { " [re-raise panics]" } else { "" },
                ),
                body,
            ),
            Node::NSpawn {
                up,
                id,
                cslot,
                shielded,
                shares,
                child,
            } => body_block(
                f,
                format!(
                    "{}child{id} = n[up {up}].spawn{}{}",
                    cslot.map_or(String::new(), |c| format!("c{c} = ")),
                    if *shielded { "(shield)" } else { "" },
                    if *shares {
                        " [waits for its body's permit]"
                    } else {
                        ""
                    },
                ),
                child,
            ),
            Node::NStart {
                up,
                id,
                pre,
                pre_end,
                post,
            } => {
                writeln!(f, "{pad}child{id} = n[up {up}].start(|status| {{")?;
                write!(f, "{}", Listing(pre, ind + 1))?;
                match pre_end {
                    Some(e) => writeln!(f, "{pad}  return {} (before started)", ending(*e))?,
                    None => writeln!(f, "{pad}  status.started({id})")?,
                }
                write!(f, "{}", Listing(&post.node, ind + 1))?;
                writeln!(f, "{pad}}}) -> {}", ending(post.ending))
            }
            Node::NSet {
                up,
                id,
                children,
                steps,
                end,
            } => {
                writeln!(f, "{pad}s{id} = n[up {up}].child_set()")?;
                for (i, c) in children.iter().enumerate() {
                    body_block(
                        f,
                        format!(
                            "[{i}] child{} = s{id}.spawn{}{}",
                            c.id,
                            if c.shielded { "(shield)" } else { "" },
                            if c.cancels_join {
                                " [cancels the join's scope at its end]"
                            } else {
                                ""
                            },
                        ),
                        &c.body,
                    )?;
                }
                for step in steps {
                    match step {
                        SetStep::Join(JoinWrap::Plain) => writeln!(f, "{pad}s{id}.join_next()"),
                        SetStep::Join(JoinWrap::MoveOn(t)) => {
                            writeln!(f, "{pad}move_on_after({t}ms, s{id}.join_next())")
                        }
                        SetStep::Join(JoinWrap::PreCancelled) => {
                            writeln!(f, "{pad}PreCancelled {{ s{id}.join_next() }}")
                        }
                        SetStep::Join(JoinWrap::Scope) => writeln!(
                            f,
                            "{pad}CancelScope [a child may cancel it] {{ s{id}.join_next() }}"
                        ),
                        SetStep::Join(JoinWrap::PollOnce) => {
                            writeln!(f, "{pad}s{id}.join_next() polled once")
                        }
                        SetStep::TryJoin => writeln!(f, "{pad}s{id}.try_join_next()"),
                        SetStep::Pause(t) => writeln!(f, "{pad}sleep({t}ms)"),
                        SetStep::Cancel(i) => writeln!(f, "{pad}s{id}[{i}].cancel()"),
                        SetStep::CancelAll => writeln!(f, "{pad}s{id}.cancel_all()"),
                    }?;
                }
                match end {
                    SetEnd::JoinAll => {
                        writeln!(f, "{pad}while let Some(_) = s{id}.join_next().await {{}}")
                    }
                    SetEnd::Drop => writeln!(f, "{pad}drop(s{id})"),
                }
            }
            Node::NJoin { cslot } => writeln!(f, "{pad}c{cslot}.await"),
            Node::NCancel { cslot } => writeln!(f, "{pad}c{cslot}.cancel()"),
            Node::NCancelOwn { up } => writeln!(f, "{pad}n[up {up}].cancel_scope().cancel()"),
            Node::Scope { kind, sref, body } => block(
                f,
                format!(
                    "{kind:?}{}",
                    sref.map_or(String::new(), |s| format!(" [scope ref {s}]"))
                ),
                body,
            ),
            Node::CancelRef { sref } => writeln!(f, "{pad}scope_ref{sref}.cancel()"),
            Node::Cancelled { timeout } => {
                writeln!(f, "{pad}move_on_after({timeout}ms, cancelled())")
            }
            Node::CancelledKept { body } => block(f, "with cancelled() polled once".into(), body),
            Node::Acquire {
                res,
                permits,
                timeout,
                body,
            } => block(
                f,
                format!("with {res:?}.acquire({permits}) timeout {}", ms(*timeout)),
                body,
            ),
            Node::SetEvent { ev } => writeln!(f, "{pad}ev{ev}.set()"),
            Node::WaitEvent { ev, timeout } => {
                writeln!(f, "{pad}move_on_after({timeout}ms, ev{ev}.wait())")
            }
            Node::Send {
                chan,
                count,
                timeout,
                try_,
            } => writeln!(
                f,
                "{pad}ch{chan}.{}send x{count} timeout {}",
                if *try_ { "try_" } else { "" },
                ms(*timeout)
            ),
            Node::Recv {
                chan,
                count,
                timeout,
                try_,
            } => writeln!(
                f,
                "{pad}ch{chan}.{}recv x{count} timeout {}",
                if *try_ { "try_" } else { "" },
                ms(*timeout)
            ),
            Node::CloseTx { chan } => writeln!(f, "{pad}drop(ch{chan}.tx)"),
            Node::CloseRx { chan } => writeln!(f, "{pad}drop(ch{chan}.rx)"),
            Node::Map {
                id,
                kind,
                limit,
                timeout,
                items,
            } => writeln!(
                f,
                "{pad}m{id} = {}{}(items {}, limit {limit})",
                timeout.map_or(String::new(), |t| format!("move_on_after({t}ms) ")),
                match kind {
                    MapKind::FailFast => "map_concurrent",
                    MapKind::All => "try_map_concurrent",
                    MapKind::Unordered => "map_concurrent_unordered",
                },
                steps(items),
            ),
            Node::Retry {
                id,
                policy,
                timeout,
                script,
            } => writeln!(
                f,
                "{pad}r{id} = {}retry({policy:?}, attempts {})",
                timeout.map_or(String::new(), |t| format!("move_on_after({t}ms) ")),
                steps(script)
            ),
            Node::PoolGet {
                crowd,
                wrap,
                hold,
                discard,
            } => writeln!(
                f,
                "{pad}{}{} then hold {hold}ms and {}",
                if *crowd > 1 {
                    format!("{crowd} at once: ")
                } else {
                    String::new()
                },
                match wrap {
                    GetWrap::MoveOn(t) => format!("move_on_after({}, pool.get())", ms(Some(*t))),
                    GetWrap::PollOnce => "pool.get() polled once".into(),
                },
                if *discard { "discard" } else { "drop" }
            ),
            Node::PoolClose { timeout } => {
                writeln!(f, "{pad}move_on_after({timeout}ms, pool.close())")
            }
            Node::Write { len, timeout } => writeln!(
                f,
                "{pad}move_on_after({}, stream.write({len} bytes))",
                ms(Some(timeout.unwrap_or(AN_HOUR)))
            ),
            Node::Read {
                max,
                count,
                timeout,
            } => writeln!(
                f,
                "{pad}{count} x move_on_after({}, stream.read({max} bytes))",
                ms(Some(timeout.unwrap_or(AN_HOUR)))
            ),
            Node::Flush { timeout } => writeln!(
                f,
                "{pad}move_on_after({}, stream.flush())",
                ms(Some(timeout.unwrap_or(AN_HOUR)))
            ),
            Node::Workers {
                up,
                id,
                workers,
                capacity,
                items,
                submit,
                end,
            } => writeln!(
                f,
                "{pad}w{id} = WorkerPool({workers} workers, capacity {capacity}) in n[up {up}]; {} items {}; then {end:?}",
                match submit {
                    Some(t) => format!("submit under move_on_after({})", ms(Some(*t))),
                    None => "try_submit".into(),
                },
                steps(items)
            ),
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// seed {} features {} ({} nodes)",
            self.seed, self.features, self.size
        )?;
        writeln!(
            f,
            "// semaphores {:?}, channels {:?} (None: unbounded), {} events, final {}",
            self.sems,
            self.chans,
            self.events,
            if self.final_abort {
                "abort of kept tasks"
            } else {
                "wait for tasks"
            }
        )?;
        if let Some(pool) = &self.pool {
            writeln!(f, "// pool {pool:?}")?;
        }
        if let Some(spec) = self.stream {
            writeln!(
                f,
                "// a UnixStream pair (SO_SNDBUF {:?}), drained with a {}ms pause before each read; at the end {}shutdown(Write), read to EOF",
                spec.sndbuf,
                spec.drain_pause,
                if spec.final_flush { "flush, " } else { "" }
            )?;
        }
        write!(f, "{}", Listing(&self.root, 0))
    }
}
