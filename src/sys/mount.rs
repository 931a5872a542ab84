//! `mount(2)` with typed flags, `mount_setattr(2)`, detached binds (`open_tree(2)`,
//! `move_mount(2)`), and the file calls a sandbox's mount setup
//! needs to make its mount points: `statx(2)` for a source's type, `mknodat(2)` for an empty
//! file, `symlinkat(2)` and `readlinkat(2)`, `faccessat(2)`.

use super::{BorrowedFd, Errno, Fd};
use core::ffi::CStr;
use core::ops::{BitOr, BitOrAssign};
use linux_raw_sys::general as k;
use syscalls::{Sysno, syscall2, syscall3, syscall4, syscall5};

/// The empty path of the `AT_EMPTY_PATH` and `*_EMPTY_PATH` calls: a NUL in a static of its
/// own, an address no other argument shares (see [`move_mount_to`]).
static EMPTY_PATH: [u8; 1] = [0];

/// [`EMPTY_PATH`] as a C string.
fn empty_path() -> &'static CStr {
    CStr::from_bytes_with_nul(&EMPTY_PATH).unwrap_or_default()
}

/// A set of `MS_*` flags for [`mount`] (`mount(2)`).
///
/// ```
/// use rawclone::sys::MountFlags;
/// let bind = MountFlags::BIND | MountFlags::REC;
/// assert!(bind.contains(MountFlags::REC));
/// assert!(!bind.contains(MountFlags::RDONLY));
/// assert_eq!(bind.bits(), 0x1000 | 0x4000);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct MountFlags(u64);

macro_rules! mount_flags {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl MountFlags {
            $( $(#[$doc])* pub const $name: MountFlags = MountFlags($value as u64); )*
        }
    };
}

mount_flags! {
    /// Read-only (`MS_RDONLY`).
    RDONLY = k::MS_RDONLY;
    /// Ignore set-user-id and set-group-id bits and file capabilities (`MS_NOSUID`).
    NOSUID = k::MS_NOSUID;
    /// No access to device nodes (`MS_NODEV`).
    NODEV = k::MS_NODEV;
    /// No program runs from it (`MS_NOEXEC`).
    NOEXEC = k::MS_NOEXEC;
    /// Change an existing mount (`MS_REMOUNT`); with `BIND`, only its per-mount flags.
    REMOUNT = k::MS_REMOUNT;
    /// Bind mount: make a file or directory visible at another place (`MS_BIND`).
    BIND = k::MS_BIND;
    /// Move a mount (`MS_MOVE`).
    MOVE = k::MS_MOVE;
    /// Recursive: with `BIND` the submounts too, with a propagation type the whole tree (`MS_REC`).
    REC = k::MS_REC;
    /// Leave out some kernel log messages (`MS_SILENT`).
    SILENT = k::MS_SILENT;
    /// Propagation: private (`MS_PRIVATE`).
    PRIVATE = k::MS_PRIVATE;
    /// Propagation: slave (`MS_SLAVE`).
    SLAVE = k::MS_SLAVE;
    /// Propagation: shared (`MS_SHARED`).
    SHARED = k::MS_SHARED;
    /// Do not update access times (`MS_NOATIME`).
    NOATIME = k::MS_NOATIME;
    /// Do not update directory access times (`MS_NODIRATIME`).
    NODIRATIME = k::MS_NODIRATIME;
    /// Update access times relative to modification times (`MS_RELATIME`).
    RELATIME = k::MS_RELATIME;
    /// Always update access times (`MS_STRICTATIME`).
    STRICTATIME = k::MS_STRICTATIME;
}

impl MountFlags {
    /// No flags.
    pub const EMPTY: MountFlags = MountFlags(0);

    /// Both sets (usable in `const` context, unlike `|`).
    ///
    /// ```
    /// use rawclone::sys::MountFlags;
    /// const RO_BIND: MountFlags = MountFlags::BIND.union(MountFlags::RDONLY); // `|` is not const
    /// assert_eq!(RO_BIND, MountFlags::BIND | MountFlags::RDONLY);
    /// ```
    pub const fn union(self, other: MountFlags) -> MountFlags {
        MountFlags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    ///
    /// ```
    /// use rawclone::sys::MountFlags;
    /// let flags = MountFlags::NOSUID | MountFlags::NODEV;
    /// assert!(flags.contains(MountFlags::NOSUID) && !flags.contains(MountFlags::NOSUID | MountFlags::RDONLY));
    /// ```
    pub const fn contains(self, other: MountFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw bits, as `mount(2)` takes them.
    ///
    /// ```
    /// use rawclone::sys::MountFlags;
    /// assert_eq!(MountFlags::RDONLY.bits(), 1); // MS_RDONLY
    /// assert_eq!(MountFlags::EMPTY.bits(), 0);
    /// ```
    pub const fn bits(self) -> u64 {
        self.0
    }
}

impl BitOr for MountFlags {
    type Output = MountFlags;
    fn bitor(self, other: MountFlags) -> MountFlags {
        self.union(other)
    }
}

impl BitOrAssign for MountFlags {
    fn bitor_assign(&mut self, other: MountFlags) {
        *self = self.union(other);
    }
}

/// `mount(2)`: `data` is the file system's option string (`mode=0755` for a tmpfs), or none.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// use rawclone::sys::MountFlags;
/// let ns = Namespaces::new().map_root().mount(); // the child's own mount namespace
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     ns.spawn(&mut stack, || {
///         let ro = MountFlags::RDONLY | MountFlags::NOSUID;
///         let mounted = sys::mount(c"tmpfs", c"/tmp", c"tmpfs", ro, Some(c"size=1m"));
///         (mounted.is_ok() && sys::mkdir(c"/tmp/x", 0o755) == Err(rawclone::Errno::EROFS)) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn mount(
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: MountFlags,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let data = data.map_or(0, |d| d.as_ptr() as usize);
    // SAFETY: three NUL-terminated strings, and `data` NULL or a fourth, live for the call.
    unsafe {
        syscall5(
            Sysno::mount,
            source.as_ptr() as usize,
            target.as_ptr() as usize,
            fstype.as_ptr() as usize,
            flags.bits() as usize,
            data,
        )
    }
    .map(drop)
}

/// `mount_setattr(AT_FDCWD, path, AT_RECURSIVE, …)` (Linux 5.12+): set the `MOUNT_ATTR_*` bits
/// `set` on the mount at `path` and every mount below it, leaving their other flags as they are.
/// Setting only adds restrictions, which the kernel allows even on mounts whose flags a less
/// privileged user namespace locked (`mount_namespaces(7)`).
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// use linux_raw_sys::general::MOUNT_ATTR_RDONLY;
/// use rawclone::sys::MountFlags;
/// let ns = Namespaces::new().map_root().mount(); // the child's own mount namespace
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     ns.spawn(&mut stack, || {
///         let made = sys::mount(c"tmpfs", c"/tmp", c"tmpfs", MountFlags::EMPTY, None)
///             .and_then(|()| sys::restrict_mounts(c"/tmp", MOUNT_ATTR_RDONLY.into())); // 5.12+
///         (made.is_ok() && sys::mkdir(c"/tmp/x", 0o755) == Err(rawclone::Errno::EROFS)) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("mount_setattr"))]
pub fn restrict_mounts(path: &CStr, set: u64) -> Result<(), Errno> {
    set_attributes(k::AT_FDCWD, path, k::AT_RECURSIVE, set)
}

/// `mount_setattr(dirfd, path, flags, {attr_set: set})`: add `MOUNT_ATTR_*` bits, clear none.
fn set_attributes(dirfd: i32, path: &CStr, flags: u32, set: u64) -> Result<(), Errno> {
    let attr = k::mount_attr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is NUL-terminated and `attr` a live local of the size passed; `dirfd` is
    // AT_FDCWD or a descriptor the caller borrows for the call.
    unsafe {
        syscalls::syscall5(
            Sysno::mount_setattr,
            dirfd as usize,
            path.as_ptr() as usize,
            flags as usize,
            &raw const attr as usize,
            size_of::<k::mount_attr>(),
        )
    }
    .map(drop)
}

/// `open_tree(2)` with `OPEN_TREE_CLONE`: a detached bind of what is at `path` (a file or a
/// directory, followed if a symlink), held by the returned descriptor until
/// [`move_mount_onto`] attaches it (or the descriptor closes, which drops it). Taken before
/// something covers `path`, it still reaches what was there. Linux 5.2+ (ENOSYS before).
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().mount().spawn(&mut stack, || {
///         let Ok(null) = sys::clone_mount(c"/dev/null") else { return 1 };
///         let none = sys::MountFlags::EMPTY;
///         // /tmp covered by an empty tmpfs; the detached bind of /dev/null goes into it.
///         let moved = sys::mount(c"tmpfs", c"/tmp", c"tmpfs", none, None)
///             .and_then(|()| sys::create_file(c"/tmp/null", 0o600))
///             .and_then(|()| sys::move_mount_onto(null.as_fd(), c"/tmp/null"));
///         match (moved, sys::char_device(c"/tmp/null")) {
///             (Ok(()), Ok(Some((1, 3)))) => 0,
///             _ => 2,
///         }
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("open_tree"))]
pub fn clone_mount(path: &CStr) -> Result<Fd, Errno> {
    let flags = k::OPEN_TREE_CLONE | k::OPEN_TREE_CLOEXEC;
    // SAFETY: `path` is NUL-terminated and lives for the call; no memory is written.
    let fd = unsafe {
        syscall3(
            Sysno::open_tree,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            flags as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// `move_mount(2)` of the detached mount `tree` (from [`clone_mount`]) onto `path`.
#[doc(alias("move_mount"))]
pub fn move_mount_onto(tree: BorrowedFd<'_>, path: &CStr) -> Result<(), Errno> {
    // SAFETY: two NUL-terminated strings that live for the call; no memory is written.
    unsafe {
        syscall5(
            Sysno::move_mount,
            tree.as_raw() as usize,
            EMPTY_PATH.as_ptr() as usize,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            k::MOVE_MOUNT_F_EMPTY_PATH as usize,
        )
    }
    .map(drop)
}

/// `open_tree(2)` with `OPEN_TREE_CLONE | AT_RECURSIVE` of the file `at` (any descriptor, an
/// `O_PATH` one too): a detached copy of the mount there and every mount below it, as a
/// recursive bind would make, held by the returned descriptor until [`move_mount_onto`]
/// attaches it; [`restrict_tree`] restricts it before. Linux 5.2+ (ENOSYS before).
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().mount().spawn(&mut stack, || {
///         let Ok(dev) = sys::open(c"/dev", O_PATH | O_DIRECTORY) else { return 1 };
///         let Ok(tree) = sys::clone_tree(dev.as_fd()) else { return 2 };
///         let moved = sys::move_mount_onto(tree.as_fd(), c"/mnt");
///         (moved.is_ok() && sys::char_device(c"/mnt/null") == Ok(Some((1, 3)))) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("open_tree"))]
pub fn clone_tree(at: BorrowedFd<'_>) -> Result<Fd, Errno> {
    let flags = k::OPEN_TREE_CLONE | k::OPEN_TREE_CLOEXEC | k::AT_RECURSIVE | k::AT_EMPTY_PATH;
    // SAFETY: an empty NUL-terminated path; `at` is a descriptor we borrow.
    let fd = unsafe {
        syscall3(
            Sysno::open_tree,
            at.as_raw() as usize,
            EMPTY_PATH.as_ptr() as usize,
            flags as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// `mount_setattr(2)` on a mount tree held by a descriptor (from [`clone_tree`]): add the
/// `MOUNT_ATTR_*` bits `set` to it and every mount in it, before it is attached anywhere.
/// Linux 5.12+ (ENOSYS before).
///
/// ```
/// use linux_raw_sys::general::{MOUNT_ATTR_RDONLY, O_DIRECTORY, O_PATH};
/// use rawclone::{ns::Namespaces, sys, Errno, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().mount().spawn(&mut stack, || {
///         let none = sys::MountFlags::EMPTY;
///         let Ok(()) = sys::mount(c"tmpfs", c"/mnt", c"tmpfs", none, None) else { return 1 };
///         let Ok(mnt) = sys::open(c"/mnt", O_PATH | O_DIRECTORY) else { return 2 };
///         let Ok(tree) = sys::clone_tree(mnt.as_fd()) else { return 3 };
///         match sys::restrict_tree(tree.as_fd(), MOUNT_ATTR_RDONLY.into()) {
///             Err(Errno::ENOSYS) => return 0, // before 5.12
///             Err(_) => return 4,
///             Ok(()) => {}
///         }
///         let Ok(()) = sys::move_mount_onto(tree.as_fd(), c"/tmp") else { return 5 };
///         // Read-only where it was attached: made so while detached.
///         if sys::mkdir(c"/tmp/x", 0o755) == Err(Errno::EROFS) { 0 } else { 6 }
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("mount_setattr"))]
pub fn restrict_tree(tree: BorrowedFd<'_>, set: u64) -> Result<(), Errno> {
    set_attributes(
        tree.as_raw(),
        empty_path(),
        k::AT_EMPTY_PATH | k::AT_RECURSIVE,
        set,
    )
}

/// The mode of the file descriptor `fd` refers to (an `O_PATH` one too), as [`file_mode`]
/// gives it for a path (`statx(2)` with `AT_EMPTY_PATH`).
///
/// ```
/// use linux_raw_sys::general::{O_PATH, S_IFDIR, S_IFMT};
/// use rawclone::sys;
/// let root = sys::open(c"/", O_PATH)?;
/// assert_eq!(sys::file_mode_of(root.as_fd())? & S_IFMT, S_IFDIR);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("statx", "fstat"))]
pub fn file_mode_of(fd: BorrowedFd<'_>) -> Result<u32, Errno> {
    let mask = k::STATX_TYPE | k::STATX_MODE;
    let stx = statx_at(fd.as_raw(), empty_path(), k::AT_EMPTY_PATH, mask)?;
    Ok(u32::from(stx.stx_mode))
}

/// Whether descriptors `a` and `b` refer to the same file in the same mount (device, inode
/// and, from Linux 5.8, mount id: `statx(2)`), so that one directory bound at two places is
/// two.
pub(crate) fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, Errno> {
    same_in(a, b, true)
}

/// Whether descriptors `a` and `b` refer to the same file (device and inode), in any mount:
/// the same file seen from another mount namespace's copy of its mount.
pub(crate) fn same_inode(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, Errno> {
    same_in(a, b, false)
}

/// [`same_file`], with the mount compared too or not (`mount`).
fn same_in(a: BorrowedFd<'_>, b: BorrowedFd<'_>, mount: bool) -> Result<bool, Errno> {
    let id = |fd: BorrowedFd<'_>| {
        let mask = k::STATX_INO | k::STATX_MNT_ID;
        let stx = statx_at(fd.as_raw(), empty_path(), k::AT_EMPTY_PATH, mask)?;
        // Before 5.8 no mount id comes back (the mask says so): 0 for both.
        let mount = if mount && stx.stx_mask & k::STATX_MNT_ID != 0 {
            stx.stx_mnt_id
        } else {
            0
        };
        Ok::<_, Errno>((stx.stx_dev_major, stx.stx_dev_minor, stx.stx_ino, mount))
    };
    Ok(id(a)? == id(b)?)
}

/// The mode (`st_mode`: the type bits of `S_IFMT`, `S_IFDIR`, `S_IFREG`, …, and the
/// permission bits) of the file at `path`, following symlinks (`statx(2)` with `STATX_TYPE` and
/// `STATX_MODE`).
///
/// ```
/// use linux_raw_sys::general::{S_IFDIR, S_IFMT, S_IFREG};
/// use rawclone::{sys, Errno};
/// assert_eq!(sys::file_mode(c"/proc/self")? & S_IFMT, S_IFDIR); // a symlink, followed
/// assert_eq!(sys::file_mode(c"/proc/self/stat")? & S_IFMT, S_IFREG);
/// assert_eq!(sys::file_mode(c"/proc/self/stat")? & 0o777, 0o444);
/// assert_eq!(sys::file_mode(c"/no/such/file"), Err(Errno::ENOENT));
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("statx", "stat"))]
pub fn file_mode(path: &CStr) -> Result<u32, Errno> {
    statx(path, k::STATX_TYPE | k::STATX_MODE).map(|stx| u32::from(stx.stx_mode))
}

/// The device (major, minor) that the character device node at `path` stands for, following
/// symlinks (`statx(2)`'s `stx_rdev`); `None` for any other kind of file.
///
/// ```
/// use rawclone::sys;
/// assert_eq!(sys::char_device(c"/dev/null")?, Some((1, 3)));
/// assert_eq!(sys::char_device(c"/proc/self/stat")?, None);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn char_device(path: &CStr) -> Result<Option<(u32, u32)>, Errno> {
    let stx = statx(path, k::STATX_TYPE)?;
    let is_char = u32::from(stx.stx_mode) & k::S_IFMT == k::S_IFCHR;
    Ok(is_char.then_some((stx.stx_rdev_major, stx.stx_rdev_minor)))
}

/// `statx(2)` of `path`, following symlinks, asking for the `mask` fields.
fn statx(path: &CStr, mask: u32) -> Result<k::statx, Errno> {
    statx_at(k::AT_FDCWD, path, 0, mask)
}

/// `statx(dirfd, path, flags, mask)`.
fn statx_at(dirfd: i32, path: &CStr, flags: u32, mask: u32) -> Result<k::statx, Errno> {
    // SAFETY: statx is plain old data, for which all zeroes is a valid value.
    let mut stx: k::statx = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and the kernel writes one `struct statx` into a live
    // local; `dirfd` is AT_FDCWD or a descriptor the caller borrows for the call.
    unsafe {
        syscall5(
            Sysno::statx,
            dirfd as usize,
            path.as_ptr() as usize,
            flags as usize,
            mask as usize,
            &raw mut stx as usize,
        )
    }?;
    Ok(stx)
}

/// Create an empty regular file at `path` with permissions `mode` (`mknodat(2)` with
/// `S_IFREG`, which opens nothing); EEXIST if anything is there.
///
/// ```
/// use linux_raw_sys::general::{S_IFMT, S_IFREG};
/// use rawclone::{sys, Errno};
/// let path = std::ffi::CString::new(format!("/tmp/rawclone-doc-file-{}", sys::getpid())).unwrap();
/// sys::create_file(&path, 0o600)?;
/// assert_eq!(sys::file_mode(&path)? & S_IFMT, S_IFREG);
/// assert_eq!(sys::create_file(&path, 0o600), Err(Errno::EEXIST));
/// std::fs::remove_file(path.to_str().unwrap()).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("mknodat", "mknod"))]
pub fn create_file(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    unsafe {
        syscall4(
            Sysno::mknodat,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            (k::S_IFREG | (mode & 0o7777)) as usize,
            0,
        )
    }
    .map(drop)
}

/// `mkdirat(2)`: a directory `name` in the directory `dir` (an `O_PATH` descriptor too), with
/// `mode` (less the umask); a final symlink at `name` is not followed (EEXIST).
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH, S_IFDIR, S_IFMT};
/// use rawclone::{sys, Errno};
/// let dir = std::env::temp_dir().join(format!("rawclone-doc-mkdirat-{}", sys::getpid()));
/// std::fs::create_dir(&dir).unwrap();
/// let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
/// let at = sys::open(&path, O_PATH | O_DIRECTORY)?;
/// sys::mkdir_at(at.as_fd(), c"sub", 0o755)?;
/// assert_eq!(sys::mkdir_at(at.as_fd(), c"sub", 0o755), Err(Errno::EEXIST));
/// sys::create_file_at(at.as_fd(), c"file", 0o444)?;
/// assert!(dir.join("sub").is_dir() && dir.join("file").is_file());
/// std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("mkdirat"))]
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and lives for the call; `dir` is a descriptor we borrow.
    unsafe {
        syscall3(
            Sysno::mkdirat,
            dir.as_raw() as usize,
            name.as_ptr() as usize,
            mode as usize,
        )
    }
    .map(drop)
}

/// `mknodat(2)` of an empty regular file `name` in the directory `dir`, as [`create_file`]
/// makes one by path; EEXIST if anything is there (a symlink too: it is not followed).
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::{sys, Errno};
/// let tmp = sys::open(c"/tmp", O_PATH | O_DIRECTORY)?;
/// let name = std::ffi::CString::new(format!("rawclone-doc-at-{}", sys::getpid())).unwrap();
/// sys::create_file_at(tmp.as_fd(), &name, 0o600)?;
/// assert_eq!(sys::create_file_at(tmp.as_fd(), &name, 0o600), Err(Errno::EEXIST));
/// std::fs::remove_file(format!("/tmp/{}", name.to_str().unwrap())).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("mknodat"))]
pub fn create_file_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and lives for the call; `dir` is a descriptor we borrow.
    unsafe {
        syscall4(
            Sysno::mknodat,
            dir.as_raw() as usize,
            name.as_ptr() as usize,
            (k::S_IFREG | (mode & 0o7777)) as usize,
            0,
        )
    }
    .map(drop)
}

/// `move_mount(2)` of the detached mount `tree` (from [`clone_tree`]) onto the file or
/// directory `target` refers to (`MOVE_MOUNT_T_EMPTY_PATH`): nothing is looked up by name.
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().mount().spawn(&mut stack, || {
///         let (Ok(dev), Ok(mnt)) = (
///             sys::open(c"/dev", O_PATH | O_DIRECTORY),
///             sys::open(c"/mnt", O_PATH | O_DIRECTORY),
///         ) else {
///             return 1;
///         };
///         let Ok(tree) = sys::clone_tree(dev.as_fd()) else { return 2 };
///         let moved = sys::move_mount_to(tree.as_fd(), mnt.as_fd());
///         (moved.is_ok() && sys::char_device(c"/mnt/null") == Ok(Some((1, 3)))) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("move_mount"))]
pub fn move_mount_to(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = k::MOVE_MOUNT_F_EMPTY_PATH | k::MOVE_MOUNT_T_EMPTY_PATH;
    // Two empty paths at two addresses: the `syscalls` crate's i386 `syscall5` exchanges its
    // fourth argument's register with esi around `int 0x80` while declaring it an input only,
    // so LLVM may give the fourth argument the second one's register (ecx) when both hold the
    // same value, and the exchange then puts esi's old content in ecx (seen in the i686 build
    // without libc: from_pathname was the descriptor's number, EFAULT).
    static TO_EMPTY_PATH: [u8; 1] = [0];
    // SAFETY: two empty NUL-terminated paths; both descriptors are borrowed for the call.
    unsafe {
        syscall5(
            Sysno::move_mount,
            tree.as_raw() as usize,
            EMPTY_PATH.as_ptr() as usize,
            target.as_raw() as usize,
            TO_EMPTY_PATH.as_ptr() as usize,
            flags as usize,
        )
    }
    .map(drop)
}

/// A new, detached mount of a fresh `fstype` filesystem (`fsopen(2)`, `fsconfig(2)` with each
/// `(key, value)` of `options` and `FSCONFIG_CMD_CREATE`, then `fsmount(2)` with the
/// `MOUNT_ATTR_*` bits `attrs`), held by the returned descriptor, which names its root, until
/// [`move_mount_to`] attaches it. Linux 5.2+ (ENOSYS before); the filesystem's own refusals
/// of an option come back as its errno (EINVAL).
///
/// ```
/// use linux_raw_sys::general::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, O_DIRECTORY, O_PATH};
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().mount().spawn(&mut stack, || {
///         let attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
///         let Ok(tmp) = sys::fresh_mount(c"tmpfs", &[(c"mode", c"0700")], attrs) else {
///             return 1;
///         };
///         // Filled through its descriptor, then attached on /mnt.
///         let Ok(()) = sys::mkdir_at(tmp.as_fd(), c"made", 0o755) else { return 2 };
///         let Ok(mnt) = sys::open(c"/mnt", O_PATH | O_DIRECTORY) else { return 3 };
///         let Ok(()) = sys::move_mount_to(tmp.as_fd(), mnt.as_fd()) else { return 4 };
///         match (sys::file_mode(c"/mnt"), sys::open(c"/mnt/made", 0)) {
///             (Ok(mode), Ok(_)) if mode & 0o777 == 0o700 => 0,
///             _ => 5,
///         }
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("fsopen", "fsmount", "fsconfig"))]
pub fn fresh_mount(fstype: &CStr, options: &[(&CStr, &CStr)], attrs: u32) -> Result<Fd, Errno> {
    use k::fsconfig_command as cmd;
    // SAFETY: `fstype` is NUL-terminated and lives for the call.
    let fs = unsafe {
        syscall2(
            Sysno::fsopen,
            fstype.as_ptr() as usize,
            k::FSOPEN_CLOEXEC as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    let fs = unsafe { Fd::from_raw(fs as i32) };
    let config = |command: cmd, key: *const u8, value: *const u8| {
        // SAFETY: `key` and `value` are null or NUL-terminated strings that outlive the call.
        unsafe {
            syscall5(
                Sysno::fsconfig,
                fs.as_raw() as usize,
                command as usize,
                key as usize,
                value as usize,
                0,
            )
        }
    };
    for (key, value) in options {
        let set = cmd::FSCONFIG_SET_STRING;
        config(set, key.as_ptr().cast(), value.as_ptr().cast())?;
    }
    config(
        cmd::FSCONFIG_CMD_CREATE,
        core::ptr::null(),
        core::ptr::null(),
    )?;
    // SAFETY: takes a descriptor we own and two flag words; touches no memory of ours.
    let mount = unsafe {
        syscall3(
            Sysno::fsmount,
            fs.as_raw() as usize,
            k::FSMOUNT_CLOEXEC as usize,
            attrs as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(mount as i32) })
}

/// `fchdir(2)`: make the directory `dir` refers to (an `O_PATH` descriptor too) the working
/// directory.
///
/// ```
/// use linux_raw_sys::general::{O_DIRECTORY, O_PATH};
/// use rawclone::{sys, ExitStatus, Fork};
/// // SAFETY: the child only makes raw syscalls and exits.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let moved = sys::open(c"/proc", O_PATH | O_DIRECTORY)
///             .and_then(|proc| sys::change_dir_to(proc.as_fd()));
///         // "self" is now relative to /proc.
///         sys::exit_group((moved.is_ok() && sys::open(c"self/stat", 0).is_ok()) as i32)
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias = "fchdir")]
pub fn change_dir_to(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: takes a descriptor we borrow; touches no memory of ours.
    unsafe { syscalls::syscall1(Sysno::fchdir, dir.as_raw() as usize) }.map(drop)
}

/// `symlinkat(2)`: a symbolic link at `path` whose text is `target`.
///
/// ```
/// use linux_raw_sys::general::{S_IFDIR, S_IFMT};
/// use rawclone::sys;
/// let path = std::ffi::CString::new(format!("/tmp/rawclone-doc-link-{}", sys::getpid())).unwrap();
/// sys::symlink(c"/proc", &path)?;
/// assert_eq!(sys::file_mode(&path)? & S_IFMT, S_IFDIR); // followed to /proc
/// std::fs::remove_file(path.to_str().unwrap()).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("symlinkat"))]
pub fn symlink(target: &CStr, path: &CStr) -> Result<(), Errno> {
    super::symlink_at(target, working_directory(), path)
}

/// `readlinkat(2)`: the text of the symbolic link at `path`, read into `buf`. ENAMETOOLONG
/// when it may not fit (the kernel filled all of `buf`).
///
/// ```
/// use rawclone::sys;
/// let mut buf = [0u8; 64];
/// let (r, _w) = sys::pipe()?;
/// let text = sys::read_link(&std::ffi::CString::new(format!("/proc/self/fd/{}", r.as_raw())).unwrap(), &mut buf)?;
/// assert!(text.starts_with(b"pipe:["));
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("readlinkat", "readlink"))]
pub fn read_link<'b>(path: &CStr, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
    super::read_link_at(working_directory(), path, buf)
}

/// `AT_FDCWD` as a directory argument: the working directory, for the `*at` calls.
fn working_directory() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD names no descriptor to keep open: every `*at` call reads it as "the
    // working directory", and nothing closes it.
    unsafe { BorrowedFd::borrow_raw(k::AT_FDCWD) }
}

/// `faccessat(AT_FDCWD, path, mode, 0)`: whether the real ids may access `path` as `mode`
/// (`R_OK`, `W_OK`, `X_OK`, or `F_OK` for existence) says.
///
/// ```
/// use linux_raw_sys::general::{F_OK, R_OK};
/// use rawclone::{sys, Errno};
/// sys::access(c"/proc/self/stat", R_OK)?;
/// assert_eq!(sys::access(c"/no/such/file", F_OK), Err(Errno::ENOENT));
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn access(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    unsafe {
        syscall3(
            Sysno::faccessat,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            mode as usize,
        )
    }
    .map(drop)
}

/// `umount2(2)`: detach the mount at `target` (`flags`: `MNT_DETACH`, …).
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// use rawclone::{sys::MountFlags, Errno};
/// let ns = Namespaces::new().map_root().mount(); // the child's own mount namespace
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     ns.spawn(&mut stack, || {
///         let steps = sys::mount(c"tmpfs", c"/mnt", c"tmpfs", MountFlags::EMPTY, None)
///             .and_then(|()| sys::create_file(c"/mnt/rawclone-umount2-doc", 0o600))
///             .and_then(|()| sys::umount2(c"/mnt", 0)); // the file went with the tmpfs
///         let gone = sys::access(c"/mnt/rawclone-umount2-doc", 0) == Err(Errno::ENOENT);
///         (steps.is_ok() && gone) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn umount2(target: &CStr, flags: u32) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated string that lives for the call.
    unsafe { syscall2(Sysno::umount2, target.as_ptr() as usize, flags as usize) }.map(drop)
}
