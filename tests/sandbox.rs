//! Sandbox building blocks of `ns::Namespaces`: every `Mount` kind, an empty tmpfs root, a
//! given root with mounts in it, mounts in place, `lo` up and a start in a cgroup, as root and
//! as nobody (a user namespace mapped to root inside); every failure typed, with no child and
//! no descriptor left behind.
//!
//! Checks run in a forked child with raw syscalls only (see tests/common): evidence comes back
//! as numbered exit codes. Fixtures (a directory with a `marker` file, mode 0777 so nobody may
//! write there too) are made by the test thread before the fork and removed after it.

mod common;

use common::*;
use core::ffi::CStr;
use linux_raw_sys::general as k;
use rawclone::ns::{Mount, MountPart, Namespaces, SetupStep};
use rawclone::{Errno, Error, ErrorPath, ExitStatus, Rule, Stack, Syscall, sys};
use std::ffi::CString;
use syscalls::{Sysno, syscall2, syscall3, syscall4};

// Each check twice: `root::x` as the suite's user when that is root (no user namespace),
// `unprivileged::x` as nobody with a user namespace mapped to root inside.
as_root_and_unprivileged!(
    bind_shows_the_source_writable_nosuid_nodev,
    ro_bind_is_read_only_with_its_submounts,
    tmpfs_root_holds_only_the_mounts,
    tmpfs_takes_mode_and_size,
    dev_is_a_minimal_dev,
    dev_in_place_covers_the_hosts_dev,
    dev_binds_the_terminal_on_stdout_as_console,
    a_program_with_its_own_stdout_gets_no_console,
    proc_is_fresh_with_a_pid_namespace,
    proc_is_bound_without_a_pid_namespace,
    root_dir_with_mounts_inside_it,
    mounts_in_place_without_a_new_root,
    relative_sources_are_read_from_the_working_directory,
    loopback_is_up,
    failures_are_typed_and_leave_nothing_behind,
    before_mount_setattr_binds_are_restricted_by_remounts,
    symlinked_sources_resolve_in_the_callers_root,
    before_openat2_binds_are_made_by_path,
    file_actions_make_what_bwrap_makes,
);

/// A directory for one check, with a `marker` file; removed on drop. The paths a check names
/// are made here, before its fork: a forked check may not allocate (tests/common/alloc_guard.rs).
struct Fixture {
    dir: CString,
    marker: CString,
    made_inside: CString,
    scratch_deep: CString,
    /// `link`: an absolute symlink to the fixture directory.
    link: CString,
    /// `link/marker`: the marker, through that symlink.
    through_link: CString,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("rawclone-sandbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("marker"), "here\n").unwrap();
        for path in [dir.join("marker"), dir.clone()] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        std::os::unix::fs::symlink(&dir, dir.join("link")).unwrap();
        let path = |tail: &str| CString::new(dir.join(tail).into_os_string().into_encoded_bytes());
        Fixture {
            link: path("link").unwrap(),
            through_link: path("link/marker").unwrap(),
            dir: CString::new(dir.clone().into_os_string().into_encoded_bytes()).unwrap(),
            marker: path("marker").unwrap(),
            made_inside: path("made-inside").unwrap(),
            scratch_deep: path("scratch/deep").unwrap(),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir.to_str().unwrap());
    }
}

/// Run `check` in a fork with the base request for this privilege level, and a fixture of its
/// own: root::x and unprivileged::x run at once.
fn run_check(name: &str, unprivileged: bool, check: fn(Namespaces<'static>, &Fixture) -> i32) {
    let fixture = Fixture::new(&format!(
        "{name}-{}",
        if unprivileged { "nobody" } else { "root" }
    ));
    run_ns_check(name, unprivileged, |base| check(base, &fixture));
}

fn bind_shows_the_source_writable_nosuid_nodev(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let mounts = [Mount::Bind {
        src: &fx.dir,
        dst: c"/data",
    }];
    let code = in_ns(base.tmpfs_root().mounts(&mounts), || {
        if sys::open(c"/data/marker", 0).is_err() {
            return 1;
        }
        if sys::mkdir(c"/data/made-inside", 0o755).is_err() {
            return 2;
        }
        if !has_flags(c"/data", ST_NOSUID | ST_NODEV) || has_flags(c"/data", ST_RDONLY) {
            return 3;
        }
        0
    });
    if code != 0 {
        return code;
    }
    // The bind writes through to the source.
    if sys::open(&fx.made_inside, k::O_DIRECTORY).is_err() {
        return 10;
    }
    0
}

fn ro_bind_is_read_only_with_its_submounts(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let mounts = [
        Mount::RoBind {
            src: &fx.dir,
            dst: c"/data",
        },
        Mount::RoBind {
            src: c"/",
            dst: c"/host",
        },
    ];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        if sys::mkdir(c"/data/x", 0o755) != Err(Errno::EROFS) {
            return 1;
        }
        if sys::open(c"/data/marker", k::O_WRONLY).map(drop) != Err(Errno::EROFS) {
            return 2;
        }
        if !has_flags(c"/data", ST_RDONLY | ST_NOSUID | ST_NODEV) {
            return 3;
        }
        // /proc is a mount of its own below /: read-only too.
        if !has_flags(c"/host/proc", ST_RDONLY | ST_NOSUID | ST_NODEV) {
            return 4;
        }
        if sys::open(c"/host/proc/self/status", 0).is_err() {
            return 5;
        }
        0
    })
}

fn tmpfs_root_holds_only_the_mounts(base: Namespaces<'static>, _: &Fixture) -> i32 {
    let mounts = [Mount::tmpfs(c"/a/b"), Mount::tmpfs(c"c")];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        // `a` (made on the way to /a/b) and `c`: a relative destination is in the new root too.
        if count_entries(c"/", |_| true) != 2 {
            return 1;
        }
        if fs_type(c"/a/b") != Some(k::TMPFS_MAGIC as u64) || fs_type(c"/c").is_none() {
            return 2;
        }
        // The old root is gone: nothing of it is reachable.
        if sys::open(c"/proc/self", 0).is_ok() || sys::open(c"/oldroot", 0).is_ok() {
            return 3;
        }
        0
    })
}

fn tmpfs_takes_mode_and_size(base: Namespaces<'static>, _: &Fixture) -> i32 {
    let mounts = [Mount::Tmpfs {
        dst: c"/t",
        mode: 0o700,
        size: 1 << 20,
    }];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        let Some(st) = statfs(c"/t") else { return 1 };
        if st.f_blocks as u64 * st.f_bsize as u64 != 1 << 20 {
            return 2;
        }
        if mode(c"/t") != Some(0o700) {
            return 3;
        }
        if !has_flags(c"/t", ST_NOSUID | ST_NODEV) {
            return 4;
        }
        0
    })
}

/// `Mount::Dir`, `Symlink`, `Chmod`, `File`, `BindData` and `BindFd`, as bwrap's `--dir`,
/// `--symlink`, `--chmod`, `--file`, `--ro-bind-data` and `--ro-bind-fd` make them: modes
/// exact whatever the umask (parents of a `--perms 0750` directory 0750), a symlink given
/// twice made once, another text refused, the data where it belongs and read-only where
/// asked.
fn file_actions_make_what_bwrap_makes(base: Namespaces<'static>, fixture: &Fixture) -> i32 {
    let Ok((r, w)) = sys::pipe() else { return 10 };
    let Ok((data_r, data_w)) = sys::pipe() else {
        return 10;
    };
    if sys::write(w.as_fd(), b"file") != Ok(4) || sys::write(data_w.as_fd(), b"data") != Ok(4) {
        return 10;
    }
    drop((w, data_w));
    let Ok(dir) = sys::open(&fixture.dir, k::O_PATH | k::O_DIRECTORY) else {
        return 10;
    };
    sys::umask(0o077);
    // Chmod of an O_PATH descriptor needs fchmodat2 (Linux 6.6; EBADF before, as documented):
    // probed on the fixture, set to the mode it has. Without it, the directory keeps the mode
    // it was made with (a Dir action again in its place, which leaves it so).
    let has =
        |fd| sys::file_mode_of(fd).map(|m| sys::chmod_fd(fd, m & 0o7777) != Err(Errno::EBADF));
    let chmod = match has(dir.as_fd()) {
        Ok(true) => {
            C_MODE.store(0o1777, core::sync::atomic::Ordering::Relaxed);
            Mount::Chmod {
                dst: c"/a/b/c",
                mode: 0o1777,
            }
        }
        Ok(false) => {
            C_MODE.store(0o750, core::sync::atomic::Ordering::Relaxed);
            Mount::Dir {
                dst: c"/a/b/c",
                mode: 0o750,
            }
        }
        Err(_) => return 10,
    };
    let mounts = [
        Mount::Dir {
            dst: c"/a/b/c",
            mode: 0o750,
        },
        Mount::Symlink {
            target: c"/a",
            dst: c"/link",
        },
        Mount::Symlink {
            target: c"/a",
            dst: c"/link",
        },
        chmod,
        Mount::File {
            fd: r.as_fd(),
            dst: c"/a/file",
            mode: 0o640,
        },
        Mount::BindData {
            fd: data_r.as_fd(),
            dst: c"/data",
            mode: 0o600,
            readonly: true,
        },
        Mount::BindFd {
            fd: dir.as_fd(),
            dst: c"/fixture",
            readonly: true,
        },
    ];
    // A stack larger than in_ns's: these actions' frames, unoptimized, outgrow 64 KiB.
    match spawn_on_big_stack(base.tmpfs_root().mounts(&mounts), check_file_actions) {
        Ok(ExitStatus::Exited(0)) => {}
        Ok(ExitStatus::Exited(code)) => return code,
        _ => return 9,
    }
    // Another text where a symlink is: refused, at its destination.
    let clash = [
        Mount::Symlink {
            target: c"/a",
            dst: c"/link",
        },
        Mount::Symlink {
            target: c"/b",
            dst: c"/link",
        },
    ];
    match spawn_on_big_stack(base.tmpfs_root().mounts(&clash), || 0) {
        Err(Error::NamespaceSetup {
            step:
                SetupStep::Mount {
                    index: 1,
                    part: MountPart::Destination,
                },
            errno: Errno::EEXIST,
            ..
        }) => 0,
        _ => 8,
    }
}

/// Spawn `f` in `ns` on a 256 KiB stack and wait for it.
fn spawn_on_big_stack(ns: Namespaces<'_>, f: fn() -> i32) -> Result<ExitStatus, Error> {
    let mut stack = Stack::map(256 * 1024)?;
    // SAFETY: every check's closure uses raw syscalls only.
    let child = unsafe { ns.spawn(&mut stack, f)? };
    child.wait()
}

/// The mode [`check_file_actions`] expects of `/a/b/c`: 1777 where Chmod works.
static C_MODE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// What [`file_actions_make_what_bwrap_makes`] looks at inside.
fn check_file_actions() -> i32 {
    {
        if mode(c"/a") != Some(0o750) || mode(c"/a/b") != Some(0o750) {
            return 1;
        }
        let want = C_MODE.load(core::sync::atomic::Ordering::Relaxed);
        if mode(c"/a/b/c") != Some(want) || !link_is(c"/link", b"/a") {
            return 2;
        }
        let mut buf = [0u8; 8];
        let read = |path: &CStr, buf: &mut [u8]| {
            sys::open(path, k::O_RDONLY).and_then(|f| sys::read(f.as_fd(), buf))
        };
        if mode(c"/a/file") != Some(0o640) || read(c"/a/file", &mut buf) != Ok(4) {
            return 3;
        }
        if &buf[..4] != b"file" || mode(c"/data") != Some(0o600) {
            return 4;
        }
        if read(c"/data", &mut buf) != Ok(4) || &buf[..4] != b"data" {
            return 5;
        }
        if sys::open(c"/data", k::O_WRONLY) != Err(Errno::EROFS) {
            return 6;
        }
        if read(c"/fixture/marker", &mut buf).is_err() || !has_flags(c"/fixture", ST_RDONLY) {
            return 7;
        }
        0
    }
}

fn dev_is_a_minimal_dev(base: Namespaces<'static>, _: &Fixture) -> i32 {
    // Not a terminal on stdout (a developer's would be the console).
    let Ok(null) = sys::open(c"/dev/null", k::O_WRONLY) else {
        return 10;
    };
    // SAFETY: fd 1 of this forked check, which writes nothing to it.
    if unsafe { sys::dup3(null.as_fd(), 1) }.is_err() {
        return 10;
    }
    let mounts = [Mount::Dev { dst: c"/dev" }];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        // null zero full random urandom tty, stdin stdout stderr fd core ptmx, pts shm.
        if count_entries(c"/dev", |_| true) != 14 {
            return 1;
        }
        let Ok(null) = sys::open(c"/dev/null", k::O_WRONLY) else {
            return 2;
        };
        if sys::write(null.as_fd(), b"gone") != Ok(4) {
            return 3;
        }
        let Ok(zero) = sys::open(c"/dev/zero", 0) else {
            return 4;
        };
        let mut buf = [1u8; 8];
        if sys::read(zero.as_fd(), &mut buf) != Ok(8) || buf != [0; 8] {
            return 5;
        }
        if !link_is(c"/dev/stdout", b"/proc/self/fd/1") || !link_is(c"/dev/ptmx", b"pts/ptmx") {
            return 6;
        }
        if fs_type(c"/dev/pts") != Some(k::DEVPTS_SUPER_MAGIC as u64) {
            return 7;
        }
        // A new devpts instance: a pseudo-terminal opens through the ptmx link.
        if sys::open(c"/dev/ptmx", k::O_RDWR | k::O_NOCTTY).is_err() {
            return 8;
        }
        if !has_flags(c"/dev", ST_NOSUID | ST_NODEV) {
            return 9;
        }
        0
    })
}

/// In place, over the host's own /dev (which its tmpfs covers): the host's nodes are taken as
/// detached binds before it is mounted (`open_tree`, Linux 5.2+), so they are there all the
/// same; with a terminal on stdout, the console too.
fn dev_in_place_covers_the_hosts_dev(base: Namespaces<'static>, _: &Fixture) -> i32 {
    if let Err(code) = terminal_on_stdout() {
        return code;
    }
    let Some(device) = device_number(c"/proc/self/fd/1") else {
        return 4;
    };
    let mounts = [Mount::Dev { dst: c"/dev" }];
    in_ns(base.mounts(&mounts), || {
        if count_entries(c"/dev", |_| true) != 15 {
            return 5;
        }
        let Ok(null) = sys::open(c"/dev/null", k::O_WRONLY) else {
            return 6;
        };
        if sys::write(null.as_fd(), b"gone") != Ok(4) {
            return 7;
        }
        if device_number(c"/dev/console") != Some(device) {
            return 8;
        }
        0
    })
}

/// With a terminal on stdout, as bubblewrap does: that terminal is bound at `/dev/console`.
fn dev_binds_the_terminal_on_stdout_as_console(base: Namespaces<'static>, _: &Fixture) -> i32 {
    if let Err(code) = terminal_on_stdout() {
        return code;
    }
    let Some(device) = device_number(c"/proc/self/fd/1") else {
        return 4;
    };
    let mounts = [Mount::Dev { dst: c"/dev" }];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        if count_entries(c"/dev", |_| true) != 15 {
            return 5;
        }
        if sys::file_mode(c"/dev/console").map(|m| m & k::S_IFMT) != Ok(k::S_IFCHR) {
            return 6;
        }
        if device_number(c"/dev/console") != Some(device) {
            return 7;
        }
        let Ok(console) = sys::open(c"/dev/console", k::O_WRONLY | k::O_NOCTTY) else {
            return 8;
        };
        if sys::write(console.as_fd(), b"x") != Ok(1) {
            return 9;
        }
        0
    })
}

/// A program whose stdout is not the caller's (here `/dev/null`) gets no console, even with a
/// terminal on the caller's stdout; one that keeps it does.
fn a_program_with_its_own_stdout_gets_no_console(base: Namespaces<'static>, _: &Fixture) -> i32 {
    use rawclone::program::{Program, Stdio};
    if let Err(code) = terminal_on_stdout() {
        return code;
    }
    let mounts = [
        Mount::RoBind {
            src: c"/",
            dst: c"/",
        },
        Mount::Dev { dst: c"/dev" },
    ];
    let ns = base.tmpfs_root().mounts(&mounts);
    let has_console = Program::new(c"/bin/sh")
        .argv(&[c"sh", c"-c", c"test -c /dev/console"])
        .env_exactly(&[]);
    let exit_code = |program: Program<'_>| match ns.exec_program(&program).map(|c| c.wait()) {
        Ok(Ok(ExitStatus::Exited(code))) => code,
        _ => 100,
    };
    match (
        exit_code(has_console),
        exit_code(has_console.stdout(Stdio::Null)),
    ) {
        (0, 1) => 0,
        (kept, redirected) => 10 + kept.min(9) * 10 + redirected.min(9),
    }
}

fn proc_is_fresh_with_a_pid_namespace(base: Namespaces<'static>, _: &Fixture) -> i32 {
    let mounts = [Mount::Proc { dst: c"/proc" }];
    in_ns(base.pid().tmpfs_root().mounts(&mounts), || {
        if count_entries(c"/proc", |n| n.iter().all(u8::is_ascii_digit)) != 1 {
            return 1;
        }
        if !has_flags(c"/proc", ST_NOSUID | ST_NODEV) {
            return 2;
        }
        0
    })
}

fn proc_is_bound_without_a_pid_namespace(base: Namespaces<'static>, _: &Fixture) -> i32 {
    let mounts = [Mount::Proc { dst: c"/proc" }];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        // The caller's processes: at least the test process and its forked check.
        if count_entries(c"/proc", |n| n.iter().all(u8::is_ascii_digit)) < 2 {
            return 1;
        }
        if fs_type(c"/proc") != Some(k::PROC_SUPER_MAGIC as u64) {
            return 2;
        }
        if !has_flags(c"/proc", ST_NOSUID | ST_NODEV) {
            return 3;
        }
        0
    })
}

fn root_dir_with_mounts_inside_it(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let mounts = [Mount::tmpfs(c"/scratch/deep")];
    let code = in_ns(
        base.pid().root(&fx.dir).mount_proc().mounts(&mounts),
        || {
            if sys::open(c"/marker", 0).is_err() {
                return 1;
            }
            if fs_type(c"/scratch/deep") != Some(k::TMPFS_MAGIC as u64) {
                return 2;
            }
            if fs_type(c"/proc") != Some(k::PROC_SUPER_MAGIC as u64) {
                return 3;
            }
            0
        },
    );
    if code != 0 {
        return code;
    }
    // As with bwrap, missing destinations are made in the given root, which is the caller's.
    if sys::open(&fx.scratch_deep, k::O_DIRECTORY).is_err() {
        return 10;
    }
    0
}

fn mounts_in_place_without_a_new_root(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let mounts = [Mount::tmpfs(&fx.dir)];
    let code = in_ns(base.mounts(&mounts), || {
        // The tmpfs covers the fixture; the rest of the tree is still there.
        if sys::open(&fx.marker, 0) != Err(Errno::ENOENT) {
            return 1;
        }
        if fs_type(&fx.dir) != Some(k::TMPFS_MAGIC as u64) {
            return 2;
        }
        if sys::open(c"/proc/self/status", 0).is_err() {
            return 3;
        }
        0
    });
    if code != 0 {
        return code;
    }
    // Out here nothing covers it.
    if sys::open(&fx.marker, 0).is_err() {
        10
    } else {
        0
    }
}

fn relative_sources_are_read_from_the_working_directory(
    base: Namespaces<'static>,
    fx: &Fixture,
) -> i32 {
    if sys::chdir(&fx.dir).is_err() {
        return 1;
    }
    let mounts = [Mount::RoBind {
        src: c"marker",
        dst: c"/seen",
    }];
    in_ns(base.tmpfs_root().mounts(&mounts), || {
        let mut buf = [0u8; 16];
        let Ok(file) = sys::open(c"/seen", 0) else {
            return 2;
        };
        match sys::read(file.as_fd(), &mut buf) {
            Ok(5) if &buf[..5] == b"here\n" => 0,
            _ => 3,
        }
    })
}

fn loopback_is_up(base: Namespaces<'static>, _: &Fixture) -> i32 {
    in_ns(base.loopback_up(), || {
        let Ok(socket) = sys::inet_dgram_socket() else {
            return 1;
        };
        match sys::interface_flags(socket.as_fd(), b"lo") {
            Ok(flags) if flags & IFF_UP != 0 => 0,
            Ok(_) => 2,
            Err(_) => 3,
        }
    })
}

/// Under a kernel without `mount_setattr` (Linux < 5.12, emulated with seccomp): binds are
/// restricted by remounting each mount with the flags it has, submounts too, as bubblewrap
/// does; the checks above pass the same.
fn before_mount_setattr_binds_are_restricted_by_remounts(
    base: Namespaces<'static>,
    fx: &Fixture,
) -> i32 {
    let checks = [
        bind_shows_the_source_writable_nosuid_nodev,
        ro_bind_is_read_only_with_its_submounts,
        dev_is_a_minimal_dev,
        proc_is_bound_without_a_pid_namespace,
    ];
    let missing = || sys::restrict_mounts(c"/", 0) == Err(Errno::ENOSYS);
    checks_under(seccomp::Profile::NoMountSetattr, missing, &checks, base, fx)
}

/// Run `checks` in order under `profile` (in a fork of its own, tests/common/seccomp.rs), once
/// `missing` has seen the call the profile takes away answer ENOSYS: 0, or 1 when it did not,
/// or a number naming the check that failed and its code.
fn checks_under(
    profile: seccomp::Profile,
    missing: impl FnOnce() -> bool,
    checks: &[fn(Namespaces<'static>, &Fixture) -> i32],
    base: Namespaces<'static>,
    fx: &Fixture,
) -> i32 {
    let outcome = seccomp::under(profile, || {
        if !missing() {
            return 1;
        }
        for (i, check) in checks.iter().enumerate() {
            // A check's code is below 11, or 101 to 103 for a failed spawn or wait.
            match check(base, fx) {
                0 => {}
                code @ 101.. => return code + 10 * i as i32,
                code => return 20 * (i as i32 + 1) + code,
            }
        }
        0
    });
    match outcome {
        seccomp::Outcome::Ran(ExitStatus::Exited(code)) => code,
        _ => 99,
    }
}

/// Sources, and the directory of `root(dir)`, are looked up in the caller's root: an absolute
/// symlink on their way (a file through a linked directory, the linked directory itself, as
/// `/etc/localtime` or a merged `/bin` are) leads where it leads for the caller, not into the
/// staging root, where it used to end in ENOENT.
fn symlinked_sources_resolve_in_the_callers_root(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let mounts = [
        Mount::RoBind {
            src: &fx.through_link,
            dst: c"/seen",
        },
        Mount::RoBind {
            src: &fx.link,
            dst: c"/linked",
        },
    ];
    let code = in_ns(base.tmpfs_root().mounts(&mounts), || {
        let marker = |path: &CStr| {
            let mut buf = [0u8; 16];
            let read = sys::open(path, 0).and_then(|file| sys::read(file.as_fd(), &mut buf));
            read == Ok(5) && &buf[..5] == b"here\n"
        };
        match (marker(c"/seen"), marker(c"/linked/marker")) {
            (true, true) => 0,
            (false, _) => 1,
            (true, false) => 2,
        }
    });
    if code != 0 {
        return code;
    }
    let in_dir = [Mount::tmpfs(c"/scratch")];
    10 * in_ns(base.root(&fx.link).mounts(&in_dir), || {
        i32::from(sys::open(c"/marker", 0).is_err())
    })
}

/// Under a kernel without `openat2` (Linux < 5.6, emulated with seccomp, which takes
/// `mount_setattr` away too): sources are bound by their path under the old root, restricted
/// by remounts; the checks that take no symlinked source pass the same.
fn before_openat2_binds_are_made_by_path(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let checks = [
        bind_shows_the_source_writable_nosuid_nodev,
        ro_bind_is_read_only_with_its_submounts,
        root_dir_with_mounts_inside_it,
        relative_sources_are_read_from_the_working_directory,
        file_actions_are_refused,
    ];
    let missing = || {
        let root = sys::open(c"/", k::O_PATH).unwrap();
        sys::open_in_root(root.as_fd(), c"/", k::O_PATH).err() == Some(Errno::ENOSYS)
    };
    checks_under(seccomp::Profile::NoOpenat2, missing, &checks, base, fx)
}

/// Under a new root without openat2 (run under the NoOpenat2 profile above): the file actions
/// are refused, where a path would follow a symlink planted in a bound directory out of the
/// new root (the second review made a host file so).
fn file_actions_are_refused(base: Namespaces<'static>, _: &Fixture) -> i32 {
    // A symlink in a directory to make: the lookup every file action makes (`dest`). One
    // spawn per check: a second spawn under this profile's supervisor was not refused (a
    // question about the test harness, left open in issue 20's note).
    let action = [Mount::Symlink {
        target: c"/",
        dst: c"/sub/l",
    }];
    match spawn_on_big_stack(base.tmpfs_root().mounts(&action), || 0) {
        Err(Error::NamespaceSetup {
            step: SetupStep::Mount { index: 0, .. },
            errno: Errno::ENOSYS,
            ..
        }) => 0,
        _ => 1,
    }
}

/// What each bad request must fail with: the action's index, the part, the errno.
fn failures_are_typed_and_leave_nothing_behind(base: Namespaces<'static>, fx: &Fixture) -> i32 {
    let long = [b'a'; 5000];
    let mut long_path = [0u8; 5001];
    long_path[..5000].copy_from_slice(&long);
    let long_path = CStr::from_bytes_with_nul(&long_path).unwrap();
    let ro = Mount::RoBind {
        src: &fx.dir,
        dst: c"/data",
    };
    // A directory bound onto the file `marker`: the mount itself fails.
    let dir_on_file = Mount::Bind {
        src: &fx.dir,
        dst: c"/data/marker",
    };
    let cases: [(&[Mount<'_>], u16, MountPart, Errno); 6] = [
        (
            &[
                Mount::tmpfs(c"/ok"),
                Mount::Bind {
                    src: c"/nonexistent-rawclone-source",
                    dst: c"/x",
                },
            ],
            1,
            MountPart::Source,
            Errno::ENOENT,
        ),
        (
            &[Mount::Bind {
                src: long_path,
                dst: c"/x",
            }],
            0,
            MountPart::Source,
            Errno::ENAMETOOLONG,
        ),
        (
            &[ro, Mount::tmpfs(c"/data/sub")],
            1,
            MountPart::Destination,
            Errno::EROFS,
        ),
        (
            &[ro, Mount::tmpfs(c"/data/marker/x")],
            1,
            MountPart::Destination,
            Errno::ENOTDIR,
        ),
        (
            &[Mount::tmpfs(long_path)],
            0,
            MountPart::Destination,
            Errno::ENAMETOOLONG,
        ),
        (&[ro, dir_on_file], 1, MountPart::Mount, Errno::ENOTDIR),
    ];
    let fds = open_fds();
    for (i, (mounts, index, part, errno)) in cases.into_iter().enumerate() {
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 100;
        };
        let ns = base.tmpfs_root().mounts(mounts);
        // SAFETY: the child never runs: its setup fails.
        let got = unsafe { ns.spawn(&mut stack, || 0) }.map(drop);
        let step = SetupStep::Mount { index, part };
        // The error names the path the action was working on.
        let path = match (part, mounts[usize::from(index)]) {
            (MountPart::Source, Mount::Bind { src, .. } | Mount::RoBind { src, .. }) => src,
            (_, Mount::Bind { dst, .. } | Mount::RoBind { dst, .. }) => dst,
            (_, Mount::Tmpfs { dst, .. } | Mount::Dev { dst } | Mount::Proc { dst }) => dst,
            (_, other) => panic!("no case here for {other:?}"),
        };
        let path = Some(ErrorPath::new(path.to_bytes()));
        if got != Err(Error::NamespaceSetup { step, errno, path }) {
            return 10 + i as i32;
        }
        drop(stack);
        if has_children() || open_fds() != fds {
            return 20 + i as i32;
        }
    }
    0
}

#[test]
fn more_mounts_than_an_index_counts_are_refused_before_any_syscall() {
    let many = vec![Mount::tmpfs(c"/x"); 65537];
    let ns = Namespaces::new().map_root().tmpfs_root().mounts(&many);
    assert_refused_before_any_child(ns, Rule::TooManyMounts);
}

/// In a fork (so that no other test's child counts): spawning `ns` fails with `rule` and
/// leaves no child.
#[track_caller]
fn assert_refused_before_any_child(ns: Namespaces<'_>, rule: Rule) {
    assert_in_fork(|| {
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 1;
        };
        // SAFETY: the child never runs: the request is refused.
        match unsafe { ns.spawn(&mut stack, || 0) }.map(drop) {
            Err(Error::Rule(r, _)) if r == rule => {}
            _ => return 2,
        }
        if has_children() { 3 } else { 0 }
    });
}

#[test]
fn a_mount_failure_names_the_action_in_its_message() {
    let e = Error::NamespaceSetup {
        step: SetupStep::Mount {
            index: 3,
            part: MountPart::Source,
        },
        errno: Errno::ENOENT,
        path: Some(ErrorPath::new(b"/srv/data")),
    };
    let text = e.to_string();
    assert!(
        text.contains("mount action 3") && text.contains("source") && text.contains("/srv/data"),
        "{text}"
    );
    assert!(text.contains("ENOENT"), "{text}");
}

#[test]
fn cgroup_fd_needs_clone3_and_is_refused_on_legacy_clone() {
    let dir = sys::open(c"/", k::O_DIRECTORY).unwrap();
    let ns = Namespaces::new()
        .map_root()
        .cgroup_fd(dir.as_fd())
        .syscall(Syscall::Clone);
    assert_refused_before_any_child(ns, Rule::NeedsClone3);
}

#[test]
fn cgroup_fd_is_refused_where_clone3_is_missing() {
    let outcome = seccomp::under(seccomp::Profile::NoClone3, || {
        let Ok(dir) = sys::open(c"/", k::O_DIRECTORY) else {
            return 1;
        };
        let ns = Namespaces::new().map_root().cgroup_fd(dir.as_fd());
        let fds = open_fds();
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 2;
        };
        // SAFETY: the child never runs: clone3 is missing and legacy clone cannot carry it.
        match unsafe { ns.spawn(&mut stack, || 0) }.map(drop) {
            Err(Error::Rule(Rule::NeedsClone3, _)) => {}
            _ => return 3,
        }
        drop(stack);
        if has_children() || open_fds() != fds {
            4
        } else {
            0
        }
    });
    match outcome {
        seccomp::Outcome::Ran(ExitStatus::Exited(0)) => {}
        seccomp::Outcome::Unsupported { step, errno } if qemu_user() => {
            skip(&format!("qemu-user: cannot {step}: {errno}"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cgroup_fd_starts_the_child_in_that_cgroup() {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    if sys::geteuid() != 0 {
        return skip("needs root, to mount a cgroup2 hierarchy and make a cgroup in it");
    }
    if rawclone::clone3_available() == Some(false) {
        return skip("clone3 is missing: CLONE_INTO_CGROUP needs it");
    }
    // A cgroup of this run's own: the cgroup2 hierarchy is one for the whole machine.
    let name = format!("rawclone-sandbox-{}", std::process::id());
    let dir = CString::new(format!("/tmp/cg/{name}")).unwrap();
    let needle = format!("0::/{name}\n");
    let status = in_fork(|| {
        // A private mount namespace for this fork, with a cgroup2 hierarchy on a tmpfs (the
        // host may mount only v1 hierarchies); the cgroup made in it is removed below.
        // SAFETY: unshare and the mounts change only this forked, single-threaded process.
        if unsafe { syscall2(Sysno::unshare, k::CLONE_NEWNS as usize, 0) }.is_err() {
            return 1;
        }
        let private = sys::MountFlags::REC | sys::MountFlags::PRIVATE;
        let none = sys::MountFlags::EMPTY;
        if sys::mount(c"none", c"/", c"", private, None).is_err()
            || sys::mount(c"none", c"/tmp", c"tmpfs", none, None).is_err()
            || sys::mkdir(c"/tmp/cg", 0o755).is_err()
        {
            return 2;
        }
        if sys::mount(c"none", c"/tmp/cg", c"cgroup2", none, None).is_err() {
            return 77;
        }
        let dir = dir.as_c_str();
        if sys::mkdir(dir, 0o755).is_err() {
            return 3;
        }
        let code = match sys::open(dir, k::O_DIRECTORY) {
            Ok(cgroup) => in_ns(
                Namespaces::new().map_root().pid().cgroup_fd(cgroup.as_fd()),
                || {
                    let mut buf = [0u8; 4096];
                    let Ok(f) = sys::open(c"/proc/self/cgroup", 0) else {
                        return 2;
                    };
                    let n = sys::read(f.as_fd(), &mut buf).unwrap_or(0);
                    let needle = needle.as_bytes();
                    buf[..n].windows(needle.len()).any(|w| w == needle) as i32
                },
            ),
            Err(_) => 4,
        };
        // SAFETY: rmdir of the cgroup made above, empty again.
        let removed = unsafe {
            syscall4(
                Sysno::unlinkat,
                k::AT_FDCWD as usize,
                dir.as_ptr() as usize,
                k::AT_REMOVEDIR as usize,
                0,
            )
        };
        match (code, removed) {
            (1, Ok(_)) => 0,
            (1, Err(_)) => 5,
            (code, _) => 10 + code,
        }
    });
    match status {
        ExitStatus::Exited(77) => skip("this kernel cannot mount a cgroup2 hierarchy here"),
        status => assert_eq!(status, ExitStatus::Exited(0)),
    }
}

// ---- raw helpers, usable in a forked child ----

const ST_RDONLY: u64 = 1;
const ST_NOSUID: u64 = 2;
const ST_NODEV: u64 = 4;
const IFF_UP: u16 = 1;

/// `statfs(2)` of `path`.
fn statfs(path: &CStr) -> Option<k::statfs> {
    // SAFETY: statfs is plain old data, for which all zeroes is a valid value.
    let mut st: k::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel writes one struct statfs into a live local.
    unsafe { syscall2(Sysno::statfs, path.as_ptr() as usize, &raw mut st as usize) }.ok()?;
    Some(st)
}

/// The file system's magic number at `path`.
fn fs_type(path: &CStr) -> Option<u64> {
    statfs(path).map(|st| st.f_type as u64)
}

/// Whether the mount at `path` has all the `ST_*` flags `want`.
fn has_flags(path: &CStr, want: u64) -> bool {
    statfs(path).is_some_and(|st| st.f_flags as u64 & want == want)
}

/// The permission bits of `path`.
fn mode(path: &CStr) -> Option<u32> {
    sys::file_mode(path).ok().map(|m| m & 0o7777)
}

/// The device number (major, minor) of the character device at `path`, following links.
fn device_number(path: &CStr) -> Option<(u32, u32)> {
    sys::char_device(path).ok().flatten()
}

/// Make this forked check's stdout a new pseudo-terminal (`TIOCGPTPEER` on `/dev/ptmx`); the
/// failed step's code if it cannot.
fn terminal_on_stdout() -> Result<(), i32> {
    use linux_raw_sys::ioctl::{TIOCGPTPEER, TIOCSPTLCK};
    let Ok(ptmx) = sys::open(c"/dev/ptmx", k::O_RDWR | k::O_NOCTTY) else {
        return Err(1);
    };
    let unlock = 0i32;
    // SAFETY: TIOCSPTLCK reads one int, live across the call.
    let unlocked = unsafe {
        syscall3(
            Sysno::ioctl,
            ptmx.as_raw() as usize,
            TIOCSPTLCK as usize,
            (&raw const unlock) as usize,
        )
    };
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor, ours from now on.
    let peer = unlocked.and_then(|_| unsafe {
        syscall3(
            Sysno::ioctl,
            ptmx.as_raw() as usize,
            TIOCGPTPEER as usize,
            (k::O_RDWR | k::O_NOCTTY) as usize,
        )
    });
    let Ok(peer) = peer else { return Err(2) };
    // SAFETY: the descriptor TIOCGPTPEER just returned, owned by nobody else.
    let terminal = unsafe { sys::Fd::from_raw(peer as i32) };
    // SAFETY: fd 1 of this forked check, which writes nothing else to it. The master stays
    // open in this process (leaked on purpose) so the terminal lives while the check runs.
    let onto = unsafe { sys::dup3(terminal.as_fd(), 1) };
    core::mem::forget(ptmx);
    onto.map(drop).map_err(|_| 3)
}

/// Whether the symlink at `path` reads `target`.
fn link_is(path: &CStr, target: &[u8]) -> bool {
    let mut buf = [0u8; 64];
    sys::read_link(path, &mut buf).is_ok_and(|text| text == target)
}
