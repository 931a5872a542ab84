//! One error type for the whole crate: a rule broken before any syscall, or the kernel's errno,
//! named, together with the call that returned it.

use crate::flags::{CloneFlags, Rule};
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
}

impl Error {
    /// The kernel's errno, for the variants that carry one.
    pub fn errno(&self) -> Option<Errno> {
        match *self {
            Error::Sys { errno, .. } | Error::Exec(errno) => Some(errno),
            Error::NamespacePermission { .. } => Some(Errno::EPERM),
            _ => None,
        }
    }

    /// Shorthand for [`Error::Sys`].
    pub(crate) const fn sys(call: &'static str, errno: Errno) -> Error {
        Error::Sys { call, errno }
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

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
