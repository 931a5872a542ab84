//! Room for what one command line asks for, sized by that command line: an anonymous mapping
//! (`mmap(2)`) carved into typed slices and unmapped when dropped. `run` allocates nothing,
//! so that the std binary and the one without libc share it; this lets it take as many mount
//! options, environment changes and as long values as bwrap takes, instead of fixed counts.

use crate::sys;
use core::cell::Cell;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// A mapping handed out front to back, each piece once.
pub(super) struct Room {
    base: *mut u8,
    size: usize,
    used: Cell<usize>,
}

impl Room {
    /// A mapping of `bytes` (at least a page; ENOMEM as the kernel's answer).
    pub(super) fn map(bytes: usize) -> Result<Room, Errno> {
        let size = bytes.max(1).next_multiple_of(4096);
        let base = sys::mmap_anonymous(size, k::PROT_READ | k::PROT_WRITE, 0)?;
        Ok(Room {
            base,
            size,
            used: Cell::new(0),
        })
    }

    /// A slice of `len` values, each `fill`, from the room not yet handed out; `None` when it
    /// does not fit (the caller sized the room for what it asks). A mutable slice from a
    /// shared borrow, as an arena gives them out: each piece is handed out once.
    #[allow(clippy::mut_from_ref)]
    pub(super) fn take<T: Copy>(&self, len: usize, fill: T) -> Option<&mut [T]> {
        let start = self.used.get().next_multiple_of(align_of::<T>());
        let end = start.checked_add(len.checked_mul(size_of::<T>())?)?;
        if end > self.size {
            return None;
        }
        self.used.set(end);
        // SAFETY: [start, end) lies inside the mapping, is aligned for T (the mapping is
        // page-aligned), and is handed out once (`used` only grows), so this is the only
        // reference to it; the slice borrows `self`, which unmaps only when dropped.
        let slice = unsafe {
            let first = self.base.add(start).cast::<T>();
            for i in 0..len {
                first.add(i).write(fill);
            }
            core::slice::from_raw_parts_mut(first, len)
        };
        Some(slice)
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // SAFETY: every slice handed out borrowed `self`, so none outlives this.
        let _ = unsafe { sys::munmap(self.base, self.size) };
    }
}
