//! `rawclone run` against util-linux `unshare`, both running `/bin/true` as root of new user,
//! pid and mount namespaces with a fresh `/proc` (`-Urpf --mount-proc`).
//!
//! Group `ns_run` (fixed ids; see `rawclone bench-report`):
//! - `unshare_true`: util-linux `unshare`;
//! - `rawclone_run_true`: `rawclone-static run`, the command's static build (no libc, no
//!   dynamic loader), built here from `tests/freestanding`;
//! - `rawclone_run_true_dynamic`: `rawclone run` from the std binary cargo builds, which pays for
//!   the dynamic loader and std's start-up on every run.
//!
//! Skipped, with the reason, where `unshare` is missing or namespaces are refused.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
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

/// Build the static `rawclone-static` (a target directory of its own: the outer cargo holds the
/// main one's lock).
fn static_build() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("freestanding");
    let built = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["build", "--release", "-p", "rawclone-freestanding"])
        .args(["--target", "x86_64-unknown-none"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .is_ok_and(|s| s.success());
    built.then(|| target_dir.join("x86_64-unknown-none/release/rawclone-static"))
}

fn ns_run(c: &mut Criterion) {
    let unshare = Path::new("unshare");
    let dynamic = Path::new(env!("CARGO_BIN_EXE_rawclone"));
    let Some(fast) = static_build() else {
        eprintln!("ns_run skipped: the static rawclone build failed");
        return;
    };
    if !status(unshare, &[]) || !status(dynamic, &["run"]) || !status(&fast, &["run"]) {
        eprintln!("ns_run skipped: unshare is missing or namespaces are refused here");
        return;
    }
    let mut g = c.benchmark_group("ns_run");
    g.bench_function("unshare_true", |b| b.iter(|| status(unshare, &[])));
    g.bench_function("rawclone_run_true", |b| b.iter(|| status(&fast, &["run"])));
    g.bench_function("rawclone_run_true_dynamic", |b| {
        b.iter(|| status(dynamic, &["run"]))
    });
    g.finish();
}

criterion_group!(benches, ns_run);
criterion_main!(benches);
