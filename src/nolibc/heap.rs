//! The binary's allocator where nothing else brings one (no libc, no std): bump allocation from
//! anonymous mappings.
//!
//! The commands allocate little, from the main thread only (a task may not allocate, see
//! [`rawclone::Spawner::spawn`]'s rules), and exit soon after: the tour's evidence strings, `run`'s
//! argument lists, `bench-report`'s files. So a bump pointer under a spin lock serves them, with
//! the newest block given back or grown in place (a growing `String` or `Vec`) and large blocks
//! mapped on their own and unmapped when freed; other small blocks are not reused.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use linux_raw_sys::general::{PROT_READ, PROT_WRITE};
use rawclone::sys;

/// Blocks of this size and more get a mapping of their own.
const LARGE: usize = 64 * 1024;

/// The size of each mapping small blocks are cut from.
const CHUNK: usize = 1024 * 1024;

/// The alignment a fresh mapping has at least (the smallest page size Linux uses).
const PAGE: usize = 4096;

/// The bump state: free space is `[next, end)`; `last` is where the newest block starts.
struct Bump {
    next: usize,
    end: usize,
    last: usize,
}

/// The global allocator of the binary without std.
pub struct Heap {
    locked: AtomicBool,
    bump: UnsafeCell<Bump>,
}

// SAFETY: `bump` is only touched between `lock` and `unlock`, which exclude each other.
unsafe impl Sync for Heap {}

impl Heap {
    /// An empty heap: the first small allocation maps its first chunk.
    pub const fn new() -> Heap {
        Heap {
            locked: AtomicBool::new(false),
            bump: UnsafeCell::new(Bump {
                next: 0,
                end: 0,
                last: 0,
            }),
        }
    }

    /// Run `f` on the bump state under the lock.
    fn with<R>(&self, f: impl FnOnce(&mut Bump) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the state.
        let r = f(unsafe { &mut *self.bump.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

/// A fresh read-write mapping of `len` bytes, or null.
fn map(len: usize) -> *mut u8 {
    sys::mmap_anonymous(len, PROT_READ | PROT_WRITE, 0).unwrap_or(core::ptr::null_mut())
}

// SAFETY: every block is either a mapping of its own (large) or a range of a chunk that no other
// live block overlaps: `next` only moves back over the newest block when that block is freed or
// resized, and blocks are aligned as their layout asks (chunks and mappings are page-aligned;
// larger alignments are refused with null).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > PAGE {
            return core::ptr::null_mut();
        }
        if layout.size() >= LARGE {
            return map(layout.size());
        }
        self.with(|b| {
            let mut start = b.next.next_multiple_of(layout.align());
            if b.next == 0 || start + layout.size() > b.end {
                let chunk = map(CHUNK);
                if chunk.is_null() {
                    return chunk;
                }
                (b.next, b.end) = (chunk as usize, chunk as usize + CHUNK);
                start = b.next;
            }
            b.last = start;
            b.next = start + layout.size();
            start as *mut u8
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= LARGE {
            // SAFETY: a large block is a mapping of its own, which the caller no longer uses.
            let _ = unsafe { sys::munmap(ptr, layout.size()) };
            return;
        }
        self.with(|b| {
            if ptr as usize == b.last && b.last + layout.size() == b.next {
                b.next = b.last;
            }
        })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grown_in_place = layout.size() < LARGE
            && new_size < LARGE
            && self.with(|b| {
                let newest = ptr as usize == b.last && b.last + layout.size() == b.next;
                let fits = b.last + new_size <= b.end;
                if newest && fits {
                    b.next = b.last + new_size;
                }
                newest && fits
            });
        if grown_in_place {
            return ptr;
        }
        // SAFETY: the caller's layout with the new size is valid (GlobalAlloc::realloc's rules).
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct and at least this long; the old one is freed
            // after the copy and not used again.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
