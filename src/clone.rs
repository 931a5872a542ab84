//! The one entry point that creates tasks on a stack of their own: validate, block signals, clone3
//! or the cached fallback to clone, restore the mask.
//!
//! Order of events in [`Builder::spawn`] and [`Builder::spawn_thread`]:
//! 1. the request is checked against [`crate::flags::validate`]: a broken rule costs no syscall;
//! 2. the closure and the caller's signal mask are written to the top of the child's stack (the
//!    child reads nothing of the parent's stack frame, which may be gone by then);
//! 3. the parent holds the mask the child is born with: every signal when the child has steps
//!    to take before its closure (a gate, handlers reset by hand), so no handler of the parent's
//!    runs in a child that is half set up; else the child's own mask, added to the caller's (see
//!    `HeldMask`), so the child sets nothing;
//! 4. `clone3` is tried unless it is known to be missing; an ENOSYS is remembered in an atomic and
//!    the same request goes through legacy `clone`, unless it needs something only clone3 can say;
//! 5. the parent restores its mask; a child born with every signal blocked sets its own in
//!    [`child_main`] before running the closure, after an optional gate and an optional reset of
//!    signal handlers. A child started on the caller's CPU ([`Builder::start_local`]) puts the
//!    caller's affinity back on itself first, before anything else.
//!
//! rawclone adds two flags of its own where the kernel can take them: `CLONE_PIDFD` on every
//! child process, so that its handle signals and waits through a pidfd and never through a pid
//! that may belong to a stranger by then, and `CLONE_CLEAR_SIGHAND` for
//! [`Builder::reset_signal_handlers`] on clone3. A kernel that answers EINVAL to one of them
//! (before 5.2 no pidfds, before 5.5 no CLEAR_SIGHAND, or a seccomp profile that says so) gets
//! the request again without it; that is remembered, and the child then goes without a pidfd or
//! resets its handlers by hand. A child also goes without its pidfd when the caller has no
//! descriptor left for it (EMFILE, ENFILE). A flag the caller asked for is never dropped. Each
//! live child process holds one descriptor in its creator for its pidfd.

use crate::error::{Error, Result};
use crate::flags::{self, CloneFlags, Request, Rule, Syscall};
use crate::signal::{SigSet, Signal};
use crate::stack::{Stack, place_under};
use crate::sync::{Gate, GateChild};
use crate::sys::{self, BorrowedFd, CpuSet, Disposition, Fd, Pid};
use crate::task::{Child, Thread, ThreadControl};
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicU8, Ordering};
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Free stack the child needs below the data rawclone puts at the top, for its entry frame.
///
/// ```
/// use rawclone::{Builder, Error, MIN_CHILD_FRAME, Stack};
/// let mut buf = [0u8; MIN_CHILD_FRAME];
/// let mut stack = Stack::from_buf(&mut buf);
/// // SAFETY: the request is refused before a child exists.
/// let refused = unsafe { Builder::new().spawn(&mut stack, || 0) };
/// assert!(matches!(refused, Err(Error::StackTooSmall { .. })));
/// ```
pub const MIN_CHILD_FRAME: usize = 2048;

const UNKNOWN: u8 = 0;
const PRESENT: u8 = 1;
const MISSING: u8 = 2;
static CLONE3: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Whether the kernel takes the `CLONE_PIDFD` rawclone adds on its own (`MISSING` once refused).
static AUTO_PIDFD: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Whether clone3 takes the `CLONE_CLEAR_SIGHAND` rawclone adds on its own.
static AUTO_CLEAR_SIGHAND: AtomicU8 = AtomicU8::new(UNKNOWN);

/// What this process has learned about `clone3`: `Some(true)` once it worked, `Some(false)` once
/// it answered ENOSYS (old kernel, qemu-user, a seccomp profile), `None` before the first try.
///
/// ```
/// use rawclone::{Builder, Stack, clone3_available};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only returns a number.
/// let child = unsafe { Builder::new().spawn(&mut stack, || 0)? };
/// assert!(child.wait()?.success());
/// // Once a child was made, this process knows which syscall made it.
/// assert!(clone3_available().is_some());
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn clone3_available() -> Option<bool> {
    match CLONE3.load(Ordering::Relaxed) {
        PRESENT => Some(true),
        MISSING => Some(false),
        _ => None,
    }
}

/// Run one clone attempt with rawclone's own `CLONE_PIDFD` (`attempt(true)`) where this kernel
/// is not known to refuse it, and again without it after an EINVAL (then remembered) or when no
/// descriptor is left for it (EMFILE, ENFILE: this once).
pub(crate) fn with_auto_pidfd<T>(
    mut attempt: impl FnMut(bool) -> Result<T, Errno>,
) -> Result<T, Errno> {
    if AUTO_PIDFD.load(Ordering::Relaxed) == MISSING {
        return attempt(false);
    }
    match attempt(true) {
        Err(errno) => match without_own_pidfd(errno) {
            Some(remember) => {
                let result = attempt(false);
                if remember && result.is_ok() {
                    AUTO_PIDFD.store(MISSING, Ordering::Relaxed);
                }
                result
            }
            None => Err(errno),
        },
        ok => ok,
    }
}

/// Whether a refusal of a request carrying rawclone's own `CLONE_PIDFD` means "try again without
/// it": `Some(true)` for EINVAL (a kernel without pidfds, remembered once the retry works),
/// `Some(false)` for EMFILE and ENFILE (no descriptor left: this request only).
fn without_own_pidfd(errno: Errno) -> Option<bool> {
    match errno {
        Errno::EINVAL => Some(true),
        Errno::EMFILE | Errno::ENFILE => Some(false),
        _ => None,
    }
}

/// Everything the child reads after the clone, placed at the top of its own stack.
struct Packet<F> {
    /// The signal mask the child sets before it runs `f` (the caller's, or
    /// [`Builder::child_mask`]'s), or `None` when it was born with it (see [`HeldMask`]).
    mask: Option<SigSet>,
    /// Hold the child until the parent releases it.
    gate: Option<GateChild>,
    /// Reset handled signals to SIG_DFL by hand (legacy clone has no CLONE_CLEAR_SIGHAND).
    reset_handlers: bool,
    /// The caller's CPU affinity, which a child started pinned puts back on itself before its
    /// closure runs.
    affinity: Option<CpuSet>,
    f: F,
}

/// The child side, entered from the arch trampoline on the child's new stack.
///
/// # Safety
/// `packet` must point to a `Packet<F>` whose fields this child alone reads, each once.
unsafe extern "C" fn child_main<F: FnOnce() -> i32>(packet: *mut u8) -> i32 {
    let packet = packet.cast::<Packet<F>>();
    // SAFETY: the parent wrote a Packet<F> there and, for a memory-sharing child, never touches
    // it again; for a copied address space this is the child's own copy. Each field is read
    // once; the closure last, where it is called, so that a large one is copied no more than
    // that call needs.
    let (mask, gate, reset_handlers, affinity) = unsafe {
        (
            ptr::read(&raw const (*packet).mask),
            ptr::read(&raw const (*packet).gate),
            (*packet).reset_handlers,
            (*packet).affinity,
        )
    };
    if let Some(set) = affinity {
        restore_affinity(&set);
    }
    if let Some(gate) = gate
        && !gate.pass()
    {
        // SAFETY: the closure is read nowhere else; dropped here, once, as it will not run.
        unsafe { ptr::drop_in_place(&raw mut (*packet).f) };
        return 127;
    }
    if reset_handlers {
        reset_signal_handlers();
    }
    if let Some(mask) = mask {
        let _ = sys::set_signal_mask(mask);
    }
    // SAFETY: as above: read once, here.
    (unsafe { ptr::read(&raw const (*packet).f) })()
}

/// Set every signal with a handler back to `SIG_DFL`, keeping `SIG_IGN` (what
/// `CLONE_CLEAR_SIGHAND` does in the kernel).
fn reset_signal_handlers() {
    for n in 1..=crate::signal::NSIG {
        let Some(sig) = Signal::new(n) else { continue };
        if let Ok(Disposition::Handler(_)) = sys::signal_disposition(sig) {
            let _ = sys::set_signal_disposition(sig, Disposition::Default);
        }
    }
}

/// Builds a clone request: flags, exit signal, thread pointer and the rest of `clone_args`.
///
/// ```
/// use rawclone::{Builder, CloneFlags, ExitStatus, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // A process on its own stack that shares the working directory with its parent.
/// // SAFETY: the child only returns a number.
/// let child = unsafe { Builder::new().flags(CloneFlags::FS).spawn(&mut stack, || 7)? };
/// assert_eq!(child.wait()?, ExitStatus::Exited(7));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Builder {
    flags: CloneFlags,
    exit_signal: Option<Signal>,
    tls: usize,
    /// The slots for CHILD_SETTID and CHILD_CLEARTID, which share `clone_args`' one child_tid.
    child_settid: *mut u32,
    child_cleartid: *mut u32,
    parent_tid: *mut u32,
    set_tid: *const Pid,
    set_tid_len: usize,
    cgroup: Option<i32>,
    syscall: Option<Syscall>,
    child_mask: Option<SigSet>,
    gated: bool,
    reset_handlers: bool,
    start_local: bool,
    /// Bytes the child's first frames need beyond the closure's own copy ([`Builder::frame_room`]).
    frame_room: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A fork-like request: no flags, exit signal SIGCHLD, clone3 with fallback.
    ///
    /// ```
    /// use rawclone::{Builder, ExitStatus, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { Builder::new().spawn(&mut stack, || 3)? };
    /// assert_eq!(child.wait()?, ExitStatus::Exited(3));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn new() -> Builder {
        Builder {
            flags: CloneFlags::EMPTY,
            exit_signal: Some(Signal::SIGCHLD),
            tls: 0,
            child_settid: ptr::null_mut(),
            child_cleartid: ptr::null_mut(),
            parent_tid: ptr::null_mut(),
            set_tid: ptr::null(),
            set_tid_len: 0,
            cgroup: None,
            syscall: None,
            child_mask: None,
            gated: false,
            reset_handlers: false,
            start_local: false,
            frame_room: 0,
        }
    }

    /// A thread request: [`CloneFlags::THREAD_SET`] and no exit signal.
    ///
    /// ```
    /// use rawclone::{Builder, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only returns a number.
    /// let t = unsafe { Builder::thread().spawn_thread(&mut stack, || 7)? };
    /// assert_eq!(t.join(), 7);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn thread() -> Builder {
        Builder::new()
            .flags(CloneFlags::THREAD_SET)
            .exit_signal(None)
    }

    /// Add `flags` to the request.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use rawclone::{Builder, CloneFlags, Stack};
    /// let seen = AtomicU32::new(0);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // With CLONE_VM the child's store lands in the parent's memory.
    /// // SAFETY: the child only stores to an atomic that outlives it; no allocation, no thread-locals.
    /// let child = unsafe {
    ///     Builder::new().flags(CloneFlags::VM).spawn(&mut stack, || {
    ///         seen.store(1, Ordering::Relaxed);
    ///         0
    ///     })?
    /// };
    /// assert!(child.wait()?.success());
    /// assert_eq!(seen.load(Ordering::Relaxed), 1);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn flags(mut self, flags: CloneFlags) -> Builder {
        self.flags = self.flags.union(flags);
        self
    }

    /// The signal the parent gets when the child ends (`None`: no signal; joins still work).
    ///
    /// ```
    /// use rawclone::{Builder, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // No SIGCHLD when it ends; the handle waits for it all the same.
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { Builder::new().exit_signal(None).spawn(&mut stack, || 4)? };
    /// assert_eq!(child.wait()?.code(), Some(4));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn exit_signal(mut self, sig: Option<Signal>) -> Builder {
        self.exit_signal = sig;
        self
    }

    /// Give the child `tls` as its thread pointer (`CLONE_SETTLS`).
    ///
    /// ```
    /// use rawclone::{Builder, Stack, arch};
    /// let block = [0usize; 8]; // stands in for the thread's own thread control block
    /// let tp = block.as_ptr() as usize;
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only reads its thread pointer (a register, or a raw syscall), never
    /// // thread-local state; `block` outlives it.
    /// let t = unsafe { Builder::thread().tls(tp).spawn_thread(&mut stack, arch::thread_pointer)? };
    /// assert_eq!(t.join(), tp);
    /// assert_ne!(arch::thread_pointer(), tp); // the caller's is untouched
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn tls(mut self, tls: usize) -> Builder {
        self.tls = tls;
        self.flags = self.flags.union(CloneFlags::SETTLS);
        self
    }

    /// Have the kernel store the child's tid at `ptr` in the child's memory
    /// (`CLONE_CHILD_SETTID`). Not available for threads, whose child_tid slot is the join word.
    /// The kernel has one child_tid slot for this and [`Builder::child_cleartid`]: both must
    /// name the same word ([`Rule::OneChildTidSlot`]).
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use rawclone::{Builder, CloneFlags, Stack};
    /// let word = AtomicU32::new(0);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // With CLONE_VM the child's memory is the caller's, so the caller sees the store.
    /// // SAFETY: the child only returns a number; `word` outlives it.
    /// let child = unsafe {
    ///     Builder::new().flags(CloneFlags::VM).child_settid(word.as_ptr()).spawn(&mut stack, || 0)?
    /// };
    /// let pid = child.pid();
    /// assert!(child.wait()?.success());
    /// assert_eq!(word.load(Ordering::Relaxed), pid as u32);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn child_settid(mut self, ptr: *mut u32) -> Builder {
        self.child_settid = ptr;
        self.flags = self.flags.union(CloneFlags::CHILD_SETTID);
        self
    }

    /// Have the kernel zero the word at `ptr` and futex-wake it when the child's memory is
    /// released at its exit (`CLONE_CHILD_CLEARTID`): a join that works from any task sharing
    /// that memory, as threads are joined. Not available for threads (their join word).
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use rawclone::{Builder, CloneFlags, Stack};
    /// let word = AtomicU32::new(u32::MAX);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number; `word` outlives it.
    /// let child = unsafe {
    ///     Builder::new().flags(CloneFlags::VM).child_cleartid(word.as_ptr()).spawn(&mut stack, || 0)?
    /// };
    /// assert!(child.wait()?.success());
    /// assert_eq!(word.load(Ordering::Relaxed), 0); // zeroed as the child let go of the memory
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn child_cleartid(mut self, ptr: *mut u32) -> Builder {
        self.child_cleartid = ptr;
        self.flags = self.flags.union(CloneFlags::CHILD_CLEARTID);
        self
    }

    /// The one child_tid slot: whichever setter gave one (they must agree).
    fn child_tid(&self) -> *mut u32 {
        if self.child_settid.is_null() {
            self.child_cleartid
        } else {
            self.child_settid
        }
    }

    /// Have the kernel store the child's tid at `ptr` in the caller's memory before clone
    /// returns (`CLONE_PARENT_SETTID`). On legacy clone this slot carries the pidfd, so there the
    /// two exclude each other ([`Rule::PidfdExcludesParentSettid`]) and rawclone's own pidfd is
    /// left out.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use rawclone::{Builder, Stack};
    /// let word = AtomicU32::new(0);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number; `word` outlives the call.
    /// let child = unsafe { Builder::new().parent_settid(word.as_ptr()).spawn(&mut stack, || 0)? };
    /// assert_eq!(word.load(Ordering::Relaxed), child.pid() as u32); // set before spawn returned
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn parent_settid(mut self, ptr: *mut u32) -> Builder {
        self.parent_tid = ptr;
        self.flags = self.flags.union(CloneFlags::PARENT_SETTID);
        self
    }

    /// Ask the kernel for these pids, one per pid namespace level from the innermost out
    /// (clone3's `set_tid`, Linux 5.5+; needs CAP_SYS_ADMIN in the user namespace owning each
    /// pid namespace). Legacy clone cannot carry it: [`Rule::NeedsClone3`].
    ///
    /// ```
    /// use rawclone::{Builder, CloneFlags, Stack, sys};
    /// // The caller owns a user namespace it creates, and so the pid namespace made with it: it may
    /// // choose the child's pid there (the first one must be 1).
    /// let tids = [1];
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let builder = Builder::new().flags(CloneFlags::NEWUSER | CloneFlags::NEWPID).set_tid(&tids);
    /// // SAFETY: the child only makes a raw syscall; `tids` outlives it.
    /// let child = unsafe { builder.spawn(&mut stack, || sys::getpid())? };
    /// assert_eq!(child.wait()?.code(), Some(1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn set_tid(mut self, tids: &[Pid]) -> Builder {
        self.set_tid = tids.as_ptr();
        self.set_tid_len = tids.len();
        self
    }

    /// Start the child in the cgroup `dir` names, a directory of cgroup v2 opened with
    /// `O_DIRECTORY` or `O_PATH` (`CLONE_INTO_CGROUP`, clone3 only, Linux 5.7+).
    ///
    /// ```no_run
    /// // no_run: needs a cgroup v2 directory the caller may move tasks into.
    /// use linux_raw_sys::general::{O_DIRECTORY, O_RDONLY};
    /// use rawclone::{Builder, Stack, sys};
    /// let dir = sys::open(c"/sys/fs/cgroup/mine", O_RDONLY | O_DIRECTORY).expect("cgroup directory");
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number; `dir` stays open during the call.
    /// let child = unsafe { Builder::new().cgroup(dir.as_fd()).spawn(&mut stack, || 0)? };
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn cgroup(mut self, dir: BorrowedFd<'_>) -> Builder {
        self.cgroup = Some(dir.as_raw());
        self.flags = self.flags.union(CloneFlags::INTO_CGROUP);
        self
    }

    /// Ask for a pidfd (`CLONE_PIDFD`) and fail if the kernel has none. rawclone asks for one on
    /// every child it can anyway; this makes it part of the request.
    ///
    /// ```
    /// use rawclone::{Builder, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { Builder::new().pidfd().spawn(&mut stack, || 0)? };
    /// assert!(child.pidfd().is_some());
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn pidfd(self) -> Builder {
        self.flags(CloneFlags::PIDFD)
    }

    /// Force one syscall instead of clone3-with-fallback (to test the fallback, or to avoid clone3).
    ///
    /// ```
    /// use rawclone::{Builder, Stack, Syscall};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { Builder::new().syscall(Syscall::Clone).spawn(&mut stack, || 2)? };
    /// assert_eq!(child.wait()?.code(), Some(2));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn syscall(mut self, syscall: Syscall) -> Builder {
        self.syscall = Some(syscall);
        self
    }

    /// Run the child's closure with `mask` as its signal mask instead of the caller's (which it
    /// inherits otherwise). No signal that `mask` blocks reaches the child: it is born with
    /// `mask` (added to the caller's mask for the moment of the clone, which costs the child no
    /// syscall when the caller's blocks nothing more), or with every signal blocked until it
    /// sets `mask` first thing.
    ///
    /// ```
    /// use rawclone::{Builder, SigSet, Signal, Stack, sys};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// let mask = SigSet::EMPTY.with(Signal::SIGUSR1);
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     Builder::new().child_mask(mask).spawn(&mut stack, || match sys::signal_mask() {
    ///         Ok(set) if set == mask => 0,
    ///         _ => 1,
    ///     })?
    /// };
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn child_mask(mut self, mask: SigSet) -> Builder {
        self.child_mask = Some(mask);
        self
    }

    /// Hold the child before its closure until [`Child::release`]; the parent can prepare things
    /// (id maps, cgroups) meanwhile. Needs a child with its own fd table.
    ///
    /// ```
    /// use rawclone::{Builder, Stack};
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let mut child = unsafe { Builder::new().gated().spawn(&mut stack, || 6)? };
    /// // The child exists but waits: its pid can be set up from here (id maps, cgroups).
    /// assert!(child.pid() > 0);
    /// assert_eq!(child.try_wait()?, None);
    /// child.release()?;
    /// assert_eq!(child.wait()?.code(), Some(6));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn gated(mut self) -> Builder {
        self.gated = true;
        self
    }

    /// Reset every signal handler to `SIG_DFL` in the child before its mask is restored
    /// (`CLONE_CLEAR_SIGHAND` on clone3, one `rt_sigaction` per signal on clone), so a signal can
    /// never run a parent's handler in a child that shares the parent's memory.
    ///
    /// ```
    /// use rawclone::sys::{self, Disposition};
    /// use rawclone::{Builder, Signal, Stack};
    /// extern "C" fn on_usr2(_: i32) {}
    /// // SAFETY: the handler does nothing.
    /// let old = unsafe { sys::set_signal_handler(Signal::SIGUSR2, on_usr2) }.unwrap();
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only makes raw syscalls.
    /// let child = unsafe {
    ///     Builder::new().reset_signal_handlers().spawn(&mut stack, || {
    ///         match sys::signal_disposition(Signal::SIGUSR2) {
    ///             Ok(Disposition::Default) => 0,
    ///             _ => 1,
    ///         }
    ///     })?
    /// };
    /// assert!(child.wait()?.success());
    /// sys::set_signal_disposition(Signal::SIGUSR2, old).unwrap();
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn reset_signal_handlers(mut self) -> Builder {
        self.reset_handlers = true;
        self
    }

    /// Start the child on the CPU the caller runs on: the caller pins itself to that CPU for the
    /// clone (so the kernel places the child there), then puts its own affinity back, and the
    /// child puts the same affinity back on itself first, before its closure runs. Its closure
    /// never sees the pin, and an affinity it sets for itself is its own: rawclone never writes
    /// the child's mask from outside it. (Leaving that to the caller instead, for a child still
    /// running when it looks, would save a short child its `sched_setaffinity(2)`, but the
    /// caller's write could land just after the child had set an affinity of its own, and undo
    /// it.)
    ///
    /// A new task is otherwise placed on an idle CPU, and waking an idle CPU is the largest single
    /// cost of a short task (about 15 µs of a 40 µs thread spawn and join on a 2-vCPU VM). Worth
    /// it when the caller soon waits for the child; a long-running child is moved to an idle CPU
    /// by the load balancer a little later than it would otherwise start there. A caller that
    /// may run on one CPU only is left as it is (its child starts there anyway). Best effort:
    /// if the affinity cannot be read or set, the child starts wherever the kernel puts it.
    /// Another thread that changes this thread's affinity during the spawn races with it. The
    /// affinity is put back as `sched_getaffinity(2)` read it, which since Linux 6.2 also
    /// becomes the thread's requested mask: CPUs that a cpuset adds later are then not used by
    /// it until its affinity is set again.
    ///
    /// ```
    /// use rawclone::{Builder, Stack, sys};
    /// let before = sys::affinity().unwrap();
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only returns a number.
    /// let child = unsafe { Builder::new().start_local().spawn(&mut stack, || 0)? };
    /// assert_eq!(sys::affinity().unwrap(), before); // the caller's affinity is back
    /// assert!(child.wait()?.success());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn start_local(mut self) -> Builder {
        self.start_local = true;
        self
    }

    /// Ask `bytes` more of the stack, for the child's first frames: a spawner's task closure
    /// waits in a slot of its own above the stack, and is copied into those frames.
    pub(crate) const fn frame_room(mut self, bytes: usize) -> Builder {
        self.frame_room = bytes;
        self
    }

    /// rawclone's own rules for a builder, on top of the kernel's: what the handle could not
    /// join, or what the child could not honour.
    fn check_own_rules(&self, thread: bool) -> Result<()> {
        use CloneFlags as F;
        let f = self.flags;
        let child_tid_flags = f.intersects(F::CHILD_SETTID | F::CHILD_CLEARTID);
        let (settid, cleartid) = (self.child_settid, self.child_cleartid);
        let broken = if f.contains(F::THREAD) != thread {
            Some(Rule::ThreadNeedsThreadSpawn)
        } else if thread && child_tid_flags {
            Some(Rule::ThreadOwnsChildTid)
        } else if !settid.is_null() && !cleartid.is_null() && settid != cleartid {
            Some(Rule::OneChildTidSlot)
        } else if (f.contains(F::CHILD_SETTID) && settid.is_null())
            || (f.contains(F::CHILD_CLEARTID) && cleartid.is_null())
            || (f.contains(F::PARENT_SETTID) && self.parent_tid.is_null())
            || (f.contains(F::INTO_CGROUP) && self.cgroup.is_none())
        {
            Some(Rule::FlagNeedsPointer)
        } else if f.contains(F::VM | F::PARENT) && !f.contains(F::CHILD_CLEARTID) {
            Some(Rule::ParentExcludesVm)
        } else if self.gated && f.contains(F::FILES) {
            Some(Rule::GateNeedsOwnFiles)
        } else if self.gated && f.contains(F::VFORK) {
            Some(Rule::GateExcludesVfork)
        } else if self.reset_handlers && f.contains(F::SIGHAND) {
            Some(Rule::ClearSighandExcludesSighand)
        } else {
            None
        };
        broken.map_or(Ok(()), |rule| Err(Error::Rule(rule, f)))
    }

    /// Create a child process (anything but `CLONE_THREAD`) running `f` on `stack`; its return
    /// value is the exit status.
    ///
    /// The returned [`Child`] holds a pidfd whenever the kernel can give one (see
    /// [`Child::pidfd`]).
    ///
    /// `f` is moved into the child. Without `CLONE_VM` the child runs its own copy, and the
    /// parent drops its copy as after `fork`, unless `CLONE_FILES` is set: then the drop could
    /// close descriptors the child still uses, so the parent's copy is forgotten instead.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use rawclone::{Builder, Stack};
    /// let count = AtomicU32::new(0);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the child only touches its own copy of an atomic.
    /// let child = unsafe {
    ///     Builder::new().spawn(&mut stack, || count.fetch_add(1, Ordering::Relaxed) as i32 + 1)?
    /// };
    /// assert_eq!(child.wait()?.code(), Some(1));
    /// assert_eq!(count.load(Ordering::Relaxed), 0); // without CLONE_VM it changed its own copy
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    ///
    /// # Safety
    /// If the flags share memory (`CLONE_VM`), `f` runs concurrently with the caller in the same
    /// address space and with the caller's thread pointer (unless [`Builder::tls`] gave another):
    /// it must not use libc, `thread_local!`, `println!`, allocation, or anything else that reads
    /// thread-local state, and must not panic; its captures must stay valid and be safe to use
    /// from another task until the child is joined (the `F: 's` bound ties them to the handle).
    /// Without `CLONE_VM` the child is a copy of a possibly multi-threaded process and the same
    /// async-signal-safety limits apply, as after `fork`. The returned handle must not be leaked
    /// (`mem::forget`) while the child may still use `stack`. The slots given to
    /// [`Builder::child_settid`], [`Builder::child_cleartid`], [`Builder::parent_settid`] and
    /// [`Builder::set_tid`] must be valid for the kernel's writes (reads, for `set_tid`) from
    /// this call until the child has exited, and the cgroup fd open during the call.
    pub unsafe fn spawn<'s, F>(&self, stack: &'s mut Stack<'_>, f: F) -> Result<Child<'s>>
    where
        F: FnOnce() -> i32 + 's,
    {
        self.check_own_rules(false)?;
        let (gate, child_end, gate_raw) = if self.gated {
            let (gate, child_end, raw) = Gate::new()?;
            (Some(gate), Some(child_end), Some(raw))
        } else {
            (None, None, None)
        };
        let mut pidfd: i32 = -1;
        let raw = RawRequest {
            flags: self.flags,
            ctid: self.child_tid(),
            ptid: self.parent_tid,
            pidfd: &raw mut pidfd,
            auto_pidfd: !self.flags.contains(CloneFlags::PARENT),
            ..self.raw_request()
        };
        // SAFETY: forwarded from this function's contract.
        let (pid, pidfd_asked) = unsafe { self.launch(stack, raw, gate_raw, f)? };
        drop(child_end);
        // SAFETY: with CLONE_PIDFD the kernel stored a fresh descriptor that only we own.
        let pidfd = (pidfd_asked && pidfd >= 0).then(|| unsafe { Fd::from_raw(pidfd) });
        Ok(Child::new(pid, pidfd, gate, self.flags))
    }

    /// Create a thread (flags must include `CLONE_THREAD`) running `f` on `stack`; [`Thread::join`]
    /// returns the value `f` returned. `CLONE_CHILD_CLEARTID` is added, and the join waits on
    /// that word, so [`Builder::child_settid`] and [`Builder::child_cleartid`] cannot be used
    /// for a thread. `CLONE_PARENT_SETTID` on the same word is added too, unless
    /// [`Builder::parent_settid`] gave a slot of its own (which then gets the tid) or
    /// [`Builder::pidfd`] asked for a pidfd (which legacy clone returns through that slot); the
    /// word is then made non-zero beforehand. With [`Builder::pidfd`] the thread's pidfd is in
    /// [`Thread::pidfd`] (Linux 6.9+; older kernels answer EINVAL).
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use rawclone::{Builder, Stack};
    /// let count = AtomicU32::new(0);
    /// let mut stack = Stack::map(64 * 1024)?;
    /// // SAFETY: the thread only touches an atomic that outlives it.
    /// let t = unsafe {
    ///     Builder::thread().spawn_thread(&mut stack, || count.fetch_add(5, Ordering::Relaxed) as usize)?
    /// };
    /// assert_eq!(t.join(), 0);
    /// assert_eq!(count.load(Ordering::Relaxed), 5); // a thread shares the caller's memory
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    ///
    /// # Safety
    /// As for [`Builder::spawn`] with shared memory: `f` runs in this process, concurrently, with
    /// the caller's thread pointer unless [`Builder::tls`] gave another, so it must not touch
    /// thread-local state, libc, or the allocator, and must not panic. A fault in `f` (stack
    /// overflow included) kills the whole process. The handle must not be leaked. Slots given
    /// to the builder are as for [`Builder::spawn`].
    pub unsafe fn spawn_thread<'s, F>(&self, stack: &'s mut Stack<'_>, f: F) -> Result<Thread<'s>>
    where
        F: FnOnce() -> usize + Send + 's,
    {
        self.check_own_rules(true)?;
        // The join word and result slot live at the very top of the stack, which the handle keeps
        // borrowed until the join: they outlive the thread, wherever the handle moves.
        // The control block, 64-byte aligned below the top, must leave the entry frame below it;
        // checked before any address is formed, so an empty or tiny stack cannot wrap around.
        let (base, top) = (stack.base() as usize, stack.top() as usize);
        let ctl = match top.checked_sub(size_of::<ThreadControl>()) {
            Some(ctl) if ctl & !63 >= base.saturating_add(MIN_CHILD_FRAME) => ctl & !63,
            // At least: the block at its alignment and the entry frame (the closure comes on top).
            place => {
                let block = place.map_or(size_of::<ThreadControl>(), |ctl| top - (ctl & !63));
                return Err(Error::StackTooSmall {
                    needed: block + MIN_CHILD_FRAME,
                    usable: stack.size(),
                });
            }
        };
        let ctl = ctl as *mut ThreadControl;
        // SAFETY: `ctl` is aligned and inside the stack, which we borrow exclusively.
        unsafe { ctl.write(ThreadControl::new()) };
        // The join word must be non-zero before the thread can exit. The kernel's
        // CLONE_PARENT_SETTID does it, unless the caller gave a parent_tid slot of its own or asked
        // for a pidfd (which legacy clone returns through that same slot): then it is set here,
        // and CLEARTID still zeroes it at the thread's exit.
        let own_word = self.parent_tid.is_null() && !self.flags.contains(CloneFlags::PIDFD);
        if !own_word {
            // SAFETY: as above; no thread exists yet.
            unsafe { (*ctl).set_word(u32::MAX) };
        }
        let below = ctl as usize - base;
        // SAFETY: the bytes from base up to the control block belong to `stack`.
        let mut below =
            Stack::from_buf(unsafe { core::slice::from_raw_parts_mut(stack.base(), below) });
        // SAFETY: `ctl` stays valid while the handle borrows `stack`.
        let (word, slot) = unsafe { ((*ctl).word_ptr(), (*ctl).result_ptr()) };
        let mut flags = self.flags | CloneFlags::CHILD_CLEARTID;
        if own_word {
            flags |= CloneFlags::PARENT_SETTID;
        }
        let mut pidfd: i32 = -1;
        let raw = RawRequest {
            flags,
            ctid: word,
            ptid: if own_word { word } else { self.parent_tid },
            pidfd: &raw mut pidfd,
            ..self.raw_request()
        };
        let run = move || {
            let value = f();
            // SAFETY: the slot is ours until the kernel clears the join word at our exit.
            unsafe { slot.write(value) };
            0
        };
        // An unoptimised build copies `f` once more, out of `run`, to call it.
        let builder = self.frame_room(self.frame_room.saturating_add(size_of::<F>()));
        // SAFETY: forwarded from this function's contract; the closure is moved onto `below`,
        // which is part of `stack`.
        let (tid, _) = unsafe { builder.launch(&mut below, raw, None, run) }
            .map_err(|e| e.with_reserved_top(top - ctl as usize))?;
        // SAFETY: with CLONE_PIDFD the kernel stored a fresh descriptor that only we own.
        let pidfd = (flags.contains(CloneFlags::PIDFD) && pidfd >= 0)
            .then(|| unsafe { Fd::from_raw(pidfd) });
        // SAFETY: the control block lives until the handle, which borrows `stack`, is joined.
        Ok(unsafe { Thread::new(tid, ctl, pidfd) })
    }

    /// The request's fields that come straight from the builder.
    fn raw_request(&self) -> RawRequest {
        RawRequest {
            flags: self.flags,
            exit_signal: self.exit_signal,
            ctid: ptr::null_mut(),
            ptid: ptr::null_mut(),
            pidfd: ptr::null_mut(),
            auto_pidfd: false,
            tls: self.tls,
            set_tid: self.set_tid,
            set_tid_len: self.set_tid_len,
            cgroup: self.cgroup.unwrap_or(-1),
        }
    }

    /// Validate, place the packet, block signals, clone (clone3 first), restore the mask.
    /// Returns the child's id and whether its pidfd slot was asked for.
    ///
    /// # Safety
    /// See [`Builder::spawn`].
    unsafe fn launch<F: FnOnce() -> i32>(
        &self,
        stack: &mut Stack<'_>,
        raw: RawRequest,
        gate: Option<GateChild>,
        f: F,
    ) -> Result<(Pid, bool)> {
        let (base, top) = (stack.base() as usize, stack.top() as usize);
        // The packet takes `span` bytes at the top (aligned down); the child needs as much
        // again below it, for the closure moved into its first frame, the entry frame under
        // that, and the room asked for. `flags::validate` asks less of `stack_size` and `frame`
        // below, so once this passed it refuses no size.
        let span = top.wrapping_sub(place_under::<Packet<F>>(top) & !15);
        let needed = span
            .saturating_mul(2)
            .saturating_add(MIN_CHILD_FRAME)
            .saturating_add(self.frame_room);
        if stack.size() < needed {
            return Err(Error::StackTooSmall {
                needed,
                usable: stack.size(),
            });
        }
        // Aligned to at least 16, so the child's stack pointer starts right under it.
        let packet = top - span;
        let sp = packet;
        let mut plan = Plan {
            syscall: self.syscall.unwrap_or(match clone3_available() {
                Some(false) => Syscall::Clone,
                _ => Syscall::Clone3,
            }),
            pidfd: raw.auto_pidfd && AUTO_PIDFD.load(Ordering::Relaxed) != MISSING,
            clear_sighand: self.reset_handlers
                && AUTO_CLEAR_SIGHAND.load(Ordering::Relaxed) != MISSING,
        };
        let request = |plan: &Plan| Request {
            flags: plan.flags(&raw),
            exit_signal: raw.exit_signal.map_or(0, |s| u64::from(s.number())),
            stack: base,
            stack_size: sp - base,
            frame: top - sp + MIN_CHILD_FRAME,
            set_tid_len: raw.set_tid_len,
            syscall: plan.syscall,
        };
        // A broken rule names the caller's flags: rawclone's own additions never break one.
        let check = |plan: &Plan| {
            flags::validate(&request(plan)).map_err(|rule| Error::Rule(rule, raw.flags))
        };
        check(&plan)?;

        let mut mask = HeldMask::new(self.child_mask);
        let has_gate = gate.is_some();
        let needs_all = |plan: &Plan| has_gate || plan.resets_by_hand(self.reset_handlers);
        mask.hold(needs_all(&plan))?;
        let affinity = if self.start_local { pin_here() } else { None };
        let packet = packet as *mut Packet<F>;
        // SAFETY: `packet` is aligned, lies inside the stack we borrow exclusively, above `sp`.
        unsafe {
            packet.write(Packet {
                mask: mask.child_sets(),
                gate,
                reset_handlers: false,
                affinity,
                f,
            })
        };

        let entry = child_main::<F> as crate::arch::ChildEntry;
        let mut dropped = None;
        let result = loop {
            // SAFETY: no child has read the packet yet (every earlier attempt created none).
            unsafe { (*packet).reset_handlers = plan.resets_by_hand(self.reset_handlers) };
            // SAFETY: the stack from base to `sp` is free for the child, the packet above it is
            // its argument, and the caller upholds the rules for `f`.
            let result = unsafe { issue(&plan, &raw, base as *mut u8, sp, entry, packet.cast()) };
            // What to try next: clone after clone3's ENOSYS, or the same call without a flag
            // rawclone added on its own and this kernel does not know.
            let next = match result {
                Err(Errno::ENOSYS) if plan.syscall == Syscall::Clone3 && self.syscall.is_none() => {
                    CLONE3.store(MISSING, Ordering::Relaxed);
                    Some(Plan {
                        syscall: Syscall::Clone,
                        ..plan
                    })
                }
                Err(Errno::EINVAL) if plan.clear_sighand && plan.syscall == Syscall::Clone3 => {
                    dropped = Some(&AUTO_CLEAR_SIGHAND);
                    Some(Plan {
                        clear_sighand: false,
                        ..plan
                    })
                }
                Err(errno) if plan.adds_pidfd(&raw) && without_own_pidfd(errno).is_some() => {
                    if without_own_pidfd(errno) == Some(true) {
                        dropped = Some(&AUTO_PIDFD);
                    }
                    Some(Plan {
                        pidfd: false,
                        ..plan
                    })
                }
                _ => None,
            };
            match next {
                Some(next) => match check(&next) {
                    Ok(()) => plan = next,
                    Err(rule) => break Err(rule),
                },
                None => break Ok(result),
            }
            // The next attempt may leave the child steps of its own (handlers reset by hand).
            if let Err(e) = mask.hold(needs_all(&plan)) {
                break Err(e);
            }
            // SAFETY: no child has read the packet yet.
            unsafe { (*packet).mask = mask.child_sets() };
        };
        if let Some(old) = affinity {
            restore_affinity(&old);
        }
        drop(mask); // the caller's mask back
        let result = match result {
            Ok(result) => result,
            Err(rule) => {
                // SAFETY: no child was created, so the packet is still ours to drop.
                unsafe { ptr::drop_in_place(packet) };
                return Err(rule);
            }
        };
        if result.is_ok() {
            if plan.syscall == Syscall::Clone3 {
                CLONE3.store(PRESENT, Ordering::Relaxed);
            }
            // The attempt without the flag worked where the one with it did not: this kernel
            // does not know it.
            if let Some(known) = dropped {
                known.store(MISSING, Ordering::Relaxed);
            }
        }

        match result {
            Ok(pid) if !raw.flags.intersects(CloneFlags::VM | CloneFlags::FILES) => {
                // The child runs its own copy; the parent's is dropped, as after fork.
                // SAFETY: the parent's copy was never read and is dropped once.
                unsafe { ptr::drop_in_place(packet) };
                Ok((pid, plan.asks_pidfd(&raw)))
            }
            // With CLONE_VM the child consumes the one copy; with CLONE_FILES dropping the
            // parent's copy could close descriptors the child uses, so it is forgotten.
            Ok(pid) => Ok((pid, plan.asks_pidfd(&raw))),
            Err(errno) => {
                // SAFETY: no child was created, so the packet is still ours to drop.
                unsafe { ptr::drop_in_place(packet) };
                Err(clone_error(errno, plan.flags(&raw), plan.syscall))
            }
        }
    }
}

/// One attempt at a request: the syscall, and which of rawclone's own flags go with it.
#[derive(Clone, Copy)]
struct Plan {
    syscall: Syscall,
    /// Add `CLONE_PIDFD` where the request allows it.
    pidfd: bool,
    /// Reset handlers with `CLONE_CLEAR_SIGHAND` (clone3 only) rather than by hand.
    clear_sighand: bool,
}

impl Plan {
    /// Whether rawclone's own `CLONE_PIDFD` goes with this attempt: not where the pidfd would
    /// need the parent_tid slot legacy clone gives PARENT_SETTID, nor beside CLONE_DETACHED.
    fn adds_pidfd(&self, raw: &RawRequest) -> bool {
        use CloneFlags as F;
        let slot_taken = self.syscall == Syscall::Clone && raw.flags.contains(F::PARENT_SETTID);
        self.pidfd && !slot_taken && !raw.flags.intersects(F::DETACHED | F::THREAD)
    }

    /// Whether the kernel fills the pidfd slot on this attempt (the caller's flag or ours).
    fn asks_pidfd(&self, raw: &RawRequest) -> bool {
        raw.flags.contains(CloneFlags::PIDFD) || self.adds_pidfd(raw)
    }

    /// The flags the kernel sees: the caller's, and rawclone's own that this attempt adds.
    fn flags(&self, raw: &RawRequest) -> CloneFlags {
        let mut flags = raw.flags;
        if self.adds_pidfd(raw) {
            flags |= CloneFlags::PIDFD;
        }
        if self.clear_sighand && self.syscall == Syscall::Clone3 {
            flags |= CloneFlags::CLEAR_SIGHAND;
        }
        flags
    }

    /// Whether the child must reset its handlers itself: asked for, and not done by the kernel.
    fn resets_by_hand(&self, asked: bool) -> bool {
        asked && !(self.clear_sighand && self.syscall == Syscall::Clone3)
    }
}

/// The signal mask the parent holds across the clone, which the child is born with.
///
/// A child with steps to take before its closure (passing a gate, resetting handlers by hand)
/// is born with every signal blocked and sets its mask after them: no handler of the parent's
/// may run in a child that is half set up. Any other child is born with its own mask where the
/// caller's blocks nothing more ([`Builder::child_mask`] added to the caller's with one
/// `SIG_BLOCK`, or the caller's own, unchanged: no syscall), and sets nothing; a signal it lets
/// through then is one it would let through a moment later anyway.
struct HeldMask {
    /// The mask the child's closure runs with; `None` for the caller's.
    wanted: Option<SigSet>,
    /// The caller's mask, once changed: put back after the clone.
    old: Option<SigSet>,
    /// Whether every signal is blocked now.
    all: bool,
}

impl HeldMask {
    fn new(wanted: Option<SigSet>) -> HeldMask {
        HeldMask {
            wanted,
            old: None,
            all: false,
        }
    }

    /// Hold what the next attempt needs: every signal if `all`, else the child's own mask.
    fn hold(&mut self, all: bool) -> Result<()> {
        let rt_sigprocmask = |e| Error::sys("rt_sigprocmask", e);
        if all && !self.all {
            let before = sys::set_signal_mask(SigSet::FULL).map_err(rt_sigprocmask)?;
            self.old.get_or_insert(before);
            self.all = true;
        } else if let (Some(wanted), None) = (self.wanted, self.old) {
            self.old = Some(sys::block_signals(wanted).map_err(rt_sigprocmask)?);
        }
        Ok(())
    }

    /// The mask the child must set itself: `None` when it is born with it.
    fn child_sets(&self) -> Option<SigSet> {
        match (self.wanted, self.old) {
            // Born with the caller's mask and every wanted signal blocked: more than wanted
            // only if the caller's blocks something the wanted mask does not.
            (Some(wanted), Some(old)) if !self.all => {
                (old.without_all(wanted) != SigSet::EMPTY).then_some(wanted)
            }
            (Some(wanted), _) => Some(wanted),
            // The caller's mask, once every signal was blocked; else born with it.
            (None, old) if self.all => old,
            (None, _) => None,
        }
    }
}

impl Drop for HeldMask {
    /// Put the caller's mask back, if it was changed: after the clone, or on any way out of the
    /// spawn before it.
    fn drop(&mut self) {
        if let Some(old) = self.old {
            let _ = sys::set_signal_mask(old);
        }
    }
}

/// Pin the calling thread to the CPU it runs on; returns the affinity to restore, or `None` if
/// nothing was changed: also when the thread may run on one CPU only, where it already is.
fn pin_here() -> Option<CpuSet> {
    let old = sys::affinity().ok()?;
    if old.count() == 1 {
        return None;
    }
    sys::set_affinity(&CpuSet::only(sys::current_cpu().ok()?)).ok()?;
    Some(old)
}

/// Put back on the calling thread the affinity [`pin_here`] saved. Should the kernel refuse it
/// (a cpuset shrank in between), fall back to every CPU, which the kernel narrows to what the
/// cpuset allows: never leave a thread pinned to one CPU.
fn restore_affinity(set: &CpuSet) {
    if sys::set_affinity(set).is_err() {
        let _ = sys::set_affinity(&CpuSet::ALL);
    }
}

/// The pointers a clone request carries besides its flags.
struct RawRequest {
    flags: CloneFlags,
    exit_signal: Option<Signal>,
    ctid: *mut u32,
    ptid: *mut u32,
    pidfd: *mut i32,
    /// Whether rawclone may add `CLONE_PIDFD` on its own (the kernel then fills `pidfd`).
    auto_pidfd: bool,
    tls: usize,
    set_tid: *const Pid,
    set_tid_len: usize,
    /// The cgroup directory for `CLONE_INTO_CGROUP`, -1 for none.
    cgroup: i32,
}

/// Issue one clone or clone3 call through the arch trampoline.
///
/// # Safety
/// `[base, sp)` must be a free stack for the child and `arg` what `entry` expects.
unsafe fn issue(
    plan: &Plan,
    raw: &RawRequest,
    base: *mut u8,
    sp: usize,
    entry: crate::arch::ChildEntry,
    arg: *mut u8,
) -> Result<Pid, Errno> {
    let flags = plan.flags(raw);
    let signal = raw.exit_signal.map_or(0, |s| u64::from(s.number()));
    let ret = match plan.syscall {
        Syscall::Clone3 => {
            let mut args = k::clone_args {
                flags: flags.bits(),
                pidfd: raw.pidfd as u64,
                child_tid: raw.ctid as u64,
                parent_tid: raw.ptid as u64,
                exit_signal: signal,
                stack: base as u64,
                stack_size: (sp - base as usize) as u64,
                tls: raw.tls as u64,
                set_tid: raw.set_tid as u64,
                set_tid_size: raw.set_tid_len as u64,
                cgroup: raw.cgroup.max(0) as u64,
            };
            // SAFETY: forwarded; `args` lives across the call.
            unsafe {
                crate::arch::clone3(
                    (&raw mut args).cast(),
                    size_of::<k::clone_args>(),
                    entry,
                    arg,
                )
            }
        }
        Syscall::Clone => {
            // Legacy clone returns the pidfd through the parent_tid slot.
            let ptid = if flags.contains(CloneFlags::PIDFD) {
                raw.pidfd
            } else {
                raw.ptid.cast()
            };
            let word = (flags.bits() | signal) as usize;
            // SAFETY: forwarded.
            unsafe {
                crate::arch::clone(
                    word,
                    sp as *mut u8,
                    ptid,
                    raw.ctid.cast(),
                    raw.tls,
                    entry,
                    arg,
                )
            }
        }
    };
    Errno::from_ret(ret as usize).map(|pid| pid as Pid)
}

/// Name the kernel's refusal; an EPERM for namespace flags says which capability is missing.
pub(crate) fn clone_error(errno: Errno, flags: CloneFlags, syscall: Syscall) -> Error {
    let namespaces = flags & CloneFlags::NAMESPACES;
    if errno == Errno::EPERM && !namespaces.is_empty() {
        let caps = sys::effective_capabilities().unwrap_or(0);
        return Error::NamespacePermission {
            flags: namespaces,
            cap_sys_admin: caps & (1 << k::CAP_SYS_ADMIN) != 0,
        };
    }
    if errno == Errno::EAGAIN {
        return Error::OutOfTasks;
    }
    let call = match syscall {
        Syscall::Clone3 => "clone3",
        Syscall::Clone => "clone",
    };
    Error::sys(call, errno)
}
