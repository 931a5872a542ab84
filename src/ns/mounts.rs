//! Mount actions for a sandbox, made in the child as bubblewrap makes them (`bwrap(1)`):
//! binds, read-only binds, tmpfs, a minimal `/dev` and a `/proc`, under a new root.
//!
//! With a new root ([`Namespaces::tmpfs_root`] or [`Namespaces::root`]) the child first stages
//! one, as bubblewrap does: it mounts a tmpfs on `/tmp`, makes `newroot` and `oldroot` in it and
//! `pivot_root`s into it, so the old root is at `/oldroot` (where sources are read) and the new
//! one at `/newroot` (where destinations are made). The new root is the empty `newroot`
//! itself, bound onto itself to be a mount point, or the given directory bound there. After the
//! mounts the old root is detached and the child `pivot_root`s into `/newroot`, which detaches
//! the staging tmpfs too. Resolving destinations under the staging root means that an absolute
//! symlink in the new root leads into the staging tmpfs, never out to the host.
//!
//! Without a new root the mounts are made in place, in the child's mount namespace.
//!
//! Each bind is recursive and is then restricted, on it and every submount: `nosuid` and
//! `nodev` (not `nodev` for a device node of `/dev`), and `ro` for a read-only bind, keeping
//! every other flag of the source, which a user namespace may not drop (the `restrict`
//! module). Missing destinations are created as bubblewrap
//! creates them: directories on the way (mode 0755), then a directory, or an empty file (mode
//! 0444) for a source that is not a directory. `mount(2)`, `pivot_root(2)`, `tmpfs(5)`,
//! `proc(5)`, `pts(4)`.

use super::path::{Path, make_dir, make_file};
use super::restrict::restrict;
use crate::error::{MountPart, SetupStep};
use crate::sys::{self, BorrowedFd, MountFlags};
use core::ffi::CStr;
use core::fmt::Write;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// One mount action of a sandbox ([`Namespaces::mounts`]). Sources are paths in the caller's
/// tree (a relative one from its working directory), destinations paths in the new root.
///
/// Under a new root the file actions ([`Mount::Dir`], [`Mount::Symlink`], [`Mount::Chmod`],
/// [`Mount::File`], [`Mount::BindData`], [`Mount::BindFd`]) need Linux 5.6 (`openat2(2)`, which
/// keeps every lookup in the new root): before, they are refused (ENOSYS), where a path could
/// follow a symlink planted in a bound directory out of it. [`Mount::Chmod`] of an `O_PATH`
/// descriptor needs `fchmodat2(2)` (Linux 6.6; EBADF before).
///
/// [`Namespaces::mounts`]: super::Namespaces::mounts
/// [`Namespaces::tmpfs_root`]: super::Namespaces::tmpfs_root
/// [`Namespaces::root`]: super::Namespaces::root
///
/// ```
/// use rawclone::ns::{Mount, Namespaces};
/// // bwrap --ro-bind / / --tmpfs /tmp --proc /proc --unshare-user --unshare-pid
/// let mounts = [
///     Mount::RoBind { src: c"/", dst: c"/" },
///     Mount::tmpfs(c"/tmp"),
///     Mount::Proc { dst: c"/proc" },
/// ];
/// let ns = Namespaces::new().map_root().pid().tmpfs_root().mounts(&mounts);
/// let script = c"touch /tmp/ok && ! touch /etc/no 2>/dev/null && test $$ = 1 && test -e /proc/1/ns";
/// let child = ns.exec(c"/bin/sh", &[c"sh", c"-c", script], &[])?;
/// assert!(child.wait()?.success());
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Mount<'a> {
    /// Bind `src` on `dst`, with its submounts, made `nosuid` and `nodev` (`bwrap --bind`).
    Bind {
        /// What to show.
        src: &'a CStr,
        /// Where, in the new root.
        dst: &'a CStr,
    },
    /// As [`Mount::Bind`], read-only too (`bwrap --ro-bind`); every submount also.
    RoBind {
        /// What to show.
        src: &'a CStr,
        /// Where, in the new root.
        dst: &'a CStr,
    },
    /// As [`Mount::Bind`], but device nodes under `src` stay usable: `nosuid` alone (`bwrap
    /// --dev-bind`). What a device node of the source opens is then the program's to use, as
    /// far as the node's mode lets it.
    DevBind {
        /// What to show.
        src: &'a CStr,
        /// Where, in the new root.
        dst: &'a CStr,
    },
    /// A fresh tmpfs on `dst`, `nosuid` and `nodev` (`bwrap --tmpfs`, `--perms`, `--size`).
    Tmpfs {
        /// Where, in the new root.
        dst: &'a CStr,
        /// The mode of its root directory (bubblewrap's default is 0755).
        mode: u32,
        /// Its size limit in bytes; 0 for the kernel's default (half of RAM).
        size: usize,
    },
    /// A minimal `/dev` on `dst` (`bwrap --dev`): a tmpfs with the host's `null`, `zero`,
    /// `full`, `random`, `urandom` and `tty` bound in, the links `stdin`, `stdout`, `stderr`,
    /// `fd`, `core` and `ptmx`, a new devpts instance at `pts`, and an empty `shm`; and, when
    /// stdout is a terminal, that terminal bound at `console`, as bubblewrap binds its own
    /// stdout's. That is the caller's stdout, which the program keeps: a program run with
    /// [`super::Namespaces::exec_program`] that sets its own stdout (a stream or a file action
    /// on descriptor 1) gets no console. In place (no new root) over the host's own `/dev`,
    /// the nodes are taken as detached binds before the tmpfs covers them (`open_tree(2)`,
    /// Linux 5.2+).
    Dev {
        /// Where, in the new root.
        dst: &'a CStr,
    },
    /// A directory at `dst` (`bwrap --dir`, `--perms`): made with `mode` if missing, left as it
    /// is if there; missing directories on the way get the part of 0755 that `mode` gives
    /// group and others (0700, plus 0050 if `mode` gives the group anything, 0005 if others),
    /// as bubblewrap makes them.
    Dir {
        /// Where, in the new root.
        dst: &'a CStr,
        /// Its mode, if it is made (bubblewrap's default is 0755).
        mode: u32,
    },
    /// A symbolic link at `dst` whose text is `target` (`bwrap --symlink`); one with that same
    /// text there already is fine, anything else there EEXIST.
    Symlink {
        /// The link's text.
        target: &'a CStr,
        /// Where, in the new root.
        dst: &'a CStr,
    },
    /// Change the mode of `dst`, which must be there, to `mode` (`bwrap --chmod`).
    Chmod {
        /// What, in the new root.
        dst: &'a CStr,
        /// Its new mode.
        mode: u32,
    },
    /// A new file at `dst` of mode `mode` (bwrap's default 0666), holding what can be read from
    /// `fd` until its end (`bwrap --file`). The descriptor is the caller's, read in the child;
    /// what it reads is read for the caller too (a pipe's data, a file's offset).
    File {
        /// Where the data comes from.
        fd: BorrowedFd<'a>,
        /// Where, in the new root.
        dst: &'a CStr,
        /// Its mode (bubblewrap's default is 0666).
        mode: u32,
    },
    /// A file of mode `mode` (bwrap's default 0600) holding what can be read from `fd`, bound on
    /// `dst` (`bwrap --bind-data`, `--ro-bind-data` with `readonly`): the file is in no
    /// directory the program can reach, only at `dst`. Needs a new root (the file is made in
    /// the staging one); EINVAL in place.
    BindData {
        /// Where the data comes from.
        fd: BorrowedFd<'a>,
        /// Where, in the new root.
        dst: &'a CStr,
        /// Its mode (bubblewrap's default is 0600).
        mode: u32,
        /// Whether the bind is read-only.
        readonly: bool,
    },
    /// What the open descriptor `fd` refers to (a directory of the caller's, say), bound on
    /// `dst` with its submounts and restricted as [`Mount::Bind`] is, read-only too with
    /// `readonly` (`bwrap --bind-fd`, `--ro-bind-fd`). Needs a new root and Linux 5.6; ENOSYS
    /// otherwise.
    BindFd {
        /// What to show.
        fd: BorrowedFd<'a>,
        /// Where, in the new root.
        dst: &'a CStr,
        /// Whether the bind is read-only.
        readonly: bool,
    },
    /// A `/proc` on `dst` (`bwrap --proc`): a fresh one with a new pid namespace, else a bind of
    /// the caller's, nosuid and nodev (a user namespace may mount proc only for a pid namespace
    /// it owns), with `sys`, `sysrq-trigger`, `irq`, `bus`, `fs`, `acpi`, `scsi`, `driver`,
    /// `mtrr`, `dynamic_debug`, `latency_stats`, `timer_stats` and `cpu` covered read-only
    /// wherever the kernel has them, whether or not `access(2)` calls them writable.
    Proc {
        /// Where, in the new root.
        dst: &'a CStr,
    },
}

impl<'a> Mount<'a> {
    /// A tmpfs on `dst` with bubblewrap's defaults: mode 0755, the kernel's size.
    ///
    /// ```
    /// use rawclone::ns::Mount;
    /// assert_eq!(Mount::tmpfs(c"/tmp"), Mount::Tmpfs { dst: c"/tmp", mode: 0o755, size: 0 });
    /// ```
    pub const fn tmpfs(dst: &'a CStr) -> Mount<'a> {
        Mount::Tmpfs {
            dst,
            mode: 0o755,
            size: 0,
        }
    }

    /// Where the action mounts, in the new root.
    pub(crate) fn destination(&self) -> &'a CStr {
        match *self {
            Mount::Bind { dst, .. }
            | Mount::RoBind { dst, .. }
            | Mount::DevBind { dst, .. }
            | Mount::Tmpfs { dst, .. }
            | Mount::Dev { dst }
            | Mount::Proc { dst }
            | Mount::Dir { dst, .. }
            | Mount::Symlink { dst, .. }
            | Mount::Chmod { dst, .. }
            | Mount::File { dst, .. }
            | Mount::BindData { dst, .. }
            | Mount::BindFd { dst, .. } => dst,
        }
    }

    /// The source path, for the actions that read one.
    pub(crate) fn source(&self) -> Option<&'a CStr> {
        match *self {
            Mount::Bind { src, .. } | Mount::RoBind { src, .. } | Mount::DevBind { src, .. } => {
                Some(src)
            }
            _ => None,
        }
    }
}

/// Where the child's new root comes from.
#[derive(Clone, Copy, Debug)]
pub(super) enum NewRoot<'a> {
    /// None: mounts are made in place.
    InPlace,
    /// An empty tmpfs (bubblewrap without `--bind / /`).
    Tmpfs,
    /// This directory of the caller's tree.
    Dir(&'a CStr),
}

/// A failed step and the kernel's answer, as the child reports it.
type Failed = (SetupStep, Errno);

/// Where sources and destinations are while the mounts are made.
struct Tree<'c> {
    /// Prefix of the old root: `/oldroot` once staged, empty in place.
    old: &'static [u8],
    /// Prefix of the new root: `/newroot` once staged, empty in place.
    new: &'static [u8],
    /// The working directory the caller had, for relative sources once staged.
    cwd: Option<&'c Path>,
    /// Where `/proc/self/mountinfo` is, for [`restrict`] on kernels before 5.12.
    mountinfo: &'static CStr,
    /// Whether a minimal `/dev` may bind the terminal on stdout at `console`.
    console: bool,
    /// The old root, once staged: sources are looked up as if it were the root, so that an
    /// absolute symlink on their way resolves in the caller's tree ([`bind_tree`]).
    old_root: Option<sys::Fd>,
    /// Whether destinations are looked up in the new root ([`Tree::new_root`]): once staged.
    dest_in_root: bool,
}

impl Tree<'_> {
    /// The new root as it is now, once staged: what `/newroot` of the staging root (ours
    /// alone) leads to, the topmost mount there. Opened for each use: a descriptor opened
    /// before a bind of `/` onto it would still name the empty directory below.
    ///
    /// Destinations are looked up as if it were the root ([`open_dest`]), so that a symlink
    /// on their way (one a program of an earlier run planted in a bound directory, say) leads
    /// nowhere outside it, `/oldroot` least of all.
    fn new_root(&self) -> Option<Result<sys::Fd, Errno>> {
        self.dest_in_root
            .then(|| sys::open(c"/newroot", k::O_PATH | k::O_DIRECTORY))
    }

    /// Make `path` the caller's path to `src`, absolute in the caller's root (a relative
    /// `src` from the working directory it had), for a lookup from [`Tree::old_root`].
    fn source_in_root(&self, path: &mut Path, src: &CStr) -> Result<(), Errno> {
        let src = src.to_bytes();
        match self.cwd {
            Some(cwd) if !src.starts_with(b"/") => path.set(&[cwd.bytes(), b"/", src]),
            _ => path.set(&[src]),
        }
    }

    /// Make `path` where `src` of the caller's tree is now.
    fn source(&self, path: &mut Path, src: &CStr) -> Result<(), Errno> {
        let src = src.to_bytes();
        match self.cwd {
            Some(cwd) if !src.starts_with(b"/") => path.set(&[self.old, cwd.bytes(), b"/", src]),
            _ => path.set(&[self.old, src]),
        }
    }

    /// Make `path` where `dst` of the new root is now.
    fn dest(&self, path: &mut Path, dst: &CStr) -> Result<(), Errno> {
        let dst = dst.to_bytes();
        let start = dst.iter().position(|&b| b != b'/').unwrap_or(dst.len());
        path.set(&[self.new, b"/", &dst[start..]])
    }
}

/// Run `f` on `path/name`, then cut `path` back.
fn in_child<T>(
    path: &mut Path,
    name: &[u8],
    f: impl FnOnce(&CStr) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let len = path.len();
    let done = path.push(b"/").and_then(|()| path.push(name));
    let done = done.and_then(|()| f(path.as_cstr()));
    path.truncate(len);
    done
}

/// Flags of a fresh proc, as mount(8) and bubblewrap give it.
const PROC_FLAGS: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);
/// Flags of a tmpfs: no set-user-id programs, no device nodes.
const TMPFS_FLAGS: MountFlags = MountFlags::NOSUID.union(MountFlags::NODEV);
/// What every bind is restricted to but a [`Mount::DevBind`]: no set-user-ID programs, no
/// device nodes.
const BIND_ATTRS: u32 = k::MOUNT_ATTR_NOSUID | k::MOUNT_ATTR_NODEV;
/// [`BIND_ATTRS`], and read-only too when `readonly`.
const fn bind_attrs(readonly: bool) -> u32 {
    match readonly {
        true => BIND_ATTRS | k::MOUNT_ATTR_RDONLY,
        false => BIND_ATTRS,
    }
}
/// A recursive bind.
const BIND: MountFlags = MountFlags::BIND.union(MountFlags::REC);

/// Make the new root and the mounts, after the mount namespace went private; `proc` asks for a
/// fresh `/proc` in it ([`super::Namespaces::mount_proc`]), `pid_ns` says whether the child has
/// a pid namespace of its own, `console` whether a minimal `/dev` may bind the terminal on
/// stdout (which must then be the program's too).
pub(super) fn set_up(
    root: NewRoot<'_>,
    mounts: &[Mount<'_>],
    proc: bool,
    pid_ns: bool,
    console: bool,
) -> Result<(), Failed> {
    // Modes as given (a --perms 1777 directory is 1777), whatever the caller's umask, which
    // the program gets back.
    let mask = sys::umask(0);
    let done = set_up_root(root, mounts, proc, pid_ns, console);
    sys::umask(mask);
    done
}

/// [`set_up`], with the umask cleared.
fn set_up_root(
    root: NewRoot<'_>,
    mounts: &[Mount<'_>],
    proc: bool,
    pid_ns: bool,
    console: bool,
) -> Result<(), Failed> {
    if let NewRoot::InPlace = root {
        let tree = Tree {
            old: b"",
            new: b"",
            cwd: None,
            mountinfo: c"/proc/self/mountinfo",
            console,
            old_root: None,
            dest_in_root: false,
        };
        apply_all(&tree, mounts, pid_ns)?;
        if proc {
            let mount = sys::mount(c"proc", c"/proc", c"proc", PROC_FLAGS, None);
            mount.map_err(|e| (SetupStep::MountProc, e))?;
        }
        return Ok(());
    }
    // Relative sources are read from the working directory, which the staging leaves.
    let relative = |src: &CStr| !src.to_bytes().starts_with(b"/");
    let dir_relative = matches!(root, NewRoot::Dir(dir) if relative(dir));
    let mut cwd = Path::empty();
    let needs_cwd = dir_relative || mounts.iter().filter_map(Mount::source).any(relative);
    if needs_cwd {
        working_directory(&mut cwd).map_err(|e| (SetupStep::StageRoot, e))?;
    }
    stage(root).map_err(|e| (SetupStep::StageRoot, e))?;
    let old_root = sys::open(c"/oldroot", k::O_PATH | k::O_DIRECTORY);
    let tree = Tree {
        old: b"/oldroot",
        new: b"/newroot",
        cwd: needs_cwd.then_some(&cwd),
        mountinfo: c"/oldroot/proc/self/mountinfo",
        console,
        old_root: Some(old_root.map_err(|e| (SetupStep::StageRoot, e))?),
        dest_in_root: true,
    };
    if let NewRoot::Dir(dir) = root {
        // As every bind: no set-user-id programs, no device nodes (the directory's owner may
        // have put either there), with its submounts.
        let set = k::MOUNT_ATTR_NOSUID | k::MOUNT_ATTR_NODEV;
        let bound = match bind_tree(&tree, dir, Target::Path(c"/newroot"), set) {
            // Before Linux 5.6: by its path under the old root.
            Err((_, Errno::ENOSYS)) => {
                let mut src = Path::empty();
                let bind = tree.source(&mut src, dir);
                let bind =
                    bind.and_then(|()| sys::mount(src.as_cstr(), c"/newroot", c"", BIND, None));
                bind.and_then(|()| restrict(c"/newroot", set, tree.mountinfo))
            }
            done => done.map_err(|(_, e)| e),
        };
        bound.map_err(|e| (SetupStep::BindRoot, e))?;
    }
    apply_all(&tree, mounts, pid_ns)?;
    sys::chdir(c"/").map_err(|e| (SetupStep::StageRoot, e))?;
    // /proc goes in before the old root is detached: inside a user namespace the kernel mounts
    // a new proc only while a fully visible one exists in the mount namespace.
    if proc {
        // Put as a `Mount::Proc` is (its covers too), a fresh one at /proc of the new root.
        let mut path = Path::empty();
        let step = |(_, e)| (SetupStep::MountProc, e);
        tree.dest(&mut path, c"/proc")
            .map_err(|e| (SetupStep::MountProc, e))?;
        self::proc(&tree, c"/proc", &mut path, true).map_err(step)?;
        sys::chdir(c"/").map_err(|e| (SetupStep::MountProc, e))?;
    }
    sys::umount2(c"/oldroot", k::MNT_DETACH).map_err(|e| (SetupStep::DetachOldRoot, e))?;
    // The staging tmpfs ends up stacked on the new root, and is detached the same way.
    let pivot = |e| (SetupStep::PivotRoot, e);
    sys::chdir(c"/newroot").map_err(pivot)?;
    sys::pivot_root(c".", c".").map_err(pivot)?;
    sys::umount2(c".", k::MNT_DETACH).map_err(|e| (SetupStep::DetachOldRoot, e))?;
    sys::chdir(c"/").map_err(pivot)
}

/// Make `path` the working directory.
fn working_directory(path: &mut Path) -> Result<(), Errno> {
    let mut buf = [0u8; 4096];
    let cwd = sys::getcwd(&mut buf)?;
    path.set(&[cwd])
}

/// The staging root: a tmpfs on `/tmp` holding `newroot` and `oldroot`, made the root, the old
/// one at `/oldroot`.
fn stage(root: NewRoot<'_>) -> Result<(), Errno> {
    sys::mount(c"tmpfs", c"/tmp", c"tmpfs", TMPFS_FLAGS, None)?;
    sys::chdir(c"/tmp")?;
    sys::mkdir(c"newroot", 0o755)?;
    if let NewRoot::Tmpfs = root {
        sys::mount(c"newroot", c"newroot", c"", BIND, None)?;
    }
    sys::mkdir(c"oldroot", 0o755)?;
    sys::pivot_root(c".", c"oldroot")?;
    sys::chdir(c"/")
}

/// Every action in order; a failure names its index.
fn apply_all(tree: &Tree<'_>, mounts: &[Mount<'_>], pid_ns: bool) -> Result<(), Failed> {
    for (index, mount) in mounts.iter().enumerate() {
        // Namespaces::check refused more actions than a u16 counts.
        let index = index as u16;
        apply(tree, mount, pid_ns).map_err(|(part, e)| (SetupStep::Mount { index, part }, e))?;
    }
    Ok(())
}

/// A failed part of one action.
type PartFailed = (MountPart, Errno);

/// Tag an errno with the part that failed.
fn at(part: MountPart) -> impl Fn(Errno) -> PartFailed {
    move |e| (part, e)
}

fn apply(tree: &Tree<'_>, mount: &Mount<'_>, pid_ns: bool) -> Result<(), PartFailed> {
    use MountPart as P;
    let dst = mount.destination();
    let mut path = Path::empty();
    tree.dest(&mut path, dst).map_err(at(P::Destination))?;
    match *mount {
        Mount::Bind { src, .. } => bind(tree, src, dst, &mut path, bind_attrs(false)),
        Mount::RoBind { src, .. } => bind(tree, src, dst, &mut path, bind_attrs(true)),
        Mount::DevBind { src, .. } => bind(tree, src, dst, &mut path, k::MOUNT_ATTR_NOSUID),
        Mount::Tmpfs { mode, size, .. } => {
            match place(tree, dst, &mut path, || fresh_tmpfs(mode, size))? {
                true => Ok(()),
                false => tmpfs(path.as_cstr(), mode, size),
            }
        }
        Mount::Dev { .. } => dev(tree, dst, &mut path),
        Mount::Proc { .. } => proc(tree, dst, &mut path, pid_ns),
        Mount::Dir { mode, .. } => {
            // bubblewrap's parents: what the mode gives group and others, as 0755 gives it.
            let group = if mode & 0o070 != 0 { 0o050 } else { 0 };
            let others = if mode & 0o007 != 0 { 0o005 } else { 0 };
            let make = Make {
                parents: 0o700 | group | others,
                last_dir: true,
                last: mode,
            };
            dest(tree, dst, &mut path, make).map(drop)
        }
        Mount::Symlink { target, .. } => symlink(tree, target, dst),
        Mount::Chmod { mode, .. } => {
            let root = tree.new_root().transpose().map_err(at(P::Destination))?;
            let found = match &root {
                Some(root) => sys::open_in_root(root.as_fd(), dst, k::O_PATH),
                None => Err(Errno::ENOSYS),
            };
            // By path only in place: see [`dest`].
            let found = match (found, &root) {
                (Err(Errno::ENOSYS), None) => sys::open(path.as_cstr(), k::O_PATH),
                (found, _) => found,
            };
            let found = found.map_err(at(P::Destination))?;
            sys::chmod_fd(found.as_fd(), mode).map_err(at(P::Mount))
        }
        Mount::File { fd, mode, .. } => file(tree, fd, dst, mode),
        Mount::BindData {
            fd, mode, readonly, ..
        } => bind_data(tree, fd, dst, &mut path, mode, readonly),
        Mount::BindFd { fd, readonly, .. } => bind_fd(tree, fd, dst, &mut path, readonly),
    }
}

/// A new file `dst` of mode `mode` with what `fd` holds.
#[inline(never)]
fn file(tree: &Tree<'_>, fd: BorrowedFd<'_>, dst: &CStr, mode: u32) -> Result<(), PartFailed> {
    use MountPart as P;
    let (parent, name) = dest_parent(tree, dst)?;
    let file = sys::create_at(parent.as_fd(), name.as_cstr(), mode);
    let file = file.map_err(at(P::Destination))?;
    copy(fd, file.as_fd()).map_err(at(P::Mount))
}

/// Open the destination `dst` (its textual path in `path`), making what is missing of it as
/// `make` says: in the new root once staged ([`open_dest`]; ENOSYS before Linux 5.6), by path
/// in place.
// Each action's own frame (inline(never) here and below), not apply()'s: a child on a small
// stack pays only for the action it makes.
#[inline(never)]
fn dest(tree: &Tree<'_>, dst: &CStr, path: &mut Path, make: Make) -> Result<sys::Fd, PartFailed> {
    use MountPart as P;
    // Once staged, only in the new root: before Linux 5.6 (no openat2) a path would follow a
    // symlink planted in a bound directory out to /oldroot, so these actions are refused
    // there (ENOSYS). In place there is no root to leave, and the path is used.
    if let Some(root) = tree.new_root() {
        let root = root.map_err(at(P::Destination))?;
        return open_dest(root.as_fd(), dst, make).map_err(at(P::Destination));
    }
    let mut by_path = || {
        path.make_parents()?;
        let made = match make.last_dir {
            true => sys::mkdir(path.as_cstr(), make.last),
            false => sys::create_file(path.as_cstr(), make.last),
        };
        match made {
            Ok(()) | Err(Errno::EEXIST) => sys::open(path.as_cstr(), k::O_PATH),
            Err(e) => Err(e),
        }
    };
    by_path().map_err(at(P::Destination))
}

/// The directory `dst` goes in, opened (made, with its own parents, as for a mount point), and
/// the last name of `dst`; EINVAL for a `dst` without one (`/`).
#[inline(never)]
fn dest_parent(tree: &Tree<'_>, dst: &CStr) -> Result<(sys::Fd, Path), PartFailed> {
    use MountPart as P;
    let bytes = dst.to_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let start = bytes[..end]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    if start == end {
        return Err((P::Destination, Errno::EINVAL));
    }
    let mut name = Path::empty();
    name.set(&[&bytes[start..end]])
        .map_err(at(P::Destination))?;
    let parent = &bytes[..start];
    let parent = &parent[..parent.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1)];
    let mut parent_path = Path::empty();
    if parent.is_empty() {
        // In the root itself, which open_dest refuses as a destination.
        let root = match tree.new_root() {
            Some(root) => root,
            None => {
                tree.dest(&mut parent_path, c"/")
                    .map_err(at(P::Destination))?;
                sys::open(parent_path.as_cstr(), k::O_PATH | k::O_DIRECTORY)
            }
        };
        return Ok((root.map_err(at(P::Destination))?, name));
    }
    let mut named = Path::empty();
    named.set(&[parent]).map_err(at(P::Destination))?;
    tree.dest(&mut parent_path, named.as_cstr())
        .map_err(at(P::Destination))?;
    let dir = dest(
        tree,
        named.as_cstr(),
        &mut parent_path,
        Make::mount_point(true),
    )?;
    Ok((dir, name))
}

/// A symbolic link `dst` to `target`, unless one with the same text is there.
#[inline(never)]
fn symlink(tree: &Tree<'_>, target: &CStr, dst: &CStr) -> Result<(), PartFailed> {
    use MountPart as P;
    let (parent, name) = dest_parent(tree, dst)?;
    match sys::symlink_at(target, parent.as_fd(), name.as_cstr()) {
        Err(Errno::EEXIST) => {
            let mut buf = [0u8; 4096];
            match sys::read_link_at(parent.as_fd(), name.as_cstr(), &mut buf) {
                Ok(text) if text == target.to_bytes() => Ok(()),
                _ => Err((P::Destination, Errno::EEXIST)),
            }
        }
        done => done.map_err(at(P::Destination)),
    }
}

/// Copy what can be read from `from` until its end into `to`.
#[inline(never)]
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut buf = [0u8; 4096];
    loop {
        let n = match sys::read(from, &mut buf) {
            Err(Errno::EINTR) => continue,
            done => done?,
        };
        if n == 0 {
            return Ok(());
        }
        let mut left = &buf[..n];
        while !left.is_empty() {
            match sys::write(to, left) {
                Err(Errno::EINTR) => {}
                done => left = &left[done?..],
            }
        }
    }
}

/// A file of mode `mode` with what `fd` holds, bound on the destination `dst` (its textual path
/// in `path`), restricted as a bind is (`readonly` too). The file is made in the staging root,
/// which is detached with the old root: the bind is then its only name.
#[inline(never)]
fn bind_data(
    tree: &Tree<'_>,
    fd: BorrowedFd<'_>,
    dst: &CStr,
    path: &mut Path,
    mode: u32,
    readonly: bool,
) -> Result<(), PartFailed> {
    use MountPart as P;
    let Some(root) = tree.new_root() else {
        return Err((P::Destination, Errno::EINVAL));
    };
    let root = root.map_err(at(P::Destination))?;
    // A name of its own in the staging root: the first free one.
    let staging = sys::open(c"/", k::O_PATH | k::O_DIRECTORY).map_err(at(P::Destination))?;
    let mut name = Path::empty();
    let mut file = None;
    for n in 0..u32::MAX {
        let mut text = crate::line::Line::new();
        let _ = write!(text, "data-{n}");
        name.set(&[text.as_bytes()]).map_err(at(P::Destination))?;
        match sys::create_at(staging.as_fd(), name.as_cstr(), mode) {
            Err(Errno::EEXIST) => continue,
            done => {
                file = Some(done.map_err(at(P::Destination))?);
                break;
            }
        }
    }
    let file = file.ok_or((P::Destination, Errno::EEXIST))?;
    copy(fd, file.as_fd()).map_err(at(P::Mount))?;
    let source = sys::open_at(staging.as_fd(), name.as_cstr(), k::O_PATH | k::O_NOFOLLOW);
    let source = source.map_err(at(P::Mount))?;
    let opened = open_dest(root.as_fd(), dst, Make::mount_point(false));
    let opened = opened.map_err(at(P::Destination))?;
    let copy = sys::clone_tree(source.as_fd()).map_err(at(P::Mount))?;
    let set = bind_attrs(readonly);
    match sys::restrict_tree(copy.as_fd(), u64::from(set)) {
        Ok(()) => sys::move_mount_to(copy.as_fd(), opened.as_fd()).map_err(at(P::Mount)),
        // Before Linux 5.12: attached, then restricted by remount at its path.
        Err(Errno::ENOSYS) => {
            sys::move_mount_to(copy.as_fd(), opened.as_fd()).map_err(at(P::Mount))?;
            restrict(path.as_cstr(), set, tree.mountinfo).map_err(at(P::Restrict))
        }
        Err(e) => Err((P::Restrict, e)),
    }
}

/// What [`open_dest`] makes of a missing destination: directories of mode `parents` on the
/// way, then the destination itself, a directory (`last_dir`) or an empty file, of mode
/// `last`.
#[derive(Clone, Copy)]
struct Make {
    parents: u32,
    last_dir: bool,
    last: u32,
}

impl Make {
    /// As bubblewrap makes a mount point: directories of mode 0755, an empty file of 0444.
    const fn mount_point(dir: bool) -> Make {
        Make {
            parents: 0o755,
            last_dir: dir,
            last: if dir { 0o755 } else { 0o444 },
        }
    }
}

/// Open the destination `dst` in the new root `root`, making what is missing of it as `make`
/// says. Each prefix is looked up with `RESOLVE_IN_ROOT` from the
/// new root, and a missing component is made in the directory its prefix opened to
/// (`mkdirat(2)`, `mknodat(2)`), so nothing is made or reached outside the new root, whatever
/// symlinks are on the way. ENOSYS before Linux 5.6.
fn open_dest(root: sys::BorrowedFd<'_>, dst: &CStr, make: Make) -> Result<sys::Fd, Errno> {
    let dir = make.last_dir;
    let mut prefix = Path::empty();
    let mut name = Path::empty();
    let mut parent: Option<sys::Fd> = None;
    let parts = dst
        .to_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty());
    let count = parts.clone().count();
    if count == 0 {
        return sys::open_in_root(root, c".", k::O_PATH | k::O_DIRECTORY);
    }
    for (i, part) in parts.enumerate() {
        let last = i + 1 == count;
        prefix.push(b"/")?;
        prefix.push(part)?;
        let want_dir = !last || dir;
        let flags = match want_dir {
            true => k::O_PATH | k::O_DIRECTORY,
            false => k::O_PATH,
        };
        let opened = match sys::open_in_root(root, prefix.as_cstr(), flags) {
            // Something not a directory where one goes last: the mount's kind check says
            // ENOTDIR for it, as mount(2) would.
            Err(Errno::ENOTDIR) if last => sys::open_in_root(root, prefix.as_cstr(), k::O_PATH)?,
            Err(Errno::ENOENT) => {
                let at = parent.as_ref().map_or(root, sys::Fd::as_fd);
                name.set(&[part])?;
                let made = match (want_dir, last) {
                    (true, false) => sys::mkdir_at(at, name.as_cstr(), make.parents),
                    (true, true) => sys::mkdir_at(at, name.as_cstr(), make.last),
                    (false, _) => sys::create_file_at(at, name.as_cstr(), make.last),
                };
                match made {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                sys::open_in_root(root, prefix.as_cstr(), flags)?
            }
            done => done?,
        };
        if last {
            // A destination with a name that a symlink leads back to the new root itself
            // (`dev -> .`) would cover it whole: refused, as a mount there that bubblewrap
            // cannot make either.
            if sys::same_file(opened.as_fd(), root)? {
                return Err(Errno::ELOOP);
            }
            return Ok(opened);
        }
        parent = Some(opened);
    }
    Err(Errno::ENOENT) // not reached: the last part returns
}

/// Put the mount `make` gives (a detached one: a fresh filesystem, or a copy) on the directory
/// `dst` of the new root (its textual path in `path`), and make its root the working
/// directory: what follows in it (covers, nodes) is made there by relative names, and `dst` is
/// never looked up again, so nothing can lead those steps elsewhere. Once staged (and from
/// Linux 5.6): `dst` opened with [`open_dest`], the mount attached on it (`move_mount(2)`);
/// `true`. Else `dst` is made by path, `mkdir -p` style, for the caller to mount by path;
/// `false`.
fn place(
    tree: &Tree<'_>,
    dst: &CStr,
    path: &mut Path,
    make: impl FnOnce() -> Result<sys::Fd, Errno>,
) -> Result<bool, PartFailed> {
    use MountPart as P;
    if let Some(root) = tree.new_root() {
        let root = root.map_err(at(P::Destination))?;
        match open_dest(root.as_fd(), dst, Make::mount_point(true)) {
            Ok(dir) => {
                let mount = make().map_err(at(P::Mount))?;
                sys::move_mount_to(mount.as_fd(), dir.as_fd()).map_err(at(P::Mount))?;
                sys::change_dir_to(mount.as_fd()).map_err(at(P::Mount))?;
                return Ok(true);
            }
            Err(Errno::ENOSYS) => {}
            Err(e) => return Err((P::Destination, e)),
        }
    }
    path.make_parents().map_err(at(P::Destination))?;
    make_dir(path.as_cstr()).map_err(at(P::Destination))?;
    Ok(false)
}

/// What the calls after [`place`] name the new mount's root: `.`, or its path.
fn here(placed: bool, path: &Path) -> &CStr {
    if placed { c"." } else { path.as_cstr() }
}

/// A fresh tmpfs with root directory `mode` and `size` bytes (0: the kernel's default),
/// `nosuid` and `nodev`, detached (`fsmount(2)`).
fn fresh_tmpfs(mode: u32, size: usize) -> Result<sys::Fd, Errno> {
    let mut mode_text = crate::line::Line::new();
    let _ = write!(mode_text, "0{:o}\0", mode & 0o7777);
    let mut size_text = crate::line::Line::new();
    let _ = write!(size_text, "{size}\0");
    let (Ok(mode), Ok(size_text)) = (
        CStr::from_bytes_with_nul(mode_text.as_bytes()),
        CStr::from_bytes_with_nul(size_text.as_bytes()),
    ) else {
        return Err(Errno::EINVAL);
    };
    let attrs = k::MOUNT_ATTR_NOSUID | k::MOUNT_ATTR_NODEV;
    // The source is named as mount(8) names it, for /proc/self/mountinfo.
    let sized = [(c"source", c"tmpfs"), (c"mode", mode), (c"size", size_text)];
    let options = if size > 0 { &sized[..] } else { &sized[..2] };
    sys::fresh_mount(c"tmpfs", options, attrs)
}

/// Where [`bind_tree`] attaches its copy.
#[derive(Clone, Copy)]
enum Target<'d> {
    /// A destination of the new root, opened there with [`open_dest`]; its textual path (for
    /// the restriction by remounts before Linux 5.12).
    InRoot(&'d CStr, &'d CStr),
    /// A path of the staging root (the new root's own mount point).
    Path(&'d CStr),
}

/// A recursive bind of `src` on the destination `dst` (its textual path in `path`),
/// restricted with the `MOUNT_ATTR_*` bits `set`.
fn bind(
    tree: &Tree<'_>,
    src: &CStr,
    dst: &CStr,
    path: &mut Path,
    set: u32,
) -> Result<(), PartFailed> {
    use MountPart as P;
    // Through a magic link (`/proc/self/fd/N`) RESOLVE_IN_ROOT refuses (EXDEV): no path
    // lookup from the staging root is tried instead, which would leave the caller's root.
    match bind_tree(tree, src, Target::InRoot(dst, path.as_cstr()), set) {
        // In place, or before Linux 5.6 (openat2): by path, as below.
        Err((MountPart::Source, Errno::ENOSYS)) => {}
        done => return done,
    }
    path.make_parents().map_err(at(P::Destination))?;
    let dst = path.as_cstr();
    let mut path = Path::empty();
    tree.source(&mut path, src).map_err(at(P::Source))?;
    let src = path.as_cstr();
    let kind = sys::file_mode(src).map_err(at(P::Source))? & k::S_IFMT;
    let made = match kind {
        k::S_IFDIR => make_dir(dst),
        _ => make_file(dst),
    };
    made.map_err(at(P::Destination))?;
    sys::mount(src, dst, c"", BIND, None).map_err(at(P::Mount))?;
    restrict(dst, set, tree.mountinfo).map_err(at(P::Restrict))
}

/// A recursive bind of `src` on `dst` made by descriptor, once the root is staged: `src` is
/// looked up in the caller's root (`openat2(2)` with `RESOLVE_IN_ROOT` from the old root), so
/// an absolute symlink on its way (`/etc/localtime`, a linked directory) leads where it leads
/// for the caller, not into the staging tmpfs; the tree is copied detached (`open_tree(2)`),
/// restricted with the `MOUNT_ATTR_*` bits `set` before anyone can reach it
/// (`mount_setattr(2)`, 5.12+; after attaching, by path, before), and attached on `dst`
/// (`move_mount(2)`). ENOSYS in place (no old root) and before Linux 5.6: the caller binds
/// by path instead.
fn bind_tree(tree: &Tree<'_>, src: &CStr, dst: Target<'_>, set: u32) -> Result<(), PartFailed> {
    use MountPart as P;
    let Some(root) = &tree.old_root else {
        return Err((P::Source, Errno::ENOSYS));
    };
    let mut path = Path::empty();
    tree.source_in_root(&mut path, src).map_err(at(P::Source))?;
    let source = sys::open_in_root(root.as_fd(), path.as_cstr(), k::O_PATH);
    let source = source.map_err(at(P::Source))?;
    bind_opened(tree, source.as_fd(), dst, set)
}

/// [`Mount::BindFd`]: what `fd` refers to, bound on `dst` (its textual path in `path`). A
/// copy of a mount of the caller's mount namespace cannot be taken from this one
/// (`open_tree(2)` answers EINVAL), so the file is found again where the kernel says it is
/// now (`/proc/self/fd/N` read, under the old root), and bound from there if it is the same
/// file.
#[inline(never)]
fn bind_fd(
    tree: &Tree<'_>,
    fd: BorrowedFd<'_>,
    dst: &CStr,
    path: &mut Path,
    readonly: bool,
) -> Result<(), PartFailed> {
    use MountPart as P;
    if tree.old_root.is_none() {
        return Err((P::Source, Errno::ENOSYS));
    }
    let mut number = crate::line::Line::new();
    let _ = write!(number, "{}", fd.as_raw());
    let mut link = Path::empty();
    let named = link.set(&[tree.old, b"/proc/self/fd/", number.as_bytes()]);
    named.map_err(at(P::Source))?;
    let mut buf = [0u8; 4096];
    let now = sys::read_link(link.as_cstr(), &mut buf).map_err(at(P::Source))?;
    // The path as the kernel gives it: from the staging root (under the old root), or, when
    // it lies outside that root, as the caller's tree names it (then found under the old
    // root). Whichever is the same file.
    let mut found = Path::empty();
    let mut source = Err(Errno::ENOENT);
    for prefix in [&b""[..], tree.old] {
        found.set(&[prefix, now]).map_err(at(P::Source))?;
        if let Ok(opened) = sys::open(found.as_cstr(), k::O_PATH)
            && sys::same_inode(opened.as_fd(), fd) == Ok(true)
        {
            source = Ok(opened);
            break;
        }
    }
    let source = source.map_err(at(P::Source))?;
    let set = bind_attrs(readonly);
    bind_opened(
        tree,
        source.as_fd(),
        Target::InRoot(dst, path.as_cstr()),
        set,
    )
}

/// [`bind_tree`] of the file `source` already opened (by the caller, for [`Mount::BindFd`]).
fn bind_opened(
    tree: &Tree<'_>,
    source: BorrowedFd<'_>,
    dst: Target<'_>,
    set: u32,
) -> Result<(), PartFailed> {
    use MountPart as P;
    let kind = sys::file_mode_of(source).map_err(at(P::Source))? & k::S_IFMT;
    let is_dir = kind == k::S_IFDIR;
    // The destination: opened in the new root, or made at a path of the staging root.
    let (opened, named) = match dst {
        Target::InRoot(dst, named) => {
            let Some(root) = tree.new_root() else {
                return Err((P::Source, Errno::ENOSYS));
            };
            let root = root.map_err(at(P::Destination))?;
            let opened = open_dest(root.as_fd(), dst, Make::mount_point(is_dir));
            let opened = opened.map_err(at(P::Destination))?;
            (Some(opened), named)
        }
        Target::Path(path) => {
            let made = if is_dir {
                make_dir(path)
            } else {
                make_file(path)
            };
            made.map_err(at(P::Destination))?;
            (None, path)
        }
    };
    // A directory only on a directory, anything else only on a non-directory: mount(2)'s
    // ENOTDIR, where move_mount(2) would answer EINVAL.
    let there = match &opened {
        Some(fd) => sys::file_mode_of(fd.as_fd()),
        None => sys::file_mode(named),
    };
    if (there.map_err(at(P::Destination))? & k::S_IFMT == k::S_IFDIR) != is_dir {
        return Err((P::Mount, Errno::ENOTDIR));
    }
    let copy = sys::clone_tree(source).map_err(at(P::Mount))?;
    let attach = || match &opened {
        Some(fd) => sys::move_mount_to(copy.as_fd(), fd.as_fd()),
        None => sys::move_mount_onto(copy.as_fd(), named),
    };
    match sys::restrict_tree(copy.as_fd(), u64::from(set)) {
        Ok(()) => attach().map_err(at(P::Mount)),
        // Before Linux 5.12: attached, then restricted by remounts, found by its path: a
        // directory's as the working directory (its root, entered), whatever the path as
        // given was; a file's as given.
        Err(Errno::ENOSYS) => {
            attach().map_err(at(P::Mount))?;
            if is_dir && opened.is_some() {
                sys::change_dir_to(copy.as_fd()).map_err(at(P::Restrict))?;
                return restrict(c".", set, tree.mountinfo).map_err(at(P::Restrict));
            }
            restrict(named, set, tree.mountinfo).map_err(at(P::Restrict))
        }
        Err(e) => Err((P::Restrict, e)),
    }
}

/// A tmpfs with root directory `mode` and `size` bytes (0: the kernel's default).
fn tmpfs(dst: &CStr, mode: u32, size: usize) -> Result<(), PartFailed> {
    use MountPart as P;
    make_dir(dst).map_err(at(P::Destination))?;
    let mut options = crate::line::Line::new();
    let _ = write!(options, "mode=0{:o}", mode & 0o7777);
    if size > 0 {
        let _ = write!(options, ",size={size}");
    }
    let _ = options.write_char('\0');
    let data =
        CStr::from_bytes_with_nul(options.as_bytes()).map_err(|_| (P::Mount, Errno::EINVAL))?;
    sys::mount(c"tmpfs", dst, c"tmpfs", TMPFS_FLAGS, Some(data)).map_err(at(P::Mount))
}

/// The device nodes of a minimal `/dev`, bound from the host's.
const DEV_NODES: [&[u8]; 6] = [b"null", b"zero", b"full", b"random", b"urandom", b"tty"];

/// The symlinks of a minimal `/dev`: name and target.
const DEV_LINKS: [(&[u8], &CStr); 6] = [
    (b"stdin", c"/proc/self/fd/0"),
    (b"stdout", c"/proc/self/fd/1"),
    (b"stderr", c"/proc/self/fd/2"),
    (b"fd", c"/proc/self/fd"),
    (b"core", c"/proc/kcore"),
    (b"ptmx", c"pts/ptmx"),
];

/// A minimal `/dev` on the destination `dst` (its textual path in `path`), as [`Mount::Dev`]
/// describes it.
fn dev(tree: &Tree<'_>, dst: &CStr, path: &mut Path) -> Result<(), PartFailed> {
    use MountPart as P;
    let mut host = Path::empty();
    // As bubblewrap does: the terminal on stdout, if it is one, is the sandbox's console.
    let console = console_source(tree, &mut host);
    let count = DEV_NODES.len() + usize::from(console.is_some());
    // What node `i` is bound from, into `host`: the host's node, or the terminal.
    let source = |i: usize, host: &mut Path| match (DEV_NODES.get(i), &console) {
        (Some(node), _) => host.set(&[tree.old, b"/dev/", node]),
        (None, Some(terminal)) => host.set(&[terminal.bytes()]),
        (None, None) => Err(Errno::EINVAL),
    };
    // In place, the tmpfs about to cover `dst` hides the host's nodes when `dst` is the host's
    // /dev: take each as a detached bind first (`open_tree(2)`, Linux 5.2+), and attach it in
    // the tmpfs below. Staged, the host's nodes stay in sight under the old root.
    let mut held = [const { None }; DEV_NODES.len() + 1];
    if tree.old.is_empty() {
        for (i, slot) in held.iter_mut().enumerate().take(count) {
            source(i, &mut host).map_err(at(P::DevNode))?;
            *slot = Some(sys::clone_mount(host.as_cstr()).map_err(at(P::DevNode))?);
        }
    }
    // The nodes go in the tmpfs's root: entered (`.`), or by its path.
    let placed = place(tree, dst, path, || fresh_tmpfs(0o755, 0))?;
    if !placed {
        tmpfs(path.as_cstr(), 0o755, 0)?;
    }
    let mut base = Path::empty();
    base.set(&[here(placed, path).to_bytes()])
        .map_err(at(P::Destination))?;
    let dst = &mut base;
    for (i, held) in held.iter().enumerate().take(count) {
        let name = DEV_NODES.get(i).copied().unwrap_or(b"console");
        in_child(dst, name, |here| {
            make_file(here)?;
            match held {
                Some(detached) => sys::move_mount_onto(detached.as_fd(), here)?,
                None => {
                    source(i, &mut host)?;
                    sys::mount(host.as_cstr(), here, c"", BIND, None)?;
                }
            }
            restrict(here, k::MOUNT_ATTR_NOSUID, tree.mountinfo)
        })
        .map_err(at(P::DevNode))?;
    }
    for (name, target) in DEV_LINKS {
        in_child(dst, name, |link| sys::symlink(target, link)).map_err(at(P::DevLink))?;
    }
    in_child(dst, b"shm", |shm| sys::mkdir(shm, 0o755)).map_err(at(P::DevPts))?;
    let options = Some(c"newinstance,ptmxmode=0666,mode=620");
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC;
    in_child(dst, b"pts", |pts| {
        sys::mkdir(pts, 0o755)?;
        sys::mount(c"devpts", pts, c"devpts", flags, options)
    })
    .map_err(at(P::DevPts))
}

/// The terminal on the child's stdout, by its name under the old root, if stdout is a terminal
/// that can be named there; `scratch` is a path buffer to use on the way.
///
/// Found as `ttyname(3)` finds it: the text of `/proc/self/fd/1`, taken only if the node of
/// that name is the same character device as fd 1 (a pseudo-terminal of another devpts
/// instance, as after entering a container, may have the same name there). The name, not the
/// descriptor's magic link, is what gets bound: the descriptor's mount may belong to another
/// mount namespace, which mount(2) refuses (EINVAL). Whatever does not check out (no /proc, a
/// name too long, a deleted or foreign node) leaves `/dev` without a console, as bubblewrap
/// binds none when `ttyname` fails.
fn console_source(tree: &Tree<'_>, scratch: &mut Path) -> Option<Path> {
    if !tree.console || sys::is_terminal(sys::stdout()) != Ok(true) {
        return None;
    }
    scratch.set(&[tree.old, b"/proc/self/fd/1"]).ok()?;
    let device = sys::char_device(scratch.as_cstr()).ok()??;
    let mut text = [0u8; 256];
    let name = sys::read_link(scratch.as_cstr(), &mut text).ok()?;
    let mut terminal = Path::empty();
    terminal.set(&[tree.old, name]).ok()?;
    (sys::char_device(terminal.as_cstr()) == Ok(Some(device))).then_some(terminal)
}

/// The parts of proc covered read-only, since they reach the whole machine: bubblewrap's
/// four (sysctls, the magic SysRq key, interrupt affinities, bus devices' configuration), and
/// what else a root caller could open for writing in a fresh procfs and that Docker covers
/// or masks too: `fs` (nfsd and other filesystems' settings), `acpi`, `scsi` (adding and
/// removing devices), `driver`, `mtrr` (memory type ranges), `dynamic_debug` (the kernel's
/// debug messages, on; found open on Debian's kernels by `tests/escape.rs`), `latency_stats`
/// and `timer_stats` (their switches, where the kernel has them), and `cpu` (arm's
/// `cpu/alignment`, the kernel's fixing of unaligned accesses; found open on Debian's
/// armmp-lpae kernel the same way).
const PROC_COVERED: [&[u8]; 13] = [
    b"sys",
    b"sysrq-trigger",
    b"irq",
    b"bus",
    b"fs",
    b"acpi",
    b"scsi",
    b"driver",
    b"mtrr",
    b"dynamic_debug",
    b"latency_stats",
    b"timer_stats",
    b"cpu",
];

/// A `/proc` on the destination `dst` (its textual path in `path`), as [`Mount::Proc`]
/// describes it.
fn proc(tree: &Tree<'_>, dst: &CStr, path: &mut Path, pid_ns: bool) -> Result<(), PartFailed> {
    use MountPart as P;
    let mut host = Path::empty();
    host.set(&[tree.old, b"/proc"]).map_err(at(P::Source))?;
    let set = k::MOUNT_ATTR_NOSUID | k::MOUNT_ATTR_NODEV;
    // The caller's proc is copied restricted where mount_setattr(2) exists (5.12+), and
    // restricted once entered where it does not.
    let mut restricted = false;
    let placed = place(tree, dst, path, || match pid_ns {
        true => sys::fresh_mount(c"proc", &[(c"source", c"proc")], set | k::MOUNT_ATTR_NOEXEC),
        false => {
            let proc = sys::open(host.as_cstr(), k::O_PATH | k::O_DIRECTORY)?;
            let copy = sys::clone_tree(proc.as_fd())?;
            match sys::restrict_tree(copy.as_fd(), u64::from(set)) {
                Ok(()) => restricted = true,
                Err(Errno::ENOSYS) => {}
                Err(e) => return Err(e),
            }
            Ok(copy)
        }
    })?;
    match (placed, pid_ns) {
        (false, true) => {
            let fresh = sys::mount(c"proc", path.as_cstr(), c"proc", PROC_FLAGS, None);
            fresh.map_err(at(P::Mount))?;
        }
        (false, false) => {
            let bound = sys::mount(host.as_cstr(), path.as_cstr(), c"", BIND, None);
            bound.map_err(at(P::Mount))?;
        }
        (true, _) => {}
    }
    if !pid_ns && !restricted {
        restrict(here(placed, path), set, tree.mountinfo).map_err(at(P::Restrict))?;
    }
    // Its parts are covered in its root: entered (`.`), or by its path.
    let mut base = Path::empty();
    base.set(&[here(placed, path).to_bytes()])
        .map_err(at(P::Destination))?;
    let dst = &mut base;
    let set = k::MOUNT_ATTR_RDONLY | k::MOUNT_ATTR_NOSUID | k::MOUNT_ATTR_NODEV;
    for name in PROC_COVERED {
        // Covered whether or not access(2) says it is writable: procfs answers EACCES to
        // every caller's W_OK there (its permission check sees no writer), yet root writes
        // `sys/kernel/core_pattern` and `sysrq-trigger` through it (bubblewrap 0.8 trusts
        // that answer, and skips the cover). Only a part the kernel does not have is passed
        // over; any other refusal stops the setup rather than leave it writable.
        in_child(dst, name, |part| {
            match sys::mount(part, part, c"", BIND, None) {
                Ok(()) => restrict(part, set, tree.mountinfo),
                Err(Errno::ENOENT) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(at(P::ProcCover))?;
    }
    Ok(())
}
