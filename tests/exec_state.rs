//! Programs rawclone starts begin with SIGPIPE at its default, as `std::process::Command` gives
//! them (std ignores it in every Rust program, and an ignored signal survives exec), from
//! `vfork_exec`, `Namespaces::exec` and `rawclone run` alike, beside `unshare`. The mask is the
//! caller's, as with `Command` (tests/modes.rs checks it).

mod common;

use common::*;
use rawclone::ns::Namespaces;
use rawclone::{ExitStatus, Signal, sys, vfork_exec};
use std::process::Command;

/// Exits 0 when the shell's SIGPIPE is not ignored, 1 when it is.
const CHECK: &core::ffi::CStr = c"ign=$(sed -n 's/^SigIgn:\\s*//p' /proc/self/status); \
[ $((0x$ign & 0x1000)) -eq 0 ] || exit 1";

/// Make sure SIGPIPE is ignored, as std leaves it in every Rust program.
fn as_std_leaves_it() {
    let _ = sys::set_signal_disposition(Signal::SIGPIPE, sys::Disposition::Ignore);
}

fn status_code(status: ExitStatus) -> i32 {
    match status {
        ExitStatus::Exited(code) => code,
        ExitStatus::Signaled { .. } => 100,
    }
}

#[test]
fn vfork_exec_resets_sigpipe() {
    assert_in_fork(|| {
        as_std_leaves_it();
        match vfork_exec(c"/bin/sh", &[c"sh", c"-c", CHECK], &[]).map(|c| c.wait()) {
            Ok(Ok(status)) => status_code(status),
            _ => 50,
        }
    });
}

#[test]
fn namespaced_exec_resets_sigpipe() {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    assert_in_fork(|| {
        as_std_leaves_it();
        let ns = Namespaces::new().user().map_root();
        match ns
            .exec(c"sh", &[c"sh", c"-c", CHECK], &[c"PATH=/bin:/usr/bin"])
            .map(|c| c.wait())
        {
            Ok(Ok(status)) => status_code(status),
            _ => 50,
        }
    });
}

/// What `yes | head -n1` prints on stderr when started by `launcher`.
fn broken_pipe_stderr(launcher: &[&str]) -> String {
    let out = Command::new(launcher[0])
        .args(&launcher[1..])
        .args(["sh", "-c", "yes | head -n1 >/dev/null"])
        .output()
        .expect("launcher");
    assert!(out.status.success(), "{launcher:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn rawclone_run_starts_programs_with_sigpipe_at_default_like_unshare() {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEWUSER gives EINVAL");
    }
    let rawclone = env!("CARGO_BIN_EXE_rawclone");
    let ours = Command::new(rawclone)
        .args(["run", "-r", "--", "sh", "-c", CHECK.to_str().unwrap()])
        .status()
        .unwrap();
    let theirs = Command::new("unshare")
        .args(["-r", "--", "sh", "-c", CHECK.to_str().unwrap()])
        .status()
        .unwrap();
    assert_eq!(ours.code(), theirs.code(), "rawclone run vs unshare -r");
    assert_eq!(ours.code(), Some(0));
    assert_eq!(
        broken_pipe_stderr(&[rawclone, "run", "-r", "--"]),
        broken_pipe_stderr(&["unshare", "-r", "--"])
    );
}
