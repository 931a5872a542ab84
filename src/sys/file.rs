//! Record locks on files (`fcntl(2)`'s `F_SETLK`), as a process holds them to tell others it
//! still runs.

use super::{BorrowedFd, Errno};
use linux_raw_sys::general as k;
use syscalls::{Sysno, syscall3};

/// `fcntl(fd, F_SETLK, …)` with a read lock on the whole file: taken at once or refused
/// (EAGAIN or EACCES while another process holds a write lock on any part of it). The lock is
/// the calling process's until it exits or closes any descriptor of the file, and another
/// process's write lock on it is refused meanwhile. `fd` needs to be open for reading.
///
/// ```
/// use linux_raw_sys::general::O_RDONLY;
/// use rawclone::sys;
/// let file = sys::open(c"/etc/passwd", O_RDONLY)?;
/// sys::read_lock(file.as_fd())?;
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias = "fcntl")]
pub fn read_lock(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let lock = k::flock {
        l_type: k::F_RDLCK as _,
        l_whence: k::SEEK_SET as _,
        l_start: 0,
        l_len: 0, // to the end of the file, however long it grows
        l_pid: 0,
    };
    // SAFETY: `lock` is a live local the kernel only reads; `fd` is a descriptor we borrow.
    unsafe {
        syscall3(
            Sysno::fcntl,
            fd.as_raw() as usize,
            k::F_SETLK as usize,
            &raw const lock as usize,
        )
    }
    .map(drop)
}
