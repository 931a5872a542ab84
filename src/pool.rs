//! A pool of guard-paged stacks of one size, so that spawning a task does not cost an
//! `mmap`/`mprotect`/`munmap` round trip and finds its stack pages already faulted in.
//!
//! Each stack is mapped once, on first demand, by [`Stack::map`] (guard page included), handed out
//! to one task at a time, taken back after that task is joined, and unmapped when the pool is
//! dropped. Free stacks form an intrusive list: the link lives in the free stack's own top bytes,
//! so the pool needs no allocator and no bound on its size.

use crate::error::{Error, Result};
use crate::stack::{PAGE_SIZE, Stack};
use crate::sync::Lock;
use core::ptr;

/// Free stacks: the newest first, so the warmest pages are reused first.
struct FreeList {
    /// Base of the first free stack, or null.
    head: *mut u8,
    /// How many stacks the list holds.
    len: usize,
}

// SAFETY: the list owns the stacks it links; moving that ownership between threads is sound.
unsafe impl Send for FreeList {}

/// Stacks of `size` usable bytes, reused after each task.
pub(crate) struct StackPool {
    size: usize,
    free: Lock<FreeList>,
}

/// A requested stack size as the pool maps it: at least one page, rounded up to whole pages
/// (`OutOfMemory` where that overflows). Every pool's size comes through here: the pool's link
/// and a task's stack-range check both assume whole pages.
pub(crate) fn whole_pages(bytes: usize) -> Result<usize> {
    bytes
        .max(PAGE_SIZE)
        .checked_next_multiple_of(PAGE_SIZE)
        .ok_or(Error::OutOfMemory { call: "mmap" })
}

impl StackPool {
    pub(crate) const fn new(size: usize) -> StackPool {
        StackPool {
            size,
            free: Lock::new(FreeList {
                head: ptr::null_mut(),
                len: 0,
            }),
        }
    }

    /// Usable bytes of every stack in the pool.
    pub(crate) fn stack_size(&self) -> usize {
        self.size
    }

    /// Where a free stack keeps the link to the next one: the top 16 bytes.
    fn link(&self, base: *mut u8) -> *mut *mut u8 {
        base.wrapping_add(self.size - 16).cast()
    }

    /// A stack from the free list, or a newly mapped one.
    pub(crate) fn take(&self) -> Result<Stack<'static>> {
        let mut free = self.free.lock();
        let base = free.head;
        if base.is_null() {
            drop(free);
            return Stack::map(self.size);
        }
        // SAFETY: `base` heads the list, so its link slot holds the next free stack's base.
        free.head = unsafe { self.link(base).read() };
        free.len -= 1;
        drop(free);
        // SAFETY: the list owned this stack, made by Stack::map(self.size), and now we do.
        Ok(unsafe { Stack::from_mapped_base(base, self.size) })
    }

    /// Return a stack that [`StackPool::take`] gave out and no task runs on any more.
    pub(crate) fn give(&self, stack: Stack<'static>) {
        debug_assert_eq!(stack.size(), self.size);
        let Some(base) = stack.into_mapped_base() else {
            return;
        };
        let mut free = self.free.lock();
        // SAFETY: the stack is ours and idle; its top 16 bytes are writable.
        unsafe { self.link(base).write(free.head) };
        free.head = base;
        free.len += 1;
    }

    /// How many idle stacks the pool holds.
    pub(crate) fn idle(&self) -> usize {
        self.free.lock().len
    }
}

impl core::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StackPool")
            .field("stack_size", &self.size)
            .finish()
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let mut free = self.free.lock();
        while !free.head.is_null() {
            let base = free.head;
            // SAFETY: as in `take`: the head's link slot holds the next base.
            free.head = unsafe { self.link(base).read() };
            // SAFETY: the list owned it; dropping the Stack unmaps it.
            drop(unsafe { Stack::from_mapped_base(base, self.size) });
        }
        free.len = 0;
    }
}
