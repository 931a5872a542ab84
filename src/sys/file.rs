//! Files by descriptor: made in a directory (`openat(2)`, `symlinkat(2)`), read
//! (`readlinkat(2)`), their mode changed (`fchmodat2(2)`) and locked (`fcntl(2)`'s
//! `F_SETLK`, as a process holds a lock to tell others it still runs); and the mode mask
//! (`umask(2)`).

use super::{BorrowedFd, Errno, Fd};
use core::ffi::CStr;
use linux_raw_sys::general as k;
use syscalls::{Sysno, syscall1, syscall3, syscall4};

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

/// `umask(2)`: set the calling process's file mode creation mask to `mask` (its low nine
/// bits), returning the one before. Every `mkdir`, `mknod` and `open` with `O_CREAT` clears
/// the mask's bits from the mode it is given.
///
/// ```
/// use rawclone::sys;
/// let before = sys::umask(0o077);
/// assert_eq!(sys::umask(before), 0o077);
/// ```
pub fn umask(mask: u32) -> u32 {
    // SAFETY: takes a number, touches no memory; umask cannot fail.
    unsafe { syscall1(Sysno::umask, (mask & 0o777) as usize) }.unwrap_or(0) as u32
}

/// `symlinkat(2)`: make `name` in the directory `dir` a symbolic link whose text is `target`.
/// EEXIST when `name` is there already, whatever it is.
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::sys;
/// let dir = std::env::temp_dir().join(format!("rawclone-doc-symlink-at-{}", sys::getpid()));
/// std::fs::create_dir(&dir).unwrap();
/// let at = sys::open(&std::ffi::CString::new(dir.to_str().unwrap()).unwrap(), O_PATH | O_DIRECTORY)?;
/// sys::symlink_at(c"/dev/null", at.as_fd(), c"link")?;
/// let mut buf = [0u8; 64];
/// assert_eq!(sys::read_link_at(at.as_fd(), c"link", &mut buf)?, b"/dev/null");
/// std::fs::remove_dir_all(dir).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias = "symlinkat")]
pub fn symlink_at(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: two NUL-terminated strings that live for the call; `dir` is a descriptor we
    // borrow.
    unsafe {
        syscall3(
            Sysno::symlinkat,
            target.as_ptr() as usize,
            dir.as_raw() as usize,
            name.as_ptr() as usize,
        )
    }
    .map(drop)
}

/// `readlinkat(2)`: the text of the symbolic link `name` in the directory `dir`, read into
/// `buf`; ENAMETOOLONG when it may not fit (the kernel filled all of `buf`), EINVAL when
/// `name` is not a symbolic link.
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::sys;
/// let proc_self = sys::open(c"/proc/self", O_PATH | O_DIRECTORY)?;
/// let mut buf = [0u8; 64];
/// assert!(sys::read_link_at(proc_self.as_fd(), c"exe", &mut buf)?.starts_with(b"/"));
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias = "readlinkat")]
pub fn read_link_at<'b>(
    dir: BorrowedFd<'_>,
    name: &CStr,
    buf: &'b mut [u8],
) -> Result<&'b [u8], Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`; `name` is NUL-terminated;
    // `dir` is a descriptor we borrow.
    let n = unsafe {
        syscall4(
            Sysno::readlinkat,
            dir.as_raw() as usize,
            name.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    }?;
    if n == buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(&buf[..n])
}

/// `openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode)`: a new
/// regular file `name` in the directory `dir`, of mode `mode` less the umask, open for writing.
/// EEXIST when `name` is there already (a symbolic link included: none is followed).
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::sys;
/// let dir = std::env::temp_dir().join(format!("rawclone-doc-create-at-{}", sys::getpid()));
/// std::fs::create_dir(&dir).unwrap();
/// let at = sys::open(&std::ffi::CString::new(dir.to_str().unwrap()).unwrap(), O_PATH | O_DIRECTORY)?;
/// let file = sys::create_at(at.as_fd(), c"new", 0o600)?;
/// sys::write(file.as_fd(), b"data")?;
/// assert_eq!(sys::create_at(at.as_fd(), c"new", 0o600).err(), Some(rawclone::Errno::EEXIST));
/// std::fs::remove_dir_all(dir).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias = "openat")]
pub fn create_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<Fd, Errno> {
    let flags = k::O_CREAT | k::O_EXCL | k::O_WRONLY | k::O_NOFOLLOW | k::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and lives for the call; `dir` is a descriptor we borrow.
    let fd = unsafe {
        syscall4(
            Sysno::openat,
            dir.as_raw() as usize,
            name.as_ptr() as usize,
            flags as usize,
            mode as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// Change the mode of the file `fd` refers to (which may be an `O_PATH` descriptor) to `mode`:
/// `fchmodat2(2)` with `AT_EMPTY_PATH` (Linux 6.6+), else `fchmod(2)`, which an `O_PATH`
/// descriptor answers with EBADF.
///
/// ```
/// use linux_raw_sys::general::{O_PATH, S_IFMT};
/// use rawclone::sys;
/// let path = std::env::temp_dir().join(format!("rawclone-doc-chmod-{}", sys::getpid()));
/// std::fs::write(&path, b"").unwrap();
/// let cpath = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
/// let file = sys::open(&cpath, O_PATH)?;
/// match sys::chmod_fd(file.as_fd(), 0o640) {
///     Ok(()) => assert_eq!(sys::file_mode(&cpath)? & !S_IFMT, 0o640),
///     Err(e) => assert_eq!(e, rawclone::Errno::EBADF), // before Linux 6.6
/// }
/// std::fs::remove_file(path).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("fchmodat2", "fchmod"))]
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    // SAFETY: an empty NUL-terminated path that lives for the call; `fd` is a descriptor we
    // borrow.
    let done = unsafe {
        syscall4(
            Sysno::fchmodat2,
            fd.as_raw() as usize,
            c"".as_ptr() as usize,
            mode as usize,
            k::AT_EMPTY_PATH as usize,
        )
    };
    match done {
        Err(Errno::ENOSYS) => {
            // SAFETY: takes a descriptor we borrow and a number.
            unsafe { syscalls::syscall2(Sysno::fchmod, fd.as_raw() as usize, mode as usize) }
                .map(drop)
        }
        done => done.map(drop),
    }
}
