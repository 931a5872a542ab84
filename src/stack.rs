//! Child stacks: guard-paged mappings rawclone owns, or a buffer the caller lends.
//!
//! A child that shares the parent's memory must never run on the parent's stack, and one that
//! overflows its own must fault instead of writing into a neighbour. A mapped [`Stack`] therefore
//! has a `PROT_NONE` guard page below its lowest usable byte: an overflow raises SIGSEGV in the
//! child, which a chimera's join reports (a thread shares its signal disposition with the whole
//! thread group, so there the same fault ends the process, as with any thread).

use crate::error::{Error, Result};
use crate::sys;
use core::marker::PhantomData;
use linux_raw_sys::general as k;

/// The page size rawclone assumes for guard pages and rounding (4 KiB on x86_64 and on the arm64
/// kernels it targets).
pub const PAGE_SIZE: usize = 4096;

/// Stack size used when a caller does not choose one: roomy enough for unoptimised child code.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Memory a child runs on. Either a mapping rawclone owns (unmapped on drop) or a caller's buffer.
///
/// ```
/// use rawclone::{stack::PAGE_SIZE, Stack};
/// // A mapping of its own, with a PROT_NONE guard page below it.
/// let mapped = Stack::map(64 * 1024)?;
/// assert!(mapped.size() >= 64 * 1024 && mapped.has_guard());
/// // Or a caller's buffer: no guard, and it must outlive every child running on it.
/// let mut buf = [0u8; 4 * PAGE_SIZE];
/// let borrowed = Stack::from_buf(&mut buf);
/// assert!(borrowed.size() <= 4 * PAGE_SIZE && !borrowed.has_guard());
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Debug)]
pub struct Stack<'a> {
    /// Lowest usable byte.
    base: *mut u8,
    /// Usable bytes above `base`.
    len: usize,
    /// The whole mapping (guard page included) when rawclone owns it.
    mapping: Option<(*mut u8, usize)>,
    _buf: PhantomData<&'a mut [u8]>,
}

// SAFETY: a Stack is plain memory with a unique owner; moving it between threads is sound.
unsafe impl Send for Stack<'_> {}

/// Room a task's first frames need for its closure `F`, which waits in a slot of its own above
/// them: read out of the slot, then moved into the call, which an unoptimised build keeps
/// apart; padded to the closure's alignment.
pub(crate) const fn closure_room<F>() -> usize {
    size_of::<F>()
        .saturating_mul(2)
        .saturating_add(align_of::<F>())
}

/// Where a `T` goes right under `end`: the highest address aligned for `T` at which it ends at or
/// below `end`. It wraps below address 0, as a stack too small for it would; callers check the
/// place against the stack's base.
pub(crate) const fn place_under<T>(end: usize) -> usize {
    end.wrapping_sub(size_of::<T>()) & !(align_of::<T>() - 1)
}

const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl Stack<'static> {
    /// Map a stack of at least `size` usable bytes (rounded up to whole pages) with one guard page
    /// below it.
    ///
    /// ```
    /// let stack = rawclone::Stack::map(64 * 1024)?;
    /// assert_eq!(stack.size(), 64 * 1024);
    /// assert_eq!(stack.top() as usize % 16, 0);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn map(size: usize) -> Result<Stack<'static>> {
        let too_big = Error::OutOfMemory { call: "mmap" };
        let len = size
            .max(PAGE_SIZE)
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or(too_big)?;
        let total = len.checked_add(PAGE_SIZE).ok_or(too_big)?;
        let extra = k::MAP_STACK | k::MAP_NORESERVE;
        let map =
            sys::mmap_anonymous(total, k::PROT_NONE, extra).map_err(|e| Error::sys("mmap", e))?;
        // Own the mapping before anything else can fail, so an error path unmaps it.
        let stack = Stack {
            // SAFETY: `map + PAGE_SIZE` is inside the mapping of `total` bytes.
            base: unsafe { map.add(PAGE_SIZE) },
            len,
            mapping: Some((map, total)),
            _buf: PhantomData,
        };
        // SAFETY: the range lies inside our fresh mapping, which nothing uses yet.
        unsafe { sys::mprotect(stack.base, len, k::PROT_READ | k::PROT_WRITE) }
            .map_err(|e| Error::sys("mprotect", e))?;
        Ok(stack)
    }
}

impl<'a> Stack<'a> {
    /// Use a caller's buffer as a stack. It has no guard page: an overflow writes below it.
    ///
    /// ```
    /// let mut buf = [0u8; 8192];
    /// let stack = rawclone::Stack::from_buf(&mut buf);
    /// assert!(stack.size() > 8192 - 16);
    /// ```
    pub fn from_buf(buf: &'a mut [u8]) -> Stack<'a> {
        let start = buf.as_mut_ptr();
        // Trim the top so it is 16-byte aligned; the bottom needs no alignment.
        let end = (start as usize + buf.len()) & !15;
        let len = end.saturating_sub(start as usize);
        Stack {
            base: start,
            len,
            mapping: None,
            _buf: PhantomData,
        }
    }

    /// Usable bytes.
    ///
    /// ```
    /// let stack = rawclone::Stack::map(64 * 1024)?;
    /// assert!(stack.size() >= 64 * 1024);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.len
    }

    /// Lowest usable address (just above the guard page of a mapped stack).
    ///
    /// ```
    /// let stack = rawclone::Stack::map(64 * 1024)?;
    /// assert_eq!(stack.base().wrapping_add(stack.size()), stack.top());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// One past the highest usable byte: where the child's stack pointer starts, 16-byte aligned.
    ///
    /// ```
    /// let mut buf = [0u8; 4096];
    /// let stack = rawclone::Stack::from_buf(&mut buf);
    /// assert_eq!(stack.top() as usize % 16, 0);
    /// assert!(stack.top() as usize <= stack.base() as usize + 4096);
    /// ```
    pub fn top(&self) -> *mut u8 {
        self.base.wrapping_add(self.len)
    }

    /// Usable bytes of a mapped stack's whole mapping, however much of its top
    /// [`Stack::reserve_top`] set aside; `None` for a borrowed buffer.
    pub(crate) fn mapped_size(&self) -> Option<usize> {
        self.mapping.map(|(_, total)| total - PAGE_SIZE)
    }

    /// Give up ownership of a mapped stack without unmapping it: the base of its whole usable
    /// mapping, just above the guard page, however much [`Stack::reserve_bottom`] or
    /// [`Stack::reserve_top`] set aside. `None` (and the stack dropped) for a borrowed buffer.
    pub(crate) fn into_mapped_base(self) -> Option<*mut u8> {
        let base = self.mapping.map(|(map, _)| map.wrapping_add(PAGE_SIZE));
        core::mem::forget(self);
        base
    }

    /// Take back a stack that [`Stack::map`] made with `size` and [`Stack::into_mapped_base`]
    /// gave up.
    ///
    /// # Safety
    /// `base` must come from `into_mapped_base` on a `Stack::map(size)` stack that nothing else
    /// owns any more.
    pub(crate) unsafe fn from_mapped_base(base: *mut u8, size: usize) -> Stack<'static> {
        let len = round_up(size.max(PAGE_SIZE), PAGE_SIZE);
        Stack {
            base,
            len,
            mapping: Some((base.wrapping_sub(PAGE_SIZE), len + PAGE_SIZE)),
            _buf: PhantomData,
        }
    }

    /// Whether a guard page protects the bottom.
    ///
    /// ```
    /// use rawclone::Stack;
    /// assert!(Stack::map(64 * 1024)?.has_guard());
    /// assert!(!Stack::from_buf(&mut [0u8; 4096]).has_guard());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn has_guard(&self) -> bool {
        self.mapping.is_some()
    }

    /// Set aside `bytes` (rounded to 16) at the bottom for the caller's own data and return their
    /// address; the usable stack shrinks by that much. `None` if the stack is not that large.
    ///
    /// ```
    /// let mut stack = rawclone::Stack::map(64 * 1024)?;
    /// let (base, size) = (stack.base(), stack.size());
    /// assert_eq!(stack.reserve_bottom(100), Some(base)); // rounded up to 112
    /// assert_eq!((stack.base(), stack.size()), (base.wrapping_add(112), size - 112));
    /// assert_eq!(stack.reserve_bottom(1 << 30), None);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn reserve_bottom(&mut self, bytes: usize) -> Option<*mut u8> {
        let bytes = round_up(bytes, 16);
        if bytes > self.len {
            return None;
        }
        let low = self.base;
        self.base = self.base.wrapping_add(bytes);
        self.len -= bytes;
        Some(low)
    }

    /// Set aside `bytes` (rounded to 16) at the top for the caller's own data and return their
    /// address; the usable stack shrinks by that much and starts below them, so a child that
    /// overflows its stack meets the guard page, never this data. `None` if the stack is not
    /// that large.
    pub(crate) fn reserve_top(&mut self, bytes: usize) -> Option<*mut u8> {
        let bytes = round_up(bytes, 16);
        if bytes > self.len {
            return None;
        }
        self.len -= bytes;
        Some(self.top())
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        if let Some((map, total)) = self.mapping {
            // SAFETY: we own the mapping; every task that ran on it has been joined, because task
            // handles borrow their Stack mutably until they are joined or dropped.
            let _ = unsafe { sys::munmap(map, total) };
        }
    }
}
