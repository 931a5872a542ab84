//! The shapes of task the seeds ask for, each a thin, documented layer over [`Builder`].
//!
//! | mode | flags | join |
//! |---|---|---|
//! | [`fork`] | `SIGCHLD`, no stack: returns twice | `waitid` |
//! | [`chimera`] | `CLONE_VM` + `SIGCHLD`, own stack | `waitid` |
//! | [`thread`] | [`CloneFlags::THREAD_SET`] + `PARENT_SETTID` + `CHILD_CLEARTID` | futex on the CLEARTID word |
//! | [`vfork_exec`] | `CLONE_VM \| CLONE_VFORK` + `SIGCHLD`, own stack | `waitid` |
//! | [`Builder::spawn`] | any composition without `CLONE_THREAD` | `waitid` / pidfd |

use crate::clone::{Builder, clone_error, with_auto_pidfd};
use crate::error::{Error, Result};
use crate::flags::{CloneFlags, Syscall};
use crate::program::Program;
use crate::signal::SigSet;
use crate::stack::Stack;
use crate::sys::{self, Pid};
use crate::task::{Child, Thread};
use core::ffi::CStr;
use linux_raw_sys::general as k;
use syscalls::Sysno;

/// Which side of a [`fork`] this is.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork};
/// // SAFETY: the child only reads its pid and exits.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => sys::exit_group((sys::getpid() != sys::getppid()) as i32),
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Debug)]
pub enum Fork {
    /// The caller, holding the child's handle.
    Parent(Child<'static>),
    /// The new process. It must end with [`sys::exit_group`] or `exec`, never by returning into code
    /// that expects to be the parent (test harnesses, destructors of the parent's state).
    Child,
}

/// Seed task 1, fork via clone: `clone(SIGCHLD)` with no new stack, so the call returns twice,
/// once in each process, each with its own copy of memory. `CLONE_PIDFD` is added where the
/// kernel has it, so the parent's handle holds the child's pidfd.
///
/// ```
/// use rawclone::{fork, sys, ExitStatus, Fork};
/// // SAFETY: the child only issues raw syscalls and exits.
/// match unsafe { fork()? } {
///     Fork::Child => sys::exit_group(sys::getpid() & 0x7f),
///     Fork::Parent(child) => {
///         let expect = child.pid() & 0x7f;
///         assert_eq!(child.wait()?, ExitStatus::Exited(expect));
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// # Safety
/// In a multi-threaded parent the child is a copy with a single thread: until it execs or exits it
/// may only do what is async-signal-safe (no allocation, no locks another thread might hold). The
/// child must never unwind or return into the parent's logic.
pub unsafe fn fork() -> Result<Fork> {
    let old = sys::set_signal_mask(SigSet::FULL).map_err(|e| Error::sys("rt_sigprocmask", e))?;
    // A fork-like clone without CLONE_VM and without a stack: sound to return twice, because the
    // child continues on its own copy of this very stack. Legacy clone and clone3 behave alike
    // here, so the older, universally available call is used. Its pidfd comes back through the
    // parent_tid slot, the third argument on both architectures.
    let mut pidfd: i32 = -1;
    let ret = with_auto_pidfd(|with_pidfd| {
        let flags = k::SIGCHLD as usize
            | if with_pidfd {
                k::CLONE_PIDFD as usize
            } else {
                0
            };
        // SAFETY: the only pointer is `pidfd`, a live local the kernel writes in the parent; the
        // child's memory is a copy of ours.
        unsafe { syscalls::syscall5(Sysno::clone, flags, 0, &raw mut pidfd as usize, 0, 0) }
    });
    let _ = sys::set_signal_mask(old);
    match ret {
        Ok(0) => Ok(Fork::Child),
        Ok(pid) => {
            // SAFETY: with CLONE_PIDFD the kernel stored a fresh descriptor that only we own.
            let pidfd = (pidfd >= 0).then(|| unsafe { sys::Fd::from_raw(pidfd) });
            Ok(Fork::Parent(Child::new(
                pid as Pid,
                pidfd,
                None,
                CloneFlags::EMPTY,
            )))
        }
        Err(e) => Err(clone_error(e, CloneFlags::EMPTY, Syscall::Clone)),
    }
}

/// Seed task 2, the process-thread chimera: `CLONE_VM` with `SIGCHLD` on a stack of its own. A
/// separate process (own pid, own signal handlers, own fd table) whose writes the parent sees.
///
/// ```
/// use core::sync::atomic::{AtomicI32, Ordering};
/// use rawclone::{chimera, sys, ExitStatus, Stack};
/// static SEEN: AtomicI32 = AtomicI32::new(0);
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child uses only raw syscalls and an atomic.
/// let child = unsafe { chimera(&mut stack, || { SEEN.store(sys::getpid(), Ordering::SeqCst); 0 })? };
/// let pid = child.pid();
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// assert_eq!(SEEN.load(Ordering::SeqCst), pid);
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// # Safety
/// See [`Builder::spawn`] with `CLONE_VM`: `f` shares this process's memory and thread pointer.
pub unsafe fn chimera<'s, F>(stack: &'s mut Stack<'_>, f: F) -> Result<Child<'s>>
where
    F: FnOnce() -> i32 + Send + 's,
{
    // SAFETY: forwarded from this function's contract.
    unsafe { Builder::new().flags(CloneFlags::VM).spawn(stack, f) }
}

/// Seed task 3, a real thread: [`CloneFlags::THREAD_SET`], same tgid, own tid; the join waits on
/// the CLEARTID word and returns the closure's value.
///
/// ```
/// use rawclone::{sys, thread, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the thread uses only raw syscalls.
/// let t = unsafe { thread(&mut stack, || sys::getpid() as usize)? };
/// assert_eq!(t.join(), sys::getpid() as usize);
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// # Safety
/// See [`Builder::spawn_thread`].
pub unsafe fn thread<'s, F>(stack: &'s mut Stack<'_>, f: F) -> Result<Thread<'s>>
where
    F: FnOnce() -> usize + Send + 's,
{
    // SAFETY: forwarded from this function's contract.
    unsafe { Builder::thread().spawn_thread(stack, f) }
}

/// A vfork-style spawn: `CLONE_VM | CLONE_VFORK` on a small stack of its own; the child resets
/// signal handlers and what `std::process::Command` resets (`SIGPIPE` to its default), restores
/// the caller's signal mask, and execs `path` with `argv` and `envp` (a `path` without `/` is
/// searched for in the `PATH` of `envp`). The caller is suspended until then. If the exec fails,
/// its errno comes back as [`Error::Exec`] through the shared memory and the child is reaped: no
/// child that "exits 127" to decode. A shortcut for [`crate::program::Program`], which sets up
/// more.
///
/// ```
/// use rawclone::{vfork_exec, Error, ExitStatus};
/// let child = vfork_exec(c"/bin/sh", &[c"sh", c"-c", c"exit 3"], &[])?;
/// assert_eq!(child.wait()?, ExitStatus::Exited(3));
/// let missing = vfork_exec(c"/nonexistent", &[c"x"], &[]);
/// assert!(matches!(missing, Err(Error::Exec { errno, .. }) if errno == rawclone::Errno::ENOENT));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn vfork_exec(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Result<Child<'static>> {
    Program::new(path).argv(argv).env_exactly(envp).spawn()
}
