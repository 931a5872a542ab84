//! The `rawclone` command. `rawclone tour` (the default) runs every mode on this machine and prints
//! the flags used and the evidence each mode produced, then what this kernel allows. It exits
//! non-zero if any mode misbehaves. Invoked by a link named `bwrap`, it is `rawclone run`
//! speaking as bubblewrap (`rawclone::run::bwrap_main`). `rawclone run` runs a program in new namespaces, like
//! util-linux `unshare`; `rawclone bench-report` prints the benchmark table.
//!
//! Children here run only raw syscalls and atomics (see the crate docs): evidence comes back
//! through shared memory, exit statuses or a socketpair, and is printed by the parent.
//!
//! # Without libc
//! The binary is `no_std` and `no_main`, so that it starts as fast as the kernel lets it: glibc's
//! start-up (the dynamic loader, or a static build's) probes the CPU with dozens of `cpuid`
//! instructions, each a VM exit under a hypervisor, and that start-up alone made `rawclone run`
//! slower than util-linux `unshare` (see the `ns_run` benchmark). How it starts depends on the
//! target (`build.rs` passes the matching link arguments):
//! - `*-linux-gnu`: linked with `-nostartfiles -nostdlib -static -no-pie`, no libc at all:
//!   [`rawclone::freestanding_main!`] gives it `_start`, [`nolibc`] the allocator, the
//!   `mem*` functions and output;
//! - `*-linux-musl`: rustc links musl's static `crt1.o` into every executable, so musl's tiny
//!   start-up calls C `main`, which hands over to [`rawclone::start::c_main`];
//! - with the `std` feature, the library links std and so libc: C `main` again, and std's own
//!   start-up (which names the main thread, ignores SIGPIPE) does not run; its panic handler
//!   does, and a panic ends in SIGABRT (`panic = "abort"`).
#![no_std]
#![no_main]
#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![cfg_attr(all(target_env = "gnu", not(feature = "std")), no_builtins)]

extern crate alloc;

/// What the binary needs that std would give it, on raw syscalls.
#[macro_use]
mod nolibc {
    /// The global allocator, without libc.
    #[cfg(not(feature = "std"))]
    pub mod heap;
    /// Output macros and the few file operations the commands use.
    #[macro_use]
    pub mod io;
    /// `memcpy` and its siblings, which nothing else links in on `*-linux-gnu`.
    #[cfg(all(target_env = "gnu", not(feature = "std")))]
    pub mod mem;
    /// What a panic does without std, and the unwinding symbols nothing calls.
    #[cfg(not(feature = "std"))]
    pub mod panic;
}

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ffi::CStr;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};
use rawclone::ns::Namespaces;
use rawclone::start::Args;
use rawclone::sys::{self, Disposition};
use rawclone::{
    Backend, Builder, CloneFlags, Error, ExitStatus, Fork, Signal, Spawner, Stack, Syscall,
    chimera, fork, ns, thread, vfork_exec,
};

/// The subcommands other than the tour, one file each under `src/cmd/`.
mod cmd {
    pub mod report;
    pub mod run;
}

#[cfg(not(feature = "std"))]
#[global_allocator]
static HEAP: nolibc::heap::Heap = nolibc::heap::Heap::new();

#[cfg(all(not(feature = "std"), target_env = "gnu"))]
rawclone::freestanding_main!(command);

#[cfg(not(any(feature = "std", target_env = "gnu", target_env = "musl")))]
compile_error!(
    "the rawclone binary starts without libc on *-linux-gnu and on musl's crt1 on *-linux-musl \
     (see build.rs); build it with the std feature elsewhere"
);

/// C `main`, where a C runtime starts the binary (musl's `crt1.o`, or the libc std links).
#[cfg(any(feature = "std", target_env = "musl"))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
    // SAFETY: the C runtime passes the process's own arguments and environment.
    unsafe { rawclone::start::c_main(argc, argv, envp, command) }
}

/// Evidence of a mode: what it showed, or why it misbehaved.
type Evidence = Result<String, String>;

/// A tour stop: name, flags used, and the check that produces the evidence.
type Stop = (&'static str, &'static str, fn() -> Evidence);

/// The command line's first word picks the command; the exit status is the command's.
fn command(args: &Args) -> i32 {
    let words: Vec<&CStr> = (1..args.len()).filter_map(|i| args.get(i)).collect();
    // Invoked by a link named `bwrap`, the binary is `rawclone run` speaking as bubblewrap.
    if let Some(argv0) = args.get(0)
        && argv0.to_bytes().rsplit(|&b| b == b'/').next() == Some(b"bwrap")
    {
        let env: Vec<&CStr> = args.env().collect();
        return i32::from(rawclone::run::bwrap_main(argv0, &words, &env));
    }
    let rest = || -> Vec<String> {
        words[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a.to_bytes()).into_owned())
            .collect()
    };
    match words.first().map(|w| w.to_bytes()) {
        None | Some(b"tour") => tour(),
        Some(b"run") => cmd::run::main(&words[1..], &args.env().collect::<Vec<_>>()),
        // Options first, as bwrap's own command lines have them (a `bwrap` that runs itself
        // again through /proc/self/exe): `run`'s.
        Some(word) if word.starts_with(b"--") && word != b"--help" => {
            cmd::run::main(&words, &args.env().collect::<Vec<_>>())
        }
        Some(b"bench-report") => cmd::report::main(&rest()),
        Some(b"-h" | b"--help" | b"help") => {
            println!(
                "usage: rawclone [tour | run | bench-report]\n\n  \
                 tour          run every clone mode here and print the evidence (default)\n  \
                 run           run a program in new namespaces, like unshare (see run --help)\n  \
                 bench-report  criterion's medians against baselines and goals (see --help)"
            );
            0
        }
        Some(other) => {
            let other = String::from_utf8_lossy(other);
            eprintln!("rawclone: unknown command '{other}' (try 'rawclone --help')");
            2
        }
    }
}

fn tour() -> i32 {
    println!(
        "rawclone tour on {} ({}), pid {}\n",
        kernel_release(),
        rawclone::arch::NAME,
        sys::getpid()
    );
    let modes: [Stop; 11] = [
        ("fork", "clone(SIGCHLD), no stack: returns twice", tour_fork),
        ("chimera", "CLONE_VM + SIGCHLD, own stack", tour_chimera),
        (
            "thread",
            "VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|PARENT_SETTID|CHILD_CLEARTID",
            tour_thread,
        ),
        (
            "vfork+exec",
            "CLONE_VM|CLONE_VFORK|CLEAR_SIGHAND + SIGCHLD",
            tour_vfork,
        ),
        ("CLONE_FS", "CLONE_FS + SIGCHLD, own stack", tour_fs),
        (
            "CLONE_FILES",
            "CLONE_FILES + SIGCHLD, own stack",
            tour_files,
        ),
        (
            "CLONE_SIGHAND",
            "CLONE_VM|CLONE_SIGHAND + SIGCHLD",
            tour_sighand,
        ),
        (
            "CLONE_PIDFD",
            "CLONE_PIDFD + SIGCHLD, clone3 and clone",
            tour_pidfd,
        ),
        (
            "user ns root",
            "CLONE_NEWUSER + SIGCHLD; parent writes id maps, then a socketpair go",
            tour_userns,
        ),
        (
            "container",
            "user (root mapped) + pid + uts + ipc + net + mount + cgroup, fresh /proc",
            tour_container,
        ),
        (
            "spawner",
            "Thread, Chimera and Green backends on pooled stacks",
            tour_spawner,
        ),
    ];
    let mut failed = 0;
    for (name, flags, run) in modes {
        let (mark, text) = match run() {
            Ok(evidence) => ("ok  ", evidence),
            Err(why) => {
                failed += 1;
                ("FAIL", why)
            }
        };
        println!("[{mark}] {name:<14} {flags}\n       {text}");
    }

    println!("\nwhat this kernel allows");
    let clone3 = match rawclone::clone3_available() {
        Some(true) => "present",
        Some(false) => "missing (ENOSYS): the fallback to clone is in use",
        None => "not tried",
    };
    println!("  clone3:             {clone3}");
    println!(
        "  user namespaces:    {}",
        probe_namespace(CloneFlags::NEWUSER)
    );
    println!(
        "  other namespaces:   {}",
        probe_namespace(CloneFlags::NEWNS | CloneFlags::NEWPID | CloneFlags::NEWNET)
    );
    let caps = sys::effective_capabilities().unwrap_or(0);
    let admin = caps & (1 << linux_raw_sys::general::CAP_SYS_ADMIN) != 0;
    println!(
        "  capabilities:       effective set {caps:#x} (CAP_SYS_ADMIN {})",
        if admin { "held" } else { "not held" }
    );
    println!("  uid/gid:            {}/{}", sys::getuid(), sys::getgid());

    if failed == 0 {
        println!("\nevery mode behaved");
        0
    } else {
        println!("\n{failed} mode(s) misbehaved");
        1
    }
}

fn kernel_release() -> String {
    nolibc::io::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("Linux".into(), |r| format!("Linux {}", r.trim()))
}

fn stack() -> Result<Stack<'static>, String> {
    Stack::map(64 * 1024).map_err(|e| e.to_string())
}

fn expect_exit(status: Result<ExitStatus, Error>, code: i32) -> Result<(), String> {
    match status {
        Ok(ExitStatus::Exited(c)) if c == code => Ok(()),
        other => Err(format!("expected exit {code}, got {other:?}")),
    }
}

fn tour_fork() -> Evidence {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let (ours, theirs) = sys::seqpacket_pair().map_err(|e| e.to_string())?;
    // SAFETY: the child only issues raw syscalls and exits.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        Fork::Child => {
            WORD.store(1, SeqCst);
            let _ = sys::write(theirs.as_fd(), &sys::getpid().to_ne_bytes());
            sys::exit_group(0)
        }
        Fork::Parent(child) => {
            let mut buf = [0u8; 4];
            sys::read(ours.as_fd(), &mut buf).map_err(|e| e.to_string())?;
            let seen_by_child = i32::from_ne_bytes(buf);
            let pid = child.pid();
            expect_exit(child.wait(), 0)?;
            let word = WORD.load(SeqCst);
            if seen_by_child != pid || word != 0 {
                return Err(format!(
                    "child getpid {seen_by_child} vs {pid}; parent word {word}"
                ));
            }
            Ok(format!(
                "parent saw pid {pid}, child's getpid() = {seen_by_child}; child wrote 1, parent still reads {word} (copied memory)"
            ))
        }
    }
}

fn tour_chimera() -> Evidence {
    static PID: AtomicI32 = AtomicI32::new(0);
    static WORD: AtomicU32 = AtomicU32::new(0);
    let mut stack = stack()?;
    // SAFETY: atomics and raw syscalls only.
    let child = unsafe {
        chimera(&mut stack, || {
            PID.store(sys::getpid(), SeqCst);
            WORD.store(42, SeqCst);
            0
        })
    }
    .map_err(|e| e.to_string())?;
    let pid = child.pid();
    expect_exit(child.wait(), 0)?;
    let (seen, word) = (PID.load(SeqCst), WORD.load(SeqCst));
    if seen != pid || pid == sys::getpid() || word != 42 {
        return Err(format!("child pid {seen} vs {pid}, word {word}"));
    }
    Ok(format!(
        "own pid {pid} (parent {}); child wrote {word}, parent reads it (shared memory)",
        sys::getpid()
    ))
}

fn tour_thread() -> Evidence {
    static TGID: AtomicI32 = AtomicI32::new(0);
    let mut stack = stack()?;
    // SAFETY: atomics and raw syscalls only.
    let t = unsafe {
        thread(&mut stack, || {
            TGID.store(sys::getpid(), SeqCst);
            sys::gettid() as usize
        })
    }
    .map_err(|e| e.to_string())?;
    let tid = t.join() as i32;
    let tgid = TGID.load(SeqCst);
    if tgid != sys::getpid() || tid == sys::gettid() {
        return Err(format!("tgid {tgid}, tid {tid}"));
    }
    Ok(format!(
        "tgid {tgid} = ours, own tid {tid}; join returned the entry's value {tid}"
    ))
}

fn tour_vfork() -> Evidence {
    let child =
        vfork_exec(c"/bin/sh", &[c"sh", c"-c", c"exit 7"], &[]).map_err(|e| e.to_string())?;
    let pid = child.pid();
    expect_exit(child.wait(), 7)?;
    let missing = match vfork_exec(c"/nonexistent", &[c"x"], &[]) {
        Err(e @ Error::Exec { .. }) => e.to_string(),
        other => return Err(format!("exec of a missing file gave {other:?}")),
    };
    Ok(format!(
        "/bin/sh ran as pid {pid} and exited 7; a missing program: \"{missing}\""
    ))
}

fn tour_fs() -> Evidence {
    let cwd = || {
        nolibc::io::current_dir().map_err(|errno| Error::Sys {
            call: "getcwd",
            errno,
        })
    };
    let before = cwd().map_err(|e| e.to_string())?;
    let mut stack = stack()?;
    // SAFETY: raw syscalls only.
    let child = unsafe {
        Builder::new()
            .flags(CloneFlags::FS)
            .spawn(&mut stack, || sys::chdir(c"/proc").map_or(1, |_| 0))
    }
    .map_err(|e| e.to_string())?;
    expect_exit(child.wait(), 0)?;
    let after = cwd().map_err(|e| e.to_string())?;
    nolibc::io::set_current_dir(&before)
        .map_err(|errno| Error::Sys {
            call: "chdir",
            errno,
        })
        .map_err(|e| e.to_string())?;
    if after != "/proc" {
        return Err(format!("cwd after the child's chdir: {after}"));
    }
    Ok(format!(
        "child chdir(\"/proc\"); parent's cwd became {after} (restored to {before})"
    ))
}

fn tour_files() -> Evidence {
    let (a, _b) = sys::seqpacket_pair().map_err(|e| e.to_string())?;
    let fd = a.into_raw();
    let mut stack = stack()?;
    // SAFETY: raw syscalls only; the child closes `fd`, which nothing owns since `into_raw`.
    let child = unsafe {
        Builder::new()
            .flags(CloneFlags::FILES)
            .spawn(&mut stack, || sys::close(fd).map_or(1, |_| 0))
    }
    .map_err(|e| e.to_string())?;
    expect_exit(child.wait(), 0)?;
    match sys::fd_flags(fd) {
        Err(e) => Ok(format!(
            "child closed fd {fd}; parent's fcntl(F_GETFD) now says {}",
            Error::Sys {
                call: "fcntl",
                errno: e
            }
        )),
        Ok(_) => Err(format!("fd {fd} still open in the parent")),
    }
}

fn tour_sighand() -> Evidence {
    let mut stack = stack()?;
    let b = Builder::new().flags(CloneFlags::VM | CloneFlags::SIGHAND);
    // SAFETY: raw syscalls only.
    let child = unsafe {
        b.spawn(&mut stack, || {
            sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Ignore).map_or(1, |_| 0)
        })
    }
    .map_err(|e| e.to_string())?;
    expect_exit(child.wait(), 0)?;
    let seen = sys::signal_disposition(Signal::SIGUSR2).map_err(|e| e.to_string())?;
    let _ = sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Default);
    if seen != Disposition::Ignore {
        return Err(format!("parent sees {seen:?}"));
    }
    Ok("child set SIGUSR2 to SIG_IGN; the parent's table shows Ignore".into())
}

fn tour_pidfd() -> Evidence {
    let mut out = Vec::new();
    for syscall in [Syscall::Clone3, Syscall::Clone] {
        let mut stack = stack()?;
        // SAFETY: the child only sleeps.
        let child = unsafe {
            Builder::new()
                .pidfd()
                .syscall(syscall)
                .spawn(&mut stack, || {
                    loop {
                        let _ = sys::sleep_ms(1000);
                    }
                })
        }
        .map_err(|e| e.to_string())?;
        let fd = child.pidfd().map(|f| f.as_raw()).ok_or("no pidfd")?;
        child.signal(Signal::SIGTERM).map_err(|e| e.to_string())?;
        match child.wait() {
            Ok(ExitStatus::Signaled {
                signal: Signal::SIGTERM,
                ..
            }) => out.push(format!(
                "{syscall:?}: pidfd {fd}, SIGTERM via pidfd_send_signal, reaped by waitid(P_PIDFD)"
            )),
            other => return Err(format!("{syscall:?}: {other:?}")),
        }
    }
    Ok(out.join("; "))
}

fn tour_userns() -> Evidence {
    let mut stack = stack()?;
    // SAFETY: raw syscalls only; the ids come back as the exit status.
    let child = unsafe {
        ns::spawn_as_root(&mut stack, CloneFlags::EMPTY, || {
            sys::getuid() * 2 + sys::getgid()
        })
    }
    .map_err(|e| e.to_string())?;
    expect_exit(child.wait(), 0)?;
    Ok(format!(
        "outside uid {} gid {}; inside getuid() = 0, getgid() = 0",
        sys::getuid(),
        sys::getgid()
    ))
}

/// The container seed's set of namespaces, unprivileged: the child reports what it sees as
/// its exit status, one bit per fact.
fn tour_container() -> Evidence {
    let mut stack = stack()?;
    let ns = Namespaces::new()
        .map_root()
        .pid()
        .uts()
        .ipc()
        .net()
        .cgroup()
        .mount_proc()
        .hostname("rawclone");
    // SAFETY: raw syscalls only.
    let child = unsafe {
        ns.spawn(&mut stack, || {
            let facts = [
                sys::getpid() == 1,
                sys::getuid() == 0,
                sys::hostname().is_ok_and(|h| h.as_bytes() == b"rawclone"),
                sys::open(c"/proc/1/status", 0).is_ok(),
            ];
            facts
                .iter()
                .enumerate()
                .map(|(i, &f)| (!f as i32) << i)
                .sum()
        })
    }
    .map_err(|e| e.to_string())?;
    expect_exit(child.wait(), 0)?;
    Ok(format!(
        "{}: pid 1, uid 0, hostname 'rawclone', its own /proc",
        ns.namespace_flags()
    ))
}

/// One task of each backend, each reporting who it is through its control block.
fn tour_spawner() -> Evidence {
    let mut seen = Vec::new();
    for backend in [Backend::Thread, Backend::Chimera, Backend::Green] {
        let spawner = Spawner::new(backend).map_err(|e| e.to_string())?;
        // SAFETY: the task reads its control block and makes a raw syscall.
        let task = unsafe { spawner.spawn(|| (rawclone::current(), sys::gettid())) }
            .map_err(|e| e.to_string())?;
        let id = task.id();
        match task.join().map_err(|e| e.to_string())? {
            (Some(c), tid) if c.id == id && c.backend == backend => {
                seen.push(format!("{backend:?} task {id} on tid {tid}"))
            }
            other => return Err(format!("{backend:?}: {other:?}")),
        }
    }
    Ok(seen.join("; "))
}

fn probe_namespace(flags: CloneFlags) -> String {
    let Ok(mut stack) = Stack::map(16 * 1024) else {
        return "unknown (no stack)".into();
    };
    // SAFETY: the child only returns.
    match unsafe { Builder::new().flags(flags).spawn(&mut stack, || 0) } {
        Ok(child) => match child.wait() {
            Ok(_) => format!("allowed ({flags})"),
            Err(e) => format!("created, but: {e}"),
        },
        Err(e) => format!("refused: {e}"),
    }
}
