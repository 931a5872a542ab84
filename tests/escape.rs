//! The escape suite: what a hostile program inside a `rawclone run` sandbox tries, to get out
//! or to reach the machine, as root and as nobody. Each check fails on the code before the
//! defaults it tests (issue 20): the program kept every capability in its user namespace, the
//! mounts it was given were not locked, and proc's `sys` was never covered.
//!
//! Each check runs the suite's `rawclone` binary (copied where nobody can run it) as a whole
//! process, through `setpriv` for nobody, and reads what the program inside printed.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// The suite's `rawclone`, copied where any user may run it (the build directory may sit below
/// one only root can enter).
fn rawclone() -> &'static str {
    static COPY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join("rawclone-escape-test");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fresh = dir.join(format!("rawclone.{}", std::process::id()));
        std::fs::copy(env!("CARGO_BIN_EXE_rawclone"), &fresh).unwrap();
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = dir.join("rawclone");
        std::fs::rename(&fresh, &copy).unwrap();
        copy.to_string_lossy().into_owned()
    })
}

/// A scratch directory (tests/common) with a `marker` file that says it is the host's.
fn scratch_with_marker() -> Scratch {
    let scratch = Scratch::new();
    std::fs::write(format!("{}/marker", scratch.path()), "host\n").unwrap();
    scratch
}

/// `--ro-bind` of the system's program and library directories that exist here, so that a
/// shell runs in a `--root` of a check's own making.
fn bind_system_dirs(args: &mut Vec<&str>) {
    for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr"] {
        if std::path::Path::new(top).exists() {
            args.extend(["--ro-bind", top, top]);
        }
    }
}

/// Why a check cannot run here as root (`unprivileged` false) or as nobody, if it cannot.
fn skip_reason(unprivileged: bool) -> Option<&'static str> {
    if qemu_user() {
        return Some("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    if !unprivileged && rawclone::sys::geteuid() != 0 {
        return Some("needs root (the suite runs unprivileged)");
    }
    None
}

/// `rawclone run ARGS -- sh -c SCRIPT` as root or (through `setpriv`) as nobody: its stdout,
/// and its exit code.
fn run_sh(unprivileged: bool, args: &[&str], script: &str) -> (String, i32) {
    let mut cmd = if unprivileged && rawclone::sys::geteuid() == 0 {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            rawclone(),
        ]);
        c
    } else {
        Command::new(rawclone())
    };
    cmd.arg("run").args(args).args(["--", "sh", "-c", script]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("rawclone run {args:?}: stderr: {stderr}");
    let code = out.status.code().unwrap_or(-1);
    (String::from_utf8_lossy(&out.stdout).into_owned(), code)
}

/// The first of `tools` that this machine lacks (the sandboxes bind its root, so their
/// programs see the same ones): a check that needs it skips, saying so, rather than pass
/// for an attack that never ran.
fn missing_tool(tools: &[&str]) -> Option<String> {
    tools.iter().find_map(|tool| {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output();
        let found = found.is_ok_and(|o| o.status.success());
        (!found).then(|| format!("{tool} is not installed (the attack needs it)"))
    })
}

/// Each check twice: `root::x` and `unprivileged::x`, with its skip reason where it cannot run.
macro_rules! as_root_and_nobody {
    ($($check:ident),* $(,)?) => {
        mod root {
            $(#[test] fn $check() { super::checked(false, super::$check) })*
        }
        mod unprivileged {
            $(#[test] fn $check() { super::checked(true, super::$check) })*
        }
    };
}

fn checked(unprivileged: bool, check: fn(bool)) {
    match skip_reason(unprivileged) {
        Some(reason) => skip(reason),
        None => check(unprivileged),
    }
}

as_root_and_nobody!(
    read_only_binds_cannot_be_remounted_writable,
    covers_cannot_be_unmounted,
    procs_machine_wide_parts_are_read_only,
    no_capability_unless_added_and_no_new_privs,
    terminal_injection_is_refused,
    a_root_dir_gives_no_device_nodes_nor_setuid,
    planted_symlinks_lead_no_destination_out_of_the_new_root,
    planted_symlinks_cannot_uncover_proc,
    a_symlink_to_the_new_root_is_no_destination,
    nothing_outlives_a_sandbox_without_a_pid_namespace,
    bwrap_options_that_mount_nothing_still_confine,
);

/// Try to make every read-only mount writable, as the issue's reviewer did (`mount -o remount,bind,rw`),
/// directly and from a nested user and mount namespace, then write through the read-only
/// root to a host directory: nothing may be remounted, and the file may not appear, with or
/// without `--cap-add ALL` (the mounts are locked: a program given `CAP_SYS_ADMIN` back in
/// its namespace still cannot clear `ro`).
fn read_only_binds_cannot_be_remounted_writable(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["mount", "awk", "sort", "cut"]) {
        return skip(&reason);
    }
    let scratch = scratch_with_marker();
    let escaped = format!("{}/escaped", scratch.path());
    // A read-only mount that turns writable keeps its id (the first field of mountinfo): the
    // ids of the read-only ones before and after the attempts must be the same.
    let read_only = "awk '$6 ~ /(^|,)ro(,|$)/ { print $1 }' /proc/self/mountinfo | sort";
    let script = format!(
        "before=$({read_only}); \
         for m in $(cut -d' ' -f5 /proc/self/mountinfo); do \
             mount -o remount,bind,rw \"$m\" 2>/dev/null; \
         done; \
         after=$({read_only}); \
         [ \"$before\" = \"$after\" ] || echo \"remounted: $before / $after\"; \
         if command -v unshare >/dev/null; then \
             unshare -Urm sh -c 'mount -o remount,bind,rw / 2>/dev/null && echo nested'; \
         fi; \
         echo x 2>/dev/null > {escaped} && echo wrote; true"
    );
    for extra in [&[][..], &["--cap-add", "ALL"]] {
        // A /dev of its own: the host's, bound nodev with the root, opens no /dev/null.
        let mut args = vec!["-r", "--ro-bind", "/", "/", "--dev", "/dev"];
        args.extend(extra);
        let (out, code) = run_sh(unprivileged, &args, &script);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(!out.contains("remounted"), "{args:?}: {out}");
        assert!(!out.contains("nested"), "{args:?}: {out}");
        assert!(!out.contains("wrote"), "{args:?}: {out}");
        assert!(
            !std::path::Path::new(&escaped).exists(),
            "{args:?}: wrote {escaped}"
        );
    }
}

/// A tmpfs covers a host directory; the program unmounts it (lazily too) to read what it hides.
/// With `--cap-add ALL` it holds `CAP_SYS_ADMIN` in its namespace: the kernel still refuses,
/// since the cover is locked onto what it covers.
fn covers_cannot_be_unmounted(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["umount", "cat"]) {
        return skip(&reason);
    }
    let scratch = scratch_with_marker();
    let dir = scratch.path();
    let script = format!(
        "umount {dir} 2>/dev/null || umount -l {dir} 2>/dev/null; cat {dir}/marker 2>/dev/null; true"
    );
    for extra in [&[][..], &["--cap-add", "ALL"]] {
        let mut args = vec!["-r", "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", dir];
        args.extend(extra);
        let (out, code) = run_sh(unprivileged, &args, &script);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(!out.contains("host"), "{args:?}: the cover came off: {out}");
    }
}

/// Every file of the sandbox's `/proc` outside the process directories that its owner may
/// write, opened for appending (which writes nothing): as root these reach the whole machine
/// (`sys/kernel/core_pattern` runs a program as host root), and only the pressure files,
/// made for unprivileged use, may open. With a fresh proc (`-p`) and with the caller's bound,
/// root's capabilities dropped as in the issue's report (a root caller keeps them by default,
/// as with bwrap, and could remount anything).
fn procs_machine_wide_parts_are_read_only(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["find"]) {
        return skip(&reason);
    }
    let script = "find /proc -path '/proc/[0-9]*' -prune -o -path /proc/self -prune \
                  -o -path /proc/thread-self -prune -o -type f -perm -u+w -print 2>/dev/null \
                  | while read -r f; do \
                        if true 2>/dev/null 3>>\"$f\"; then echo \"writable: $f\"; fi; \
                    done; echo walked";
    let user: &[&str] = if unprivileged { &["-r"] } else { &[] };
    for pid in [&["-p"][..], &[]] {
        let mut args = user.to_vec();
        args.extend(pid);
        args.extend(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
        args.extend(["--cap-drop", "ALL"]);
        let (out, code) = run_sh(unprivileged, &args, script);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(out.contains("walked"), "{args:?}: {out}");
        let open: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("writable: ") && !l.starts_with("writable: /proc/pressure/"))
            .collect();
        assert!(
            open.is_empty(),
            "{args:?}: {} opened for writing: {open:?}",
            open.len()
        );
    }
}

/// The program of a sandbox has no capability in any set unless `--cap-add` gives it one (as
/// root: unless `--cap-drop` takes it), and `no_new_privs` is set, so a set-user-ID program
/// gives none back.
fn no_capability_unless_added_and_no_new_privs(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["grep"]) {
        return skip(&reason);
    }
    let script = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status";
    let sets = |out: &str, name: &str| -> u64 {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let user: &[&str] = if unprivileged {
        &["-r"]
    } else {
        &["-r", "--cap-drop", "ALL"]
    };
    let mut args = user.to_vec();
    args.extend(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
    let (out, code) = run_sh(unprivileged, &args, script);
    assert_eq!(code, 0, "{args:?}: {out}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(sets(&out, set), 0, "{args:?}: {set} in {out}");
    }
    assert_eq!(sets(&out, "NoNewPrivs"), 1, "{args:?}: {out}");
    // --cap-add brings back just that one (the program is uid 0 in its namespace).
    args.extend(["--cap-add", "CAP_NET_RAW"]);
    let (out, code) = run_sh(unprivileged, &args, script);
    assert_eq!(code, 0, "{args:?}: {out}");
    assert_eq!(sets(&out, "CapEff"), 1 << 13, "{args:?}: {out}");
    assert_eq!(sets(&out, "NoNewPrivs"), 1, "{args:?}: {out}");
}

/// CVE-2017-5226, bubblewrap's: the program pushes a byte into the terminal it was started on
/// (`ioctl(0, TIOCSTI, "x")`), which the caller's shell would read as typed. util-linux's
/// `script` gives the command a pseudo-terminal to attack; perl makes the ioctl. Refused in
/// the caller's session by the sandbox's filter, and in a session of its own
/// (`--new-session`) by the kernel, for a terminal that is no longer its controlling one.
fn terminal_injection_is_refused(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["script", "perl"]) {
        return skip(&reason);
    }
    let scratch = Scratch::new();
    let attack = format!("{}/sti.pl", scratch.path());
    let perl =
        "my $c = 'x'; print(ioctl(STDIN, 0x5412, $c) ? \"injected\\n\" : \"refused: $!\\n\");";
    std::fs::write(&attack, perl).unwrap();
    let nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups";
    let who = if unprivileged && rawclone::sys::geteuid() == 0 {
        nobody
    } else {
        ""
    };
    for session in ["", "--new-session"] {
        let line = format!(
            "{who} {} run -r {session} --ro-bind / / --dev /dev -- perl {attack}",
            rawclone()
        );
        let out = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(text.contains("refused"), "{line}: {text}");
        assert!(!text.contains("injected"), "{line}: {text}");
    }
}

/// `--root DIR` with a device node in DIR (made by root: `null`'s numbers, mode 0666) that
/// the program opens for writing: refused, since the new root is `nodev` (and `nosuid`) as
/// every bind is. The system's directories are bound into DIR for a shell to run there.
fn a_root_dir_gives_no_device_nodes_nor_setuid(unprivileged: bool) {
    if rawclone::sys::geteuid() != 0 {
        return skip("needs root to make the device node");
    }
    let scratch = Scratch::new();
    let dir = scratch.path();
    let node = std::ffi::CString::new(format!("{dir}/node")).unwrap();
    // SAFETY: a NUL-terminated path; mknod(2) reads it and nothing else.
    let made = unsafe { mknod(&node, 0o20666, (1 << 8) | 3) };
    assert_eq!(made, 0, "mknod {node:?}");
    let mut args = vec!["-r", "-R", dir, "--proc", "/proc"];
    bind_system_dirs(&mut args);
    // Only the shell's own builtins beside the bound directories (awk is a link into /etc).
    let script = "echo x > /node && echo opened; \
                  while read -r id parent dev root point flags rest; do \
                      [ \"$point\" = / ] && echo \"$flags\"; \
                  done </proc/self/mountinfo; true";
    let (out, code) = run_sh(unprivileged, &args, script);
    assert_eq!(code, 0, "{args:?}: {out}");
    assert!(
        !out.contains("opened"),
        "{args:?}: the device node opened: {out}"
    );
    let flags = out.lines().last().unwrap_or_default();
    assert!(
        flags.contains("nosuid") && flags.contains("nodev"),
        "{args:?}: / is {flags}"
    );
}

/// `mknod(2)` through the raw syscall (`mknodat(AT_FDCWD, …)`): the tests link no libc crate.
///
/// # Safety
/// `path` must be NUL-terminated (a `CStr` is).
unsafe fn mknod(path: &std::ffi::CStr, mode: u32, dev: u64) -> isize {
    // SAFETY: forwarded: the path is NUL-terminated and lives for the call.
    let done = unsafe {
        syscalls::syscall4(
            syscalls::Sysno::mknodat,
            linux_raw_sys::general::AT_FDCWD as usize,
            path.as_ptr() as usize,
            mode as usize,
            dev as usize,
        )
    };
    done.map_or(-1, |_| 0)
}

/// A program of an earlier run plants, in the directory a later run takes as `--root`, a
/// symlink into the staging root's `/oldroot` (where the caller's root is while the mounts are
/// made); the later run's destinations through it must not be made on the caller's tree: the
/// run is refused, or what it makes stays in the new root. It used to make them in the
/// victim directory (as root: anywhere on the host) and drop the mounts silently.
fn planted_symlinks_lead_no_destination_out_of_the_new_root(unprivileged: bool) {
    let root = Scratch::new();
    let victim = Scratch::new();
    let evil = format!("{}/evil", root.path());
    std::os::unix::fs::symlink(format!("/oldroot{}", victim.path()), &evil).unwrap();
    let mut args = vec!["-r", "-R", root.path()];
    bind_system_dirs(&mut args);
    args.extend([
        "--tmpfs",
        "/evil/made-by-tmpfs",
        "--ro-bind",
        "/etc",
        "/evil/made-by-bind",
    ]);
    let _ = run_sh(unprivileged, &args, "true");
    let made: Vec<_> = std::fs::read_dir(victim.path()).unwrap().collect();
    assert!(
        made.is_empty(),
        "{args:?}: made in {}: {made:?}",
        victim.path()
    );
    // bwrap's file actions through the same link, one run each, and a --chmod through a link
    // to a host file (bwrap 0.8 made that file setuid, as root): nothing made or changed
    // there. (Before Linux 5.6 these are refused: tests/sandbox.rs, NoOpenat2.)
    let target = format!("{}/target", victim.path());
    std::fs::write(&target, "host\n").unwrap();
    let to_target = format!("{}/to-target", root.path());
    std::os::unix::fs::symlink(format!("/oldroot{target}"), &to_target).unwrap();
    let mode = || std::fs::metadata(&target).unwrap().permissions();
    let before = mode();
    let empty = std::fs::File::open("/dev/null").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&empty).to_string();
    for action in [
        &["--dir", "/evil/made-by-dir"][..],
        &["--symlink", "/x", "/evil/made-by-symlink"][..],
        &["--file", &fd, "/evil/made-by-file"][..],
        &["--ro-bind-data", &fd, "/evil/made-by-bind-data"][..],
        &["--chmod", "4777", "/to-target"][..],
    ] {
        let mut args = vec!["-r", "-R", root.path()];
        bind_system_dirs(&mut args);
        args.extend(action);
        let _ = run_sh(unprivileged, &args, "true");
        // Only `target` is there.
        let made = std::fs::read_dir(victim.path()).unwrap().count();
        assert_eq!(made, 1, "{action:?}: made in {}", victim.path());
        assert_eq!(mode(), before, "{action:?}: changed the host file's mode");
    }
}

/// A chain of symlinks planted in a `--root` directory (`proc -> /d/self`, `d/self -> /d`)
/// once made the second lookup of `--proc`'s destination land in the fresh proc's
/// `/proc/<pid>`, where no cover's name exists: every cover was passed over, and a root
/// caller's program opened the host's `kernel/core_pattern` for writing. The proc is now
/// covered in its root, entered by descriptor, whatever the names lead to.
fn planted_symlinks_cannot_uncover_proc(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["grep"]) {
        return skip(&reason);
    }
    let root = Scratch::new();
    std::fs::create_dir(format!("{}/d", root.path())).unwrap();
    std::os::unix::fs::symlink("/d/self", format!("{}/proc", root.path())).unwrap();
    std::os::unix::fs::symlink("/d", format!("{}/d/self", root.path())).unwrap();
    // As root without a user namespace: the caller's own root, whose sysctls the program
    // could write; as nobody, root of a user namespace.
    let mut args = if unprivileged { vec!["-r"] } else { vec![] };
    args.extend(["-p", "-R", root.path()]);
    bind_system_dirs(&mut args);
    args.extend(["--proc", "/proc", "--cap-drop", "ALL"]);
    // Wherever the proc went, its sys is read-only: a line of its mountinfo says so, and
    // core_pattern does not open for writing.
    let script = "for p in /proc /d; do \
                      [ -e $p/self/mountinfo ] || continue; \
                      grep -q \" $p/sys ro,\" $p/self/mountinfo && echo covered; \
                      true 2>&- 3>>$p/sys/kernel/core_pattern && echo open; \
                  done; true";
    let (out, code) = run_sh(unprivileged, &args, script);
    assert_eq!(code, 0, "{args:?}: {out}");
    assert!(
        !out.contains("open"),
        "{args:?}: core_pattern opened for writing: {out}"
    );
    assert!(out.contains("covered"), "{args:?}: sys not covered: {out}");
}

/// `dev -> .` planted in a `--root` directory made `--dev /dev` cover the whole new root with
/// its tmpfs, silently: what was bound before vanished (here the shell itself). Such a
/// destination is refused now (the setup fails, exit 1), or its mount lands where asked.
fn a_symlink_to_the_new_root_is_no_destination(unprivileged: bool) {
    let root = scratch_with_marker();
    std::os::unix::fs::symlink(".", format!("{}/dev", root.path())).unwrap();
    let mut args = vec!["-r", "-R", root.path()];
    bind_system_dirs(&mut args);
    args.extend(["--dev", "/dev"]);
    let (out, code) = run_sh(unprivileged, &args, "read -r line </marker; echo $line");
    assert!(
        code == 1 || out.contains("host"),
        "{args:?}: exit {code}: {out}"
    );
}

/// Without `-p` the sandbox's program shares the caller's pid namespace, and what it leaves
/// behind (a background process, a double fork that is no child of it) used to live on after
/// `run` (the review saw one steal the terminal's foreground and read the user's keystrokes).
/// `run` is their subreaper now and ends them with the program.
fn nothing_outlives_a_sandbox_without_a_pid_namespace(unprivileged: bool) {
    if let Some(reason) = missing_tool(&["sleep"]) {
        return skip(&reason);
    }
    let args = ["-r", "--ro-bind", "/", "/", "--dev", "/dev"];
    let script = "sleep 60 >/dev/null 2>&1 & echo $!; \
                  sh -c 'sleep 60 >/dev/null 2>&1 & echo $!'";
    let (out, code) = run_sh(unprivileged, &args, script);
    assert_eq!(code, 0, "{args:?}: {out}");
    let pids: Vec<i32> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(pids.len(), 2, "{args:?}: {out}");
    for pid in pids {
        let alive = rawclone::sys::kill(pid, rawclone::Signal::SIGKILL).is_ok();
        assert!(!alive, "{args:?}: pid {pid} outlived run");
    }
}

/// bwrap's options make bwrap's sandbox even when they leave nothing to mount: a `-try` bind
/// of a missing source, an `--unshare-*` alone. The attack (the review's): with nothing left
/// to mount, the program ran on the host's root with every capability, and wrote a host
/// file. Now its root is an empty tmpfs: no shell to run (127), and no file appears.
fn bwrap_options_that_mount_nothing_still_confine(unprivileged: bool) {
    let scratch = scratch_with_marker();
    let escaped = format!("{}/escaped", scratch.path());
    let script = format!("touch {escaped}");
    for args in [
        &["--ro-bind-try", "/nonexistent-rawclone", "/usr"][..],
        &["--bind-try", "/nonexistent-rawclone", "/usr"][..],
        &["--unshare-net"][..],
        &["--unshare-all", "--share-net"][..],
    ] {
        let (_, code) = run_sh(unprivileged, args, &script);
        assert_eq!(code, 127, "{args:?}: the program ran outside a sandbox");
        assert!(
            !std::path::Path::new(&escaped).exists(),
            "{args:?}: a host file was written"
        );
    }
}
