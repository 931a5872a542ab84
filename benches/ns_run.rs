//! `rawclone run` against util-linux `unshare`, both running `/bin/true` as root of new user,
//! pid and mount namespaces with a fresh `/proc` (`-Urpf --mount-proc`).
//!
//! Group `ns_run` (fixed ids; see `rawclone bench-report`):
//! - `unshare_true`: util-linux `unshare`;
//! - `rawclone_run_true`: `rawclone run`, the binary `cargo install` builds (no libc, no dynamic
//!   loader: see `src/main.rs`). With the `std` feature the binary links libc, and this id
//!   measures that build instead (the bench says so on standard error).
//!
//! Skipped, with the reason, where `unshare` is missing or namespaces are refused.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::process::{Command, Stdio};

const FLAGS: [&str; 2] = ["-Urpf", "--mount-proc"];

fn status(program: &Path, front: &[&str]) -> bool {
    Command::new(program)
        .args(front)
        .args(FLAGS)
        .arg("/bin/true")
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ns_run(c: &mut Criterion) {
    let unshare = Path::new("unshare");
    let rawclone = Path::new(env!("CARGO_BIN_EXE_rawclone"));
    if cfg!(feature = "std") {
        eprintln!(
            "ns_run: built with the std feature, so rawclone_run_true measures the libc build"
        );
    }
    if !status(unshare, &[]) || !status(rawclone, &["run"]) {
        eprintln!("ns_run skipped: unshare is missing or namespaces are refused here");
        return;
    }
    let mut g = c.benchmark_group("ns_run");
    g.bench_function("unshare_true", |b| b.iter(|| status(unshare, &[])));
    g.bench_function("rawclone_run_true", |b| {
        b.iter(|| status(rawclone, &["run"]))
    });
    g.finish();
}

criterion_group!(benches, ns_run);
criterion_main!(benches);
