//! `rawclone run`: run a program in new namespaces, spelled like util-linux `unshare` where the
//! two overlap, and waiting for the program like `unshare --fork` does.
//!
//! The program's stdio is the command's own; `run` exits with the program's status, or 128 plus
//! the signal that killed it, and the program gets SIGKILL if `run` dies first
//! (`PR_SET_PDEATHSIG`). Bad input is one line on stderr and a non-zero exit, before any child
//! exists or with the child reaped: 2 for a usage error, 127 when the program is not found,
//! 126 when it cannot be executed, 1 for anything the kernel refuses.

use rawclone::ns::{IdRange, Namespaces};
use rawclone::{CloneFlags, Error, ExitStatus, Signal};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: rawclone run [options] [--] PROGRAM [ARGS...]

  -U, --user              new user namespace
  -r, --map-root-user     map root inside to your uid and gid (implies --user)
      --map-user UID      map UID inside to your uid (implies --user)
      --map-group GID     map GID inside to your gid (implies --user)
      --map-users OUTER,INNER,COUNT
                          map COUNT uids from OUTER outside to INNER inside (implies
                          --user; needs CAP_SETUID over this namespace: rawclone
                          writes the map itself, without newuidmap)
      --map-groups OUTER,INNER,COUNT
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
                          SIGKILL if run dies";

/// What the command line asked for.
#[derive(Default)]
struct Options {
    /// The namespaces named one by one (`-U`, `--pid`, …).
    flags: CloneFlags,
    map_root: bool,
    map_user: Option<u32>,
    map_group: Option<u32>,
    map_users: Option<IdRange>,
    map_groups: Option<IdRange>,
    mount_proc: bool,
    hostname: Option<String>,
    root: Option<PathBuf>,
    program: Vec<OsString>,
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

/// A failure to report: the message and the exit code.
struct Failure(String, u8);

fn usage(why: impl Into<String>) -> Failure {
    Failure(why.into(), 2)
}

/// Run the command with the arguments after `run`.
pub fn main(args: &[OsString]) -> ExitCode {
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message, code)) => {
            eprintln!("rawclone run: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(args: &[OsString]) -> Result<u8, Failure> {
    let Some(options) = parse(args)? else {
        println!("{USAGE}");
        return Ok(0);
    };
    let hostname = options.hostname.as_deref();
    let root = match &options.root {
        Some(dir) if !dir.is_dir() => {
            return Err(Failure(
                format!("--root {}: not a directory", dir.display()),
                1,
            ));
        }
        Some(dir) => Some(c_string(dir.as_os_str())?),
        None => None,
    };
    // A name without a `/` is looked up in PATH by the child, inside its new root if any.
    let program = c_string(&options.program[0])?;
    let argv = options
        .program
        .iter()
        .map(|a| c_string(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            c_string(&kv)
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Like `unshare --fork`, live through Ctrl-C and SIGTERM while the program runs: they reach
    // the program (same process group, or sent to it), which ends on its own terms, and `run`
    // dying would SIGKILL it (PR_SET_PDEATHSIG). Caught, not ignored, from before the clone:
    // a caught signal reverts to the default in the exec'd program, an ignored one would not.
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler does nothing, which is async-signal-safe.
        let _ = unsafe { rawclone::sys::set_signal_handler(sig, ignore_signal) };
    }
    let mut ns = Namespaces::new()
        .flags(options.flags)
        .kill_on_parent_death(Signal::SIGKILL);
    if options.map_root {
        ns = ns.map_root();
    }
    if options.mount_proc {
        ns = ns.mount_proc();
    }
    if let Some(uid) = options.map_user {
        ns = ns.map_user(uid);
    }
    if let Some(gid) = options.map_group {
        ns = ns.map_group(gid);
    }
    let (users, groups) = (
        options.map_users.map(|r| [r]),
        options.map_groups.map(|r| [r]),
    );
    if let Some(ranges) = &users {
        ns = ns.uid_ranges(ranges);
    }
    if let Some(ranges) = &groups {
        ns = ns.gid_ranges(ranges);
    }
    if let Some(name) = hostname {
        ns = ns.hostname(name);
    }
    if let Some(dir) = &root {
        ns = ns.root(dir);
    }

    let argv: Vec<&std::ffi::CStr> = argv.iter().map(|a| a.as_c_str()).collect();
    let envp: Vec<&std::ffi::CStr> = envp.iter().map(|a| a.as_c_str()).collect();
    let name = options.program[0].to_string_lossy();
    let child = ns.exec(&program, &argv, &envp).map_err(|e| match e {
        Error::Exec(errno) => {
            let code = if errno == rawclone::Errno::ENOENT {
                127
            } else {
                126
            };
            Failure(
                format!("failed to execute {name}: {}", Error::Exec(errno)),
                code,
            )
        }
        other => Failure(other.to_string(), 1),
    })?;
    match child.wait() {
        Ok(ExitStatus::Exited(code)) => Ok(code as u8),
        Ok(ExitStatus::Signaled { signal, .. }) => Ok(128 + signal.number() as u8),
        Err(e) => Err(Failure(e.to_string(), 1)),
    }
}

/// The long options besides [`NAMESPACES`], and whether each takes a value.
const LONG: [(&str, bool); 13] = [
    ("help", false),
    ("map-root-user", false),
    ("map-user", true),
    ("map-group", true),
    ("map-users", true),
    ("map-groups", true),
    ("fork", false),
    ("kill-child", false),
    ("mount-proc", false),
    ("hostname", true),
    ("root", true),
    ("setgroups", true),
    ("propagation", true),
];

/// The long option `given` names, and whether it takes a value: itself, or, as with
/// getopt_long, the one option it is a prefix of.
fn long_option(given: &str) -> Result<(&'static str, bool), Failure> {
    let all = || {
        let namespaces = NAMESPACES.iter().map(|&(name, _, _)| (name, false));
        namespaces.chain(LONG.iter().copied())
    };
    if let Some(exact) = all().find(|(name, _)| *name == given) {
        return Ok(exact);
    }
    let mut matches = all().filter(|(name, _)| name.starts_with(given));
    match (matches.next(), matches.next()) {
        (Some(only), None) => Ok(only),
        (Some(_), Some(_)) => Err(usage(format!(
            "option '--{given}' is ambiguous (try --help)"
        ))),
        _ => Err(usage(format!("unknown option '--{given}' (try --help)"))),
    }
}

/// A handler that does nothing: the signal interrupts nothing but a restartable wait.
extern "C" fn ignore_signal(_: i32) {}

/// Parse the options; `None` for `--help`.
fn parse(args: &[OsString]) -> Result<Option<Options>, Failure> {
    let mut o = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            o.program = args.cloned().collect();
            break;
        }
        if !bytes.starts_with(b"-") || bytes == b"-" {
            o.program = std::iter::once(arg).chain(args).cloned().collect();
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (given, inline) = match long.iter().position(|&b| b == b'=') {
                Some(at) => (&long[..at], Some(OsStr::from_bytes(&long[at + 1..]))),
                None => (long, None),
            };
            let (name, takes_value) = long_option(&String::from_utf8_lossy(given))?;
            let value = match (takes_value, inline) {
                (false, Some(_)) => return Err(usage(format!("--{name} takes no value"))),
                (false, None) => OsString::new(),
                (true, Some(v)) => v.to_os_string(),
                (true, None) => args
                    .next()
                    .cloned()
                    .ok_or_else(|| usage(format!("--{name} needs a value")))?,
            };
            let text = || {
                value
                    .to_str()
                    .map(str::to_string)
                    .ok_or_else(|| usage(format!("--{name}: not valid UTF-8")))
            };
            if let Some(&(_, _, flag)) = NAMESPACES.iter().find(|(n, _, _)| *n == name) {
                o.flags |= flag;
                continue;
            }
            match name {
                "help" => return Ok(None),
                "map-root-user" => o.map_root = true,
                "map-user" => o.map_user = Some(id(&text()?, name)?),
                "map-group" => o.map_group = Some(id(&text()?, name)?),
                "map-users" => o.map_users = Some(range(&text()?, name)?),
                "map-groups" => o.map_groups = Some(range(&text()?, name)?),
                "fork" | "kill-child" => {}
                "mount-proc" => o.mount_proc = true,
                "hostname" => o.hostname = Some(text()?),
                "root" => o.root = Some(PathBuf::from(value)),
                // unshare options that rawclone does not offer: say so rather than ignore them.
                other => return Err(usage(format!("--{other} is not supported by rawclone run"))),
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
                b'h' => return Ok(None),
                b'r' => o.map_root = true,
                b'f' => {}
                b'R' => {
                    let rest = &bytes[at + 1..];
                    let dir = if rest.is_empty() {
                        args.next()
                            .cloned()
                            .ok_or_else(|| usage("-R needs a directory"))?
                    } else {
                        OsStr::from_bytes(rest).to_os_string()
                    };
                    o.root = Some(PathBuf::from(dir));
                    break;
                }
                other => {
                    let shown = char::from(other);
                    return Err(usage(format!("unknown option '-{shown}' (try --help)")));
                }
            }
        }
    }
    if o.program.is_empty() {
        return Err(usage("no program given (try --help)"));
    }
    Ok(Some(o))
}

fn id(text: &str, option: &str) -> Result<u32, Failure> {
    text.parse()
        .map_err(|_| usage(format!("--{option}: '{text}' is not a number")))
}

/// `OUTER,INNER,COUNT`, as util-linux spells a range.
fn range(text: &str, option: &str) -> Result<IdRange, Failure> {
    let numbers: Vec<&str> = text.split([',', ':']).collect();
    let bad = || usage(format!("--{option}: '{text}' is not OUTER,INNER,COUNT"));
    let [outer, inner, count] = numbers[..] else {
        return Err(bad());
    };
    let n = |s: &str| s.parse::<u32>().map_err(|_| bad());
    Ok(IdRange {
        outside: n(outer)?,
        inside: n(inner)?,
        count: n(count)?,
    })
}

fn c_string(s: &OsStr) -> Result<CString, Failure> {
    CString::new(s.as_bytes())
        .map_err(|_| usage(format!("{}: contains a NUL byte", s.to_string_lossy())))
}
