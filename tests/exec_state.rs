//! Programs rawclone starts begin in the state `std::process::Command` gives them: SIGPIPE at
//! its default (std ignores it in every Rust program, and an ignored signal survives exec) and no
//! blocked signals, from `vfork_exec`, `Namespaces::exec` and `rawclone run` alike, beside
//! `unshare`.

mod common;

use common::*;
use rawclone::ns::Namespaces;
use rawclone::{ExitStatus, SigSet, Signal, sys, vfork_exec};
use std::process::Command;

/// Exits 0 when the shell's SIGPIPE is not ignored and no signal is blocked; 1 when SIGPIPE is
/// ignored, 2 when a signal is blocked (a shell may clear its mask itself: dash does, so the mask
/// is also checked by `grep` in tests/modes.rs).
const CHECK: &core::ffi::CStr = c"ign=$(sed -n 's/^SigIgn:\\s*//p' /proc/self/status); \
blk=$(sed -n 's/^SigBlk:\\s*//p' /proc/self/status); \
[ $((0x$ign & 0x1000)) -eq 0 ] || exit 1; [ $((0x$blk)) -eq 0 ] || exit 2";

/// Block SIGUSR1 and make sure SIGPIPE is ignored, as in a std program with a signal library.
fn as_std_leaves_it() {
    let _ = sys::set_signal_disposition(Signal::SIGPIPE, sys::Disposition::Ignore);
    let _ = sys::set_signal_mask(SigSet::EMPTY.with(Signal::SIGUSR1));
}

fn status_code(status: ExitStatus) -> i32 {
    match status {
        ExitStatus::Exited(code) => code,
        ExitStatus::Signaled { .. } => 100,
    }
}

#[test]
fn vfork_exec_resets_sigpipe_and_the_mask() {
    assert_in_fork(|| {
        as_std_leaves_it();
        match vfork_exec(c"/bin/sh", &[c"sh", c"-c", CHECK], &[]).map(|c| c.wait()) {
            Ok(Ok(status)) => status_code(status),
            _ => 50,
        }
    });
}

#[test]
fn namespaced_exec_resets_sigpipe_and_the_mask() {
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
