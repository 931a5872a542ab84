//! `Program`: environment, file actions, working directory, close_other_fds and confinement,
//! each through a vfork-style spawn and inside namespaces (a user namespace mapped to root, so it
//! runs unprivileged too), with every failure typed and leak-free.

mod common;

use common::{
    Holdings, QEMU_REFUSED, assert_in_fork_or_skip, qemu_user, refused_by_qemu, skip,
    system_programs_foreign,
};
use rawclone::error::SetupStep;
use rawclone::ns::Namespaces;
use rawclone::program::{Capabilities, FdAction, Program, Resource, Stdio};
use rawclone::seccomp::{Filter, Sysno};
use rawclone::sys::{self, Fd};
use rawclone::{Child, Errno, Error, ErrorPath, ExitStatus, Rule};
use std::collections::BTreeSet;

/// How a test's program is started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Via {
    /// `Program::spawn`.
    Vfork,
    /// `Namespaces::exec_program` in a user namespace mapped to root.
    Namespaces,
}

fn launch(via: Via, program: &Program<'_>) -> rawclone::Result<Child<'static>> {
    match via {
        Via::Vfork => program.spawn(),
        Via::Namespaces => Namespaces::new().map_root().exec_program(program),
    }
}

/// Read `fd` to end-of-file into `buf` (no allocation); the bytes read.
fn read_all<'b>(fd: &Fd, buf: &'b mut [u8]) -> &'b [u8] {
    let mut len = 0;
    while len < buf.len() {
        match sys::read(fd.as_fd(), &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::EINTR) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    &buf[..len]
}

/// Run `program` with its standard output (and error, if `both`) on a pipe: its status and
/// what it wrote. `None` when qemu-user refused the spawn (reported as a skip).
fn output_of(via: Via, program: Program<'_>, both: bool) -> Option<(ExitStatus, String)> {
    let (r, w) = sys::pipe().expect("pipe");
    let mut program = program.stdout(Stdio::Fd(w.as_raw()));
    if both {
        program = program.stderr(Stdio::Fd(w.as_raw()));
    }
    let child = match launch(via, &program) {
        Ok(child) => child,
        Err(e) if refused_by_qemu(&e) => {
            skip(&format!("qemu-user refused the {via:?} spawn ({e})"));
            return None;
        }
        Err(e) => panic!("{via:?}: {e}"),
    };
    drop(w);
    let mut buf = vec![0u8; 1 << 16];
    let text = String::from_utf8_lossy(read_all(&r, &mut buf)).into_owned();
    Some((child.wait().expect("wait"), text))
}

/// [`output_of`] for a program that must succeed: its standard output.
fn stdout_of(via: Via, program: Program<'_>) -> Option<String> {
    let (status, text) = output_of(via, program, false)?;
    assert_eq!(status, ExitStatus::Exited(0), "{via:?}: output {text:?}");
    Some(text)
}

/// `/bin/sh -c SCRIPT` (the strings leaked: a test's few bytes, for a `'static` program).
fn sh(script: &std::ffi::CStr) -> Program<'static> {
    let script: &'static std::ffi::CStr = Box::leak(script.into());
    Program::new(c"/bin/sh").argv(Box::leak(Box::new([c"sh", c"-c", script])))
}

macro_rules! sh {
    ($script:expr) => {
        sh($script)
    };
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

/// Whether the spawn's failure can be asserted here; under qemu-user a vfork-style child is a
/// plain fork whose failure never reaches the parent (reported as a skip).
fn failures_reach_parent(via: Via) -> bool {
    if via == Via::Vfork && qemu_user() {
        skip(
            "qemu-user: CLONE_VFORK becomes a plain fork; the child's failure cannot reach the parent",
        );
        return false;
    }
    true
}

/// Assert that `program` fails at `step` with `errno`, the child reaped.
#[track_caller]
fn assert_fails(via: Via, program: Program<'_>, step: SetupStep, errno: Errno) {
    match launch(via, &program) {
        Err(Error::ExecSetup { step: s, errno: e }) if s == step && e == errno => {}
        Err(e) if refused_by_qemu(&e) => skip(&format!("qemu-user refused the spawn ({e})")),
        Err(e) => panic!("{via:?}: expected {step:?} {errno:?}, got {e}"),
        Ok(child) => panic!(
            "{via:?}: expected {step:?} {errno:?}, it ran: {:?}",
            child.wait()
        ),
    }
}

fn env_inherited(via: Via) {
    let Some(text) = stdout_of(via, Program::new(c"/usr/bin/env")) else {
        return;
    };
    let ours: BTreeSet<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    assert_eq!(lines(&text), ours);
}

fn env_cleared(via: Via) {
    let program = Program::new(c"/usr/bin/env").env_clear();
    assert_eq!(stdout_of(via, program).as_deref().unwrap_or(""), "");
}

fn env_set_last_wins(via: Via) {
    let program = Program::new(c"/usr/bin/env")
        .env_clear()
        .envs(&[c"A=1", c"B=2", c"A=3"]);
    if let Some(text) = stdout_of(via, program) {
        assert_eq!(text, "B=2\nA=3\n");
    }
}

fn env_removed_and_set(via: Via) {
    let program = Program::new(c"/usr/bin/env")
        .env_exactly(&[c"KEEP=1", c"GONE=2", c"OVER=3"])
        .env_remove(&[c"GONE", c"OVER"])
        .envs(&[c"OVER=4"]);
    if let Some(text) = stdout_of(via, program) {
        assert_eq!(text, "KEEP=1\nOVER=4\n");
    }
}

fn env_inherited_minus_removed(via: Via) {
    let program = Program::new(c"/usr/bin/env")
        .env_remove(&[c"PATH"])
        .envs(&[c"RAWCLONE_TEST_SET=yes"]);
    let Some(text) = stdout_of(via, program) else {
        return;
    };
    let got = lines(&text);
    assert!(got.contains("RAWCLONE_TEST_SET=yes"), "{got:?}");
    assert!(!got.iter().any(|l| l.starts_with("PATH=")), "{got:?}");
    let ours = std::env::vars_os().filter(|(k, _)| k != "PATH").count();
    assert_eq!(got.len(), ours + 1, "{got:?}");
}

fn path_searched_in_merged_env(via: Via) {
    let program = Program::new(c"true")
        .env_clear()
        .envs(&[c"PATH=/nonexistent:/bin:/usr/bin"]);
    let Some(text) = stdout_of(via, program) else {
        return;
    };
    assert_eq!(text, "");
    if failures_reach_parent(via) {
        let missing = Program::new(c"true")
            .env_clear()
            .envs(&[c"PATH=/nonexistent"]);
        assert!(matches!(
            launch(via, &missing),
            Err(Error::Exec { path, errno: Errno::ENOENT }) if path.as_bytes() == b"true"
        ));
    }
}

fn dup2_onto_itself_clears_cloexec(via: Via) {
    let (r, w) = sys::pipe().expect("pipe");
    let fd = w.as_raw();
    let script = std::ffi::CString::new(format!("echo through >&{fd}")).unwrap();
    let actions = [FdAction::Dup2 { from: fd, to: fd }];
    let child = launch(via, &sh!(&script).file_actions(&actions));
    let Some(child) = spawned(child) else { return };
    drop(w);
    let mut buf = [0u8; 64];
    assert_eq!(read_all(&r, &mut buf), b"through\n");
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    // Without the action the descriptor is close-on-exec: the shell cannot write to it.
    let (r, w) = sys::pipe().expect("pipe");
    let script =
        std::ffi::CString::new(format!("echo through >&{} 2>/dev/null", w.as_raw())).unwrap();
    let child = launch(via, &sh!(&script).stderr(Stdio::Null)).expect("spawn");
    drop(w);
    assert_eq!(read_all(&r, &mut buf), b"");
    assert_ne!(child.wait(), Ok(ExitStatus::Exited(0)));
}

/// Unwrap a spawn, or report qemu-user's refusal as a skip.
fn spawned(child: rawclone::Result<Child<'static>>) -> Option<Child<'static>> {
    match child {
        Ok(child) => Some(child),
        Err(e) if refused_by_qemu(&e) => {
            skip(&format!("qemu-user refused the spawn ({e})"));
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn dup2_open_close_in_order(via: Via) {
    let (r, w) = sys::pipe().expect("pipe");
    let dir = std::env::temp_dir().join(format!("rawclone-program-{}-{via:?}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    use linux_raw_sys::general as k;
    let actions = [
        FdAction::Dup2 {
            from: w.as_raw(),
            to: 7,
        },
        FdAction::Open {
            fd: 8,
            path: &path,
            flags: k::O_WRONLY | k::O_CREAT | k::O_EXCL | k::O_CLOEXEC,
            mode: 0o600,
        },
        FdAction::Dup2 { from: 7, to: 9 },
        FdAction::Close(7),
        FdAction::Close(900), // not open: no error
    ];
    let script =
        c"echo nine >&9; echo eight >&8; { echo seven >&7; } 2>/dev/null || echo closed >&9";
    let Some(child) = spawned(launch(via, &sh!(script).file_actions(&actions))) else {
        let _ = std::fs::remove_file(&dir);
        return;
    };
    drop(w);
    let mut buf = [0u8; 64];
    assert_eq!(read_all(&r, &mut buf), b"nine\nclosed\n");
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    assert_eq!(std::fs::read(&dir).unwrap(), b"eight\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(mode, 0o600);
}

fn stdio_null_and_fd(via: Via) {
    let program = sh!(c"cat; echo out; echo err >&2").stdin(Stdio::Null);
    let Some((status, text)) = output_of(via, program, true) else {
        return;
    };
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(text, "out\nerr\n");
}

fn current_dir(via: Via) {
    if let Some(text) = stdout_of(via, sh!(c"pwd").current_dir(c"/usr")) {
        assert_eq!(text, "/usr\n");
    }
}

fn close_other_fds(via: Via) {
    let foreign = system_programs_foreign();
    if let Some(why) = foreign {
        skip(&format!(
            "the half that runs /bin/ls under a filter without close_range: {why}"
        ));
    }
    assert_in_fork_or_skip("a namespaced spawn is refused (EINVAL)", || {
        // An inheritable descriptor the program must not get, and one an action keeps.
        let stray = sys::open(c"/dev/null", 0).expect("open");
        sys::clear_cloexec(stray.as_fd()).expect("fcntl");
        let (r, w) = sys::pipe().expect("pipe");
        let actions = [FdAction::Dup2 {
            from: stray.as_raw(),
            to: 9,
        }];
        let ls = Program::new(c"/bin/ls")
            .argv(&[c"ls", c"/proc/self/fd"])
            .env_clear()
            .stdout(Stdio::Fd(w.as_raw()))
            .file_actions(&actions);
        let mut buf = [0u8; 256];
        let listing = |program: Program<'_>, buf: &mut [u8]| -> Result<usize, i32> {
            let child = match launch(via, &program) {
                Ok(child) => child,
                Err(e) if refused_by_qemu(&e) => return Err(QEMU_REFUSED),
                Err(_) => return Err(100),
            };
            if child.wait() != Ok(ExitStatus::Exited(0)) {
                return Err(101);
            }
            Ok(sys::read(r.as_fd(), buf).expect("read"))
        };
        // ls's own directory descriptor is the lowest free one: 3.
        let n = match listing(ls.close_other_fds(), &mut buf) {
            Ok(n) => n,
            Err(code) => return code,
        };
        if &buf[..n] != b"0\n1\n2\n3\n9\n" {
            return 1;
        }
        // Without it the stray descriptor (and the pipe's write end, 1's source) show up.
        let n = match listing(ls, &mut buf) {
            Ok(n) => n,
            Err(code) => return code,
        };
        let listed = |fd: i32| {
            buf[..n].split(|&b| b == b'\n').any(|line| {
                let number = line.iter().try_fold(0i32, |n, &d| {
                    d.is_ascii_digit().then(|| n * 10 + i32::from(d - b'0'))
                });
                !line.is_empty() && number == Some(fd)
            })
        };
        if !listed(stray.as_raw()) {
            return 2;
        }
        // A kernel without close_range (before 5.9), emulated: the /proc/self/fd walk instead.
        if qemu_user() {
            return 0; // the emulator would not enforce the filter
        }
        if foreign.is_some() {
            return 0; // /bin/ls could not run under the filter (skipped above, with the reason)
        }
        let no_close_range = Filter::<16>::deny(&[Sysno::close_range], Errno::ENOSYS).unwrap();
        sys::set_no_new_privs().expect("no_new_privs");
        sys::seccomp_set_filter(no_close_range.as_slice(), 0).expect("seccomp");
        if sys::cloexec_range(u32::MAX - 1, u32::MAX) != Err(Errno::ENOSYS) {
            return 3;
        }
        let n = match listing(ls.close_other_fds(), &mut buf) {
            Ok(n) => n,
            Err(code) => return code,
        };
        if &buf[..n] != b"0\n1\n2\n3\n9\n" {
            return 4;
        }
        0
    });
}

fn rlimit_seen_by_child(via: Via) {
    let program = sh!(c"ulimit -Sn; ulimit -Hn").rlimit(Resource::Nofile, 100, 200);
    if let Some(text) = stdout_of(via, program) {
        assert_eq!(text, "100\n200\n");
    }
}

fn rlimit_failure_typed(via: Via) {
    if !failures_reach_parent(via) {
        return;
    }
    // Above fs.nr_open even root gets EPERM.
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .expect("nr_open")
        .trim()
        .parse()
        .unwrap();
    let program = Program::new(c"/bin/true").rlimit(Resource::Nofile, nr_open + 1, nr_open + 1);
    assert_fails(via, program, SetupStep::Rlimit, Errno::EPERM);
}

fn no_new_privs(via: Via) {
    let program = sh!(c"grep NoNewPrivs /proc/self/status").no_new_privs();
    if let Some(text) = stdout_of(via, program) {
        assert_eq!(text, "NoNewPrivs:\t1\n");
    }
}

/// The capability sets of a program's /proc/self/status, by field name.
fn capability_sets(via: Via, program: Program<'_>) -> Option<Vec<(String, u64)>> {
    let text = stdout_of(via, program)?;
    Some(
        text.lines()
            .map(|l| {
                let (name, hex) = l.split_once(":\t").expect("field");
                (name.to_owned(), u64::from_str_radix(hex, 16).expect("hex"))
            })
            .collect(),
    )
}

fn capabilities_dropped(via: Via) {
    let dropped = Capabilities::CAP_SYS_ADMIN | Capabilities::from_name("net_raw").unwrap();
    let program =
        sh!(c"grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status").drop_capabilities(dropped);
    if via == Via::Vfork && sys::geteuid() != 0 {
        // Outside a user namespace the bounding set needs CAP_SETPCAP.
        if failures_reach_parent(via) {
            assert_fails(via, program, SetupStep::CapDrop, Errno::EPERM);
            skip("needs root: only the EPERM of an unprivileged bounding-set drop was checked");
        }
        return;
    }
    let Some(sets) = capability_sets(via, program) else {
        return;
    };
    assert_eq!(sets.len(), 5, "{sets:?}");
    for (name, bits) in &sets {
        assert_eq!(
            bits & dropped.bits(),
            0,
            "{name} still holds {dropped:?}: {bits:#x}"
        );
    }
    let bounding = sets.iter().find(|(n, _)| n == "CapBnd").unwrap().1;
    assert_ne!(bounding, 0, "only the dropped ones go");
}

fn all_capabilities_dropped(via: Via) {
    if via == Via::Vfork && sys::geteuid() != 0 {
        return skip("needs root: outside a user namespace the bounding set needs CAP_SETPCAP");
    }
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("cap_last_cap")
        .trim()
        .parse()
        .unwrap();
    let program = sh!(c"grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status")
        .drop_capabilities(Capabilities::ALL);
    let Some(sets) = capability_sets(via, program) else {
        return;
    };
    // Every set is empty, whatever the kernel's last capability (bwrap reads cap_last_cap).
    for (name, bits) in &sets {
        assert_eq!(*bits, 0, "{name}: {bits:#x} (cap_last_cap {last})");
    }
}

/// A capability number past the kernel's last one is held by no one: dropping it (alone, or
/// with named ones below it) succeeds, and the named ones go.
fn capabilities_past_the_kernels_last_are_vacuous(via: Via) {
    if via == Via::Vfork && sys::geteuid() != 0 {
        return skip("needs root: outside a user namespace the bounding set needs CAP_SETPCAP");
    }
    let past = Capabilities::from_bits(1 << 63);
    let program = sh!(c"grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status")
        .drop_capabilities(Capabilities::CAP_KILL | past);
    let Some(sets) = capability_sets(via, program) else {
        return;
    };
    for (name, bits) in &sets {
        assert_eq!(bits & Capabilities::CAP_KILL.bits(), 0, "{name}: {bits:#x}");
    }
    let bounding = sets.iter().find(|(n, _)| n == "CapBnd").unwrap().1;
    assert_ne!(bounding, 0, "only CAP_KILL goes");
}

fn seccomp_denies_with_errno(via: Via) {
    if qemu_user() {
        return skip("qemu-user does not enforce the guest's seccomp filters");
    }
    if let Some(why) = system_programs_foreign() {
        return skip(why);
    }
    // x86_64, i386 and arm have the old mkdir too (i386's and arm's busybox use it).
    #[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "arm"))]
    let calls = [Sysno::mkdir, Sysno::mkdirat];
    // aarch64 and riscv64 have only the *at form.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "arm")))]
    let calls = [Sysno::mkdirat];
    let filter = Filter::<16>::deny(&calls, Errno::EROFS).unwrap();
    let dir = std::env::temp_dir().join(format!("rawclone-seccomp-{}-{via:?}", std::process::id()));
    let script = std::ffi::CString::new(format!("mkdir {} || exit 9", dir.display())).unwrap();
    let program = sh!(&script)
        .no_new_privs()
        .seccomp_filter(filter.as_slice());
    let Some((status, text)) = output_of(via, program, true) else {
        return;
    };
    assert_eq!(status, ExitStatus::Exited(9), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(!dir.exists());
}

fn seccomp_without_no_new_privs(via: Via) {
    if qemu_user() {
        return skip("qemu-user does not enforce the guest's seccomp filters");
    }
    if let Some(why) = system_programs_foreign() {
        return skip(why);
    }
    let filter = Filter::<16>::deny(&[Sysno::mkdirat], Errno::EROFS).unwrap();
    let program = Program::new(c"/bin/true").seccomp_filter(filter.as_slice());
    if via == Via::Namespaces || sys::geteuid() == 0 {
        // CAP_SYS_ADMIN (root, or the user namespace's root) allows a filter without it.
        let child = spawned(launch(via, &program));
        return assert_eq!(child.map(|c| c.wait()), Some(Ok(ExitStatus::Exited(0))));
    }
    if failures_reach_parent(via) {
        assert_fails(via, program, SetupStep::Seccomp, Errno::EACCES);
    }
}

fn pre_exec_runs_and_fails_typed(via: Via) {
    let hook = || sys::write(sys::stdout(), b"hook\n").map(drop);
    // SAFETY: the hook makes one raw write.
    let program = unsafe { sh!(c"echo main").pre_exec(&hook) };
    let Some(text) = stdout_of(via, program) else {
        return;
    };
    assert_eq!(text, "hook\nmain\n");
    if failures_reach_parent(via) {
        let refuse = || Err(Errno::EDOM);
        // SAFETY: the hook only returns.
        let program = unsafe { Program::new(c"/bin/true").pre_exec(&refuse) };
        assert_fails(via, program, SetupStep::PreExec, Errno::EDOM);
    }
}

/// [`assert_in_fork_or_skip`] for a check of failures, which under qemu-user a vfork child's
/// cannot reach the parent.
fn failures_in_fork(via: Via, f: impl FnOnce() -> i32) {
    assert_in_fork_or_skip(
        "a namespaced spawn is refused (EINVAL), a vfork child's failure cannot reach the parent",
        || {
            if via == Via::Vfork && qemu_user() {
                return QEMU_REFUSED;
            }
            f()
        },
    );
}

fn every_failure_typed_and_leak_free(via: Via) {
    failures_in_fork(via, || {
        let refuse = || Err(Errno::EDOM);
        let empty: [rawclone::seccomp::SockFilter; 0] = [];
        let base = Program::new(c"/bin/true").env_clear();
        let bad_dup = [FdAction::Dup2 { from: 999, to: 5 }];
        let bad_open = [FdAction::Open {
            fd: 5,
            path: c"/nonexistent/file",
            flags: 0,
            mode: 0,
        }];
        let negative = [FdAction::Close(-1)];
        // SAFETY: the hook only returns.
        let hooked = unsafe { base.pre_exec(&refuse) };
        let cases: [(Program<'_>, Result<(), Error>); 10] = [
            (
                base.file_actions(&bad_dup),
                setup(SetupStep::FileAction, Errno::EBADF),
            ),
            (
                base.file_actions(&bad_open),
                setup(SetupStep::FileAction, Errno::ENOENT),
            ),
            (
                base.current_dir(c"/nonexistent"),
                setup(SetupStep::Chdir, Errno::ENOENT),
            ),
            (hooked, setup(SetupStep::PreExec, Errno::EDOM)),
            (
                Program::new(c"/nonexistent").env_clear(),
                Err(Error::Exec {
                    path: ErrorPath::new(b"/nonexistent"),
                    errno: Errno::ENOENT,
                }),
            ),
            (base.file_actions(&negative), rule(Rule::NegativeFd)),
            (base.envs(&[c"NO_EQUALS"]), rule(Rule::BadEnvEntry)),
            (base.env_remove(&[c"A=B"]), rule(Rule::BadEnvEntry)),
            (
                base.rlimit(Resource::Core, 2, 1),
                rule(Rule::SoftLimitAboveHard),
            ),
            (base.seccomp_filter(&empty), rule(Rule::SeccompFilterLength)),
        ];
        // One spawn first, so that lazily made state (the clone3 probe) is not counted.
        let _ = launch(via, &base).map(|c| c.wait());
        let held = Holdings::now();
        for (i, (program, expected)) in cases.iter().enumerate() {
            match launch(via, program) {
                Err(e) if Err(e) == *expected => {}
                Err(e) if refused_by_qemu(&e) => return QEMU_REFUSED,
                _ => return 10 + i as i32,
            }
        }
        held.leaked_since()
    });
}

/// The lowest `N` descriptor numbers from 3 up that are free here.
fn free_numbers<const N: usize>() -> [i32; N] {
    let mut free = [0; N];
    let mut n = 3;
    for slot in &mut free {
        while sys::fd_flags(n).is_ok() {
            n += 1;
        }
        *slot = n;
        n += 1;
    }
    free
}

/// Every number the caller has free acts as a closed descriptor in the child, the namespaced
/// launcher's report channel (a descriptor of the child's own, at a number free in the caller)
/// included: closing it closes nothing of ours, copying it is EBADF, and a later failure is still
/// reported.
fn free_numbers_act_closed(via: Via) {
    failures_in_fork(via, || {
        // One thread here: the launcher's descriptors take the lowest free numbers.
        let free = free_numbers::<16>();
        let base = Program::new(c"/bin/true").env_clear();
        // 0 if `program` fails as `expected`, else the exit code `code`.
        let check = |program: Program<'_>, expected: Result<(), Error>, code: i32| match launch(
            via, &program,
        ) {
            Err(e) if Err(e) == expected => 0,
            Err(e) if refused_by_qemu(&e) => QEMU_REFUSED,
            Err(_) => code,
            Ok(child) => {
                let _ = child.wait();
                code + 1
            }
        };
        let lost_dir = base.current_dir(c"/nonexistent");
        let chdir_failed = || setup(SetupStep::Chdir, Errno::ENOENT);
        let closes = free.map(FdAction::Close);
        let opens = free.map(|fd| FdAction::Open {
            fd,
            path: c"/dev/null",
            flags: 0,
            mode: 0,
        });
        let bad_fd = || setup(SetupStep::FileAction, Errno::EBADF);
        let mut code = check(lost_dir.file_actions(&closes), chdir_failed(), 10);
        code = code.max(check(lost_dir.file_actions(&opens), chdir_failed(), 20));
        for fd in free {
            let dup = [FdAction::Dup2 { from: fd, to: 100 }];
            let keep = [FdAction::Dup2 { from: fd, to: fd }];
            code = code.max(check(base.file_actions(&dup), bad_fd(), 30));
            code = code.max(check(base.file_actions(&keep), bad_fd(), 40));
            code = code.max(check(base.stdin(Stdio::Fd(fd)), bad_fd(), 50));
        }
        code
    });
}

/// The standard streams' sources are the caller's descriptors, all three read before any is
/// replaced (as std's `Command`): stdout from the caller's 0 is not the child's new stdin.
fn stream_sources_are_the_callers(via: Via) {
    // An exact environment: a forked check may not read std's (which allocates).
    let program = sh!(c"echo out; echo err >&2")
        .env_exactly(&[])
        .stdin(Stdio::Null)
        .stdout(Stdio::Fd(0))
        .stderr(Stdio::Fd(1));
    assert_in_fork_or_skip("a namespaced spawn is refused (EINVAL)", || {
        let (r0, w0) = sys::pipe().expect("pipe");
        let (r1, w1) = sys::pipe().expect("pipe");
        let null = sys::open(c"/dev/null", 0).expect("open");
        // SAFETY: fds 0 and 1 of this forked process, which nothing here reads or writes.
        let onto = |fd: &Fd, to| unsafe { sys::dup3(fd.as_fd(), to) }.expect("dup3");
        onto(&w0, 0);
        onto(&w1, 1);
        drop((w0, w1));
        let child = spawn_or_refused!(launch(via, &program));
        let status = child.wait();
        // Only the child's copies of the pipes' write ends remain: read to end-of-file.
        onto(&null, 0);
        onto(&null, 1);
        let mut buf = [0u8; 64];
        if read_all(&r0, &mut buf) != b"out\n" {
            return 1;
        }
        if read_all(&r1, &mut buf) != b"err\n" {
            return 2;
        }
        if status != Ok(ExitStatus::Exited(0)) {
            return 3;
        }
        0
    });
}

/// At the descriptor limit an `Open` onto an open descriptor still succeeds: the target is
/// closed first (as POSIX asks and glibc does), never the namespaced launcher's report channel.
fn open_at_descriptor_limit(via: Via) {
    failures_in_fork(via, || {
        use linux_raw_sys::general::RLIMIT_NOFILE;
        // Fill every number up to the limit but the last few, which the launcher takes (its
        // socket pair, pidfd, the parent's files after the clone) or the child's actions fill.
        const SPARE: i32 = 8;
        let highest = (0..4096).rev().find(|&fd| sys::fd_flags(fd).is_ok());
        let limit = highest.unwrap_or(2) + 1 + 16 + SPARE;
        let (_, hard) = sys::rlimit(RLIMIT_NOFILE).expect("getrlimit");
        sys::set_rlimit(RLIMIT_NOFILE, limit as u64, hard).expect("setrlimit");
        loop {
            let fd = sys::open(c"/dev/null", 0).expect("open").into_raw();
            if fd >= limit - SPARE {
                // SAFETY: the descriptor just opened, ours alone.
                let _ = unsafe { sys::close(fd) };
                break;
            }
        }
        // The child fills the spare numbers, all but the one of the namespaced launcher's
        // socket end (the second number, after the parent's end); a channel met on the way moves
        // to the free one.
        let skipped = (via == Via::Namespaces).then_some(limit - SPARE + 1);
        let mut actions = [FdAction::Close(0); SPARE as usize + 1];
        let fills = (limit - SPARE..limit).filter(|&to| Some(to) != skipped);
        let mut len = 0;
        for (slot, to) in actions.iter_mut().zip(fills) {
            *slot = FdAction::Dup2 { from: 0, to };
            len += 1;
        }
        actions[len] = FdAction::Open {
            fd: limit - SPARE - 1,
            path: c"/dev/null",
            flags: 0,
            mode: 0,
        };
        let program = Program::new(c"/bin/true")
            .env_clear()
            .file_actions(&actions[..=len]);
        let child = match launch(via, &program) {
            Ok(child) => child,
            Err(e) if refused_by_qemu(&e) => return QEMU_REFUSED,
            Err(Error::ExecSetup {
                step: SetupStep::FileAction,
                errno: Errno::EMFILE,
            }) => return 1,
            Err(_) => return 2,
        };
        if child.wait() != Ok(ExitStatus::Exited(0)) {
            return 3;
        }
        0
    });
}

/// Kernel release as (major, minor), from `/proc/sys/kernel/osrelease`.
fn kernel_release() -> (u32, u32) {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut numbers = text
        .split(['.', '-'])
        .map(|n| n.trim().parse().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

/// A `pre_exec` hook that overflows its stack faults on the guard page below it, whatever the
/// size of the environment: the argument and environment arrays are out of its way.
fn hook_overflow_hits_the_guard(via: Via) {
    if qemu_user() {
        return skip("qemu-user: the guest's stack layout and faults are emulated");
    }
    if via == Via::Vfork && kernel_release() < (5, 16) {
        // The SIGSEGV would kill every process sharing the child's memory: this test's own.
        return skip("before Linux 5.16 a vfork child's core-dumping signal kills its parent");
    }
    // 4096 entries: 32 KiB of pointers, which before sat between the guard page and the stack.
    let owned: Vec<std::ffi::CString> = (0..4096)
        .map(|i| std::ffi::CString::new(format!("FILL{i}=x")).unwrap())
        .collect();
    let entries: Vec<&std::ffi::CStr> = owned.iter().map(|e| e.as_c_str()).collect();
    // Past the 256 KiB stack (src/program.rs, EXEC_STACK) by half the arrays' size.
    let hook = || {
        let mut deep = [0xffu8; 272 * 1024];
        std::hint::black_box(&mut deep);
        Ok(())
    };
    // SAFETY: the hook only fills a buffer on its own stack; in a vfork child the fault it meets
    // ends the child alone (Linux 5.16 and later, checked above).
    let program = unsafe {
        Program::new(c"/bin/true")
            .env_exactly(&entries)
            .rlimit(Resource::Core, 0, 0)
            .pre_exec(&hook)
    };
    assert_in_fork_or_skip("a namespaced spawn is refused (EINVAL)", || {
        let child = spawn_or_refused!(launch(via, &program));
        match child.wait() {
            Ok(ExitStatus::Signaled {
                signal: rawclone::Signal::SIGSEGV,
                ..
            }) => 0,
            Ok(ExitStatus::Exited(_)) => 1,
            _ => 2,
        }
    });
}

fn setup(step: SetupStep, errno: Errno) -> Result<(), Error> {
    Err(Error::ExecSetup { step, errno })
}

fn rule(rule: Rule) -> Result<(), Error> {
    Err(Error::Rule(rule, rawclone::CloneFlags::EMPTY))
}

#[test]
fn initial_environment_is_the_one_the_process_started_with() {
    let initial = match rawclone::program::initial_environment() {
        Ok(initial) => initial,
        Err(e) if qemu_user() => {
            return skip(&format!("qemu-user fills no env_start/env_end ({e})"));
        }
        Err(e) => panic!("{e}"),
    };
    let initial: BTreeSet<String> = initial.map(|e| e.to_string_lossy().into_owned()).collect();
    // Nothing in this test binary changes its environment.
    let ours: BTreeSet<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    assert_eq!(initial, ours);
}

#[test]
fn capability_names_parse() {
    for name in ["CAP_SYS_ADMIN", "cap_sys_admin", "sys_admin", "SYS_ADMIN"] {
        assert_eq!(
            Capabilities::from_name(name),
            Some(Capabilities::CAP_SYS_ADMIN),
            "{name}"
        );
    }
    assert_eq!(Capabilities::from_name("all"), Some(Capabilities::ALL));
    assert_eq!(
        Capabilities::from_name("CAP_CHECKPOINT_RESTORE").map(Capabilities::bits),
        Some(1 << 40)
    );
    assert_eq!(Capabilities::ALL.bits(), u64::MAX);
    assert_eq!(Capabilities::from_name("CAP_"), None);
    assert_eq!(Capabilities::from_name("bogus"), None);
    assert_eq!(
        format!("{:?}", Capabilities::CAP_CHOWN | Capabilities::CAP_KILL),
        "CAP_CHOWN | CAP_KILL"
    );
}

#[test]
fn seccomp_deny_list_too_long_is_a_rule() {
    let many = [Sysno::mkdirat; 20];
    assert!(matches!(
        Filter::<16>::deny(&many, Errno::EPERM),
        Err(Error::Rule(Rule::SeccompFilterLength, _))
    ));
    let too_far = [Sysno::mkdirat; 300];
    assert!(matches!(
        Filter::<512>::deny(&too_far, Errno::EPERM),
        Err(Error::Rule(Rule::SeccompFilterLength, _))
    ));
}

/// One test per launcher, in modules `vfork` and `namespaces`, for each `fn check(via: Via)`.
macro_rules! per_launcher {
    ($($check:ident),* $(,)?) => {
        mod vfork {
            $(#[test] fn $check() { super::$check(super::Via::Vfork) })*
        }
        mod namespaces {
            $(#[test] fn $check() { super::$check(super::Via::Namespaces) })*
        }
    };
}

per_launcher!(
    env_inherited,
    env_cleared,
    env_set_last_wins,
    env_removed_and_set,
    env_inherited_minus_removed,
    path_searched_in_merged_env,
    dup2_onto_itself_clears_cloexec,
    dup2_open_close_in_order,
    stdio_null_and_fd,
    current_dir,
    close_other_fds,
    rlimit_seen_by_child,
    rlimit_failure_typed,
    no_new_privs,
    capabilities_dropped,
    all_capabilities_dropped,
    capabilities_past_the_kernels_last_are_vacuous,
    seccomp_denies_with_errno,
    seccomp_without_no_new_privs,
    pre_exec_runs_and_fails_typed,
    every_failure_typed_and_leak_free,
    free_numbers_act_closed,
    stream_sources_are_the_callers,
    open_at_descriptor_limit,
    hook_overflow_hits_the_guard,
);
