//! Every test binary's allocator: it enforces the rule of forked checks (raw syscalls and
//! atomics only) and of spawner tasks (no allocation), so a break fails at once, named, instead
//! of hanging now and then.
//!
//! A check forked from the multi-threaded test harness is a one-thread copy of it: had another
//! harness thread held `malloc`'s lock at that moment (rawclone's `fork` runs no `pthread_atfork`
//! handlers, so glibc does not take and release it around the fork), the copy's first allocation
//! waits on it forever. Seen once in a hundred runs under qemu-system, where the harness is
//! slow: a check that formatted a path after its fork hung until its 60 s deadline.
//!
//! What it sees is Rust's global allocator only: a libc call that allocates inside libc, or
//! another lock copied held (std's environment or stderr lock), is still the check's own rule
//! to keep. Freeing what was allocated before the fork is refused too (it is an allocator call).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use rawclone::GuardedAlloc;
use rawclone::sys;
use std::alloc::System;
use syscalls::{Sysno, syscall3};

/// Exit status of a forked check that allocated.
pub const ALLOCATED_IN_FORK: i32 = 86;

/// Set in a forked check's copy of memory by [`super::in_fork`]; the harness's stays false.
static IN_FORKED_CHECK: AtomicBool = AtomicBool::new(false);

/// Mark this process as a forked check: any allocation from now on ends it.
pub fn forbid_allocation() {
    IN_FORKED_CHECK.store(true, Relaxed);
}

/// The system allocator, except in a forked check: there any call ends the process, with one
/// line on stderr and exit status [`ALLOCATED_IN_FORK`].
pub struct SystemOutsideForks;

/// End a forked check that asked the allocator for anything. A panicking one (std formats the
/// message and boxes the payload before any hook runs) ends as `in_fork`'s unwind guard would,
/// with 101, and says that it panicked: its message cannot be formatted here.
fn refuse_in_fork() {
    if !IN_FORKED_CHECK.load(Relaxed) {
        return;
    }
    let (line, status): (&[u8], i32) = if std::thread::panicking() {
        (
            b"a forked check panicked (its message needs an allocation, which a fork may not \
            make: see tests/common/alloc_guard.rs)\n",
            101,
        )
    } else {
        (
            b"a forked check allocated: it may use raw syscalls and atomics only \
            (see tests/common/alloc_guard.rs)\n",
            ALLOCATED_IN_FORK,
        )
    };
    // SAFETY: write(2) reads `line`, live for the call, on fd 2.
    let _ = unsafe { syscall3(Sysno::write, 2, line.as_ptr() as usize, line.len()) };
    sys::exit_group(status);
}

// SAFETY: every call forwards to System unchanged, or ends the process first.
unsafe impl GlobalAlloc for SystemOutsideForks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        refuse_in_fork();
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        refuse_in_fork();
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refuse_in_fork();
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        refuse_in_fork();
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A spawner task that allocates is named and aborted by [`GuardedAlloc`] first (in a forked
/// check too); any other allocation in a forked check ends it with [`ALLOCATED_IN_FORK`].
#[global_allocator]
static ALLOC: GuardedAlloc<SystemOutsideForks> = GuardedAlloc::new(SystemOutsideForks);
