//! Entering new namespaces from the calling thread (`unshare(2)`), and opening a file relative to
//! a directory descriptor (`openat(2)`), which a process needs to reach its own `/proc` entries
//! once its root has moved.

use super::{BorrowedFd, Errno, Fd};
use crate::flags::CloneFlags;
use core::ffi::CStr;
use linux_raw_sys::general as k;
use syscalls::{Sysno, syscall1, syscall4};

/// `unshare(2)`: move the calling thread into new namespaces (`flags`' `CLONE_NEW*` bits, and
/// `CLONE_FS`, `CLONE_FILES`, `CLONE_SYSVSEM`, which unshare what the thread shared). A new
/// user namespace needs a single-threaded caller (EINVAL otherwise) whose root is its mount
/// namespace's root (EPERM in a chroot); the other namespaces need `CAP_SYS_ADMIN` over the
/// caller's user namespace, or a new user namespace in the same call.
///
/// ```
/// use rawclone::{flags::CloneFlags, ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().spawn(&mut stack, || {
///         // Root of its user namespace: a mount namespace of its own is allowed.
///         sys::unshare(CloneFlags::NEWNS).is_ok() as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn unshare(flags: CloneFlags) -> Result<(), Errno> {
    // SAFETY: takes a flag word, touches no memory of ours.
    unsafe { syscall1(Sysno::unshare, flags.bits() as usize) }.map(drop)
}

/// `openat(dir, path, flags | O_CLOEXEC)`: `path` looked up from the directory `dir` (which may
/// be an `O_PATH` descriptor) unless it is absolute; a new file gets mode 0644.
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH, O_RDONLY};
/// use rawclone::sys;
/// let proc_self = sys::open(c"/proc/self", O_PATH | O_DIRECTORY)?;
/// let status = sys::open_at(proc_self.as_fd(), c"status", O_RDONLY)?;
/// let mut buf = [0u8; 5];
/// sys::read(status.as_fd(), &mut buf)?;
/// assert_eq!(&buf, b"Name:");
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias = "openat")]
pub fn open_at(dir: BorrowedFd<'_>, path: &CStr, flags: u32) -> Result<Fd, Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call; `dir` is a descriptor we borrow.
    let fd = unsafe {
        syscall4(
            Sysno::openat,
            dir.as_raw() as usize,
            path.as_ptr() as usize,
            (flags | k::O_CLOEXEC) as usize,
            0o644,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// `openat2(2)` of `path` with `RESOLVE_IN_ROOT`: looked up as if `root` were the root
/// directory, so that `..` and absolute symlinks on the way stay inside it (an absolute `path`
/// starts there too), and with `flags | O_CLOEXEC`. What a process whose root has moved needs
/// to follow a path the way its old root would have (Linux 5.6+; ENOSYS before).
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH, O_RDONLY};
/// use rawclone::{sys, Errno};
/// let etc = sys::open(c"/etc", O_PATH | O_DIRECTORY)?;
/// // Inside /etc as a root, "/passwd" and "../passwd" are both /etc/passwd.
/// match sys::open_in_root(etc.as_fd(), c"/passwd", O_RDONLY) {
///     Ok(_) => assert!(sys::open_in_root(etc.as_fd(), c"../passwd", O_RDONLY).is_ok()),
///     Err(e) => assert_eq!(e, Errno::ENOSYS), // a kernel before 5.6
/// }
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias = "openat2")]
pub fn open_in_root(root: BorrowedFd<'_>, path: &CStr, flags: u32) -> Result<Fd, Errno> {
    let how = k::open_how {
        flags: u64::from(flags | k::O_CLOEXEC),
        mode: 0,
        resolve: u64::from(k::RESOLVE_IN_ROOT),
    };
    // SAFETY: `path` is NUL-terminated and `how` a live local of the size passed; `root` is a
    // descriptor we borrow.
    let fd = unsafe {
        syscalls::syscall4(
            Sysno::openat2,
            root.as_raw() as usize,
            path.as_ptr() as usize,
            &raw const how as usize,
            size_of::<k::open_how>(),
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}
