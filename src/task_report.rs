//! The one line rawclone writes on stderr when a spawner task breaks a rule or faults, and the
//! abort that follows a broken rule.
//!
//! Every such line has one shape, `rawclone: task 7 (Thread) <what happened>; SIGSEGV ends the
//! process`, so a reader (or a test) finds the task, what it did, and what ended. It is written
//! with one raw `write(2)` from a line formatted on the stack: the writer may be a signal
//! handler, an allocator or a panic hook running on a task, where nothing of libc works. One
//! line per process: when tasks of a process break rules at the same moment, the first to say
//! so speaks for all.
//!
//! What the signal ends depends on the backend: a Chimera task is a process of its own, so only
//! the task; a Thread task or a Green worker is a thread of this process, so the whole process.

use crate::control::{Backend, Header};
use crate::line::Line;
use crate::signal::{SigSet, Signal};
use crate::sys;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

/// Who says or said the line of its process, 0 before anyone: the process (thread-group id) in
/// the high half, the thread in the low. The tasks of one process that break rules at once
/// then write one line between them, the first, for the process ends with it. Chimera tasks
/// stay out of it: each is a process of its own, ended alone, and says its own line. The word
/// outlives its process in memory another process sees (a forked child's copy, a Chimera
/// task's shared one), and there it names another process: no speaker.
static SPEAKER: AtomicU64 = AtomicU64::new(0);

/// Write `rawclone: <who> <what>; <signal> ends <the task or the process>` to stderr, where
/// `who` names `task`, or a green worker between tasks when it is `None`.
///
/// If another thread of this process says or said its line, this one says nothing and waits
/// for the end that line announced (the caller's own end could come first and cut it off). The
/// speaker itself may come back: a task that faults while formatting its line (a panic with its
/// stack nearly spent) reaches here again from the SIGSEGV handler, and says at once what ends
/// it, instead of waiting for itself.
pub(crate) fn say(task: Option<&Header>, what: fmt::Arguments<'_>, signal: Signal) {
    if task.map(|t| t.backend) != Some(Backend::Chimera) {
        speak_for_the_process();
    }
    let mut line = Line::new();
    let _ = match task {
        Some(task) => write!(line, "rawclone: task {} ({:?}) ", task.id, task.backend),
        None => line.write_str("rawclone: a green worker "),
    };
    let ends = match task.map(|t| t.backend) {
        Some(Backend::Chimera) => "the task",
        _ => "the process",
    };
    let _ = writeln!(line, "{what}; {signal} ends {ends}");
    let _ = sys::write(sys::stderr(), line.as_bytes());
}

/// Return once the calling thread is its process's speaker; wait for good while another live
/// thread of the process is.
fn speak_for_the_process() {
    let process = sys::getpid();
    let me = (u64::from(process as u32) << 32) | u64::from(sys::gettid() as u32);
    loop {
        let speaker = SPEAKER.load(Ordering::Acquire);
        if speaker == me {
            return;
        }
        let (of, thread) = ((speaker >> 32) as sys::Pid, speaker as u32 as sys::Pid);
        if speaker != 0 && of == process && sys::thread_lives(process, thread) {
            let _ = sys::sleep_ms(10);
            continue;
        }
        // No speaker, one of another process, or one gone: this thread takes the word.
        let taken = SPEAKER.compare_exchange(speaker, me, Ordering::AcqRel, Ordering::Acquire);
        if taken.is_ok() {
            return;
        }
    }
}

/// End the calling task with SIGABRT, as `abort(3)` would, with raw syscalls only: its default
/// action, unblocked (a Thread task blocks it, see [`SigSet::TASK_DEFAULT`]), sent to this
/// thread. A Thread or Green task takes the process with it, a Chimera task only itself.
pub(crate) fn abort() -> ! {
    let _ = sys::set_signal_disposition(Signal::SIGABRT, sys::Disposition::Default);
    let _ = sys::set_signal_mask(SigSet::FULL.without(Signal::SIGABRT));
    let _ = sys::tgkill(sys::getpid(), sys::gettid(), Signal::SIGABRT);
    // Not reached: the signal is delivered as the syscall returns.
    sys::exit_group(128 + Signal::SIGABRT.number() as i32)
}
