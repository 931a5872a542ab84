//! One error type for the whole crate: a rule broken before any syscall, or the kernel's errno,
//! named, together with the call that returned it.

use crate::flags::{CloneFlags, Rule};
use crate::signal::Signal;
use core::fmt;
pub use syscalls::Errno;

/// Everything that can go wrong creating or joining a task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// A flag rule was broken; nothing was asked of the kernel.
    Rule(Rule, CloneFlags),
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
    /// The child of a vfork-style spawn could not exec; the errno came back through shared memory.
    Exec(Errno),
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
    },
}

impl Error {
    /// The kernel's errno, for the variants that carry one.
    pub fn errno(&self) -> Option<Errno> {
        match *self {
            Error::Sys { errno, .. } | Error::Exec(errno) | Error::NamespaceSetup { errno, .. } => {
                Some(errno)
            }
            Error::OutOfTasks => Some(Errno::EAGAIN),
            Error::OutOfMemory { .. } => Some(Errno::ENOMEM),
            Error::NamespacePermission { .. } => Some(Errno::EPERM),
            _ => None,
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
            Error::Exec(errno) => write!(f, "execve in the child: {}", Named(*errno)),
            Error::ChildGone => f.write_str("the child exited before the handshake completed"),
            Error::OutOfTasks => f.write_str(
                "clone: EAGAIN: no more tasks allowed (RLIMIT_NPROC, threads-max, pid_max or a \
                 cgroup's pids.max)",
            ),
            Error::OutOfMemory { call } => write!(
                f,
                "{call}: ENOMEM: out of memory (RLIMIT_AS, overcommit, or vm.max_map_count)"
            ),
            Error::NamespaceSetup { step, errno } => write!(
                f,
                "namespace setup in the child, {}: {}",
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

/// An errno as `ENOENT (No such file or directory)`.
struct Named(Errno);

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.name(), self.0.description()) {
            (Some(name), Some(text)) => write!(f, "{name} ({text})"),
            (Some(name), None) => f.write_str(name),
            _ => write!(f, "errno {}", self.0.into_raw()),
        }
    }
}

/// How a child process ended.
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
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

/// The step of the child's setup that failed, in [`Error::NamespaceSetup`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum SetupStep {
    /// `prctl(PR_SET_PDEATHSIG)`.
    DeathSignal = 1,
    /// `sethostname(2)`.
    Hostname,
    /// `setdomainname(2)`.
    Domainname,
    /// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE)`.
    PrivateMounts,
    /// The bind mount of the new root onto itself (`pivot_root` needs a mount point).
    BindRoot,
    /// `chdir` into the new root and `pivot_root(".", ".")`.
    PivotRoot,
    /// `umount2(".", MNT_DETACH)` of the old root.
    DetachOldRoot,
    /// `mount("proc", "/proc", "proc")`.
    MountProc,
}

impl SetupStep {
    pub(crate) fn from_u32(n: u32) -> Option<SetupStep> {
        use SetupStep::*;
        [
            DeathSignal,
            Hostname,
            Domainname,
            PrivateMounts,
            BindRoot,
            PivotRoot,
            DetachOldRoot,
            MountProc,
        ]
        .into_iter()
        .find(|s| *s as u32 == n)
    }

    /// What the step does, in a few words.
    pub const fn describe(self) -> &'static str {
        match self {
            SetupStep::DeathSignal => "prctl(PR_SET_PDEATHSIG)",
            SetupStep::Hostname => "sethostname",
            SetupStep::Domainname => "setdomainname",
            SetupStep::PrivateMounts => "making mounts private (mount MS_REC|MS_PRIVATE on /)",
            SetupStep::BindRoot => "bind-mounting the new root onto itself",
            SetupStep::PivotRoot => "pivot_root into the new root",
            SetupStep::DetachOldRoot => "detaching the old root (umount2 MNT_DETACH)",
            SetupStep::MountProc => "mounting a fresh /proc",
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
