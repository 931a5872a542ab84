#![cfg(target_arch = "x86_64")] // driven from the x86_64 host
//! The freestanding selftest under `strace -f`, built for x86_64 and for i686 (which the x86_64
//! kernel runs too): each mode's clone or clone3 call carries exactly the flags and exit signal it
//! promises (with the `CLONE_PIDFD` rawclone adds to every child process, so that its handle never
//! signals by pid), and nothing libc-shaped (loader, TLS or robust list set-up, brk heaps)
//! appears anywhere in a whole run.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// The builds traced: i686 has no `-none` target with a prebuilt `core`, so its freestanding
/// programs are built for its musl target without the C start files or libc (see tests/common).
const TARGETS: [&str; 2] = ["x86_64-unknown-none", "i686-unknown-linux-musl"];

fn selftest(target: &str) -> PathBuf {
    common::freestanding_program(target, "selftest")
}

/// Run the `target` build of `selftest ARGS` under `strace -f` with extra strace options;
/// returns the trace.
fn strace(target: &str, options: &[&str], args: &[&str], name: &str) -> String {
    let out = std::env::temp_dir().join(format!(
        "rawclone-strace-{}-{target}-{name}.txt",
        std::process::id()
    ));
    let status = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&out)
        .args(options)
        .arg(selftest(target))
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace is missing: install the Debian package strace (bash .ci/test does)");
    assert!(
        status.success(),
        "the {target} selftest {args:?} failed under strace"
    );
    let trace = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    trace
}

/// One traced clone as `clone3 FLAGS EXIT_SIGNAL` or `clone FLAGS` (exit signal inside FLAGS).
fn clone_calls(trace: &str) -> Vec<String> {
    let field = |line: &str, key: &str| -> String {
        let start = line.find(key).map(|i| i + key.len()).unwrap_or(line.len());
        line[start..]
            .split([',', '}', ')'])
            .next()
            .unwrap_or("")
            .to_string()
    };
    trace
        .lines()
        .map(|l| {
            l.split_once(' ')
                .filter(|(pid, _)| pid.parse::<u32>().is_ok())
                .map_or(l, |(_, rest)| rest.trim_start())
        })
        .filter_map(|l| {
            if l.starts_with("clone3(") {
                Some(format!(
                    "clone3 {} {}",
                    field(l, "flags="),
                    field(l, "exit_signal=")
                ))
            } else if l.starts_with("clone(") {
                Some(format!("clone {}", field(l, "flags=")))
            } else {
                None
            }
        })
        .collect()
}

/// The clone calls of `selftest only ID`, without the emulator probe that every run begins with.
fn calls_of(target: &str, id: &str) -> Vec<String> {
    let trace = strace(
        target,
        &["-e", "trace=clone,clone3", "-e", "signal=none"],
        &["only", id],
        id,
    );
    let mut calls = clone_calls(&trace);
    assert_eq!(
        calls.first().map(String::as_str),
        Some("clone3 CLONE_VM|CLONE_PIDFD SIGCHLD"),
        "the probe comes first:\n{trace}"
    );
    calls.remove(0);
    calls
}

const THREAD: &str = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM";

#[test]
fn each_mode_issues_exactly_its_flags() {
    let cases: &[(&str, &[&str])] = &[
        ("fork", &["clone CLONE_PIDFD|SIGCHLD"]),
        ("chimera", &["clone3 CLONE_VM|CLONE_PIDFD SIGCHLD"]),
        ("process", &["clone3 CLONE_PIDFD SIGCHLD"]),
        (
            "thread",
            &[&format!(
                "clone3 {THREAD}|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID 0"
            )],
        ),
        (
            "thread-tls",
            &[&format!(
                "clone {THREAD}|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"
            )],
        ),
        (
            "vfork",
            &["clone3 CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_CLEAR_SIGHAND SIGCHLD"],
        ),
        ("userns", &["clone3 CLONE_PIDFD|CLONE_NEWUSER SIGCHLD"]),
        ("pidfd", &["clone3 CLONE_PIDFD SIGCHLD"]),
        ("exit-signal", &["clone3 CLONE_PIDFD SIGUSR1"]),
        ("fs", &["clone3 CLONE_FS|CLONE_PIDFD SIGCHLD"]),
        ("files", &["clone3 CLONE_FILES|CLONE_PIDFD SIGCHLD"]),
        (
            "sighand",
            &["clone3 CLONE_VM|CLONE_SIGHAND|CLONE_PIDFD SIGCHLD"],
        ),
        ("rules", &[]),
    ];
    for target in TARGETS {
        for (id, want) in cases {
            assert_eq!(
                calls_of(target, id),
                *want,
                "mode {id} of the {target} build"
            );
        }
    }
}

#[test]
fn a_whole_run_makes_no_libc_shaped_syscalls() {
    for target in TARGETS {
        no_libc_shaped_syscalls(target, &strace(target, &[], &[], "full"));
    }
}

fn no_libc_shaped_syscalls(target: &str, trace: &str) {
    let libc_shaped = [
        "brk(",
        "set_tid_address(",
        "set_robust_list(",
        "rseq(",
        "prlimit64(",
        "getrandom(",
        // i386's TLS set-up (a libc's; rawclone's tasks get theirs through clone's TLS argument)
        "set_thread_area(",
    ];
    for line in trace.lines() {
        assert!(
            !libc_shaped.iter().any(|call| line.contains(call)),
            "libc-shaped syscall in the {target} build: {line}"
        );
        assert!(
            !line.contains("ARCH_SET_FS"),
            "a libc sets up TLS in the {target} build: {line}"
        );
        assert!(
            !line.contains("ld.so") && !line.contains("libc.so"),
            "a loader at work in the {target} build: {line}"
        );
    }
    assert!(
        trace.contains("clone3("),
        "the {target} trace is empty or strace saw nothing: {trace}"
    );
}

#[test]
fn the_trace_parser_reads_both_syscalls() {
    let sample = "12  clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x1, stack_size=0x2}, 88) = 13\n\
                  clone(child_stack=NULL, flags=SIGCHLD) = 14\n12 write(1, \"x\", 1) = 1\n";
    assert_eq!(
        clone_calls(sample),
        ["clone3 CLONE_VM|CLONE_VFORK SIGCHLD", "clone SIGCHLD"]
    );
}
