#![cfg(any(target_arch = "x86_64", target_arch = "x86"))] // gdb drives the native build (i686 too: the x86_64 kernel runs it)
//! What a debugger sees of rawclone's machine code, checked with `gdb --batch`:
//! - a rawclone thread's backtrace ends at the child entry of the clone trampoline, which marks
//!   itself outermost in its CFI, instead of running on into the parent's frames and garbage;
//! - a backtrace taken inside a signal handler installed with `sys::set_signal_handler` crosses
//!   the arch's signal restorer (`<signal handler called>`) into the interrupted frames.
//!
//! Each test is also its own inferior: gdb runs this test binary again, filtered to that one test,
//! with [`ROLE`] set, and the test then does the work instead of driving gdb. Where gdb is not
//! installed (Debian package `gdb`; `bash .ci/test` installs it) the tests are skipped with that
//! reason.

mod common;

use rawclone::sys::{self, Pid};
use rawclone::{Signal, Stack};
use std::process::Command;

/// Set in the inferior to the name of the test it plays.
const ROLE: &str = "RAWCLONE_GDB_INFERIOR";

/// Stop here under gdb: SIGTRAP sent to the calling task alone, so gdb's current thread is this
/// one and `bt` shows its stack.
#[inline(never)]
fn gdb_stop_here() {
    let (pid, tid): (Pid, Pid) = (sys::getpid(), sys::gettid());
    let _ = sys::tgkill(pid, tid, Signal::SIGTRAP);
}

/// Whether this process is the inferior of test `name`.
fn is_inferior(name: &str) -> bool {
    std::env::var(ROLE).is_ok_and(|role| role == name)
}

/// Run test `name` of this binary as gdb's inferior, stop at its SIGTRAP, and return the
/// backtrace of the stopped thread; `None` (after reporting the skip) where gdb is missing.
fn backtrace_of(name: &str, gdb_commands: &[&str]) -> Option<String> {
    if Command::new("gdb").arg("--version").output().is_err() {
        common::skip("gdb is not installed (Debian package gdb; bash .ci/test installs it)");
        return None;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut gdb = Command::new("gdb");
    gdb.args(["--batch", "--nx", "-ex", "set debuginfod enabled off"]);
    gdb.args(["-ex", "set pagination off", "-ex", "set width 0"]);
    for command in gdb_commands {
        gdb.args(["-ex", command]);
    }
    gdb.args(["-ex", "run", "-ex", "bt", "--args"])
        .arg(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ROLE, name)
        .env_remove("RAWCLONE_SKIP_LOG");
    let out = gdb.output().expect("run gdb");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("received signal SIGTRAP"),
        "the inferior did not stop at its SIGTRAP:\n{stdout}\n{stderr}"
    );
    // The backtrace: the frame lines (`#N  …`) and what gdb says where it stops.
    let bt: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("#0 "))
        .filter(|l| l.starts_with('#') || l.starts_with("Backtrace stopped"))
        .collect();
    assert!(!bt.is_empty(), "no backtrace:\n{stdout}\n{stderr}");
    Some(bt.join("\n"))
}

/// A rawclone thread stopped inside its closure: gdb's backtrace runs from the closure down to
/// the trampoline's child entry and ends there, one frame below `child_main`, with no frame of
/// the parent (which never called it) and no complaint about a corrupt stack.
#[test]
fn thread_backtrace_ends_at_the_child_entry() {
    const NAME: &str = "thread_backtrace_ends_at_the_child_entry";
    if is_inferior(NAME) {
        let mut stack = Stack::map(256 * 1024).expect("stack");
        // SAFETY: the thread only sends itself a signal with raw syscalls.
        let thread = unsafe {
            rawclone::thread(&mut stack, || {
                gdb_stop_here();
                7
            })
        }
        .expect("spawn thread");
        assert_eq!(thread.join(), 7);
        return;
    }
    let Some(bt) = backtrace_of(NAME, &[]) else {
        return;
    };
    assert!(
        bt.contains("gdb_stop_here"),
        "not the thread's stack:\n{bt}"
    );
    assert!(!bt.contains("Backtrace stopped"), "gdb gave up:\n{bt}");
    let frames: Vec<&str> = bt.lines().collect();
    let main = frames
        .iter()
        .position(|f| f.contains("child_main"))
        .unwrap_or_else(|| panic!("no child_main frame:\n{bt}"));
    assert_eq!(
        frames.len(),
        main + 2,
        "exactly one frame, the trampoline's child entry, must follow child_main:\n{bt}"
    );
    let last = frames[main + 1];
    assert!(
        last.contains("rawclone::arch::") && last.contains("child_entry"),
        "the outermost frame must be the trampoline's child entry:\n{bt}"
    );
}

/// Interrupted here by SIGUSR1, whose handler stops under gdb.
#[inline(never)]
fn interrupted_by_sigusr1() {
    let (pid, tid): (Pid, Pid) = (sys::getpid(), sys::gettid());
    let _ = sys::tgkill(pid, tid, Signal::SIGUSR1);
}

extern "C" fn on_sigusr1(_sig: i32) {
    gdb_stop_here();
}

/// A backtrace taken in a signal handler crosses the restorer: gdb recognises it as the signal
/// trampoline (`<signal handler called>`) and continues into the frame the signal interrupted.
#[test]
fn backtrace_crosses_the_signal_restorer() {
    const NAME: &str = "backtrace_crosses_the_signal_restorer";
    if is_inferior(NAME) {
        // SAFETY: the handler only sends its own thread a signal with raw syscalls.
        unsafe { sys::set_signal_handler(Signal::SIGUSR1, on_sigusr1) }.expect("sigaction");
        interrupted_by_sigusr1();
        return;
    }
    let Some(bt) = backtrace_of(NAME, &["handle SIGUSR1 nostop noprint pass"]) else {
        return;
    };
    let frames: Vec<&str> = bt.lines().collect();
    // gdb may stop only below the C library's own thread start, never in rawclone's frames:
    // musl's i386 `__clone` (src/thread/i386/clone.s, under the test harness's threads) has no
    // CFI that marks it outermost, so gdb reads one more frame of garbage past it and gives up.
    if let Some(stop) = frames
        .iter()
        .position(|f| f.starts_with("Backtrace stopped"))
    {
        let libc_start = frames[..stop]
            .iter()
            .position(|f| f.contains("__clone") && f.contains("clone.s"));
        assert!(
            libc_start.is_some_and(|at| frames[at + 1..stop].iter().all(|f| f.contains("?? ()"))),
            "gdb gave up:\n{bt}"
        );
    }
    let at = |what: &str| {
        frames
            .iter()
            .position(|f| f.contains(what))
            .unwrap_or_else(|| panic!("no frame {what}:\n{bt}"))
    };
    let handler = at("on_sigusr1");
    let trampoline = at("<signal handler called>");
    let interrupted = at("interrupted_by_sigusr1");
    assert_eq!(trampoline, handler + 1, "the handler's caller:\n{bt}");
    assert!(interrupted > trampoline, "the interrupted frames:\n{bt}");
    assert!(
        frames[interrupted..]
            .iter()
            .any(|f| f.contains("backtrace_crosses_the_signal_restorer")),
        "the interrupted frames down to the test:\n{bt}"
    );
}
