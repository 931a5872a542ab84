//! One error type for the whole crate: a rule broken before any syscall, or the kernel's errno,
//! named, together with the call that returned it.

use crate::flags::{CloneFlags, Rule};
use crate::signal::Signal;
use core::fmt;
pub use syscalls::Errno;

/// Everything that can go wrong creating or joining a task.
///
/// # With std
/// The `std` feature adds `From<Error> for std::io::Error`, so `?` works in a function that
/// returns `io::Result`. An error that carries an errno ([`Error::errno`]: the kernel's answer,
/// and `OutOfTasks`, `OutOfMemory` and `NamespacePermission`, which stand for EAGAIN, ENOMEM
/// and EPERM) becomes `io::Error::from_raw_os_error`, so `raw_os_error()` and `kind()` are
/// std's own for that errno, and the call's name is dropped; the others become an
/// `io::Error` of kind `InvalidInput` (a broken [`Rule`], a stack too small) or `Other` that
/// holds this error (its text, and `get_ref`/`downcast` give it back). To keep the call's name
/// in the text too, wrap instead: `io::Error::other(e)`.
///
/// ```
/// # #[cfg(feature = "std")] {
/// use std::io;
/// fn reap() -> io::Result<()> {
///     // SAFETY: the child only exits.
///     match unsafe { rawclone::fork()? } {
///         rawclone::Fork::Child => rawclone::sys::exit_group(0),
///         rawclone::Fork::Parent(child) => assert!(child.wait()?.success()),
///     }
///     Ok(())
/// }
/// reap().unwrap();
/// let e: io::Error = rawclone::Error::Sys { call: "open", errno: rawclone::Errno::ENOENT }.into();
/// assert_eq!(e.kind(), io::ErrorKind::NotFound);
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A flag rule was broken; nothing was asked of the kernel.
    Rule(Rule, CloneFlags),
    /// The stack cannot hold what goes on it before the child runs: the closure (on the stack,
    /// and its copies in the child's first frames: one for [`crate::Builder::spawn`], two, as an
    /// unoptimised build makes them, for [`crate::Builder::spawn_thread`] and a spawner's
    /// task), rawclone's control data at the top (for a [`crate::Spawner`] task also its result,
    /// and for a Thread or Chimera one the 16 KiB under its block) and
    /// [`crate::MIN_CHILD_FRAME`] for the entry frame. Nothing was asked of the kernel. A
    /// [`crate::Spawner`] counts both sizes over the whole stack of the task, as
    /// [`crate::spawner::Config::stack_size`] set it.
    ///
    /// ```
    /// use rawclone::{Backend, Error, Spawner};
    /// let spawner = Spawner::config(Backend::Thread).stack_size(64 * 1024).build()?;
    /// let big = [1u8; 64 * 1024];
    /// // SAFETY: never runs: refused before the clone.
    /// let err = unsafe { spawner.spawn(move || big[7]) }.map(|_| ()).unwrap_err();
    /// let Error::StackTooSmall { needed, usable } = err else { panic!("{err}") };
    /// assert!(needed > 64 * 1024 && usable == 64 * 1024);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    StackTooSmall {
        /// Bytes of stack the child needs at least: all of it when the closure was counted,
        /// else what was counted before the refusal (a stack this large may be refused again,
        /// with the closure counted).
        needed: usize,
        /// Bytes the stack has.
        usable: usize,
    },
    /// The kernel refused `call` with `errno`.
    Sys {
        /// The syscall, as named in section 2 of the manual.
        call: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
    /// A namespace flag was refused with EPERM; says which capability the caller lacks.
    NamespacePermission {
        /// The namespace flags of the refused request.
        flags: CloneFlags,
        /// Whether the caller holds CAP_SYS_ADMIN in its user namespace (read with `capget`).
        cap_sys_admin: bool,
    },
    /// The parent could not write the child's `/proc/PID/setgroups`, `uid_map` or `gid_map`
    /// (`user_namespaces(7)`): typically EPERM for a map of more than the caller's own id
    /// without `CAP_SETUID`/`CAP_SETGID` over the parent namespace. The child is reaped.
    IdMap {
        /// The child's pid, as the file's path had it.
        pid: i32,
        /// `setgroups`, `uid_map` or `gid_map`.
        file: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
    /// The child could not exec its program: `execve`'s errno, which came back through shared
    /// memory (vfork-style) or the handshake socket (namespaced).
    Exec {
        /// The program as the caller named it (a name without `/` was searched in `PATH`; the
        /// errno is then the search's answer, as `execvp(3)` gives it).
        path: ErrorPath,
        /// The kernel's answer.
        errno: Errno,
    },
    /// The child ended before the parent released it from a handshake.
    ChildGone,
    /// The kernel would not create another task (`EAGAIN` from clone): `RLIMIT_NPROC`, the
    /// system's `threads-max` or `pid_max`, or a cgroup's `pids.max` is reached.
    OutOfTasks,
    /// The kernel had no memory for `call` (`ENOMEM`): `RLIMIT_AS`, an overcommit limit, or a
    /// full `vm.max_map_count`.
    OutOfMemory {
        /// The syscall that failed.
        call: &'static str,
    },
    /// A spawner task ended without returning a value: a chimera killed by a signal (a stack
    /// overflow shows as SIGSEGV) or exiting on its own, or a thread task that called `exit`
    /// (no status is kept for a thread: `None`).
    TaskEnded(Option<ExitStatus>),
    /// A namespaced child could not set itself up: the step and the kernel's errno.
    NamespaceSetup {
        /// What the child was doing.
        step: SetupStep,
        /// The kernel's answer.
        errno: Errno,
        /// The path the step was working on, where it had one: a mount action's destination
        /// (its source when looking that up failed), or the new root.
        path: Option<ErrorPath>,
    },
    /// The child of a [`crate::program::Program`] spawn failed a step before its `execve`: the
    /// step and the kernel's errno (or the `pre_exec` hook's), the child reaped.
    ExecSetup {
        /// What the child was doing.
        step: SetupStep,
        /// The kernel's answer.
        errno: Errno,
    },
}

impl Error {
    /// The kernel's errno as the raw number std's `io::Error::raw_os_error` gives, for the
    /// variants that carry one ([`Error::errno`]).
    ///
    /// ```
    /// let err = rawclone::sys::open(c"/no/such/file", 0).map_err(|e| rawclone::Error::Sys {
    ///     call: "open",
    ///     errno: e,
    /// });
    /// assert_eq!(err.unwrap_err().raw_os_error(), Some(2)); // ENOENT
    /// assert_eq!(rawclone::Error::ChildGone.raw_os_error(), None);
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno().map(Errno::into_raw)
    }

    /// The kernel's errno, for the variants that carry one.
    ///
    /// ```
    /// use rawclone::{Errno, Error};
    /// let err = Error::Sys { call: "open", errno: Errno::ENOENT };
    /// assert_eq!(err.errno(), Some(Errno::ENOENT));
    /// assert_eq!(Error::OutOfTasks.errno(), Some(Errno::EAGAIN));
    /// assert_eq!(Error::ChildGone.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match *self {
            Error::Sys { errno, .. }
            | Error::Exec { errno, .. }
            | Error::IdMap { errno, .. }
            | Error::NamespaceSetup { errno, .. }
            | Error::ExecSetup { errno, .. } => Some(errno),
            Error::OutOfTasks => Some(Errno::EAGAIN),
            Error::OutOfMemory { .. } => Some(Errno::ENOMEM),
            Error::NamespacePermission { .. } => Some(Errno::EPERM),
            _ => None,
        }
    }

    /// The same error for a stack with `bytes` more at its top, set aside by the caller before
    /// it passed the rest on: [`Error::StackTooSmall`] then counts the whole stack.
    pub(crate) fn with_reserved_top(self, bytes: usize) -> Error {
        match self {
            Error::StackTooSmall { needed, usable } => Error::StackTooSmall {
                needed: needed.saturating_add(bytes),
                usable: usable + bytes,
            },
            e => e,
        }
    }

    /// The error for `call` failing with `errno`: [`Error::OutOfMemory`] for ENOMEM, else
    /// [`Error::Sys`].
    pub(crate) fn sys(call: &'static str, errno: Errno) -> Error {
        match errno {
            Errno::ENOMEM => Error::OutOfMemory { call },
            errno => Error::Sys { call, errno },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rule(rule, flags) => {
                write!(f, "refused before the syscall: {rule} (flags {flags})")
            }
            Error::StackTooSmall { needed, usable } => write!(
                f,
                "refused before the syscall: the stack is too small: the child needs {needed} \
                 bytes (its closure, twice, rawclone's data at the top and the entry frame) and \
                 the stack has {usable}"
            ),
            Error::Sys { call, errno } => write!(f, "{call}: {}", Named(*errno)),
            Error::NamespacePermission {
                flags,
                cap_sys_admin: false,
            } => write!(
                f,
                "clone: EPERM for {flags}: creating these namespaces needs CAP_SYS_ADMIN, which \
                 this process does not hold in its user namespace; add CLONE_NEWUSER to create \
                 them unprivileged"
            ),
            Error::NamespacePermission {
                flags,
                cap_sys_admin: true,
            } => write!(
                f,
                "clone: EPERM for {flags} although CAP_SYS_ADMIN is held: a sysctl or LSM limits \
                 namespaces here (see user.max_*_namespaces), or the caller is in a chroot"
            ),
            Error::IdMap { pid, file, errno } => {
                write!(f, "write /proc/{pid}/{file}: {}", Named(*errno))
            }
            Error::Exec { path, errno } => {
                write!(f, "execve of {path:?} in the child: {}", Named(*errno))
            }
            Error::ChildGone => f.write_str("the child exited before the handshake completed"),
            Error::OutOfTasks => f.write_str(
                "clone: EAGAIN: no more tasks allowed (RLIMIT_NPROC, threads-max, pid_max or a \
                 cgroup's pids.max)",
            ),
            Error::OutOfMemory { call } => write!(
                f,
                "{call}: ENOMEM: out of memory (RLIMIT_AS, overcommit, or vm.max_map_count)"
            ),
            Error::NamespaceSetup { step, errno, path } => {
                f.write_str("namespace setup in the child, ")?;
                if let SetupStep::Mount { index, .. } = step {
                    write!(f, "mount action {index}, ")?;
                }
                f.write_str(step.describe())?;
                if let Some(path) = path {
                    write!(f, " ({path})")?;
                }
                write!(f, ": {}", Named(*errno))
            }
            Error::ExecSetup { step, errno } => write!(
                f,
                "setting up the program in the child, {}: {}",
                step.describe(),
                Named(*errno)
            ),
            Error::TaskEnded(None) => f.write_str("the task exited without returning a value"),
            Error::TaskEnded(Some(ExitStatus::Exited(code))) => {
                write!(
                    f,
                    "the task exited with status {code} without returning a value"
                )
            }
            Error::TaskEnded(Some(ExitStatus::Signaled { signal, .. })) => {
                write!(f, "the task was killed by {signal}")
            }
        }
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        match (e.raw_os_error(), e) {
            (Some(raw), _) => std::io::Error::from_raw_os_error(raw),
            (None, e @ (Error::Rule(..) | Error::StackTooSmall { .. })) => {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
            }
            (None, e) => std::io::Error::other(e),
        }
    }
}

/// An errno as `ENOENT (No such file or directory)`.
pub(crate) struct Named(pub(crate) Errno);

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.name(), self.0.description()) {
            (Some(name), Some(text)) => write!(f, "{name} ({text})"),
            (Some(name), None) => f.write_str(name),
            _ => write!(f, "errno {}", self.0.into_raw()),
        }
    }
}

/// A path as an error carries it: its first bytes, kept without allocation so that [`Error`]
/// stays `Copy`. Shown lossily as UTF-8, with `…` where it was cut.
///
/// ```
/// use rawclone::{vfork_exec, Errno, Error};
/// let missing = vfork_exec(c"/no/such/program", &[c"x"], &[]);
/// let Err(Error::Exec { path, errno }) = missing else { panic!("{missing:?}") };
/// assert_eq!((path.as_bytes(), errno), (&b"/no/such/program"[..], Errno::ENOENT));
/// assert_eq!(
///     Error::Exec { path, errno }.to_string(),
///     "execve of \"/no/such/program\" in the child: ENOENT (No such file or directory)"
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrorPath {
    buf: [u8; ErrorPath::CAPACITY],
    len: u8,
    cut: bool,
}

impl ErrorPath {
    /// The most bytes kept.
    ///
    /// ```
    /// use rawclone::ErrorPath;
    /// assert_eq!(ErrorPath::new(&[b'a'; 100]).as_bytes().len(), ErrorPath::CAPACITY);
    /// ```
    pub const CAPACITY: usize = 62;

    /// Keep the first [`ErrorPath::CAPACITY`] bytes of `path`.
    ///
    /// ```
    /// use rawclone::ErrorPath;
    /// let path = ErrorPath::new(b"/bin/sh");
    /// assert_eq!((path.as_bytes(), path.is_cut()), (&b"/bin/sh"[..], false));
    /// ```
    pub fn new(path: &[u8]) -> ErrorPath {
        let len = path.len().min(Self::CAPACITY);
        let mut buf = [0; Self::CAPACITY];
        buf[..len].copy_from_slice(&path[..len]);
        ErrorPath {
            buf,
            len: len as u8,
            cut: len < path.len(),
        }
    }

    /// The bytes kept.
    ///
    /// ```
    /// use rawclone::ErrorPath;
    /// assert_eq!(ErrorPath::new(b"/etc").as_bytes(), b"/etc");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Whether the path was longer than what is kept.
    ///
    /// ```
    /// use rawclone::ErrorPath;
    /// let long = [b'x'; ErrorPath::CAPACITY + 1];
    /// assert!(ErrorPath::new(&long).is_cut());
    /// assert!(!ErrorPath::new(&long[..ErrorPath::CAPACITY]).is_cut());
    /// ```
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl fmt::Display for ErrorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// How a child process ended.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork, Signal};
/// // SAFETY: the child only sends itself a signal.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let _ = sys::kill(sys::getpid(), Signal::SIGTERM);
///         sys::exit_group(1)
///     }
///     Fork::Parent(child) => {
///         let status = child.wait()?;
///         assert_eq!(status, ExitStatus::Signaled { signal: Signal::SIGTERM, core_dumped: false });
///         assert_eq!((status.code(), status.signal()), (None, Some(Signal::SIGTERM)));
///         assert!(!status.success());
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExitStatus {
    /// It called `exit` (or returned) with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled {
        /// The signal.
        signal: Signal,
        /// Whether it dumped core.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Whether it exited with status 0.
    ///
    /// ```
    /// use rawclone::ExitStatus;
    /// assert!(ExitStatus::Exited(0).success());
    /// assert!(!ExitStatus::Exited(1).success());
    /// ```
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The exit status, if it exited (as std's `ExitStatus::code`).
    ///
    /// ```
    /// use rawclone::{ExitStatus, Signal};
    /// assert_eq!(ExitStatus::Exited(3).code(), Some(3));
    /// let killed = ExitStatus::Signaled { signal: Signal::SIGKILL, core_dumped: false };
    /// assert_eq!(killed.code(), None);
    /// ```
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(code) => Some(code),
            ExitStatus::Signaled { .. } => None,
        }
    }

    /// The signal that killed it, if one did (as std's `ExitStatusExt::signal`, typed).
    ///
    /// ```
    /// use rawclone::{ExitStatus, Signal};
    /// let killed = ExitStatus::Signaled { signal: Signal::SIGKILL, core_dumped: false };
    /// assert_eq!(killed.signal(), Some(Signal::SIGKILL));
    /// assert_eq!(ExitStatus::Exited(0).signal(), None);
    /// ```
    pub fn signal(self) -> Option<Signal> {
        match self {
            ExitStatus::Signaled { signal, .. } => Some(signal),
            ExitStatus::Exited(_) => None,
        }
    }

    /// The status as `wait(2)` encodes it (what `WIFEXITED`, `WEXITSTATUS`, `WTERMSIG` and
    /// `WCOREDUMP` decode, and std's `ExitStatusExt::from_raw` takes): the low 8 bits of the
    /// exit status shifted left by 8, or the signal number with 0x80 for a core dump.
    ///
    /// ```
    /// use rawclone::{ExitStatus, Signal};
    /// assert_eq!(ExitStatus::Exited(3).into_raw(), 0x300);
    /// let dumped = ExitStatus::Signaled { signal: Signal::SIGSEGV, core_dumped: true };
    /// assert_eq!(dumped.into_raw(), 11 | 0x80);
    /// ```
    pub fn into_raw(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => (code & 0xff) << 8,
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => signal.number() as i32 | if core_dumped { 0x80 } else { 0 },
        }
    }
}

/// As std prints an exit status: `exit status: 3`, `signal: 9 (SIGKILL)`, and
/// ` (core dumped)` after a dump.
///
/// ```
/// use rawclone::{ExitStatus, Signal};
/// assert_eq!(ExitStatus::Exited(3).to_string(), "exit status: 3");
/// let killed = ExitStatus::Signaled { signal: Signal::SIGKILL, core_dumped: false };
/// assert_eq!(killed.to_string(), "signal: 9 (SIGKILL)");
/// ```
impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Exited(code) => write!(f, "exit status: {code}"),
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "signal: {} ({signal})", signal.number())?;
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// With the `std` feature, through [`ExitStatus::into_raw`]'s wait-status encoding, so std's
/// `code()`, `signal()`, `core_dumped()` and `Display` agree with rawclone's.
///
/// ```
/// # #[cfg(feature = "std")] {
/// use std::os::unix::process::ExitStatusExt;
/// let status: std::process::ExitStatus = rawclone::ExitStatus::Exited(3).into();
/// assert_eq!(status.code(), Some(3));
/// assert_eq!(status.signal(), None);
/// # }
/// ```
#[cfg(feature = "std")]
impl From<ExitStatus> for std::process::ExitStatus {
    fn from(status: ExitStatus) -> std::process::ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        std::process::ExitStatus::from_raw(status.into_raw())
    }
}

macro_rules! setup_steps {
    ($($(#[$doc:meta])* $name:ident => $text:literal,)*) => {
        /// The step of the child's setup that failed, in [`Error::NamespaceSetup`] (the namespaces) or
        /// [`Error::ExecSetup`] (a [`crate::program::Program`]'s steps before `execve`). More steps will
        /// come with more setup (`#[non_exhaustive]`).
        ///
        /// ```
        /// use rawclone::{ns::{Namespaces, SetupStep}, Error};
        /// // pivot_root into a directory that does not exist: the child names the step that failed.
        /// let ns = Namespaces::new().map_root().root(c"/nonexistent/root");
        /// match ns.exec(c"/bin/true", &[c"true"], &[]) {
        ///     Err(Error::NamespaceSetup { step, errno, path }) => {
        ///         assert_eq!(step, SetupStep::BindRoot);
        ///         assert_eq!(errno, rawclone::Errno::ENOENT);
        ///         assert_eq!(path.unwrap().as_bytes(), b"/nonexistent/root");
        ///     }
        ///     other => panic!("{other:?}"),
        /// }
        /// ```
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[non_exhaustive]
        pub enum SetupStep {
            $($(#[$doc])* $name,)*
            /// Action `index` of [`crate::ns::Namespaces::mounts`]: `part` of it failed.
            Mount {
                /// Its index in the slice.
                index: u16,
                /// What failed.
                part: MountPart,
            },
        }

        impl SetupStep {
            /// Every step without fields, in declaration order.
            const FIELDLESS: &[SetupStep] = &[$(SetupStep::$name),*];

            /// What the step does, in a few words.
            ///
            /// ```
            /// use rawclone::ns::SetupStep;
            /// assert_eq!(SetupStep::PivotRoot.describe(), "pivot_root into the new root");
            /// ```
            pub const fn describe(self) -> &'static str {
                match self {
                    $(SetupStep::$name => $text,)*
                    SetupStep::Mount { part, .. } => part.describe(),
                }
            }
        }
    };
}

setup_steps! {
    /// `prctl(PR_SET_PDEATHSIG)`.
    DeathSignal => "prctl(PR_SET_PDEATHSIG)",
    /// `sethostname(2)`.
    Hostname => "sethostname",
    /// `setdomainname(2)`.
    Domainname => "setdomainname",
    /// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE)`.
    PrivateMounts => "making mounts private (mount MS_REC|MS_PRIVATE on /)",
    /// The bind mount of the new root onto itself (`pivot_root` needs a mount point), made
    /// `nosuid` and `nodev` as every bind.
    BindRoot => "bind-mounting the new root onto itself (nosuid, nodev)",
    /// `chdir` into the new root and `pivot_root(".", ".")`.
    PivotRoot => "pivot_root into the new root",
    /// `umount2(".", MNT_DETACH)` of the old root.
    DetachOldRoot => "detaching the old root (umount2 MNT_DETACH)",
    /// `mount("proc", "/proc", "proc")`.
    MountProc => "mounting a fresh /proc",
    // A program's steps before execve, in the order the child takes them.
    /// `setsid(2)`: a new session ([`crate::program::Program::setsid`]).
    Setsid => "setsid (a new session)",
    /// A standard stream or file action: `dup3`, `fcntl(F_SETFD)`, `openat` or `close`.
    FileAction => "a standard stream or file action (dup3, fcntl, open, close)",
    /// `chdir(2)` into the program's working directory.
    Chdir => "chdir into the working directory",
    /// Marking the other descriptors close-on-exec (`close_range(2)` or a `/proc/self/fd` walk).
    CloseFds => "marking the other descriptors close-on-exec",
    /// `prlimit64(2)` of a resource limit.
    Rlimit => "setting a resource limit (prlimit64)",
    /// Dropping capabilities: `PR_CAPBSET_DROP`, `PR_CAP_AMBIENT_LOWER`, `capset(2)`.
    CapDrop => "dropping capabilities (bounding set, ambient, capset)",
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
    /// The caller's `pre_exec` hook.
    PreExec => "the pre_exec hook",
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp => "installing the seccomp filter",
    // Sandbox steps (`Namespaces::tmpfs_root`, `mounts`, `loopback_up`).
    /// Staging a new root as bubblewrap does: a tmpfs on `/tmp` with `newroot` and `oldroot`
    /// in it, and `pivot_root` into it, which puts the old root at `/oldroot`.
    StageRoot => "staging the new root (tmpfs on /tmp, pivot_root into it)",
    /// Bringing `lo` up (`SIOCSIFFLAGS` on an `AF_INET` socket).
    LoopbackUp => "bringing lo up (SIOCSIFFLAGS)",
    /// Locking a sandbox's mounts: `unshare(CLONE_NEWUSER | CLONE_NEWNS)` and the nested
    /// namespace's `setgroups`, `uid_map` and `gid_map`, through `/proc/self`.
    LockMounts => "locking the mounts (a nested user and mount namespace)",
}

macro_rules! mount_parts {
    ($($(#[$doc:meta])* $name:ident = $number:literal => $text:literal,)*) => {
        /// Which part of a mount action failed, in [`SetupStep::Mount`].
        ///
        /// ```
        /// use rawclone::ns::{Mount, MountPart, Namespaces, SetupStep};
        /// use rawclone::{Errno, Error};
        /// let mounts = [Mount::tmpfs(c"/tmp"), Mount::Bind { src: c"/no/such/dir", dst: c"/data" }];
        /// let ns = Namespaces::new().map_root().tmpfs_root().mounts(&mounts);
        /// let Err(Error::NamespaceSetup { step, errno, path }) = ns.exec(c"/bin/true", &[c"true"], &[])
        /// else {
        ///     panic!("the missing source must be refused")
        /// };
        /// assert_eq!(step, SetupStep::Mount { index: 1, part: MountPart::Source });
        /// assert_eq!((errno, path.unwrap().as_bytes()), (Errno::ENOENT, &b"/no/such/dir"[..]));
        /// ```
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum MountPart {
            $($(#[$doc])* $name = $number,)*
        }

        impl MountPart {
            /// Every part, in declaration order.
            const ALL: &[MountPart] = &[$(MountPart::$name),*];

            /// What the part does, in a few words.
            ///
            /// ```
            /// use rawclone::ns::MountPart;
            /// assert_eq!(MountPart::Source.describe(), "looking up the source");
            /// ```
            pub const fn describe(self) -> &'static str {
                match self {
                    $(MountPart::$name => $text,)*
                }
            }
        }
    };
}

// The numbers travel from the child to its parent in `SetupStep::Mount`'s message code.
mount_parts! {
    /// Looking up the source (`statx(2)`): missing, or its path too long (ENAMETOOLONG).
    Source = 1 => "looking up the source",
    /// Creating the destination or a directory on the way to it (`mkdir(2)`, `mknodat(2)`).
    Destination = 2 => "creating the destination",
    /// The `mount(2)` itself: the bind, the tmpfs, the proc.
    Mount = 3 => "mounting",
    /// Restricting a bind and its submounts (read-only, nosuid, nodev): `mount_setattr(2)`, or
    /// before Linux 5.12 a remount of each, with the flags `/proc/self/mountinfo` gives it.
    Restrict = 4 => "restricting the bind (read-only, nosuid, nodev)",
    /// A device node of a minimal `/dev` (an empty file, then a bind of the host's node).
    DevNode = 5 => "binding a device node",
    /// A symlink of a minimal `/dev` (`stdin`, `fd`, `ptmx`, …).
    DevLink = 6 => "creating a symlink in /dev",
    /// The devpts instance of a minimal `/dev` (`newinstance` at `pts`), or its `shm`.
    DevPts = 7 => "mounting devpts or making shm",
    /// Covering the parts of a proc that reach the whole machine (`sys`, `sysrq-trigger`, …)
    /// with read-only binds.
    ProcCover = 8 => "covering proc's machine-wide parts (sys, sysrq-trigger, ...) read-only",
}

impl MountPart {
    fn from_u8(n: u8) -> Option<MountPart> {
        MountPart::ALL.iter().copied().find(|p| *p as u8 == n)
    }
}

/// The message code of a [`SetupStep::Mount`]: these bits, the part above them, the index in
/// the top 16. Fieldless steps are numbered from 1 up and must stay below it.
const MOUNT_CODE: u32 = 0xa0;

impl SetupStep {
    /// The step as the child sends it to its parent.
    pub(crate) fn to_u32(self) -> u32 {
        match self {
            SetupStep::Mount { index, part } => {
                MOUNT_CODE | (part as u32) << 8 | u32::from(index) << 16
            }
            // Numbered from 1 in declaration order: 0 is the handshake's "ready".
            other => {
                let at = Self::FIELDLESS.iter().position(|s| *s == other);
                at.map_or(0, |i| i as u32 + 1)
            }
        }
    }

    pub(crate) fn from_u32(n: u32) -> Option<SetupStep> {
        use SetupStep::*;
        if n & 0xff == MOUNT_CODE {
            let part = MountPart::from_u8((n >> 8) as u8)?;
            let index = (n >> 16) as u16;
            return Some(Mount { index, part });
        }
        Self::FIELDLESS.iter().copied().find(|s| s.to_u32() == n)
    }
}

/// Shorthand for results in this crate.
///
/// ```
/// fn pid_of_a_child() -> rawclone::Result<i32> {
///     let child = rawclone::vfork_exec(c"/bin/true", &[c"true"], &[])?;
///     let pid = child.pid();
///     child.wait()?;
///     Ok(pid)
/// }
/// assert!(pid_of_a_child()? > 0);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::{MountPart, SetupStep};

    /// Every step comes back from the number the child sends, and no two share a number.
    #[test]
    fn every_setup_step_round_trips() {
        let steps = || {
            let mounts = MountPart::ALL
                .iter()
                .flat_map(|&part| [0, 1, u16::MAX].map(|index| SetupStep::Mount { index, part }));
            SetupStep::FIELDLESS.iter().copied().chain(mounts)
        };
        for (i, step) in steps().enumerate() {
            assert_ne!(step.to_u32(), 0, "{step:?}: 0 is the handshake's ready");
            assert_eq!(SetupStep::from_u32(step.to_u32()), Some(step));
            for other in steps().skip(i + 1) {
                assert_ne!(step.to_u32(), other.to_u32(), "{step:?} and {other:?}");
            }
        }
    }
}
