//! [`GuardedAlloc`]: a global allocator wrapper that stops a spawner task which allocates, with
//! one line naming it, instead of letting the allocation corrupt the heap for later.
//!
//! # Why allocation in a task goes wrong late
//! glibc's `malloc` keeps its per-thread cache and arena pointer in thread-local storage, which it
//! finds through the thread pointer. A Thread or Chimera task's thread pointer is its rawclone
//! control block (see [`crate::current`]), so `malloc` there reads and writes task stack memory as
//! if it were its TLS: the first allocation usually "works", and the heap is found corrupted
//! later, elsewhere (`corrupted size vs. prev_size`). Nothing fails at the allocation itself.
//!
//! A library cannot choose the process's allocator, but the program can, with
//! `#[global_allocator]`; so the guard is a wrapper the program installs, and what it can and
//! cannot catch is said on [`GuardedAlloc`] itself.

use crate::control;
use crate::signal::Signal;
use crate::task_report;
use core::alloc::{GlobalAlloc, Layout};

/// A [`GlobalAlloc`] that forwards to `A` on every thread but a rawclone spawner task, where it
/// names the task on stderr and aborts. Install it (in debug builds, say) to find tasks that
/// break [`Spawner::spawn`](crate::Spawner::spawn)'s rules where they break them: an allocation
/// in a task otherwise "works" and corrupts the heap for later, since glibc's `malloc` finds its
/// per-thread state through the thread pointer, which in a task is rawclone's.
///
/// Every call first asks whether the calling thread's pointer is a rawclone control block (a
/// few loads; on x86_64 without `FSGSBASE`, one `arch_prctl` call). On a Thread, Chimera or
/// Green task (or a Green worker) it writes one line, such as `rawclone: task 7 (Thread)
/// allocated 100 bytes (alloc; a formatted panic message allocates too): tasks may not
/// allocate, see Spawner::spawn's # Safety; SIGABRT ends the process`, and aborts before the
/// inner allocator runs: SIGABRT ends the process, or for a Chimera task the task alone (its
/// join returns [`crate::Error::TaskEnded`]). That covers allocating, reallocating and freeing,
/// whatever asked: `Box`, `Vec`, `format!`, `println!` when it allocates, and a panic whose
/// message is formatted at run time (std formats it before the panic hook runs, so such a panic
/// is reported as this allocation; a panic with a constant message reaches the hook).
///
/// It cannot see what does not allocate: `thread_local!`, a libc call made through std,
/// `println!` once its buffer exists. Nor the children of [`crate::thread`], [`crate::chimera`]
/// or a [`crate::Builder`] without [`crate::Builder::tls`]: they run on their parent's thread
/// pointer, so their allocations look like the parent's (and race with it).
///
/// ```
/// use std::alloc::System;
/// use rawclone::{Backend, GuardedAlloc, Spawner};
///
/// #[cfg_attr(debug_assertions, global_allocator)]
/// static ALLOC: GuardedAlloc<System> = GuardedAlloc::new(System);
///
/// fn main() -> rawclone::Result<()> {
///     let spawner = Spawner::new(Backend::Thread)?;
///     let v = vec![1u64, 2, 3]; // allocated here, on the main thread: fine
///     // SAFETY: the task only reads the vector it borrows; `Box::new` or `v.push` in it would
///     // abort the process with one line naming the task.
///     let sum = spawner.scope(|s| unsafe { s.spawn(|| v.iter().sum::<u64>()) }?.join())?;
///     assert_eq!(sum, 6);
///     Ok(())
/// }
/// ```
#[derive(Debug, Default)]
pub struct GuardedAlloc<A> {
    inner: A,
}

impl<A> GuardedAlloc<A> {
    /// Guard `inner`, the allocator that does the work (`std::alloc::System`, say).
    ///
    /// ```
    /// use rawclone::GuardedAlloc;
    /// use std::alloc::{GlobalAlloc, Layout, System};
    /// static ALLOC: GuardedAlloc<System> = GuardedAlloc::new(System);
    /// // Outside a rawclone task every call goes through to `System`.
    /// let layout = Layout::new::<u64>();
    /// // SAFETY: the layout has a non-zero size, and the block is freed with the layout it got.
    /// unsafe {
    ///     let block = ALLOC.alloc(layout);
    ///     assert!(!block.is_null());
    ///     ALLOC.dealloc(block, layout);
    /// }
    /// ```
    pub const fn new(inner: A) -> Self {
        GuardedAlloc { inner }
    }
}

/// Abort, naming the task, if the calling thread is rawclone's; `did` says what it asked for.
#[inline]
fn refuse_on_task(did: &str, bytes: usize, call: &str) {
    if control::this_block().is_some() {
        refuse(did, bytes, call);
    }
}

#[cold]
#[inline(never)]
fn refuse(did: &str, bytes: usize, call: &str) -> ! {
    task_report::say(
        control::this_task(),
        format_args!(
            "{did} {bytes} bytes ({call}; a formatted panic message allocates too): tasks may \
             not allocate, see Spawner::spawn's # Safety"
        ),
        Signal::SIGABRT,
    );
    task_report::abort()
}

// SAFETY: every call is forwarded unchanged to `A`, or does not return.
unsafe impl<A: GlobalAlloc> GlobalAlloc for GuardedAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        refuse_on_task("allocated", layout.size(), "alloc");
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        refuse_on_task("allocated", layout.size(), "alloc_zeroed");
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refuse_on_task("freed", layout.size(), "dealloc");
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        refuse_on_task("reallocated to", new_size, "realloc");
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
