//! arbor's demo: concurrent timers, an interval, a pipe read and a wake
//! from another thread, then structured concurrency: a nursery whose first
//! failure cancels its siblings, and a timeout around a nursery. All on one
//! thread, printing what happens.
//!
//! ```text
//! cargo run --release --example demo
//! ```

use std::io::{Read, Write};
use std::time::Duration;

use arbor::io::Async;
use arbor::time::{self, Instant, sleep};

fn stamp(start: Instant) -> String {
    format!("[{:>4} ms]", (time::now() - start).as_millis())
}

fn main() -> std::io::Result<()> {
    let rt = arbor::Runtime::new()?;
    rt.block_on(async {
        let start = time::now();
        println!(
            "{} runtime started: one thread, tasks in a slab",
            stamp(start)
        );

        // Three sleepers spawned in the "wrong" order wake in deadline order.
        let sleepers: Vec<_> = [300u64, 100, 200]
            .into_iter()
            .map(|ms| {
                arbor::spawn_named(&format!("sleeper-{ms}"), async move {
                    sleep(Duration::from_millis(ms)).await;
                    let me = arbor::current_task().expect("inside a task");
                    println!("{} {} woke up", stamp(start), me.name().unwrap_or("?"));
                })
            })
            .collect();

        // An interval ticking alongside.
        let ticker = arbor::spawn(async move {
            let mut every = time::interval(Duration::from_millis(75));
            for n in 0..5 {
                every.tick().await;
                println!("{} tick {n}", stamp(start));
            }
        });

        // A pipe whose writer is a plain OS thread: the reader task parks in
        // the epoll reactor until the bytes arrive.
        let (reader, mut writer) = std::io::pipe()?;
        let reader = Async::new(reader)?;
        let writer_thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            writer.write_all(b"hello from another thread").unwrap();
        });
        let pipe_task = arbor::spawn(async move {
            let mut buf = [0u8; 64];
            let n = reader.read_with(|mut r| r.read(&mut buf)).await?;
            println!(
                "{} pipe delivered {:?}",
                stamp(start),
                String::from_utf8_lossy(&buf[..n])
            );
            Ok::<_, std::io::Error>(n)
        });

        for s in sleepers {
            s.await.expect("sleeper finished");
        }
        ticker.await.expect("ticker finished");
        let bytes = pipe_task.await.expect("pipe task finished")?;
        writer_thread.join().expect("writer thread");

        // A task that would run for an hour, aborted: its future is dropped now.
        let long = arbor::spawn(sleep(Duration::from_secs(3600)));
        arbor::yield_now().await;
        long.abort();
        let aborted = long.await.unwrap_err();
        println!("{} aborted the hour-long task: {aborted}", stamp(start));
        println!("{} read {bytes} bytes; now a nursery", stamp(start));

        // A nursery: three workers; one fails, the others are cancelled at
        // once (their futures dropped), and the failure comes back.
        let outcome = arbor::nursery(async |n| {
            for (name, ms) in [("fetch", 400u64), ("parse", 50), ("index", 800)] {
                n.spawn_named(name, async move {
                    sleep(Duration::from_millis(ms)).await;
                    if name == "parse" {
                        return Err(std::io::Error::other("malformed input"));
                    }
                    println!("{} {name} finished (unexpected!)", stamp(start));
                    Ok(())
                });
            }
        })
        .await;
        match outcome {
            Err(arbor::NurseryError::Failed(group)) => {
                println!(
                    "{} nursery failed, siblings cancelled: {group}",
                    stamp(start)
                );
            }
            other => println!("{} nursery ended with {other:?}", stamp(start)),
        }

        // A timeout around a nursery: both long children are dropped at 100 ms.
        let timed = arbor::move_on_after(
            Duration::from_millis(100),
            arbor::nursery(async |n| {
                n.spawn(sleep(Duration::from_secs(3600)));
                n.spawn(sleep(Duration::from_secs(7200)));
            }),
        )
        .await;
        let verdict = match timed {
            None => "moved on, children dropped",
            Some(_) => "finished?!",
        };
        println!("{} timeout around a nursery: {verdict}", stamp(start));
        println!("{} done: all tasks finished", stamp(start));
        Ok(())
    })
}
