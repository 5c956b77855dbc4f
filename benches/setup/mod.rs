//! The one tokio setup every bench uses: current_thread with
//! `enable_all()`, as `#[tokio::main(flavor = "current_thread")]` builds
//! it, and a `LocalSet` for the `!Send` tasks.

#![allow(dead_code)] // each bench target uses its own subset

/// tokio as its users get it. `TOKIO_DRIVERS=time` enables the time
/// driver only (no I/O driver, so waking an idle runtime is no eventfd
/// write): a labelled experiment, never the default.
pub fn tokio_rt() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    match std::env::var("TOKIO_DRIVERS").as_deref() {
        Ok("time") => builder.enable_time(),
        Ok("all") | Err(_) => builder.enable_all(),
        Ok(other) => panic!("TOKIO_DRIVERS={other}: expected `all` or `time`"),
    };
    let rt = builder.build().expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}

/// tokio with no driver at all: the fastest setup for work that needs
/// neither timers nor I/O (`to_thread`-style offload), shown beside the
/// default where the difference matters.
pub fn tokio_rt_no_drivers() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    (rt, tokio::task::LocalSet::new())
}
