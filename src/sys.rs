//! Typed wrappers over the raw syscalls rawclone needs, for every call that returns normally.
//!
//! Each wrapper issues exactly one syscall through the `syscalls` crate (no libc, no `errno`
//! thread-local) and returns the kernel's answer as a `Result` whose error is the named [`Errno`].
//! They are safe to call from a raw child that shares the parent's memory and thread pointer,
//! because none of them touches thread-local state or allocates.
//!
//! A wrapper is `unsafe` when a safe caller could break Rust's guarantees through it, as in rustix
//! and origin: [`exit`] ends a thread without unwinding (borrows on its stack end while their
//! lenders still count on them), [`close`] ends a descriptor some owner may still hold, and the
//! memory calls ([`munmap`], [`mprotect`], [`set_alt_stack`], [`execve`]'s raw arrays) take
//! ranges the compiler cannot check. Descriptors are passed as [`Fd`] (owned) or [`BorrowedFd`]
//! (borrowed), never as a bare number that might name someone else's descriptor by now; the
//! exceptions are [`fd_flags`] and [`set_fd_flags`], which read or change only whether a number
//! survives `execve`, and [`cloexec_range`], which marks a range so.

use crate::signal::{SigSet, Signal};
use core::ffi::CStr;
use core::marker::PhantomData;
use core::sync::atomic::AtomicU32;
use core::time::Duration;
use linux_raw_sys::general as k;
use syscalls::{Errno, Sysno, syscall0, syscall1, syscall2, syscall3, syscall4, syscall5};

mod file;
mod mount;
mod namespace;
mod net;
mod tty;
pub use file::{chmod_fd, create_at, read_link_at, read_lock, symlink_at, umask};
pub use mount::{
    MountFlags, access, change_dir_to, char_device, clone_mount, clone_tree, create_file,
    create_file_at, file_mode, file_mode_of, fresh_mount, mkdir_at, mount, move_mount_onto,
    move_mount_to, read_link, restrict_mounts, restrict_tree, symlink, umount2,
};
pub(crate) use mount::{same_file, same_inode};
pub use namespace::{open_at, open_in_root, unshare};
pub use net::{inet_dgram_socket, interface_flags, set_interface_flags};
pub use tty::{is_terminal, setsid};

/// A process or thread id as the kernel hands it out.
///
/// ```
/// let (pid, tid) = (rawclone::sys::getpid(), rawclone::sys::gettid());
/// assert!(pid > 0 && tid > 0);
/// ```
pub type Pid = i32;

/// An owned file descriptor, closed on drop.
///
/// With the `std` feature it is `AsFd`, `AsRawFd`, `IntoRawFd` and `FromRawFd`, and converts
/// into and out of `std::os::fd::OwnedFd`, so a pidfd or socket of rawclone's goes to std,
/// rustix or an async reactor as it is. [`Fd::as_fd`] (rawclone's [`BorrowedFd`]) is the
/// method `fd.as_fd()` calls; generic code bound by `AsFd` gets std's.
///
/// ```
/// # #[cfg(feature = "std")] {
/// use std::io::Write;
/// use std::os::fd::{AsRawFd, OwnedFd};
/// let (a, b) = rawclone::sys::seqpacket_pair()?;
/// let mut file = std::fs::File::from(OwnedFd::from(a));
/// file.write_all(b"hi").unwrap();
/// let b = rawclone::sys::Fd::from(OwnedFd::from(file)); // and back
/// assert_eq!(b.as_raw_fd(), b.as_raw());
/// # }
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Fd(i32);

impl Fd {
    /// Take ownership of `fd`.
    ///
    /// ```
    /// use rawclone::sys::{self, Fd};
    /// let (r, w) = sys::pipe()?;
    /// // SAFETY: `into_raw` gave up `w`'s ownership: the new `Fd` is the only owner.
    /// let w = unsafe { Fd::from_raw(w.into_raw()) };
    /// sys::write(w.as_fd(), b"x")?;
    /// assert_eq!(sys::read(r.as_fd(), &mut [0; 1])?, 1);
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    ///
    /// # Safety
    /// `fd` must be an open descriptor that nothing else will close.
    pub const unsafe fn from_raw(fd: i32) -> Fd {
        Fd(fd)
    }

    /// The raw number, still owned by `self`.
    ///
    /// ```
    /// use linux_raw_sys::general::FD_CLOEXEC;
    /// let (r, w) = rawclone::sys::pipe()?;
    /// assert!(r.as_raw() > 2 && r.as_raw() != w.as_raw());
    /// assert_eq!(rawclone::sys::fd_flags(r.as_raw())?, FD_CLOEXEC);
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    pub const fn as_raw(&self) -> i32 {
        self.0
    }

    /// Borrow the descriptor for calls such as [`read()`] and [`write()`].
    ///
    /// ```
    /// let (_r, w) = rawclone::sys::pipe()?;
    /// assert_eq!(w.as_fd().as_raw(), w.as_raw());
    /// assert_eq!(rawclone::sys::write(w.as_fd(), b"x")?, 1);
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    pub const fn as_fd(&self) -> BorrowedFd<'_> {
        BorrowedFd {
            fd: self.0,
            _owner: PhantomData,
        }
    }

    /// Give up ownership without closing.
    ///
    /// ```
    /// use rawclone::{sys, Errno};
    /// let (r, _w) = sys::pipe()?;
    /// let n = r.into_raw();
    /// assert!(sys::fd_flags(n).is_ok()); // still open: no owner closed it
    /// // SAFETY: `n` came from `into_raw`, so nothing else owns it.
    /// unsafe { sys::close(n)? };
    /// assert_eq!(sys::fd_flags(n), Err(Errno::EBADF));
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    pub fn into_raw(self) -> i32 {
        let fd = self.0;
        core::mem::forget(self);
        fd
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // Errors other than EBADF still release the descriptor (close(2)); nothing to do with them.
        // SAFETY: `self` owns the descriptor and is going away; nothing else closes it.
        let _ = unsafe { close(self.0) };
    }
}

/// A descriptor borrowed for `'fd`: open for at least that long, and never closed through this
/// (the `core` counterpart of `std::os::fd::BorrowedFd`, and with the `std` feature converted
/// to and from it with `From`, and `AsFd` itself).
///
/// ```
/// use rawclone::sys;
/// let (a, b) = sys::seqpacket_pair()?;
/// sys::write(a.as_fd(), b"hi")?;
/// let mut buf = [0u8; 2];
/// assert_eq!(sys::read(b.as_fd(), &mut buf)?, 2);
/// assert_eq!(&buf, b"hi");
/// # #[cfg(feature = "std")] {
/// let std_fd: std::os::fd::BorrowedFd<'_> = a.as_fd().into();
/// let back: sys::BorrowedFd<'_> = std_fd.into();
/// assert_eq!(back, a.as_fd());
/// # }
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BorrowedFd<'fd> {
    fd: i32,
    _owner: PhantomData<&'fd Fd>,
}

impl BorrowedFd<'_> {
    /// Borrow the descriptor numbered `fd`.
    ///
    /// ```
    /// use rawclone::sys::{self, BorrowedFd};
    /// let (_r, w) = sys::pipe()?;
    /// // SAFETY: `w` owns the descriptor and outlives the borrow.
    /// let b = unsafe { BorrowedFd::borrow_raw(w.as_raw()) };
    /// assert_eq!(sys::write(b, b"x")?, 1);
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    ///
    /// # Safety
    /// `fd` must stay open, and keep naming the same open file, for the whole borrow.
    pub const unsafe fn borrow_raw(fd: i32) -> Self {
        BorrowedFd {
            fd,
            _owner: PhantomData,
        }
    }

    /// The raw number.
    ///
    /// ```
    /// assert_eq!(rawclone::sys::stderr().as_raw(), 2);
    /// ```
    pub const fn as_raw(self) -> i32 {
        self.fd
    }
}

/// Standard input, output and error, which a process holds open for its whole life, as std's
/// `io::stdin().as_fd()` and its siblings assume. Closing one of them is what
/// [`close`]'s contract forbids.
macro_rules! stdio {
    ($($(#[$doc:meta])* $name:ident = $fd:literal;)*) => {$(
        $(#[$doc])*
        pub const fn $name() -> BorrowedFd<'static> {
            // SAFETY: descriptors 0, 1 and 2 are open for the life of the process; `close` and
            // `Fd::from_raw` make their callers promise not to close them under their owners.
            unsafe { BorrowedFd::borrow_raw($fd) }
        }
    )*};
}

stdio! {
    /// Descriptor 0, standard input.
    ///
    /// ```
    /// assert_eq!(rawclone::sys::stdin().as_raw(), 0);
    /// ```
    stdin = 0;
    /// Descriptor 1, standard output.
    ///
    /// ```
    /// assert_eq!(rawclone::sys::write(rawclone::sys::stdout(), b"")?, 0);
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    stdout = 1;
    /// Descriptor 2, standard error.
    ///
    /// ```
    /// assert_eq!(rawclone::sys::stderr().as_raw(), 2);
    /// ```
    stderr = 2;
}

/// `write(2)`.
///
/// ```
/// use rawclone::{sys, Errno};
/// let (r, w) = sys::pipe()?;
/// assert_eq!(sys::write(w.as_fd(), b"hello")?, 5);
/// drop(r);
/// // No reader left: EPIPE (Rust programs ignore SIGPIPE, which would kill others).
/// assert_eq!(sys::write(w.as_fd(), b"x"), Err(Errno::EPIPE));
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    let fd = fd.as_raw();
    // SAFETY: the kernel reads at most `buf.len()` bytes from a live slice.
    unsafe { syscall3(Sysno::write, fd as usize, buf.as_ptr() as usize, buf.len()) }
}

/// [`write()`] until all of `bytes` is written: again after a short write or a signal (EINTR).
///
/// ```
/// use rawclone::sys;
/// let (r, w) = sys::pipe()?;
/// sys::write_all(w.as_fd(), b"all of it")?;
/// drop(w);
/// let mut buf = [0u8; 16];
/// assert_eq!(sys::read(r.as_fd(), &mut buf)?, 9);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `read(2)`.
///
/// ```
/// use rawclone::sys;
/// let (r, w) = sys::pipe()?;
/// sys::write(w.as_fd(), b"hello")?;
/// drop(w);
/// let mut buf = [0u8; 8];
/// assert_eq!(sys::read(r.as_fd(), &mut buf)?, 5);
/// assert_eq!(sys::read(r.as_fd(), &mut buf)?, 0); // writer gone: end of file
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = fd.as_raw();
    // SAFETY: the kernel writes at most `buf.len()` bytes into a live, exclusive slice.
    unsafe {
        syscall3(
            Sysno::read,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    }
}

/// `close(2)`. Prefer dropping an [`Fd`], which is the one owner of its descriptor.
///
/// Safe code cannot close a descriptor it does not own:
/// ```compile_fail,E0133
/// let _ = rawclone::sys::close(0);
/// ```
///
/// # Safety
/// The caller must own `fd`: no [`Fd`], `std::fs::File` or other owner may hold it, and no
/// [`BorrowedFd`] may be live, since any of them would go on using the number after it is closed
/// (and after the kernel hands it to the next `open`).
pub unsafe fn close(fd: i32) -> Result<(), Errno> {
    // SAFETY: closing a descriptor touches no memory; the caller owns it.
    unsafe { syscall1(Sysno::close, fd as usize) }.map(drop)
}

/// `exit(2)`: ends the calling thread only (the whole process if it is the only thread), at once:
/// no destructor runs and nothing unwinds.
///
/// ```
/// use rawclone::{sys, thread, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the thread owns nothing and borrows nothing: ending it early leaves no borrow behind.
/// let t = unsafe { thread(&mut stack, || sys::exit(0))? };
/// t.join();
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// Safe code cannot end a thread early:
/// ```compile_fail,E0133
/// rawclone::sys::exit(0);
/// ```
///
/// # Safety
/// Ending a thread ends every borrow its frames hold while the lenders still count on them: a
/// `std::thread::scope` would believe the thread done and hand borrowed data back to be changed
/// while the thread's stack is reused, and values owned by its frames are leaked. Call it only in
/// a task whose frames hold no borrow and own nothing that must be dropped (a rawclone child or
/// task), or where the thread is the whole process (then it is [`exit_group`]).
pub unsafe fn exit(code: i32) -> ! {
    // SAFETY: exit never returns and touches no memory of ours; the caller vouches for the frames.
    unsafe {
        let _ = syscall1(Sysno::exit, code as usize);
    }
    unreachable!("exit returned")
}

/// `exit_group(2)`: ends every thread of the process.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork};
/// // SAFETY: the child only exits.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => sys::exit_group(7),
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(7)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("_exit"))]
pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group never returns and touches no memory of ours.
    unsafe {
        let _ = syscall1(Sysno::exit_group, code as usize);
    }
    unreachable!("exit_group returned")
}

macro_rules! id_getters {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        pub fn $name() -> i32 {
            // SAFETY: these calls take no arguments, touch no memory and cannot fail.
            unsafe { syscall0(Sysno::$name) }.unwrap_or(0) as i32
        }
    )*};
}

id_getters!(
    /// `getpid(2)`: the thread-group id.
    ///
    /// ```
    /// assert_eq!(rawclone::sys::getpid() as u32, std::process::id());
    /// ```
    getpid,
    /// `gettid(2)`: the calling task's own id.
    ///
    /// ```
    /// use rawclone::sys;
    /// let other = std::thread::spawn(sys::gettid).join().unwrap();
    /// assert!(other > 0 && other != sys::gettid());
    /// ```
    gettid,
    /// `getppid(2)`.
    ///
    /// ```
    /// use rawclone::{sys, ExitStatus, Fork};
    /// let me = sys::getpid();
    /// // SAFETY: the child only makes raw syscalls and exits.
    /// match unsafe { rawclone::fork()? } {
    ///     Fork::Child => sys::exit_group((sys::getppid() == me) as i32),
    ///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    getppid,
    /// `getuid(2)`.
    ///
    /// ```
    /// let status = std::fs::read_to_string("/proc/self/status").unwrap();
    /// assert!(status.contains(&format!("\nUid:\t{}\t", rawclone::sys::getuid())));
    /// ```
    getuid,
    /// `getgid(2)`.
    ///
    /// ```
    /// let status = std::fs::read_to_string("/proc/self/status").unwrap();
    /// assert!(status.contains(&format!("\nGid:\t{}\t", rawclone::sys::getgid())));
    /// ```
    getgid,
    /// `geteuid(2)`.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { Namespaces::new().map_root().spawn(&mut stack, sys::geteuid)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0)); // root of its user namespace
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    geteuid,
    /// `getegid(2)`.
    ///
    /// ```
    /// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe { Namespaces::new().map_root().spawn(&mut stack, sys::getegid)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0)); // group 0 of its user namespace
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    getegid
);

/// `nanosleep(2)` for `ms` milliseconds; returns early (with EINTR) if a handler ran.
///
/// ```
/// use core::time::Duration;
/// use rawclone::sys;
/// let start = sys::monotonic_now();
/// sys::sleep_ms(20)?;
/// assert!(sys::monotonic_now() - start >= Duration::from_millis(20));
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("nanosleep", "clock_nanosleep"))]
pub fn sleep_ms(ms: u64) -> Result<(), Errno> {
    let ts = [(ms / 1000) as i64, ((ms % 1000) * 1_000_000) as i64];
    // SAFETY: the kernel reads one timespec (two i64 on 64-bit) from a live local.
    #[cfg(target_pointer_width = "64")]
    let r = unsafe { syscall2(Sysno::nanosleep, ts.as_ptr() as usize, 0) };
    // SAFETY: the kernel reads one __kernel_timespec (two i64) from a live local; relative
    // CLOCK_MONOTONIC is what nanosleep measures.
    #[cfg(target_pointer_width = "32")]
    let r = unsafe {
        syscalls::syscall4(
            Sysno::clock_nanosleep_time64,
            k::CLOCK_MONOTONIC as usize,
            0,
            ts.as_ptr() as usize,
            0,
        )
    };
    r.map(drop)
}

/// `sched_yield(2)`: let another runnable thread have this CPU.
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
/// let done = AtomicBool::new(false);
/// std::thread::scope(|s| {
///     s.spawn(|| done.store(true, SeqCst));
///     while !done.load(SeqCst) {
///         rawclone::sys::sched_yield(); // let the other thread run
///     }
/// });
/// ```
pub fn sched_yield() {
    // SAFETY: no arguments, no memory; it cannot fail.
    let _ = unsafe { syscall0(Sysno::sched_yield) };
}

/// A CPU affinity mask for `sched_setaffinity(2)`: room for 1024 CPUs, bit `n` for CPU `n`.
///
/// ```
/// use rawclone::sys::{self, CpuSet};
/// let allowed = sys::affinity()?;
/// assert!(allowed.count() >= 1);
/// assert_eq!(CpuSet::only(65).0[1], 1 << 1); // CPU 65: word 1, bit 1
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CpuSet(pub [u64; 16]);

impl CpuSet {
    /// Every CPU the set can name; the kernel narrows it to what the thread may use.
    pub const ALL: CpuSet = CpuSet([u64::MAX; 16]);

    /// The set holding only `cpu` (empty if `cpu` is past the set's 1024 bits).
    ///
    /// ```
    /// use rawclone::sys::CpuSet;
    /// assert_eq!(CpuSet::only(3).0[0], 1 << 3);
    /// assert_eq!(CpuSet::only(1024).count(), 0); // past the set: empty
    /// ```
    pub fn only(cpu: u32) -> CpuSet {
        let mut set = [0u64; 16];
        if let Some(word) = set.get_mut(cpu as usize / 64) {
            *word = 1 << (cpu % 64);
        }
        CpuSet(set)
    }

    /// How many CPUs the set holds.
    ///
    /// ```
    /// use rawclone::sys::CpuSet;
    /// assert_eq!(CpuSet::ALL.count(), 1024);
    /// assert_eq!(CpuSet::only(7).count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// The CPUs the calling thread may run on (`sched_getaffinity(2)`).
///
/// ```
/// let set = rawclone::sys::affinity()?;
/// assert!(set.count() >= 1);
/// assert_eq!(set.count(), rawclone::sys::available_cpus());
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("sched_getaffinity"))]
pub fn affinity() -> Result<CpuSet, Errno> {
    task_affinity(0)
}

/// The CPUs the task `tid` (a thread or process id, 0 for the caller) may run on
/// (`sched_getaffinity(2)`); ESRCH for a task that has ended.
///
/// ```
/// use rawclone::sys;
/// assert_eq!(sys::task_affinity(sys::gettid()), sys::affinity());
/// ```
#[doc(alias("sched_getaffinity"))]
pub fn task_affinity(tid: Pid) -> Result<CpuSet, Errno> {
    let mut set = CpuSet([0; 16]);
    // SAFETY: the kernel writes at most size_of::<CpuSet>() bytes into a live local.
    unsafe {
        syscall3(
            Sysno::sched_getaffinity,
            tid as usize,
            size_of::<CpuSet>(),
            set.0.as_mut_ptr() as usize,
        )
    }?;
    Ok(set)
}

/// Let the calling thread run only on `set` (`sched_setaffinity(2)`).
///
/// ```
/// use rawclone::sys::{self, CpuSet};
/// let cpu = sys::current_cpu()?;
/// // Pin a thread of its own, so that the caller's mask stays as it was.
/// std::thread::spawn(move || -> Result<(), rawclone::Errno> {
///     sys::set_affinity(&CpuSet::only(cpu))?;
///     assert_eq!((sys::affinity()?, sys::current_cpu()?), (CpuSet::only(cpu), cpu));
///     Ok(())
/// })
/// .join()
/// .unwrap()?;
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("sched_setaffinity"))]
pub fn set_affinity(set: &CpuSet) -> Result<(), Errno> {
    set_task_affinity(0, set)
}

/// Let the task `tid` (a thread or process id, 0 for the caller) run only on `set`
/// (`sched_setaffinity(2)`). Another task's needs the same owner or `CAP_SYS_NICE` (EPERM);
/// a task that has ended gives ESRCH.
///
/// ```
/// use rawclone::{Fork, fork, sys::{self, CpuSet}};
/// let cpu = sys::current_cpu()?;
/// // SAFETY: the child only sleeps and exits, with raw syscalls.
/// match unsafe { fork() }.unwrap() {
///     Fork::Child => {
///         let _ = sys::sleep_ms(5000);
///         sys::exit_group(0)
///     }
///     Fork::Parent(child) => {
///         sys::set_task_affinity(child.pid(), &CpuSet::only(cpu))?;
///         child.kill().unwrap();
///         assert!(child.wait().unwrap().signal().is_some());
///     }
/// }
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("sched_setaffinity"))]
pub fn set_task_affinity(tid: Pid, set: &CpuSet) -> Result<(), Errno> {
    // SAFETY: the kernel reads size_of::<CpuSet>() bytes from a live reference.
    unsafe {
        syscall3(
            Sysno::sched_setaffinity,
            tid as usize,
            size_of::<CpuSet>(),
            set.0.as_ptr() as usize,
        )
    }
    .map(drop)
}

/// The CPU the calling thread runs on (`getcpu(2)`); stale as soon as it returns, unless the
/// thread is pinned.
///
/// ```
/// use rawclone::sys;
/// let cpu = sys::current_cpu()?;
/// // Wherever it runs, it is one of the CPUs it may run on.
/// assert_ne!(sys::affinity()?.0[cpu as usize / 64] & 1 << (cpu % 64), 0);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("getcpu", "sched_getcpu"))]
pub fn current_cpu() -> Result<u32, Errno> {
    let mut cpu = 0u32;
    // SAFETY: the kernel writes one u32 into a live local; node and cache pointers are null.
    unsafe { syscall3(Sysno::getcpu, &raw mut cpu as usize, 0, 0) }?;
    Ok(cpu)
}

/// How many CPUs this thread may run on, at least 1.
///
/// ```
/// assert!(rawclone::sys::available_cpus() >= 1);
/// ```
pub fn available_cpus() -> usize {
    affinity().map_or(1, |set| set.count().max(1))
}

/// `tgkill(2)`: send `sig` to thread `tid` of thread group `tgid`.
///
/// ```
/// use rawclone::{sys, SigSet, Signal};
/// // On a thread of its own with SIGUSR1 blocked: the signal waits, and goes with the thread.
/// std::thread::spawn(|| -> Result<(), rawclone::Errno> {
///     sys::set_signal_mask(SigSet::EMPTY.with(Signal::SIGUSR1))?;
///     sys::tgkill(sys::getpid(), sys::gettid(), Signal::SIGUSR1)?;
///     assert!(sys::pending_signals()?.contains(Signal::SIGUSR1));
///     Ok(())
/// })
/// .join()
/// .unwrap()?;
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn tgkill(tgid: Pid, tid: Pid, sig: Signal) -> Result<(), Errno> {
    // SAFETY: sending a signal touches no memory of ours.
    unsafe {
        syscall3(
            Sysno::tgkill,
            tgid as usize,
            tid as usize,
            sig.number() as usize,
        )
    }
    .map(drop)
}

/// Whether thread `tid` is a live thread of thread group `tgid`: `tgkill(2)` with signal 0,
/// which checks without sending. Any refusal (ESRCH: no such thread there; EPERM, ENOSYS from a
/// seccomp filter) counts as not alive: the check cannot vouch for it.
///
/// ```
/// use rawclone::sys;
/// assert!(sys::thread_lives(sys::getpid(), sys::gettid()));
/// let other = std::thread::spawn(sys::gettid).join().unwrap();
/// assert!(!sys::thread_lives(sys::getpid(), other)); // joined: gone
/// ```
pub fn thread_lives(tgid: Pid, tid: Pid) -> bool {
    // SAFETY: signal 0 is only a check; nothing is sent and no memory of ours is touched.
    let probe = unsafe { syscall3(Sysno::tgkill, tgid as usize, tid as usize, 0) };
    probe.is_ok()
}

/// `kill(2)`.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork, Signal};
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => loop {
///         let _ = sys::sleep_ms(1000);
///     },
///     Fork::Parent(child) => {
///         sys::kill(child.pid(), Signal::SIGKILL).expect("kill");
///         let status = child.wait()?;
///         assert_eq!(status, ExitStatus::Signaled { signal: Signal::SIGKILL, core_dumped: false });
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn kill(pid: Pid, sig: Signal) -> Result<(), Errno> {
    // SAFETY: sending a signal touches no memory of ours.
    unsafe { syscall2(Sysno::kill, pid as usize, sig.number() as usize) }.map(drop)
}

/// `pidfd_send_signal(2)` with no siginfo and no flags.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork, Signal};
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => loop {
///         let _ = sys::sleep_ms(1000);
///     },
///     Fork::Parent(child) => {
///         match child.pidfd() {
///             Some(pidfd) => sys::pidfd_send_signal(pidfd, Signal::SIGTERM).expect("pidfd"),
///             None => sys::kill(child.pid(), Signal::SIGTERM).expect("kill"), // before Linux 5.3
///         }
///         assert!(matches!(child.wait()?, ExitStatus::Signaled { signal: Signal::SIGTERM, .. }));
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn pidfd_send_signal(pidfd: &Fd, sig: Signal) -> Result<(), Errno> {
    // SAFETY: a null siginfo is allowed; no memory of ours is touched.
    unsafe {
        syscall4(
            Sysno::pidfd_send_signal,
            pidfd.as_raw() as usize,
            sig.number() as usize,
            0,
            0,
        )
    }
    .map(drop)
}

/// `ppoll(2)` on one descriptor for `POLLIN`, with no timeout and no signal mask change: returns
/// once `fd` is readable (a pidfd: once its process has ended), or with EINTR.
///
/// ```
/// use rawclone::sys;
/// let (r, w) = sys::pipe()?;
/// let writer = std::thread::spawn(move || {
///     sys::sleep_ms(10)?;
///     sys::write(w.as_fd(), b"x")
/// });
/// sys::poll_readable(r.as_fd())?; // returns once the thread has written
/// assert_eq!(sys::read(r.as_fd(), &mut [0; 1])?, 1);
/// writer.join().unwrap()?;
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("poll", "ppoll"))]
pub fn poll_readable(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    ppoll_in(fd, None).map(drop)
}

/// A relative `timespec` for the kernel, saturated at `i64::MAX` seconds.
fn timespec(d: Duration) -> k::__kernel_timespec {
    k::__kernel_timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// [`poll_readable`] with a timeout: `Ok(true)` once `fd` is readable (a pidfd: its process has
/// ended), `Ok(false)` if `timeout` passed first, `Err(EINTR)` if a handler ran. `ppoll(2)`
/// with a relative timeout (aarch64 has no `poll` syscall).
///
/// ```
/// use core::time::Duration;
/// use rawclone::sys;
/// let (a, b) = sys::seqpacket_pair()?;
/// assert!(!sys::poll_readable_timeout(b.as_fd(), Duration::from_millis(1))?);
/// sys::write(a.as_fd(), b"x")?;
/// assert!(sys::poll_readable_timeout(b.as_fd(), Duration::from_secs(5))?);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn poll_readable_timeout(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, Errno> {
    ppoll_in(fd, Some(timeout))
}

/// `ppoll(2)` for `POLLIN` on one descriptor, with a relative timeout or none, and no signal mask
/// change: whether it is readable.
fn ppoll_in(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool, Errno> {
    let mut pfd = k::pollfd {
        fd: fd.as_raw(),
        events: k::POLLIN as i16,
        revents: 0,
    };
    // The kernel writes the time left back into the timespec.
    let mut ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_mut()
        .map_or(0, |ts| ts as *mut k::__kernel_timespec as usize);
    // SAFETY: the kernel reads and writes one pollfd and at most one timespec, live locals (or
    // none, for a null pointer); no sigmask.
    let ready = unsafe { syscall5(calls::PPOLL, &raw mut pfd as usize, 1, ts_ptr, 0, 0) }?;
    Ok(ready > 0)
}

/// The calls that take a `__kernel_timespec` (64-bit seconds and nanoseconds) and map memory:
/// the plain ones on 64-bit targets; on 32-bit ones the plain calls take a 32-bit `timespec` (and
/// i386's `mmap` a struct of arguments), so the `_time64` variants (Linux 5.1) and `mmap2`.
#[cfg(target_pointer_width = "64")]
mod calls {
    use super::Sysno;
    pub(super) const CLOCK_GETTIME: Sysno = Sysno::clock_gettime;
    pub(super) const PPOLL: Sysno = Sysno::ppoll;
    pub(super) const FUTEX: Sysno = Sysno::futex;
    pub(super) const MMAP: Sysno = Sysno::mmap;
}
#[cfg(target_pointer_width = "32")]
mod calls {
    use super::Sysno;
    pub(super) const CLOCK_GETTIME: Sysno = Sysno::clock_gettime64;
    pub(super) const PPOLL: Sysno = Sysno::ppoll_time64;
    pub(super) const FUTEX: Sysno = Sysno::futex_time64;
    pub(super) const MMAP: Sysno = Sysno::mmap2;
}

/// `clock_gettime(CLOCK_MONOTONIC)`: time since an unspecified start that never jumps, for
/// deadlines.
///
/// ```
/// let a = rawclone::sys::monotonic_now();
/// let b = rawclone::sys::monotonic_now();
/// assert!(b >= a);
/// ```
#[doc(alias("clock_gettime", "CLOCK_MONOTONIC"))]
pub fn monotonic_now() -> Duration {
    let mut ts = k::__kernel_timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes one timespec into a live local; CLOCK_MONOTONIC always exists.
    let _ = unsafe {
        syscall2(
            calls::CLOCK_GETTIME,
            k::CLOCK_MONOTONIC as usize,
            &raw mut ts as usize,
        )
    };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A point in [`monotonic_now`]'s time, for waits that may be interrupted and resumed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Duration>);

impl Deadline {
    /// `timeout` from now (never, if that overflows).
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(monotonic_now().checked_add(timeout))
    }

    /// Time left; `None` once the deadline has passed.
    pub(crate) fn remaining(self) -> Option<Duration> {
        match self.0 {
            Some(at) => at.checked_sub(monotonic_now()).filter(|d| !d.is_zero()),
            None => Some(Duration::MAX),
        }
    }
}

/// The part of `siginfo_t` that `waitid(2)` fills, laid out as Linux does: the union after the
/// three ints is pointer-aligned, so 64-bit targets have a padding int before `si_pid` and 32-bit
/// ones none.
///
/// ```
/// use linux_raw_sys::general::{CLD_EXITED, WEXITED, WNOWAIT};
/// use rawclone::{sys, ExitStatus, Fork};
/// // SAFETY: the child only exits.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => sys::exit_group(5),
///     Fork::Parent(child) => {
///         // Look without reaping (WNOWAIT), then let the handle reap.
///         let info = sys::waitid(sys::WaitId::Pid(child.pid()), WEXITED | WNOWAIT).expect("waitid");
///         assert_eq!((info.pid, info.code, info.status), (child.pid(), CLD_EXITED as i32, 5));
///         assert_eq!(child.wait()?, ExitStatus::Exited(5));
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct WaitInfo {
    /// `si_signo`: SIGCHLD when a child was found.
    pub signo: i32,
    /// `si_errno`.
    pub errno: i32,
    /// `si_code`: one of the `CLD_*` values.
    pub code: i32,
    #[cfg(target_pointer_width = "64")]
    _pad: i32,
    /// `si_pid`: 0 with `WNOHANG` when no child had changed state.
    pub pid: i32,
    /// `si_uid`.
    pub uid: u32,
    /// `si_status`: exit status or signal number, depending on `code`.
    pub status: i32,
    #[cfg(target_pointer_width = "64")]
    _rest: [u8; 100],
    #[cfg(target_pointer_width = "32")]
    _rest: [u8; 104],
}

const _: () = assert!(size_of::<WaitInfo>() == size_of::<k::siginfo_t>());

/// Which children `waitid(2)` looks at.
///
/// ```
/// use linux_raw_sys::general::{WEXITED, WNOWAIT};
/// use rawclone::{sys, Fork};
/// // SAFETY: the child only exits.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => sys::exit_group(3),
///     Fork::Parent(child) => {
///         // Through the pidfd where the kernel gave one, else by pid.
///         let id = match child.pidfd() {
///             Some(pidfd) => sys::WaitId::PidFd(pidfd),
///             None => sys::WaitId::Pid(child.pid()),
///         };
///         assert_eq!(sys::waitid(id, WEXITED | WNOWAIT).expect("waitid").status, 3);
///         child.wait()?;
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub enum WaitId<'a> {
    /// `P_PID`.
    Pid(Pid),
    /// `P_PIDFD` (Linux 5.4+).
    PidFd(&'a Fd),
    /// `P_ALL`.
    All,
}

/// `waitid(2)`. `options` are `WEXITED`, `WNOHANG`, `WNOWAIT`, `__WALL`, … from linux-raw-sys.
///
/// ```
/// use linux_raw_sys::general::{WEXITED, WNOHANG};
/// use rawclone::{sys, ExitStatus, Fork};
/// let (r, w) = sys::pipe().expect("pipe");
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         drop(w); // the child's copy of the write end, else its read never ends
///         sys::exit_group(sys::read(r.as_fd(), &mut [0; 1]).map_or(1, |_| 0))
///     }
///     Fork::Parent(child) => {
///         let info = sys::waitid(sys::WaitId::Pid(child.pid()), WEXITED | WNOHANG);
///         assert_eq!(info.map(|i| i.pid), Ok(0)); // still running: nothing to report
///         drop(w); // the child's read ends
///         assert_eq!(child.wait()?, ExitStatus::Exited(0));
///     }
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn waitid(id: WaitId<'_>, options: u32) -> Result<WaitInfo, Errno> {
    let (idtype, raw) = match id {
        WaitId::Pid(pid) => (k::P_PID, pid as usize),
        WaitId::PidFd(fd) => (k::P_PIDFD, fd.as_raw() as usize),
        WaitId::All => (k::P_ALL, 0),
    };
    // SAFETY: all-zero is a valid WaitInfo (plain integers).
    let mut info: WaitInfo = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel writes one siginfo_t, which `info` is sized for; rusage is null.
    unsafe {
        syscall5(
            Sysno::waitid,
            idtype as usize,
            raw,
            &raw mut info as usize,
            options as usize,
            0,
        )
    }?;
    Ok(info)
}

/// `futex(FUTEX_WAIT)` on a word shared across processes: sleep while `*word == expected`.
///
/// The *shared* (not `FUTEX_PRIVATE_FLAG`) variant, because the kernel's CLEARTID wake on thread
/// exit is a shared wake and never reaches a private waiter.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering::SeqCst};
/// use rawclone::sys;
/// let word = AtomicU32::new(0);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         word.store(1, SeqCst);
///         sys::futex_wake(&word, 1)
///     });
///     while word.load(SeqCst) == 0 {
///         let _ = sys::futex_wait(&word, 0); // EAGAIN if it changed before the sleep
///     }
/// });
/// ```
pub fn futex_wait(word: &AtomicU32, expected: u32) -> Result<(), Errno> {
    futex_wait_for(word, expected, None)
}

/// `FUTEX_WAIT` with a relative timeout, or none.
fn futex_wait_for(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<(), Errno> {
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(0, |ts| ts as *const k::__kernel_timespec as usize);
    // SAFETY: the kernel only reads the word, which `word` keeps alive, and at most one
    // relative timespec from a live local (or none, for a null pointer).
    unsafe {
        syscall4(
            calls::FUTEX,
            word.as_ptr() as usize,
            k::FUTEX_WAIT as usize,
            expected as usize,
            ts_ptr,
        )
    }
    .map(drop)
}

/// [`futex_wait`] for at most `timeout`: `Err(ETIMEDOUT)` when it passed, `Err(EAGAIN)` if
/// `*word != expected` already, `Err(EINTR)` after a handler.
///
/// ```
/// use core::sync::atomic::AtomicU32;
/// use core::time::Duration;
/// use rawclone::{Errno, sys};
/// let word = AtomicU32::new(1);
/// let waited = sys::futex_wait_timeout(&word, 1, Duration::from_millis(1));
/// assert_eq!(waited, Err(Errno::ETIMEDOUT));
/// assert_eq!(sys::futex_wait_timeout(&word, 0, Duration::from_secs(1)), Err(Errno::EAGAIN));
/// ```
pub fn futex_wait_timeout(word: &AtomicU32, expected: u32, timeout: Duration) -> Result<(), Errno> {
    futex_wait_for(word, expected, Some(timeout))
}

/// [`futex_wait`] until `deadline` (none: no limit): ETIMEDOUT once it has passed, also without
/// asking the kernel when it already has.
pub(crate) fn futex_wait_until(
    word: &AtomicU32,
    expected: u32,
    deadline: Option<Deadline>,
) -> Result<(), Errno> {
    match deadline.map(Deadline::remaining) {
        None => futex_wait_for(word, expected, None),
        Some(Some(left)) => futex_wait_for(word, expected, Some(left)),
        Some(None) => Err(Errno::ETIMEDOUT),
    }
}

/// `futex(FUTEX_WAKE)`: wake up to `n` waiters on `word`; returns how many woke.
///
/// The kernel reads the count as an `int`, so `u32::MAX` would mean -1 and wake just one
/// waiter: counts are capped at `i32::MAX`, and `u32::MAX` means "all" as callers expect.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering::SeqCst};
/// use rawclone::sys;
/// let word = AtomicU32::new(0);
/// assert_eq!(sys::futex_wake(&word, u32::MAX)?, 0); // nobody waits
/// std::thread::scope(|s| {
///     s.spawn(|| while word.load(SeqCst) == 0 {
///         let _ = sys::futex_wait(&word, 0);
///     });
///     word.store(1, SeqCst);
///     assert!(sys::futex_wake(&word, u32::MAX).unwrap() <= 1);
/// });
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn futex_wake(word: &AtomicU32, n: u32) -> Result<usize, Errno> {
    futex_wake_at(word, n)
}

/// [`futex_wake`] by address: for a word that its owner may free as soon as it sees the change
/// this wake announces (the kernel uses the address only as a key; nothing is dereferenced).
///
/// ```
/// use core::sync::atomic::AtomicU32;
/// let word = Box::new(AtomicU32::new(0));
/// let at: *const AtomicU32 = &*word;
/// drop(word); // freed: the address is only a key to the kernel
/// assert_eq!(rawclone::sys::futex_wake_at(at, 1)?, 0);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn futex_wake_at(word: *const AtomicU32, n: u32) -> Result<usize, Errno> {
    let n = n.min(i32::MAX as u32);
    // SAFETY: FUTEX_WAKE only uses the address as a key.
    unsafe {
        syscall3(
            Sysno::futex,
            word as usize,
            k::FUTEX_WAKE as usize,
            n as usize,
        )
    }
}

/// Anonymous private `mmap(2)` of `len` bytes with `prot`; `extra` flags are ORed in.
///
/// ```
/// use linux_raw_sys::general::{PROT_READ, PROT_WRITE};
/// use rawclone::sys;
/// let len = 64 * 1024;
/// let p = sys::mmap_anonymous(len, PROT_READ | PROT_WRITE, 0)?;
/// // SAFETY: the `len` bytes at `p` are a fresh, zeroed, writable mapping of ours.
/// unsafe {
///     assert_eq!(*p.add(len - 1), 0);
///     p.write(7);
///     assert_eq!(*p, 7);
/// }
/// // SAFETY: nothing uses the mapping after this.
/// unsafe { sys::munmap(p, len)? };
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("mmap"))]
pub fn mmap_anonymous(len: usize, prot: u32, extra: u32) -> Result<*mut u8, Errno> {
    let flags = k::MAP_PRIVATE | k::MAP_ANONYMOUS | extra;
    // SAFETY: a fresh anonymous mapping at a kernel-chosen address aliases nothing of ours.
    unsafe {
        syscalls::syscall6(
            calls::MMAP,
            0,
            len,
            prot as usize,
            flags as usize,
            usize::MAX,
            0,
        )
    }
    .map(|p| p as *mut u8)
}

/// `munmap(2)`.
///
/// ```
/// use linux_raw_sys::general::PROT_READ;
/// use rawclone::{sys, Errno};
/// let p = sys::mmap_anonymous(64 * 1024, PROT_READ, 0)?;
/// // SAFETY: nothing uses the mapping after this.
/// unsafe { sys::munmap(p, 64 * 1024)? };
/// // SAFETY: a misaligned address is refused before anything is unmapped.
/// assert_eq!(unsafe { sys::munmap(p.wrapping_add(1), 1) }, Err(Errno::EINVAL));
/// # Ok::<(), rawclone::Errno>(())
/// ```
///
/// # Safety
/// Nothing may use `[addr, addr + len)` afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller guarantees the range is no longer used.
    unsafe { syscall2(Sysno::munmap, addr as usize, len) }.map(drop)
}

/// `mprotect(2)`.
///
/// ```
/// use linux_raw_sys::general::{PROT_READ, PROT_WRITE};
/// use rawclone::sys;
/// let len = 64 * 1024;
/// let p = sys::mmap_anonymous(len, PROT_READ | PROT_WRITE, 0)?;
/// // SAFETY: the mapping is ours; after the write it is only read, then unmapped.
/// unsafe {
///     p.write(7);
///     sys::mprotect(p, len, PROT_READ)?;
///     assert_eq!(*p, 7);
///     sys::munmap(p, len)?;
/// }
/// # Ok::<(), rawclone::Errno>(())
/// ```
///
/// # Safety
/// Nothing may rely on the old protection of `[addr, addr + len)`.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: u32) -> Result<(), Errno> {
    // SAFETY: the caller guarantees the change breaks no live access.
    unsafe { syscall3(Sysno::mprotect, addr as usize, len, prot as usize) }.map(drop)
}

/// `rt_sigprocmask(2)`: apply `how` with `new` (none: only read), return the previous mask.
fn sigprocmask(how: u32, new: Option<&SigSet>) -> Result<SigSet, Errno> {
    let mut old = SigSet::EMPTY;
    let new = new.map_or(0, |set| set as *const SigSet as usize);
    // SAFETY: the kernel reads 8 bytes from `new` (if any) and writes 8 into `old`, both live.
    unsafe {
        syscall4(
            Sysno::rt_sigprocmask,
            how as usize,
            new,
            &raw mut old as usize,
            size_of::<SigSet>(),
        )
    }?;
    Ok(old)
}

/// Install `set` as the calling thread's signal mask (`SIG_SETMASK`); returns the previous one.
///
/// ```
/// use rawclone::{sys, SigSet, Signal};
/// let old = sys::set_signal_mask(SigSet::EMPTY.with(Signal::SIGUSR1))?;
/// assert!(sys::signal_mask()?.contains(Signal::SIGUSR1));
/// sys::set_signal_mask(old)?; // as it was
/// assert_eq!(sys::signal_mask()?, old);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn set_signal_mask(set: SigSet) -> Result<SigSet, Errno> {
    sigprocmask(k::SIG_SETMASK, Some(&set))
}

/// Add `set` to the calling thread's signal mask (`SIG_BLOCK`); returns the previous mask.
///
/// ```
/// use rawclone::{sys, SigSet, Signal};
/// let usr1 = SigSet::EMPTY.with(Signal::SIGUSR1);
/// let old = sys::block_signals(usr1)?;
/// assert!(sys::signal_mask()?.contains(Signal::SIGUSR1));
/// sys::set_signal_mask(old)?; // as it was
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("sigprocmask", "rt_sigprocmask"))]
pub fn block_signals(set: SigSet) -> Result<SigSet, Errno> {
    sigprocmask(k::SIG_BLOCK, Some(&set))
}

/// The calling thread's signal mask, read without changing it.
///
/// ```
/// use rawclone::sys;
/// let mask = sys::signal_mask()?;
/// // A new thread starts with its creator's mask.
/// assert_eq!(std::thread::spawn(sys::signal_mask).join().unwrap()?, mask);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn signal_mask() -> Result<SigSet, Errno> {
    sigprocmask(k::SIG_BLOCK, None)
}

/// The signals pending for the calling thread or its process (`rt_sigpending(2)`).
///
/// ```
/// use rawclone::{sys, SigSet, Signal};
/// // On a thread of its own, so that the blocked signal goes away with it.
/// std::thread::spawn(|| -> Result<(), rawclone::Errno> {
///     sys::set_signal_mask(SigSet::EMPTY.with(Signal::SIGUSR2))?;
///     assert!(!sys::pending_signals()?.contains(Signal::SIGUSR2));
///     sys::tgkill(sys::getpid(), sys::gettid(), Signal::SIGUSR2)?;
///     assert!(sys::pending_signals()?.contains(Signal::SIGUSR2));
///     Ok(())
/// })
/// .join()
/// .unwrap()?;
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn pending_signals() -> Result<SigSet, Errno> {
    let mut set = SigSet::EMPTY;
    // SAFETY: the kernel writes 8 bytes into `set`, a live local.
    unsafe {
        syscall2(
            Sysno::rt_sigpending,
            &raw mut set as usize,
            size_of::<SigSet>(),
        )
    }?;
    Ok(set)
}

/// What a signal does when it arrives, as far as rawclone needs to know.
///
/// ```
/// use rawclone::{sys::{self, Disposition}, Signal};
/// let old = sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Ignore)?;
/// // Back as it was (a handler cannot be put back this way: only SIG_DFL or SIG_IGN).
/// if old != Disposition::Ignore {
///     sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Default)?;
/// }
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Disposition {
    /// `SIG_DFL`.
    Default,
    /// `SIG_IGN`.
    Ignore,
    /// A handler function at this address.
    Handler(usize),
}

/// `rt_sigaction(2)` with the kernel's own struct: install `new` (if any), return the old action.
///
/// # Safety
/// A handler in `new` must be sound to run on any thread of this process at any point where the
/// signal is unblocked, with a restorer where the architecture needs one.
pub(crate) unsafe fn sigaction_raw(
    sig: Signal,
    new: Option<&k::kernel_sigaction>,
) -> Result<k::kernel_sigaction, Errno> {
    // SAFETY: all-zero is a valid kernel_sigaction (SIG_DFL, no flags).
    let mut old: k::kernel_sigaction = unsafe { core::mem::zeroed() };
    let new_ptr = new.map_or(0, |n| n as *const _ as usize);
    // SAFETY: the kernel reads `new` (if any) and writes `old`, both live for the call.
    unsafe {
        syscall4(
            Sysno::rt_sigaction,
            sig.number() as usize,
            new_ptr,
            &raw mut old as usize,
            size_of::<SigSet>(),
        )
    }?;
    Ok(old)
}

impl Disposition {
    fn of(action: &k::kernel_sigaction) -> Disposition {
        match action.sa_handler_kernel.map(|h| h as usize) {
            None => Disposition::Default,
            Some(1) => Disposition::Ignore,
            Some(addr) => Disposition::Handler(addr),
        }
    }
}

/// A `kernel_sigaction` that runs the handler at `handler` with `flags`, and the restorer the
/// architecture needs (`SA_RESTORER`).
pub(crate) fn handler_action(handler: usize, flags: u32) -> k::kernel_sigaction {
    // SAFETY: all-zero is a valid kernel_sigaction; the fields are then set below.
    let mut act: k::kernel_sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel calls the handler at that address; the one-argument type in the struct
    // is only how the kernel header spells the pointer.
    act.sa_handler_kernel =
        unsafe { core::mem::transmute::<usize, k::__kernel_sighandler_t>(handler) };
    act.sa_flags = flags as _;
    // riscv64 has no SA_RESTORER (nor the field): its kernel always returns through the vDSO.
    // i386 has two signal frames: the rt one (siginfo and ucontext, undone by rt_sigreturn) for
    // SA_SIGINFO handlers, the old one (undone by sigreturn) for the rest. The restorer calls
    // rt_sigreturn, so every handler gets the rt frame; its two extra arguments are harmless to a
    // one-argument handler, since the i386 caller pops the arguments.
    #[cfg(target_arch = "x86")]
    {
        act.sa_flags |= k::SA_SIGINFO as core::ffi::c_ulong;
    }
    #[cfg(not(target_arch = "riscv64"))]
    if let Some(restorer) = crate::arch::SIGNAL_RESTORER {
        act.sa_flags |= k::SA_RESTORER as core::ffi::c_ulong;
        // SAFETY: a function pointer the kernel jumps to when the handler returns.
        act.sa_restorer =
            unsafe { core::mem::transmute::<usize, k::__sigrestore_t>(restorer as usize) };
    }
    act
}

fn sigaction(sig: Signal, new: Option<&k::kernel_sigaction>) -> Result<Disposition, Errno> {
    // SAFETY: callers pass SIG_DFL or SIG_IGN only, which run no code.
    let old = unsafe { sigaction_raw(sig, new) }?;
    Ok(Disposition::of(&old))
}

/// Read a signal's disposition with `rt_sigaction(2)`.
///
/// ```
/// use rawclone::{sys::{self, Disposition}, Signal};
/// // Rust's runtime ignores SIGPIPE before `main`.
/// assert_eq!(sys::signal_disposition(Signal::SIGPIPE)?, Disposition::Ignore);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn signal_disposition(sig: Signal) -> Result<Disposition, Errno> {
    sigaction(sig, None)
}

/// Set a signal to `SIG_DFL` or `SIG_IGN` (no handler, so no restorer is needed); returns the
/// previous disposition. `Disposition::Handler` is refused with EINVAL.
///
/// ```
/// use rawclone::{sys::{self, Disposition}, Errno, Signal};
/// let old = sys::set_signal_disposition(Signal::SIGUSR1, Disposition::Ignore)?;
/// sys::kill(sys::getpid(), Signal::SIGUSR1)?; // ignored: the process lives on
/// sys::set_signal_disposition(Signal::SIGUSR1, old)?; // as it was (SIG_DFL here)
/// let handler = sys::set_signal_disposition(Signal::SIGUSR1, Disposition::Handler(1));
/// assert_eq!(handler, Err(Errno::EINVAL));
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn set_signal_disposition(sig: Signal, to: Disposition) -> Result<Disposition, Errno> {
    // SAFETY: all-zero is a valid kernel_sigaction (SIG_DFL, no flags).
    let mut act: k::kernel_sigaction = unsafe { core::mem::zeroed() };
    act.sa_handler_kernel = match to {
        Disposition::Default => None,
        // SAFETY: SIG_IGN is the kernel's sentinel value 1, never called as a function.
        Disposition::Ignore => unsafe {
            core::mem::transmute::<usize, k::__kernel_sighandler_t>(1)
        },
        Disposition::Handler(_) => return Err(Errno::EINVAL),
    };
    sigaction(sig, Some(&act))
}

/// `sigaltstack(2)`: deliver this thread's signals whose handler asks for it (`SA_ONSTACK`) on
/// the `len` bytes at `low`.
///
/// ```
/// use rawclone::{sys, Errno, ExitStatus, Fork};
/// // SAFETY: the child only makes raw syscalls; the stack lives until it exits.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let mut alt = [0u8; 32 * 1024];
///         // SAFETY: `alt` outlives the child, which exits in this frame.
///         let small = unsafe { sys::set_alt_stack(alt.as_mut_ptr(), 1024) };
///         let ok = unsafe { sys::set_alt_stack(alt.as_mut_ptr(), alt.len()) };
///         sys::exit_group((small == Err(Errno::ENOMEM) && ok.is_ok()) as i32)
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// # Safety
/// The memory must stay valid, and be used for nothing else, while this thread lives or until
/// another alternate stack replaces it.
pub unsafe fn set_alt_stack(low: *mut u8, len: usize) -> Result<(), Errno> {
    let ss = k::stack_t {
        ss_sp: low.cast(),
        ss_flags: 0,
        ss_size: len as _,
    };
    // SAFETY: the kernel reads one stack_t from a live local; the caller vouches for the memory.
    unsafe { syscall2(Sysno::sigaltstack, &raw const ss as usize, 0) }.map(drop)
}

/// Run `handler` when `sig` arrives (`rt_sigaction(2)` with `SA_RESTART`, and the restorer the
/// architecture needs); returns the previous disposition. A caught signal reverts to `SIG_DFL`
/// in a program this process execs, unlike an ignored one.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering::SeqCst};
/// use rawclone::{sys, Signal};
/// static HITS: AtomicU32 = AtomicU32::new(0);
/// extern "C" fn on_usr1(_: i32) {
///     HITS.fetch_add(1, SeqCst);
/// }
/// // SAFETY: the handler only touches an atomic, which is async-signal-safe.
/// let old = unsafe { sys::set_signal_handler(Signal::SIGUSR1, on_usr1)? };
/// sys::tgkill(sys::getpid(), sys::gettid(), Signal::SIGUSR1)?; // handled before it returns
/// assert_eq!(HITS.load(SeqCst), 1);
/// sys::set_signal_disposition(Signal::SIGUSR1, old)?; // back to SIG_DFL
/// # Ok::<(), rawclone::Errno>(())
/// ```
///
/// # Safety
/// `handler` runs on whichever thread the kernel picks, interrupting anything: it must be
/// async-signal-safe (no allocation, no locks, no libc state).
#[doc(alias("sigaction", "rt_sigaction"))]
pub unsafe fn set_signal_handler(
    sig: Signal,
    handler: extern "C" fn(i32),
) -> Result<Disposition, Errno> {
    let act = handler_action(handler as usize, k::SA_RESTART);
    // SAFETY: forwarded from this function's contract.
    let old = unsafe { sigaction_raw(sig, Some(&act)) }?;
    Ok(Disposition::of(&old))
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: message boundaries kept, and a peer that
/// dies reads as end-of-file on the other side.
///
/// ```
/// use rawclone::sys;
/// let (a, b) = sys::seqpacket_pair()?;
/// sys::write(a.as_fd(), b"one")?;
/// sys::write(a.as_fd(), b"two")?;
/// drop(a);
/// let mut buf = [0u8; 16];
/// assert_eq!(sys::read(b.as_fd(), &mut buf)?, 3); // one message per read
/// assert_eq!(sys::read(b.as_fd(), &mut buf)?, 3);
/// assert_eq!(sys::read(b.as_fd(), &mut buf)?, 0); // peer gone: end of file
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("socketpair"))]
pub fn seqpacket_pair() -> Result<(Fd, Fd), Errno> {
    use linux_raw_sys::net;
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    unsafe {
        syscall4(
            Sysno::socketpair,
            net::AF_UNIX as usize,
            (net::SOCK_SEQPACKET | k::O_CLOEXEC) as usize,
            0,
            fds.as_mut_ptr() as usize,
        )
    }?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (Fd::from_raw(fds[0]), Fd::from_raw(fds[1])) })
}

/// `openat(AT_FDCWD, path, flags | O_CLOEXEC)`.
///
/// ```
/// use linux_raw_sys::general::{FD_CLOEXEC, O_RDONLY};
/// use rawclone::{sys, Errno};
/// let fd = sys::open(c"/proc/self/stat", O_RDONLY)?;
/// let mut buf = [0u8; 64];
/// let n = sys::read(fd.as_fd(), &mut buf)?;
/// assert!(buf[..n].starts_with(format!("{} ", sys::getpid()).as_bytes()));
/// assert_eq!(sys::fd_flags(fd.as_raw())?, FD_CLOEXEC);
/// assert_eq!(sys::open(c"/no/such/file", O_RDONLY), Err(Errno::ENOENT));
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn open(path: &CStr, flags: u32) -> Result<Fd, Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    let fd = unsafe {
        syscall4(
            Sysno::openat,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            (flags | k::O_CLOEXEC) as usize,
            0o644,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// Call `f` with the name of each entry of directory `dir` (`.` and `..` included), read with
/// `getdents64(2)` through `buf`, without allocation.
///
/// ```
/// use linux_raw_sys::general::O_DIRECTORY;
/// use rawclone::sys;
/// let dir = sys::open(c"/proc/self", O_DIRECTORY)?;
/// let (mut entries, mut status) = (0, false);
/// sys::for_each_dir_entry(dir.as_fd(), &mut [0; 1024], |name| {
///     entries += 1;
///     status |= name == b"status";
/// })?;
/// assert!(status && entries > 2);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("getdents64", "readdir"))]
pub fn for_each_dir_entry(
    dir: BorrowedFd<'_>,
    buf: &mut [u8],
    mut f: impl FnMut(&[u8]),
) -> Result<(), Errno> {
    /// `struct linux_dirent64`: d_ino (8), d_off (8), d_reclen (2), d_type (1), then the name.
    const RECLEN_AT: usize = 16;
    const NAME_AT: usize = 19;
    loop {
        // SAFETY: the kernel writes at most buf.len() bytes into a live, exclusive slice.
        let n = unsafe {
            syscall3(
                Sysno::getdents64,
                dir.as_raw() as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
            )
        }?;
        if n == 0 {
            return Ok(());
        }
        let mut off = 0;
        while off < n {
            let reclen = usize::from(u16::from_ne_bytes([
                buf[off + RECLEN_AT],
                buf[off + RECLEN_AT + 1],
            ]));
            let name = &buf[off + NAME_AT..off + reclen];
            f(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]);
            off += reclen;
        }
    }
}

/// `chdir(2)`.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork};
/// // In a child, so that this process's working directory stays as it is.
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let moved = sys::chdir(c"/proc").is_ok();
///         sys::exit_group((moved && sys::getcwd(&mut [0; 64]) == Ok(b"/proc")) as i32)
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    unsafe { syscall1(Sysno::chdir, path.as_ptr() as usize) }.map(drop)
}

/// `getcwd(2)`: the working directory, written into `buf`, without its NUL.
///
/// ```
/// use std::os::unix::ffi::OsStrExt;
/// use rawclone::{sys, Errno};
/// let mut buf = [0u8; 4096];
/// let cwd = std::env::current_dir().unwrap();
/// assert_eq!(sys::getcwd(&mut buf)?, cwd.as_os_str().as_bytes());
/// assert_eq!(sys::getcwd(&mut [0; 1]), Err(Errno::ERANGE)); // no room even for "/"
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn getcwd(buf: &mut [u8]) -> Result<&[u8], Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into a live, exclusive slice.
    let n = unsafe { syscall2(Sysno::getcwd, buf.as_mut_ptr() as usize, buf.len()) }?;
    Ok(&buf[..n.saturating_sub(1)])
}

/// `execve(2)`: returns only on failure.
///
/// ```
/// use core::ptr::null;
/// use rawclone::{sys, ExitStatus, Fork};
/// let argv: [*const u8; 4] = [c"sh".as_ptr().cast(), c"-c".as_ptr().cast(), c"exit 3".as_ptr().cast(), null()];
/// let envp: [*const u8; 1] = [null()];
/// // SAFETY: the child only makes raw syscalls, then execs or exits.
/// match unsafe { rawclone::fork()? } {
///     // SAFETY: both arrays are NULL-terminated and point to NUL-terminated strings.
///     Fork::Child => sys::exit_group(unsafe { sys::execve(c"/bin/sh", argv.as_ptr(), envp.as_ptr()) }.into_raw()),
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(3)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of pointers to NUL-terminated strings.
pub unsafe fn execve(path: &CStr, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: forwarded from this function's contract.
    let r = unsafe {
        syscall3(
            Sysno::execve,
            path.as_ptr() as usize,
            argv as usize,
            envp as usize,
        )
    };
    r.err().unwrap_or(Errno::EINVAL)
}

/// The capability bit that namespace creation needs (`capabilities(7)`).
pub const CAP_SYS_ADMIN: u32 = k::CAP_SYS_ADMIN;

/// The effective capability set (bits `CAP_*`) of the calling thread, from `capget(2)`.
///
/// ```
/// let caps = rawclone::sys::effective_capabilities()?;
/// let status = std::fs::read_to_string("/proc/self/status").unwrap();
/// assert!(status.contains(&format!("\nCapEff:\t{caps:016x}\n")));
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("capget"))]
pub fn effective_capabilities() -> Result<u64, Errno> {
    let data = capget()?;
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// `pivot_root(2)`: make `new_root` the root of this mount namespace and move the old root to
/// `put_old` (which may be `new_root` itself: the old root is then stacked on top of it).
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// use rawclone::{sys::MountFlags, Errno};
/// let ns = Namespaces::new().map_root().mount(); // needs a mount namespace: the child's own
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     ns.spawn(&mut stack, || {
///         let steps = sys::mount(c"tmpfs", c"/tmp", c"tmpfs", MountFlags::EMPTY, None)
///             .and_then(|()| sys::chdir(c"/tmp"))
///             .and_then(|()| sys::pivot_root(c".", c".")) // the old root stacked on the new
///             .and_then(|()| sys::umount2(c".", linux_raw_sys::general::MNT_DETACH));
///         (steps.is_ok() && sys::open(c"/proc", 0) == Err(Errno::ENOENT)) as i32 // only the tmpfs
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: two NUL-terminated strings that live for the call.
    unsafe {
        syscall2(
            Sysno::pivot_root,
            new_root.as_ptr() as usize,
            put_old.as_ptr() as usize,
        )
    }
    .map(drop)
}

/// `sethostname(2)`: the UTS namespace's host name.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // Needs CAP_SYS_ADMIN over a UTS namespace: a child's own, unprivileged.
/// let ns = Namespaces::new().map_root().uts();
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     ns.spawn(&mut stack, || {
///         let set = sys::sethostname(b"sandbox").is_ok();
///         (set && sys::hostname().is_ok_and(|n| n.as_bytes() == b"sandbox")) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn sethostname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads name.len() bytes from a live slice.
    unsafe { syscall2(Sysno::sethostname, name.as_ptr() as usize, name.len()) }.map(drop)
}

/// `setdomainname(2)`: the UTS namespace's NIS domain name.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// let ns = Namespaces::new().map_root().uts(); // a UTS namespace of the child's own
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     ns.spawn(&mut stack, || {
///         let set = sys::setdomainname(b"example").is_ok();
///         (set && sys::domainname().is_ok_and(|n| n.as_bytes() == b"example")) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn setdomainname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads name.len() bytes from a live slice.
    unsafe { syscall2(Sysno::setdomainname, name.as_ptr() as usize, name.len()) }.map(drop)
}

/// A host or domain name as `uname(2)` reports it: at most 64 bytes.
///
/// ```
/// let name = rawclone::sys::hostname()?;
/// assert!(!name.as_bytes().is_empty() && name.as_bytes().len() <= 64);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UtsName {
    buf: [u8; 65],
    len: usize,
}

impl UtsName {
    /// The name's bytes, without the terminating NUL.
    ///
    /// ```
    /// let name = rawclone::sys::hostname()?;
    /// assert!(!name.as_bytes().contains(&0));
    /// # Ok::<(), rawclone::Errno>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Field `n` (0 sysname, 1 nodename, …, 5 domainname) of `uname(2)`.
fn uname_field(n: usize) -> Result<UtsName, Errno> {
    let mut uts = [0u8; 65 * 6];
    // SAFETY: the kernel writes one struct utsname (six 65-byte fields) into a live local.
    unsafe { syscall1(Sysno::uname, uts.as_mut_ptr() as usize) }?;
    let mut buf = [0u8; 65];
    buf.copy_from_slice(&uts[65 * n..65 * (n + 1)]);
    let len = buf.iter().position(|&b| b == 0).unwrap_or(64);
    Ok(UtsName { buf, len })
}

/// This UTS namespace's host name (`uname(2)`'s `nodename`).
///
/// ```
/// let name = rawclone::sys::hostname()?;
/// let proc = std::fs::read("/proc/sys/kernel/hostname").unwrap();
/// assert_eq!(name.as_bytes(), proc.trim_ascii_end());
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn hostname() -> Result<UtsName, Errno> {
    uname_field(1)
}

/// This UTS namespace's NIS domain name (`uname(2)`'s `domainname`).
///
/// ```
/// let name = rawclone::sys::domainname()?;
/// let proc = std::fs::read("/proc/sys/kernel/domainname").unwrap();
/// assert_eq!(name.as_bytes(), proc.trim_ascii_end());
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn domainname() -> Result<UtsName, Errno> {
    uname_field(5)
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphans among the caller's descendants come to it, not
/// to init, so it can see (`/proc/PID/task/TID/children`), signal and reap what a child left
/// behind.
///
/// ```
/// use linux_raw_sys::general::WEXITED;
/// use rawclone::{sys, ExitStatus, Fork};
/// // SAFETY: the children only make raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let _ = sys::set_child_subreaper();
///         // A child that forks a grandchild and ends: the grandchild comes to us.
///         match unsafe { rawclone::fork() } {
///             Ok(Fork::Child) => match unsafe { rawclone::fork() } {
///                 Ok(Fork::Child) => sys::exit_group(7),
///                 _ => sys::exit_group(0),
///             },
///             Ok(Fork::Parent(child)) => drop(child.wait()),
///             Err(_) => sys::exit_group(2),
///         }
///         let orphan = sys::waitid(sys::WaitId::All, WEXITED);
///         sys::exit_group(orphan.map_or(3, |info| info.status))
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(7)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("prctl", "PR_SET_CHILD_SUBREAPER"))]
pub fn set_child_subreaper() -> Result<(), Errno> {
    prctl2(linux_raw_sys::prctl::PR_SET_CHILD_SUBREAPER, 1).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG)`: have the kernel send `sig` to this thread's process when the
/// thread that created it exits.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork, Signal};
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     // In the child: killed if this thread (its parent) exits first.
///     Fork::Child => sys::exit_group(sys::set_parent_death_signal(Signal::SIGKILL).is_ok() as i32),
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("prctl", "PR_SET_PDEATHSIG"))]
pub fn set_parent_death_signal(sig: Signal) -> Result<(), Errno> {
    const PR_SET_PDEATHSIG: usize = 1;
    // SAFETY: no memory is passed.
    unsafe { syscall2(Sysno::prctl, PR_SET_PDEATHSIG, sig.number() as usize) }.map(drop)
}

/// `mkdir(2)` relative to the working directory (`mkdirat(AT_FDCWD, …)`).
///
/// ```
/// use rawclone::{sys, Errno};
/// let path = std::ffi::CString::new(format!("/tmp/rawclone-doc-mkdir-{}", sys::getpid())).unwrap();
/// sys::mkdir(&path, 0o700)?;
/// assert_eq!(sys::mkdir(&path, 0o700), Err(Errno::EEXIST));
/// std::fs::remove_dir(path.to_str().unwrap()).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    unsafe {
        syscall3(
            Sysno::mkdirat,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            mode as usize,
        )
    }
    .map(drop)
}

/// `reboot(LINUX_REBOOT_CMD_POWER_OFF)`: for an init process that is done. Needs CAP_SYS_BOOT;
/// returns only on failure.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // In a child PID namespace, "power off" only ends that namespace: its init dies of SIGINT.
/// let ns = Namespaces::new().map_root().pid();
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe { ns.spawn(&mut stack, || sys::power_off().into_raw())? };
/// assert!(matches!(child.wait()?, ExitStatus::Signaled { signal: rawclone::Signal::SIGINT, .. }));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("reboot"))]
pub fn power_off() -> Errno {
    const MAGIC1: usize = 0xfee1_dead;
    const MAGIC2: usize = 0x2812_1969;
    const POWER_OFF: usize = 0x4321_fedc;
    // SAFETY: with the magic numbers the kernel halts the machine; no memory is passed.
    let r = unsafe { syscall4(Sysno::reboot, MAGIC1, MAGIC2, POWER_OFF, 0) };
    r.err().unwrap_or(Errno::EINVAL)
}

/// `fcntl(fd, F_SETFD, 0)`: keep descriptor `fd` open across `execve` (clear `FD_CLOEXEC`).
///
/// ```
/// use linux_raw_sys::general::FD_CLOEXEC;
/// use rawclone::sys;
/// let (r, _w) = sys::pipe()?;
/// assert_eq!(sys::fd_flags(r.as_raw())?, FD_CLOEXEC);
/// sys::clear_cloexec(r.as_fd())?; // now an exec'd program would inherit it
/// assert_eq!(sys::fd_flags(r.as_raw())?, 0);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn clear_cloexec(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let fd = fd.as_raw();
    // SAFETY: F_SETFD touches no memory; it changes only whether `fd` survives an exec.
    unsafe { syscall3(Sysno::fcntl, fd as usize, k::F_SETFD as usize, 0) }.map(drop)
}

/// `fcntl(fd, F_GETFD)`: whether descriptor number `fd` is open (and its descriptor flags). A
/// query of the table that changes no descriptor, so it takes a bare number.
///
/// ```
/// use linux_raw_sys::general::FD_CLOEXEC;
/// use rawclone::{sys, Errno};
/// let (r, _w) = sys::pipe()?;
/// assert_eq!(sys::fd_flags(r.as_raw())?, FD_CLOEXEC);
/// assert_eq!(sys::fd_flags(-1), Err(Errno::EBADF)); // no such descriptor
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn fd_flags(fd: i32) -> Result<u32, Errno> {
    // SAFETY: F_GETFD touches no memory.
    unsafe { syscall2(Sysno::fcntl, fd as usize, k::F_GETFD as usize) }.map(|f| f as u32)
}

/// `fcntl(fd, F_SETFD, flags)`: set descriptor number `fd`'s flags (`FD_CLOEXEC` or none). Like
/// [`fd_flags`] it takes a bare number: it changes whether a descriptor survives `execve`, never
/// which file a number names, so no owner is harmed.
///
/// ```
/// use linux_raw_sys::general::FD_CLOEXEC;
/// use rawclone::sys;
/// let (r, _w) = sys::pipe()?;
/// sys::set_fd_flags(r.as_raw(), 0)?;
/// assert_eq!(sys::fd_flags(r.as_raw())?, 0);
/// sys::set_fd_flags(r.as_raw(), FD_CLOEXEC)?;
/// assert_eq!(sys::fd_flags(r.as_raw())?, FD_CLOEXEC);
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn set_fd_flags(fd: i32, flags: u32) -> Result<(), Errno> {
    // SAFETY: F_SETFD touches no memory.
    unsafe {
        syscall3(
            Sysno::fcntl,
            fd as usize,
            k::F_SETFD as usize,
            flags as usize,
        )
    }
    .map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, lowest)`: a close-on-exec copy of `fd` at the lowest free number
/// from `lowest` up.
///
/// ```
/// use linux_raw_sys::general::FD_CLOEXEC;
/// use rawclone::sys;
/// let (r, w) = sys::pipe()?;
/// let copy = sys::dup_at_least(w.as_fd(), 100)?;
/// assert!(copy.as_raw() >= 100);
/// assert_eq!(sys::fd_flags(copy.as_raw())?, FD_CLOEXEC);
/// sys::write(copy.as_fd(), b"x")?; // the same pipe
/// assert_eq!(sys::read(r.as_fd(), &mut [0; 1])?, 1);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("fcntl", "F_DUPFD_CLOEXEC"))]
pub fn dup_at_least(fd: BorrowedFd<'_>, lowest: i32) -> Result<Fd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC touches no memory; the new number is free.
    let new = unsafe {
        syscall3(
            Sysno::fcntl,
            fd.as_raw() as usize,
            k::F_DUPFD_CLOEXEC as usize,
            lowest as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(new as i32) })
}

/// `dup3(from, to, 0)`: make descriptor number `to` a copy of `from`, without close-on-exec,
/// closing what `to` named before. EINVAL if they are equal (use [`set_fd_flags`] then).
///
/// ```
/// use rawclone::sys;
/// let (r, w) = sys::pipe()?;
/// let (r2, _w2) = sys::pipe()?;
/// // SAFETY: `r2` owns its number; from now on it names `r`'s pipe, and still owns it.
/// unsafe { sys::dup3(r.as_fd(), r2.as_raw())? };
/// sys::write(w.as_fd(), b"x")?;
/// assert_eq!(sys::read(r2.as_fd(), &mut [0; 1])?, 1);
/// assert_eq!(sys::fd_flags(r2.as_raw())?, 0); // no close-on-exec
/// # Ok::<(), rawclone::Errno>(())
/// ```
///
/// # Safety
/// As for [`close`] on `to`: the caller must own whatever `to` names (or nothing must), since
/// any owner would go on using the number for another file.
pub unsafe fn dup3(from: BorrowedFd<'_>, to: i32) -> Result<(), Errno> {
    // SAFETY: dup3 touches no memory; the caller owns `to`.
    unsafe { syscall3(Sysno::dup3, from.as_raw() as usize, to as usize, 0) }.map(drop)
}

/// `openat(AT_FDCWD, path, flags, mode)` exactly as given: no `O_CLOEXEC` is added (compare
/// [`open`]), for a descriptor meant to survive `execve`.
///
/// ```
/// use linux_raw_sys::general::{O_CREAT, O_EXCL, O_WRONLY};
/// use rawclone::sys;
/// let path = std::ffi::CString::new(format!("/tmp/rawclone-doc-open-{}", sys::getpid())).unwrap();
/// let fd = sys::open_mode(&path, O_CREAT | O_EXCL | O_WRONLY, 0o600)?;
/// assert_eq!(sys::fd_flags(fd.as_raw())?, 0); // no O_CLOEXEC added
/// assert_eq!(sys::write(fd.as_fd(), b"hi")?, 2);
/// std::fs::remove_file(path.to_str().unwrap()).unwrap();
/// # Ok::<(), rawclone::Errno>(())
/// ```
pub fn open_mode(path: &CStr, flags: u32, mode: u32) -> Result<Fd, Errno> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    let fd = unsafe {
        syscall4(
            Sysno::openat,
            k::AT_FDCWD as usize,
            path.as_ptr() as usize,
            flags as usize,
            mode as usize,
        )
    }?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { Fd::from_raw(fd as i32) })
}

/// `pipe2(O_CLOEXEC)`: the read end, then the write end.
///
/// ```
/// let (r, w) = rawclone::sys::pipe()?;
/// rawclone::sys::write(w.as_fd(), b"hi")?;
/// let mut buf = [0u8; 2];
/// assert_eq!(rawclone::sys::read(r.as_fd(), &mut buf)?, 2);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("pipe2"))]
pub fn pipe() -> Result<(Fd, Fd), Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    unsafe {
        syscall2(
            Sysno::pipe2,
            fds.as_mut_ptr() as usize,
            k::O_CLOEXEC as usize,
        )
    }?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (Fd::from_raw(fds[0]), Fd::from_raw(fds[1])) })
}

/// `close_range(first, last, CLOSE_RANGE_CLOEXEC)` (Linux 5.11): mark every open descriptor from
/// `first` to `last` close-on-exec; none is closed now. ENOSYS or EINVAL on older kernels.
///
/// ```
/// use linux_raw_sys::general::FD_CLOEXEC;
/// use rawclone::sys;
/// let (r, _w) = sys::pipe()?;
/// sys::clear_cloexec(r.as_fd())?;
/// let n = r.as_raw() as u32;
/// sys::cloexec_range(n, n)?; // Linux 5.11+
/// assert_eq!(sys::fd_flags(r.as_raw())?, FD_CLOEXEC);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("close_range"))]
pub fn cloexec_range(first: u32, last: u32) -> Result<(), Errno> {
    /// `CLOSE_RANGE_CLOEXEC` (include/uapi/linux/close_range.h).
    const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;
    // SAFETY: marking descriptors close-on-exec touches no memory and closes nothing now.
    unsafe {
        syscall3(
            Sysno::close_range,
            first as usize,
            last as usize,
            CLOSE_RANGE_CLOEXEC,
        )
    }
    .map(drop)
}

/// `prlimit64(0, resource, new, NULL)`: set the calling process's soft and hard limit of
/// `resource` (`RLIMIT_*`; `u64::MAX` is `RLIM_INFINITY`).
///
/// ```
/// use linux_raw_sys::general::RLIMIT_NOFILE;
/// use rawclone::{sys, Errno, ExitStatus, Fork};
/// // In a child, so that this process keeps its limit.
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let hard = sys::rlimit(RLIMIT_NOFILE).map_or(0, |(_, hard)| hard);
///         let lowered = sys::set_rlimit(RLIMIT_NOFILE, 3, hard).is_ok();
///         sys::exit_group((lowered && sys::open(c"/", 0) == Err(Errno::EMFILE)) as i32)
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("prlimit64", "setrlimit"))]
pub fn set_rlimit(resource: u32, soft: u64, hard: u64) -> Result<(), Errno> {
    let limit = k::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: the kernel reads one rlimit64 from a live local; no old value is asked for.
    unsafe {
        syscall4(
            Sysno::prlimit64,
            0,
            resource as usize,
            &raw const limit as usize,
            0,
        )
    }
    .map(drop)
}

/// `prlimit64(0, resource, NULL, &old)`: the calling process's soft and hard limit of `resource`.
///
/// ```
/// use linux_raw_sys::general::RLIMIT_NOFILE;
/// let (soft, hard) = rawclone::sys::rlimit(RLIMIT_NOFILE)?;
/// assert!(soft >= 3 && soft <= hard);
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("prlimit64", "getrlimit"))]
pub fn rlimit(resource: u32) -> Result<(u64, u64), Errno> {
    let mut limit = k::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: the kernel writes one rlimit64 into a live local.
    unsafe {
        syscall4(
            Sysno::prlimit64,
            0,
            resource as usize,
            0,
            &raw mut limit as usize,
        )
    }?;
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// `prctl(option, arg2)` for the options that pass no memory.
fn prctl2(option: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the callers pass options whose arguments are plain numbers, no pointers.
    unsafe { syscall5(Sysno::prctl, option as usize, arg, 0, 0, 0) }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: `execve` grants no privilege from now on (set-user-ID bits
/// and file capabilities are ignored), for this thread and everything it creates; irreversible.
///
/// ```
/// use rawclone::{sys, ExitStatus, Fork};
/// // In a child: it cannot be undone.
/// // SAFETY: the child only makes raw syscalls.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let set = sys::set_no_new_privs().is_ok();
///         let mut buf = [0u8; 4096];
///         let n = sys::open(c"/proc/self/status", 0).and_then(|f| sys::read(f.as_fd(), &mut buf));
///         let shown = buf[..n.unwrap_or(0)].windows(13).any(|w| w == b"NoNewPrivs:\t1");
///         sys::exit_group((set && shown) as i32)
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("prctl", "PR_SET_NO_NEW_PRIVS"))]
pub fn set_no_new_privs() -> Result<(), Errno> {
    prctl2(linux_raw_sys::prctl::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// Remove capability `cap` from the calling thread's bounding set for good: `PR_CAPBSET_READ`,
/// then `PR_CAPBSET_DROP` (which needs `CAP_SETPCAP`) if it is there. A capability this kernel
/// does not know is not there.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // In a user namespace of its own the child has CAP_SETPCAP there; this process keeps its set.
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().spawn(&mut stack, || {
///         let dropped = sys::drop_bounding_capability(sys::CAP_SYS_ADMIN).is_ok();
///         (dropped && sys::drop_bounding_capability(sys::CAP_SYS_ADMIN).is_ok()) as i32 // gone: no-op
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("prctl", "PR_CAPBSET_DROP"))]
pub fn drop_bounding_capability(cap: u32) -> Result<(), Errno> {
    use linux_raw_sys::prctl::{PR_CAPBSET_DROP, PR_CAPBSET_READ};
    match prctl2(PR_CAPBSET_READ, cap as usize) {
        Ok(0) | Err(Errno::EINVAL) => Ok(()),
        Ok(_) => prctl2(PR_CAPBSET_DROP, cap as usize).map(drop),
        Err(e) => Err(e),
    }
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap)`: take `cap` out of the ambient set. A
/// kernel without ambient capabilities (before 4.3) has nothing to lower, nor does a capability
/// this kernel does not know (both EINVAL).
///
/// ```
/// use rawclone::sys;
/// // Lowering needs no privilege; on a thread of its own (the ambient set is per thread).
/// std::thread::spawn(|| sys::lower_ambient_capability(sys::CAP_SYS_ADMIN)).join().unwrap()?;
/// # Ok::<(), rawclone::Errno>(())
/// ```
#[doc(alias("prctl", "PR_CAP_AMBIENT"))]
pub fn lower_ambient_capability(cap: u32) -> Result<(), Errno> {
    use linux_raw_sys::prctl::{PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER};
    // SAFETY: numbers only, no memory.
    let r = unsafe {
        syscall5(
            Sysno::prctl,
            PR_CAP_AMBIENT as usize,
            PR_CAP_AMBIENT_LOWER as usize,
            cap as usize,
            0,
            0,
        )
    };
    match r {
        Ok(_) | Err(Errno::EINVAL) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The calling thread's effective, permitted and inheritable sets (bits `CAP_*`), `capget(2)`.
fn capget() -> Result<[k::__user_cap_data_struct; 2], Errno> {
    let mut header = k::__user_cap_header_struct {
        version: k::_LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [k::__user_cap_data_struct {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: version 3 reads the header and writes two data structs, both live locals.
    unsafe {
        syscall2(
            Sysno::capget,
            &raw mut header as usize,
            data.as_mut_ptr() as usize,
        )
    }?;
    Ok(data)
}

/// Clear the capabilities in `caps` (bits `CAP_*`) from the calling thread's effective,
/// permitted and inheritable sets (`capget(2)`, then `capset(2)`); lowering needs no privilege.
///
/// ```
/// use rawclone::{ns::Namespaces, sys, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// const ADMIN: u64 = 1 << sys::CAP_SYS_ADMIN;
/// // SAFETY: the child only makes raw syscalls.
/// let child = unsafe {
///     Namespaces::new().map_root().spawn(&mut stack, || {
///         let had = sys::effective_capabilities().is_ok_and(|c| c & ADMIN != 0);
///         let cleared = sys::clear_capabilities(ADMIN).is_ok();
///         (had && cleared && sys::effective_capabilities().is_ok_and(|c| c & ADMIN == 0)) as i32
///     })?
/// };
/// assert_eq!(child.wait()?, ExitStatus::Exited(1));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("capset"))]
pub fn clear_capabilities(caps: u64) -> Result<(), Errno> {
    let mut data = capget()?;
    for (word, half) in data.iter_mut().enumerate() {
        let keep = !((caps >> (32 * word)) as u32);
        half.effective &= keep;
        half.permitted &= keep;
        half.inheritable &= keep;
    }
    let mut header = k::__user_cap_header_struct {
        version: k::_LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: version 3 reads the header and two data structs, both live locals.
    unsafe {
        syscall2(
            Sysno::capset,
            &raw mut header as usize,
            data.as_ptr() as usize,
        )
    }
    .map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: install the classic BPF `filter` on the
/// calling thread; without [`set_no_new_privs`] first the kernel wants `CAP_SYS_ADMIN` (EACCES).
/// Returns what the kernel returns (a listener descriptor with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`, else 0). See [`crate::seccomp`].
///
/// ```
/// use core::mem::offset_of;
/// use rawclone::seccomp::*;
/// use rawclone::{sys, ExitStatus, Fork};
/// let mut deny = Filter::<5>::new(); // getppid fails with EPERM; a real filter checks `arch` first
/// deny.stmt(BPF_LD | BPF_W | BPF_ABS, offset_of!(SeccompData, nr) as u32)?
///     .jump(BPF_JMP | BPF_JEQ | BPF_K, Sysno::getppid.id() as u32, 0, 1)?
///     .stmt(BPF_RET | BPF_K, ret_errno(Errno::EPERM))?
///     .stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
/// // SAFETY: the child only makes raw syscalls; the filter is its own.
/// match unsafe { rawclone::fork()? } {
///     Fork::Child => {
///         let on = sys::set_no_new_privs().and_then(|()| sys::seccomp_set_filter(deny.as_slice(), 0));
///         sys::exit_group((on.is_ok() && sys::getppid() == 0) as i32) // getppid reads 0 on error
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[doc(alias("seccomp"))]
pub fn seccomp_set_filter(
    filter: &[crate::seccomp::SockFilter],
    flags: u32,
) -> Result<usize, Errno> {
    let prog = linux_raw_sys::ptrace::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| Errno::EINVAL)?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `filter.len()` instructions that outlive the call; the kernel
    // copies them and writes nothing.
    unsafe {
        syscall3(
            Sysno::seccomp,
            linux_raw_sys::ptrace::SECCOMP_SET_MODE_FILTER as usize,
            flags as usize,
            &raw const prog as usize,
        )
    }
}

/// With the `std` feature: [`Fd`] and [`BorrowedFd`] convert to and from `std::os::fd`'s types,
/// so a pidfd or a socket of rawclone's goes to std, rustix or an async reactor as it is.
///
/// The inherent [`Fd::as_fd`] (which returns rawclone's [`BorrowedFd`]) wins over the
/// `AsFd` trait's method in `fd.as_fd()`; generic code bound by `AsFd` gets std's.
#[cfg(feature = "std")]
mod std_fd {
    use super::{BorrowedFd, Fd};
    use std::os::fd::{self, AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

    impl AsFd for Fd {
        fn as_fd(&self) -> fd::BorrowedFd<'_> {
            // SAFETY: `self` owns the descriptor and keeps it open for the borrow.
            unsafe { fd::BorrowedFd::borrow_raw(self.0) }
        }
    }

    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0
        }
    }

    impl IntoRawFd for Fd {
        fn into_raw_fd(self) -> RawFd {
            self.into_raw()
        }
    }

    impl FromRawFd for Fd {
        /// # Safety
        /// As [`Fd::from_raw`]: `fd` is open and nothing else closes it.
        unsafe fn from_raw_fd(fd: RawFd) -> Fd {
            // SAFETY: forwarded from the caller.
            unsafe { Fd::from_raw(fd) }
        }
    }

    impl From<Fd> for OwnedFd {
        fn from(fd: Fd) -> OwnedFd {
            // SAFETY: the descriptor was owned by `fd`, which gives it up here.
            unsafe { OwnedFd::from_raw_fd(fd.into_raw()) }
        }
    }

    impl From<OwnedFd> for Fd {
        fn from(fd: OwnedFd) -> Fd {
            // SAFETY: the descriptor was owned by `fd`, which gives it up here.
            unsafe { Fd::from_raw(fd.into_raw_fd()) }
        }
    }

    impl<'fd> From<BorrowedFd<'fd>> for fd::BorrowedFd<'fd> {
        fn from(fd: BorrowedFd<'fd>) -> fd::BorrowedFd<'fd> {
            // SAFETY: `fd` is open for 'fd, which the returned borrow keeps.
            unsafe { fd::BorrowedFd::borrow_raw(fd.as_raw()) }
        }
    }

    impl<'fd> From<fd::BorrowedFd<'fd>> for BorrowedFd<'fd> {
        fn from(fd: fd::BorrowedFd<'fd>) -> BorrowedFd<'fd> {
            // SAFETY: `fd` is open for 'fd, which the returned borrow keeps.
            unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }
        }
    }

    impl AsFd for BorrowedFd<'_> {
        fn as_fd(&self) -> fd::BorrowedFd<'_> {
            (*self).into()
        }
    }

    impl AsRawFd for BorrowedFd<'_> {
        fn as_raw_fd(&self) -> RawFd {
            self.fd
        }
    }
}
