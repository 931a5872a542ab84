//! Output and files for the binary, on raw syscalls: `print!`, `println!` and `eprintln!` write
//! straight to descriptors 1 and 2 (one `write(2)` per call, unbuffered), and the few file
//! operations the commands need. The binary is `no_std` so that it starts without libc; these are
//! the parts of std it used.

use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use linux_raw_sys::general as k;
use rawclone::{Errno, sys};

/// A standard stream as a [`fmt::Write`].
pub struct Out(pub sys::BorrowedFd<'static>);

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(self.0, s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Write all of `bytes`, retrying after a signal and after a short write.
pub fn write_all(fd: sys::BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match sys::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `print!` on standard output.
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::nolibc::io::Out(rawclone::sys::stdout()), $($arg)*);
    }};
}

/// `println!` on standard output.
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::nolibc::io::Out(rawclone::sys::stdout()), $($arg)*);
    }};
}

/// `eprintln!` on standard error.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::nolibc::io::Out(rawclone::sys::stderr()), $($arg)*);
    }};
}

/// `path` as a C string (a path with a NUL byte in it names no file: `ENOENT`).
fn c_path(path: &str) -> Result<CString, Errno> {
    CString::new(path).map_err(|_| Errno::ENOENT)
}

/// The whole contents of the file at `path`.
pub fn read(path: &str) -> Result<Vec<u8>, Errno> {
    let fd = sys::open(&c_path(path)?, k::O_RDONLY)?;
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match sys::read(fd.as_fd(), &mut buf) {
            Ok(0) => return Ok(data),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The file at `path` as text (invalid UTF-8 replaced), or `None` if it cannot be read.
pub fn read_to_string(path: &str) -> Option<String> {
    read(path)
        .ok()
        .map(|data| String::from_utf8_lossy(&data).into_owned())
}

/// Create (or truncate) the file at `path` and write `data` to it.
pub fn write(path: &str, data: &[u8]) -> Result<(), Errno> {
    let flags = k::O_WRONLY | k::O_CREAT | k::O_TRUNC | k::O_CLOEXEC;
    let fd = sys::open_mode(&c_path(path)?, flags, 0o644)?;
    write_all(fd.as_fd(), data)
}

/// Whether `path` names a directory (one this process can open).
pub fn is_dir(path: &str) -> bool {
    c_path(path).is_ok_and(|p| sys::open(&p, k::O_RDONLY | k::O_DIRECTORY).is_ok())
}

/// Create the directory `path` and any missing parents, as `mkdir -p` does.
pub fn create_dir_all(path: &str) -> Result<(), Errno> {
    let mut end = 0;
    while end < path.len() {
        end = path[end + 1..]
            .find('/')
            .map_or(path.len(), |i| end + 1 + i);
        match sys::mkdir(&c_path(&path[..end])?, 0o777) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    match is_dir(path) {
        true => Ok(()),
        false => Err(Errno::ENOTDIR),
    }
}

/// The current directory.
pub fn current_dir() -> Result<String, Errno> {
    let mut buf = [0u8; 4096];
    let cwd = sys::getcwd(&mut buf)?;
    Ok(String::from_utf8_lossy(cwd).into_owned())
}

/// Change the current directory.
pub fn set_current_dir(path: &str) -> Result<(), Errno> {
    sys::chdir(&c_path(path)?)
}
