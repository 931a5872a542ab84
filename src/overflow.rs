//! A clear message when a Thread or Green task overflows its stack, before the process dies.
//!
//! A guard-page fault in a thread kills the whole process with SIGSEGV, and on its own says
//! nothing about which task it was. So every Thread or Green spawner, when built, makes sure a SIGSEGV handler is installed
//! that runs on a small alternate signal stack (every Thread task and every Green worker sets one
//! up at the top of its own stack, where an overflow at the bottom cannot reach). The handler:
//! - on a rawclone thread, finds the task through the thread pointer, writes one line to stderr
//!   (`rawclone: task 7 (Thread) overflowed its 128 KiB stack`, or the fault address for any
//!   other fault), sets SIGSEGV back to `SIG_DFL` and returns: the faulting instruction runs
//!   again and the kernel kills the process with SIGSEGV, as it would have without the handler;
//! - on any other thread, hands the signal to the handler that was installed before (std's
//!   stack-overflow report, say), or, if there was none, restores `SIG_DFL` and returns.
//!
//! Chimera tasks start with every signal handler reset (see [`crate::Builder::reset_signal_handlers`]):
//! no handler of ours runs on their thread pointer, so a fault ends the chimera at once, with no
//! line, and its join reports the SIGSEGV ([`crate::Error::TaskEnded`]).

use crate::control;
use crate::signal::Signal;
use crate::stack::PAGE_SIZE;
use crate::sys;
use crate::task_report;
use core::sync::atomic::{AtomicUsize, Ordering};
use linux_raw_sys::general as k;

/// Bytes of each alternate signal stack: the kernel's signal frame (up to a few KiB with AVX-512
/// state) plus the handler's own frames.
pub(crate) const ALT_STACK: usize = 16 * 1024;

/// The handler that was installed before ours, and its flags (to call it the way it expects).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_FLAGS: AtomicUsize = AtomicUsize::new(0);

/// Install the handler unless it is already the process's SIGSEGV action. Best effort: without
/// it a fault still kills the process, only without the message.
///
/// The kernel's action, not a flag in memory, says whether it is installed: a flag set before
/// the `sigaction` would be copied by a `fork` from another thread in between, and the child
/// would then never install the handler (and a sent SIGSEGV could meet a handler that swallows
/// it, such as std's). Two threads installing at once both note the same previous handler.
pub(crate) fn install() {
    let ours: unsafe extern "C" fn(i32, *mut u8, *mut u8) = on_fault;
    // SAFETY: reading the current action installs nothing.
    let Ok(old) = (unsafe { sys::sigaction_raw(Signal::SIGSEGV, None) }) else {
        return;
    };
    let previous = old.sa_handler_kernel.map_or(0, |h| h as usize);
    if previous == ours as usize {
        return;
    }
    // Note the handler in place before ours goes live, so a fault in between still finds it.
    PREVIOUS_FLAGS.store(old.sa_flags as usize, Ordering::Relaxed);
    PREVIOUS.store(previous, Ordering::Release);
    let act = sys::handler_action(ours as usize, k::SA_SIGINFO | k::SA_ONSTACK);
    // SAFETY: `on_fault` only uses raw syscalls and reads control blocks, so it is sound on any
    // thread, on its alternate stack where one is set.
    let _ = unsafe { sys::sigaction_raw(Signal::SIGSEGV, Some(&act)) };
}

/// Give the calling thread its alternate signal stack: `ALT_STACK` bytes at `low`.
///
/// # Safety
/// The memory must belong to the calling thread's stack, above anything the thread's own frames
/// can reach, for as long as the thread lives.
pub(crate) unsafe fn use_alt_stack(low: *mut u8) {
    // SAFETY: forwarded from the caller.
    let _ = unsafe { sys::set_alt_stack(low, ALT_STACK) };
}

/// The SIGSEGV handler: see the module documentation.
///
/// # Safety
/// Called by the kernel only, with a valid siginfo.
unsafe extern "C" fn on_fault(signo: i32, info: *mut u8, context: *mut u8) {
    // `si_code` is the third int; `si_addr` opens the union after it, aligned to a pointer: at
    // 16 in every 64-bit siginfo, right at 12 in a 32-bit one.
    // SAFETY: the kernel passes a full siginfo for SIGSEGV.
    let (code, addr) = unsafe {
        (
            info.add(8).cast::<i32>().read(),
            info.add(12usize.next_multiple_of(size_of::<usize>()))
                .cast::<usize>()
                .read(),
        )
    };
    if code <= 0 {
        // Sent with kill/tgkill, not a fault: nothing would fault again after we return, so
        // take the default action by sending it once more (blocked until we return).
        let _ = sys::set_signal_disposition(Signal::SIGSEGV, sys::Disposition::Default);
        let _ = sys::tgkill(sys::getpid(), sys::gettid(), Signal::SIGSEGV);
        return;
    }
    if control::this_block().is_some() {
        report(addr);
        let _ = sys::set_signal_disposition(Signal::SIGSEGV, sys::Disposition::Default);
        return;
    }
    let previous = PREVIOUS.load(Ordering::Acquire);
    match previous {
        // SIG_DFL or SIG_IGN before us: fall back to the kernel's default, which kills.
        0 | 1 => {
            let _ = sys::set_signal_disposition(Signal::SIGSEGV, sys::Disposition::Default);
        }
        handler if PREVIOUS_FLAGS.load(Ordering::Relaxed) & k::SA_SIGINFO as usize != 0 => {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it takes these
            // three arguments; we run it on the thread and stack it expects.
            let f: unsafe extern "C" fn(i32, *mut u8, *mut u8) =
                unsafe { core::mem::transmute(handler) };
            // SAFETY: as above.
            unsafe { f(signo, info, context) };
        }
        handler => {
            // SAFETY: a handler without SA_SIGINFO takes the signal number only.
            let f: unsafe extern "C" fn(i32) = unsafe { core::mem::transmute(handler) };
            // SAFETY: as above.
            unsafe { f(signo) };
        }
    }
}

/// Write the one-line report for a fault at `addr` on a rawclone thread.
fn report(addr: usize) {
    let task = control::this_task();
    let guard = task.map(|t| t.stack_base.wrapping_sub(PAGE_SIZE)..t.stack_base);
    match (task, guard) {
        (Some(task), Some(guard)) if guard.contains(&addr) => task_report::say(
            Some(task),
            format_args!("overflowed its {} KiB stack", task.stack_size / 1024),
            Signal::SIGSEGV,
        ),
        _ => task_report::say(task, format_args!("faulted at {addr:#x}"), Signal::SIGSEGV),
    }
}
