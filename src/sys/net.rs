//! A network interface's flags through `ioctl(2)` on an `AF_INET` datagram socket
//! (`SIOCGIFFLAGS`, `SIOCSIFFLAGS`, `netdevice(7)`): how `ip link set lo up` is done without
//! netlink.

use super::{BorrowedFd, Errno, Fd};
use linux_raw_sys::{general as k, ioctl, net};
use syscalls::{Sysno, syscall3};

/// `socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)`: a socket to name interfaces to `ioctl`.
///
/// ```
/// use linux_raw_sys::general::FD_CLOEXEC;
/// let socket = rawclone::sys::inet_dgram_socket()?;
/// assert_eq!(rawclone::sys::fd_flags(socket.as_raw())?, FD_CLOEXEC);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn inet_dgram_socket() -> Result<Fd, Errno> {
    // SAFETY: no memory is passed.
    let fd = unsafe {
        syscall3(
            Sysno::socket,
            net::AF_INET as usize,
            (net::SOCK_DGRAM | k::O_CLOEXEC) as usize,
            0,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// An `ifreq` naming interface `name` (at most 15 bytes, else ENAMETOOLONG).
fn request(name: &[u8]) -> Result<net::ifreq, Errno> {
    // SAFETY: ifreq is plain old data, for which all zeroes is a valid value.
    let mut req: net::ifreq = unsafe { core::mem::zeroed() };
    // SAFETY: the name is the union's only member in use, an array of bytes.
    let slot = unsafe { &mut req.ifr_ifrn.ifrn_name };
    if name.len() >= slot.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    for (to, &from) in slot.iter_mut().zip(name) {
        *to = from as _;
    }
    Ok(req)
}

/// The flags (`IFF_UP`, `IFF_LOOPBACK`, …) of interface `name` (`SIOCGIFFLAGS`), asked through
/// `socket` (from [`inet_dgram_socket`]).
///
/// ```
/// use rawclone::sys;
/// let socket = sys::inet_dgram_socket()?;
/// let flags = sys::interface_flags(socket.as_fd(), b"lo")?;
/// assert_ne!(flags & 0x8, 0); // IFF_LOOPBACK
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn interface_flags(socket: BorrowedFd<'_>, name: &[u8]) -> Result<u16, Errno> {
    let mut req = request(name)?;
    ifreq_ioctl(socket, ioctl::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    Ok(unsafe { req.ifr_ifru.ifru_flags } as u16)
}

/// Set the flags of interface `name` (`SIOCSIFFLAGS`, needs `CAP_NET_ADMIN` over its network
/// namespace): [`interface_flags`] with `IFF_UP` added brings it up.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// const IFF_UP: u16 = 1;
/// // A network namespace of the child's own, whose loopback starts down.
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().net().spawn(&mut stack, || {
///         let Ok(socket) = sys::inet_dgram_socket() else { return 2 };
///         let flags = sys::interface_flags(socket.as_fd(), b"lo").unwrap_or(IFF_UP);
///         let up = sys::set_interface_flags(socket.as_fd(), b"lo", flags | IFF_UP).is_ok();
///         (flags & IFF_UP == 0 && up && sys::interface_flags(socket.as_fd(), b"lo").is_ok_and(|f| f & IFF_UP != 0)) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn set_interface_flags(socket: BorrowedFd<'_>, name: &[u8], flags: u16) -> Result<(), Errno> {
    let mut req = request(name)?;
    req.ifr_ifru.ifru_flags = flags as _;
    ifreq_ioctl(socket, ioctl::SIOCSIFFLAGS, &mut req)
}

/// One interface `ioctl(2)` (`netdevice(7)`) on `req`, which names the interface and holds what
/// the request reads or writes.
fn ifreq_ioctl(socket: BorrowedFd<'_>, request: u32, req: &mut net::ifreq) -> Result<(), Errno> {
    // SAFETY: the kernel reads and writes one live `ifreq`, as the request defines.
    unsafe {
        syscall3(
            Sysno::ioctl,
            socket.as_raw() as usize,
            request as usize,
            req as *mut net::ifreq as usize,
        )
    }
    .map(drop)
}
