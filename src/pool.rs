//! A pool of guard-paged stacks of one size, so that spawning a task does not cost an
//! `mmap`/`mprotect`/`munmap` round trip and finds its stack pages already faulted in.
//!
//! Each stack is mapped once, on first demand, by [`Stack::map`] (guard page included), handed out
//! to one task at a time, and taken back after that task is joined. The pool keeps at most a set
//! number idle (by default [`IDLE_BYTES`] worth, as glibc caches thread stacks; a [`Spawner`]'s
//! [`Config::keep_idle_stacks`] says otherwise) and unmaps a stack given back beyond that, so a
//! burst of tasks does not hold its stacks' memory for the rest of the program; the rest are
//! unmapped when the pool is dropped. Free stacks form an intrusive list: the link lives in the
//! free stack's own top bytes, so the pool needs no allocator.
//!
//! A [`StackSlot`] keeps one idle stack, for callers that hold a stack only for a moment (an
//! exec child's, see [`crate::program`]).
//!
//! [`Spawner`]: crate::Spawner
//! [`Config::keep_idle_stacks`]: crate::spawner::Config::keep_idle_stacks

use crate::error::{Error, Result};
use crate::stack::{PAGE_SIZE, Stack};
use crate::sync::Lock;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Free stacks: the newest first, so the warmest pages are reused first.
struct FreeList {
    /// Base of the first free stack, or null.
    head: *mut u8,
    /// How many stacks the list holds.
    len: usize,
}

// SAFETY: the list owns the stacks it links; moving that ownership between threads is sound.
unsafe impl Send for FreeList {}

/// How many bytes of idle stacks a spawner's pool keeps by default
/// ([`Config::keep_idle_stacks`](crate::spawner::Config::keep_idle_stacks)): 40 MiB, glibc's
/// default for its cache of thread stacks.
///
/// ```
/// use rawclone::{Backend, Spawner, spawner::{DEFAULT_IDLE_BYTES, DEFAULT_TASK_STACK}};
/// let spawner = Spawner::new(Backend::Thread)?;
/// assert_eq!(spawner.kept_idle_stacks(), DEFAULT_IDLE_BYTES / DEFAULT_TASK_STACK);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub const IDLE_BYTES: usize = 40 << 20;

/// Stacks of `size` usable bytes, reused after each task.
pub(crate) struct StackPool {
    size: usize,
    /// The most idle stacks kept; one given back beyond that is unmapped.
    keep: usize,
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
    /// A pool of stacks of `size` bytes (whole pages) that keeps `keep` idle ones, or by default
    /// as many as fit in [`IDLE_BYTES`] (at least one).
    pub(crate) const fn new(size: usize, keep: Option<usize>) -> StackPool {
        StackPool {
            size,
            keep: match keep {
                Some(keep) => keep,
                None => default_idle(size),
            },
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

    /// Return a stack that [`StackPool::take`] gave out and no task runs on any more: kept for
    /// the next task, or unmapped when the pool holds as many idle ones as it keeps.
    pub(crate) fn give(&self, stack: Stack<'static>) {
        debug_assert_eq!(stack.size(), self.size);
        let mut free = self.free.lock();
        if free.len >= self.keep {
            drop(free);
            drop(stack); // unmapped, outside the lock
            return;
        }
        let Some(base) = stack.into_mapped_base() else {
            return;
        };
        // SAFETY: the stack is ours and idle; its top 16 bytes are writable.
        unsafe { self.link(base).write(free.head) };
        free.head = base;
        free.len += 1;
    }

    /// The most idle stacks the pool keeps.
    pub(crate) fn keeps(&self) -> usize {
        self.keep
    }

    /// How many idle stacks the pool holds.
    pub(crate) fn idle(&self) -> usize {
        self.free.lock().len
    }
}

/// How many idle stacks of `size` bytes fit in [`IDLE_BYTES`], at least one.
const fn default_idle(size: usize) -> usize {
    let n = IDLE_BYTES / if size == 0 { 1 } else { size };
    if n == 0 { 1 } else { n }
}

impl core::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StackPool")
            .field("stack_size", &self.size)
            .finish()
    }
}

/// One idle stack of `size` bytes (whole pages), kept in an atomic word: a take finds it mapped
/// and its pages faulted in, or maps a fresh one while another caller holds it; a give unmaps
/// the stack when the slot is full already. No lock, so a fork during a take or a give leaves
/// nothing held: the copy at worst maps a stack of its own.
pub(crate) struct StackSlot {
    size: usize,
    /// Base of the idle stack, or null.
    base: AtomicPtr<u8>,
}

impl StackSlot {
    /// An empty slot for stacks of `size` bytes, a whole number of pages.
    pub(crate) const fn new(size: usize) -> StackSlot {
        StackSlot {
            size,
            base: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Usable bytes of the slot's stacks.
    pub(crate) fn stack_size(&self) -> usize {
        self.size
    }

    /// The idle stack, or a newly mapped one.
    pub(crate) fn take(&self) -> Result<Stack<'static>> {
        let base = self.base.swap(ptr::null_mut(), Ordering::Acquire);
        if base.is_null() {
            return Stack::map(self.size);
        }
        // SAFETY: the slot owned this stack, made by Stack::map(self.size), and now we do.
        Ok(unsafe { Stack::from_mapped_base(base, self.size) })
    }

    /// Keep `stack`, which no task runs on any more, for the next take; unmap it if the slot is
    /// full or the stack is not one of its size.
    pub(crate) fn give(&self, stack: Stack<'static>) {
        if stack.mapped_size() != Some(self.size) {
            return; // dropped: unmapped
        }
        let Some(base) = stack.into_mapped_base() else {
            return;
        };
        let kept =
            self.base
                .compare_exchange(ptr::null_mut(), base, Ordering::Release, Ordering::Relaxed);
        if kept.is_err() {
            // SAFETY: we still own the stack that `into_mapped_base` gave up; dropping unmaps it.
            drop(unsafe { Stack::from_mapped_base(base, self.size) });
        }
    }
}

impl Drop for StackSlot {
    fn drop(&mut self) {
        let base = *self.base.get_mut();
        if !base.is_null() {
            // SAFETY: the slot owned it, made by Stack::map(self.size); dropping unmaps it.
            drop(unsafe { Stack::from_mapped_base(base, self.size) });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_keeps_one_stack_and_only_one_of_its_size() {
        let slot = StackSlot::new(4 * PAGE_SIZE);
        let mut first = slot.take().unwrap();
        let base = first.base();
        // A stack with its top set aside goes back whole.
        first.reserve_top(64).unwrap();
        slot.give(first);
        let again = slot.take().unwrap();
        assert_eq!((again.base(), again.size()), (base, 4 * PAGE_SIZE));
        // While it is out, a second take maps another; the slot keeps the first given back.
        let other = slot.take().unwrap();
        assert_ne!(other.base(), base);
        slot.give(again);
        slot.give(other);
        assert_eq!(slot.take().unwrap().base(), base);
        // A stack of another size is not kept.
        slot.give(Stack::map(8 * PAGE_SIZE).unwrap());
        assert!(slot.base.load(Ordering::Relaxed).is_null());
        // Nor is the base that a reserve at the bottom moved: the mapping's own comes back.
        let mut low = slot.take().unwrap();
        let mapped = low.base();
        low.reserve_bottom(PAGE_SIZE).unwrap();
        slot.give(low);
        let whole = slot.take().unwrap();
        assert_eq!((whole.base(), whole.size()), (mapped, 4 * PAGE_SIZE));
    }
}
