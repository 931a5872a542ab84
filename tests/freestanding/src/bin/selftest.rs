//! Every rawclone mode from a static binary that links no libc, one line of evidence per check,
//! ending with `N passed, N failed, N skipped`. Exit status 0 only when nothing failed.
//!
//! Under qemu-user some clone flags cannot be emulated. The program finds out by probing (a
//! plain `CLONE_VM` child is refused with EINVAL there and nowhere else) and then reports those
//! checks as skipped, each with the reason `qemu-user: <what>`. Everything else must pass.
//!
//! `selftest exit-with N` exits with status N at once: the target of the vfork-exec check.
//! `selftest only ID` runs the one check with that id (see `CHECKS`), for tracing one mode.
//!
//! As pid 1 (the `/init` of an initramfs under qemu-system) it mounts `/proc` first and powers
//! the machine off after the summary, since an init must never exit.
#![no_std]
#![no_main]
// There is no allocator to box an outcome into: its text travels by value, on the stack.
#![allow(clippy::result_large_err)]

use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};
use rawclone::program::Program;
use rawclone::start::Args;
use rawclone::sys::{self, Disposition};
use rawclone::{
    Backend, Builder, CloneFlags, Errno, Error, ExitStatus, Fork, Rule, Signal, Spawner, Stack,
    Syscall, chimera, current, fork, ns, thread, vfork_exec, yield_now,
};
use rawclone_freestanding::{Outcome, Report, text};

rawclone::freestanding_main!(main);

type Check = fn(&Env) -> Outcome;

/// Every check: id (for `only`), name, and the check.
const CHECKS: [(&str, &str, Check); 21] = [
    ("fork", "fork via clone", check_fork),
    ("chimera", "chimera", check_chimera),
    ("overflow", "chimera stack overflow", check_chimera_overflow),
    ("thread", "thread", check_thread),
    ("thread-tls", "thread with CLONE_SETTLS", check_thread_tls),
    ("vfork", "vfork + exec", check_vfork_exec),
    (
        "vfork-fail",
        "vfork + exec failure",
        check_vfork_exec_failure,
    ),
    (
        "program-env",
        "Program inherits _start's environment",
        check_program_env,
    ),
    ("process", "process on its own stack", check_process),
    ("fs", "CLONE_FS", check_fs),
    ("files", "CLONE_FILES", check_files),
    ("sighand", "CLONE_SIGHAND", check_sighand),
    ("pidfd", "CLONE_PIDFD + pidfd_send_signal", check_pidfd),
    ("userns", "user namespace root", check_userns),
    (
        "namespaces",
        "pid, uts, ipc, net and mount namespaces",
        check_namespaces,
    ),
    ("clone3", "clone3 and its fallback", check_clone3_fallback),
    ("rules", "flag rules before the syscall", check_rules),
    ("exit-signal", "custom exit signal", check_exit_signal),
    (
        "spawner-thread",
        "Spawner, Thread backend",
        check_spawner_thread,
    ),
    (
        "spawner-chimera",
        "Spawner, Chimera backend",
        check_spawner_chimera,
    ),
    (
        "spawner-green",
        "Spawner, Green backend",
        check_spawner_green,
    ),
];

/// What the program learned about where it runs.
struct Env {
    /// The program's own path, to exec itself.
    me: &'static core::ffi::CStr,
    /// Running under qemu-user (found by probing).
    qemu_user: bool,
    /// The first entry of the environment `_start` received, if any.
    first_env: Option<&'static core::ffi::CStr>,
}

fn main(args: &Args) -> i32 {
    if args.get(1) == Some(c"exit-with") {
        return args
            .get(2)
            .and_then(|n| n.to_str().ok()?.parse().ok())
            .unwrap_or(99);
    }
    if args.get(1) == Some(c"env-has") {
        return i32::from(!args.env().any(|e| Some(e) == args.get(2)));
    }
    let init = sys::getpid() == 1;
    if init {
        let _ = sys::mkdir(c"/proc", 0o555);
        if let Err(e) = sys::mount(c"proc", c"/proc", c"proc", sys::MountFlags::EMPTY, None) {
            rawclone_freestanding::outln!("init: mount /proc: {e}");
        }
    }
    let code = run_checks(args);
    if init {
        rawclone_freestanding::outln!("init: powering off (exit status would be {code})");
        let e = sys::power_off();
        rawclone_freestanding::outln!("init: reboot(POWER_OFF) failed: {e}");
    }
    code
}

fn run_checks(args: &Args) -> i32 {
    let env = Env {
        me: args.get(0).unwrap_or(c"/proc/self/exe"),
        qemu_user: probe_qemu_user(),
        first_env: args.env().next(),
    };
    rawclone_freestanding::outln!(
        "rawclone freestanding selftest ({}, pid {}, {})",
        core::env!("CARGO_PKG_VERSION"),
        sys::getpid(),
        if env.qemu_user {
            "qemu-user detected: a plain CLONE_VM child is refused"
        } else {
            "native kernel"
        }
    );
    let only = match (args.get(1).map(|a| a.to_bytes()), args.get(2)) {
        (Some(b"only"), Some(id)) => Some(id.to_bytes()),
        _ => None,
    };
    let mut report = Report::default();
    for (id, name, check) in CHECKS {
        if only.is_none_or(|want| want == id.as_bytes()) {
            report.check(name, check(&env));
        }
    }
    if only.is_none() {
        kernel_allows();
    }
    report.finish()
}

/// The tour's closing part, as the host tour prints it: what this kernel allows.
fn kernel_allows() {
    use rawclone_freestanding::outln;
    let clone3 = match rawclone::clone3_available() {
        Some(true) => "present",
        Some(false) => "missing (ENOSYS): the fallback to clone is in use",
        None => "not tried",
    };
    outln!("what this kernel allows");
    outln!("  clone3:           {clone3}");
    let mut stack = stack();
    // SAFETY: the child only returns.
    let userns = match unsafe {
        Builder::new()
            .flags(CloneFlags::NEWUSER)
            .spawn(&mut stack, || 0)
    } {
        Ok(child) => child
            .wait()
            .map_or("created, but the join failed", |_| "allowed"),
        Err(_) => "refused",
    };
    outln!("  user namespaces:  {userns}");
    let caps = sys::effective_capabilities().unwrap_or(0);
    let admin = if caps & (1 << sys::CAP_SYS_ADMIN) != 0 {
        "held"
    } else {
        "not held"
    };
    outln!("  capabilities:     effective set {caps:#x} (CAP_SYS_ADMIN {admin})");
    outln!("  uid/gid:          {}/{}", sys::getuid(), sys::getgid());
}

/// qemu-user refuses any CLONE_VM without the full thread set with EINVAL; a kernel never does.
fn probe_qemu_user() -> bool {
    let Ok(mut stack) = Stack::map(16 * 1024) else {
        return false;
    };
    // SAFETY: the child only returns.
    match unsafe { chimera(&mut stack, || 0) } {
        Ok(child) => {
            let _ = child.wait();
            false
        }
        Err(e) => e.errno() == Some(Errno::EINVAL),
    }
}

fn stack() -> Stack<'static> {
    Stack::map(64 * 1024).expect("mmap a stack")
}

/// Try `spawned`; under qemu-user an EINVAL is the emulator's known refusal of `what` and becomes
/// a skip that names it. Anywhere else, and for any other error, the check fails.
fn spawned<T>(env: &Env, spawned: Result<T, Error>, what: &str) -> Result<T, Outcome> {
    match spawned {
        Ok(v) => Ok(v),
        Err(e) if env.qemu_user && e.errno() == Some(Errno::EINVAL) => {
            Err(Outcome::Skip(text!("qemu-user: {what} gives EINVAL")))
        }
        Err(e) => Err(Outcome::Fail(text!("{e}"))),
    }
}

/// Under qemu-user a vfork child is a plain fork: a failed exec's errno stays in the child's
/// copy and the child exits 127 instead. Seen, it becomes a named skip.
fn vfork_became_fork(env: &Env, status: &Result<ExitStatus, Error>) -> Option<Outcome> {
    (env.qemu_user && *status == Ok(ExitStatus::Exited(127))).then(|| {
        Outcome::Skip(text!(
            "qemu-user: CLONE_VFORK became a plain fork; the exec failed in the child, whose errno cannot reach the parent"
        ))
    })
}

fn exited(status: Result<ExitStatus, Error>, code: i32) -> Result<(), Outcome> {
    match status {
        Ok(ExitStatus::Exited(c)) if c == code => Ok(()),
        other => Err(Outcome::Fail(text!("expected exit {code}, got {other:?}"))),
    }
}

macro_rules! try_outcome {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(outcome) => return outcome,
        }
    };
}

macro_rules! fail_on_err {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::Fail(text!("{}: {e}", stringify!($e))),
        }
    };
}

fn check_fork(_: &Env) -> Outcome {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let (ours, theirs) = fail_on_err!(sys::seqpacket_pair());
    // SAFETY: the child issues raw syscalls and exits.
    match fail_on_err!(unsafe { fork() }) {
        Fork::Child => {
            WORD.store(1, SeqCst);
            let _ = sys::write(theirs.as_fd(), &sys::getpid().to_ne_bytes());
            sys::exit_group(0)
        }
        Fork::Parent(child) => {
            let mut buf = [0u8; 4];
            fail_on_err!(sys::read(ours.as_fd(), &mut buf));
            let (pid, seen) = (child.pid(), i32::from_ne_bytes(buf));
            try_outcome!(exited(child.wait(), 0));
            if seen != pid || WORD.load(SeqCst) != 0 {
                return Outcome::Fail(text!(
                    "child getpid {seen} vs {pid}, word {}",
                    WORD.load(SeqCst)
                ));
            }
            Outcome::Pass(text!(
                "parent saw pid {pid} = child's getpid(); child's write stayed in its copy"
            ))
        }
    }
}

fn check_chimera(env: &Env) -> Outcome {
    static PID: AtomicI32 = AtomicI32::new(0);
    let mut stack = stack();
    // SAFETY: atomics and raw syscalls only.
    let child = unsafe {
        chimera(&mut stack, || {
            PID.store(sys::getpid(), SeqCst);
            0
        })
    };
    let child = try_outcome!(spawned(env, child, "CLONE_VM without the full thread set"));
    let pid = child.pid();
    try_outcome!(exited(child.wait(), 0));
    match PID.load(SeqCst) {
        seen if seen == pid && pid != sys::getpid() => {
            Outcome::Pass(text!("own pid {pid}, its write of it seen by the parent"))
        }
        seen => Outcome::Fail(text!("child wrote {seen}, pid {pid}")),
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn overflow(depth: u64) -> u64 {
    let pad = core::hint::black_box([depth; 64]);
    overflow(pad[3] + 1) + pad[5]
}

/// Whether the running kernel is older than 5.16 (from /proc/sys/kernel/osrelease; false where
/// that cannot be read).
fn kernel_before_5_16() -> bool {
    let Ok(fd) = sys::open(c"/proc/sys/kernel/osrelease", 0) else {
        return false;
    };
    let mut buf = [0u8; 64];
    let Ok(n) = sys::read(fd.as_fd(), &mut buf) else {
        return false;
    };
    let mut numbers = buf[..n]
        .split(|b| !b.is_ascii_digit())
        .map(|d| d.iter().fold(0u32, |v, b| v * 10 + u32::from(b - b'0')));
    (numbers.next(), numbers.next()) < (Some(5), Some(16))
}

/// The chimera's creator is a forked copy of this program: before Linux 5.16 a core-dumping
/// signal kills every process sharing the dumping one's memory (coredump_wait's zap_threads), so
/// there the overflow ends the copy too, and is a skip that says so.
fn check_chimera_overflow(env: &Env) -> Outcome {
    const REFUSED: i32 = 77;
    // SAFETY: the copy runs the check with raw syscalls and exits.
    let copy = match unsafe { fork() } {
        Ok(Fork::Child) => {
            let mut stack = stack();
            // SAFETY: the child only recurses.
            let code = match unsafe { chimera(&mut stack, || overflow(0) as i32) } {
                Ok(child) => match child.wait() {
                    Ok(ExitStatus::Signaled {
                        signal: Signal::SIGSEGV,
                        ..
                    }) => 0,
                    _ => 1,
                },
                Err(e) if env.qemu_user && e.errno() == Some(Errno::EINVAL) => REFUSED,
                Err(_) => 2,
            };
            sys::exit_group(code)
        }
        Ok(Fork::Parent(copy)) => copy,
        Err(e) => return Outcome::Fail(text!("fork: {e}")),
    };
    match copy.wait() {
        Ok(ExitStatus::Exited(0)) => Outcome::Pass(text!("killed by SIGSEGV on the guard page")),
        Ok(ExitStatus::Exited(REFUSED)) => Outcome::Skip(text!(
            "qemu-user: CLONE_VM without the full thread set gives EINVAL"
        )),
        Ok(ExitStatus::Signaled {
            signal: Signal::SIGSEGV,
            ..
        }) if kernel_before_5_16() => Outcome::Skip(text!(
            "Linux < 5.16: a core-dumping signal kills every process sharing the memory (zap_threads), so the overflow took the creator too"
        )),
        other => Outcome::Fail(text!("the creator: {other:?}")),
    }
}

fn check_thread(_: &Env) -> Outcome {
    static TGID: AtomicI32 = AtomicI32::new(0);
    let mut stack = stack();
    // SAFETY: atomics and raw syscalls only.
    let t = fail_on_err!(unsafe {
        thread(&mut stack, || {
            TGID.store(sys::getpid(), SeqCst);
            sys::gettid() as usize
        })
    });
    let tid = t.join() as i32;
    let tgid = TGID.load(SeqCst);
    if tgid != sys::getpid() || tid == sys::gettid() {
        return Outcome::Fail(text!("tgid {tgid}, tid {tid}"));
    }
    Outcome::Pass(text!(
        "tgid {tgid} = ours, own tid {tid}, returned through the join"
    ))
}

fn check_thread_tls(_: &Env) -> Outcome {
    #[repr(C, align(64))]
    struct Block([usize; 8]);
    static mut BLOCK: Block = Block([0; 8]);
    let tls = &raw mut BLOCK as usize;
    let mut stack = stack();
    let b = Builder::thread().tls(tls).syscall(Syscall::Clone);
    // SAFETY: the thread only reads its thread pointer.
    let seen =
        fail_on_err!(unsafe { b.spawn_thread(&mut stack, rawclone::arch::thread_pointer) }).join();
    if seen != tls {
        return Outcome::Fail(text!("thread pointer {seen:#x}, expected {tls:#x}"));
    }
    Outcome::Pass(text!(
        "thread pointer {tls:#x} through legacy clone's tls slot"
    ))
}

fn check_vfork_exec(env: &Env) -> Outcome {
    let child = fail_on_err!(vfork_exec(env.me, &[env.me, c"exit-with", c"3"], &[]));
    let pid = child.pid();
    let status = child.wait();
    if let Some(skip) = vfork_became_fork(env, &status) {
        return skip; // the kernel cannot execve a guest binary without binfmt_misc
    }
    try_outcome!(exited(status, 3));
    Outcome::Pass(text!("re-executed itself as pid {pid}, which exited 3"))
}

/// A `Program` started without an environment of its own passes on the `envp` `_start` received
/// (`rawclone::start` records it), minus what it removes.
fn check_program_env(env: &Env) -> Outcome {
    let Some(entry) = env.first_env else {
        return Outcome::Skip(text!(
            "started with an empty environment: nothing to inherit"
        ));
    };
    let name = entry.to_bytes().split(|&b| b == b'=').next().unwrap_or(b"");
    let mut buf = [0u8; 256];
    let Some(name) = buf.get_mut(..=name.len()).and_then(|slot| {
        slot[..name.len()].copy_from_slice(name);
        core::ffi::CStr::from_bytes_with_nul(slot).ok()
    }) else {
        return Outcome::Skip(text!("the first environment entry's name is too long"));
    };
    let argv = [env.me, c"env-has", entry];
    let program = Program::new(env.me).argv(&argv);
    for (program, code) in [(program, 0), (program.env_remove(&[name]), 1)] {
        let child = fail_on_err!(program.spawn());
        let status = child.wait();
        if let Some(skip) = vfork_became_fork(env, &status) {
            return skip;
        }
        try_outcome!(exited(status, code));
    }
    Outcome::Pass(text!("{entry:?} inherited, and gone once removed"))
}

fn check_vfork_exec_failure(env: &Env) -> Outcome {
    match vfork_exec(c"/nonexistent", &[c"x"], &[]) {
        Err(
            e @ Error::Exec {
                errno: Errno::ENOENT,
                ..
            },
        ) => Outcome::Pass(text!("{e}")),
        Ok(child) => {
            let status = child.wait();
            vfork_became_fork(env, &status)
                .unwrap_or(Outcome::Fail(text!("no error, the child ended {status:?}")))
        }
        Err(e) => Outcome::Fail(text!("{e}")),
    }
}

fn check_process(_: &Env) -> Outcome {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let mut stack = stack();
    // SAFETY: the child writes its own copy and returns.
    let child = fail_on_err!(unsafe {
        Builder::new().spawn(&mut stack, || {
            WORD.store(1, SeqCst);
            4
        })
    });
    try_outcome!(exited(child.wait(), 4));
    if WORD.load(SeqCst) != 0 {
        return Outcome::Fail(text!(
            "the child's write reached the parent without CLONE_VM"
        ));
    }
    Outcome::Pass(text!("own stack, copied memory, exit status 4"))
}

fn check_fs(env: &Env) -> Outcome {
    let mut stack = stack();
    fail_on_err!(sys::chdir(c"/"));
    // SAFETY: raw syscalls only.
    let child = try_outcome!(spawned(
        env,
        unsafe {
            Builder::new()
                .flags(CloneFlags::FS)
                .spawn(&mut stack, || sys::chdir(c"/proc").map_or(1, |_| 0))
        },
        "CLONE_FS outside a thread"
    ));
    try_outcome!(exited(child.wait(), 0));
    let mut buf = [0u8; 64];
    let cwd = fail_on_err!(sys::getcwd(&mut buf));
    let moved = cwd == b"/proc";
    let _ = sys::chdir(c"/");
    if !moved {
        return Outcome::Fail(text!("the parent's cwd did not follow the child's chdir"));
    }
    Outcome::Pass(text!("child chdir(/proc), parent's cwd followed"))
}

fn check_files(env: &Env) -> Outcome {
    let (a, _b) = fail_on_err!(sys::seqpacket_pair());
    let fd = a.into_raw();
    let mut stack = stack();
    // SAFETY: raw syscalls only; the child closes `fd`, which nothing owns since `into_raw`.
    let child = try_outcome!(spawned(
        env,
        unsafe {
            Builder::new()
                .flags(CloneFlags::FILES)
                .spawn(&mut stack, || sys::close(fd).map_or(1, |_| 0))
        },
        "CLONE_FILES outside a thread"
    ));
    try_outcome!(exited(child.wait(), 0));
    match sys::fd_flags(fd) {
        Err(Errno::EBADF) => Outcome::Pass(text!("child closed fd {fd}; closed in the parent too")),
        other => Outcome::Fail(text!("fd {fd} after the child's close: {other:?}")),
    }
}

fn check_sighand(env: &Env) -> Outcome {
    let mut stack = stack();
    let b = Builder::new().flags(CloneFlags::VM | CloneFlags::SIGHAND);
    // SAFETY: raw syscalls only.
    let child = try_outcome!(spawned(
        env,
        unsafe {
            b.spawn(&mut stack, || {
                sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Ignore).map_or(1, |_| 0)
            })
        },
        "CLONE_VM|CLONE_SIGHAND without the full thread set"
    ));
    try_outcome!(exited(child.wait(), 0));
    let seen = fail_on_err!(sys::signal_disposition(Signal::SIGUSR2));
    let _ = sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Default);
    if seen != Disposition::Ignore {
        return Outcome::Fail(text!("parent sees {seen:?}"));
    }
    Outcome::Pass(text!(
        "child set SIGUSR2 to SIG_IGN; the parent's table shows it"
    ))
}

fn check_pidfd(env: &Env) -> Outcome {
    let mut stack = stack();
    // SAFETY: the child only sleeps.
    let child = try_outcome!(spawned(
        env,
        unsafe {
            Builder::new().pidfd().spawn(&mut stack, || {
                loop {
                    let _ = sys::sleep_ms(1000);
                }
            })
        },
        "CLONE_PIDFD"
    ));
    let fd = child.pidfd().map_or(-1, |f| f.as_raw());
    fail_on_err!(child.signal(Signal::SIGTERM));
    match child.wait() {
        Ok(ExitStatus::Signaled {
            signal: Signal::SIGTERM,
            ..
        }) => Outcome::Pass(text!(
            "pidfd {fd}: SIGTERM sent and the child reaped through it"
        )),
        other => Outcome::Fail(text!("{other:?}")),
    }
}

fn check_userns(env: &Env) -> Outcome {
    let mut stack = stack();
    // SAFETY: raw syscalls only; the ids come back as the exit status.
    let child = try_outcome!(spawned(
        env,
        unsafe {
            ns::spawn_as_root(&mut stack, CloneFlags::EMPTY, || {
                sys::getuid() * 2 + sys::getgid()
            })
        },
        "CLONE_NEWUSER"
    ));
    try_outcome!(exited(child.wait(), 0));
    Outcome::Pass(text!(
        "outside uid {}, inside getuid() = getgid() = 0",
        sys::getuid()
    ))
}

fn check_namespaces(env: &Env) -> Outcome {
    let mut stack = stack();
    let ns = ns::Namespaces::new()
        .map_root()
        .pid()
        .ipc()
        .net()
        .mount_proc()
        .hostname("rawclone");
    // SAFETY: raw syscalls only; each fact that fails sets one bit of the exit status.
    let child = unsafe {
        ns.spawn(&mut stack, || {
            let facts = [
                sys::getpid() == 1,
                sys::getuid() == 0,
                sys::hostname().is_ok_and(|h| h.as_bytes() == b"rawclone"),
                sys::open(c"/proc/1/status", 0).is_ok(),
                sys::open(c"/proc/2/status", 0).is_err(),
            ];
            facts
                .iter()
                .enumerate()
                .map(|(i, &f)| (!f as i32) << i)
                .sum()
        })
    };
    let child = try_outcome!(spawned(env, child, "a CLONE_NEW* flag"));
    try_outcome!(exited(child.wait(), 0));
    Outcome::Pass(text!(
        "{}: pid 1 alone in a fresh /proc, uid 0, hostname 'rawclone'",
        ns.namespace_flags()
    ))
}

fn check_clone3_fallback(env: &Env) -> Outcome {
    let mut stack = stack();
    // SAFETY: the thread returns a value.
    let t = fail_on_err!(unsafe { thread(&mut stack, || 8) });
    if t.join() != 8 {
        return Outcome::Fail(text!("wrong join value"));
    }
    let learned = rawclone::clone3_available();
    let expected = Some(!env.qemu_user);
    if learned != expected {
        return Outcome::Fail(text!(
            "clone3 availability {learned:?}, expected {expected:?}"
        ));
    }
    let b = Builder::new().syscall(Syscall::Clone);
    // SAFETY: the child only returns.
    let child = fail_on_err!(unsafe { b.spawn(&mut stack, || 5) });
    try_outcome!(exited(child.wait(), 5));
    let needs = Builder::new()
        .flags(CloneFlags::NEWTIME)
        .syscall(Syscall::Clone);
    // SAFETY: never runs.
    match unsafe { needs.spawn(&mut stack, || 0) } {
        Err(Error::Rule(Rule::NeedsClone3, _)) => {}
        other => {
            return Outcome::Fail(text!(
                "CLONE_NEWTIME on clone: {:?}",
                other.map(|c| c.pid())
            ));
        }
    }
    let how = if env.qemu_user {
        "clone3 ENOSYS remembered, threads go through clone"
    } else {
        "clone3 present"
    };
    Outcome::Pass(text!(
        "{how}; forced clone works; CLONE_NEWTIME on clone refused as needing clone3"
    ))
}

fn check_rules(_: &Env) -> Outcome {
    let mut stack = stack();
    for (flags, rule) in [
        (
            CloneFlags::VM | CloneFlags::THREAD,
            Rule::ThreadNeedsSighand,
        ),
        (
            CloneFlags::VM | CloneFlags::SIGHAND | CloneFlags::CLEAR_SIGHAND,
            Rule::ClearSighandExcludesSighand,
        ),
        (CloneFlags::SIGHAND, Rule::SighandNeedsVm),
        (CloneFlags::NEWNS | CloneFlags::FS, Rule::NewnsExcludesFs),
        (
            CloneFlags::NEWIPC | CloneFlags::SYSVSEM,
            Rule::NewipcExcludesSysvsem,
        ),
    ] {
        let b = Builder::new().exit_signal(None).flags(flags);
        // SAFETY: never runs: the request is refused before any syscall.
        let refused = if flags.contains(CloneFlags::THREAD) {
            unsafe { b.spawn_thread(&mut stack, || 0) }.map(drop)
        } else {
            // SAFETY: as above.
            unsafe { b.spawn(&mut stack, || 0) }.map(drop)
        };
        if !matches!(refused, Err(Error::Rule(r, _)) if r == rule) {
            return Outcome::Fail(text!("{flags}: expected {rule}, got {refused:?}"));
        }
    }
    Outcome::Pass(text!("five rules refused by name, no syscall made"))
}

fn check_exit_signal(env: &Env) -> Outcome {
    let mut stack = stack();
    let b = Builder::new().exit_signal(Some(Signal::SIGUSR1));
    fail_on_err!(sys::set_signal_mask(
        rawclone::SigSet::EMPTY.with(Signal::SIGUSR1)
    ));
    // SAFETY: the child only returns.
    let child = try_outcome!(spawned(
        env,
        unsafe { b.spawn(&mut stack, || 6) },
        "an exit signal other than SIGCHLD without CLONE_VM"
    ));
    let status = child.wait();
    let pending = sys::pending_signals().map(|p| p.contains(Signal::SIGUSR1));
    // Discard the pending SIGUSR1 (setting SIG_IGN drops it) before unblocking it.
    let _ = sys::set_signal_disposition(Signal::SIGUSR1, Disposition::Ignore);
    let _ = sys::set_signal_mask(rawclone::SigSet::EMPTY);
    let _ = sys::set_signal_disposition(Signal::SIGUSR1, Disposition::Default);
    try_outcome!(exited(status, 6));
    if pending != Ok(true) {
        return Outcome::Fail(text!("SIGUSR1 pending after the child's exit: {pending:?}"));
    }
    Outcome::Pass(text!(
        "SIGUSR1 arrived at the child's exit; joined with waitid(__WALL)"
    ))
}

fn check_spawner_thread(env: &Env) -> Outcome {
    check_spawner(env, Backend::Thread)
}

fn check_spawner_chimera(env: &Env) -> Outcome {
    check_spawner(env, Backend::Chimera)
}

fn check_spawner_green(env: &Env) -> Outcome {
    check_spawner(env, Backend::Green)
}

/// Eight tasks at once, each yielding once and returning who it is; no allocator anywhere.
fn check_spawner(env: &Env, backend: Backend) -> Outcome {
    let spawner = fail_on_err!(Spawner::config(backend).workers(2).build());
    let task = || {
        yield_now();
        (current(), sys::getpid())
    };
    let mut handles = [const { None }; 8];
    for slot in handles.iter_mut() {
        // SAFETY: the task yields, reads its control block and makes a raw syscall.
        let spawned_task = unsafe { spawner.spawn(task) };
        *slot = Some(try_outcome!(spawned(
            env,
            spawned_task,
            "CLONE_VM without the full thread set"
        )));
    }
    let mut pids = 0;
    for handle in handles.into_iter().flatten() {
        let id = handle.id();
        match handle.join() {
            Ok((Some(c), pid)) if c.id == id && c.backend == backend => {
                pids += (pid != sys::getpid()) as u32;
            }
            other => return Outcome::Fail(text!("task {id}: {other:?}")),
        }
    }
    let idle = spawner.idle_stacks();
    match backend {
        Backend::Chimera if pids != 8 => Outcome::Fail(text!("{pids} of 8 chimeras had own pids")),
        Backend::Thread | Backend::Green if pids != 0 => {
            Outcome::Fail(text!("{pids} of 8 tasks had another pid"))
        }
        _ if idle != 8 => Outcome::Fail(text!("{idle} of 8 stacks back in the pool")),
        _ => Outcome::Pass(text!(
            "8 tasks, each named by current() through its thread pointer; 8 stacks pooled"
        )),
    }
}
