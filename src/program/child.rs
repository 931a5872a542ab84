//! The child's side of a [`Program`]: the steps before `execve`, in the module documentation's
//! order, with raw syscalls only (the child may share the parent's memory, or be a one-thread
//! copy of a multi-threaded process).

use super::{Capabilities, Failure, FdAction, Program, Stdio};
use crate::error::SetupStep;
use crate::sys::{self, BorrowedFd};
use core::ffi::CStr;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// A prepared program as the child sees it: the builder and the arrays the parent wrote.
#[derive(Clone, Copy)]
pub(crate) struct ChildExec<'a> {
    pub(crate) program: Program<'a>,
    pub(crate) argv: *const *const u8,
    pub(crate) envp: *const *const u8,
}

/// The error mapper of one step.
fn at(step: SetupStep) -> impl Fn(Errno) -> Failure {
    move |errno| Failure::Setup(step, errno)
}

impl ChildExec<'_> {
    /// Set up and exec; returns only on failure. `channel` is the descriptor a failure is
    /// reported on, if any: the child's own, at a number the caller has free, so the file
    /// actions see that number as closed and move the channel out of their way (see [`apply`]).
    pub(crate) fn run(&self, channel: Option<&mut i32>) -> Failure {
        match self.set_up(channel) {
            Ok(()) => Failure::Exec(self.exec()),
            Err(failure) => failure,
        }
    }

    fn set_up(&self, mut channel: Option<&mut i32>) -> Result<(), Failure> {
        use SetupStep as S;
        let p = &self.program;
        super::reset_for_exec();
        if p.new_session {
            sys::setsid().map_err(at(S::Setsid))?;
        }
        set_streams(p.stdio, &mut channel).map_err(at(S::FileAction))?;
        for action in p.actions {
            apply(action, channel.as_deref_mut()).map_err(at(S::FileAction))?;
        }
        if let Some(dir) = p.cwd_fallback {
            sys::chdir(dir).map_err(at(S::Chdir))?;
        }
        if let Some(dir) = p.cwd {
            match sys::chdir(dir) {
                Err(_) if p.cwd_optional => {}
                done => done.map_err(at(S::Chdir))?,
            }
        }
        if p.close_other_fds {
            cloexec_others(p).map_err(at(S::CloseFds))?;
        }
        for (resource, limit) in (0..).zip(p.limits) {
            if let Some((soft, hard)) = limit {
                sys::set_rlimit(resource, soft, hard).map_err(at(S::Rlimit))?;
            }
        }
        if !p.cap_drop.is_empty() {
            drop_capabilities(p.cap_drop).map_err(at(S::CapDrop))?;
        }
        if p.no_new_privs {
            sys::set_no_new_privs().map_err(at(S::NoNewPrivs))?;
        }
        if let Some(hook) = p.pre_exec {
            hook().map_err(at(S::PreExec))?;
        }
        if p.guard_terminal {
            let filter = &crate::seccomp::TERMINAL_INJECTION;
            sys::seccomp_set_filter(filter, 0).map_err(at(S::Seccomp))?;
        }
        if let Some(filter) = p.seccomp {
            sys::seccomp_set_filter(filter, 0).map_err(at(S::Seccomp))?;
        }
        Ok(())
    }

    /// `execve`, or for a name without `/` the `PATH` search; the errno to report.
    fn exec(&self) -> Errno {
        let path = self.program.path;
        let name = path.to_bytes();
        let script = |path: &CStr| self.exec_script(path);
        if name.is_empty() || name.contains(&b'/') {
            // SAFETY: both arrays are NULL-terminated arrays of NUL-terminated strings, kept
            // alive by the parent (vfork) or copied with the rest of its memory.
            return match unsafe { sys::execve(path, self.argv, self.envp) } {
                Errno::ENOEXEC => script(path),
                other => other,
            };
        }
        let dirs = self.path_variable().unwrap_or(b"/bin:/usr/bin");
        exec_in_path(path, dirs, self.argv, self.envp, script)
    }

    /// After ENOEXEC for `path`: with [`super::Program::run_scripts_with_sh`], `/bin/sh path
    /// ARGS...` as glibc's `execvp(3)` runs it, else ENOEXEC. The new argument array is the
    /// old one with `sh` in the spare slot before it and `path` over its first entry (the
    /// parent reserved that slot, [`super::prepare`]); ENOEXEC again if `/bin/sh` fails too.
    fn exec_script(&self, path: &CStr) -> Errno {
        // SAFETY: `argv` is NULL-terminated, so its first slot is readable.
        if !self.program.scripts_with_sh || unsafe { self.argv.read() }.is_null() {
            return Errno::ENOEXEC;
        }
        let argv = self.argv.cast_mut();
        // SAFETY: the parent reserved a slot before `argv` in the exec stack, which this child
        // owns until it execs (a copy of its own, or the vfork parent's, which waits and never
        // reads the arrays again); the first slot holds an argument, not the NULL that ends
        // the array, so the array stays NULL-terminated. `path` and "sh" outlive the execve.
        unsafe {
            argv.sub(1).write(c"sh".as_ptr().cast());
            argv.write(path.as_ptr().cast());
            match sys::execve(c"/bin/sh", argv.sub(1).cast_const(), self.envp) {
                Errno::ENOENT | Errno::EACCES => Errno::ENOEXEC,
                other => other,
            }
        }
    }

    /// The value of `PATH` in the merged environment.
    fn path_variable(&self) -> Option<&[u8]> {
        (0..)
            // SAFETY: `envp` is NULL-terminated; the iteration stops at the NULL.
            .map(|i| unsafe { *self.envp.add(i) })
            .take_while(|entry| !entry.is_null())
            // SAFETY: each entry is a NUL-terminated string that outlives the exec.
            .map(|entry| unsafe { CStr::from_ptr(entry.cast()) }.to_bytes())
            .find_map(|entry| entry.strip_prefix(b"PATH="))
    }
}

/// Set the standard streams. As std's `Command` does, every source is the caller's descriptor:
/// one that is itself a standard stream is copied out of the way (above 2, close-on-exec, closed
/// again on return) before any stream is replaced, so that `stdout(Stdio::Fd(0))` is the
/// caller's 0 even when stdin changes too.
fn set_streams(stdio: [Stdio; 3], channel: &mut Option<&mut i32>) -> Result<(), Errno> {
    let mut copies = [None, None, None];
    for (copy, stdio) in copies.iter_mut().zip(stdio) {
        if let Stdio::Fd(from @ 0..=2) = stdio {
            *copy = Some(sys::dup_at_least(callers(from, channel.as_deref())?, 3)?);
        }
    }
    for ((fd, stdio), copy) in (0..).zip(stdio).zip(&copies) {
        let action = match stdio {
            Stdio::Inherit => continue,
            Stdio::Null => FdAction::Open {
                fd,
                path: c"/dev/null",
                flags: k::O_RDWR,
                mode: 0,
            },
            Stdio::Fd(from) => FdAction::Dup2 {
                from: copy.as_ref().map_or(from, sys::Fd::as_raw),
                to: fd,
            },
        };
        apply(&action, channel.as_deref_mut())?;
    }
    Ok(())
}

/// The caller's descriptor `fd`, as an action's source. The child's table is a copy of the
/// caller's, so number `fd` here is the caller's `fd`, except the report `channel`'s number,
/// which the caller has free: that one is EBADF, as it would be in the caller.
fn callers(fd: i32, channel: Option<&i32>) -> Result<BorrowedFd<'static>, Errno> {
    if channel == Some(&fd) {
        return Err(Errno::EBADF);
    }
    // SAFETY: the caller's action names `fd`; the child owns its copy of the table and nothing
    // in it outlives the exec.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Apply one file action, as musl's `posix_spawn` does with its report pipe: a source at the
/// report `channel`'s number is EBADF (see [`callers`]), and an action that opens, replaces or
/// closes that number first moves the channel to the lowest free number (close-on-exec) and
/// closes it at the old one, so that a `Close` of it closes nothing of ours and the channel still
/// reports a later failure.
fn apply(action: &FdAction<'_>, channel: Option<&mut i32>) -> Result<(), Errno> {
    if let Some(from) = action.source() {
        callers(from, channel.as_deref())?;
    }
    if let Some(channel) = channel.filter(|c| **c == action.fd()) {
        // SAFETY: the channel is the child's own descriptor, open until exec.
        let moved = sys::dup_at_least(unsafe { BorrowedFd::borrow_raw(*channel) }, 0)?;
        // SAFETY: the old number is the channel's alone, and the channel now lives at `moved`.
        let _ = unsafe { sys::close(*channel) };
        *channel = moved.into_raw();
    }
    match *action {
        FdAction::Dup2 { from, to } if from == to => sys::set_fd_flags(from, 0),
        // SAFETY: the caller's action names `from` and `to`; the child owns its copy of the
        // table and nothing in it outlives the exec.
        FdAction::Dup2 { from, to } => unsafe { sys::dup3(BorrowedFd::borrow_raw(from), to) },
        FdAction::Open {
            fd,
            path,
            flags,
            mode,
        } => {
            // POSIX has an open target closed first (glibc does it), so that at the descriptor
            // limit the file can take its place; the channel is out of the way (above).
            close_quietly(fd)?;
            let opened = sys::open_mode(path, flags & !k::O_CLOEXEC, mode)?;
            if opened.as_raw() == fd {
                let _ = opened.into_raw();
                return Ok(());
            }
            // SAFETY: as for Dup2; `opened` is closed when it drops.
            unsafe { sys::dup3(opened.as_fd(), fd) }
        }
        FdAction::Close(fd) => close_quietly(fd),
    }
}

/// Close `fd`; one that is not open is no error (as glibc's `posix_spawn`).
fn close_quietly(fd: i32) -> Result<(), Errno> {
    // SAFETY: the caller's action names `fd`; the child owns its copy of the table.
    match unsafe { sys::close(fd) } {
        Err(Errno::EBADF) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Mark every descriptor from 3 up that no stream or action targets close-on-exec.
fn cloexec_others(p: &Program<'_>) -> Result<(), Errno> {
    let mut low = 3u32;
    loop {
        let next = p
            .targets()
            .filter_map(|t| u32::try_from(t).ok())
            .filter(|&t| t >= low)
            .min();
        if next != Some(low) {
            let last = next.map_or(u32::MAX, |t| t - 1);
            match sys::cloexec_range(low, last) {
                Ok(()) => {}
                // Before 5.11 (CLOSE_RANGE_CLOEXEC) or 5.9 (close_range).
                Err(Errno::ENOSYS | Errno::EINVAL) => return cloexec_by_walk(p),
                Err(e) => return Err(e),
            }
        }
        match next {
            Some(t) => low = t + 1,
            None => return Ok(()),
        }
    }
}

/// [`cloexec_others`] without `close_range`: each open descriptor, from `/proc/self/fd`.
fn cloexec_by_walk(p: &Program<'_>) -> Result<(), Errno> {
    let dir = sys::open(c"/proc/self/fd", k::O_DIRECTORY)?;
    let mut buf = [0u8; 1024];
    let mut result = Ok(());
    sys::for_each_dir_entry(dir.as_fd(), &mut buf, |name| {
        let fd = name.iter().try_fold(0i32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i32::from(d - b'0'))
        });
        if let Some(fd) = fd.filter(|&fd| fd >= 3 && !p.targets().any(|t| t == fd)) {
            // The directory's own descriptor is close-on-exec already; EBADF is a closed one.
            match sys::set_fd_flags(fd, k::FD_CLOEXEC) {
                Ok(()) | Err(Errno::EBADF) => {}
                Err(e) => result = Err(e),
            }
        }
    })?;
    result
}

/// Drop `caps` from every set: bounding, ambient, then effective, permitted and inheritable.
fn drop_capabilities(caps: Capabilities) -> Result<(), Errno> {
    for cap in caps.numbers() {
        sys::drop_bounding_capability(cap)?;
        sys::lower_ambient_capability(cap)?;
    }
    sys::clear_capabilities(caps.bits())
}

/// `execvp`'s search without allocation: try `dir/name` for each directory in `dirs`
/// (colon-separated, an empty entry meaning the working directory). Returns the errno to
/// report: the first one that is not "not here", else EACCES if any candidate gave it, else
/// ENOENT. A candidate the kernel will not execute (ENOEXEC) goes to `script`.
fn exec_in_path(
    name: &CStr,
    dirs: &[u8],
    argv: *const *const u8,
    envp: *const *const u8,
    script: impl Fn(&CStr) -> Errno,
) -> Errno {
    let name = name.to_bytes();
    let mut candidate = [0u8; 4096];
    let mut denied = false;
    for dir in dirs.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let len = dir.len() + 1 + name.len();
        if len >= candidate.len() {
            continue;
        }
        candidate[..dir.len()].copy_from_slice(dir);
        candidate[dir.len()] = b'/';
        candidate[dir.len() + 1..len].copy_from_slice(name);
        candidate[len] = 0;
        let Ok(path) = CStr::from_bytes_with_nul(&candidate[..=len]) else {
            continue; // a NUL inside PATH
        };
        // SAFETY: both arrays are NULL-terminated arrays of NUL-terminated strings.
        match unsafe { sys::execve(path, argv, envp) } {
            Errno::EACCES => denied = true,
            Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV | Errno::ELOOP => {}
            Errno::ENAMETOOLONG | Errno::ETIMEDOUT => {}
            Errno::ENOEXEC => return script(path),
            other => return other,
        }
    }
    if denied { Errno::EACCES } else { Errno::ENOENT }
}
