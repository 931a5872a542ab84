//! The environment a program gets: an inherited, empty or given base list, names removed, entries
//! set; merged in the parent into a NULL-terminated array, before the clone.
//!
//! "Inherited" is the environment `std::process::Command` would pass, as far as the build can
//! know it without libc:
//! 1. with the `std` feature, `std::env::vars_os()` at spawn time (so `std::env::set_var` is
//!    seen);
//! 2. else, in a program started by [`crate::start`] (`_start` or [`crate::start::c_main`]), the
//!    `envp` it was handed;
//! 3. else the environment this process was started with, read from its own memory: fields 50
//!    and 51 of `/proc/self/stat` (`env_start`, `env_end`, Linux 3.5, `proc(5)`) are the address
//!    range of the environment strings `execve` copied onto the initial stack. Changes made since
//!    (by a libc's `setenv`, which this library cannot see) are not in it; overwriting the
//!    strings in place (a `setproctitle` trick) is.

use core::ffi::CStr;

use super::{EnvBase, Program};
use crate::error::{Error, Result};
#[cfg(feature = "std")]
use std::{ffi::CString, vec::Vec};

/// The base list, captured in the parent: borrowed from the caller, owned (std), or the
/// environment the process started with.
pub(crate) enum Base<'p> {
    /// A list given by the caller, or none.
    List(&'p [&'p CStr]),
    /// `std::env::vars_os()`, as `NAME=value` strings.
    #[cfg(feature = "std")]
    Owned(Vec<CString>),
    /// A NULL-terminated array (the `envp` the start-up was handed).
    #[cfg(not(feature = "std"))]
    Array(*const *const u8),
    /// NUL-separated strings (the initial environment block).
    #[cfg(not(feature = "std"))]
    Block(&'static [u8]),
}

impl<'p> Base<'p> {
    /// Capture the base list `program` asks for.
    pub(crate) fn capture(program: &Program<'p>) -> Result<Base<'p>> {
        match program.env_base {
            EnvBase::Clear => Ok(Base::List(&[])),
            EnvBase::Exactly(list) => Ok(Base::List(list)),
            EnvBase::Inherit => inherited(),
        }
    }

    /// Call `f` on each entry.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&CStr)) {
        match self {
            Base::List(list) => list.iter().for_each(|e| f(e)),
            #[cfg(feature = "std")]
            Base::Owned(list) => list.iter().for_each(|e| f(e)),
            #[cfg(not(feature = "std"))]
            Base::Array(array) => {
                for i in 0.. {
                    // SAFETY: the start-up's envp is a NULL-terminated array of NUL-terminated
                    // strings that live as long as the process; the loop stops at the NULL.
                    let entry = unsafe { *array.add(i) };
                    if entry.is_null() {
                        break;
                    }
                    // SAFETY: as above.
                    f(unsafe { CStr::from_ptr(entry.cast()) });
                }
            }
            #[cfg(not(feature = "std"))]
            Base::Block(block) => initial_entries(block).for_each(f),
        }
    }
}

/// The environment a child inherits (see the module documentation for which one).
fn inherited<'p>() -> Result<Base<'p>> {
    #[cfg(feature = "std")]
    {
        use std::os::unix::ffi::OsStrExt;
        let entries = std::env::vars_os().filter_map(|(name, value)| {
            let mut entry = Vec::with_capacity(name.len() + value.len() + 2);
            entry.extend_from_slice(name.as_bytes());
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            CString::new(entry).ok()
        });
        Ok(Base::Owned(entries.collect()))
    }
    #[cfg(not(feature = "std"))]
    {
        if let Some(envp) = crate::start::initial_envp() {
            return Ok(Base::Array(envp));
        }
        initial_block().map(Base::Block)
    }
}

/// The environment this process was started with, found without libc: the strings `execve`
/// copied onto the initial stack, at the range `/proc/self/stat` names (`env_start`, `env_end`).
/// Needs `/proc`; under an emulator that does not fill the fields (qemu-user) it is
/// [`Error::Sys`] with ENODATA.
///
/// ```
/// let initial = rawclone::program::initial_environment()?;
/// # #[cfg(feature = "std")]
/// for entry in initial {
///     let entry = entry.to_str().unwrap();
///     assert!(entry.contains('=') || entry.is_empty());
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn initial_environment() -> Result<impl Iterator<Item = &'static CStr>> {
    initial_block().map(initial_entries)
}

/// The entries of an environment block: NUL-terminated strings back to back.
fn initial_entries(block: &'static [u8]) -> impl Iterator<Item = &'static CStr> {
    let mut rest = block;
    core::iter::from_fn(move || {
        let entry = CStr::from_bytes_until_nul(rest).ok()?;
        rest = &rest[entry.to_bytes().len() + 1..];
        Some(entry)
    })
}

/// The initial environment block, from fields 50 and 51 of `/proc/self/stat`.
fn initial_block() -> Result<&'static [u8]> {
    const CALL: &str = "read /proc/self/stat (env_start, env_end)";
    let fd = crate::sys::open(c"/proc/self/stat", 0).map_err(|e| Error::sys(CALL, e))?;
    let mut buf = [0u8; 2048];
    let mut len = 0;
    loop {
        match crate::sys::read(fd.as_fd(), &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) => return Err(Error::sys(CALL, e)),
        }
        if len == buf.len() {
            break;
        }
    }
    let text = &buf[..len];
    // Field 2 (comm) is in parentheses and may hold spaces: count from the last ')'.
    let after_comm = text
        .iter()
        .rposition(|&b| b == b')')
        .map_or(text.len(), |i| i + 2);
    let mut fields = text.get(after_comm..).unwrap_or(&[]).split(|&b| b == b' ');
    // Fields 3, 4, … follow: env_start is field 50, the 48th of them.
    let number = |field: Option<&[u8]>| {
        field
            .filter(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
            .map(|f| f.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0')))
    };
    let start = number(fields.nth(47));
    let end = number(fields.next());
    match (start, end) {
        (Some(start), Some(end)) if start != 0 && end > start => {
            // SAFETY: the kernel reports the range of this process's own memory that execve filled
            // with the environment strings, on the initial stack, which stays mapped for the life
            // of the process; the bytes are only read.
            Ok(unsafe { core::slice::from_raw_parts(start as *const u8, end - start) })
        }
        _ => Err(Error::sys(CALL, crate::error::Errno::ENODATA)),
    }
}

/// The name of an entry: up to its first `=` (all of it without one).
fn name(entry: &[u8]) -> &[u8] {
    entry.split(|&b| b == b'=').next().unwrap_or(entry)
}

/// How many pointers the merged list may need (an upper bound), its NULL excluded.
pub(crate) fn bound(base: &Base<'_>, program: &Program<'_>) -> usize {
    let mut n = program.env_set.len();
    base.for_each(|_| n += 1);
    n
}

/// Write the merged list, NULL-terminated, into `out`: the base entries whose name is neither
/// removed nor set, then the entries set (the last of a name wins). At most `room` entries are
/// written, the entries set always among them (`room` is at least their number, as [`bound`]
/// counts them), so a base that grew since `bound` counted it loses its last entries, and
/// cannot overrun `out`.
///
/// # Safety
/// `out` must have room for `room + 1` pointers.
pub(crate) unsafe fn merge(
    base: &Base<'_>,
    program: &Program<'_>,
    out: *mut *const u8,
    room: usize,
) {
    let set = program.env_set;
    let mut len = 0;
    let mut push = |entry: &CStr, limit: usize| {
        if len < limit {
            // SAFETY: slot `len` is below `room`, within the caller's room.
            unsafe { out.add(len).write(entry.as_ptr().cast()) };
            len += 1;
        }
    };
    base.for_each(|entry| {
        let n = name(entry.to_bytes());
        let removed = program.env_remove.iter().any(|r| r.to_bytes() == n);
        let overridden = set.iter().any(|s| name(s.to_bytes()) == n);
        if !removed && !overridden {
            push(entry, room.saturating_sub(set.len()));
        }
    });
    for (i, entry) in set.iter().enumerate() {
        let n = name(entry.to_bytes());
        if !set[i + 1..].iter().any(|later| name(later.to_bytes()) == n) {
            push(entry, room);
        }
    }
    // SAFETY: slot `len` is at most `room`, the last of the caller's room.
    unsafe { out.add(len).write(core::ptr::null()) };
}

/// Whether the lists are well formed: each entry to set is `NAME=value` with a name, each name
/// to remove has no `=`.
pub(crate) fn well_formed(program: &Program<'_>) -> bool {
    program.env_set.iter().all(|e| {
        e.to_bytes()
            .iter()
            .position(|&b| b == b'=')
            .is_some_and(|i| i > 0)
    }) && program
        .env_remove
        .iter()
        .all(|r| !r.to_bytes().is_empty() && !r.to_bytes().contains(&b'='))
}
