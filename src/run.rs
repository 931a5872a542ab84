//! `rawclone run`: run a program in new namespaces, spelled like util-linux `unshare` where the
//! two overlap, and waiting for the program like `unshare --fork` does; sandbox mounts are
//! spelled like bubblewrap's (`bwrap(1)`): `--bind`, `--ro-bind`, `--tmpfs`, `--dev`, `--proc`,
//! and as with bwrap, any of them makes the root an empty tmpfs they are made in (unless
//! `--root` names one); so are `--setenv` and `--unsetenv` (the `env` module), `--chdir` (the
//! program's working directory, changed to after the mounts) and `--cap-drop` (capabilities
//! taken from every set of the program's, see [`USAGE`]). The program is a
//! [`crate::program::Program`] exec'd in the namespaces.
//!
//! This is the whole command, without allocation, so that the std `rawclone` binary and a
//! static program without libc (which starts in a fraction of the time) share it. It takes the
//! arguments after `run` and the environment for the program, and returns the exit status.
//!
//! The program's stdio is the command's own; `run` exits with the program's status, or 128 plus
//! the signal that killed it, and the program gets SIGKILL if `run` dies first
//! (`PR_SET_PDEATHSIG`). Bad input is one line on stderr and a non-zero exit, before any child
//! exists or with the child reaped: 2 for a usage error, 127 when the program is not found,
//! 126 when it cannot be executed, 1 for anything the kernel refuses (a setup step before the
//! exec too, such as the `chdir` of `--chdir`, as bwrap exits 1).

// There is no allocator to box a failure into: its line travels by value, on the stack.
#![allow(clippy::result_large_err)]

mod env;
mod room;

use crate::error::{Error, ExitStatus, SetupStep};
use crate::flags::CloneFlags;
use crate::line::Line;
use crate::ns::{IdRange, Mount, MountPart, Namespaces};
use crate::program::{Capabilities, Program};
use crate::signal::Signal;
use crate::sys;
use core::ffi::CStr;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};
use linux_raw_sys::general as k;
use syscalls::Errno;

/// What `run --help` prints.
pub const USAGE: &str = "usage: rawclone run [options] [--] PROGRAM [ARGS...]

  -U, --user              new user namespace
  -r, --map-root-user     map root inside to your uid and gid (implies --user)
      --map-user UID      map UID inside to your uid (implies --user)
      --map-group GID     map GID inside to your gid (implies --user)
      --map-users INNER:OUTER:COUNT
                          map COUNT uids from OUTER outside to INNER inside (implies
                          --user); OUTER,INNER,COUNT as before util-linux 2.39 too.
                          Give it again for more ranges; with -r or --map-user, that
                          line comes first and a range loses the id it overlaps, as
                          with unshare. Needs CAP_SETUID over this namespace: rawclone
                          writes the map itself, without newuidmap (so no auto,
                          subids or all from /etc/subuid)
      --map-groups INNER:OUTER:COUNT
                          the same for gids (needs CAP_SETGID)
  -p, --pid               new pid namespace (PROGRAM is its pid 1)
  -f, --fork              accepted for unshare compatibility: run always forks
  -m, --mount             new mount namespace, propagation made private
      --mount-proc        mount a fresh /proc (implies --mount)
  -n, --net               new network namespace (only lo, down)
  -u, --uts               new UTS namespace
      --hostname NAME     set the host name inside (implies --uts)
  -i, --ipc               new IPC namespace
  -C, --cgroup            new cgroup namespace
  -T, --time              new time namespace (needs clone3)
  -R, --root DIR          pivot_root into DIR (implies --mount)
      --kill-child        accepted for unshare compatibility: the program always gets
                          SIGKILL if run dies; a SIGTERM sent to run is passed on to it

Sandbox mounts, as with bwrap (each implies --mount; the first makes the root an empty
tmpfs, or they go inside the --root DIR; made in the order given):
      --bind SRC DST      bind SRC on DST, nosuid and nodev
      --ro-bind SRC DST   the same, read-only (submounts too)
      --tmpfs DST         a fresh tmpfs on DST
      --dev DST           a minimal /dev on DST (null, zero, full, random, urandom,
                          tty, a new devpts at pts, shm; console if stdout is a terminal)
      --proc DST          a /proc on DST: fresh with --pid, else the current one bound
      --die-with-parent   accepted for bwrap compatibility: as --kill-child
      --setenv VAR VALUE  set VAR to VALUE in the program's environment
      --unsetenv VAR      remove VAR from it (both applied in the order given)
      --new-session       start the program in a session of its own (setsid), away
                          from your terminal (run passes Ctrl-C on to it): without it,
                          a sandbox's program stays in your session and a seccomp
                          filter refuses it TIOCSTI and TIOCLINUX, the ioctls that
                          type into a terminal
      --chdir DIR         start the program in DIR, after the mounts (a relative DIR
                          from / under a new root, where bwrap starts from the current
                          directory)
      --cap-add CAP       in a sandbox, let the program keep CAP (CAP_SYS_ADMIN,
                          SYS_ADMIN, any case; ALL for every one); give it again for
                          more. It survives the exec for a program that is uid 0 in
                          its namespace (-r, or root without -U)
      --cap-drop CAP      drop CAP from all the program's sets: bounding, permitted,
                          effective, inheritable and ambient. --cap-add and --cap-drop
                          count in the order given, as with bwrap

bwrap's spellings, with bwrap's meaning (invoked by a link named bwrap, rawclone is this
command and speaks as bwrap; with unshare's spellings it is unshare, without a sandbox):
      --unshare-user, --unshare-user-try, --unshare-ipc, --unshare-pid, --unshare-net,
      --unshare-uts, --unshare-cgroup, --unshare-cgroup-try
                          as -U, -i, -p, -n, -u, -C, but a sandbox, and the user namespace
                          maps your own ids to themselves where -U maps none
      --unshare-all       all of them (user and cgroup where the kernel has them)
      --share-net         keep the network namespace after all
      --uid UID, --gid GID
                          your uid or gid inside is UID, GID (needs a user namespace)
      --dev-bind SRC DST  as --bind, devices usable (nosuid only)
      --bind-try, --ro-bind-try, --dev-bind-try SRC DST
                          the same, left out when SRC is missing
      --dir DST           a directory (its parents take the part of 0755 its mode gives)
      --symlink SRC DST   a symbolic link DST to SRC (one with that text there is fine)
      --chmod OCTAL PATH  change PATH's mode
      --file FD DST       a file DST with what FD holds (mode 0666)
      --bind-data FD DST, --ro-bind-data FD DST
                          a file with what FD holds bound on DST (mode 0600)
      --bind-fd FD DST, --ro-bind-fd FD DST
                          bind what FD refers to (a directory you opened) on DST
      --perms OCTAL       the mode of the next --tmpfs, --dir, --file or --*bind-data
      --size BYTES        the size of the next --tmpfs
      --clearenv          start from an empty environment (PWD is set, as with bwrap)
      --argv0 VALUE       the program's argv[0]
      --as-pid-1          accepted (needs --unshare-pid): the program is pid 1 already
      --lock-file PATH    run holds a read lock on PATH while the program runs (PATH is
                          opened by run, in your tree, where bwrap opens it in the sandbox)
      --level-prefix      messages begin with their syslog level, <3> or <4>
      --version           print the version

Which wins where they collide: none do by name; by meaning, bwrap's spellings bring bwrap's
sandbox (an empty root even with nothing to mount, a user namespace made for a user) and
unshare's bring unshare's (only what is named), so a command line of either tool means here
what it means there. In a sandbox the program starts in your working directory if the
sandbox has it (else at the new root; PWD names your directory all the same).

A sandbox (a sandbox option, or --root) holds against its program, as bwrap's does: the
program has no capability but those of --cap-add (as root: all of root's but those of
--cap-drop), and no_new_privs is set, so no set-user-ID program or file capability gives one
back. Without -p, what the program leaves running when it ends is killed with it. With a user namespace (-U, -r) the mounts are
locked once made (a nested user and mount namespace, mapping only your own ids): even with
--cap-add ALL the program cannot make a read-only bind writable, clear nosuid or nodev, or
unmount a cover. Without a sandbox run changes no capability, as unshare: with -U or -r the
program has the full set inside its user namespace, as root it keeps root's. Dropping from
the bounding set needs CAP_SETPCAP: as a user without -U --cap-drop fails (EPERM)
";

/// What the command line asked for; strings borrow the arguments, lists the room
/// ([`room::Room`]) the command line sized.
struct Options<'a, 'r> {
    /// The namespaces named one by one (`-U`, `--pid`, …).
    flags: CloneFlags,
    /// The uid inside for our own (`--map-user`, or 0 from `-r`): the last one given wins.
    map_user: Option<u32>,
    /// The gid inside for our own (`--map-group`, or 0 from `-r`).
    map_group: Option<u32>,
    map_users: Ranges,
    map_groups: Ranges,
    mount_proc: bool,
    hostname: Option<&'a str>,
    root: Option<&'a CStr>,
    mounts: MountList<'a, 'r>,
    env: env::Changes<'a, 'r>,
    /// `--chdir`.
    cwd: Option<&'a CStr>,
    /// Every `--cap-drop`, less what a later `--cap-add` gave back.
    cap_drop: Capabilities,
    /// Every `--cap-add`, less what a later `--cap-drop` took: what a sandbox's program keeps.
    cap_add: Capabilities,
    /// `--new-session`.
    new_session: bool,
    /// A bwrap spelling (`--unshare-user`, `--uid`, ...) asked for the user namespace: the
    /// caller's own ids are then mapped by default, as bwrap maps them, where unshare's `-U`
    /// maps none.
    own_ids: bool,
    /// A bwrap spelling of a namespace (`--unshare-*`): as a user, a user namespace comes with
    /// it, as with bwrap.
    bwrap_namespaces: bool,
    /// `--clearenv`.
    clear_env: bool,
    /// `--argv0`.
    argv0: Option<&'a CStr>,
    /// `--die-with-parent`.
    die_with_parent: bool,
    /// Every `--lock-file`, locked by `run` while the program runs.
    lock_files: PathList<'a, 'r>,
    /// A sandbox mount option was given (even one that left nothing to mount).
    sandbox: bool,
    /// `--as-pid-1`.
    as_pid_1: bool,
    /// `--perms` and `--size`, waiting for the action they modify.
    perms: Option<u32>,
    size: Option<usize>,
    program: &'a [&'a CStr],
}

/// The options that each ask for one namespace: long name, short letter, flag.
const NAMESPACES: [(&str, u8, CloneFlags); 8] = [
    ("user", b'U', CloneFlags::NEWUSER),
    ("pid", b'p', CloneFlags::NEWPID),
    ("mount", b'm', CloneFlags::NEWNS),
    ("net", b'n', CloneFlags::NEWNET),
    ("uts", b'u', CloneFlags::NEWUTS),
    ("ipc", b'i', CloneFlags::NEWIPC),
    ("cgroup", b'C', CloneFlags::NEWCGROUP),
    ("time", b'T', CloneFlags::NEWTIME),
];

/// The long options besides [`NAMESPACES`], and how many values each takes.
const LONG: [(&str, u8); 57] = [
    ("help", 0),
    ("map-root-user", 0),
    ("map-user", 1),
    ("map-group", 1),
    ("map-users", 1),
    ("map-groups", 1),
    ("fork", 0),
    ("kill-child", 0),
    ("mount-proc", 0),
    ("hostname", 1),
    ("root", 1),
    ("setgroups", 1),
    ("propagation", 1),
    ("bind", 2),
    ("ro-bind", 2),
    ("tmpfs", 1),
    ("dev", 1),
    ("proc", 1),
    ("die-with-parent", 0),
    ("setenv", 2),
    ("unsetenv", 1),
    ("chdir", 1),
    ("cap-drop", 1),
    ("cap-add", 1),
    ("new-session", 0),
    // bwrap's spellings of the namespaces, and its options around them.
    ("unshare-user", 0),
    ("unshare-user-try", 0),
    ("unshare-ipc", 0),
    ("unshare-pid", 0),
    ("unshare-net", 0),
    ("unshare-uts", 0),
    ("unshare-cgroup", 0),
    ("unshare-cgroup-try", 0),
    ("unshare-all", 0),
    ("share-net", 0),
    ("uid", 1),
    ("gid", 1),
    ("dev-bind", 2),
    ("bind-try", 2),
    ("ro-bind-try", 2),
    ("dev-bind-try", 2),
    ("clearenv", 0),
    ("argv0", 1),
    ("as-pid-1", 0),
    ("level-prefix", 0),
    ("lock-file", 1),
    ("perms", 1),
    ("size", 1),
    ("version", 0),
    ("dir", 1),
    ("symlink", 2),
    ("chmod", 2),
    ("file", 2),
    ("bind-data", 2),
    ("ro-bind-data", 2),
    ("bind-fd", 2),
    ("ro-bind-fd", 2),
];

/// Most ranges one of `--map-users` and `--map-groups` takes (given that many times).
const MAX_RANGES: usize = 32;

/// Most lines of a map: each range split in three around the single line of `-r` or
/// `--map-user`, and that line.
const MAX_LINES: usize = 1 + 3 * MAX_RANGES;

/// Lines of an id map, at most `N`, on the stack.
#[derive(Clone, Copy)]
struct IdLines<const N: usize> {
    list: [IdRange; N],
    len: usize,
}

/// The ranges of `--map-users` or `--map-groups`, in the order given.
type Ranges = IdLines<MAX_RANGES>;

impl<const N: usize> Default for IdLines<N> {
    fn default() -> IdLines<N> {
        let none = IdRange {
            inside: 0,
            outside: 0,
            count: 0,
        };
        IdLines {
            list: [none; N],
            len: 0,
        }
    }
}

impl<const N: usize> IdLines<N> {
    /// Append a line; `false` if all `N` are taken.
    fn push(&mut self, line: IdRange) -> bool {
        let Some(slot) = self.list.get_mut(self.len) else {
            return false;
        };
        *slot = line;
        self.len += 1;
        true
    }

    fn as_slice(&self) -> &[IdRange] {
        &self.list[..self.len]
    }
}

impl IdLines<MAX_LINES> {
    /// The lines util-linux `unshare` writes for `ranges` together with `single` (`(inside,
    /// outside)`, from `-r` or `--map-user`): that line first, then each range in the order
    /// given. A range that `single` overlaps on either side (counting the id just past its
    /// end, as util-linux does) gives up its topmost id and is split around the single id on
    /// both sides, so that no two lines collide: `0:100000:65536` with `-r` as uid 1000 is
    /// `0 1000 1`, `1 100000 65535`.
    fn new(ranges: &[IdRange], single: Option<(u32, u32)>) -> IdLines<MAX_LINES> {
        let mut lines = IdLines::default();
        let Some((inside, outside)) = single else {
            for &range in ranges {
                lines.push(range);
            }
            return lines;
        };
        lines.push(IdRange {
            inside,
            outside,
            count: 1,
        });
        let within =
            |id: u32, first: u32, count: u32| id >= first && id <= first.wrapping_add(count);
        for r in ranges {
            let mut count = r.count;
            if within(outside, r.outside, r.count) || within(inside, r.inside, r.count) {
                count -= 1; // a range has at least one id: parse() refuses COUNT 0
            }
            // How many ids of the range lie below the single id, on each side.
            let below_outside = outside.saturating_sub(r.outside).min(count);
            let below_inside = inside.saturating_sub(r.inside).min(count);
            // Up to the first of the two; from there to the second; the rest. Each part starts
            // one further on the side where it would begin on the single id.
            let skip = |at: u32, id: u32| if at == id { at.wrapping_add(1) } else { at };
            let low = IdRange {
                inside: r.inside,
                outside: r.outside,
                count: below_inside.min(below_outside),
            };
            let middle = IdRange {
                inside: skip(low.inside.wrapping_add(low.count), inside),
                outside: skip(low.outside.wrapping_add(low.count), outside),
                count: below_inside.abs_diff(below_outside),
            };
            let high = IdRange {
                inside: skip(middle.inside.wrapping_add(middle.count), inside),
                outside: skip(middle.outside.wrapping_add(middle.count), outside),
                count: count - low.count - middle.count,
            };
            for part in [low, middle, high] {
                if part.count > 0 {
                    lines.push(part);
                }
            }
        }
        lines
    }
}

/// A one-line failure and the exit status it ends the command with.
struct Failure {
    line: Line,
    code: u8,
}

/// `Err(Failure)` with exit status `code` and the formatted text.
macro_rules! fail {
    ($code:expr, $($arg:tt)*) => {{
        let mut line = Line::new();
        let _ = write!(line, $($arg)*);
        Err(Failure { line, code: $code })
    }};
}

impl<'a, 'r> Options<'a, 'r> {
    /// Nothing asked for yet; mount and environment lists with room for one per argument.
    fn new(room: &'r room::Room, args: usize) -> Result<Options<'a, 'r>, Failure> {
        let (Some(mounts), Some(changes), Some(locks)) = (
            room.take(args, Mount::Proc { dst: c"" }),
            room.take(args, env::Change::Unset(c"")),
            room.take(args, c""),
        ) else {
            return fail!(1, "no room for {args} arguments' options");
        };
        Ok(Options {
            flags: CloneFlags::EMPTY,
            map_user: None,
            map_group: None,
            map_users: Ranges::default(),
            map_groups: Ranges::default(),
            mount_proc: false,
            hostname: None,
            root: None,
            mounts: MountList {
                list: mounts,
                len: 0,
            },
            env: env::Changes::new(changes),
            cwd: None,
            cap_drop: Capabilities::EMPTY,
            cap_add: Capabilities::EMPTY,
            new_session: false,
            own_ids: false,
            bwrap_namespaces: false,
            clear_env: false,
            argv0: None,
            die_with_parent: false,
            lock_files: PathList {
                list: locks,
                len: 0,
            },
            sandbox: false,
            as_pid_1: false,
            perms: None,
            size: None,
            program: &[],
        })
    }
}

/// The sandbox mounts, in the order given, in `list` (as long as the most a command line can
/// give).
struct MountList<'a, 'r> {
    list: &'r mut [Mount<'a>],
    len: usize,
}

impl<'a> MountList<'a, '_> {
    /// Append `mount`, or fail if all are taken (the room was sized for the command line).
    fn push(&mut self, mount: Mount<'a>) -> Result<(), Failure> {
        let Some(slot) = self.list.get_mut(self.len) else {
            return fail!(2, "more mount options than arguments");
        };
        *slot = mount;
        self.len += 1;
        Ok(())
    }

    fn as_slice(&self) -> &[Mount<'a>] {
        &self.list[..self.len]
    }
}

/// Paths in the order given, in `list` (as long as the most a command line can give).
struct PathList<'a, 'r> {
    list: &'r mut [&'a CStr],
    len: usize,
}

impl<'a> PathList<'a, '_> {
    fn push(&mut self, path: &'a CStr) -> Result<(), Failure> {
        let Some(slot) = self.list.get_mut(self.len) else {
            return fail!(2, "more paths than arguments");
        };
        *slot = path;
        self.len += 1;
        Ok(())
    }

    fn as_slice(&self) -> &[&'a CStr] {
        &self.list[..self.len]
    }
}

/// Run the command: `args` are the arguments after `run`, `envp` the program's environment.
/// Returns the exit status for the process that runs the command.
///
/// ```
/// // A sandbox with the host's / read-only and a tmpfs on /tmp, as bwrap would make it.
/// let args = [c"--ro-bind", c"/", c"/", c"--tmpfs", c"/tmp", c"--", c"/bin/sh", c"-c",
///     c"touch /tmp/ok && ! touch /etc/rawclone-no 2>/dev/null"];
/// assert_eq!(rawclone::run::main(&args, &[]), 0);
/// ```
pub fn main(args: &[&CStr], envp: &[&CStr]) -> u8 {
    match run(args, envp) {
        Ok(code) => code,
        Err(Failure { line, code }) => {
            say(b"<3>", line.as_bytes());
            code
        }
    }
}

/// The command as `bwrap`: what the `rawclone` binary runs when it is invoked by that name
/// (a link named `bwrap`), so that it can stand in for bubblewrap. It is [`main`], but it
/// speaks as bwrap does: its messages begin `bwrap: `, its `--help` with `usage: ARGV0`.
/// `argv0` is the name it was invoked by, `args` the arguments after it.
///
/// ```
/// let args = [c"--ro-bind", c"/", c"/", c"/bin/true"];
/// assert_eq!(rawclone::run::bwrap_main(c"bwrap", &args, &[]), 0);
/// ```
pub fn bwrap_main(argv0: &CStr, args: &[&CStr], envp: &[&CStr]) -> u8 {
    BWRAP_ARGV0.store(argv0.as_ptr().cast_mut().cast(), Ordering::Relaxed);
    main(args, envp)
}

/// The name `run` was invoked by when it speaks as bwrap ([`bwrap_main`]); null as `rawclone
/// run`.
static BWRAP_ARGV0: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// `--level-prefix`: each message starts with its syslog level (`<3>` an error, `<4>` a
/// warning), as bwrap's do.
static LEVEL_PREFIX: AtomicBool = AtomicBool::new(false);

/// The name `run` speaks as, when it is bwrap.
fn bwrap_name() -> Option<&'static CStr> {
    let argv0 = BWRAP_ARGV0.load(Ordering::Relaxed);
    // SAFETY: set only by `bwrap_main` from a C string of the process's arguments, which live
    // as long as the process.
    (!argv0.is_null()).then(|| unsafe { CStr::from_ptr(argv0.cast()) })
}

/// Write one message line to stderr: the level (with `--level-prefix`), who says it, `text`.
fn say(level: &[u8], text: &[u8]) {
    let mut line = Line::new();
    if LEVEL_PREFIX.load(Ordering::Relaxed) {
        let _ = line.write_str(core::str::from_utf8(level).unwrap_or(""));
    }
    let who = match bwrap_name() {
        Some(_) => "bwrap: ",
        None => "rawclone run: ",
    };
    let _ = line.write_str(who);
    let _ = sys::write(sys::stderr(), line.as_bytes());
    let _ = sys::write(sys::stderr(), text);
    let _ = sys::write(sys::stderr(), b"\n");
}

/// `--help`: [`USAGE`], its first line naming the command as it was invoked.
fn usage() {
    let rest = USAGE.split_once('\n').map_or("", |(_, rest)| rest);
    match bwrap_name() {
        Some(argv0) => {
            let _ = sys::write(sys::stdout(), b"usage: ");
            let _ = sys::write(sys::stdout(), argv0.to_bytes());
            let _ = sys::write(sys::stdout(), b" [options] [--] PROGRAM [ARGS...]\n");
        }
        None => {
            let first = USAGE.split_once('\n').map_or(USAGE, |(first, _)| first);
            let _ = sys::write(sys::stdout(), first.as_bytes());
            let _ = sys::write(sys::stdout(), b"\n");
        }
    }
    let _ = sys::write(sys::stdout(), rest.as_bytes());
}

fn run(args: &[&CStr], envp: &[&CStr]) -> Result<u8, Failure> {
    // Room for the most this command line can ask for: a mount action or an environment
    // change per argument at most, the changed environment's variables, and its new strings,
    // no longer than the arguments they come from.
    let n = args.len();
    let strings: usize = args.iter().map(|a| a.to_bytes().len() + 2).sum();
    let vars = envp.len() + n + 1;
    // Then the lock files, a copy of the program's arguments (for --argv0), its PWD and room
    // to add it to the environment.
    let bytes = n * (size_of::<Mount<'_>>() + size_of::<env::Change<'_>>())
        + vars * size_of::<&CStr>()
        + strings
        + 2 * core::mem::size_of_val(args)
        + 2 * PWD_ROOM
        + (vars + 1) * size_of::<&CStr>()
        + 8 * 16;
    let room = match room::Room::map(bytes) {
        Ok(room) => room,
        Err(e) => return fail!(1, "mmap of {bytes} bytes: {}", crate::error::Named(e)),
    };
    let Some(mut options) = parse(args, &room)? else {
        return Ok(0);
    };
    // As with bwrap: `run` dies with the process that started it, and so the program with it.
    if options.die_with_parent {
        let _ = sys::set_parent_death_signal(Signal::SIGKILL);
    }
    // Held by `run` (read locks, as bwrap takes them) until it exits: another process can tell
    // by them whether the sandbox still runs. The path is the caller's, where bwrap opens it
    // in the sandbox; they are the same file whenever the sandbox binds it.
    for &path in options.lock_files.as_slice() {
        let flags = k::O_RDONLY | k::O_NONBLOCK | k::O_NOCTTY;
        let locked = sys::open(path, flags).and_then(|file| {
            sys::read_lock(file.as_fd())?;
            // Left open until `run` exits: closing it would drop the lock.
            core::mem::forget(file);
            Ok(())
        });
        if let Err(e) = locked {
            let e = crate::error::Named(e);
            return fail!(1, "can't lock {}: {e}", Lossy(path));
        }
    }
    if let Some(dir) = options.root
        && sys::open(dir, k::O_DIRECTORY | k::O_PATH).is_err()
    {
        return fail!(1, "--root {}: not a directory", Lossy(dir));
    }
    // Like `unshare --fork`, live through Ctrl-C while the program runs: the terminal sends it
    // to the program too (same process group), which ends on its own terms, and `run` dying
    // would SIGKILL it (PR_SET_PDEATHSIG). A SIGTERM sent to `run` alone (a service manager's,
    // a `timeout`'s) is passed on to the program, which unshare swallows and bwrap answers by
    // dying. Caught, not ignored, from before the clone: a caught signal reverts to the default
    // in the exec'd program, an ignored one would not.
    // With --new-session the program is out of the terminal's process group, and Ctrl-C
    // reaches `run` alone: it is passed on too.
    let int = if options.new_session {
        pass_on
    } else {
        ignore_signal
    };
    // SAFETY: the handler does nothing, or what `pass_on` does: async-signal-safe.
    let _ = unsafe { sys::set_signal_handler(Signal::SIGINT, int) };
    // SAFETY: the handler makes one raw syscall, or stores to an atomic: async-signal-safe.
    let _ = unsafe { sys::set_signal_handler(Signal::SIGTERM, pass_on) };
    // A sandbox without a pid namespace of its own: what its program leaves behind when it ends
    // (a daemon that keeps the caller's terminal, say) would live on outside `run`. They come to
    // `run` as their subreaper, which ends them with the program (`end_the_rest`). With a pid
    // namespace the kernel does that when the program, its pid 1, ends.
    // bwrap's options bring bwrap's sandbox, even when they leave nothing to mount (a -try bind
    // of a missing source, an --unshare-* alone), and so does every run as bwrap: an empty new
    // root at least, and the program confined in it. unshare's alone bring none.
    let sandbox = options.sandbox
        || options.bwrap_namespaces
        || options.root.is_some()
        || bwrap_name().is_some();
    // As with bwrap: a user who asks for a sandbox gets a user namespace with it (the only way
    // to have the others without privilege), where the user's own ids stand for themselves
    // unless --uid and --gid say otherwise.
    let euid = sys::geteuid();
    if euid != 0 && sandbox {
        options.flags |= CloneFlags::NEWUSER;
        options.own_ids = true;
    }
    if options.own_ids && options.flags.contains(CloneFlags::NEWUSER) {
        if options.map_user.is_none() && options.map_users.len == 0 {
            options.map_user = Some(euid as u32);
        }
        if options.map_group.is_none() && options.map_groups.len == 0 {
            options.map_group = Some(sys::getegid() as u32);
        }
    }
    let end_rest = sandbox && !options.flags.contains(CloneFlags::NEWPID);
    if end_rest {
        let _ = sys::set_child_subreaper();
    }
    let mut ns = Namespaces::new()
        .flags(options.flags)
        .kill_on_parent_death(Signal::SIGKILL);
    // A sandbox's program keeps, as with bwrap, root's capabilities when we are root and none
    // otherwise, and then what --cap-add and --cap-drop say, in the order given.
    if options.cap_add != Capabilities::EMPTY || options.cap_drop != Capabilities::EMPTY {
        let base = match sys::geteuid() {
            0 => Capabilities::ALL,
            _ => Capabilities::EMPTY,
        };
        ns = ns.keep_capabilities(base.difference(options.cap_drop) | options.cap_add);
    }
    if options.mount_proc {
        ns = ns.mount_proc();
    }
    // As with unshare: ranges take the single line of -r/--map-user into the same map (written
    // by us, so it needs CAP_SETUID/CAP_SETGID), else that line alone is written, which needs
    // no privilege (for the gid map, after `deny` to setgroups).
    let own = (sys::geteuid() as u32, sys::getegid() as u32);
    let single = |inside: Option<u32>, outside| inside.map(|inside| (inside, outside));
    let users = IdLines::new(
        options.map_users.as_slice(),
        single(options.map_user, own.0),
    );
    let groups = IdLines::new(
        options.map_groups.as_slice(),
        single(options.map_group, own.1),
    );
    match (options.map_users.len, options.map_user) {
        (0, Some(uid)) => ns = ns.map_user(uid),
        (0, None) => {}
        _ => ns = ns.uid_ranges(users.as_slice()),
    }
    match (options.map_groups.len, options.map_group) {
        (0, Some(gid)) => ns = ns.map_group(gid),
        (0, None) => {}
        _ => ns = ns.gid_ranges(groups.as_slice()),
    }
    if let Some(name) = options.hostname {
        ns = ns.hostname(name);
    }
    if let Some(dir) = options.root {
        ns = ns.root(dir);
    }
    // As with bwrap, mounts make the root a tmpfs, unless --root names one to make them in.
    let mounts = options.mounts.as_slice();
    if sandbox && options.root.is_none() {
        ns = ns.tmpfs_root();
    }
    if !mounts.is_empty() {
        ns = ns.mounts(mounts);
    }
    // A name without a `/` is looked up in PATH by the child, inside its new root if any; an
    // empty one names no file (ENOENT, as with execvp), after the namespaces, as in unshare.
    let envp = if options.clear_env { &[][..] } else { envp };
    let envp = match options.env.is_empty() {
        true => envp,
        false => {
            let arena = room.take(strings, 0u8);
            let list = room.take(vars, c"");
            let changed = arena
                .zip(list)
                .map(|(arena, list)| options.env.apply(envp, arena, list));
            match changed {
                Some(Ok(changed)) => changed,
                // The room was sized for the most the command line can bring.
                _ => return fail!(2, "--setenv: the environment outgrows its room"),
            }
        }
    };
    // A sandbox's program starts in the caller's working directory where the sandbox has it
    // (else where the set-up leaves it, the new root), or in --chdir's, and its PWD says
    // which, as with bwrap.
    let cwd_buf = room.take(PWD_ROOM, 0u8);
    let old_cwd = match (sandbox, options.cwd, cwd_buf) {
        (true, None, Some(buf)) => pwd_of_cwd(buf),
        _ => None,
    };
    let pwd_buf = room.take(PWD_ROOM, 0u8);
    let pwd = match (options.cwd.or(old_cwd), pwd_buf) {
        (Some(dir), Some(buf)) if sandbox => pwd_var(dir, buf),
        _ => None,
    };
    let envp = match (pwd, room.take(envp.len() + 1, c"")) {
        (Some(pwd), Some(list)) => with_pwd(envp, pwd, list),
        _ => envp,
    };
    let program = options.program[0];
    // --argv0: the program's argv[0], in a copy of its arguments.
    let argv = match (options.argv0, room.take(options.program.len(), c"")) {
        (Some(argv0), Some(copy)) => {
            copy.copy_from_slice(options.program);
            copy[0] = argv0;
            &*copy
        }
        _ => options.program,
    };
    // A script without `#!` runs under /bin/sh, as with unshare and bwrap (glibc's execvp).
    let mut exec = Program::new(program)
        .argv(argv)
        .env_exactly(envp)
        .drop_capabilities(options.cap_drop)
        .run_scripts_with_sh();
    if let Some(dir) = options.cwd {
        exec = exec.current_dir(dir);
    } else if let Some(dir) = old_cwd {
        exec = exec.current_dir_if_present(dir);
    }
    if options.new_session {
        exec = exec.setsid();
    }
    let child = match ns.exec_program(&exec) {
        Ok(child) => child,
        Err(Error::Exec { errno, .. }) => {
            let code = if errno == Errno::ENOENT { 127 } else { 126 };
            // unshare's words, with the errno named.
            return fail!(
                code,
                "failed to execute {}: {}",
                Lossy(program),
                crate::error::Named(errno)
            );
        }
        Err(Error::ExecSetup {
            step: SetupStep::Chdir,
            errno,
        }) => {
            // bwrap's words ("Can't chdir to DIR: …"), with the errno named.
            let dir = Lossy(options.cwd.unwrap_or(c""));
            return fail!(1, "can't chdir to {dir}: {}", crate::error::Named(errno));
        }
        Err(Error::NamespaceSetup {
            step:
                SetupStep::Mount {
                    index,
                    part: MountPart::Source,
                },
            errno,
            ..
        }) => {
            // bwrap's words, with the errno named.
            let mount = options.mounts.as_slice().get(usize::from(index));
            let errno = crate::error::Named(errno);
            if let Some(Mount::BindFd { fd, .. }) = mount {
                return fail!(
                    1,
                    "Can't find the file of descriptor {}: {errno}",
                    fd.as_raw()
                );
            }
            let src = Lossy(mount.and_then(Mount::source).unwrap_or(c""));
            return fail!(1, "Can't find source path {src}: {errno}");
        }
        // Any other step (--cap-drop's, say) names itself and the errno.
        Err(other) => return fail!(1, "{other}"),
    };
    // From here a SIGTERM reaches the program, through a copy of its pidfd that stays open
    // until the handler can no longer see it (the wait closes the child's own), else by pid
    // (before Linux 5.2), which the wait reaps: a late signal may then miss, never hit another.
    let pidfd = child
        .pidfd()
        .and_then(|fd| sys::dup_at_least(fd.as_fd(), 3).ok());
    let target = pidfd.as_ref().map_or(-child.pid(), sys::Fd::as_raw);
    PROGRAM.store(target, Ordering::SeqCst);
    // What came while the program was being set up is passed on now.
    let pending = PENDING.swap(0, Ordering::SeqCst);
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        if pending & (1 << sig.number()) != 0 {
            pass_on(sig.number() as i32);
        }
    }
    let waited = child.wait();
    PROGRAM.store(0, Ordering::SeqCst);
    drop(pidfd);
    if end_rest {
        end_the_rest();
    }
    match waited {
        Ok(ExitStatus::Exited(code)) => Ok(code as u8),
        Ok(ExitStatus::Signaled { signal, .. }) => Ok(128 + signal.number() as u8),
        Err(e) => fail!(1, "{e}"),
    }
}

/// Bytes for the working directory and its `PWD=` variable: the most `getcwd(2)` gives.
const PWD_ROOM: usize = 4096 + 8;

/// The working directory, as a C string in `buf`.
fn pwd_of_cwd(buf: &mut [u8]) -> Option<&CStr> {
    let len = sys::getcwd(&mut buf[..4096]).ok()?.len();
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).ok()
}

/// `PWD=dir`, in `buf`.
fn pwd_var<'b>(dir: &CStr, buf: &'b mut [u8]) -> Option<&'b CStr> {
    let dir = dir.to_bytes();
    let text = buf.get_mut(..4 + dir.len() + 1)?;
    text[..4].copy_from_slice(b"PWD=");
    text[4..4 + dir.len()].copy_from_slice(dir);
    text[4 + dir.len()] = 0;
    CStr::from_bytes_with_nul(text).ok()
}

/// `envp` with `pwd` in place of its `PWD`, or after the rest, in `list` (one longer).
fn with_pwd<'e>(envp: &[&'e CStr], pwd: &'e CStr, list: &'e mut [&'e CStr]) -> &'e [&'e CStr] {
    let mut len = 0;
    for &var in envp.iter().filter(|v| !v.to_bytes().starts_with(b"PWD=")) {
        list[len] = var;
        len += 1;
    }
    list[len] = pwd;
    &list[..=len]
}

/// Kill (SIGKILL) and reap every process the program left behind, which came to `run`, its
/// subreaper: the ones `/proc/self/task/TID/children` lists, again as what they leave comes to
/// `run` in turn, until none is left. Without that file (no `/proc`, or a kernel without
/// `CONFIG_PROC_CHILDREN`) they are left alone.
fn end_the_rest() {
    let mut path = Line::new();
    let _ = write!(path, "/proc/self/task/{}/children\0", sys::gettid());
    let Ok(path) = CStr::from_bytes_with_nul(path.as_bytes()) else {
        return;
    };
    let mut buf = [0u8; 4096];
    loop {
        let read = sys::open(path, k::O_RDONLY).and_then(|file| sys::read(file.as_fd(), &mut buf));
        let Ok(n) = read else {
            return;
        };
        let pids = buf[..n].split(|&b| b == b' ' || b == b'\n');
        let mut killed = false;
        for pid in pids.filter_map(|p| core::str::from_utf8(p).ok()?.parse::<i32>().ok()) {
            killed |= sys::kill(pid, Signal::SIGKILL).is_ok();
        }
        // Reap one that ended (waiting for it if one was killed), then look again: its own
        // children are `run`'s now.
        let wait = if killed {
            k::WEXITED
        } else {
            k::WEXITED | k::WNOHANG
        };
        match sys::waitid(sys::WaitId::All, wait) {
            Ok(info) if info.pid != 0 => {}
            _ if killed => {}
            _ => return,
        }
    }
}

/// A handler that does nothing: the signal interrupts nothing but a restartable wait.
extern "C" fn ignore_signal(_: i32) {}

/// The program a SIGTERM is passed on to: its pidfd (positive), its pid (negated), or 0 for
/// none yet.
static PROGRAM: AtomicI32 = AtomicI32::new(0);

/// The signals (bit `n` for signal `n`) that came before [`PROGRAM`] was known: `run` passes
/// them on once it is.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// Pass signal `sig` on to [`PROGRAM`] (or leave it pending); the wait for it goes on
/// (restarted).
extern "C" fn pass_on(sig: i32) {
    let Some(signal) = Signal::new(sig as u32) else {
        return;
    };
    let _ = match PROGRAM.load(Ordering::SeqCst) {
        0 => {
            PENDING.fetch_or(1 << (sig as u32 % 64), Ordering::SeqCst);
            Ok(())
        }
        pidfd @ 1.. => {
            // SAFETY: `run` keeps this descriptor open while PROGRAM names it, and runs on this
            // one thread, so the handler sees it open; ManuallyDrop leaves it so.
            let fd = core::mem::ManuallyDrop::new(unsafe { sys::Fd::from_raw(pidfd) });
            sys::pidfd_send_signal(&fd, signal)
        }
        pid => sys::kill(-pid, signal),
    };
}

/// The long option `given` names, and how many values it takes: itself, or, as with
/// getopt_long, the one option it is a prefix of.
fn long_option(given: &str) -> Result<(&'static str, u8), Failure> {
    let all = || {
        let namespaces = NAMESPACES.iter().map(|&(name, _, _)| (name, 0));
        namespaces.chain(LONG.iter().copied())
    };
    if let Some(exact) = all().find(|(name, _)| *name == given) {
        return Ok(exact);
    }
    let mut matches = all().filter(|(name, _)| name.starts_with(given));
    match (matches.next(), matches.next()) {
        (Some(only), None) => Ok(only),
        (Some(_), Some(_)) => fail!(2, "option '--{given}' is ambiguous (try --help)"),
        _ => fail!(2, "unknown option '--{given}' (try --help)"),
    }
}

/// Parse the options; `None` for `--help`.
fn parse<'a, 'r>(
    args: &'a [&'a CStr],
    room: &'r room::Room,
) -> Result<Option<Options<'a, 'r>>, Failure> {
    let mut o = Options::new(room, args.len())?;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        let bytes = arg.to_bytes();
        i += 1;
        if bytes == b"--" {
            o.program = &args[i..];
            break;
        }
        if !bytes.starts_with(b"-") || bytes == b"-" {
            o.program = &args[i - 1..];
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            // The value of `--name=value` is the tail of the argument, still NUL-terminated.
            let (given, inline) = match long.iter().position(|&b| b == b'=') {
                Some(at) => (&long[..at], Some(tail(arg, 2 + at + 1))),
                None => (long, None),
            };
            let Ok(given) = core::str::from_utf8(given) else {
                return fail!(2, "unknown option '--{}' (try --help)", Lossy(arg));
            };
            let (name, values) = long_option(given)?;
            o.sandbox |= SANDBOX_OPTIONS.contains(&name);
            // --perms and --size modify the action that follows, as with bwrap.
            if o.perms.is_some() && !MODE_TAKERS.contains(&name) {
                return fail!(
                    2,
                    "--perms must be followed by an option that creates a file"
                );
            }
            if o.size.is_some() && !matches!(name, "tmpfs" | "perms") {
                return fail!(2, "--size must be followed by --tmpfs");
            }
            let value = match (values, inline) {
                (0, Some(_)) => return fail!(2, "--{name} takes no value"),
                (0, None) => c"",
                (1, Some(v)) => v,
                (_, Some(_)) => return fail!(2, "--{name} takes two values, not --{name}=…"),
                (_, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        v
                    }
                    None => return fail!(2, "--{name} needs a value"),
                },
            };
            // The second value of --bind and --ro-bind.
            let mut second = || match args.get(i) {
                Some(v) => {
                    i += 1;
                    Ok(*v)
                }
                None => fail!(2, "--{name} needs two values (SRC DST)"),
            };
            if let Some(&(_, _, flag)) = NAMESPACES.iter().find(|(n, _, _)| *n == name) {
                o.flags |= flag;
                continue;
            }
            match name {
                "help" => {
                    usage();
                    return Ok(None);
                }
                "version" => {
                    let text = concat!("rawclone run ", env!("CARGO_PKG_VERSION"), "\n");
                    let _ = sys::write(sys::stdout(), text.as_bytes());
                    return Ok(None);
                }
                "map-root-user" => (o.map_user, o.map_group) = (Some(0), Some(0)),
                "map-user" => o.map_user = Some(number(value, name)?),
                "map-group" => o.map_group = Some(number(value, name)?),
                "map-users" => add_range(&mut o.map_users, value, name)?,
                "map-groups" => add_range(&mut o.map_groups, value, name)?,
                "fork" | "kill-child" => {}
                "mount-proc" => o.mount_proc = true,
                "hostname" => o.hostname = Some(text(value, name)?),
                "root" => o.root = Some(value),
                "bind" => o.mounts.push(Mount::Bind {
                    src: value,
                    dst: second()?,
                })?,
                "ro-bind" => o.mounts.push(Mount::RoBind {
                    src: value,
                    dst: second()?,
                })?,
                "tmpfs" => o.mounts.push(Mount::Tmpfs {
                    dst: value,
                    mode: o.perms.take().unwrap_or(0o755),
                    size: o.size.take().unwrap_or(0),
                })?,
                "dev-bind" => o.mounts.push(Mount::DevBind {
                    src: value,
                    dst: second()?,
                })?,
                // The -try binds are left out when their source is missing, as with bwrap.
                "bind-try" | "ro-bind-try" | "dev-bind-try" => {
                    let (src, dst) = (value, second()?);
                    if sys::file_mode(src) != Err(Errno::ENOENT) {
                        o.mounts.push(match name {
                            "bind-try" => Mount::Bind { src, dst },
                            "ro-bind-try" => Mount::RoBind { src, dst },
                            _ => Mount::DevBind { src, dst },
                        })?;
                    }
                }
                "dir" => o.mounts.push(Mount::Dir {
                    dst: value,
                    mode: o.perms.take().unwrap_or(0o755),
                })?,
                "symlink" => o.mounts.push(Mount::Symlink {
                    target: value,
                    dst: second()?,
                })?,
                "chmod" => o.mounts.push(Mount::Chmod {
                    mode: octal(value, name)?,
                    dst: second()?,
                })?,
                "file" | "bind-data" | "ro-bind-data" => {
                    let fd = descriptor(value, name)?;
                    let dst = second()?;
                    o.mounts.push(match name {
                        "file" => Mount::File {
                            fd,
                            dst,
                            mode: o.perms.take().unwrap_or(0o666),
                        },
                        _ => Mount::BindData {
                            fd,
                            dst,
                            mode: o.perms.take().unwrap_or(0o600),
                            readonly: name == "ro-bind-data",
                        },
                    })?;
                }
                "bind-fd" | "ro-bind-fd" => o.mounts.push(Mount::BindFd {
                    fd: descriptor(value, name)?,
                    dst: second()?,
                    readonly: name == "ro-bind-fd",
                })?,
                "perms" => {
                    if o.perms.is_some() {
                        return fail!(2, "--perms is given twice for the same action");
                    }
                    o.perms = Some(octal(value, name)?);
                }
                "size" => {
                    if o.size.is_some() {
                        return fail!(2, "--size is given twice for the same action");
                    }
                    o.size = Some(size(value, name)?);
                }
                "unshare-user" | "unshare-user-try" => {
                    o.flags |= CloneFlags::NEWUSER;
                    (o.own_ids, o.bwrap_namespaces) = (true, true);
                }
                "unshare-ipc" | "unshare-pid" | "unshare-net" | "unshare-uts"
                | "unshare-cgroup" => {
                    o.flags |= match name {
                        "unshare-ipc" => CloneFlags::NEWIPC,
                        "unshare-pid" => CloneFlags::NEWPID,
                        "unshare-net" => CloneFlags::NEWNET,
                        "unshare-uts" => CloneFlags::NEWUTS,
                        _ => CloneFlags::NEWCGROUP,
                    };
                    o.bwrap_namespaces = true;
                }
                // Where the kernel has cgroup namespaces (4.6 and later).
                "unshare-cgroup-try" => {
                    if sys::file_mode(c"/proc/self/ns/cgroup").is_ok() {
                        o.flags |= CloneFlags::NEWCGROUP;
                    }
                    o.bwrap_namespaces = true;
                }
                // bwrap's: user (where it can), ipc, pid, net, uts, cgroup (where it can).
                "unshare-all" => {
                    o.flags |= CloneFlags::NEWUSER
                        | CloneFlags::NEWIPC
                        | CloneFlags::NEWPID
                        | CloneFlags::NEWNET
                        | CloneFlags::NEWUTS;
                    if sys::file_mode(c"/proc/self/ns/cgroup").is_ok() {
                        o.flags |= CloneFlags::NEWCGROUP;
                    }
                    (o.own_ids, o.bwrap_namespaces) = (true, true);
                }
                "share-net" => o.flags = o.flags.difference(CloneFlags::NEWNET),
                "uid" => (o.map_user, o.own_ids) = (Some(number(value, name)?), true),
                "gid" => (o.map_group, o.own_ids) = (Some(number(value, name)?), true),
                "clearenv" => o.clear_env = true,
                "argv0" => o.argv0 = Some(value),
                // The program is pid 1 of a new pid namespace already: bwrap's own pid 1 is what
                // this option leaves out there.
                "as-pid-1" => o.as_pid_1 = true,
                "level-prefix" => LEVEL_PREFIX.store(true, Ordering::Relaxed),
                "lock-file" => o.lock_files.push(value)?,
                "dev" => o.mounts.push(Mount::Dev { dst: value })?,
                "proc" => o.mounts.push(Mount::Proc { dst: value })?,
                "die-with-parent" => o.die_with_parent = true,
                "setenv" => {
                    let change = env::Change::Set(value, second()?);
                    add_change(&mut o.env, change, name)?;
                }
                "unsetenv" => add_change(&mut o.env, env::Change::Unset(value), name)?,
                "chdir" => {
                    if o.cwd.is_some() {
                        say(b"<4>", b"Only the last --chdir option will take effect");
                    }
                    o.cwd = Some(value);
                }
                "new-session" => o.new_session = true,
                // In the order given, as bwrap takes them: the last word on a capability wins.
                "cap-drop" => {
                    let caps = capability(value, name)?;
                    o.cap_drop = o.cap_drop | caps;
                    o.cap_add = o.cap_add.difference(caps);
                }
                "cap-add" => {
                    let caps = capability(value, name)?;
                    o.cap_add = o.cap_add | caps;
                    o.cap_drop = o.cap_drop.difference(caps);
                }
                // unshare options that rawclone does not offer: say so rather than ignore them.
                other => return fail!(2, "--{other} is not supported by rawclone run"),
            }
            continue;
        }
        // A cluster of short options, as in `-Urpf`; -R takes the rest or the next argument.
        for (at, &letter) in bytes.iter().enumerate().skip(1) {
            if let Some(&(_, _, flag)) = NAMESPACES.iter().find(|(_, l, _)| *l == letter) {
                o.flags |= flag;
                continue;
            }
            match letter {
                b'h' => {
                    usage();
                    return Ok(None);
                }
                b'r' => (o.map_user, o.map_group) = (Some(0), Some(0)),
                b'f' => {}
                b'R' => {
                    let dir = if at + 1 < bytes.len() {
                        tail(arg, at + 1)
                    } else {
                        match args.get(i) {
                            Some(v) => {
                                i += 1;
                                v
                            }
                            None => return fail!(2, "-R needs a directory"),
                        }
                    };
                    o.root = Some(dir);
                    break;
                }
                other => {
                    let shown = char::from(other);
                    return fail!(2, "unknown option '-{shown}' (try --help)");
                }
            }
        }
    }
    if o.as_pid_1 && !o.flags.contains(CloneFlags::NEWPID) {
        return fail!(2, "--as-pid-1 requires --unshare-pid");
    }
    // As root a user namespace is made only when asked for: ids in it need one.
    let own_ids_only = o.map_users.len == 0 && o.map_groups.len == 0;
    if o.own_ids && own_ids_only && !o.flags.contains(CloneFlags::NEWUSER) && sys::geteuid() == 0 {
        return fail!(2, "--uid and --gid require --unshare-user");
    }
    if o.perms.is_some() || o.size.is_some() {
        return fail!(
            2,
            "--perms and --size must be followed by the option they modify"
        );
    }
    if o.program.is_empty() {
        return fail!(2, "no program given (try --help)");
    }
    Ok(Some(o))
}

/// The part of `arg` from byte `from` on: a suffix of a C string is one too.
fn tail(arg: &CStr, from: usize) -> &CStr {
    CStr::from_bytes_with_nul(&arg.to_bytes_with_nul()[from..]).unwrap_or(c"")
}

fn text<'a>(value: &'a CStr, option: &str) -> Result<&'a str, Failure> {
    match value.to_str() {
        Ok(text) => Ok(text),
        Err(_) => fail!(2, "--{option}: not valid UTF-8"),
    }
}

/// The options that make a sandbox, as bwrap's do.
const SANDBOX_OPTIONS: [&str; 18] = [
    "bind",
    "ro-bind",
    "dev-bind",
    "bind-try",
    "ro-bind-try",
    "dev-bind-try",
    "tmpfs",
    "dev",
    "proc",
    "dir",
    "symlink",
    "chmod",
    "file",
    "bind-data",
    "ro-bind-data",
    "bind-fd",
    "ro-bind-fd",
    "perms",
];

/// The options `--perms` may come before: the ones that make a file, directory or mount.
const MODE_TAKERS: [&str; 6] = ["tmpfs", "size", "dir", "file", "bind-data", "ro-bind-data"];

/// A mode in octal, as `--perms` takes it (at most 07777).
fn octal(value: &CStr, option: &str) -> Result<u32, Failure> {
    let text = value.to_str().unwrap_or("");
    let digits = !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(text, 8) {
        Ok(mode) if digits && mode <= 0o7777 => Ok(mode),
        _ => fail!(
            2,
            "--{option}: '{}' is not a mode (octal, at most 07777)",
            Lossy(value)
        ),
    }
}

/// An open descriptor of the caller's, as `--file FD` names it.
fn descriptor(value: &CStr, option: &str) -> Result<sys::BorrowedFd<'static>, Failure> {
    let fd = number(value, option)?;
    let Ok(fd) = i32::try_from(fd) else {
        return fail!(2, "--{option}: {fd} is not a descriptor");
    };
    // SAFETY: the number is only passed to statx(2) until it is known to be open, and `run`
    // never closes a descriptor it did not open: it stays open for the whole command.
    let borrowed = unsafe { sys::BorrowedFd::borrow_raw(fd) };
    // Open, or refused here before anything is made: the child reads it.
    if sys::file_mode_of(borrowed).is_err() {
        return fail!(2, "--{option}: descriptor {fd} is not open");
    }
    Ok(borrowed)
}

/// A size in bytes, as `--size` takes it: decimal digits alone, more than 0 and at most half
/// the address space, as bwrap takes it.
fn size(value: &CStr, option: &str) -> Result<usize, Failure> {
    let text = value.to_str().unwrap_or("");
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<usize>() {
        Ok(n) if digits && n > 0 && n <= usize::MAX / 2 => Ok(n),
        _ => fail!(
            2,
            "--{option}: '{}' is not a size in bytes (1 to {})",
            Lossy(value),
            usize::MAX / 2
        ),
    }
}

fn number(value: &CStr, option: &str) -> Result<u32, Failure> {
    match value.to_str().ok().and_then(|t| t.parse().ok()) {
        Some(n) => Ok(n),
        None => fail!(2, "--{option}: '{}' is not a number", Lossy(value)),
    }
}

/// The capability (or `ALL`) that a `--cap-drop` or `--cap-add` value names.
fn capability(value: &CStr, option: &str) -> Result<Capabilities, Failure> {
    match value.to_str().ok().and_then(Capabilities::from_name) {
        Some(caps) => Ok(caps),
        None => fail!(
            2,
            "--{option}: unknown capability '{}' (CAP_NET_RAW, NET_RAW or ALL, say)",
            Lossy(value)
        ),
    }
}

/// Add a `--setenv` or `--unsetenv` `change` to `changes`.
fn add_change<'a>(
    changes: &mut env::Changes<'a, '_>,
    change: env::Change<'a>,
    option: &str,
) -> Result<(), Failure> {
    let (env::Change::Set(name, _) | env::Change::Unset(name)) = change;
    match changes.push(change) {
        Ok(()) => Ok(()),
        Err(env::Refused::BadName) => fail!(
            2,
            "--{option}: '{}' is not a variable name (empty, or with '=')",
            Lossy(name)
        ),
        Err(_) => fail!(2, "more --setenv and --unsetenv than arguments"),
    }
}

/// Add the range `value` of `--map-users` or `--map-groups` to `ranges`.
fn add_range(ranges: &mut Ranges, value: &CStr, option: &str) -> Result<(), Failure> {
    if !ranges.push(range(value, option)?) {
        return fail!(2, "--{option}: at most {MAX_RANGES} ranges");
    }
    Ok(())
}

/// A range as util-linux (2.39 and later) spells it: `INNER:OUTER:COUNT`, the order of
/// `/proc/PID/uid_map`, or the older `OUTER,INNER,COUNT`. Its `auto`, `subids` and `all` read
/// /etc/subuid for newuidmap or /proc/self/uid_map: rawclone refuses them.
fn range(value: &CStr, option: &str) -> Result<IdRange, Failure> {
    let text = value.to_str().unwrap_or("");
    if matches!(text, "auto" | "subids" | "all") {
        return fail!(
            2,
            "--{option} {text} is not supported by rawclone run (give INNER:OUTER:COUNT)"
        );
    }
    // Three decimal numbers and two separators of one kind: nothing else.
    let three = |separator: char| {
        let id = |n: &str| match n.bytes().all(|b| b.is_ascii_digit()) {
            true => n.parse::<u32>().ok(),
            false => None,
        };
        let mut parts = text.split(separator).map(id);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Some((a, b, c)),
            _ => None,
        }
    };
    let range = match text.contains(':') {
        // Already in the order (inside, outside, count).
        true => three(':'),
        false => three(',').map(|(outside, inside, count)| (inside, outside, count)),
    };
    match range {
        Some((_, _, 0)) => fail!(2, "--{option} '{}': COUNT must be at least 1", Lossy(value)),
        Some((inside, outside, count)) => Ok(IdRange {
            inside,
            outside,
            count,
        }),
        None => fail!(
            2,
            "--{option}: '{}' is not INNER:OUTER:COUNT (nor OUTER,INNER,COUNT)",
            Lossy(value)
        ),
    }
}

/// A C string shown as text, with invalid UTF-8 replaced.
struct Lossy<'a>(&'a CStr);

impl core::fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.to_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_char('\u{fffd}')?;
            }
        }
        Ok(())
    }
}
