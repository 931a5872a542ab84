//! Namespaced children: any set of user, pid, uts, ipc, net, mount, cgroup and time namespaces,
//! with id maps, host and domain names, private mounts, a fresh `/proc`, a new root, and the
//! building blocks of a sandbox: bubblewrap's mount actions ([`Mount`], in the `mounts` module)
//! on an empty tmpfs root, a loopback device that is up, and a start in a given cgroup.
//!
//! The child and its parent meet twice over a `SOCK_SEQPACKET` socketpair (close-on-exec, as the
//! container seed does):
//! 1. the child waits for "go" while the parent, which still holds its capabilities over a new
//!    user namespace, writes the child's `/proc/PID/setgroups`, `uid_map` and `gid_map`;
//! 2. the child sets itself up (parent-death signal, host and domain name, `lo` up, private
//!    propagation, new root and mounts, `/proc`) and answers "ready", or the step that failed
//!    and its errno, which the parent turns into [`Error::NamespaceSetup`] after reaping the
//!    child.
//!
//! For [`Namespaces::exec`] and [`Namespaces::exec_program`] a third message may follow: the
//! socket's child end is closed by a successful `execve`, so the parent reads end-of-file; a
//! failed exec sends its errno instead, which comes back as [`Error::Exec`], and a failed step
//! of the program's setup its step and errno ([`Error::ExecSetup`]). No child is left behind on any error path.
//!
//! Both end-of-file signals assume that nobody else holds a copy of the socket: a process that
//! another thread forks (without exec) between the socketpair and the child's exec inherits
//! both ends, so `exec` returns only once that process closes them, and a child whose parent
//! died waits for "go" until then (set [`Namespaces::kill_on_parent_death`] against that).
//! `std::process::Command`'s close-on-exec error pipe has the same property.
//!
//! Without `CLONE_NEWUSER` the other namespaces need `CAP_SYS_ADMIN`; the kernel's EPERM then
//! comes back as [`Error::NamespacePermission`], which says whether the capability is missing.
//! `user_namespaces(7)`, `pid_namespaces(7)`, `mount_namespaces(7)`, `pivot_root(2)`.

mod mounts;
mod path;
mod restrict;

use crate::clone::Builder;
use crate::error::{Error, ErrorPath, Result};
pub use crate::error::{MountPart, SetupStep};
use crate::flags::{CloneFlags, Rule, Syscall};
use crate::program::{Capabilities, Failure, Program};
use crate::signal::Signal;
use crate::stack::Stack;
use crate::sync::{GO, Gate, GateChild};
use crate::sys::{self, BorrowedFd, Pid};
use crate::task::Child;
use core::ffi::CStr;
use linux_raw_sys::general as k;
pub use mounts::Mount;
use mounts::NewRoot;
use syscalls::Errno;

/// One line of an id map: `count` ids from `inside` in the namespace are `outside` in its parent.
///
/// ```
/// use rawclone::ns::{IdRange, Namespaces};
/// // Inside id 0 is the caller's effective uid: always allowed without privileges. More ranges
/// // would need CAP_SETUID over the parent namespace.
/// let uid = rawclone::sys::geteuid() as u32;
/// let ranges = [IdRange { inside: 0, outside: uid, count: 1 }];
/// let ns = Namespaces::new().uid_ranges(&ranges);
/// let child = ns.exec(c"/bin/sh", &[c"sh", c"-c", c"test $(id -u) = 0"], &[])?;
/// assert!(child.wait()?.success());
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IdRange {
    /// First id inside the new user namespace.
    pub inside: u32,
    /// The id it stands for in the parent's user namespace.
    pub outside: u32,
    /// How many consecutive ids.
    pub count: u32,
}

/// What to write to a `uid_map` or `gid_map`.
#[derive(Clone, Copy, Debug)]
enum IdMap<'a> {
    /// Nothing: inside, every id reads as the overflow id (65534).
    Unmapped,
    /// Inside id 0 is the caller's effective id outside: allowed unprivileged.
    Root,
    /// Inside id `.0` is the caller's effective id outside: allowed unprivileged.
    Single(u32),
    /// Any ranges: needs `CAP_SETUID`/`CAP_SETGID` over the parent namespace for more than the
    /// caller's own id.
    Ranges(&'a [IdRange]),
}

/// Message codes on the handshake socket.
const READY: u32 = 0;

/// The longest host or domain name the kernel accepts (`__NEW_UTS_LEN`).
const UTS_LEN: usize = 64;

/// A namespaced child: which namespaces, and how to set it up before its closure or program runs.
///
/// Options that need a namespace bring it along, as util-linux `unshare` does: an id map or
/// [`Namespaces::map_root`] the user namespace, a host or domain name the UTS namespace,
/// [`Namespaces::mount_proc`], [`Namespaces::root`], [`Namespaces::tmpfs_root`] and
/// [`Namespaces::mounts`] the mount namespace, [`Namespaces::loopback_up`] the network
/// namespace. A new mount namespace always gets private propagation first, so nothing mounted
/// inside leaks out.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // Root of new user, pid and mount namespaces with a fresh /proc, unprivileged.
/// let ns = Namespaces::new().map_root().pid().mount_proc();
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe { ns.spawn(&mut stack, || sys::getpid() + 10 * sys::getuid())? };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1)); // pid 1, uid 0
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Namespaces<'a> {
    flags: CloneFlags,
    uid_map: IdMap<'a>,
    gid_map: IdMap<'a>,
    hostname: Option<&'a [u8]>,
    domainname: Option<&'a [u8]>,
    mount_proc: bool,
    new_root: NewRoot<'a>,
    mounts: &'a [Mount<'a>],
    loopback_up: bool,
    cgroup: Option<BorrowedFd<'a>>,
    death_signal: Option<Signal>,
    syscall: Option<Syscall>,
    /// Whether a minimal `/dev` may bind the terminal on stdout (the program's stdout is the
    /// caller's).
    console: bool,
    /// What a sandboxed program keeps of its capabilities ([`Namespaces::keep_capabilities`]);
    /// `None` for the default, which depends on the caller.
    keep_caps: Option<Capabilities>,
}

impl Default for Namespaces<'_> {
    fn default() -> Self {
        Namespaces::new()
    }
}

impl<'a> Namespaces<'a> {
    /// No namespaces yet: a child set up like this is a plain fork-like process.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, CloneFlags};
    /// assert_eq!(Namespaces::new().namespace_flags(), CloneFlags::EMPTY);
    /// ```
    pub const fn new() -> Namespaces<'a> {
        Namespaces {
            flags: CloneFlags::EMPTY,
            uid_map: IdMap::Unmapped,
            gid_map: IdMap::Unmapped,
            hostname: None,
            domainname: None,
            mount_proc: false,
            new_root: NewRoot::InPlace,
            mounts: &[],
            loopback_up: false,
            cgroup: None,
            death_signal: None,
            console: true,
            syscall: None,
            keep_caps: None,
        }
    }

    /// Add namespace flags (`CloneFlags::NEW*` only; anything else is refused at spawn with
    /// [`Rule::NotANamespace`]).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// use rawclone::CloneFlags;
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().flags(CloneFlags::NEWUTS);
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::sethostname(b"x").is_ok() as i32)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn flags(mut self, flags: CloneFlags) -> Namespaces<'a> {
        self.flags = self.flags.union(flags);
        self
    }

    /// A new user namespace (`CLONE_NEWUSER`); without a map, ids inside read as 65534.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().user();
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::getuid())? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(65534 & 0xff)); // the overflow uid, unmapped
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn user(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWUSER)
    }

    /// A new pid namespace: the child is its pid 1 (`CLONE_NEWPID`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().pid();
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::getpid())? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn pid(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWPID)
    }

    /// A new UTS namespace: host and domain name of its own (`CLONE_NEWUTS`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().uts();
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::sethostname(b"inside").is_ok() as i32)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn uts(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWUTS)
    }

    /// A new IPC namespace: System V IPC objects and POSIX message queues (`CLONE_NEWIPC`).
    ///
    /// ```
    /// use core::ffi::CStr;
    /// use linux_raw_sys::general::AT_FDCWD;
    /// use rawclone::{ns::Namespaces, Stack};
    /// use syscalls::{Sysno, syscall4};
    /// /// The target of a `/proc/self/ns` link (`ipc:[4026531839]`), read with a raw syscall.
    /// fn ns_link<'b>(link: &CStr, buf: &'b mut [u8; 64]) -> &'b [u8] {
    ///     let (path, to) = (link.as_ptr() as usize, buf.as_mut_ptr() as usize);
    ///     // SAFETY: `link` is NUL-terminated and `buf` writable for its length.
    ///     let n = unsafe { syscall4(Sysno::readlinkat, AT_FDCWD as usize, path, to, buf.len()) };
    ///     &buf[..n.unwrap_or(0)]
    /// }
    /// let mut buf = [0; 64];
    /// let outside = ns_link(c"/proc/self/ns/ipc", &mut buf);
    /// assert!(!outside.is_empty());
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls (on its own copy of `outside`).
    /// let child = unsafe {
    ///     Namespaces::new().map_root().ipc().spawn(&mut stack, || {
    ///         let mut buf = [0; 64];
    ///         let inside = ns_link(c"/proc/self/ns/ipc", &mut buf);
    ///         i32::from(!inside.is_empty() && inside != outside)
    ///     })?
    /// };
    /// assert_eq!(child.wait()?.code(), Some(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn ipc(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWIPC)
    }

    /// A new network namespace, with only a loopback device that is down (`CLONE_NEWNET`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().net();
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || {
    ///     let lo = sys::inet_dgram_socket().and_then(|s| sys::interface_flags(s.as_fd(), b"lo"));
    ///     lo.is_ok_and(|flags| flags & 1 == 0) as i32 // IFF_UP clear
    /// })? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn net(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWNET)
    }

    /// A new mount namespace, its propagation made private (`CLONE_NEWNS`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().mount();
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || {
    ///     let tmpfs = sys::mount(c"tmpfs", c"/mnt", c"tmpfs", sys::MountFlags::EMPTY, None);
    ///     tmpfs.is_ok() as i32 // seen only inside
    /// })? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn mount(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWNS)
    }

    /// A new cgroup namespace: the child's cgroup becomes its root (`CLONE_NEWCGROUP`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     Namespaces::new().map_root().cgroup().spawn(&mut stack, || {
    ///         // Its own cgroup is the root of its view: each line of /proc/self/cgroup ends in ":/".
    ///         let mut buf = [0; 512];
    ///         let Ok(file) = sys::open(c"/proc/self/cgroup", 0) else { return 2 };
    ///         let n = sys::read(file.as_fd(), &mut buf).unwrap_or(0);
    ///         i32::from(n > 0 && buf[..n].ends_with(b":/\n"))
    ///     })?
    /// };
    /// assert_eq!(child.wait()?.code(), Some(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn cgroup(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWCGROUP)
    }

    /// A new time namespace (`CLONE_NEWTIME`). Only clone3 can create one for a child: where
    /// clone3 is missing the spawn fails with [`Rule::NeedsClone3`].
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, Error, Rule, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().time();
    /// // SAFETY: the child only returns a number.
    /// match unsafe { ns.spawn(&mut stack, || 0) } {
    ///     Ok(child) => assert!(child.wait()?.success()),
    ///     Err(Error::Rule(Rule::NeedsClone3, _)) => {} // this kernel has no clone3
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn time(self) -> Namespaces<'a> {
        self.flags(CloneFlags::NEWTIME)
    }

    /// Map uid and gid 0 inside to the caller's effective uid and gid (util-linux
    /// `--map-root-user`); brings a user namespace.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { Namespaces::new().map_root().spawn(&mut stack, || sys::getuid() + sys::getgid() + 1)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1)); // uid 0, gid 0
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn map_root(mut self) -> Namespaces<'a> {
        self.uid_map = IdMap::Root;
        self.gid_map = IdMap::Root;
        self.user()
    }

    /// Map `uid` inside to the caller's effective uid (util-linux `--map-user`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_user(1000);
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::geteuid() - 1000)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn map_user(mut self, uid: u32) -> Namespaces<'a> {
        self.uid_map = IdMap::Single(uid);
        self.user()
    }

    /// Map `gid` inside to the caller's effective gid (util-linux `--map-group`).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_user(0).map_group(100);
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::getegid())? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(100));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn map_group(mut self, gid: u32) -> Namespaces<'a> {
        self.gid_map = IdMap::Single(gid);
        self.user()
    }

    /// Write these ranges to `uid_map`; more than the caller's own id needs `CAP_SETUID` over
    /// the parent namespace, else the kernel refuses the write (EPERM).
    ///
    /// ```
    /// use rawclone::{ns::{IdRange, Namespaces}, sys, ExitStatus, Stack};
    /// // One range: uid 5 inside is the caller's own uid, which needs no privilege.
    /// let uids = [IdRange { inside: 5, outside: sys::geteuid() as u32, count: 1 }];
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { Namespaces::new().uid_ranges(&uids).spawn(&mut stack, sys::geteuid)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(5));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn uid_ranges(mut self, ranges: &'a [IdRange]) -> Namespaces<'a> {
        self.uid_map = IdMap::Ranges(ranges);
        self.user()
    }

    /// Write these ranges to `gid_map` (see [`Namespaces::uid_ranges`]; `CAP_SETGID`). One
    /// range onto the caller's own gid alone needs no privilege: as for [`Namespaces::map_root`]
    /// and [`Namespaces::map_group`], `setgroups` is denied in the namespace first, which the
    /// kernel asks of an unprivileged `gid_map`.
    ///
    /// ```
    /// use rawclone::{ns::{IdRange, Namespaces}, sys, ExitStatus, Stack};
    /// let gids = [IdRange { inside: 7, outside: sys::getegid() as u32, count: 1 }];
    /// let ns = Namespaces::new().map_user(0).gid_ranges(&gids);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, sys::getegid)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(7));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn gid_ranges(mut self, ranges: &'a [IdRange]) -> Namespaces<'a> {
        self.gid_map = IdMap::Ranges(ranges);
        self.user()
    }

    /// Set the host name inside (at most 64 bytes); brings a UTS namespace.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().hostname("box");
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::hostname().is_ok_and(|n| n.as_bytes() == b"box") as i32)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn hostname(mut self, name: &'a str) -> Namespaces<'a> {
        self.hostname = Some(name.as_bytes());
        self.uts()
    }

    /// Set the NIS domain name inside (at most 64 bytes); brings a UTS namespace.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().domainname("lan");
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::domainname().is_ok_and(|n| n.as_bytes() == b"lan") as i32)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn domainname(mut self, name: &'a str) -> Namespaces<'a> {
        self.domainname = Some(name.as_bytes());
        self.uts()
    }

    /// Mount a fresh `/proc` inside, which with a new pid namespace shows only its processes;
    /// brings a mount namespace.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().map_root().pid().mount_proc();
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, || sys::open(c"/proc/2", 0).is_err() as i32)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1)); // only pid 1 in its /proc
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn mount_proc(mut self) -> Namespaces<'a> {
        self.mount_proc = true;
        self.mount()
    }

    /// Make `dir` the root (`pivot_root`, the old root detached); brings a mount namespace.
    /// A fresh `/proc` ([`Namespaces::mount_proc`]) is then mounted on `dir/proc`, and
    /// [`Namespaces::mounts`] go inside `dir` (missing destinations are created there, in the
    /// caller's tree, as bubblewrap creates them under a bound root). Replaces
    /// [`Namespaces::tmpfs_root`]. The setup stages the root as the [`Mount`] docs describe,
    /// which needs a `/tmp` directory in the caller's root.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// use std::ffi::CString;
    /// let dir = std::env::temp_dir().join(format!("rawclone-root-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("marker"), b"").unwrap();
    /// let path = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    /// let ns = Namespaces::new().map_root().root(&path);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     ns.spawn(&mut stack, || {
    ///         // Its `/` is the directory: the marker is there, the caller's `/etc` is not.
    ///         i32::from(sys::open(c"/marker", 0).is_ok() && sys::open(c"/etc", 0).is_err())
    ///     })
    /// };
    /// let status = child.and_then(|child| child.wait());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// assert_eq!(status?, ExitStatus::Exited(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn root(mut self, dir: &'a CStr) -> Namespaces<'a> {
        self.new_root = NewRoot::Dir(dir);
        self.mount()
    }

    /// Make an empty tmpfs the root, as bubblewrap does without `--bind / /`: only what
    /// [`Namespaces::mounts`] puts there (and `/proc` with [`Namespaces::mount_proc`]) is in
    /// it. Replaces [`Namespaces::root`]; brings a mount namespace.
    ///
    /// ```
    /// use rawclone::{ns::{Mount, Namespaces}, sys, ExitStatus};
    /// let mounts = [Mount::RoBind { src: c"/", dst: c"/host" }, Mount::tmpfs(c"/scratch")];
    /// let ns = Namespaces::new().map_root().tmpfs_root().mounts(&mounts);
    /// let mut stack = rawclone::Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     ns.spawn(&mut stack, || {
    ///         let host = sys::open(c"/host/proc/self", 0).is_ok();
    ///         let scratch = sys::mkdir(c"/scratch/x", 0o755).is_ok();
    ///         let read_only = sys::mkdir(c"/host/x", 0o755) == Err(rawclone::Errno::EROFS);
    ///         (!host as i32) | (!scratch as i32) << 1 | (!read_only as i32) << 2
    ///     })?
    /// };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn tmpfs_root(mut self) -> Namespaces<'a> {
        self.new_root = NewRoot::Tmpfs;
        self.mount()
    }

    /// Make these mounts in the child, in order, after its mounts went private: in the new
    /// root of [`Namespaces::tmpfs_root`] or [`Namespaces::root`], or else in place. A failure
    /// is [`Error::NamespaceSetup`] with [`SetupStep::Mount`], which names the action by its
    /// index and the part that failed. At most 65,536 actions ([`Rule::TooManyMounts`]).
    /// Brings a mount namespace.
    ///
    /// ```
    /// use rawclone::{ns::{Mount, Namespaces}, sys, ExitStatus, Stack};
    /// let mounts = [Mount::tmpfs(c"/tmp")];
    /// let ns = Namespaces::new().map_root().mounts(&mounts);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     ns.spawn(&mut stack, || {
    ///         // A fresh /tmp: empty, and what is made there stays inside.
    ///         let made = sys::mkdir(c"/tmp/rawclone-mounts-example", 0o755).is_ok();
    ///         i32::from(made)
    ///     })?
    /// };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// assert!(!std::path::Path::new("/tmp/rawclone-mounts-example").exists());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn mounts(mut self, mounts: &'a [Mount<'a>]) -> Namespaces<'a> {
        self.mounts = mounts;
        self.mount()
    }

    /// The capabilities a sandboxed program keeps (`bwrap --cap-add`). By default, as with
    /// bubblewrap: none when the caller is not root; every one when it is (its effective uid
    /// is 0), since root can do as much outside.
    ///
    /// A sandbox (a new root, [`Namespaces::tmpfs_root`] or [`Namespaces::root`], or any
    /// [`Namespaces::mounts`]) holds against its program, as bubblewrap's does:
    /// [`Namespaces::exec_program`] drops every capability but these from all its sets
    /// (bounding, ambient, effective, permitted, inheritable) and sets `no_new_privs`, so
    /// that nothing it execs regains one. Unless the program starts a session of its own
    /// ([`Program::setsid`]), a filter refuses it the ioctls that type into a terminal
    /// ([`crate::seccomp::TERMINAL_INJECTION`]): it stays in the caller's session, whose
    /// terminal it can reach. With a user namespace, the child also enters a
    /// nested user and mount namespace once the mounts are made, which locks them
    /// (`mount_namespaces(7)`): even a program that keeps `CAP_SYS_ADMIN` cannot make a
    /// read-only bind writable, clear `nosuid` or `nodev`, nor unmount a cover to see what it
    /// hides. That nested namespace maps only the child's own uid and gid.
    ///
    /// Capabilities survive the exec for a program that runs as uid 0 in its namespace (as
    /// with [`Namespaces::map_root`]), since the ambient set is not raised.
    ///
    /// ```
    /// use rawclone::{ns::{Mount, Namespaces}, program::{Capabilities, Program}};
    /// let mounts = [Mount::RoBind { src: c"/", dst: c"/" }];
    /// let sandbox = Namespaces::new().map_root().tmpfs_root().mounts(&mounts);
    /// // Unless the caller is root, the program has no capability; no_new_privs is set.
    /// let sandbox = sandbox.keep_capabilities(Capabilities::EMPTY);
    /// let script = c"grep -Eq 'CapEff:[[:space:]]+0+$' /proc/self/status \
    ///     && grep -Eq 'NoNewPrivs:[[:space:]]+1' /proc/self/status";
    /// let argv = [c"sh", c"-c", script];
    /// let check = Program::new(c"/bin/sh").argv(&argv);
    /// assert!(sandbox.exec_program(&check)?.wait()?.success());
    /// // Given CAP_SYS_ADMIN back, it still cannot make its root writable: the mount is locked.
    /// let remount = c"! mount -o remount,bind,rw / 2>/dev/null";
    /// let argv = [c"sh", c"-c", remount];
    /// let attack = Program::new(c"/bin/sh").argv(&argv);
    /// let keeps = sandbox.keep_capabilities(Capabilities::CAP_SYS_ADMIN);
    /// assert!(keeps.exec_program(&attack)?.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn keep_capabilities(mut self, caps: Capabilities) -> Namespaces<'a> {
        self.keep_caps = Some(caps);
        self
    }

    /// Whether this is a sandbox, which [`Namespaces::keep_capabilities`] describes.
    const fn is_sandbox(&self) -> bool {
        !matches!(self.new_root, NewRoot::InPlace) || !self.mounts.is_empty()
    }

    /// Bring the loopback device `lo` up in the child (`SIOCSIFFLAGS`, as `ip link set lo up`
    /// and `bwrap --unshare-net` do); brings a network namespace.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus};
    /// let ns = Namespaces::new().map_root().loopback_up();
    /// let mut stack = rawclone::Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     ns.spawn(&mut stack, || {
    ///         let Ok(socket) = sys::inet_dgram_socket() else { return 2 };
    ///         let flags = sys::interface_flags(socket.as_fd(), b"lo").unwrap_or(0);
    ///         i32::from(flags & 1 == 0) // IFF_UP
    ///     })?
    /// };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn loopback_up(mut self) -> Namespaces<'a> {
        self.loopback_up = true;
        self.net()
    }

    /// Start the child in the cgroup (v2) directory `dir` (`CLONE_INTO_CGROUP`,
    /// [`Builder::cgroup`]), so it never runs outside it. Only clone3 carries it: where clone3
    /// is missing or [`Namespaces::syscall`] forces legacy clone, the spawn is refused with
    /// [`Rule::NeedsClone3`] before any child exists.
    ///
    /// ```no_run
    /// // no_run: needs a cgroup v2 directory the caller may move tasks into.
    /// use linux_raw_sys::general::{O_DIRECTORY, O_RDONLY};
    /// use rawclone::{ns::Namespaces, sys, Stack};
    /// let dir = sys::open(c"/sys/fs/cgroup/mine", O_RDONLY | O_DIRECTORY).expect("cgroup directory");
    /// let ns = Namespaces::new().map_root().cgroup_fd(dir.as_fd());
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { ns.spawn(&mut stack, || 0)? };
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn cgroup_fd(mut self, dir: BorrowedFd<'a>) -> Namespaces<'a> {
        self.cgroup = Some(dir);
        self
    }

    /// Have the kernel send `sig` to the child when the thread that spawned it exits
    /// (`PR_SET_PDEATHSIG`), so the child does not outlive its parent.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, Signal, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let ns = Namespaces::new().kill_on_parent_death(Signal::SIGTERM);
    /// // The child is spawned by a thread that exits right after.
    /// let child = std::thread::scope(|s| {
    ///     // SAFETY: the child only sleeps, with raw syscalls.
    ///     s.spawn(|| unsafe { ns.spawn(&mut stack, || loop { let _ = sys::sleep_ms(1000); }) })
    ///         .join()
    ///         .unwrap()
    /// })?;
    /// assert_eq!(child.wait()?.signal(), Some(Signal::SIGTERM));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn kill_on_parent_death(mut self, sig: Signal) -> Namespaces<'a> {
        self.death_signal = Some(sig);
        self
    }

    /// Force one syscall instead of clone3-with-fallback ([`Builder::syscall`]).
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack, Syscall};
    /// let ns = Namespaces::new().map_root().syscall(Syscall::Clone);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { ns.spawn(&mut stack, sys::getuid)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0)); // root inside
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn syscall(mut self, syscall: Syscall) -> Namespaces<'a> {
        self.syscall = Some(syscall);
        self
    }

    /// The namespace flags the child will be created with.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, CloneFlags};
    /// let flags = Namespaces::new().map_root().hostname("box").namespace_flags();
    /// assert_eq!(flags, CloneFlags::NEWUSER | CloneFlags::NEWUTS); // brought by map_root, hostname
    /// ```
    pub const fn namespace_flags(&self) -> CloneFlags {
        self.flags
    }

    /// Spawn `f` in the namespaces, after the handshakes and setup in the module documentation;
    /// its return value is the exit status.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { Namespaces::new().map_root().pid().spawn(&mut stack, sys::getpid)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1)); // the first process of its pid namespace
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    ///
    /// # Safety
    /// As for [`Builder::spawn`] without `CLONE_VM`: the child is a copy of a possibly
    /// multi-threaded process, so `f` must be async-signal-safe (no allocation, no locks).
    pub unsafe fn spawn<'s, F>(&self, stack: &'s mut Stack<'_>, f: F) -> Result<Child<'s>>
    where
        F: FnOnce() -> i32 + 's,
        'a: 's,
    {
        let run = move |link: GateChild| {
            link.close();
            f()
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { self.launch(stack, run) }.map(|(child, _link)| child)
    }

    /// Spawn `path` with `argv` and `envp` in the namespaces: a shortcut for
    /// [`Namespaces::exec_program`] with [`Program::env_exactly`]. A failed `execve` comes back
    /// as [`Error::Exec`] with its errno, the child reaped. A `path` without a `/` is searched
    /// for in the `PATH` of `envp`, inside the child after the setup, as [`Program::new`] says.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, Errno, Error};
    /// let ns = Namespaces::new().map_root().uts();
    /// let child = ns.exec(c"/bin/sh", &[c"sh", c"-c", c"exit 4"], &[])?;
    /// assert_eq!(child.wait()?, rawclone::ExitStatus::Exited(4));
    /// let missing = ns.exec(c"/nonexistent", &[c"x"], &[]);
    /// assert!(matches!(missing, Err(Error::Exec { errno: Errno::ENOENT, .. })));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn exec(&self, path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Result<Child<'static>> {
        self.exec_program(&Program::new(path).argv(argv).env_exactly(envp))
    }

    /// Spawn `program` in the namespaces: after the namespace setup, the child takes the
    /// program's steps (file actions, working directory, confinement; see [`crate::program`])
    /// and execs. A failed step comes back as [`Error::ExecSetup`], a failed `execve` as
    /// [`Error::Exec`], over the handshake socket, the child reaped.
    ///
    /// ```
    /// use rawclone::{error::SetupStep, ns::Namespaces, program::Program, Errno, Error};
    /// let ns = Namespaces::new().map_root();
    /// let child = ns.exec_program(&Program::new(c"sh").argv(&[c"sh", c"-c", c"exit 5"]))?;
    /// assert_eq!(child.wait()?, rawclone::ExitStatus::Exited(5));
    /// let no_dir = ns.exec_program(&Program::new(c"/bin/true").current_dir(c"/nonexistent"));
    /// assert!(matches!(
    ///     no_dir,
    ///     Err(Error::ExecSetup { step: SetupStep::Chdir, errno: Errno::ENOENT })
    /// ));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn exec_program(&self, program: &Program<'_>) -> Result<Child<'static>> {
        // A sandbox's program gives up what the sandbox does not grant it.
        let confined;
        let program = match self.is_sandbox() {
            true => {
                let root = sys::geteuid() == 0;
                let keep = self.keep_caps.unwrap_or(match root {
                    true => Capabilities::ALL,
                    false => Capabilities::EMPTY,
                });
                let drop = Capabilities::ALL.difference(keep);
                let mut limited = program.drop_capabilities(drop).no_new_privs();
                // In the caller's session it could type into the caller's terminal.
                if !program.in_new_session() {
                    limited = limited.guard_terminal();
                }
                confined = limited;
                &confined
            }
            false => program,
        };
        let (mut stack, image) = program.prepare()?;
        // A terminal on stdout becomes the console only if it stays the program's stdout.
        let ns = Namespaces {
            console: program.keeps_stdout(),
            ..*self
        };
        let exec = image.exec;
        let run = move |link: GateChild| {
            let mut own = link.own;
            let failure = exec.run(Some(&mut own));
            GateChild { own, ..link }.send(failure.message());
            127
        };
        // SAFETY: the child makes raw syscalls, runs the caller's pre_exec hook (whose contract
        // covers this child), execs and writes to its socket, all async-signal-safe.
        let (child, gate) = unsafe { ns.launch(&mut stack, run)? };
        // Without CLONE_VM the child runs on its own copy of the stack and of `image`: ours may
        // go.
        let child = child.unborrow();
        // A successful exec closes the child's end (close-on-exec): end-of-file.
        match gate.receive()? {
            None => Ok(child),
            Some(message) => {
                let _ = child.wait();
                Err(Failure::error(message, program.get_program()))
            }
        }
    }

    /// rawclone's rules for a namespace request, checked before any syscall.
    fn check(&self) -> Result<()> {
        let broken = if !CloneFlags::NAMESPACES.contains(self.flags) {
            Some(Rule::NotANamespace)
        } else if [self.hostname, self.domainname]
            .iter()
            .flatten()
            .any(|name| name.len() > UTS_LEN)
        {
            Some(Rule::HostnameTooLong)
        } else if self.mounts.len() > usize::from(u16::MAX) + 1 {
            Some(Rule::TooManyMounts)
        } else {
            None
        };
        broken.map_or(Ok(()), |rule| Err(Error::Rule(rule, self.flags)))
    }

    /// Clone the child, map its ids, let it set itself up; returns it with the parent's end of
    /// the handshake socket once it reported ready.
    ///
    /// # Safety
    /// As for [`Namespaces::spawn`]; `body` runs in the child after a successful setup.
    unsafe fn launch<'s, B>(&self, stack: &'s mut Stack<'_>, body: B) -> Result<(Child<'s>, Gate)>
    where
        B: FnOnce(GateChild) -> i32 + 's,
        'a: 's,
    {
        self.check()?;
        let (gate, child_end, link) = Gate::new()?;
        let ns = *self;
        let child_side = move || {
            link.close_parent_end();
            if let Err((step, errno)) = ns.set_up(link) {
                link.send((step.to_u32(), errno.into_raw() as u32));
                return 127;
            }
            link.send((READY, 0));
            body(link)
        };
        let mut builder = Builder::new().flags(self.flags);
        if let Some(syscall) = self.syscall {
            builder = builder.syscall(syscall);
        }
        if let Some(dir) = self.cgroup {
            builder = builder.cgroup(dir);
        }
        // SAFETY: forwarded from this function's contract.
        let child = unsafe { builder.spawn(stack, child_side)? };
        drop(child_end);
        // From here on, an early return drops `child`, which kills and reaps it.
        if self.flags.contains(CloneFlags::NEWUSER) {
            self.write_id_maps(child.pid())?;
        }
        gate.send((GO, 0))?;
        match gate.receive()? {
            Some((READY, _)) => Ok((child, gate)),
            Some((step, errno)) => {
                let _ = child.wait();
                match SetupStep::from_u32(step) {
                    Some(step) => Err(Error::NamespaceSetup {
                        step,
                        errno: Errno::new(errno as i32),
                        path: self.path_of(step).map(|p| ErrorPath::new(p.to_bytes())),
                    }),
                    None => Err(Error::ChildGone),
                }
            }
            None => {
                let _ = child.wait();
                Err(Error::ChildGone)
            }
        }
    }

    /// The path a failed setup step was working on, for its error: a mount action's source
    /// (when looking it up failed) or destination, the new root.
    fn path_of(&self, step: SetupStep) -> Option<&'a CStr> {
        match step {
            SetupStep::Mount {
                index,
                part: MountPart::Source,
            } => self.mounts.get(usize::from(index))?.source(),
            SetupStep::Mount { index, .. } => {
                Some(self.mounts.get(usize::from(index))?.destination())
            }
            SetupStep::BindRoot | SetupStep::PivotRoot | SetupStep::DetachOldRoot => {
                match self.new_root {
                    NewRoot::Dir(dir) => Some(dir),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The parent's part: `setgroups`, `uid_map` and `gid_map` of the child's user namespace.
    fn write_id_maps(&self, pid: Pid) -> Result<()> {
        let (uid, gid) = (sys::geteuid() as u32, sys::getegid() as u32);
        // A writer without CAP_SETGID must first give up setgroups in the namespace; a map onto
        // the caller's own gid alone gets the same (as util-linux `-r` does), whichever way it
        // was asked for, so the namespace's root cannot drop into supplementary groups that
        // would bypass the caller's restrictions.
        let own_gid_only = match self.gid_map {
            IdMap::Root | IdMap::Single(_) => true,
            IdMap::Ranges([only]) => only.outside == gid && only.count == 1,
            IdMap::Ranges(_) | IdMap::Unmapped => false,
        };
        if own_gid_only {
            write_proc(pid, "setgroups", b"deny")?;
        }
        write_map(pid, "uid_map", self.uid_map, uid)?;
        write_map(pid, "gid_map", self.gid_map, gid)
    }

    /// The child's part, before its body: everything that must happen inside the namespaces.
    fn set_up(&self, link: GateChild) -> core::result::Result<(), (SetupStep, Errno)> {
        use SetupStep as S;
        if let Some(sig) = self.death_signal {
            sys::set_parent_death_signal(sig).map_err(|e| (S::DeathSignal, e))?;
        }
        // Wait for the id maps; end-of-file means the parent gave up (or died).
        if !link.wait_go() {
            sys::exit_group(127);
        }
        if let Some(name) = self.hostname {
            sys::sethostname(name).map_err(|e| (S::Hostname, e))?;
        }
        if let Some(name) = self.domainname {
            sys::setdomainname(name).map_err(|e| (S::Domainname, e))?;
        }
        if self.loopback_up {
            bring_loopback_up().map_err(|e| (S::LoopbackUp, e))?;
        }
        if self.flags.contains(CloneFlags::NEWNS) {
            let private = sys::MountFlags::REC | sys::MountFlags::PRIVATE;
            let made = sys::mount(c"none", c"/", c"", private, None);
            made.map_err(|e| (S::PrivateMounts, e))?;
            // A sandbox in a user namespace is locked after its mounts, through this process's
            // /proc entry, opened while the caller's /proc is still in sight.
            let lock = self.is_sandbox() && self.flags.contains(CloneFlags::NEWUSER);
            let proc_self = match lock {
                true => Some(sys::open(c"/proc/self", k::O_PATH | k::O_DIRECTORY)),
                false => None,
            };
            let proc_self = proc_self.transpose().map_err(|e| (S::LockMounts, e))?;
            let pid_ns = self.flags.contains(CloneFlags::NEWPID);
            let (root, mounts, proc) = (self.new_root, self.mounts, self.mount_proc);
            mounts::set_up(root, mounts, proc, pid_ns, self.console)?;
            if let Some(proc_self) = proc_self {
                self.lock_mounts(proc_self.as_fd())
                    .map_err(|e| (S::LockMounts, e))?;
            }
        }
        Ok(())
    }

    /// Lock the sandbox's mounts (`mount_namespaces(7)`): enter a nested user namespace and a
    /// mount namespace it owns, whose copies of the mounts the kernel locks because they come
    /// from a more privileged mount namespace. `ro`, `nosuid`, `nodev` and `noexec` can then
    /// not be cleared, nor a mount be taken off what it covers, whatever capabilities the
    /// program keeps. The nested namespace maps the child's own uid and gid onto themselves,
    /// the one map its parent namespace lets an unprivileged process write (after `deny` to
    /// `setgroups`); a child whose ids are not mapped stays unmapped there too.
    /// `proc_self` is this process's `/proc/self` directory.
    fn lock_mounts(&self, proc_self: sys::BorrowedFd<'_>) -> core::result::Result<(), Errno> {
        let (uid, gid) = (sys::geteuid() as u32, sys::getegid() as u32);
        sys::unshare(CloneFlags::NEWUSER | CloneFlags::NEWNS)?;
        let write = |file: &CStr, data: &[u8]| {
            let fd = sys::open_at(proc_self, file, k::O_WRONLY)?;
            match sys::write(fd.as_fd(), data)? == data.len() {
                true => Ok(()),
                false => Err(Errno::EIO),
            }
        };
        let mut map = MapText::new();
        if !matches!(self.uid_map, IdMap::Unmapped) {
            map.line(uid, uid, 1);
            write(c"uid_map", map.as_bytes())?;
        }
        if !matches!(self.gid_map, IdMap::Unmapped) {
            write(c"setgroups", b"deny")?;
            let mut map = MapText::new();
            map.line(gid, gid, 1);
            write(c"gid_map", map.as_bytes())?;
        }
        Ok(())
    }
}

/// `lo`'s flags with `IFF_UP` added, through an `AF_INET` datagram socket.
fn bring_loopback_up() -> core::result::Result<(), Errno> {
    let socket = sys::inet_dgram_socket()?;
    let flags = sys::interface_flags(socket.as_fd(), b"lo")?;
    let up = linux_raw_sys::net::net_device_flags::IFF_UP as u16;
    sys::set_interface_flags(socket.as_fd(), b"lo", flags | up)
}

/// Seed task 4: spawn `f` as root (uid 0, gid 0) of a new user namespace mapped onto the
/// caller's effective uid and gid, with any `extra` namespaces owned by it.
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
    // SAFETY: forwarded from this function's contract.
    unsafe { Namespaces::new().map_root().flags(extra).spawn(stack, f) }
}

/// Write the map for one id kind; `own` is the caller's effective id.
fn write_map(pid: Pid, file: &'static str, map: IdMap<'_>, own: u32) -> Result<()> {
    let mut text = MapText::new();
    match map {
        IdMap::Unmapped => return Ok(()),
        IdMap::Root => text.line(0, own, 1),
        IdMap::Single(inside) => text.line(inside, own, 1),
        IdMap::Ranges(ranges) => {
            for r in ranges {
                if !text.line(r.inside, r.outside, r.count) {
                    return Err(Error::Rule(Rule::IdMapTooLong, CloneFlags::NEWUSER));
                }
            }
            true
        }
    };
    write_proc(pid, file, text.as_bytes())
}

/// Write `data` to `/proc/<pid>/<file>` in one `write(2)`, as the id-map files require; an
/// error is [`Error::IdMap`], naming the file.
fn write_proc(pid: Pid, file: &'static str, data: &[u8]) -> Result<()> {
    let failed = |errno| Error::IdMap { pid, file, errno };
    let mut path = [0u8; 64];
    let mut len = 0;
    for part in [
        b"/proc/" as &[u8],
        Decimal::new(pid as u32).as_bytes(),
        b"/",
        file.as_bytes(),
    ] {
        path[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    let path = CStr::from_bytes_until_nul(&path[..=len]).map_err(|_| failed(Errno::EINVAL))?;
    let fd = sys::open(path, k::O_WRONLY).map_err(failed)?;
    match sys::write(fd.as_fd(), data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => Err(failed(Errno::EIO)),
        Err(e) => Err(failed(e)),
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

/// The text of an id map, `inside outside count` per line, without allocation. The kernel
/// takes at most 340 lines, written at once, in one page.
struct MapText {
    buf: [u8; MAP_PAGE],
    len: usize,
    lines: usize,
}

/// Most bytes the kernel reads from one write to an id map file.
const MAP_PAGE: usize = 4096;
/// Most lines in an id map (`user_namespaces(7)`, Linux 4.15 and later).
const MAP_LINES: usize = 340;

impl MapText {
    fn new() -> MapText {
        MapText {
            buf: [0; MAP_PAGE],
            len: 0,
            lines: 0,
        }
    }

    /// Append one line; `false` if it does not fit.
    fn line(&mut self, inside: u32, outside: u32, count: u32) -> bool {
        let digits = [inside, outside, count].map(Decimal::new);
        let needed: usize = digits.iter().map(|d| d.as_bytes().len() + 1).sum();
        if self.lines == MAP_LINES || self.len + needed > self.buf.len() {
            return false;
        }
        self.lines += 1;
        for (i, digits) in digits.iter().enumerate() {
            let part = digits.as_bytes();
            self.buf[self.len..self.len + part.len()].copy_from_slice(part);
            self.len += part.len();
            self.buf[self.len] = if i == 2 { b'\n' } else { b' ' };
            self.len += 1;
        }
        true
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
