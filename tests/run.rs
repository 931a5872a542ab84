//! `rawclone run` beside util-linux `unshare` and bubblewrap's `bwrap`: the same commands with
//! the matching flags must show the same things, exit statuses come through, bad input is one
//! line and no child.

mod common;

use common::*;
use rawclone::Errno;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary at `built`, copied as `name` where any user may run it: an unprivileged run must
/// reach it, and the build directory may sit below a directory only root can enter.
fn copy_for_everyone(built: &std::path::Path, name: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join("rawclone-run-test");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Copy under a private name, then rename over the last run's copy (which may be busy).
    let fresh = dir.join(format!("{name}.{}", std::process::id()));
    std::fs::copy(built, &fresh).unwrap();
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join(name);
    std::fs::rename(&fresh, &copy).unwrap();
    copy.to_string_lossy().into_owned()
}

/// The suite's `rawclone` binary (built with the suite's features).
fn rawclone() -> &'static str {
    static COPY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COPY.get_or_init(|| copy_for_everyone(env!("CARGO_BIN_EXE_rawclone").as_ref(), "rawclone"))
}

/// Which build of the command a test runs: called only after the test's skip checks, so that
/// nothing is built where the test cannot run.
type Bin = fn() -> &'static str;

/// The binary as `cargo install` builds it, without libc.
fn rawclone_without_libc() -> &'static str {
    static COPY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COPY.get_or_init(|| copy_for_everyone(&common::rawclone_without_libc(), "rawclone-nolibc"))
}

/// Each check twice: `as_built::x` with the suite's `rawclone` binary (built with the suite's
/// features: with `std`, it links libc), `without_libc::x` with the binary `cargo install` makes.
macro_rules! both_builds {
    ($($check:ident),* $(,)?) => {
        mod as_built {
            $(#[test] fn $check() { super::$check(super::rawclone) })*
        }
        mod without_libc {
            $(#[test] fn $check() { super::$check(super::rawclone_without_libc) })*
        }
    };
}

both_builds!(
    same_results_as_unshare_as_root,
    same_results_as_unshare_unprivileged,
    hostname_inside_does_not_change_ours,
    bad_input_is_one_line_and_a_non_zero_exit,
    no_child_is_left_behind_by_a_refused_run,
    the_program_dies_with_run,
    ctrl_c_reaches_the_program_and_run_waits_for_it,
    sigterm_to_run_is_passed_on_to_the_program,
    long_command_lines_are_taken_as_bwrap_takes_them,
    id_ranges_are_written_as_util_linux_writes_them,
    id_ranges_same_as_unshare_as_root,
    id_ranges_refused_as_nobody,
    an_empty_program_name_is_not_found_as_with_unshare,
    a_script_without_a_shebang_runs_under_sh_as_with_unshare,
    same_results_as_bwrap_as_root,
    same_results_as_bwrap_unprivileged,
    sandbox_mount_errors_are_one_line,
    chdir_same_as_bwrap_as_root,
    chdir_same_as_bwrap_unprivileged,
    cap_drop_same_as_bwrap_as_root,
    cap_drop_same_as_bwrap_unprivileged,
    cap_drop_refusals_are_one_line,
    hostname_same_as_bwrap_as_root,
    hostname_same_as_bwrap_unprivileged,
    die_with_parent_same_as_bwrap_as_root,
    die_with_parent_same_as_bwrap_unprivileged,
);

/// Each comparison `check(bin, unprivileged)` as two checks: `NAME_as_root` (skipped where the
/// suite is not root) and `NAME_unprivileged` (as nobody, where the suite is root).
macro_rules! as_root_and_as_nobody {
    ($($check:ident => $as_root:ident, $unprivileged:ident;)*) => {$(
        fn $as_root(bin: Bin) {
            as_root(|| $check(bin, false));
        }

        fn $unprivileged(bin: Bin) {
            $check(bin, true);
        }
    )*};
}

as_root_and_as_nobody! {
    compare => same_results_as_unshare_as_root, same_results_as_unshare_unprivileged;
    compare_with_bwrap => same_results_as_bwrap_as_root, same_results_as_bwrap_unprivileged;
    compare_hostname_with_bwrap => hostname_same_as_bwrap_as_root,
        hostname_same_as_bwrap_unprivileged;
    compare_die_with_parent_with_bwrap => die_with_parent_same_as_bwrap_as_root,
        die_with_parent_same_as_bwrap_unprivileged;
    compare_chdir_with_bwrap => chdir_same_as_bwrap_as_root, chdir_same_as_bwrap_unprivileged;
}

/// Skip where `run` cannot work: qemu-user refuses namespaces (and cannot exec this target's
/// binaries without binfmt), and a machine may lack util-linux `unshare`.
fn skip_reason(needs_unshare: bool) -> Option<&'static str> {
    if qemu_user() {
        return Some("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    let has_unshare = Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (needs_unshare && !has_unshare).then_some("util-linux unshare is not installed")
}

/// How long a test waits for something that takes milliseconds on an idle machine (a program
/// to start or to die, a busy binary to be released): generous, for a loaded CI machine running
/// the tests in parallel threads. Only a failure waits this long.
const PATIENCE: Duration = Duration::from_secs(30);

/// A command line, as nobody (through `setpriv`) when `unprivileged` and we are root, with
/// stdin closed.
fn command(unprivileged: bool, program: &str, args: &[&str]) -> Command {
    let mut cmd = if unprivileged && rawclone::sys::geteuid() == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// `start()` (a spawn of `program`), again while it fails with ETXTBSY: a fresh copy of the
/// binary cannot be executed while a child that another test thread forked during the copy
/// still holds the descriptor it was written through.
fn unbusy<T>(program: &str, mut start: impl FnMut() -> std::io::Result<T>) -> T {
    let since = Instant::now();
    loop {
        match start() {
            Err(e) if e.raw_os_error() == Some(Errno::ETXTBSY.into_raw()) => {
                assert!(since.elapsed() < PATIENCE, "{program}: still ETXTBSY");
                sleep_ms(10);
            }
            done => return done.unwrap_or_else(|e| panic!("{program}: {e}")),
        }
    }
}

/// Run a command line to its end (see [`command`]).
fn output(unprivileged: bool, program: &str, args: &[&str]) -> Output {
    let mut cmd = command(unprivileged, program, args);
    unbusy(program, || cmd.output())
}

/// Start a command line (see [`command`]) with stdout closed.
fn spawn(unprivileged: bool, program: &str, args: &[&str]) -> Child {
    let mut cmd = command(unprivileged, program, args);
    cmd.stdout(Stdio::null());
    unbusy(program, || cmd.spawn())
}

/// `unshare FLAGS CMD` and `rawclone run FLAGS CMD`: (stdout, exit code, stderr) of each.
fn both(bin: Bin, unprivileged: bool, flags: &[&str], cmd: &[&str]) -> [(String, i32, String); 2] {
    let mut with_run = vec!["run"];
    with_run.extend(flags.iter().chain(cmd));
    let mut with_unshare: Vec<&str> = flags.to_vec();
    with_unshare.extend(cmd);
    [
        output(unprivileged, "unshare", &with_unshare),
        output(unprivileged, bin(), &with_run),
    ]
    .map(|o| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
}

/// The comparisons, each as root (when the suite is root) and as nobody.
const SAME: &[(&[&str], &[&str])] = &[
    (&["-U"], &["id", "-u"]),
    (&["-r"], &["id", "-u"]),
    (
        &["-Urpf", "--mount-proc"],
        &["sh", "-c", "echo $$; cd /proc && echo [0-9]*"],
    ),
    // `ls` as pid 1 of its own namespace: the only process in its fresh /proc.
    (&["-Urpf", "--mount-proc"], &["ls", "/proc"]),
    (
        &["-Ur", "--uts"],
        &["sh", "-c", "hostname inside; hostname"],
    ),
    (&["-Ur", "--net"], &["cat", "/proc/net/dev"]),
    (
        &["-Ur", "--net"],
        &["sh", "-c", "ip -o link | cut -d' ' -f2,9"],
    ),
    (&["-U"], &["sh", "-c", "echo leaving; exit 7"]),
    (&["--map-root", "--net"], &["id", "-u"]),
];

fn compare(bin: Bin, unprivileged: bool) {
    if let Some(reason) = skip_reason(true) {
        return skip(reason);
    }
    for (flags, cmd) in SAME {
        let [unshare, run] = both(bin, unprivileged, flags, cmd);
        assert_eq!(run, unshare, "{flags:?} {cmd:?}: rawclone run vs unshare");
        assert!(!run.0.is_empty(), "{flags:?} {cmd:?}: printed nothing");
        assert!(
            run.2.is_empty() && unshare.2.is_empty(),
            "{flags:?} {cmd:?}: {run:?} {unshare:?}"
        );
    }
    // IPC: a queue made out here is visible here and in neither tool's new IPC namespace.
    let made = output(unprivileged, "ipcmk", &["-Q"]);
    let text = String::from_utf8_lossy(&made.stdout);
    let id = text
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(made.status.success() && !id.is_empty(), "ipcmk -Q: {text}");
    let count = "ipcs -q | grep -c '^0x'; true";
    let outside = output(unprivileged, "sh", &["-c", count]);
    let [unshare, run] = both(bin, unprivileged, &["-Ur", "--ipc"], &["sh", "-c", count]);
    let _ = output(unprivileged, "ipcrm", &["-q", &id]);
    assert_ne!(
        String::from_utf8_lossy(&outside.stdout),
        "0\n",
        "the queue is visible out here"
    );
    assert_eq!(unshare.0, "0\n", "unshare --ipc sees no queue");
    assert_eq!(run, unshare, "rawclone run --ipc vs unshare --ipc");
    // A program killed by a signal: `run` exits with 128 + signal; `unshare -f` kills itself
    // with the same signal. A shell sees 143 for SIGTERM either way. (util-linux 2.38 cannot
    // re-raise SIGKILL and exits 1 instead, so SIGTERM is the comparable case.)
    let killed = ["sh", "-c", "kill -TERM $$"];
    let statuses = [["unshare", "-Uf"].as_slice(), &[bin(), "run", "-U"]].map(|front| {
        let mut args = vec!["-c", "\"$@\" 2>/dev/null; echo $?", "sh"];
        args.extend(front.iter().chain(&killed));
        String::from_utf8_lossy(&output(unprivileged, "sh", &args).stdout).into_owned()
    });
    assert_eq!(statuses[0], "143\n", "unshare -Uf, killed by SIGTERM");
    assert_eq!(
        statuses[1], statuses[0],
        "rawclone run vs unshare, killed by SIGTERM"
    );
    // A new pid namespace: both show one that is not ours.
    let cmd = ["-Urpf", "--mount-proc", "readlink", "/proc/self/ns/pid"];
    assert_other_pid_namespaces(both(bin, unprivileged, &cmd[..2], &cmd[2..]));
}

/// Both tools' `readlink /proc/self/ns/pid` succeeded and named a pid namespace not ours.
#[track_caller]
fn assert_other_pid_namespaces(results: [(String, i32, String); 2]) {
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ours = ours.to_string_lossy();
    for (seen, code, _) in results {
        assert_eq!(code, 0);
        assert!(
            seen.starts_with("pid:[") && seen.trim() != ours,
            "{seen} vs {ours}"
        );
    }
}

/// Run `check` as root (no user namespace needed), or skip where the suite is not root.
fn as_root(check: impl FnOnce()) {
    if rawclone::sys::geteuid() != 0 {
        return skip("needs root (the suite runs unprivileged)");
    }
    check()
}

fn hostname_inside_does_not_change_ours(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = output(
        false,
        bin(),
        &["run", "-Ur", "--hostname", "elsewhere", "hostname"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "elsewhere\n");
    let after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(before, after);
}

/// One line on stderr that contains `says`, exit code `code`, nothing on stdout.
fn assert_refused(bin: Bin, args: &[&str], unprivileged: bool, code: i32, says: &str) {
    let out = output(unprivileged, bin(), args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
    assert!(
        err.starts_with("rawclone run: ") && err.contains(says),
        "{args:?}: {err}"
    );
    assert!(out.stdout.is_empty());
}

fn bad_input_is_one_line_and_a_non_zero_exit(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    assert_refused(
        bin,
        &["run", "--frobnicate", "true"],
        false,
        2,
        "unknown option '--frobnicate'",
    );
    assert_refused(
        bin,
        &["run", "-Ux", "true"],
        false,
        2,
        "unknown option '-x'",
    );
    assert_refused(bin, &["run", "-U"], false, 2, "no program given");
    assert_refused(
        bin,
        &["run", "-U", "no-such-program-rawclone"],
        false,
        127,
        "ENOENT",
    );
    assert_refused(
        bin,
        &["run", "--mount=/tmp/x", "true"],
        false,
        2,
        "--mount takes no value",
    );
    assert_refused(
        bin,
        &["run", "--map", "true"],
        false,
        2,
        "'--map' is ambiguous",
    );
    assert_refused(
        bin,
        &["run", "--setgroups", "deny", "true"],
        false,
        2,
        "not supported",
    );
    assert_refused(
        bin,
        &["run", "-U", "/no/such/program"],
        false,
        127,
        "ENOENT",
    );
    assert_refused(
        bin,
        &["run", "--root", "/etc/hostname", "true"],
        false,
        1,
        "not a directory",
    );
    // A map an unprivileged user may not write: the kernel's EPERM, named.
    assert_refused(
        bin,
        &["run", "--map-users", "100000,0,65536", "true"],
        true,
        1,
        "/uid_map: EPERM",
    );
    // Id ranges: what util-linux accepts but rawclone does not (it has no newuidmap to read
    // /etc/subuid for), and what neither accepts, are usage errors.
    for (range, says) in [
        ("auto", "--map-users auto is not supported"),
        ("subids", "--map-users subids is not supported"),
        ("all", "--map-users all is not supported"),
        ("5", "'5' is not INNER:OUTER:COUNT"),
        ("0:1:2:3", "'0:1:2:3' is not INNER:OUTER:COUNT"),
        ("0,1:2", "'0,1:2' is not INNER:OUTER:COUNT"),
        ("0:-1:2", "'0:-1:2' is not INNER:OUTER:COUNT"),
        ("0:100000:0", "COUNT must be at least 1"),
    ] {
        let option = format!("--map-users={range}");
        assert_refused(bin, &["run", &option, "true"], false, 2, says);
    }
    // Namespaces without a user namespace, unprivileged: the capability is named.
    assert_refused(
        bin,
        &["run", "--uts", "true"],
        true,
        1,
        "needs CAP_SYS_ADMIN",
    );
}

fn no_child_is_left_behind_by_a_refused_run(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    // `run` as the child of a subreaper: a child that `run` failed to reap would be handed to
    // us when `run` exits, alive or as a zombie.
    let program = std::ffi::CString::new(bin()).unwrap();
    let args = [
        program.as_c_str(),
        c"run",
        c"--map-users",
        c"100000,0,65536",
        c"sleep",
        c"30",
    ];
    assert_in_fork(|| {
        const PR_SET_CHILD_SUBREAPER: usize = 36;
        // SAFETY: prctl with integer arguments only.
        if unsafe { syscalls::syscall2(syscalls::Sysno::prctl, PR_SET_CHILD_SUBREAPER, 1) }.is_err()
        {
            return 1;
        }
        if become_nobody().is_err() {
            return 2;
        }
        let Ok(run) = rawclone::vfork_exec(&program, &args, &[]) else {
            return 3;
        };
        if run.wait() != Ok(rawclone::ExitStatus::Exited(1)) {
            return 4; // the map must be refused
        }
        if has_children() { 5 } else { 0 }
    });
}

/// What the programs of the dying checks run.
const SLEEPER: [&str; 2] = ["sleep", "30"];

/// A tool's program, found as the tool's child and held by a pidfd, so that another process
/// given the same pid can never pass for it; SIGKILLed on drop if it is still there, so that a
/// failing check leaves nothing behind.
struct Program {
    pidfd: rawclone::sys::Fd,
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces): the state
/// (field 3) at 0, the parent's pid at 1, the start time (field 22) at 19.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    Some(after.split_whitespace().map(String::from).collect())
}

impl Program {
    /// The child of `tool` (not yet killed) that has exec'd `argv`, once there is one.
    fn of(tool: &mut Child, argv: &[&str]) -> Program {
        let parent = tool.id();
        let cmdline: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        let children = format!("/proc/{parent}/task/{parent}/children");
        let since = Instant::now();
        loop {
            let pids = std::fs::read_to_string(&children).unwrap_or_default();
            let mut pids = pids.split_whitespace().filter_map(|p| p.parse().ok());
            if let Some(program) = pids.find_map(|pid| Program::open(pid, parent, &cmdline)) {
                return program;
            }
            if let Ok(Some(status)) = tool.try_wait() {
                panic!("{parent} ended ({status}) before it ran {argv:?}");
            }
            assert!(
                since.elapsed() < PATIENCE,
                "no child of {parent} ran {argv:?}"
            );
            sleep_ms(10);
        }
    }

    /// `pid` as a pidfd, if it is a child of `parent` running `cmdline` both before and after
    /// the pidfd is opened, with the same start time: the same process, not one given its pid
    /// in between.
    fn open(pid: u32, parent: u32, cmdline: &[u8]) -> Option<Program> {
        let identity = || {
            let running = std::fs::read(format!("/proc/{pid}/cmdline")).ok()? == cmdline;
            let fields = stat_fields(pid)?;
            let child = fields.get(1)? == &parent.to_string();
            (running && child).then(|| fields.get(19).cloned())?
        };
        let before = identity()?;
        // SAFETY: pidfd_open(2) takes integers only; it returns a new descriptor or an error.
        let fd = unsafe { syscalls::syscall2(syscalls::Sysno::pidfd_open, pid as usize, 0) };
        // SAFETY: the kernel just made this descriptor for us, and nothing else holds it.
        let pidfd = unsafe { rawclone::sys::Fd::from_raw(fd.ok()? as i32) };
        (identity()? == before).then_some(Program { pidfd })
    }

    /// Whether the program ends within `limit` (its pidfd turns readable when it exits).
    fn ends_within(&self, limit: Duration) -> bool {
        let since = Instant::now();
        loop {
            let left = limit.saturating_sub(since.elapsed());
            match rawclone::sys::poll_readable_timeout(self.pidfd.as_fd(), left) {
                Err(Errno::EINTR) => continue,
                done => return done.expect("ppoll on a pidfd"),
            }
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // ESRCH once it has ended: nothing to do.
        let _ = rawclone::sys::pidfd_send_signal(&self.pidfd, rawclone::Signal::SIGKILL);
    }
}

/// Start `tool ARGS sleep 30` (as nobody when `unprivileged`), find its program, SIGKILL the
/// tool (which then cleans nothing up: only `PR_SET_PDEATHSIG` can end the program), and say
/// whether the program ends within `limit`.
fn program_ends_with(unprivileged: bool, tool: &str, args: &[&str], limit: Duration) -> bool {
    let mut line = args.to_vec();
    line.extend(SLEEPER);
    let mut tool = spawn(unprivileged, tool, &line);
    let program = Program::of(&mut tool, &SLEEPER);
    tool.kill().unwrap();
    tool.wait().unwrap();
    program.ends_within(limit)
}

fn the_program_dies_with_run(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    // The program is pid 1 of its own pid namespace here.
    let ends = program_ends_with(false, bin(), &["run", "-Up"], PATIENCE);
    assert!(ends, "the program outlived run");
}

fn ctrl_c_reaches_the_program_and_run_waits_for_it(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    use std::os::unix::process::CommandExt;
    // In a process group of its own, as a shell's foreground job would be. The background
    // sleep ignores SIGINT (as any in a shell without job control): the trap ends it, and it is
    // long enough for a loaded machine to deliver the signal first.
    let trap = "trap 'kill $! 2>/dev/null; exit 7' INT; echo ready; sleep 30 & wait";
    // With --new-session the program has left the group: run passes the signal on.
    for session in [&[][..], &["--new-session"]] {
        let mut args = vec!["run", "-U"];
        args.extend(session);
        args.extend(["sh", "-c", trap]);
        let mut cmd = command(false, bin(), &args);
        cmd.process_group(0).stdout(Stdio::piped());
        let mut run = unbusy(bin(), || cmd.spawn());
        let mut ready = [0u8; 6];
        std::io::Read::read_exact(run.stdout.as_mut().unwrap(), &mut ready).unwrap();
        assert_eq!(&ready, b"ready\n");
        let group = -(run.id() as i32);
        rawclone::sys::kill(group, rawclone::Signal::SIGINT).unwrap();
        let status = run.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(7),
            "{session:?}: the program's INT trap decides the exit status"
        );
    }
}

/// What bwrap takes, run takes: a `--setenv` value over 32 KiB, more than 64 `--setenv`, more
/// than 1024 inherited variables beside a `--setenv`, more than 256 mount options (each a fixed
/// limit before; run now sizes its room by the command line).
fn long_command_lines_are_taken_as_bwrap_takes_them(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    let run = |args: &[String], env: &[(String, String)]| {
        let mut cmd = Command::new(bin());
        cmd.arg("run")
            .args(args)
            .env_clear()
            .envs(env.iter().cloned());
        let out = unbusy(bin(), || cmd.output());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{}: {out:?}", args.len());
        text
    };
    let own = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let big = "x".repeat(40_000);
    let mut args = own(&["-U", "--setenv", "BIG", &big]);
    for i in 0..100 {
        args.extend(["--setenv".to_string(), format!("V{i}"), format!("{i}")]);
    }
    args.extend(own(&["--", "/bin/sh", "-c", "echo ${#BIG} $V0 $V99"]));
    assert_eq!(run(&args, &[]), "40000 0 99\n");
    let inherited: Vec<(String, String)> =
        (0..1500).map(|i| (format!("E{i}"), "1".into())).collect();
    let args = own(&[
        "-U",
        "--setenv",
        "X",
        "y",
        "--",
        "/bin/sh",
        "-c",
        "echo $E1499 $X",
    ]);
    assert_eq!(run(&args, &inherited), "1 y\n");
    let mut args = own(&["-r", "--ro-bind", "/", "/", "--tmpfs", "/tmp"]);
    for i in 0..300 {
        args.extend(["--tmpfs".to_string(), format!("/tmp/m{i}")]);
    }
    args.extend(own(&[
        "--",
        "/bin/sh",
        "-c",
        "grep -c ' /tmp/m' /proc/self/mountinfo",
    ]));
    assert_eq!(run(&args, &[]), "300\n");
}

/// A SIGTERM sent to `run` alone (as a service manager or `timeout` sends it) reaches the
/// program, whose TERM trap decides the exit status; it used to be swallowed while the program
/// ran on (unshare swallows it too; bwrap dies, and its program with it).
fn sigterm_to_run_is_passed_on_to_the_program(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    let trap = "trap 'kill $! 2>/dev/null; exit 7' TERM; echo ready; sleep 30 & wait";
    let mut cmd = command(false, bin(), &["run", "-U", "sh", "-c", trap]);
    cmd.stdout(Stdio::piped());
    let mut run = unbusy(bin(), || cmd.spawn());
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(run.stdout.as_mut().unwrap(), &mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    rawclone::sys::kill(run.id() as i32, rawclone::Signal::SIGTERM).unwrap();
    let status = run.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(7),
        "the program's TERM trap decides: {status:?}"
    );
}

/// `--map-users`/`--map-groups` (several times, and with `-r` or `--map-user`), and the
/// `uid_map`, `gid_map` and `setgroups` util-linux `unshare` leaves as root (2.40 and later write
/// them themselves as root; the text below is what util-linux 2.42.2's `unshare` printed). The
/// colon form is `INNER:OUTER:COUNT`, the comma form (before 2.39) `OUTER,INNER,COUNT`; the
/// single line of `-r`/`--map-user` comes first, and a range loses the id it overlaps.
const ID_RANGES: &[(&[&str], &str)] = &[
    (&["--map-users=0:100000:65536"], "0 100000 65536\nallow\n"),
    (
        &["--map-users", "100000,0,65536"],
        "0 100000 65536\nallow\n",
    ),
    (
        &["-r", "--map-users=0:100000:65536"],
        "0 0 1\n1 100000 65535\n0 0 1\ndeny\n",
    ),
    (
        &["--map-users=100000,0,65536", "-r"],
        "0 0 1\n1 100000 65535\n0 0 1\ndeny\n",
    ),
    (
        &["--map-user=5", "--map-users=0:100000:65536"],
        "5 0 1\n0 100000 5\n6 100005 65530\nallow\n",
    ),
    (
        &["-r", "--map-users=0:100000:10", "--map-users=20:200000:5"],
        "0 0 1\n1 100000 9\n20 200000 5\n0 0 1\ndeny\n",
    ),
    (
        &["-r", "--map-groups=0:100000:10"],
        "0 0 1\n0 0 1\n1 100000 9\nallow\n",
    ),
    (
        &["--map-users=0:100000:65536", "--map-groups=100000,0,65536"],
        "0 100000 65536\n0 100000 65536\nallow\n",
    ),
];

/// What a program in the new namespace shows of its maps: `uid_map`, `gid_map`, `setgroups`.
const SHOW_MAPS: [&str; 3] = [
    "sh",
    "-c",
    "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups",
];

/// `/proc/PID/uid_map` text with its column padding squeezed: `inside outside count` a line.
fn squeezed(text: &str) -> String {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect()
}

fn id_ranges_are_written_as_util_linux_writes_them(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    if rawclone::sys::geteuid() != 0 {
        return skip("needs root (maps of more than one's own id need CAP_SETUID)");
    }
    for (flags, maps) in ID_RANGES {
        let mut args = vec!["run"];
        args.extend(flags.iter().chain(&SHOW_MAPS));
        let out = output(false, bin(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {err}");
        let shown = squeezed(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(shown, *maps, "{flags:?}");
    }
}

/// The `unshare` to compare the id ranges with: `$RAWCLONE_UNSHARE`, or `unshare` on PATH.
fn reference_unshare() -> String {
    std::env::var("RAWCLONE_UNSHARE").unwrap_or_else(|_| "unshare".to_string())
}

fn id_ranges_same_as_unshare_as_root(bin: Bin) {
    if let Some(reason) = skip_reason(true) {
        return skip(reason);
    }
    if rawclone::sys::geteuid() != 0 {
        return skip("needs root (maps of more than one's own id need CAP_SETUID)");
    }
    // util-linux before 2.40 writes these maps only through newuidmap (and /etc/subuid), and
    // before 2.39 knows no colon form: such an unshare cannot be compared with here.
    let unshare = reference_unshare();
    let probe = output(false, &unshare, &["--map-users=0:100000:2", "true"]);
    if !probe.status.success() {
        let why = String::from_utf8_lossy(&probe.stderr);
        return skip(&format!(
            "{unshare} cannot write --map-users=INNER:OUTER:COUNT here (util-linux 2.40 or later \
             does as root; set RAWCLONE_UNSHARE to one): {}",
            why.trim()
        ));
    }
    for (flags, _) in ID_RANGES {
        let mut with_unshare: Vec<&str> = flags.to_vec();
        with_unshare.extend(SHOW_MAPS);
        let mut with_run = vec!["run"];
        with_run.extend(&with_unshare);
        let [theirs, ours] = [
            output(false, &unshare, &with_unshare),
            output(false, bin(), &with_run),
        ]
        .map(|o| {
            let shown = squeezed(&String::from_utf8_lossy(&o.stdout));
            (shown, o.status.code())
        });
        assert_eq!(ours, theirs, "{flags:?}: rawclone run vs {unshare}");
    }
}

fn id_ranges_refused_as_nobody(bin: Bin) {
    if let Some(reason) = skip_reason(true) {
        return skip(reason);
    }
    // Unprivileged, the kernel takes one line mapping one's own id and nothing more: rawclone
    // writes the map itself and names the kernel's refusal; `unshare` would hand the ranges to
    // the setuid newuidmap, which allows only what /etc/subuid grants (and fails where it is
    // not installed). Neither leaves a program running or prints anything on stdout.
    for flags in [
        ["-r", "--map-users=0:100000:65536"].as_slice(),
        &["--map-users=100000,0,65536", "-r"],
        &["--map-users=0:100000:65536"],
    ] {
        let mut args = vec!["run"];
        args.extend(flags.iter().chain(&SHOW_MAPS));
        assert_refused(bin, &args, true, 1, "/uid_map: EPERM");
        let theirs = output(true, &reference_unshare(), &args[1..]);
        if !theirs.status.success() {
            assert!(theirs.stdout.is_empty(), "{flags:?}: {theirs:?}");
        }
    }
    // The one line that needs no privilege, one's own id given as a range, rawclone writes.
    let cmd = [
        "run",
        "--map-users=65534:65534:1",
        "cat",
        "/proc/self/uid_map",
    ];
    let out = output(true, bin(), &cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{cmd:?}: {err}");
    let shown = squeezed(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(shown, "65534 65534 1\n", "{cmd:?}");
}

fn an_empty_program_name_is_not_found_as_with_unshare(bin: Bin) {
    if let Some(reason) = skip_reason(true) {
        return skip(reason);
    }
    // execvp("") fails with ENOENT (glibc does not search PATH for an empty name): 127.
    for flags in [["-U"].as_slice(), &["--"], &["-Ur", "--"]] {
        let [theirs, ours] = both(bin, false, flags, &[""]);
        assert_eq!(theirs.1, 127, "{flags:?} ''");
        assert!(theirs.2.contains("No such file or directory"), "{theirs:?}");
        assert_eq!(
            ours.1, theirs.1,
            "{flags:?} '': rawclone run vs unshare: {ours:?}"
        );
        assert_eq!(ours.0, theirs.0);
        assert!(ours.2.contains("ENOENT"), "{ours:?}");
    }
    assert_refused(bin, &["run", "--", ""], true, 127, "failed to execute : ");
}

/// A script without a `#!` line runs under `/bin/sh`, as unshare runs it (glibc's execvp),
/// where run used to exit 126 with ENOEXEC; by path and found in `PATH`.
fn a_script_without_a_shebang_runs_under_sh_as_with_unshare(bin: Bin) {
    if let Some(reason) = skip_reason(true) {
        return skip(reason);
    }
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let script = format!("{}/no-shebang", scratch.path());
    std::fs::write(&script, "echo \"script $# $1\"\nexit 7\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let [theirs, ours] = both(bin, false, &["-U", "--"], &[&script, "arg"]);
    assert_eq!(
        (theirs.0.as_str(), theirs.1),
        ("script 1 arg\n", 7),
        "{theirs:?}"
    );
    assert_eq!(ours, theirs, "rawclone run vs unshare");
    let path = format!("{}:/usr/bin:/bin", scratch.path());
    let found = Command::new(bin())
        .args(["run", "-U", "--", "no-shebang", "x"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(found.status.code(), Some(7), "{found:?}");
    assert_eq!(String::from_utf8_lossy(&found.stdout), "script 1 x\n");
}

/// Skip where `bwrap` cannot be compared with: not installed, or refused here (its own message
/// is the reason). `userns` is the namespace part of its command line.
fn bwrap_skip_reason(unprivileged: bool, userns: &[&str]) -> Option<String> {
    if let Some(reason) = skip_reason(false) {
        return Some(reason.to_string());
    }
    let has_bwrap = Command::new("bwrap")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_bwrap {
        return Some("bubblewrap (bwrap) is not installed".to_string());
    }
    let mut probe = userns.to_vec();
    probe.extend(["--ro-bind", "/", "/", "true"]);
    let out = output(unprivileged, "bwrap", &probe);
    (!out.status.success()).then(|| {
        let why = String::from_utf8_lossy(&out.stderr);
        format!("bwrap refuses here: {}", why.trim())
    })
}

/// The mounts a shell in the sandbox sees: mount point, its per-mount options and file system
/// type, for the mount on top at each point (a mount covered by a later one is out of sight,
/// and the two tools restrict those differently), sorted.
const VISIBLE_MOUNTS: &str = "cut -d' ' -f5,6,9 /proc/self/mountinfo \\
    | awk '{ top[$1] = $0 } END { for (m in top) print top[m] }' | sort";

/// A full root, read-only, with its own /tmp, /dev and /proc: bwrap's usual first options.
const FULL_ROOT: [&str; 9] = [
    "--ro-bind",
    "/",
    "/",
    "--tmpfs",
    "/tmp",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
];

/// `bwrap USERNS OPTIONS CMD` and `rawclone run RUNNS OPTIONS CMD`: (stdout, exit code,
/// stderr) of each.
fn with_bwrap(
    bin: Bin,
    unprivileged: bool,
    [userns, runns]: [&[&str]; 2],
    options: &[&str],
    cmd: &[&str],
) -> [(String, i32, String); 2] {
    let line = |front: &[&str]| -> Vec<String> {
        let all = front.iter().chain(options).chain(cmd);
        all.map(|a| a.to_string()).collect()
    };
    let mut run = vec!["run"];
    run.extend(runns);
    [
        output(unprivileged, "bwrap", &refs(&line(userns))),
        output(unprivileged, bin(), &refs(&line(&run))),
    ]
    .map(|o| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
}

/// The arguments as `&str`s.
fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The namespace part of the command lines of bwrap and run: none as root, a user namespace
/// mapped to root inside as nobody (`--uid 0 --gid 0` for bwrap, `-r` for run).
fn bwrap_namespaces(unprivileged: bool) -> [&'static [&'static str]; 2] {
    match unprivileged {
        true => [&["--unshare-user", "--uid", "0", "--gid", "0"], &["-r"]],
        false => [&[], &[]],
    }
}

/// The namespace parts of bwrap's and run's command lines ([`bwrap_namespaces`]), or `None`
/// with the test skipped where bwrap cannot be compared with ([`bwrap_skip_reason`]).
fn bwrap_or_skip(unprivileged: bool) -> Option<[&'static [&'static str]; 2]> {
    let namespaces = bwrap_namespaces(unprivileged);
    match bwrap_skip_reason(unprivileged, namespaces[0]) {
        Some(reason) => {
            skip(&reason);
            None
        }
        None => Some(namespaces),
    }
}

/// Each implemented bwrap option through both tools, as root without a user namespace or as
/// nobody with one mapped to root inside (`--uid 0 --gid 0` for bwrap, `-r` for run).
fn compare_with_bwrap(bin: Bin, unprivileged: bool) {
    let Some(namespaces) = bwrap_or_skip(unprivileged) else {
        return;
    };
    let scratch = Scratch::new();
    // A root of a few directories (those of them that exist here) and a writable bind.
    let mut small_root: Vec<&str> = Vec::new();
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/sbin"] {
        if std::path::Path::new(dir).exists() {
            small_root.extend(["--ro-bind", dir, dir]);
        }
    }
    small_root.extend(["--bind", scratch.path(), "/data"]);
    let cases: [(&[&str], &[&str]); 8] = [
        (&FULL_ROOT, &["ls", "/dev"]),
        (
            &FULL_ROOT,
            &["sh", "-c", "ls -l /dev | awk '{ print $1, $9, $10, $11 }'"],
        ),
        (&FULL_ROOT, &["sh", "-c", VISIBLE_MOUNTS]),
        (&FULL_ROOT, &["id"]),
        (
            &FULL_ROOT,
            &["sh", "-c", "touch /etc/rawclone 2>&1; echo $?"],
        ),
        (
            &FULL_ROOT,
            &["sh", "-c", "touch /tmp/x && ls -ld /tmp | cut -c1-10"],
        ),
        (&small_root, &["ls", "/"]),
        (
            &small_root,
            &[
                "sh",
                "-c",
                "echo written > /data/$0 && cat /data/$0; ls /data",
            ],
        ),
    ];
    for (options, cmd) in cases {
        let [mut bwrap, mut run] = with_bwrap(bin, unprivileged, namespaces, options, cmd);
        if cmd == ["sh", "-c", VISIBLE_MOUNTS] {
            set_proc_covers_aside(&mut bwrap.0, &mut run.0);
        }
        assert_eq!(run, bwrap, "{options:?} {cmd:?}: rawclone run vs bwrap");
        assert!(!run.0.is_empty(), "{options:?} {cmd:?}: printed nothing");
    }
    compare_console_with_bwrap(bin, unprivileged, namespaces);
    // --setenv and --unsetenv, in order, on an environment of our choosing (bwrap also sets
    // PWD for the directory it starts the program in, which run leaves alone).
    let env_changes = [
        "--setenv",
        "B",
        "x",
        "--setenv",
        "D",
        "y",
        "--unsetenv",
        "A",
        "--setenv",
        "A",
        "z",
        "--unsetenv",
        "C",
    ];
    let mut options = FULL_ROOT.to_vec();
    options.extend(env_changes);
    // Through `env -i` and a shell that hides PWD: (tool and its namespace options).
    let tools = [
        (vec!["bwrap"], namespaces[0]),
        (vec![bin(), "run"], namespaces[1]),
    ];
    let outputs = tools.map(|(mut tool, ns)| {
        tool.extend(ns.iter().chain(&options));
        tool.push("env");
        let hide_pwd = "\"$@\" | grep -v ^PWD=";
        let mut args = vec!["-i", "A=1", "B=2", "C=3", "sh", "-c", hide_pwd, "sh"];
        args.extend(tool);
        let out = output(unprivileged, "env", &args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    assert_eq!(
        outputs[1], "B=x\nD=y\nA=z\n",
        "rawclone run --setenv/--unsetenv"
    );
    assert_eq!(
        outputs[1], outputs[0],
        "--setenv/--unsetenv: rawclone run vs bwrap"
    );
    // --die-with-parent is accepted, and exit statuses come through.
    let mut dying = vec!["--die-with-parent"];
    dying.extend(FULL_ROOT);
    let [bwrap, run] = with_bwrap(
        bin,
        unprivileged,
        namespaces,
        &dying,
        &["sh", "-c", "exit 3"],
    );
    assert_eq!((bwrap.1, run.1), (3, 3), "{bwrap:?} {run:?}");
    // With a pid namespace, both mount a fresh proc, and show a pid namespace not ours.
    let mut bwrap_pid = namespaces[0].to_vec();
    bwrap_pid.push("--unshare-pid");
    let mut run_pid = namespaces[1].to_vec();
    run_pid.push("-p");
    let pid_ns = [bwrap_pid.as_slice(), &run_pid];
    let fresh = ["--ro-bind", "/", "/", "--proc", "/proc"];
    let [mut bwrap, mut run] = with_bwrap(
        bin,
        unprivileged,
        pid_ns,
        &fresh,
        &["sh", "-c", VISIBLE_MOUNTS],
    );
    set_proc_covers_aside(&mut bwrap.0, &mut run.0);
    assert_eq!(run, bwrap, "a pid namespace: rawclone run vs bwrap");
    let cmd = ["readlink", "/proc/self/ns/pid"];
    assert_other_pid_namespaces(with_bwrap(bin, unprivileged, pid_ns, &fresh, &cmd));
}

/// Take proc's read-only covers out of both tools' [`VISIBLE_MOUNTS`] for their comparison,
/// the one difference by design, after checking that run covers `/proc/sys` and every part
/// bwrap covers. run covers proc's machine-wide parts whatever access(2) says; bwrap 0.8
/// trusts access(2), which procfs answers EACCES for `sys` (and, as nobody, for all of them).
fn set_proc_covers_aside(bwrap: &mut String, run: &mut String) {
    let covered = |line: &&str| line.starts_with("/proc/") && line.contains(" ro,");
    let covers = |mounts: &str| -> Vec<String> {
        mounts.lines().filter(covered).map(str::to_string).collect()
    };
    let (theirs, ours) = (covers(bwrap), covers(run));
    assert!(
        ours.iter().any(|l| l.starts_with("/proc/sys ")),
        "/proc/sys not covered: {run}"
    );
    for line in &theirs {
        assert!(
            ours.contains(line),
            "bwrap covers {line}, run does not: {run}"
        );
    }
    for mounts in [bwrap, run] {
        let lines: Vec<&str> = mounts.lines().filter(|line| !covered(line)).collect();
        *mounts = lines.iter().map(|line| format!("{line}\n")).collect();
    }
}

/// With a terminal on stdout (util-linux's `script` gives each tool a pseudo-terminal of its
/// own), both tools' `--dev` bind it at `/dev/console`: the same `/dev`, and a character
/// device of the pseudo-terminals' major number there.
fn compare_console_with_bwrap(bin: Bin, unprivileged: bool, [bwrap_ns, run_ns]: [&[&str]; 2]) {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        return skip("util-linux's script is not installed: no terminal to compare --dev with");
    }
    let check = "sh -c 'ls -1 /dev; stat -c %F/%t /dev/console'";
    let on_a_terminal = |tool: &[&str]| {
        let line = format!("{} {} {check}", tool.join(" "), FULL_ROOT.join(" "));
        let out = output(unprivileged, "script", &["-qec", &line, "/dev/null"]);
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
    };
    let bwrap = on_a_terminal(&[&["bwrap"], bwrap_ns].concat());
    let run = on_a_terminal(&[&[bin(), "run"], run_ns].concat());
    assert!(run.lines().any(|l| l == "console"), "{run:?}");
    assert!(run.ends_with("character special file/88\n"), "{run:?}");
    assert_eq!(run, bwrap, "--dev on a terminal: rawclone run vs bwrap");
}

/// `--hostname` through both tools: the name the program sees, also an empty one and the
/// longest the kernel takes; one byte more is refused by both (exit 1, one line each in its
/// own words). bwrap wants `--unshare-uts` beside `--hostname`, and refuses it alone
/// ("Specifying --hostname requires --unshare-uts", exit 1), where run's `--hostname` implies
/// `--uts`; and bwrap needs a root to find the program in (`--ro-bind / /`), run none. (As
/// nobody, bwrap makes a user namespace even without `--unshare-user`, where run without `-U`
/// or `-r` gets EPERM: that is why nobody's lines here have both.)
fn compare_hostname_with_bwrap(bin: Bin, unprivileged: bool) {
    let Some([bwrap_ns, run_ns]) = bwrap_or_skip(unprivileged) else {
        return;
    };
    let ours = || std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let before = ours();
    let mut bwrap_root = bwrap_ns.to_vec();
    bwrap_root.extend(["--ro-bind", "/", "/"]);
    let mut bwrap_uts = bwrap_root.clone();
    bwrap_uts.push("--unshare-uts");
    let cmd = ["sh", "-c", "hostname; uname -n"];
    let (longest, too_long) = ("h".repeat(64), "h".repeat(65));
    for name in ["elsewhere", "a b/c", "", &longest, &too_long] {
        let options = ["--hostname", name];
        let [bwrap, run] = with_bwrap(bin, unprivileged, [&bwrap_uts, run_ns], &options, &cmd);
        let refused = name.len() > 64;
        let shown = match refused {
            true => String::new(),
            false => format!("{name}\n{name}\n"),
        };
        assert_eq!(
            (&bwrap.0, bwrap.1),
            (&shown, i32::from(refused)),
            "{bwrap:?}"
        );
        assert_eq!(
            (&run.0, run.1),
            (&bwrap.0, bwrap.1),
            "--hostname {name:?}: vs bwrap"
        );
        for (tool, err) in [("bwrap", &bwrap.2), ("rawclone run", &run.2)] {
            let lines = usize::from(refused);
            assert_eq!(
                err.lines().count(),
                lines,
                "{tool} --hostname {name:?}: {err}"
            );
        }
    }
    let options = ["--hostname", "elsewhere"];
    let cmd = ["hostname"];
    let [bwrap, run] = with_bwrap(bin, unprivileged, [&bwrap_root, run_ns], &options, &cmd);
    let refusal = "bwrap: Specifying --hostname requires --unshare-uts\n";
    assert_eq!(
        (bwrap.1, bwrap.2.as_str()),
        (1, refusal),
        "bwrap --hostname alone"
    );
    assert_eq!(
        (run.0.as_str(), run.1),
        ("elsewhere\n", 0),
        "run --hostname alone"
    );
    assert_eq!(ours(), before, "our own host name");
}

/// `--die-with-parent` through both tools: SIGKILL the tool, and its program (`sleep 30`) ends
/// too. Without the option bwrap leaves the program running (seen for half a second, then
/// killed), where run kills it all the same: its program always gets SIGKILL when run dies.
fn compare_die_with_parent_with_bwrap(bin: Bin, unprivileged: bool) {
    let Some([bwrap_ns, run_ns]) = bwrap_or_skip(unprivileged) else {
        return;
    };
    let run = bin();
    for dying in [true, false] {
        let mut options = vec!["--ro-bind", "/", "/"];
        if dying {
            options.push("--die-with-parent");
        }
        let bwrap_line = [bwrap_ns, &options].concat();
        let run_line = [&["run"], run_ns, &options].concat();
        for (tool, line, ends) in [("bwrap", bwrap_line, dying), (run, run_line, true)] {
            // Only an ending is waited for: a program that goes on is seen going on at once.
            let limit = if ends {
                PATIENCE
            } else {
                Duration::from_millis(500)
            };
            let ended = program_ends_with(unprivileged, tool, &line, limit);
            assert_eq!(ended, ends, "{tool} {line:?}: did the program end with it?");
        }
    }
}

fn sandbox_mount_errors_are_one_line(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    assert_refused(
        bin,
        &["run", "--bind", "/"],
        false,
        2,
        "--bind needs two values",
    );
    assert_refused(
        bin,
        &["run", "--bind=/", "/x", "true"],
        false,
        2,
        "--bind takes two values",
    );
    assert_refused(bin, &["run", "--tmpfs"], false, 2, "--tmpfs needs a value");
    assert_refused(
        bin,
        &["run", "--setenv", "A=B", "x", "true"],
        false,
        2,
        "--setenv: 'A=B' is not a variable name",
    );
    assert_refused(
        bin,
        &["run", "--unsetenv", "", "true"],
        false,
        2,
        "'' is not a variable",
    );
    assert_refused(
        bin,
        &["run", "--die-with-parent=1", "true"],
        false,
        2,
        "--die-with-parent takes no value",
    );
    // The kernel's answer, naming the source, in bwrap's words; as bwrap, exit status 1.
    assert_refused(
        bin,
        &[
            "run",
            "-r",
            "--tmpfs",
            "/tmp",
            "--ro-bind",
            "/nonexistent-rawclone",
            "/x",
            "true",
        ],
        true,
        1,
        "Can't find source path /nonexistent-rawclone: ENOENT",
    );
    if let Some(reason) = bwrap_skip_reason(false, &[]) {
        return skip(&format!("the bwrap half: {reason}"));
    }
    let theirs = output(
        false,
        "bwrap",
        &["--ro-bind", "/nonexistent-rawclone", "/x", "true"],
    );
    let err = String::from_utf8_lossy(&theirs.stderr);
    assert_eq!(theirs.status.code(), Some(1), "{theirs:?}");
    assert_eq!(err.lines().count(), 1, "bwrap: one line, got {err:?}");
}

/// `--chdir` through both tools: the directory the program starts in, also one made by a mount
/// before it; a directory that is missing (or, as nobody, closed) is one line and exit 1.
fn compare_chdir_with_bwrap(bin: Bin, unprivileged: bool) {
    let Some(namespaces) = bwrap_or_skip(unprivileged) else {
        return;
    };
    for (dir, shown) in [("/etc", "/etc\n"), ("/tmp", "/tmp\n"), ("/", "/\n")] {
        let mut options = FULL_ROOT.to_vec();
        options.extend(["--chdir", dir]);
        let cmd = ["sh", "-c", "pwd -P; touch here && ls"];
        let [bwrap, run] = with_bwrap(bin, unprivileged, namespaces, &options, &cmd);
        assert_eq!(run, bwrap, "--chdir {dir}: rawclone run vs bwrap");
        assert!(run.0.starts_with(shown), "--chdir {dir}: {run:?}");
    }
    // /root is closed to nobody, also as root of a user namespace (its owner is not mapped).
    let mut refused = vec![(
        "/nonexistent-rawclone",
        "ENOENT",
        "No such file or directory",
    )];
    if unprivileged {
        refused.push(("/root", "EACCES", "Permission denied"));
    }
    for (dir, errno, text) in refused {
        let mut options = FULL_ROOT.to_vec();
        options.extend(["--chdir", dir]);
        let [bwrap, run] = with_bwrap(bin, unprivileged, namespaces, &options, &["pwd"]);
        assert_eq!(
            bwrap,
            (
                String::new(),
                1,
                format!("bwrap: Can't chdir to {dir}: {text}\n")
            ),
            "bwrap --chdir {dir}"
        );
        let says = format!("rawclone run: can't chdir to {dir}: {errno} ({text})\n");
        assert_eq!(run, (String::new(), 1, says), "rawclone run --chdir {dir}");
    }
}

/// The five `Cap*` lines of `/proc/self/status` (`CapInh`, `CapPrm`, `CapEff`, `CapBnd`,
/// `CapAmb`), as numbers.
fn capability_sets(status: &str) -> [u64; 5] {
    let names = ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"];
    names.map(|name| {
        let line = status.lines().find_map(|l| l.strip_prefix(name));
        let line = line.unwrap_or_else(|| panic!("no {name} in {status:?}"));
        u64::from_str_radix(line.trim(), 16).unwrap()
    })
}

const CAP_NET_RAW: u64 = 1 << 13;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// The `--cap-drop` options of each comparison and the bits they drop.
const CAP_DROPS: [(&[&str], u64); 3] = [
    (&["--cap-drop", "CAP_NET_RAW"], CAP_NET_RAW),
    (
        &["--cap-drop", "CAP_NET_RAW", "--cap-drop", "CAP_SYS_ADMIN"],
        CAP_NET_RAW | CAP_SYS_ADMIN,
    ),
    (&["--cap-drop", "ALL"], u64::MAX),
];

/// The capability sets of `grep Cap /proc/self/status` under bwrap and rawclone run, with the
/// root bound read-only and `options` given to both (after their namespace options).
fn cap_sets_with_bwrap(
    bin: Bin,
    unprivileged: bool,
    namespaces: [&[&str]; 2],
    options: &[&str],
) -> [[u64; 5]; 2] {
    let mut all = vec!["--ro-bind", "/", "/"];
    all.extend(options);
    let cmd = ["grep", "^Cap", "/proc/self/status"];
    with_bwrap(bin, unprivileged, namespaces, &all, &cmd).map(|(out, code, err)| {
        assert_eq!(code, 0, "{options:?}: {err}");
        capability_sets(&out)
    })
}

fn cap_drop_same_as_bwrap_as_root(bin: Bin) {
    as_root(|| {
        if let Some(reason) = bwrap_skip_reason(false, &[]) {
            return skip(&reason);
        }
        let ours = capability_sets(&std::fs::read_to_string("/proc/self/status").unwrap());
        for (drop, bits) in CAP_DROPS {
            let [bwrap, run] = cap_sets_with_bwrap(bin, false, [&[], &[]], drop);
            let [inh, prm, eff, bnd, amb] = run;
            // Permitted and effective: ours without the dropped ones, in both tools.
            assert_eq!([prm, eff], [ours[1] & !bits; 2], "{drop:?}: rawclone run");
            assert_eq!([bwrap[1], bwrap[2]], [prm, eff], "{drop:?}: vs bwrap");
            // rawclone drops from the bounding set too, and leaves inheritable and ambient as
            // they were, less the dropped ones. bwrap as root without a user namespace keeps the
            // bounding set (it drops from it only with --unshare-user), and raises inheritable
            // and ambient to all it keeps (as bwrap 0.8 does).
            assert_eq!(
                bnd,
                ours[3] & !bits,
                "{drop:?}: rawclone run's bounding set"
            );
            assert_eq!([inh, amb], [ours[0] & !bits, ours[4] & !bits], "{drop:?}");
            assert_eq!(bwrap[3], ours[3], "{drop:?}: bwrap keeps the bounding set");
            assert_eq!(
                [bwrap[0], bwrap[4]],
                [eff; 2],
                "{drop:?}: bwrap's inh and amb"
            );
        }
        // With a user namespace mapped to root inside: as nobody's comparison, but bwrap keeps
        // what root holds.
        let namespaces = bwrap_namespaces(true);
        if let Some(reason) = bwrap_skip_reason(false, namespaces[0]) {
            return skip(&format!("with a user namespace: {reason}"));
        }
        compare_cap_drop_in_a_user_namespace(bin, false, namespaces);
    });
}

fn cap_drop_same_as_bwrap_unprivileged(bin: Bin) {
    let Some(namespaces) = bwrap_or_skip(true) else {
        return;
    };
    compare_cap_drop_in_a_user_namespace(bin, true, namespaces);
}

/// `--cap-drop` with a user namespace mapped to root inside (`namespaces`: bwrap's
/// `--unshare-user --uid 0 --gid 0`, run's `-r`), as root or as nobody: every `Cap` line of
/// each tool, the same as bwrap's where the two agree by design, and each difference named.
fn compare_cap_drop_in_a_user_namespace(bin: Bin, unprivileged: bool, namespaces: [&[&str]; 2]) {
    // Every capability this kernel knows: what a new user namespace's root has.
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
    let full = u64::MAX >> (63 - last.trim().parse::<u32>().unwrap());
    // What bwrap keeps there unless told otherwise: as root, what we hold out here (our
    // effective set, which may lack some, as in a container); as nobody, nothing.
    let ours = capability_sets(&std::fs::read_to_string("/proc/self/status").unwrap());
    let bwrap_keeps = if unprivileged { 0 } else { ours[2] };
    // run, in a sandbox, keeps as bwrap does nothing for nobody, and for root the full set the
    // kernel gives a new user namespace.
    let run_keeps = if unprivileged { 0 } else { full };
    let mut add_all = namespaces[0].to_vec();
    add_all.extend(["--cap-add", "ALL"]);
    let mut run_add_all = namespaces[1].to_vec();
    run_add_all.extend(["--cap-add", "ALL"]);
    for (drop, bits) in CAP_DROPS {
        let kept = full & !bits;
        // What run keeps, less the dropped ones, is in the permitted, effective and bounding
        // sets; the kernel empties inheritable and ambient in a new user namespace, and run
        // adds nothing.
        let [bwrap, run] = cap_sets_with_bwrap(bin, unprivileged, namespaces, drop);
        let run_kept = kept & run_keeps;
        assert_eq!(
            run,
            [0, run_kept, run_kept, run_kept, 0],
            "{drop:?}: rawclone run"
        );
        // With --cap-add ALL (before the drop) both keep all but the dropped ones in their
        // permitted, effective and bounding sets; bwrap also raises inheritable and ambient to
        // them (run leaves them empty).
        let [all, run_all] = cap_sets_with_bwrap(bin, unprivileged, [&add_all, &run_add_all], drop);
        assert_eq!(all, [kept; 5], "{drop:?}: bwrap --cap-add ALL");
        assert_eq!(
            run_all,
            [0, kept, kept, kept, 0],
            "{drop:?}: run --cap-add ALL"
        );
        // Without --cap-add, bwrap keeps only what it keeps by default, in all five sets.
        assert_eq!(bwrap, [kept & bwrap_keeps; 5], "{drop:?}: bwrap");
    }
}

fn cap_drop_refusals_are_one_line(bin: Bin) {
    if let Some(reason) = skip_reason(false) {
        return skip(reason);
    }
    // A name rawclone does not know is a usage error (bwrap says "unknown cap: …", exit 1);
    // it takes the name with or without CAP_, in any case (bwrap only CAP_NET_RAW's spelling).
    for name in ["CAP_FLYING", "", "CAP_", "ALLX"] {
        let says = format!("--cap-drop: unknown capability '{name}'");
        assert_refused(bin, &["run", "--cap-drop", name, "true"], false, 2, &says);
    }
    assert_refused(
        bin,
        &["run", "--cap-drop"],
        false,
        2,
        "--cap-drop needs a value",
    );
    for name in ["net_raw", "Cap_Net_Raw", "all"] {
        let out = output(false, bin(), &["run", "-U", "--cap-drop", name, "true"]);
        assert_eq!(out.status.code(), Some(0), "--cap-drop {name}: {out:?}");
    }
    // Without a user namespace, nobody may not drop from the bounding set (CAP_SETPCAP): the
    // step and the kernel's EPERM, after the child is reaped.
    assert_refused(
        bin,
        &["run", "--cap-drop", "CAP_NET_RAW", "true"],
        true,
        1,
        "dropping capabilities (bounding set, ambient, capset): EPERM",
    );
}
