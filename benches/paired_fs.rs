//! Paired, interleaved comparison of `arbor::fs` with `tokio::fs` on the
//! `fs_workloads` (a 64 MiB file read whole, read to end through a
//! `File`, read 8 KiB at a time, written 8 KiB at a time); see `pairing`
//! for how rounds are run and reported. A fresh runtime per run, so both
//! pay for starting their worker threads; tokio is built as
//! `#[tokio::main(flavor = "current_thread")]` builds it.
//!
//! ```text
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_fs
//! ROUNDS=11 cargo bench -p arbor-benches --bench paired_fs -- read_to_end
//! ```

mod fs_workloads;
mod pairing;
mod setup;
use fs_workloads::*;
use pairing::{Side, arbor, tokio, workload};

fn main() {
    pairing::main(vec![
        workload(
            "fs_read",
            vec![
                Side::arbor("arbor", arbor(arbor_read)),
                Side::peer("tokio", tokio(tokio_rt, tokio_read)),
            ],
        ),
        workload(
            "fs_file_read_to_end",
            vec![
                Side::arbor("arbor", arbor(arbor_file_read_to_end)),
                Side::arbor("arbor-asyncread", arbor(arbor_file_read_to_end_asyncread)),
                Side::peer("tokio", tokio(tokio_rt, tokio_file_read_to_end)),
            ],
        ),
        workload(
            "fs_file_read_8k",
            vec![
                Side::arbor("arbor", arbor(arbor_file_read_8k)),
                Side::peer("tokio", tokio(tokio_rt, tokio_file_read_8k)),
            ],
        ),
        workload(
            "fs_file_write_8k",
            vec![
                Side::arbor("arbor", arbor(arbor_file_write_8k)),
                Side::peer("tokio", tokio(tokio_rt, tokio_file_write_8k)),
            ],
        ),
    ]);
    cleanup();
}
