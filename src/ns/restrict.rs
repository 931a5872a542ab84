//! Restricting a bind and every mount below it (`nosuid`, `nodev`, `ro`) without dropping any
//! flag it has.
//!
//! `mount_setattr(2)` with `AT_RECURSIVE` (Linux 5.12+) does it in one call, since it only adds
//! the bits it is given. Where it is missing (ENOSYS) this does what bubblewrap does: read each
//! mount's per-mount flags from `/proc/self/mountinfo` (`proc(5)`) and remount it with
//! `MS_BIND | MS_REMOUNT`, those flags and the restrictions. The flags read back must all be
//! given again: in a user namespace the kernel refuses (EPERM) a remount that would clear a
//! flag locked by a more privileged namespace (`mount_namespaces(7)`). A submount that cannot
//! be remounted for lack of access (EACCES) is passed over, as bubblewrap passes it over: it is
//! out of the caller's reach anyway.

use super::path::Path;
use crate::sys::{self, MountFlags};
use core::ffi::CStr;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Add the `MOUNT_ATTR_*` bits `set` to the mount at `dst` and every mount below it;
/// `mountinfo` is where this process's `/proc/self/mountinfo` is now. A relative `dst` is
/// from the working directory (whose path, for the remounts, `getcwd(2)` gives).
pub(super) fn restrict(dst: &CStr, set: u32, mountinfo: &CStr) -> Result<(), Errno> {
    match sys::restrict_mounts(dst, u64::from(set)) {
        Err(Errno::ENOSYS) if !dst.to_bytes().starts_with(b"/") => {
            let mut cwd = [0u8; 4096];
            let mut path = Path::empty();
            path.set(&[sys::getcwd(&mut cwd)?, b"/", dst.to_bytes()])?;
            remount_each(path.as_cstr(), flags_of_attrs(set), mountinfo)
        }
        Err(Errno::ENOSYS) => remount_each(dst, flags_of_attrs(set), mountinfo),
        done => done,
    }
}

/// The `MS_*` flags for `MOUNT_ATTR_*` bits.
fn flags_of_attrs(set: u32) -> MountFlags {
    let pairs = [
        (k::MOUNT_ATTR_RDONLY, MountFlags::RDONLY),
        (k::MOUNT_ATTR_NOSUID, MountFlags::NOSUID),
        (k::MOUNT_ATTR_NODEV, MountFlags::NODEV),
    ];
    let wanted = pairs.into_iter().filter(|&(attr, _)| set & attr != 0);
    wanted.fold(MountFlags::EMPTY, |all, (_, flag)| all | flag)
}

/// The per-mount flags that mountinfo's sixth field names.
fn flags_of_options(options: &[u8]) -> MountFlags {
    let named = |name: &[u8]| match name {
        b"ro" => MountFlags::RDONLY,
        b"nosuid" => MountFlags::NOSUID,
        b"nodev" => MountFlags::NODEV,
        b"noexec" => MountFlags::NOEXEC,
        b"noatime" => MountFlags::NOATIME,
        b"nodiratime" => MountFlags::NODIRATIME,
        b"relatime" => MountFlags::RELATIME,
        _ => MountFlags::EMPTY,
    };
    options
        .split(|&b| b == b',')
        .map(named)
        .fold(MountFlags::EMPTY, |all, f| all | f)
}

/// The components of a path, without empty ones and `.`.
fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// Remount `dst` and each mount below it with its own flags and `wanted`, reading the mounts
/// from `mountinfo` a line at a time. EINVAL if `dst` is not among them (bubblewrap's answer).
fn remount_each(dst: &CStr, wanted: MountFlags, mountinfo: &CStr) -> Result<(), Errno> {
    let file = sys::open(mountinfo, k::O_RDONLY)?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    let mut found = false;
    loop {
        let n = sys::read(file.as_fd(), &mut buf[len..])?;
        len += n;
        let mut start = 0;
        while let Some(end) = buf[start..len].iter().position(|&b| b == b'\n') {
            found |= remount_line(&buf[start..start + end], dst, wanted)?;
            start += end + 1;
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if n == 0 {
            return if found { Ok(()) } else { Err(Errno::EINVAL) };
        }
        if len == buf.len() {
            return Err(Errno::ENAMETOOLONG); // a line longer than the buffer
        }
    }
}

/// Remount the mount of one mountinfo line if it is `dst` or below it; whether it was `dst`.
fn remount_line(line: &[u8], dst: &CStr, wanted: MountFlags) -> Result<bool, Errno> {
    // id parent major:minor root mount-point options ...
    let mut fields = line.split(|&b| b == b' ');
    let (Some(point), Some(options)) = (fields.nth(4), fields.next()) else {
        return Ok(false);
    };
    let mut path = Path::empty();
    unescape(point, &mut path)?;
    let (mut mine, mut theirs) = (components(path.bytes()), components(dst.to_bytes()));
    let below = loop {
        match (mine.next(), theirs.next()) {
            (Some(a), Some(b)) if a == b => {}
            (None, None) => break false,
            (Some(_), None) => break true,
            _ => return Ok(false),
        }
    };
    let current = flags_of_options(options);
    let flags = current | wanted;
    if flags != current {
        let remount = MountFlags::BIND | MountFlags::REMOUNT | flags;
        match sys::mount(c"none", path.as_cstr(), c"", remount, None) {
            Err(Errno::EACCES) if below => {}
            done => done?,
        }
    }
    Ok(!below)
}

/// Undo mountinfo's escapes (`\040` for a space, and tab, newline and backslash alike) into
/// `path`.
fn unescape(escaped: &[u8], path: &mut Path) -> Result<(), Errno> {
    let mut rest = escaped;
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        path.push(&rest[..at])?;
        let digits = rest.get(at + 1..at + 4).unwrap_or_default();
        let octal = digits.iter().all(|d| (b'0'..=b'7').contains(d)) && digits.len() == 3;
        if octal {
            let byte = digits
                .iter()
                .fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0'));
            path.push(&[byte])?;
            rest = &rest[at + 4..];
        } else {
            path.push(b"\\")?;
            rest = &rest[at + 1..];
        }
    }
    path.push(rest)
}
