//! Namespaced children. For now: seed task 4, root in a new user namespace.
//!
//! The child is created with `CLONE_NEWUSER` and held at a [`crate::sync::Gate`]. Meanwhile the
//! parent, which still holds its capabilities over the new namespace, writes the child's
//! `/proc/PID/setgroups` (`deny`: an unprivileged writer of `gid_map` must give up setgroups
//! first), `uid_map` and `gid_map`, each mapping id 0 inside to the parent's own id outside, and
//! then releases the child, whose `getuid()` is 0. No privilege is needed (`user_namespaces(7)`).

use crate::clone::Builder;
use crate::error::{Error, Result};
use crate::flags::CloneFlags;
use crate::stack::Stack;
use crate::sys::{self, Pid};
use crate::task::Child;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Spawn `f` as root (uid 0, gid 0) of a new user namespace mapped onto the caller's effective uid and gid.
/// Any `extra` namespace flags are created with it, owned by the new user namespace.
///
/// ```
/// use rawclone::{ns, sys, CloneFlags, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only issues raw syscalls.
/// let child = unsafe { ns::spawn_as_root(&mut stack, CloneFlags::EMPTY, || sys::getuid())? };
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// # Safety
/// As for [`Builder::spawn`] without `CLONE_VM`.
pub unsafe fn spawn_as_root<'s, F>(
    stack: &'s mut Stack<'_>,
    extra: CloneFlags,
    f: F,
) -> Result<Child<'s>>
where
    F: FnOnce() -> i32 + 's,
{
    // An unprivileged writer may map exactly its own effective ids.
    let (uid, gid) = (sys::geteuid() as u32, sys::getegid() as u32);
    let builder = Builder::new().flags(CloneFlags::NEWUSER | extra).gated();
    // SAFETY: forwarded from this function's contract.
    let mut child = unsafe { builder.spawn(stack, f)? };
    // On any failure below, dropping `child` closes the gate (the child gives up) and reaps it.
    write_proc(child.pid(), b"setgroups", b"deny")?;
    write_proc(child.pid(), b"uid_map", MapLine::new(0, uid, 1).as_bytes())?;
    write_proc(child.pid(), b"gid_map", MapLine::new(0, gid, 1).as_bytes())?;
    child.release()?;
    Ok(child)
}

/// Write `data` to `/proc/<pid>/<file>` in one `write(2)`, as the id-map files require.
fn write_proc(pid: Pid, file: &[u8], data: &[u8]) -> Result<()> {
    let mut path = [0u8; 64];
    let mut len = 0;
    for part in [
        b"/proc/" as &[u8],
        Decimal::new(pid as u32).as_bytes(),
        b"/",
        file,
    ] {
        path[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    let path = core::ffi::CStr::from_bytes_until_nul(&path[..=len])
        .map_err(|_| Error::sys("open", Errno::EINVAL))?;
    let fd = sys::open(path, k::O_WRONLY).map_err(|e| Error::sys("open /proc/PID id map", e))?;
    match sys::write(fd.as_raw(), data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => Err(Error::sys("write /proc/PID id map", Errno::EIO)),
        Err(e) => Err(Error::sys("write /proc/PID id map", e)),
    }
}

/// A `u32` in decimal, without allocation.
struct Decimal {
    buf: [u8; 10],
    start: usize,
}

impl Decimal {
    fn new(mut n: u32) -> Decimal {
        let mut buf = [0u8; 10];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// One line of an id map: `inside outside count\n`.
struct MapLine {
    buf: [u8; 40],
    len: usize,
}

impl MapLine {
    fn new(inside: u32, outside: u32, count: u32) -> MapLine {
        let mut line = MapLine {
            buf: [0; 40],
            len: 0,
        };
        for (i, n) in [inside, outside, count].into_iter().enumerate() {
            let digits = Decimal::new(n);
            let part = digits.as_bytes();
            line.buf[line.len..line.len + part.len()].copy_from_slice(part);
            line.len += part.len();
            line.buf[line.len] = if i == 2 { b'\n' } else { b' ' };
            line.len += 1;
        }
        line
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
