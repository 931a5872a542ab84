//! Helpers shared by the integration tests.
//!
//! Tests that change process-wide state (cwd, uid, signal dispositions, the clone3 cache) or count
//! fds and zombies run inside a forked child, so the test harness's other threads neither disturb
//! them nor are disturbed. Such a child uses only raw syscalls and atomics: it is a one-thread copy
//! of a multi-threaded process, where allocation or locks could deadlock; `alloc_guard`, every
//! test binary's allocator, ends one that allocates.
#![allow(dead_code)]

pub mod alloc_guard;
pub mod seccomp;

use rawclone::sys::{self, Fd, WaitId};
use rawclone::{ExitStatus, Fork, fork};
use syscalls::{Sysno, syscall2, syscall3};

/// Run `f` in a forked child; its return value is the child's exit status.
pub fn in_fork(f: impl FnOnce() -> i32) -> ExitStatus {
    // Probed here, before the fork: a copy made while another test thread was inside the probe
    // would find it forever running, and hang in its first `qemu_user()`.
    qemu_user();
    // SAFETY: the child runs `f`, which by this module's rule uses raw syscalls only, then exits
    // without returning into the harness.
    match unsafe { fork() }.expect("fork") {
        Fork::Child => {
            alloc_guard::forbid_allocation();
            // A panic in `f` must end this copy, never unwind into the copied test harness.
            struct ExitOnUnwind;
            impl Drop for ExitOnUnwind {
                fn drop(&mut self) {
                    sys::exit_group(101);
                }
            }
            let _guard = ExitOnUnwind;
            sys::exit_group(f())
        }
        Fork::Parent(child) => child.wait().expect("wait"),
    }
}

/// End the calling process with SIGALRM after `seconds` (`setitimer(2)`, `ITIMER_REAL`): a
/// forked check that could hang then ends with a status that says so.
pub fn alarm_in(seconds: i64) {
    use linux_raw_sys::general as k;
    let timer = k::itimerval {
        it_interval: k::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: k::timeval {
            tv_sec: seconds as _,
            tv_usec: 0,
        },
    };
    // SAFETY: the kernel reads one itimerval, live across the call; no old value is asked for.
    let armed = unsafe {
        syscall3(
            Sysno::setitimer,
            k::ITIMER_REAL as usize,
            (&raw const timer) as usize,
            0,
        )
    };
    armed.expect("setitimer");
}

/// Exit status of [`in_fork_stderr`]'s child when its stderr could not be redirected.
pub const NO_STDERR: i32 = 102;

/// Run `f` as [`in_fork`] does, with the child's stderr a socket: its status, and every line it
/// wrote to stderr (less qemu-user's own report of a signal that killed it).
pub fn in_fork_stderr(f: impl FnOnce() -> i32) -> (ExitStatus, Vec<String>) {
    let (ours, theirs) = sys::seqpacket_pair().expect("socketpair");
    let status = in_fork(|| {
        // SAFETY: dup3 onto fd 2 of this forked process.
        let dup = unsafe { syscall3(Sysno::dup3, theirs.as_raw() as usize, 2, 0) };
        if dup.is_err() {
            return NO_STDERR;
        }
        f()
    });
    drop(theirs);
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sys::read(ours.as_fd(), &mut buf).expect("read") {
            0 => break,
            n => text.extend_from_slice(&buf[..n]),
        }
    }
    let lines = String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| !(qemu_user() && line.starts_with("qemu:")))
        .map(str::to_string)
        .collect();
    (status, lines)
}

/// Assert that a forked check passed; its exit code names the failed step.
#[track_caller]
pub fn assert_in_fork(f: impl FnOnce() -> i32) {
    let status = in_fork(f);
    assert_eq!(
        status,
        ExitStatus::Exited(0),
        "forked check failed at step {status:?}"
    );
}

/// Number of entries of directory `dir` whose names pass `keep` (never `.` or `..`), read with
/// raw `getdents64` (no allocation).
pub fn count_entries(dir: &core::ffi::CStr, keep: impl Fn(&[u8]) -> bool) -> usize {
    let dir = sys::open(dir, linux_raw_sys::general::O_DIRECTORY).expect("open");
    let mut buf = [0u8; 4096];
    let mut count = 0;
    sys::for_each_dir_entry(dir.as_fd(), &mut buf, |name| {
        if name != b"." && name != b".." && keep(name) {
            count += 1;
        }
    })
    .expect("getdents64");
    count
}

/// Number of open fds (no allocation).
pub fn open_fds() -> usize {
    count_entries(c"/proc/self/fd", |_| true) - 1 // the directory fd itself
}

/// A `kB` field of /proc/self/status (`VmSize:`, `VmRSS:`, …), read with raw syscalls.
pub fn status_kib(field: &[u8]) -> u64 {
    let fd = sys::open(c"/proc/self/status", 0).expect("open");
    let mut buf = [0u8; 4096];
    let n = sys::read(fd.as_fd(), &mut buf).expect("read");
    let text = &buf[..n];
    let at = text
        .windows(field.len())
        .position(|w| w == field)
        .expect("field in /proc/self/status")
        + field.len();
    text[at..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, d| n * 10 + u64::from(d - b'0'))
}

/// Number of memory mappings, counted in /proc/self/maps (no allocation): a leaked stack shows
/// up as two more (the guard page and the stack).
pub fn mappings() -> usize {
    let maps = sys::open(c"/proc/self/maps", 0).expect("open");
    let mut buf = [0u8; 4096];
    let mut lines = 0;
    loop {
        let n = sys::read(maps.as_fd(), &mut buf).expect("read");
        if n == 0 {
            return lines;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
}

/// Whether this process has any child left to reap (zombie or alive).
pub fn has_children() -> bool {
    let options = linux_raw_sys::general::WEXITED
        | linux_raw_sys::general::WNOHANG
        | linux_raw_sys::general::WNOWAIT
        | linux_raw_sys::general::__WALL;
    !matches!(
        sys::waitid(WaitId::All, options),
        Err(rawclone::Errno::ECHILD)
    )
}

/// What a process holds, for a check that nothing leaked: open descriptors and mappings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Holdings {
    fds: usize,
    maps: usize,
}

impl Holdings {
    /// What this process holds now (no allocation).
    pub fn now() -> Holdings {
        Holdings {
            fds: open_fds(),
            maps: mappings(),
        }
    }

    /// In a forked check: 0 if nothing leaked since `self`, else the step that shows a leak: 1 a
    /// child left to reap, 2 a descriptor, 3 a mapping.
    pub fn leaked_since(self) -> i32 {
        if has_children() {
            1
        } else if open_fds() != self.fds {
            2
        } else if mappings() != self.maps {
            3
        } else {
            0
        }
    }
}

/// Sleep `ms` milliseconds with a raw nanosleep.
pub fn sleep_ms(ms: u64) {
    let _ = sys::sleep_ms(ms);
}

/// Drop to uid/gid 65534 (nobody), keeping the process dumpable so that its /proc files stay
/// writable by itself (the kernel clears the flag on a uid change). A suite run by an
/// unprivileged user is unprivileged already and stays as it is.
pub fn become_nobody() -> Result<(), rawclone::Errno> {
    if sys::geteuid() != 0 {
        return Ok(());
    }
    const NOBODY: usize = 65534;
    const PR_SET_DUMPABLE: usize = 4;
    // SAFETY: these calls change credentials of this (forked, single-threaded) process only.
    unsafe {
        syscall2(Sysno::setgroups, 0, 0)?;
        syscall3(Sysno::setresgid, NOBODY, NOBODY, NOBODY)?;
        syscall3(Sysno::setresuid, NOBODY, NOBODY, NOBODY)?;
        syscalls::syscall5(Sysno::prctl, PR_SET_DUMPABLE, 1, 0, 0, 0)?;
    }
    Ok(())
}

/// Send a u32 over a seqpacket socket.
pub fn send_u32(fd: &Fd, v: u32) {
    sys::write(fd.as_fd(), &v.to_ne_bytes()).expect("send");
}

/// Receive a u32 from a seqpacket socket.
pub fn recv_u32(fd: &Fd) -> u32 {
    let mut b = [0u8; 4];
    assert_eq!(sys::read(fd.as_fd(), &mut b).expect("recv"), 4);
    u32::from_ne_bytes(b)
}

/// Recurse until the stack overflows.
#[inline(never)]
#[allow(unconditional_recursion)]
pub fn overflow(depth: u64) -> u64 {
    let pad = core::hint::black_box([depth; 64]);
    overflow(pad[3] + 1) + pad[5]
}

/// Whether the running kernel's version is below `major.minor` (from
/// /proc/sys/kernel/osrelease; under qemu-user, the host's).
pub fn kernel_before(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut numbers = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || numbers.next().and_then(|n| n.parse::<u32>().ok());
    (next(), next()) < (Some(major), Some(minor))
}

/// Why a check whose forked creator died with its Chimera task's core-dumping signal (SIGSEGV
/// of an overflow, SIGABRT of a broken task rule) is skipped: before Linux 5.16 a core-dumping
/// signal kills every process sharing the dumping one's memory (coredump_wait's zap_threads), so
/// a `CLONE_VM` child's dump takes its creator along; 5.16 limited the dump to the child's own
/// thread group. `None` on a later kernel, where it is a failure.
pub fn core_dump_took_the_creator(status: ExitStatus) -> Option<&'static str> {
    use rawclone::Signal;
    let dumping = matches!(
        status.signal(),
        Some(Signal::SIGSEGV | Signal::SIGABRT | Signal::SIGBUS | Signal::SIGILL | Signal::SIGFPE)
    );
    (dumping && kernel_before(5, 16)).then_some(
        "Linux < 5.16: a core-dumping signal kills every process sharing the memory \
         (zap_threads), so the Chimera task's signal took its creator too",
    )
}

/// Whether this process runs under qemu-user, found by probing once: the emulator refuses a plain
/// `CLONE_VM` child with EINVAL, which no kernel does.
/// Why the system's programs (`/bin/sh`, `/bin/ls`, `/bin/true`) cannot run under a seccomp
/// filter of this build, if they cannot: a filter rawclone builds fails every call of another
/// calling convention, and a 32-bit build (i686) on a 64-bit system execs 64-bit programs, whose
/// every call is of the x86_64 convention. `None` where they are of this build's word size.
pub fn system_programs_foreign() -> Option<&'static str> {
    let mut head = [0u8; 5];
    let class = std::fs::File::open("/bin/sh")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|()| head[4]);
    // ELFCLASS32 = 1, ELFCLASS64 = 2.
    let ours = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    match class {
        Ok(c) if c != ours => Some(
            "/bin/sh is of the other word size (a 32-bit build on a 64-bit system): the filter \
             fails each of its calls, of another calling convention, by design",
        ),
        _ => None,
    }
}

pub fn qemu_user() -> bool {
    static PROBED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROBED.get_or_init(|| {
        let mut stack = rawclone::Stack::map(16 * 1024).expect("stack");
        // SAFETY: the child only returns.
        match unsafe { rawclone::chimera(&mut stack, || 0) } {
            Ok(child) => {
                let _ = child.wait();
                false
            }
            Err(e) => e.errno() == Some(rawclone::Errno::EINVAL),
        }
    })
}

/// An error that is qemu-user's known refusal (EINVAL for flags it cannot emulate, ENOSYS for
/// clone3), not a failure of rawclone.
pub fn refused_by_qemu(e: &rawclone::Error) -> bool {
    qemu_user()
        && matches!(
            e.errno(),
            Some(rawclone::Errno::EINVAL | rawclone::Errno::ENOSYS)
        )
}

/// Report the current test as skipped, with its reason: on stderr, and as a line in the file
/// named by `RAWCLONE_SKIP_LOG` (the test command counts those lines as skips, not passes).
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!("skipped {test}: {reason}");
    if let Some(path) = std::env::var_os("RAWCLONE_SKIP_LOG") {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("skip log");
        // One write of the whole line: tests skipping at once must not interleave their lines.
        log.write_all(format!("{test}: {reason}\n").as_bytes())
            .expect("skip log");
    }
}

/// Exit status of a forked check whose spawn qemu-user refused.
pub const QEMU_REFUSED: i32 = 77;

/// Unwrap a spawn result; if qemu-user refused it, skip the test (`return`) naming `$what`.
#[macro_export]
macro_rules! spawn_or_skip {
    ($e:expr, $what:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) if $crate::common::refused_by_qemu(&e) => {
                $crate::common::skip(&format!("qemu-user: {} ({e})", $what));
                return;
            }
            Err(e) => panic!("{e}"),
        }
    };
}

/// In a forked check: unwrap a spawn result, or end the check with [`QEMU_REFUSED`].
#[macro_export]
macro_rules! spawn_or_refused {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) if $crate::common::refused_by_qemu(&e) => return $crate::common::QEMU_REFUSED,
            Err(_) => return 100,
        }
    };
}

/// [`assert_in_fork`], where an exit with [`QEMU_REFUSED`] under qemu-user is a skip naming `what`.
#[track_caller]
pub fn assert_in_fork_or_skip(what: &str, f: impl FnOnce() -> i32) {
    match in_fork(f) {
        ExitStatus::Exited(0) => {}
        ExitStatus::Exited(QEMU_REFUSED) if qemu_user() => skip(&format!("qemu-user: {what}")),
        other => panic!("forked check failed at step {other:?}"),
    }
}

/// A command that runs this test binary again, as `.cargo/config.toml`'s runner does: under
/// qemu-user (no binfmt_misc here) through `qemu-ARCH-static`, with the cross C library's
/// sysroot for a glibc build.
pub fn this_binary_again() -> std::process::Command {
    let exe = std::env::current_exe().expect("current_exe");
    if !qemu_user() {
        return std::process::Command::new(exe);
    }
    let arch = std::env::consts::ARCH;
    let mut command = std::process::Command::new(format!("qemu-{arch}-static"));
    if cfg!(target_env = "gnu") {
        // Debian's name for the cross C library: arm's is the hard-float EABI one.
        let triple = if cfg!(target_arch = "arm") {
            "arm-linux-gnueabihf".to_string()
        } else {
            format!("{arch}-linux-gnu")
        };
        command.arg("-L").arg(format!("/usr/{triple}"));
    }
    command.arg(exe);
    command
}

/// The freestanding (`-none`) target of this build's architecture, for [`freestanding_program`].
/// i686 has no `-none` target with a prebuilt `core`, so its freestanding programs are built for
/// `i686-unknown-linux-musl` without the C start files or libc (see [`FREESTANDING_I686_FLAGS`]).
pub const NATIVE_FREESTANDING: &str = if cfg!(target_arch = "riscv64") {
    "riscv64gc-unknown-none-elf"
} else if cfg!(target_arch = "aarch64") {
    "aarch64-unknown-none"
} else if cfg!(target_arch = "x86") {
    "i686-unknown-linux-musl"
} else if cfg!(target_arch = "arm") {
    "armv7a-none-eabi"
} else {
    "x86_64-unknown-none"
};

/// How the freestanding programs are built for `i686-unknown-linux-musl` (`.ci/test` passes the
/// same, in `CARGO_TARGET_I686_UNKNOWN_LINUX_MUSL_RUSTFLAGS`): `panic=abort` (the prebuilt `core`
/// of a `-linux-` target unwinds; `rust_eh_personality` in tests/freestanding only satisfies the
/// linker), no self-contained C start files or libc (rawclone's own `_start`), non-relocatable
/// code, and from the toolchain's own musl `libc.a` only the string routines (`memcpy`, `memset`,
/// `memmove`, `memcmp`, `bcmp`, `strlen`) that `core` calls and that `compiler_builtins` provides
/// on `-none` targets but not on `-linux-` ones. `SYSROOT` stands for `rustc --print sysroot`.
pub const FREESTANDING_I686_FLAGS: &str = "-C panic=abort -C link-self-contained=no \
    -C relocation-model=static \
    -C link-arg=SYSROOT/lib/rustlib/i686-unknown-linux-musl/lib/self-contained/libc.a";

/// The environment that builds the freestanding programs for `target`: none but the defaults,
/// except for i686 ([`FREESTANDING_I686_FLAGS`]).
fn freestanding_rustflags(target: &str) -> Vec<(String, String)> {
    if target != "i686-unknown-linux-musl" {
        return Vec::new();
    }
    // No rustc where no cargo builds either: in .ci/vm-suite's guest, whose stand-in cargo finds
    // the programs built beforehand and reads no flags.
    let Ok(out) = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
    else {
        return Vec::new();
    };
    let sysroot = String::from_utf8(out.stdout).expect("a UTF-8 sysroot");
    let flags = FREESTANDING_I686_FLAGS
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("SYSROOT", sysroot.trim());
    vec![(
        "CARGO_TARGET_I686_UNKNOWN_LINUX_MUSL_RUSTFLAGS".to_string(),
        flags,
    )]
}

/// Build the freestanding programs for `target` (once per test binary and target) and return the
/// path of program `name`. A target directory of their own: the outer `cargo test` may still hold
/// the main one's lock.
pub fn freestanding_program(target: &str, name: &str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Mutex;
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap();
    let dir = built
        .get_or_insert_with(HashMap::new)
        .entry(target.to_string())
        .or_insert_with(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let target_dir = root.join("target").join("freestanding");
            let status = std::process::Command::new(env!("CARGO"))
                .current_dir(&root)
                .args([
                    "build",
                    "--release",
                    "-p",
                    "rawclone-freestanding",
                    "--target",
                    target,
                ])
                .env("CARGO_TARGET_DIR", &target_dir)
                .envs(freestanding_rustflags(target))
                .status()
                .expect("run cargo");
            assert!(
                status.success(),
                "building the freestanding programs for {target} failed"
            );
            target_dir.join(target).join("release")
        });
    dir.join(name)
}

/// The `rawclone` binary as `cargo install` builds it: default features, so no libc (see
/// `src/main.rs`). A suite built with the `std` feature has a `CARGO_BIN_EXE_rawclone` that links
/// libc for std's sake; this one is built for the suite's own target (`RAWCLONE_TARGET`, from
/// `build.rs`) in a target directory of its own, since the outer `cargo test` may still hold the
/// main one's lock. Built once per test binary.
pub fn rawclone_without_libc() -> std::path::PathBuf {
    use std::path::PathBuf;
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let target = env!("RAWCLONE_TARGET");
            let target_dir = root.join("target").join("nolibc");
            let status = std::process::Command::new(env!("CARGO"))
                .current_dir(&root)
                .args([
                    "build",
                    "--release",
                    "--bin",
                    "rawclone",
                    "--target",
                    target,
                ])
                .env("CARGO_TARGET_DIR", &target_dir)
                .status()
                .expect("run cargo");
            assert!(
                status.success(),
                "building the rawclone binary without std for {target} failed"
            );
            target_dir.join(target).join("release").join("rawclone")
        })
        .clone()
}

/// One test per backend, in modules `thread`, `chimera` and `green`, for each check written as
/// `fn check(backend: Backend)`: a skip or a failure then names exactly one backend.
#[macro_export]
macro_rules! per_backend {
    ($($check:ident),* $(,)?) => {
        mod thread {
            $(#[test] fn $check() { super::$check(rawclone::Backend::Thread) })*
        }
        mod chimera {
            $(#[test] fn $check() { super::$check(rawclone::Backend::Chimera) })*
        }
        mod green {
            $(#[test] fn $check() { super::$check(rawclone::Backend::Green) })*
        }
    };
}

/// `mmap`, or on 32-bit targets `mmap2` (i386's `mmap` takes a struct of arguments).
#[cfg(target_pointer_width = "64")]
const MMAP: Sysno = Sysno::mmap;
/// `mmap`, or on 32-bit targets `mmap2` (i386's `mmap` takes a struct of arguments).
#[cfg(target_pointer_width = "32")]
const MMAP: Sysno = Sysno::mmap2;

/// `bytes` (rounded up to whole pages) of zeroed memory that forked children share with their
/// parent (`MAP_SHARED | MAP_ANONYMOUS`), for answers that must outlive a child; unmapped by the
/// caller, if at all.
pub fn map_shared(bytes: usize) -> *mut u8 {
    use linux_raw_sys::general as k;
    // SAFETY: a fresh anonymous shared mapping aliases nothing of ours.
    unsafe {
        syscalls::syscall6(
            MMAP,
            0,
            bytes.next_multiple_of(4096),
            (k::PROT_READ | k::PROT_WRITE) as usize,
            (k::MAP_SHARED | k::MAP_ANONYMOUS) as usize,
            usize::MAX,
            0,
        )
    }
    .expect("mmap") as *mut u8
}

/// Whether Chimera tasks (`CLONE_VM` processes) can run here; under qemu-user they cannot, and
/// the calling test is logged as skipped with that reason.
pub fn chimeras_run_here() -> bool {
    if qemu_user() {
        skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses (EINVAL)");
        return false;
    }
    true
}

/// Make a test module pair, `root::CHECK` and `unprivileged::CHECK`, for each check: each calls
/// `run_check(name, unprivileged, CHECK)` of the file that uses it.
#[macro_export]
macro_rules! as_root_and_unprivileged {
    ($($check:ident),* $(,)?) => {
        mod root {
            $(#[test] fn $check() { super::run_check(stringify!($check), false, super::$check) })*
        }
        mod unprivileged {
            $(#[test] fn $check() { super::run_check(stringify!($check), true, super::$check) })*
        }
    };
}

/// Run a namespace check in a fork: as root (skipped with the reason when the suite is not
/// root) with `Namespaces::new()`, or as nobody with `Namespaces::new().map_root()`. `check`
/// returns 0 or the step that failed.
pub fn run_ns_check(
    name: &str,
    unprivileged: bool,
    check: impl FnOnce(rawclone::ns::Namespaces<'static>) -> i32,
) {
    use rawclone::ns::Namespaces;
    if qemu_user() {
        return skip("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    if !unprivileged && sys::geteuid() != 0 {
        return skip("needs root (the suite runs unprivileged)");
    }
    let base = if unprivileged {
        Namespaces::new().map_root()
    } else {
        Namespaces::new()
    };
    let status = in_fork(|| {
        if unprivileged && become_nobody().is_err() {
            return 90;
        }
        check(base)
    });
    assert_eq!(
        status,
        ExitStatus::Exited(0),
        "{name}: failed at step {status:?}"
    );
}

/// Spawn `f` in `ns` on a 64 KiB stack and return its exit code, or 100 + a code for a failed
/// spawn or wait.
pub fn in_ns(ns: rawclone::ns::Namespaces<'_>, f: impl FnOnce() -> i32) -> i32 {
    let Ok(mut stack) = rawclone::Stack::map(64 * 1024) else {
        return 101;
    };
    // SAFETY: every check's closure uses raw syscalls only.
    match unsafe { ns.spawn(&mut stack, f) }.map(|c| c.wait()) {
        Ok(Ok(ExitStatus::Exited(code))) => code,
        Ok(_) => 102,
        Err(_) => 103,
    }
}

/// A directory any user may write, of its own for each test (for `--bind` and the like);
/// removed on drop.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("rawclone-scratch-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
