//! With the `std` feature: a panic in a spawner task is named as a panic, in one line, and
//! aborts.
//!
//! A task must not panic (see [`crate::Spawner::spawn`]), but when one does, std's panic
//! machinery runs on the task's thread pointer, which is rawclone's control block, not libc's.
//! It gets as far as the panic hook (its panic count and a formatted message land in task stack
//! memory, unseen), and std's default hook prints its `panicked at` message; then the backtrace
//! or the unwinder reach libc's thread state and fault, and the SIGSEGV report named a fault at
//! `0x0`, hiding the panic.
//!
//! So the first spawner built with the `std` feature installs, once per process, a panic hook that
//! wraps the one installed before it: on a thread that is not rawclone's it calls that one; on a
//! task it writes `rawclone: task 7 (Thread) panicked at src/main.rs:9:13: boom; SIGABRT ends
//! the process` (with the message when it is a string) and aborts, so nothing unwinds through
//! the task's entry, which has nowhere to unwind to. A Chimera task aborts alone and its join
//! returns [`crate::Error::TaskEnded`] with SIGABRT.
//!
//! std runs the hook holding its hook lock for reading, so a Chimera task that aborts there
//! leaves the lock read-held in the process (as it did when the task died in std's own hook): a
//! later `panic::set_hook` or `take_hook` waits for good. Panics still reach the hooks.
//!
//! Installing takes no allocation (the previous hook is moved, ours has no state), so a forked
//! child may build a spawner. A hook the program sets later replaces this one; a panic that
//! faults before the hook runs is still reported as the fault it is.

use crate::control;
use crate::signal::Signal;
use crate::task_report;
use core::sync::atomic::{AtomicBool, Ordering};
use std::boxed::Box;
use std::panic::{self, PanicHookInfo};
use std::string::String;
use std::sync::OnceLock;

/// The hook that was installed before ours.
type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;
static PREVIOUS: OnceLock<Hook> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Install the hook, once per process. Not from a panicking thread, where std forbids changing
/// hooks: a later spawner installs it then.
///
/// A flag, not a `Once`, says it is done: a thread that loses the race returns at once instead
/// of waiting, so a child forked from another thread mid-install (which copies the flag, and
/// perhaps not the hook) never waits for an install that no thread of it runs.
pub(crate) fn install() {
    if std::thread::panicking() || INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    let _ = PREVIOUS.set(panic::take_hook());
    panic::set_hook(Box::new(on_panic));
}

/// The hook: see the module documentation.
fn on_panic(info: &PanicHookInfo<'_>) {
    if control::this_block().is_none() {
        if let Some(previous) = PREVIOUS.get() {
            previous(info);
        }
        return;
    }
    // What `PanicHookInfo::payload_as_str` (Rust 1.91, past this crate's MSRV) gives.
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a payload that is not a string");
    let rule = "tasks may not panic, see Spawner::spawn's # Safety";
    let task = control::this_task();
    match info.location() {
        Some(at) => task_report::say(
            task,
            format_args!("panicked at {at}: {message}: {rule}"),
            Signal::SIGABRT,
        ),
        None => task_report::say(
            task,
            format_args!("panicked: {message}: {rule}"),
            Signal::SIGABRT,
        ),
    }
    task_report::abort()
}
