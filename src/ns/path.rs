//! Paths built in the child without allocation: a source under the old root, a destination
//! under the new one, each at most `PATH_MAX` bytes on the stack.

use crate::sys;
use core::ffi::CStr;
use syscalls::Errno;

/// The kernel's longest path, with its NUL (`PATH_MAX`).
const PATH_MAX: usize = 4096;

/// A NUL-terminated path of at most [`PATH_MAX`] bytes, built from parts.
pub(super) struct Path {
    buf: [u8; PATH_MAX],
    len: usize,
}

impl Path {
    /// An empty path, to [`Path::set`] (built in place: a child's stack is small, and each
    /// path is a page).
    pub(super) const fn empty() -> Path {
        Path {
            buf: [0; PATH_MAX],
            len: 0,
        }
    }

    /// Make it the parts one after another; ENAMETOOLONG if they do not fit (or hold a NUL).
    pub(super) fn set(&mut self, parts: &[&[u8]]) -> Result<(), Errno> {
        self.len = 0;
        for part in parts {
            self.push(part)?;
        }
        Ok(())
    }

    /// Append `part`.
    pub(super) fn push(&mut self, part: &[u8]) -> Result<(), Errno> {
        let end = self.len + part.len();
        if end >= PATH_MAX || part.contains(&0) {
            return Err(Errno::ENAMETOOLONG);
        }
        self.buf[self.len..end].copy_from_slice(part);
        self.buf[end] = 0;
        self.len = end;
        Ok(())
    }

    /// Cut it back to its first `len` bytes (a length it had before).
    pub(super) fn truncate(&mut self, len: usize) {
        self.len = len.min(self.len);
        self.buf[self.len] = 0;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn as_cstr(&self) -> &CStr {
        // A NUL follows the bytes (push writes one) and none is inside them (push refuses it).
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }

    /// Create every missing directory above the last component, mode 0755, as `mkdir -p`
    /// would for the parent.
    pub(super) fn make_parents(&mut self) -> Result<(), Errno> {
        let Some(last) = self.bytes().iter().rposition(|&b| b == b'/') else {
            return Ok(());
        };
        for at in 1..=last {
            if self.buf[at] == b'/' && self.buf[at - 1] != b'/' {
                self.buf[at] = 0;
                let made = make_dir(CStr::from_bytes_until_nul(&self.buf).unwrap_or(c""));
                self.buf[at] = b'/';
                made?;
            }
        }
        Ok(())
    }
}

/// `mkdir` with mode 0755, where a file already there is fine (a mount on a non-directory then
/// fails with ENOTDIR).
pub(super) fn make_dir(path: &CStr) -> Result<(), Errno> {
    match sys::mkdir(path, 0o755) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// An empty file with mode 0444 to mount a non-directory on, unless something is there.
pub(super) fn make_file(path: &CStr) -> Result<(), Errno> {
    match sys::create_file(path, 0o444) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}
