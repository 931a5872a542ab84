//! One program to exec, described the way `posix_spawn(3)` and `std::process::Command` describe
//! it: path and arguments, environment, file actions, working directory, and the confinement
//! applied just before `execve`: resource limits, dropped capabilities, `no_new_privs`, a hook,
//! and a seccomp filter.
//!
//! A [`Program`] is a `Copy` builder that borrows everything it names and allocates nothing. It
//! runs vfork-style ([`Program::spawn`]: the caller sleeps until the child has exec'd) or in
//! namespaces ([`crate::ns::Namespaces::exec_program`]). The parent builds the argument and
//! environment arrays before the clone (the environment is merged there, see
//! [`Program::envs`]); the child only makes raw syscalls, in this order:
//! 1. `SIGPIPE` back to its default (as `Command` does);
//! 2. the standard streams ([`Program::stdin`], …; each source is the caller's descriptor, as
//!    with `Command`), then the file actions in the order given ([`FdAction`], as
//!    `posix_spawn_file_actions_add*`);
//! 3. `chdir` ([`Program::current_dir`]);
//! 4. every other descriptor from 3 up marked close-on-exec ([`Program::close_other_fds`]);
//! 5. resource limits (`prlimit64(2)`), while a raised hard limit can still use
//!    `CAP_SYS_RESOURCE`;
//! 6. capabilities dropped from the bounding, ambient, effective, permitted and inheritable
//!    sets (`capabilities(7)`);
//! 7. `PR_SET_NO_NEW_PRIVS` (`prctl(2)`);
//! 8. the caller's [`Program::pre_exec`] hook;
//! 9. the seccomp filter (`seccomp(2)`), last, so that it filters only `execve` and the program;
//! 10. `execve(2)`, after a `PATH` search for a name without `/`.
//!
//! A failed step comes back as [`Error::ExecSetup`] with the step and errno, a failed `execve`
//! as [`Error::Exec`], the child reaped either way: through shared memory for a vfork-style
//! spawn, over the handshake socket in namespaces.

mod caps;
mod child;
mod env;

pub use caps::Capabilities;
pub use env::initial_environment;

use crate::clone::Builder;
use crate::error::{Error, ErrorPath, Result, SetupStep};
use crate::flags::{CloneFlags, Rule};
use crate::pool::StackSlot;
use crate::seccomp::SockFilter;
use crate::stack::{PAGE_SIZE, Stack};
use crate::task::Child;
use core::ffi::CStr;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU64, Ordering};
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Where a standard stream of the child comes from.
///
/// ```
/// use rawclone::program::{Program, Stdio};
/// let (read_end, write_end) = rawclone::sys::pipe().expect("pipe2");
/// let program = Program::new(c"/bin/echo")
///     .argv(&[c"echo", c"through the pipe"])
///     .stdin(Stdio::Null)
///     .stdout(Stdio::Fd(write_end.as_raw()));
/// let child = program.spawn()?;
/// drop(write_end); // the child holds its own copy: read until it closes it
/// let mut buf = [0u8; 64];
/// let n = rawclone::sys::read(read_end.as_fd(), &mut buf).expect("read");
/// assert_eq!(&buf[..n], b"through the pipe\n");
/// assert!(child.wait()?.success());
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Stdio {
    /// The caller's descriptor, as it is.
    Inherit,
    /// `/dev/null`, opened read-write.
    Null,
    /// A copy of this descriptor of the caller's (a pipe end, say: see [`crate::sys::pipe`]).
    Fd(i32),
}

/// One file action, applied in the child in the order given, as `posix_spawn(3)` does.
///
/// ```
/// use rawclone::program::{FdAction, Program};
/// use linux_raw_sys::general::{O_CREAT, O_TRUNC, O_WRONLY};
/// let path = c"/tmp/rawclone-fdaction-doc";
/// let actions = [
///     FdAction::Open { fd: 1, path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600 },
///     FdAction::Dup2 { from: 1, to: 2 }, // stderr to the same file
///     FdAction::Close(0),
/// ];
/// let program = Program::new(c"/bin/sh")
///     .argv(&[c"sh", c"-c", c"echo out; echo err >&2; cat 2>/dev/null || echo no-stdin"])
///     .file_actions(&actions);
/// assert!(program.spawn()?.wait()?.success());
/// let text = std::fs::read_to_string("/tmp/rawclone-fdaction-doc").unwrap();
/// std::fs::remove_file("/tmp/rawclone-fdaction-doc").unwrap();
/// assert_eq!(text, "out\nerr\nno-stdin\n");
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum FdAction<'a> {
    /// Make `to` a copy of `from` (`dup2`), open across `execve`. With `from == to` the
    /// descriptor's close-on-exec flag is cleared instead, as
    /// `posix_spawn_file_actions_adddup2` does.
    Dup2 {
        /// The descriptor to copy.
        from: i32,
        /// The number it gets in the child.
        to: i32,
    },
    /// Open `path` (`openat(2)` with `flags`, `O_CLOEXEC` taken out, and `mode`) as `fd`.
    Open {
        /// The number it gets in the child.
        fd: i32,
        /// What to open.
        path: &'a CStr,
        /// `O_*` flags.
        flags: u32,
        /// Permission bits for `O_CREAT`.
        mode: u32,
    },
    /// Close `fd`; one that is not open is no error (as glibc's `posix_spawn`).
    Close(i32),
}

impl FdAction<'_> {
    /// The descriptor this action opens, replaces or closes.
    const fn fd(&self) -> i32 {
        match *self {
            FdAction::Dup2 { to, .. } => to,
            FdAction::Open { fd, .. } | FdAction::Close(fd) => fd,
        }
    }

    /// The descriptor this action leaves open in the child, if any.
    const fn target(&self) -> Option<i32> {
        match *self {
            FdAction::Close(_) => None,
            _ => Some(self.fd()),
        }
    }

    /// The caller's descriptor this action copies, if any.
    const fn source(&self) -> Option<i32> {
        match *self {
            FdAction::Dup2 { from, .. } => Some(from),
            _ => None,
        }
    }
}

/// A resource limit (`getrlimit(2)`'s `RLIMIT_*`).
///
/// ```
/// use rawclone::program::{Program, Resource};
/// let program = Program::new(c"/bin/sh")
///     .argv(&[c"sh", c"-c", c"test $(ulimit -n) = 32 && test $(ulimit -c) = 0"])
///     .rlimit(Resource::Nofile, 32, 32)
///     .rlimit(Resource::Core, 0, 0);
/// assert!(program.spawn()?.wait()?.success());
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Resource {
    /// `RLIMIT_CPU`: CPU seconds.
    Cpu = k::RLIMIT_CPU,
    /// `RLIMIT_FSIZE`: largest file written, bytes.
    Fsize = k::RLIMIT_FSIZE,
    /// `RLIMIT_DATA`: data segment and heap, bytes.
    Data = k::RLIMIT_DATA,
    /// `RLIMIT_STACK`: main thread's stack, bytes.
    Stack = k::RLIMIT_STACK,
    /// `RLIMIT_CORE`: core dump size, bytes.
    Core = k::RLIMIT_CORE,
    /// `RLIMIT_RSS` (not enforced by Linux).
    Rss = k::RLIMIT_RSS,
    /// `RLIMIT_NPROC`: processes of the real user.
    Nproc = k::RLIMIT_NPROC,
    /// `RLIMIT_NOFILE`: one more than the highest descriptor number.
    Nofile = k::RLIMIT_NOFILE,
    /// `RLIMIT_MEMLOCK`: locked memory, bytes.
    Memlock = k::RLIMIT_MEMLOCK,
    /// `RLIMIT_AS`: address space, bytes.
    As = k::RLIMIT_AS,
    /// `RLIMIT_LOCKS`: file locks.
    Locks = k::RLIMIT_LOCKS,
    /// `RLIMIT_SIGPENDING`: queued signals of the real user.
    Sigpending = k::RLIMIT_SIGPENDING,
    /// `RLIMIT_MSGQUEUE`: POSIX message queue bytes of the real user.
    Msgqueue = k::RLIMIT_MSGQUEUE,
    /// `RLIMIT_NICE`: ceiling of the nice value, as `20 - limit`.
    Nice = k::RLIMIT_NICE,
    /// `RLIMIT_RTPRIO`: ceiling of the real-time priority.
    Rtprio = k::RLIMIT_RTPRIO,
    /// `RLIMIT_RTTIME`: CPU microseconds without a blocking call under real-time scheduling.
    Rttime = k::RLIMIT_RTTIME,
}

/// No limit (`RLIM_INFINITY`), for [`Program::rlimit`].
pub const INFINITY: u64 = u64::MAX;

/// Where the environment's base list comes from.
#[derive(Clone, Copy, Debug)]
enum EnvBase<'a> {
    /// The caller's (see [`Program::envs`] for which one that is).
    Inherit,
    /// None.
    Clear,
    /// This list.
    Exactly(&'a [&'a CStr]),
}

/// The hook type of [`Program::pre_exec`].
///
/// ```
/// use rawclone::{error::SetupStep, program::Program, Errno, Error};
/// let refuse = || Err(Errno::EDOM);
/// // SAFETY: the hook only returns: async-signal-safe.
/// let program = unsafe { Program::new(c"/bin/true").pre_exec(&refuse) };
/// let refused = program.spawn();
/// assert!(matches!(refused, Err(Error::ExecSetup { step: SetupStep::PreExec, errno: Errno::EDOM })));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub type PreExec<'a> = &'a dyn Fn() -> core::result::Result<(), Errno>;

/// A program to exec and how to set up the process first (see the module documentation).
///
/// ```
/// use rawclone::program::{Program, Resource, Stdio};
/// use rawclone::{sys, ExitStatus};
/// let (r, w) = sys::pipe().unwrap();
/// let child = Program::new(c"/bin/sh")
///     .argv(&[c"sh", c"-c", c"echo $GREETING; ulimit -n"])
///     .env_clear()
///     .envs(&[c"GREETING=hello"])
///     .stdout(Stdio::Fd(w.as_raw()))
///     .rlimit(Resource::Nofile, 64, 64)
///     .spawn()?;
/// drop(w);
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// let mut out = [0u8; 64];
/// let n = sys::read(r.as_fd(), &mut out).unwrap();
/// assert_eq!(&out[..n], b"hello\n64\n");
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Program<'a> {
    path: &'a CStr,
    argv: Option<&'a [&'a CStr]>,
    env_base: EnvBase<'a>,
    env_set: &'a [&'a CStr],
    env_remove: &'a [&'a CStr],
    stdio: [Stdio; 3],
    actions: &'a [FdAction<'a>],
    cwd: Option<&'a CStr>,
    /// Whether a `cwd` that cannot be changed to is passed over ([`Program::current_dir_if_present`]).
    cwd_optional: bool,
    /// The directory changed to before an optional `cwd` is tried.
    cwd_fallback: Option<&'a CStr>,
    close_other_fds: bool,
    limits: [Option<(u64, u64)>; k::RLIM_NLIMITS as usize],
    cap_drop: Capabilities,
    no_new_privs: bool,
    pre_exec: Option<PreExec<'a>>,
    seccomp: Option<&'a [SockFilter]>,
    /// `setsid(2)` first ([`Program::setsid`]).
    new_session: bool,
    /// [`crate::seccomp::TERMINAL_INJECTION`] before the caller's filter: a sandbox's program
    /// that stays in the caller's session.
    guard_terminal: bool,
    /// A file without `#!` goes to `/bin/sh` ([`Program::run_scripts_with_sh`]).
    pub(crate) scripts_with_sh: bool,
}

impl core::fmt::Debug for Program<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Program")
            .field("path", &self.path)
            .field("argv", &self.argv)
            .field("env_base", &self.env_base)
            .field("env_set", &self.env_set)
            .field("env_remove", &self.env_remove)
            .field("stdio", &self.stdio)
            .field("actions", &self.actions)
            .field("cwd", &self.cwd)
            .field("close_other_fds", &self.close_other_fds)
            .field("limits", &self.limits)
            .field("cap_drop", &self.cap_drop)
            .field("no_new_privs", &self.no_new_privs)
            .field("pre_exec", &self.pre_exec.is_some())
            .field("seccomp", &self.seccomp.map(<[SockFilter]>::len))
            .finish()
    }
}

impl<'a> Program<'a> {
    /// Exec `path` with `argv` `[path]`, the inherited environment, and nothing else set up. A
    /// `path` without `/` is searched for in the child's `PATH` (or `/bin:/usr/bin`) as
    /// `execvp(3)` does, after the setup (so under a new root, in the new root); EACCES from any
    /// directory wins over ENOENT, and a file without a `#!` line is not handed to `/bin/sh`
    /// (ENOEXEC) unless [`Program::run_scripts_with_sh`]. An empty `path` is not searched for.
    ///
    /// ```
    /// use rawclone::{program::Program, Errno, Error};
    /// assert!(Program::new(c"true").spawn()?.wait()?.success()); // found in PATH
    /// let path = [c"PATH=/usr/bin:/bin"]; // no unreadable directory: EACCES would win
    /// let missing = Program::new(c"no-such-program-here").env_exactly(&path).spawn();
    /// assert!(matches!(missing, Err(Error::Exec { errno: Errno::ENOENT, .. })));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn new(path: &'a CStr) -> Program<'a> {
        Program {
            path,
            argv: None,
            env_base: EnvBase::Inherit,
            env_set: &[],
            env_remove: &[],
            stdio: [Stdio::Inherit; 3],
            actions: &[],
            cwd: None,
            cwd_optional: false,
            cwd_fallback: None,
            close_other_fds: false,
            limits: [None; k::RLIM_NLIMITS as usize],
            cap_drop: Capabilities::EMPTY,
            no_new_privs: false,
            pre_exec: None,
            seccomp: None,
            new_session: false,
            guard_terminal: false,
            scripts_with_sh: false,
        }
    }

    /// The program's path or name, as given to [`Program::new`] (std's `Command::get_program`).
    ///
    /// ```
    /// let program = rawclone::program::Program::new(c"sh");
    /// assert_eq!(program.get_program(), c"sh");
    /// ```
    pub const fn get_program(&self) -> &'a CStr {
        self.path
    }

    /// The whole argument vector, `argv[0]` included (unlike `Command::args`).
    ///
    /// ```
    /// use rawclone::{program::Program, ExitStatus};
    /// let child = Program::new(c"/bin/sh").argv(&[c"sh", c"-c", c"exit 3"]).spawn()?;
    /// assert_eq!(child.wait()?, ExitStatus::Exited(3));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn argv(mut self, argv: &'a [&'a CStr]) -> Program<'a> {
        self.argv = Some(argv);
        self
    }

    /// Start from an empty environment instead of the inherited one (`Command::env_clear`).
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test -z \"$HOME$USER$RAWCLONE_DOC\""])
    ///     .env_clear()
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn env_clear(mut self) -> Program<'a> {
        self.env_base = EnvBase::Clear;
        self
    }

    /// Start from exactly `entries` (`NAME=value` each) instead of the inherited environment:
    /// `execve`'s `envp`.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test \"$ONLY\" = 1 -a -z \"$HOME\""])
    ///     .env_exactly(&[c"ONLY=1"])
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn env_exactly(mut self, entries: &'a [&'a CStr]) -> Program<'a> {
        self.env_base = EnvBase::Exactly(entries);
        self
    }

    /// Set these `NAME=value` entries over the base list, replacing an earlier list given here;
    /// for a name set twice the last entry wins, and a name set here wins over the same name in
    /// [`Program::env_remove`]. An entry without `=` is refused with [`Rule::BadEnvEntry`].
    ///
    /// The base list is the inherited environment unless [`Program::env_clear`] or
    /// [`Program::env_exactly`] replaced it. "Inherited" means, as far as rawclone can know it
    /// without libc: with the `std` feature `std::env::vars_os()` at spawn time (what `Command`
    /// passes); else, in a freestanding program started by rawclone's `_start` (feature
    /// `start`), the `envp` the kernel handed it; else the environment the process started with
    /// ([`initial_environment`]), which misses later changes a libc made.
    ///
    /// With the `std` feature an inherited environment is read as `Command` reads it: under
    /// std's environment lock, into allocated strings, in the caller. In a forked copy of a
    /// multi-threaded process (where another thread may have held that lock or `malloc`'s at the
    /// fork) give the base list with [`Program::env_clear`] or [`Program::env_exactly`]: then
    /// the spawn takes no lock and allocates nothing.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test \"$GREETING\" = hi"])
    ///     .envs(&[c"GREETING=hello", c"GREETING=hi"]) // the last wins
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn envs(mut self, entries: &'a [&'a CStr]) -> Program<'a> {
        self.env_set = entries;
        self
    }

    /// Take these names out of the base list, replacing an earlier list given here
    /// (`Command::env_remove`). A name holding `=` is refused with [`Rule::BadEnvEntry`].
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test -z \"$A\" -a \"$B\" = 2"])
    ///     .env_exactly(&[c"A=1", c"B=2"])
    ///     .env_remove(&[c"A"])
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn env_remove(mut self, names: &'a [&'a CStr]) -> Program<'a> {
        self.env_remove = names;
        self
    }

    /// Standard input (descriptor 0); set before the file actions.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// use rawclone::{program::Stdio, sys};
    /// let (r, w) = sys::pipe().unwrap();
    /// sys::write(w.as_fd(), b"hi\n").unwrap();
    /// drop(w);
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"read line; test \"$line\" = hi"])
    ///     .stdin(Stdio::Fd(r.as_raw()))
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn stdin(mut self, stdio: Stdio) -> Program<'a> {
        self.stdio[0] = stdio;
        self
    }

    /// Standard output (descriptor 1); set before the file actions.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// use rawclone::{program::Stdio, sys};
    /// let (r, w) = sys::pipe().unwrap();
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"echo hi"])
    ///     .stdout(Stdio::Fd(w.as_raw()))
    ///     .spawn()?;
    /// drop(w); // the child has its own copy
    /// assert!(child.wait()?.success());
    /// let mut out = [0u8; 8];
    /// assert_eq!(sys::read(r.as_fd(), &mut out), Ok(3));
    /// assert_eq!(&out[..3], b"hi\n");
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn stdout(mut self, stdio: Stdio) -> Program<'a> {
        self.stdio[1] = stdio;
        self
    }

    /// Standard error (descriptor 2); set before the file actions.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// use rawclone::{program::Stdio, sys, ExitStatus};
    /// let (r, w) = sys::pipe().unwrap();
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"echo oops >&2; exit 1"])
    ///     .stderr(Stdio::Fd(w.as_raw()))
    ///     .spawn()?;
    /// drop(w);
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// let mut out = [0u8; 8];
    /// assert_eq!(sys::read(r.as_fd(), &mut out), Ok(5));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn stderr(mut self, stdio: Stdio) -> Program<'a> {
        self.stdio[2] = stdio;
        self
    }

    /// The file actions, in order, replacing an earlier list given here. A negative descriptor
    /// is refused with [`Rule::NegativeFd`].
    ///
    /// ```
    /// use rawclone::program::Program;
    /// use rawclone::{program::FdAction, sys};
    /// let (r, w) = sys::pipe().unwrap();
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"echo hi >&7; exec 7>&-; test ! -e /proc/self/fd/5"])
    ///     .file_actions(&[
    ///         FdAction::Dup2 { from: w.as_raw(), to: 7 },
    ///         FdAction::Close(5),
    ///     ])
    ///     .spawn()?;
    /// drop(w);
    /// assert!(child.wait()?.success());
    /// assert_eq!(sys::read(r.as_fd(), &mut [0; 8]), Ok(3));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn file_actions(mut self, actions: &'a [FdAction<'a>]) -> Program<'a> {
        self.actions = actions;
        self
    }

    /// The working directory of the program, changed to after the file actions (a relative
    /// `PATH` entry is then found from it).
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test \"$(pwd -P)\" = /proc"])
    ///     .current_dir(c"/proc")
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn current_dir(mut self, dir: &'a CStr) -> Program<'a> {
        self.cwd = Some(dir);
        self.cwd_optional = false;
        self.cwd_fallback = None;
        self
    }

    /// As [`Program::current_dir`], but where `dir` cannot be changed to (it is missing, say,
    /// as the caller's directory may be in a sandbox that binds only part of the tree), the
    /// program starts where it would have without: what bubblewrap does with the caller's
    /// working directory.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test \"$(pwd -P)\" = /"])
    ///     .current_dir(c"/")
    ///     .current_dir_if_present(c"/nonexistent")
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn current_dir_if_present(mut self, dir: &'a CStr) -> Program<'a> {
        // The directory it falls back to is the one it would start in: a `current_dir` given
        // before is changed to first, then this one tried.
        self.cwd_fallback = self.cwd;
        self.cwd = Some(dir);
        self.cwd_optional = true;
        self
    }

    /// Let the program inherit only descriptors 0, 1 and 2 and the ones the standard streams
    /// and file actions leave open: every other one is marked close-on-exec
    /// (`close_range(2)` with `CLOSE_RANGE_CLOEXEC`, Linux 5.11, or a walk of `/proc/self/fd`
    /// where the kernel lacks it), so they close at `execve`, not before, and a failed exec is
    /// still reported.
    ///
    /// ```
    /// use rawclone::{program::Program, sys};
    /// let (_r, w) = sys::pipe().unwrap();
    /// sys::clear_cloexec(w.as_fd()).unwrap(); // would be inherited
    /// let script = std::ffi::CString::new(format!("test ! -e /proc/self/fd/{}", w.as_raw())).unwrap();
    /// let child = Program::new(c"/bin/sh").argv(&[c"sh", c"-c", &script]).close_other_fds().spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn close_other_fds(mut self) -> Program<'a> {
        self.close_other_fds = true;
        self
    }

    /// Set `resource`'s soft and hard limit ([`INFINITY`] for none); a second call for the
    /// same resource replaces the first. A soft value above the hard one is refused with
    /// [`Rule::SoftLimitAboveHard`]; raising a hard limit needs `CAP_SYS_RESOURCE` (EPERM).
    ///
    /// ```
    /// use rawclone::program::Program;
    /// use rawclone::program::Resource;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"test $(ulimit -n) = 32"])
    ///     .rlimit(Resource::Nofile, 32, 32)
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn rlimit(mut self, resource: Resource, soft: u64, hard: u64) -> Program<'a> {
        self.limits[resource as usize] = Some((soft, hard));
        self
    }

    /// Drop `caps` (added to any dropped before) from the bounding set (`PR_CAPBSET_DROP`,
    /// which needs `CAP_SETPCAP`: unprivileged outside a user namespace it fails with EPERM),
    /// the ambient set, and the effective, permitted and inheritable sets (`capset(2)`), so
    /// that neither the program nor anything it execs gets them back.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, program::{Capabilities, Program}};
    /// // Dropping from the bounding set needs CAP_SETPCAP: the root of a user namespace has it.
    /// let script = c"grep -Eq 'CapEff:[[:space:]]+0+$' /proc/self/status";
    /// let argv = [c"sh", c"-c", script];
    /// let program = Program::new(c"/bin/sh").argv(&argv);
    /// let program = program.drop_capabilities(Capabilities::ALL);
    /// let child = Namespaces::new().map_root().exec_program(&program)?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn drop_capabilities(mut self, caps: Capabilities) -> Program<'a> {
        self.cap_drop = self.cap_drop.union(caps);
        self
    }

    /// Set `PR_SET_NO_NEW_PRIVS`: the program, and what it execs, gains no privilege from
    /// set-user-ID bits or file capabilities. A seccomp filter without it needs
    /// `CAP_SYS_ADMIN` (EACCES).
    ///
    /// ```
    /// use rawclone::program::Program;
    /// let child = Program::new(c"/bin/sh")
    ///     .argv(&[c"sh", c"-c", c"grep -Eq 'NoNewPrivs:[[:space:]]+1' /proc/self/status"])
    ///     .no_new_privs()
    ///     .spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn no_new_privs(mut self) -> Program<'a> {
        self.no_new_privs = true;
        self
    }

    /// Start the program in a new session, without a controlling terminal (`setsid(2)`, first
    /// of the child's steps; `posix_spawn`'s `POSIX_SPAWN_SETSID`, `bwrap --new-session`): it
    /// can then neither signal nor type into the caller's terminal (`TIOCSTI`), even where it
    /// keeps it as a standard stream.
    ///
    /// ```
    /// use rawclone::program::Program;
    /// // Its own session: its session id (the sixth field of its stat) is its pid.
    /// let script = c"read -r pid comm state ppid pgrp sid rest </proc/self/stat && test $sid = $pid";
    /// let argv = [c"sh", c"-c", script];
    /// let child = Program::new(c"/bin/sh").argv(&argv).setsid().spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn setsid(mut self) -> Program<'a> {
        self.new_session = true;
        self
    }

    /// Run a file the kernel will not execute for want of a `#!` line (ENOEXEC) as a shell
    /// script, `/bin/sh PATH ARGS...`, as glibc's `execvp(3)` does (and so util-linux
    /// `unshare` and `bwrap`; `posix_spawn` and musl do not). `argv[0]` gives way to the path.
    /// ENOEXEC stays the answer if `/bin/sh` cannot be run either.
    ///
    /// ```
    /// use rawclone::{program::Program, Errno, Error};
    /// let script = std::env::temp_dir().join(format!("rawclone-no-shebang-{}", std::process::id()));
    /// std::fs::write(&script, "test \"$1\" = given\n").unwrap();
    /// std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    /// let path = std::ffi::CString::new(script.to_str().unwrap()).unwrap();
    /// let argv = [path.as_c_str(), c"given"];
    /// let plain = Program::new(&path).argv(&argv).spawn();
    /// let by_sh = Program::new(&path).argv(&argv).run_scripts_with_sh().spawn();
    /// // The shell reads the script after the spawn: removed once it is done.
    /// let done = by_sh.and_then(|child| child.wait());
    /// std::fs::remove_file(&script).unwrap();
    /// assert!(matches!(plain, Err(Error::Exec { errno: Errno::ENOEXEC, .. })));
    /// assert!(done?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn run_scripts_with_sh(mut self) -> Program<'a> {
        self.scripts_with_sh = true;
        self
    }

    /// Whether [`Program::setsid`] was asked for.
    pub(crate) const fn in_new_session(&self) -> bool {
        self.new_session
    }

    /// Refuse `TIOCSTI` and `TIOCLINUX` before the exec ([`crate::seccomp::TERMINAL_INJECTION`],
    /// installed ahead of any filter of the caller's; it needs `no_new_privs` or
    /// `CAP_SYS_ADMIN`).
    pub(crate) const fn guard_terminal(mut self) -> Program<'a> {
        self.guard_terminal = true;
        self
    }

    /// Run `hook` in the child after the other setup and before the seccomp filter; an `Err`
    /// stops the spawn with [`Error::ExecSetup`] (step [`SetupStep::PreExec`]) and that errno.
    ///
    /// The hook runs on the child's own stack of 256 KiB, of which rawclone's frames take a few:
    /// it may use up to about 248 KiB. Deeper, it meets the guard page below and `SIGSEGV` kills
    /// the child ([`Program::spawn`] then returns the child, which [`Child::wait`] shows
    /// signalled). Before Linux 5.16 a core-dumping signal (`SIGSEGV`, `SIGBUS`, `SIGABRT`, …)
    /// in a vfork child also kills every process sharing its memory: the caller of
    /// [`Program::spawn`] (kernel commit 0258b5fd7c71, "coredump: Limit coredumps to a single
    /// thread group"). On such kernels prefer [`crate::ns::Namespaces::exec_program`], whose
    /// child has memory of its own, for a hook that might fault.
    ///
    /// ```
    /// use linux_raw_sys::general::RLIMIT_NOFILE;
    /// use rawclone::{program::Program, sys};
    /// let hook = || sys::set_rlimit(RLIMIT_NOFILE, 16, 16);
    /// let program = Program::new(c"/bin/sh").argv(&[c"sh", c"-c", c"test $(ulimit -n) = 16"]);
    /// // SAFETY: the hook makes one raw syscall: async-signal-safe, and it touches no memory of ours.
    /// let child = unsafe { program.pre_exec(&hook) }.spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    ///
    /// # Safety
    /// The hook runs in a child that shares the parent's memory (a vfork-style spawn) or is a
    /// one-thread copy of a possibly multi-threaded process: it must be async-signal-safe (raw
    /// syscalls, no allocation, no locks, no thread-locals), and in a vfork-style spawn it must
    /// leave the parent's memory as the parent expects it. It must not panic or unwind: in a
    /// vfork child it runs on the parent's memory and thread-locals, where std's panic machinery
    /// (its hook, its counts, the unwinder's locks) would corrupt the parent's state.
    pub const unsafe fn pre_exec(mut self, hook: PreExec<'a>) -> Program<'a> {
        self.pre_exec = Some(hook);
        self
    }

    /// Install `filter` just before `execve` ([`crate::seccomp`] has the types and a deny-list
    /// builder); it must allow `execve`. An empty filter or one above 4096 instructions is
    /// refused with [`Rule::SeccompFilterLength`]. A failed `execve` under the filter reaches
    /// the parent through shared memory in a vfork-style spawn, but in namespaces through a
    /// `write(2)` on the handshake socket: a filter that refuses `write` turns that report into
    /// an apparent success, and the child exits 127.
    ///
    /// A `SECCOMP_RET_KILL_*` action on a call the child makes before its `execve` completes
    /// (the exec itself, or the failure report) ends it with `SIGSYS`, a core-dumping signal.
    /// Before Linux 5.16 that signal in a vfork child also kills the processes sharing its
    /// memory, the caller of [`Program::spawn`] included (see [`Program::pre_exec`]): there,
    /// prefer filters that return `SECCOMP_RET_ERRNO` (as [`crate::seccomp::Filter::deny`]
    /// builds them), or the namespaced path.
    ///
    /// ```
    /// use rawclone::{program::Program, seccomp::{Filter, Sysno}, Errno};
    /// let no_uname = Filter::<16>::deny(&[Sysno::uname], Errno::EPERM)?;
    /// let script = c"uname 2>&1 | grep -q 'not permitted'";
    /// let argv = [c"sh", c"-c", script];
    /// let program = Program::new(c"/bin/sh").argv(&argv).no_new_privs();
    /// assert!(program.seccomp_filter(no_uname.as_slice()).spawn()?.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn seccomp_filter(mut self, filter: &'a [SockFilter]) -> Program<'a> {
        self.seccomp = Some(filter);
        self
    }

    /// Spawn the program vfork-style: `CLONE_VM | CLONE_VFORK` on a small stack of its own
    /// (kept mapped for the next spawn: one per process), signal handlers reset, the caller
    /// suspended until the child has exec'd or failed. A failure comes back through the shared
    /// memory, typed, the child reaped.
    ///
    /// ```
    /// use rawclone::{error::SetupStep, program::Program, Errno, Error};
    /// let missing_dir = Program::new(c"/bin/true").current_dir(c"/nonexistent").spawn();
    /// assert!(matches!(
    ///     missing_dir,
    ///     Err(Error::ExecSetup { step: SetupStep::Chdir, errno: Errno::ENOENT })
    /// ));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn spawn(&self) -> Result<Child<'static>> {
        let (mut stack, image) = self.prepare()?;
        let exec = image.exec;
        let failure = AtomicU64::new(0);
        let failure_ref = &failure;
        let run = move || {
            let (code, errno) = exec.run(None).message();
            failure_ref.store(u64::from(code) << 32 | u64::from(errno), Ordering::Relaxed);
            127
        };
        // SAFETY: the child makes raw syscalls, runs the caller's pre_exec hook (whose contract
        // covers this child) and stores to an atomic: no thread-local state, no allocation;
        // handlers are reset before the mask is restored, so no parent handler runs in it; the
        // parent sleeps until it has exec'd or exited, so `failure`, `image` (the arrays and
        // their strings) and the stack outlive its use of them.
        let child = unsafe {
            Builder::new()
                .flags(CloneFlags::VM | CloneFlags::VFORK)
                .reset_signal_handlers()
                .spawn(&mut stack, run)?
        };
        // Past CLONE_VFORK: the child has exec'd (the stack is no longer its) or exited.
        let child = child.unborrow();
        match failure.load(Ordering::Relaxed) {
            0 => Ok(child),
            message => {
                let _ = child.wait();
                Err(Failure::error(
                    ((message >> 32) as u32, message as u32),
                    self.path,
                ))
            }
        }
    }

    /// rawclone's rules for a program, checked before any syscall.
    fn check(&self) -> Result<()> {
        let streams = self.stdio.iter().filter_map(|s| match s {
            Stdio::Fd(fd) => Some(*fd),
            _ => None,
        });
        let actions = self.actions.iter().flat_map(|a| [Some(a.fd()), a.source()]);
        let broken = if streams.chain(actions.flatten()).any(|fd| fd < 0) {
            Some(Rule::NegativeFd)
        } else if !env::well_formed(self) {
            Some(Rule::BadEnvEntry)
        } else if self.limits.iter().flatten().any(|(soft, hard)| soft > hard) {
            Some(Rule::SoftLimitAboveHard)
        } else if self
            .seccomp
            .is_some_and(|f| f.is_empty() || f.len() > crate::seccomp::BPF_MAXINSNS as usize)
        {
            Some(Rule::SeccompFilterLength)
        } else {
            None
        };
        broken.map_or(Ok(()), |rule| Err(Error::Rule(rule, CloneFlags::EMPTY)))
    }

    /// Whether the program's stdout is the caller's: neither a stream choice nor a file action
    /// touches descriptor 1.
    pub(crate) fn keeps_stdout(&self) -> bool {
        self.stdio[1] == Stdio::Inherit && self.actions.iter().all(|a| a.fd() != 1)
    }

    /// The descriptors the standard streams and file actions leave open.
    fn targets(&self) -> impl Iterator<Item = i32> + '_ {
        let streams = (0..3).filter(|&fd| self.stdio[fd as usize] != Stdio::Inherit);
        streams.chain(self.actions.iter().filter_map(FdAction::target))
    }

    /// Check the program, capture its environment, and take an exec stack ([`ExecStack`]) with
    /// the argument and environment arrays written into its top: the child's stack starts
    /// below them, so an overflow meets the guard page, not them.
    pub(crate) fn prepare(&self) -> Result<(ExecStack, Image<'a>)> {
        self.check()?;
        let base = env::Base::capture(self)?;
        let path = [self.path];
        let argv: &[&CStr] = match self.argv {
            Some(argv) => argv,
            None => &path,
        };
        let envc = env::bound(&base, self);
        // Both arrays' NULLs, and a spare slot before argv for `/bin/sh` ([`Program::run_scripts_with_sh`]).
        let words = argv.len() + envc + 3;
        let mut stack = ExecStack::for_words(words)?;
        let argv = pointer_array_after_a_spare(&mut stack, argv)?;
        let envp = reserve_array(&mut stack, envc)?;
        // SAFETY: `envp` has room for envc + 1 pointers, reserved above.
        unsafe { env::merge(&base, self, envp, envc) };
        let exec = child::ChildExec {
            program: *self,
            argv,
            envp,
        };
        Ok((stack, Image { exec, _base: base }))
    }
}

/// A prepared program: what the child runs, and the environment strings it points into, which
/// must live until the child has exec'd or has its own copy of memory.
pub(crate) struct Image<'a> {
    pub(crate) exec: child::ChildExec<'a>,
    _base: env::Base<'a>,
}

/// Stack for an exec child: it only sets itself up and calls execve. Its sandbox set-up (a
/// namespaced program's mounts and files) has frames with paths of `PATH_MAX` bytes; in an
/// unoptimized build a --bind-fd or --ro-bind-data outgrew 64 KiB. Only the pages a child
/// touches are ever faulted in, and the stack is kept for the next spawn (`EXEC_STACKS`).
const EXEC_STACK: usize = 256 * 1024;

/// Exec children's stacks: [`EXEC_STACK`] bytes for the child and a page more for its argument
/// and environment arrays. A spawn holds one only until its child has exec'd or exited (or
/// runs on a copy of its own), so one kept stack serves a program that spawns one at a time;
/// a fresh mapping would cost an `mmap`, an `munmap` and a fault per page the child touches.
static EXEC_STACKS: StackSlot = StackSlot::new(EXEC_STACK + PAGE_SIZE);

/// An exec child's stack, from [`EXEC_STACKS`] (or mapped for it when the arrays need more than
/// that page), given back when dropped.
pub(crate) struct ExecStack(ManuallyDrop<Stack<'static>>);

impl ExecStack {
    /// A stack with [`EXEC_STACK`] bytes free under arrays of `words` pointers in all (two
    /// words more for the rounding of each of the two arrays to 16 bytes).
    fn for_words(words: usize) -> Result<ExecStack> {
        let needed = words
            .checked_add(2)
            .and_then(|words| words.checked_mul(size_of::<usize>()))
            .and_then(|bytes| bytes.checked_add(EXEC_STACK))
            .ok_or(Error::OutOfMemory { call: "mmap" })?;
        let stack = if needed <= EXEC_STACKS.stack_size() {
            EXEC_STACKS.take()?
        } else {
            Stack::map(needed)?
        };
        Ok(ExecStack(ManuallyDrop::new(stack)))
    }
}

impl Deref for ExecStack {
    type Target = Stack<'static>;
    fn deref(&self) -> &Stack<'static> {
        &self.0
    }
}

impl DerefMut for ExecStack {
    fn deref_mut(&mut self) -> &mut Stack<'static> {
        &mut self.0
    }
}

impl Drop for ExecStack {
    fn drop(&mut self) {
        // SAFETY: the stack is taken out once, here, and never used again.
        EXEC_STACKS.give(unsafe { ManuallyDrop::take(&mut self.0) });
    }
}

/// The message code of a failed `execve` (setup steps send their [`SetupStep`] number).
const EXEC_FAILED: u32 = 0xe7ec;

/// What went wrong in the child before or at `execve`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Failure {
    /// `execve` itself.
    Exec(Errno),
    /// A step before it.
    Setup(SetupStep, Errno),
}

impl Failure {
    /// As a two-word message for the parent.
    pub(crate) fn message(self) -> (u32, u32) {
        match self {
            Failure::Exec(errno) => (EXEC_FAILED, errno.into_raw() as u32),
            Failure::Setup(step, errno) => (step.to_u32(), errno.into_raw() as u32),
        }
    }

    /// The error a message from the child about `program` stands for.
    pub(crate) fn error((code, errno): (u32, u32), program: &CStr) -> Error {
        let errno = Errno::new(errno as i32);
        match (code, SetupStep::from_u32(code)) {
            (EXEC_FAILED, _) => Error::Exec {
                path: ErrorPath::new(program.to_bytes()),
                errno,
            },
            (_, Some(step)) => Error::ExecSetup { step, errno },
            (_, None) => Error::ChildGone,
        }
    }
}

/// What `std::process::Command` resets in its child before `execve`: `SIGPIPE` back to
/// `SIG_DFL`. std ignores it in every Rust program, and an ignored signal stays ignored across
/// exec, so `yes | head -n1` would end in "Broken pipe". The signal mask is inherited, as std
/// (since 1.66), `posix_spawn` and `unshare` leave it; handled signals need nothing, exec resets
/// them itself.
fn reset_for_exec() {
    let _ = crate::sys::set_signal_disposition(
        crate::signal::Signal::SIGPIPE,
        crate::sys::Disposition::Default,
    );
}

/// Room for `len` pointers and a NULL at the top of `stack`, above the child's stack.
fn reserve_array(stack: &mut Stack<'_>, len: usize) -> Result<*mut *const u8> {
    let bytes = (len + 1) * size_of::<usize>();
    let array = stack.reserve_top(bytes);
    let array = array.ok_or(Error::Rule(Rule::StackTooSmall, CloneFlags::VFORK))?;
    Ok(array.cast())
}

/// Write `items` as a NULL-terminated array of pointers into the top of `stack`, after one
/// spare slot (NULL) that the child may fill to run a script with `/bin/sh`.
fn pointer_array_after_a_spare(stack: &mut Stack<'_>, items: &[&CStr]) -> Result<*const *const u8> {
    let spare = reserve_array(stack, items.len() + 1)?;
    // SAFETY: `spare` has room for items.len() + 2 pointers, reserved above: the spare slot,
    // the items and the NULL.
    let array = unsafe {
        spare.write(core::ptr::null());
        spare.add(1)
    };
    for (i, item) in items.iter().enumerate() {
        // SAFETY: as above: slot i + 1 of the reservation.
        unsafe { array.add(i).write(item.as_ptr().cast()) };
    }
    // SAFETY: as above: the last slot.
    unsafe { array.add(items.len()).write(core::ptr::null()) };
    Ok(array.cast_const())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_stack_is_kept_for_the_next_spawn_unless_its_arrays_need_more() {
        let base = ExecStack::for_words(3).unwrap().base();
        let again = ExecStack::for_words(100).unwrap();
        assert_eq!((again.base(), again.size()), (base, EXEC_STACK + PAGE_SIZE));
        drop(again);
        let large = ExecStack::for_words(PAGE_SIZE).unwrap();
        assert_ne!(large.base(), base);
        assert!(large.size() >= EXEC_STACK + PAGE_SIZE * size_of::<usize>());
        // Mapped for its arrays alone: given back, it is unmapped, and the slot keeps its own.
        drop(large);
        assert_eq!(ExecStack::for_words(3).unwrap().base(), base);
    }
}
