//! A sandbox launcher, built the way bubblewrap builds one, from rawclone's parts alone:
//! - namespaces ([`Namespaces`]): a user namespace whose root is the caller, and new pid, net
//!   (with `lo` up), uts, ipc and mount namespaces;
//! - mounts ([`Mount`]): the host's `/` read-only on a fresh tmpfs root, a minimal `/dev`, a
//!   fresh `/proc`, and an empty `/tmp`;
//! - the program ([`Program`]): a cleared environment with a few variables, `/tmp` as the working
//!   directory, at most 64 open files, `no_new_privs`, no capabilities, and a seccomp filter that
//!   makes `mkdir` fail with EPERM.
//!
//! `cargo run --example sandbox --features std -- PROGRAM [ARGS...]` runs a program in it with
//! this terminal's stdio and exits with its status. Without arguments it runs a shell script that
//! reports what it sees inside and checks each line, ending with `N passed, N failed, N skipped`.

use rawclone::ns::{Mount, Namespaces};
use rawclone::program::{Capabilities, Program, Resource, Stdio};
use rawclone::seccomp::{Errno, Filter, Sysno};
use rawclone::{ExitStatus, Signal, sys};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::OwnedFd;

/// What the sandbox is made of.
const MOUNTS: [Mount<'static>; 4] = [
    Mount::RoBind {
        src: c"/",
        dst: c"/",
    },
    Mount::Dev { dst: c"/dev" },
    Mount::Proc { dst: c"/proc" },
    Mount::tmpfs(c"/tmp"),
];

/// The environment inside: nothing of the caller's but these.
const ENV: [&std::ffi::CStr; 3] = [c"PATH=/usr/bin:/bin", c"HOME=/tmp", c"SANDBOX=1"];

/// Calls the sandboxed program may not make (x86_64 has a plain `mkdir` besides `mkdirat`).
#[cfg(target_arch = "x86_64")]
const DENIED: [Sysno; 2] = [Sysno::mkdir, Sysno::mkdirat];
#[cfg(not(target_arch = "x86_64"))]
const DENIED: [Sysno; 1] = [Sysno::mkdirat];

/// Each line the self-check prints inside, and what it must say.
const CHECKS: [(&str, &str); 13] = [
    ("echo pid=$$", "pid=1"),
    ("echo uid=$(id -u)", "uid=0"),
    ("echo host=$(hostname)", "host=sandbox"),
    ("echo cwd=$(pwd)", "cwd=/tmp"),
    ("echo tmp=$(ls -A /tmp | wc -l)", "tmp=0"),
    (
        "touch /etc/x 2>/dev/null && echo root=writable || echo root=read-only",
        "root=read-only",
    ),
    (
        "touch /tmp/x && echo tmp=writable || echo tmp=read-only",
        "tmp=writable",
    ),
    (
        "mkdir /tmp/d 2>/dev/null && echo mkdir=allowed || echo mkdir=denied",
        "mkdir=denied",
    ),
    ("echo nofile=$(ulimit -n)", "nofile=64"),
    (
        "echo nnp=$(awk '/^NoNewPrivs/ {print $2}' /proc/self/status)",
        "nnp=1",
    ),
    (
        "echo capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)",
        "capeff=0000000000000000",
    ),
    (
        "echo net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)",
        "net=lo,",
    ),
    (
        "ip -o link show lo | grep -q '[<,]UP[,>]' && echo lo=up || echo lo=down",
        "lo=up",
    ),
];

fn namespaces() -> Namespaces<'static> {
    Namespaces::new()
        .map_root()
        .pid()
        .net()
        .loopback_up()
        .ipc()
        .hostname("sandbox")
        .tmpfs_root()
        .mounts(&MOUNTS)
        .kill_on_parent_death(Signal::SIGKILL)
}

/// The program's confinement, around `argv`.
fn confined<'a>(argv: &'a [&'a std::ffi::CStr], filter: &'a Filter<16>) -> Program<'a> {
    Program::new(argv[0])
        .argv(argv)
        .env_exactly(&ENV)
        .current_dir(c"/tmp")
        .rlimit(Resource::Nofile, 64, 64)
        .no_new_privs()
        .drop_capabilities(Capabilities::ALL)
        .seccomp_filter(filter.as_slice())
}

/// Run `argv` in the sandbox with this process's stdio; its exit status.
fn launch(argv: &[&std::ffi::CStr], filter: &Filter<16>) -> rawclone::Result<ExitStatus> {
    namespaces().exec_program(&confined(argv, filter))?.wait()
}

/// Run the self-check script in the sandbox; compare each line it prints.
fn self_check(filter: &Filter<16>) -> std::io::Result<bool> {
    let script = CHECKS.map(|(line, _)| line).join("\n");
    let script = CString::new(script).expect("no NUL in the script");
    let argv = [c"/bin/sh", c"-c", script.as_c_str()];
    let (read_end, write_end) =
        sys::pipe().map_err(|e| std::io::Error::from_raw_os_error(e.into_raw()))?;
    let program = confined(&argv, filter).stdout(Stdio::Fd(write_end.as_raw()));
    let child = namespaces().exec_program(&program)?;
    drop(write_end);
    let mut text = String::new();
    std::fs::File::from(OwnedFd::from(read_end)).read_to_string(&mut text)?;
    let status = child.wait()?;
    let (mut passed, mut failed) = (0, 0);
    let mut lines = text.lines();
    for (_, expected) in CHECKS {
        let got = lines.next().unwrap_or("(nothing)");
        let ok = got == expected;
        println!(
            "[{}] {got:<28} (expected {expected})",
            if ok { "ok  " } else { "FAIL" }
        );
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    if !status.success() {
        println!("[FAIL] the script ended with {status}");
        failed += 1;
    }
    println!("{passed} passed, {failed} failed, 0 skipped");
    Ok(failed == 0)
}

fn main() -> std::io::Result<()> {
    let filter = Filter::<16>::deny(&DENIED, Errno::EPERM)?;
    let args: Vec<CString> = std::env::args()
        .skip(1)
        .map(|a| CString::new(a).expect("no NUL in an argument"))
        .collect();
    if args.is_empty() {
        if !self_check(&filter)? {
            std::process::exit(1);
        }
        return Ok(());
    }
    let argv: Vec<&std::ffi::CStr> = args.iter().map(|a| a.as_c_str()).collect();
    let status = launch(&argv, &filter)?;
    std::process::exit(match status {
        ExitStatus::Exited(code) => code,
        ExitStatus::Signaled { signal, .. } => 128 + signal.number() as i32,
    })
}
