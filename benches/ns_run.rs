//! `rawclone run` against util-linux `unshare`, both running `/bin/true` as root of new user,
//! pid and mount namespaces with a fresh `/proc` (`-Urpf --mount-proc`).
//!
//! Group `ns_run`: `unshare_true`, `rawclone_run_true` (fixed ids; see `rawclone bench-report`).
//! Skipped, with the reason, where `unshare` is missing or namespaces are refused.

use criterion::{Criterion, criterion_group, criterion_main};
use std::process::{Command, Stdio};

const FLAGS: [&str; 2] = ["-Urpf", "--mount-proc"];

fn status(program: &str, front: &[&str]) -> bool {
    Command::new(program)
        .args(front)
        .args(FLAGS)
        .arg("/bin/true")
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ns_run(c: &mut Criterion) {
    let rawclone = env!("CARGO_BIN_EXE_rawclone");
    if !status("unshare", &[]) || !status(rawclone, &["run"]) {
        eprintln!("ns_run skipped: unshare is missing or namespaces are refused here");
        return;
    }
    let mut g = c.benchmark_group("ns_run");
    g.bench_function("unshare_true", |b| b.iter(|| status("unshare", &[])));
    g.bench_function("rawclone_run_true", |b| {
        b.iter(|| status(rawclone, &["run"]))
    });
    g.finish();
}

criterion_group!(benches, ns_run);
criterion_main!(benches);
