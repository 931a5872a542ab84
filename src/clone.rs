//! The one entry point that creates tasks on a stack of their own: validate, block signals, clone3
//! or the cached fallback to clone, restore the mask.
//!
//! Order of events in [`Builder::spawn`] and [`Builder::spawn_thread`]:
//! 1. the request is checked against [`crate::flags::validate`]: a broken rule costs no syscall;
//! 2. the closure and the caller's signal mask are written to the top of the child's stack (the
//!    child reads nothing of the parent's stack frame, which may be gone by then);
//! 3. every signal is blocked, so no handler can run in a child that is half set up or that shares
//!    the parent's memory with handlers meant for the parent;
//! 4. `clone3` is tried unless it is known to be missing; an ENOSYS is remembered in an atomic and
//!    the same request goes through legacy `clone`, unless it needs something only clone3 can say;
//! 5. the parent restores its mask; the child restores it in [`child_main`] before running the
//!    closure, after an optional gate and an optional reset of signal handlers.

use crate::error::{Error, Result};
use crate::flags::{self, CloneFlags, Request, Rule, Syscall};
use crate::signal::{SigSet, Signal};
use crate::stack::Stack;
use crate::sync::{Gate, GateChild};
use crate::sys::{self, CpuSet, Disposition, Fd, Pid};
use crate::task::{Child, Thread, ThreadControl};
use core::mem::{align_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Free stack the child needs below the data rawclone puts at the top, for its entry frame.
pub const MIN_CHILD_FRAME: usize = 2048;

const UNKNOWN: u8 = 0;
const PRESENT: u8 = 1;
const MISSING: u8 = 2;
static CLONE3: AtomicU8 = AtomicU8::new(UNKNOWN);
/// False once clone3 refused the CLONE_CLEAR_SIGHAND that rawclone adds itself (Linux 5.3–5.4
/// have clone3 but not that flag, which came in 5.5): handlers are then reset by hand.
static CLEAR_SIGHAND: AtomicBool = AtomicBool::new(true);

/// What this process has learned about `clone3`: `Some(true)` once it worked, `Some(false)` once
/// it answered ENOSYS (old kernel, qemu-user, a seccomp profile), `None` before the first try.
pub fn clone3_available() -> Option<bool> {
    match CLONE3.load(Ordering::Relaxed) {
        PRESENT => Some(true),
        MISSING => Some(false),
        _ => None,
    }
}

/// Everything the child reads after the clone, placed at the top of its own stack.
struct Packet<F> {
    /// The caller's signal mask, restored in the child before `f` runs.
    mask: SigSet,
    /// Hold the child until the parent releases it.
    gate: Option<GateChild>,
    /// Reset handled signals to SIG_DFL by hand (legacy clone has no CLONE_CLEAR_SIGHAND).
    reset_handlers: bool,
    /// The caller's CPU affinity, restored in the child when it was started pinned.
    affinity: Option<CpuSet>,
    f: F,
}

/// The child side, entered from the arch trampoline on the child's new stack.
///
/// # Safety
/// `packet` must point to a `Packet<F>` that this child alone reads, exactly once.
unsafe extern "C" fn child_main<F: FnOnce() -> i32>(packet: *mut u8) -> i32 {
    // SAFETY: the parent wrote a Packet<F> there and, for a memory-sharing child, never touches it
    // again; for a copied address space this is the child's own copy.
    let Packet {
        mask,
        gate,
        reset_handlers,
        affinity,
        f,
    } = unsafe { ptr::read(packet.cast::<Packet<F>>()) };
    if let Some(set) = affinity {
        restore_affinity(&set);
    }
    if let Some(gate) = gate
        && !gate.pass()
    {
        return 127;
    }
    if reset_handlers {
        reset_signal_handlers();
    }
    let _ = sys::set_signal_mask(mask);
    f()
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
    child_settid: *mut u32,
    syscall: Option<Syscall>,
    gated: bool,
    reset_handlers: bool,
    start_local: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A fork-like request: no flags, exit signal SIGCHLD, clone3 with fallback.
    pub const fn new() -> Builder {
        Builder {
            flags: CloneFlags::EMPTY,
            exit_signal: Some(Signal::SIGCHLD),
            tls: 0,
            child_settid: ptr::null_mut(),
            syscall: None,
            gated: false,
            reset_handlers: false,
            start_local: false,
        }
    }

    /// A thread request: [`CloneFlags::THREAD_SET`] and no exit signal.
    pub const fn thread() -> Builder {
        Builder::new()
            .flags(CloneFlags::THREAD_SET)
            .exit_signal(None)
    }

    /// Add `flags` to the request.
    pub const fn flags(mut self, flags: CloneFlags) -> Builder {
        self.flags = self.flags.union(flags);
        self
    }

    /// The signal the parent gets when the child ends (`None`: no signal; joins still work).
    pub const fn exit_signal(mut self, sig: Option<Signal>) -> Builder {
        self.exit_signal = sig;
        self
    }

    /// Give the child `tls` as its thread pointer (`CLONE_SETTLS`).
    pub const fn tls(mut self, tls: usize) -> Builder {
        self.tls = tls;
        self.flags = self.flags.union(CloneFlags::SETTLS);
        self
    }

    /// Have the kernel store the child's tid at `ptr` in the child's memory
    /// (`CLONE_CHILD_SETTID`). Not available for threads, whose child_tid slot is the join word.
    pub const fn child_settid(mut self, ptr: *mut u32) -> Builder {
        self.child_settid = ptr;
        self.flags = self.flags.union(CloneFlags::CHILD_SETTID);
        self
    }

    /// Ask for a pidfd (`CLONE_PIDFD`); [`Child::pidfd`] then holds it.
    pub const fn pidfd(self) -> Builder {
        self.flags(CloneFlags::PIDFD)
    }

    /// Force one syscall instead of clone3-with-fallback (to test the fallback, or to avoid clone3).
    pub const fn syscall(mut self, syscall: Syscall) -> Builder {
        self.syscall = Some(syscall);
        self
    }

    /// Hold the child before its closure until [`Child::release`]; the parent can prepare things
    /// (id maps, cgroups) meanwhile. Needs a child with its own fd table.
    pub const fn gated(mut self) -> Builder {
        self.gated = true;
        self
    }

    /// Reset every signal handler to `SIG_DFL` in the child before its mask is restored
    /// (`CLONE_CLEAR_SIGHAND` on clone3, one `rt_sigaction` per signal on clone), so a signal can
    /// never run a parent's handler in a child that shares the parent's memory.
    pub const fn reset_signal_handlers(mut self) -> Builder {
        self.reset_handlers = true;
        self
    }

    /// Start the child on the CPU the caller runs on: the caller pins itself to that CPU for the
    /// clone (so the kernel places the child there), then both restore the caller's affinity,
    /// the child before its closure runs.
    ///
    /// A new task is otherwise placed on an idle CPU, and waking an idle CPU is the largest single
    /// cost of a short task (about 15 µs of a 40 µs thread spawn and join on a 2-vCPU VM). Worth
    /// it when the caller soon waits for the child; a long-running child is moved to an idle CPU
    /// by the load balancer a little later than it would otherwise start there. Best effort:
    /// if the affinity cannot be read or set, the child starts wherever the kernel puts it.
    /// Another thread that changes this thread's affinity during the spawn races with it. The
    /// affinity is put back as `sched_getaffinity(2)` read it, which since Linux 6.2 also
    /// becomes the thread's requested mask: CPUs that a cpuset adds later are then not used by
    /// it until its affinity is set again.
    pub const fn start_local(mut self) -> Builder {
        self.start_local = true;
        self
    }

    /// rawclone's own rules for a builder, on top of the kernel's: what the handle could not
    /// join, or what the child could not honour.
    fn check_own_rules(&self, thread: bool) -> Result<()> {
        use CloneFlags as F;
        let f = self.flags;
        let broken = if f.contains(F::THREAD) != thread {
            Some(Rule::ThreadNeedsThreadSpawn)
        } else if f.contains(F::VM | F::PARENT) {
            Some(Rule::ParentExcludesVm)
        } else if self.gated && f.contains(F::FILES) {
            Some(Rule::GateNeedsOwnFiles)
        } else if self.gated && f.contains(F::VFORK) {
            Some(Rule::GateExcludesVfork)
        } else if self.reset_handlers && f.contains(F::SIGHAND) {
            Some(Rule::ClearSighandExcludesSighand)
        } else if thread && f.contains(F::CHILD_SETTID) {
            Some(Rule::ThreadOwnsChildTid)
        } else if thread && f.contains(F::PIDFD) {
            Some(Rule::ThreadHasNoPidfd)
        } else {
            None
        };
        broken.map_or(Ok(()), |rule| Err(Error::Rule(rule, f)))
    }

    /// Create a child process (anything but `CLONE_THREAD`) running `f` on `stack`; its return
    /// value is the exit status.
    ///
    /// `f` is moved into the child. Without `CLONE_VM` the child runs its own copy, and the
    /// parent drops its copy as after `fork`, unless `CLONE_FILES` is set: then the drop could
    /// close descriptors the child still uses, so the parent's copy is forgotten instead.
    ///
    /// # Safety
    /// If the flags share memory (`CLONE_VM`), `f` runs concurrently with the caller in the same
    /// address space and with the caller's thread pointer (unless [`Builder::tls`] gave another):
    /// it must not use libc, `thread_local!`, `println!`, allocation, or anything else that reads
    /// thread-local state, and must not panic; its captures must stay valid and be safe to use
    /// from another task until the child is joined (the `F: 's` bound ties them to the handle).
    /// Without `CLONE_VM` the child is a copy of a possibly multi-threaded process and the same
    /// async-signal-safety limits apply, as after `fork`. The returned handle must not be leaked
    /// (`mem::forget`) while the child may still use `stack`.
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
            exit_signal: self.exit_signal,
            ctid: self.child_settid,
            ptid: ptr::null_mut(),
            pidfd: &raw mut pidfd,
            tls: self.tls,
        };
        // SAFETY: forwarded from this function's contract.
        let pid = unsafe { self.launch(stack, raw, gate_raw, f)? };
        drop(child_end);
        // SAFETY: with CLONE_PIDFD the kernel stored a fresh descriptor that only we own.
        let pidfd = (pidfd >= 0 && self.flags.contains(CloneFlags::PIDFD))
            .then(|| unsafe { Fd::from_raw(pidfd) });
        Ok(Child::new(pid, pidfd, gate, self.flags))
    }

    /// Create a thread (flags must include `CLONE_THREAD`) running `f` on `stack`; [`Thread::join`]
    /// returns the value `f` returned. `CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID` are added: the
    /// join waits on that word (so [`Builder::child_settid`] cannot be used for a thread).
    ///
    /// # Safety
    /// As for [`Builder::spawn`] with shared memory: `f` runs in this process, concurrently, with
    /// the caller's thread pointer unless [`Builder::tls`] gave another, so it must not touch
    /// thread-local state, libc, or the allocator, and must not panic. A fault in `f` (stack
    /// overflow included) kills the whole process. The handle must not be leaked.
    pub unsafe fn spawn_thread<'s, F>(&self, stack: &'s mut Stack<'_>, f: F) -> Result<Thread<'s>>
    where
        F: FnOnce() -> usize + Send + 's,
    {
        self.check_own_rules(true)?;
        // The join word and result slot live at the very top of the stack, which the handle keeps
        // borrowed until the join: they outlive the thread, wherever the handle moves.
        let ctl = stack.top().wrapping_sub(size_of::<ThreadControl>()) as usize & !63;
        let ctl = ctl as *mut ThreadControl;
        if (ctl as usize) < stack.base() as usize + MIN_CHILD_FRAME {
            return Err(Error::Rule(Rule::StackTooSmall, self.flags));
        }
        // SAFETY: `ctl` is aligned and inside the stack, which we borrow exclusively.
        unsafe { ctl.write(ThreadControl::new()) };
        let below = ctl as usize - stack.base() as usize;
        // SAFETY: the bytes from base up to the control block belong to `stack`.
        let mut below =
            Stack::from_buf(unsafe { core::slice::from_raw_parts_mut(stack.base(), below) });
        // SAFETY: `ctl` stays valid while the handle borrows `stack`.
        let (word, slot) = unsafe { ((*ctl).word_ptr(), (*ctl).result_ptr()) };
        let flags = self.flags | CloneFlags::PARENT_SETTID | CloneFlags::CHILD_CLEARTID;
        let raw = RawRequest {
            flags,
            exit_signal: self.exit_signal,
            ctid: word,
            ptid: word,
            pidfd: ptr::null_mut(),
            tls: self.tls,
        };
        let run = move || {
            let value = f();
            // SAFETY: the slot is ours until the kernel clears the join word at our exit.
            unsafe { slot.write(value) };
            0
        };
        // SAFETY: forwarded from this function's contract; the closure is moved onto `below`,
        // which is part of `stack`.
        let tid = unsafe { self.launch(&mut below, raw, None, run)? };
        // SAFETY: the control block lives until the handle, which borrows `stack`, is joined.
        Ok(unsafe { Thread::new(tid, ctl) })
    }

    /// Validate, place the packet, block signals, clone (clone3 first), restore the mask.
    ///
    /// # Safety
    /// See [`Builder::spawn`].
    unsafe fn launch<F: FnOnce() -> i32>(
        &self,
        stack: &mut Stack<'_>,
        raw: RawRequest,
        gate: Option<GateChild>,
        f: F,
    ) -> Result<Pid> {
        let (base, top) = (stack.base() as usize, stack.top() as usize);
        let align = align_of::<Packet<F>>().max(16);
        let frame = size_of::<Packet<F>>() + align + MIN_CHILD_FRAME;
        if stack.size() < frame {
            return Err(Error::Rule(Rule::StackTooSmall, raw.flags));
        }
        let packet = (top - size_of::<Packet<F>>()) & !(align - 1);
        let sp = packet & !15;
        let first = self.syscall.unwrap_or(match clone3_available() {
            Some(false) => Syscall::Clone,
            _ => Syscall::Clone3,
        });
        // Reset handlers in the kernel where clone3 can (CLEAR_SIGHAND), by hand elsewhere. A
        // CLEAR_SIGHAND the caller asked for is the caller's and is never dropped.
        let flags_for = |syscall| match syscall {
            Syscall::Clone3 if self.reset_handlers && CLEAR_SIGHAND.load(Ordering::Relaxed) => {
                raw.flags | CloneFlags::CLEAR_SIGHAND
            }
            _ => raw.flags,
        };
        let request = |syscall| Request {
            flags: flags_for(syscall),
            exit_signal: raw.exit_signal.map_or(0, |s| u64::from(s.number())),
            stack: base,
            stack_size: sp - base,
            frame: top - sp + MIN_CHILD_FRAME,
            set_tid_len: 0,
            syscall,
        };
        flags::validate(&request(first)).map_err(|rule| Error::Rule(rule, flags_for(first)))?;

        let old_mask =
            sys::set_signal_mask(SigSet::FULL).map_err(|e| Error::sys("rt_sigprocmask", e))?;
        let affinity = if self.start_local { pin_here() } else { None };
        let packet = packet as *mut Packet<F>;
        let reset_handlers =
            self.reset_handlers && !flags_for(first).contains(CloneFlags::CLEAR_SIGHAND);
        // SAFETY: `packet` is aligned, lies inside the stack we borrow exclusively, above `sp`.
        unsafe {
            packet.write(Packet {
                mask: old_mask,
                gate,
                reset_handlers,
                affinity,
                f,
            })
        };

        let entry = child_main::<F> as crate::arch::ChildEntry;
        let mut used = first;
        // SAFETY: the stack from base to `sp` is free for the child, the packet above it is its
        // argument, and the caller upholds the rules for `f`.
        let mut result = unsafe {
            issue(
                first,
                flags_for(first),
                &raw,
                base as *mut u8,
                sp,
                entry,
                packet.cast(),
            )
        };
        let ours = flags_for(first).contains(CloneFlags::CLEAR_SIGHAND)
            && !raw.flags.contains(CloneFlags::CLEAR_SIGHAND);
        if result == Err(Errno::EINVAL) && first == Syscall::Clone3 && ours {
            // clone3 without CLONE_CLEAR_SIGHAND (Linux 5.3–5.4): the flag was ours, so the same
            // request again without it, handlers reset by hand; an EINVAL again was not about it.
            CLEAR_SIGHAND.store(false, Ordering::Relaxed);
            // SAFETY: no child was created, so no child has read the packet yet.
            unsafe { (*packet).reset_handlers = true };
            // SAFETY: as for the first try.
            result = unsafe {
                issue(
                    first,
                    flags_for(first),
                    &raw,
                    base as *mut u8,
                    sp,
                    entry,
                    packet.cast(),
                )
            };
            if result == Err(Errno::EINVAL) {
                CLEAR_SIGHAND.store(true, Ordering::Relaxed);
            }
        }
        if result == Err(Errno::ENOSYS) && first == Syscall::Clone3 && self.syscall.is_none() {
            CLONE3.store(MISSING, Ordering::Relaxed);
            // The same request again through clone, unless it needs clone3: then say so.
            used = Syscall::Clone;
            if let Err(rule) = flags::validate(&request(used)) {
                if let Some(set) = affinity {
                    restore_affinity(&set);
                }
                let _ = sys::set_signal_mask(old_mask);
                // SAFETY: no child was created, so the packet is still ours to drop.
                unsafe { ptr::drop_in_place(packet) };
                return Err(Error::Rule(rule, flags_for(used)));
            }
            // SAFETY: no child has read the packet yet.
            unsafe { (*packet).reset_handlers = self.reset_handlers };
            // SAFETY: as above.
            result = unsafe {
                issue(
                    used,
                    flags_for(used),
                    &raw,
                    base as *mut u8,
                    sp,
                    entry,
                    packet.cast(),
                )
            };
        } else if result.is_ok() && first == Syscall::Clone3 {
            CLONE3.store(PRESENT, Ordering::Relaxed);
        }
        if let Some(set) = affinity {
            restore_affinity(&set);
        }
        let _ = sys::set_signal_mask(old_mask);

        match result {
            Ok(pid) if !raw.flags.intersects(CloneFlags::VM | CloneFlags::FILES) => {
                // The child runs its own copy; the parent's is dropped, as after fork.
                // SAFETY: the parent's copy was never read and is dropped once.
                unsafe { ptr::drop_in_place(packet) };
                Ok(pid)
            }
            // With CLONE_VM the child consumes the one copy; with CLONE_FILES dropping the
            // parent's copy could close descriptors the child uses, so it is forgotten.
            Ok(pid) => Ok(pid),
            Err(errno) => {
                // SAFETY: no child was created, so the packet is still ours to drop.
                unsafe { ptr::drop_in_place(packet) };
                Err(clone_error(errno, flags_for(used), used))
            }
        }
    }
}

/// Pin the calling thread to the CPU it runs on; returns the affinity to restore, or `None` if
/// nothing was changed.
fn pin_here() -> Option<CpuSet> {
    let old = sys::affinity().ok()?;
    let cpu = sys::current_cpu().ok()?;
    sys::set_affinity(&CpuSet::only(cpu)).ok()?;
    Some(old)
}

/// Put back the affinity [`pin_here`] saved. Should the kernel refuse it (a cpuset shrank in
/// between), fall back to every CPU, which the kernel narrows to what the cpuset allows: never
/// leave a thread pinned to one CPU.
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
    tls: usize,
}

/// Issue one clone or clone3 call through the arch trampoline.
///
/// # Safety
/// `[base, sp)` must be a free stack for the child and `arg` what `entry` expects.
unsafe fn issue(
    syscall: Syscall,
    flags: CloneFlags,
    raw: &RawRequest,
    base: *mut u8,
    sp: usize,
    entry: crate::arch::ChildEntry,
    arg: *mut u8,
) -> Result<Pid, Errno> {
    let signal = raw.exit_signal.map_or(0, |s| u64::from(s.number()));
    let ret = match syscall {
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
                set_tid: 0,
                set_tid_size: 0,
                cgroup: 0,
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
