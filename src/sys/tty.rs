//! Terminals and sessions: whether a descriptor is a terminal (`ioctl(fd, TCGETS)`, which only
//! a terminal answers, `ioctl_tty(2)`, the way `isatty(3)` asks), and a new session without
//! one (`setsid(2)`).

use super::{BorrowedFd, Errno, Pid};
use linux_raw_sys::{general as k, ioctl};
use syscalls::{Sysno, syscall0, syscall3};

/// `setsid(2)`: make the caller the leader of a new session and of a new process group, with
/// no controlling terminal; returns the session's id (the caller's pid). EPERM for a process
/// group leader, which a freshly forked child never is. A program in a session of its own
/// cannot reach the terminal of the session it left: `TIOCSTI` on it fails (EPERM), and
/// opening `/dev/tty` fails (ENXIO).
///
/// ```
/// use rawclone::{fork, sys, ExitStatus, Fork};
/// // SAFETY: the child only makes raw syscalls and exits.
/// match unsafe { fork()? } {
///     Fork::Child => sys::exit_group((sys::setsid() == Ok(sys::getpid())) as i32),
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn setsid() -> Result<Pid, Errno> {
    // SAFETY: no arguments; touches no memory of ours.
    unsafe { syscall0(Sysno::setsid) }.map(|sid| sid as Pid)
}

/// Whether `fd` is a terminal (`isatty(3)`): ENOTTY from `TCGETS` says it is not.
///
/// ```
/// use rawclone::sys;
/// let (r, _w) = sys::pipe()?;
/// assert_eq!(sys::is_terminal(r.as_fd()), Ok(false));
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("isatty"))]
pub fn is_terminal(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    // SAFETY: termios is plain old data, for which all zeroes is a valid value.
    let mut settings: k::termios = unsafe { core::mem::zeroed() };
    // SAFETY: TCGETS writes one struct termios into a live local.
    let asked = unsafe {
        syscall3(
            Sysno::ioctl,
            fd.as_raw() as usize,
            ioctl::TCGETS as usize,
            (&raw mut settings) as usize,
        )
    };
    match asked {
        Ok(_) => Ok(true),
        Err(Errno::ENOTTY) => Ok(false),
        Err(e) => Err(e),
    }
}
