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
