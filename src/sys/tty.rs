//! Whether a descriptor is a terminal: `ioctl(fd, TCGETS)`, which only a terminal answers
//! (`ioctl_tty(2)`), the way `isatty(3)` asks.

use super::{BorrowedFd, Errno};
use linux_raw_sys::{general as k, ioctl};
use syscalls::{Sysno, syscall3};

/// Whether `fd` is a terminal (`isatty(3)`): ENOTTY from `TCGETS` says it is not.
///
/// ```
/// use rawclone::sys;
/// let (r, _w) = sys::pipe()?;
/// assert_eq!(sys::is_terminal(r.as_fd()), Ok(false));
/// # Ok::<(), rawclone::Errno>(())
/// ```
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
