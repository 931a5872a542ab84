//! Handles to created tasks, and how each is joined.
//!
//! - A [`Child`] (any task outside the caller's thread group) is joined with `waitid(2)`, through
//!   its pidfd when it has one. Dropping an unjoined `Child` kills it with SIGKILL and reaps it, so
//!   no zombie outlives its handle; a memory-sharing child is gone before its stack is released.
//!
//!   A handle never signals a process that may not be its child any more. rawclone asks the
//!   kernel for a pidfd on every child it can (Linux 5.2+), and a pidfd names one process for
//!   good: a signal through it reaches that process or nothing. Without a pidfd, a signal by pid
//!   is sent only after `waitid(WNOWAIT)` showed the pid to be this process's unreaped child; an
//!   `ECHILD` there (the child was reaped elsewhere, by a `waitid(P_ALL)` or because SIGCHLD is
//!   ignored) means "not ours any more", never "kill it". One window remains on such kernels:
//!   with SIGCHLD ignored, a child that exits between that check and the `kill` is reaped at
//!   once and its pid could be reused in between.
//! - A [`Thread`] is joined by waiting on its `CLONE_CHILD_CLEARTID` word; dropping an unjoined
//!   `Thread` joins it (a single thread cannot be killed without killing the whole process).

use crate::error::{Error, ExitStatus, Result};
use crate::flags::CloneFlags;
use crate::signal::Signal;
use crate::sync::{self, Gate};
use crate::sys::{self, Deadline, Fd, Pid, WaitId, WaitInfo};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// How the child `waitid(2)` reported on ended.
fn exit_status(info: &WaitInfo) -> ExitStatus {
    let signal = |dumped| ExitStatus::Signaled {
        signal: Signal::new(info.status as u32).unwrap_or(Signal::SIGKILL),
        core_dumped: dumped,
    };
    match info.code as u32 {
        k::CLD_KILLED => signal(false),
        k::CLD_DUMPED => signal(true),
        _ => ExitStatus::Exited(info.status),
    }
}

/// A child process: its pid, its pidfd if asked for, and the borrow of the stack it may run on.
///
/// Dropping a handle that was not waited for kills the child (through its pidfd, only while it is
/// provably still this process's child) and reaps it: no zombie is left behind.
///
/// ```
/// use rawclone::{vfork_exec, ExitStatus, Signal};
/// use std::time::Duration;
/// let mut child = vfork_exec(c"/bin/sleep", &[c"sleep", c"10"], &[])?;
/// assert_eq!(child.wait_timeout(Duration::from_millis(50))?, None); // still sleeping
/// child.kill()?;
/// let status = child.wait()?;
/// assert_eq!(status, ExitStatus::Signaled { signal: Signal::SIGKILL, core_dumped: false });
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Debug)]
pub struct Child<'s> {
    pid: Pid,
    pidfd: Option<Fd>,
    gate: Option<Gate>,
    flags: CloneFlags,
    reaped: bool,
    _stack: PhantomData<&'s mut [u8]>,
}

impl Child<'_> {
    pub(crate) fn new(pid: Pid, pidfd: Option<Fd>, gate: Option<Gate>, flags: CloneFlags) -> Self {
        Child {
            pid,
            pidfd,
            gate,
            flags,
            reaped: false,
            _stack: PhantomData,
        }
    }

    /// The same child, no longer tied to a stack borrow: for a child that is known to have left
    /// its stack (it exec'd, or never shared memory).
    pub(crate) fn unborrow(mut self) -> Child<'static> {
        let detached = Child::new(self.pid, self.pidfd.take(), self.gate.take(), self.flags);
        self.reaped = true; // ownership of the reap moved to `detached`
        detached
    }

    /// Give up the handle without signalling or waiting: the pid and the raw pidfd (still open,
    /// now the caller's), for a child that is reaped elsewhere.
    pub(crate) fn into_parts(mut self) -> (Pid, Option<i32>) {
        self.reaped = true;
        (self.pid, self.pidfd.take().map(Fd::into_raw))
    }

    /// The child's pid, as the parent sees it.
    ///
    /// ```
    /// use rawclone::{Fork, fork, sys};
    /// // SAFETY: the child only exits, with a raw syscall.
    /// match unsafe { fork()? } {
    ///     Fork::Child => sys::exit_group(0),
    ///     Fork::Parent(child) => {
    ///         assert!(child.pid() > 0 && child.pid() != sys::getpid());
    ///         assert!(child.wait()?.success());
    ///     }
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The child's pid as std's `Child::id` gives it (a `u32`; the same number as [`pid`]).
    ///
    /// [`pid`]: Child::pid
    ///
    /// ```
    /// // SAFETY: the child only exits.
    /// if let rawclone::Fork::Parent(child) = unsafe { rawclone::fork()? } {
    ///     assert_eq!(child.id(), child.pid() as u32);
    ///     child.wait()?;
    /// } else {
    ///     rawclone::sys::exit_group(0);
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The child's pidfd: rawclone asks for one on every child process the kernel can give one
    /// (`None` before Linux 5.2, under emulators that refuse `CLONE_PIDFD`, for `CLONE_PARENT`
    /// children, and on legacy clone beside `CLONE_PARENT_SETTID`, which takes its slot).
    ///
    /// ```
    /// use rawclone::{Fork, fork, sys};
    /// // SAFETY: the child only exits, with a raw syscall.
    /// match unsafe { fork()? } {
    ///     Fork::Child => sys::exit_group(3),
    ///     Fork::Parent(child) => {
    ///         if let Some(fd) = child.pidfd() {
    ///             // A pidfd turns readable once its process has ended.
    ///             assert_eq!(sys::poll_readable(fd.as_fd()), Ok(()));
    ///         }
    ///         assert_eq!(child.wait()?.code(), Some(3));
    ///     }
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn pidfd(&self) -> Option<&Fd> {
        self.pidfd.as_ref()
    }

    /// The flags the child was created with.
    ///
    /// ```
    /// use rawclone::{Builder, CloneFlags, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { Builder::new().flags(CloneFlags::FS).spawn(&mut stack, || 0)? };
    /// assert!(child.flags().contains(CloneFlags::FS));
    /// assert!(!child.flags().contains(CloneFlags::VM));
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn flags(&self) -> CloneFlags {
        self.flags
    }

    /// Let a gated child run its closure (see [`crate::Builder::gated`]).
    ///
    /// ```
    /// use rawclone::{Builder, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let mut child = unsafe { Builder::new().gated().spawn(&mut stack, || 5)? };
    /// assert_eq!(child.try_wait()?, None); // held at its gate
    /// child.release()?;
    /// assert_eq!(child.wait()?.code(), Some(5));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn release(&mut self) -> Result<()> {
        match self.gate.take() {
            Some(gate) => gate.open(),
            None => Ok(()),
        }
    }

    /// Send `sig`: through the pidfd with `pidfd_send_signal(2)` when there is one, else with
    /// `kill(2)`, and then only once `waitid(WNOWAIT)` showed the pid to be still this process's
    /// unreaped child (see the module docs). A child that is gone, or no longer ours, gets no
    /// signal: the answer is `ESRCH` from `pidfd_send_signal`, or `ECHILD` from `waitid`.
    ///
    /// ```
    /// use rawclone::{Fork, Signal, fork, sys};
    /// // SAFETY: the child only sleeps, with raw syscalls.
    /// match unsafe { fork()? } {
    ///     Fork::Child => loop {
    ///         let _ = sys::sleep_ms(1000);
    ///     },
    ///     Fork::Parent(child) => {
    ///         child.signal(Signal::SIGTERM)?;
    ///         assert_eq!(child.wait()?.signal(), Some(Signal::SIGTERM));
    ///     }
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn signal(&self, sig: Signal) -> Result<()> {
        match &self.pidfd {
            Some(fd) => {
                sys::pidfd_send_signal(fd, sig).map_err(|e| Error::sys("pidfd_send_signal", e))
            }
            None => {
                let still_ours = k::WEXITED | k::WSTOPPED | k::WCONTINUED;
                self.waitid(k::WNOHANG | k::WNOWAIT | still_ours)?;
                sys::kill(self.pid, sig).map_err(|e| Error::sys("kill", e))
            }
        }
    }

    /// Send SIGKILL, as std's `Child::kill`: [`Child::signal`] with [`Signal::SIGKILL`], so
    /// through the pidfd when there is one, and never to a pid that may no longer be this
    /// child. Reap it afterwards with [`Child::wait`].
    ///
    /// ```
    /// use rawclone::{Fork, Signal, fork, sys};
    /// // SAFETY: the child only sleeps, with raw syscalls.
    /// match unsafe { fork()? } {
    ///     Fork::Child => loop {
    ///         let _ = sys::sleep_ms(1000);
    ///     },
    ///     Fork::Parent(child) => {
    ///         child.kill()?;
    ///         assert_eq!(child.wait()?.signal(), Some(Signal::SIGKILL));
    ///     }
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn kill(&self) -> Result<()> {
        self.signal(Signal::SIGKILL)
    }

    /// Wait at most `timeout` for the child to end: `Some(status)` once it has (and is reaped),
    /// `None` if it still runs when the time is up (the handle stays usable).
    ///
    /// With a pidfd this sleeps in `ppoll(2)` on it until it turns readable, then reaps with
    /// [`Child::try_wait`]. Without one (kernels before 5.2, emulators that refuse
    /// `CLONE_PIDFD`, `CLONE_PARENT` children) nothing can be waited on with a timeout that
    /// cannot name another process, so it polls [`Child::try_wait`] with short sleeps (1 ms,
    /// doubling to 16 ms) until the deadline. The deadline is taken from `CLOCK_MONOTONIC`, so
    /// a signal handler that interrupts the wait does not stretch it.
    ///
    /// ```
    /// use core::time::Duration;
    /// use rawclone::{Fork, fork, sys};
    /// // SAFETY: the child only sleeps, with raw syscalls.
    /// match unsafe { fork()? } {
    ///     Fork::Child => {
    ///         let _ = sys::sleep_ms(50);
    ///         sys::exit_group(7)
    ///     }
    ///     Fork::Parent(mut child) => {
    ///         assert_eq!(child.wait_timeout(Duration::from_millis(1))?, None);
    ///         let status = child.wait_timeout(Duration::from_secs(10))?;
    ///         assert_eq!(status.and_then(|s| s.code()), Some(7));
    ///     }
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Deadline::after(timeout);
        let mut nap = 1;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let Some(left) = deadline.remaining() else {
                return Ok(None);
            };
            match &self.pidfd {
                Some(fd) => match sys::poll_readable_timeout(fd.as_fd(), left) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(Error::sys("ppoll", e)),
                },
                None => {
                    let ms = left.as_millis().clamp(1, nap) as u64;
                    let _ = sys::sleep_ms(ms);
                    nap = (nap * 2).min(16);
                }
            }
        }
    }

    /// `waitid` on this child, through its pidfd where the kernel takes `P_PIDFD`.
    fn waitid(&self, options: u32) -> Result<WaitInfo> {
        let mut id = match &self.pidfd {
            Some(fd) => WaitId::PidFd(fd),
            None => WaitId::Pid(self.pid),
        };
        loop {
            match sys::waitid(id, options | k::__WALL) {
                Err(Errno::EINTR) => continue,
                // P_PIDFD came in Linux 5.4, CLONE_PIDFD in 5.2: wait by pid there.
                Err(Errno::EINVAL) if matches!(id, WaitId::PidFd(_)) => id = WaitId::Pid(self.pid),
                other => return other.map_err(|e| Error::sys("waitid", e)),
            }
        }
    }

    /// Wait for the child to end and reap it.
    ///
    /// `ECHILD` means the child is not this process's to reap (any more): it was reaped
    /// elsewhere (SIGCHLD set to `SIG_IGN`, or a `waitid(P_ALL)`), or this handle was moved to
    /// another process. The child is then not touched, and with a pidfd the wait first lasts
    /// until the child has ended, so that a stack it shares is free when this returns.
    ///
    /// ```
    /// use rawclone::{ExitStatus, Fork, fork, sys};
    /// // SAFETY: the child only exits, with a raw syscall.
    /// match unsafe { fork()? } {
    ///     Fork::Child => sys::exit_group(42),
    ///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(42)),
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn wait(mut self) -> Result<ExitStatus> {
        self.gate = None;
        // Reaped, or not ours to reap: either way the handle is done with the child.
        self.reaped = true;
        self.reap().map(|info| exit_status(&info))
    }

    /// Wait for the child to end and reap it. On ECHILD (not ours to reap), wait until its pidfd
    /// says it has ended instead: without a pidfd there is nothing to wait on that cannot name
    /// a stranger.
    fn reap(&self) -> Result<WaitInfo> {
        let info = self.waitid(k::WEXITED);
        if let (Err(e), Some(fd)) = (&info, &self.pidfd)
            && e.errno() == Some(Errno::ECHILD)
        {
            while let Err(Errno::EINTR) = sys::poll_readable(fd.as_fd()) {}
        }
        info
    }

    /// Reap the child if it has ended (`WNOHANG`).
    ///
    /// ```
    /// use rawclone::{Fork, Signal, fork, sys};
    /// // SAFETY: the child only sleeps, with raw syscalls.
    /// match unsafe { fork()? } {
    ///     Fork::Child => loop {
    ///         let _ = sys::sleep_ms(1000);
    ///     },
    ///     Fork::Parent(mut child) => {
    ///         assert_eq!(child.try_wait()?, None); // still sleeping
    ///         child.kill()?;
    ///         let status = loop {
    ///             if let Some(status) = child.try_wait()? {
    ///                 break status;
    ///             }
    ///             let _ = sys::sleep_ms(1);
    ///         };
    ///         assert_eq!(status.signal(), Some(Signal::SIGKILL));
    ///     }
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        // ECHILD (not ours any more) leaves the handle as it is: its drop sends nothing and, for
        // a child that may share the stack, waits on the pidfd until the child has ended.
        let info = self.waitid(k::WEXITED | k::WNOHANG)?;
        if info.pid == 0 {
            return Ok(None);
        }
        self.reaped = true;
        Ok(Some(exit_status(&info)))
    }
}

impl Drop for Child<'_> {
    fn drop(&mut self) {
        // With CLONE_PARENT the child is our parent's, not ours to kill or reap.
        if self.reaped || self.flags.contains(CloneFlags::PARENT) {
            return;
        }
        self.gate = None;
        // `signal` sends nothing to a pid that is no longer our child.
        let _ = self.signal(Signal::SIGKILL);
        let _ = self.reap();
    }
}

/// The join word and result slot of a thread, at the top of its stack.
#[repr(C, align(64))]
pub(crate) struct ThreadControl {
    /// Set to the tid by `CLONE_PARENT_SETTID` (or non-zero beforehand), zeroed and woken by
    /// `CLONE_CHILD_CLEARTID`.
    word: AtomicU32,
    /// What the thread's closure returned.
    result: UnsafeCell<usize>,
}

impl ThreadControl {
    pub(crate) const fn new() -> Self {
        ThreadControl {
            word: AtomicU32::new(0),
            result: UnsafeCell::new(0),
        }
    }

    /// Make the join word non-zero before the thread exists.
    pub(crate) fn set_word(&self, value: u32) {
        self.word.store(value, Ordering::Relaxed);
    }

    pub(crate) fn word_ptr(&self) -> *mut u32 {
        self.word.as_ptr()
    }

    pub(crate) fn result_ptr(&self) -> *mut usize {
        self.result.get()
    }
}

/// A thread in the caller's thread group, joined through its CLEARTID word.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use rawclone::Stack;
/// let hits = AtomicU32::new(0);
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the thread only touches an atomic it borrows; no allocation, no thread-locals.
/// let thread = unsafe {
///     rawclone::thread(&mut stack, || {
///         hits.fetch_add(1, Ordering::Relaxed);
///         rawclone::sys::gettid() as usize
///     })?
/// };
/// let tid = thread.tid();
/// assert_eq!(thread.join(), tid as usize);
/// assert_eq!(hits.load(Ordering::Relaxed), 1);
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Debug)]
pub struct Thread<'s> {
    tid: Pid,
    ctl: *const ThreadControl,
    pidfd: Option<Fd>,
    joined: bool,
    _stack: PhantomData<&'s mut [u8]>,
}

// SAFETY: the handle only reads the control block, whose word is atomic and whose result slot is
// read after the thread is gone; joining from another thread is as sound as from this one.
unsafe impl Send for Thread<'_> {}

impl Thread<'_> {
    /// # Safety
    /// `ctl` must stay valid until the thread has exited, which the returned handle's stack
    /// borrow guarantees.
    pub(crate) unsafe fn new(tid: Pid, ctl: *const ThreadControl, pidfd: Option<Fd>) -> Self {
        Thread {
            tid,
            ctl,
            pidfd,
            joined: false,
            _stack: PhantomData,
        }
    }

    /// The same thread, no longer tied to a stack borrow.
    ///
    /// # Safety
    /// The caller keeps the thread's stack (and so its control block) alive and unused until the
    /// returned handle is joined or dropped.
    pub(crate) unsafe fn unbind(mut self) -> Thread<'static> {
        self.joined = true; // the wait moves to the returned handle
        Thread {
            tid: self.tid,
            ctl: self.ctl,
            pidfd: self.pidfd.take(),
            joined: false,
            _stack: PhantomData,
        }
    }

    /// The thread's id.
    ///
    /// ```
    /// use rawclone::{Stack, sys, thread};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only makes a raw syscall.
    /// let t = unsafe { thread(&mut stack, || sys::gettid() as usize)? };
    /// let tid = t.tid();
    /// assert_ne!(tid, sys::gettid());
    /// assert_eq!(t.join(), tid as usize);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn tid(&self) -> Pid {
        self.tid
    }

    /// The thread's pidfd, if [`crate::Builder::pidfd`] asked for one (Linux 6.9+).
    ///
    /// ```
    /// use rawclone::{Builder, Errno, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only returns a number.
    /// match unsafe { Builder::thread().pidfd().spawn_thread(&mut stack, || 1) } {
    ///     Ok(t) => {
    ///         assert!(t.pidfd().is_some());
    ///         assert_eq!(t.join(), 1);
    ///     }
    ///     // Before Linux 6.9 the kernel gives no pidfd for a thread.
    ///     Err(e) => assert_eq!(e.errno(), Some(Errno::EINVAL)),
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn pidfd(&self) -> Option<&Fd> {
        self.pidfd.as_ref()
    }

    /// Whether the thread has exited, without waiting: its CLEARTID word is zero (the kernel
    /// clears it as the thread lets go of its memory, so its result is written and its stack
    /// free). Once `true`, [`Thread::join`] returns at once.
    ///
    /// ```
    /// use rawclone::{Stack, thread};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only returns a value.
    /// let t = unsafe { thread(&mut stack, || 9)? };
    /// while !t.is_finished() {
    ///     rawclone::yield_now();
    /// }
    /// assert_eq!(t.join(), 9);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        // SAFETY: the control block lives at least as long as this handle.
        unsafe { &*self.ctl }.word.load(Ordering::Acquire) == 0
    }

    /// Sleep until the thread has exited or `deadline` passed; returns [`Thread::is_finished`].
    pub(crate) fn wait_until(&self, deadline: Deadline) -> bool {
        // SAFETY: the control block lives at least as long as this handle.
        let word = &unsafe { &*self.ctl }.word;
        sync::wait_until_zero_or(word, deadline)
    }

    fn wait(&mut self) -> usize {
        // SAFETY: the control block lives at least as long as this handle.
        let ctl = unsafe { &*self.ctl };
        sync::wait_until_zero(&ctl.word);
        self.joined = true;
        // SAFETY: the word is zero, so the thread has exited and wrote its result before that.
        unsafe { *ctl.result.get() }
    }

    /// Wait for the thread to exit; returns what its closure returned.
    ///
    /// ```
    /// use rawclone::{Stack, thread};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only computes a number.
    /// let t = unsafe { thread(&mut stack, || (1..=10).sum())? };
    /// assert_eq!(t.join(), 55);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn join(mut self) -> usize {
        self.wait()
    }

    /// Wait at most `timeout` for the thread to exit (a futex wait with a timeout on its
    /// CLEARTID word, against a `CLOCK_MONOTONIC` deadline): `Ok` with what its closure
    /// returned, or `Err` with the handle while it still runs. A thread cannot be killed
    /// alone, so dropping the handle still waits for it.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicBool, Ordering};
    /// use core::time::Duration;
    /// use rawclone::{Stack, thread};
    /// static GO: AtomicBool = AtomicBool::new(false);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only spins on an atomic.
    /// let t = unsafe { thread(&mut stack, || { while !GO.load(Ordering::Acquire) {} 1 })? };
    /// let t = t.join_timeout(Duration::from_millis(10)).expect_err("waits for GO");
    /// GO.store(true, Ordering::Release);
    /// assert_eq!(t.join_timeout(Duration::from_secs(10)).ok(), Some(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn join_timeout(mut self, timeout: Duration) -> core::result::Result<usize, Self> {
        if self.wait_until(Deadline::after(timeout)) {
            Ok(self.wait())
        } else {
            Err(self)
        }
    }
}

impl Drop for Thread<'_> {
    fn drop(&mut self) {
        if !self.joined {
            self.wait();
        }
    }
}
