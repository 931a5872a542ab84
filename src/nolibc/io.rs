//! Output and files for the binary, on raw syscalls: `print!`, `println!` and `eprintln!` format
//! into a buffer on the stack and write it to descriptor 1 or 2 with one `write(2)` (or one per
//! kilobyte of a longer text), so a line does not interleave with other writers' and printing
//! never allocates (the panic handler prints); and the few file operations the commands need. The
//! binary is `no_std` so that it starts without libc; these are the parts of std it used.

use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use linux_raw_sys::general as k;
use rawclone::{Errno, sys};

/// A standard stream as a [`fmt::Write`], buffered on the stack: [`Out::flush`] (or a full
/// buffer) writes what was formatted.
pub struct Out {
    fd: sys::BorrowedFd<'static>,
    buf: [u8; 1024],
    len: usize,
}

impl Out {
    /// An empty buffer for `fd`.
    pub fn new(fd: sys::BorrowedFd<'static>) -> Out {
        Out {
            fd,
            buf: [0; 1024],
            len: 0,
        }
    }

    /// Write what the buffer holds.
    pub fn flush(&mut self) -> fmt::Result {
        let len = core::mem::take(&mut self.len);
        sys::write_all(self.fd, &self.buf[..len]).map_err(|_| fmt::Error)
    }
}

impl fmt::Write for Out {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            if self.len == self.buf.len() {
                self.flush()?;
            }
            let take = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
            self.len += take;
            s = &s[take..];
        }
        Ok(())
    }
}

/// `print!` on standard output.
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut out = $crate::nolibc::io::Out::new(rawclone::sys::stdout());
        let _ = write!(out, $($arg)*).and_then(|()| out.flush());
    }};
}

/// `println!` on standard output.
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut out = $crate::nolibc::io::Out::new(rawclone::sys::stdout());
        let _ = writeln!(out, $($arg)*).and_then(|()| out.flush());
    }};
}

/// `eprintln!` on standard error.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut out = $crate::nolibc::io::Out::new(rawclone::sys::stderr());
        let _ = writeln!(out, $($arg)*).and_then(|()| out.flush());
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
    sys::write_all(fd.as_fd(), data)
}

/// Whether `path` names a directory (`O_PATH`: reading it needs no permission).
pub fn is_dir(path: &str) -> bool {
    c_path(path).is_ok_and(|p| sys::open(&p, k::O_PATH | k::O_DIRECTORY).is_ok())
}

/// Create the directory `path` and any missing parents, as `mkdir -p` does.
pub fn create_dir_all(path: &str) -> Result<(), Errno> {
    // Each prefix that ends before a `/` (an ASCII byte, so never inside a character), then the
    // whole path; a leading `/` names no directory of its own.
    let ends = path
        .bytes()
        .enumerate()
        .filter(|&(i, b)| b == b'/' && i > 0);
    for end in ends.map(|(i, _)| i).chain([path.len()]) {
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
