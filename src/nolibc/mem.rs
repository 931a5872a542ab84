//! `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and `strlen` for the binary on `*-linux-gnu`
//! targets, where it links no libc (`build.rs`: `-nostdlib`) and the target's prebuilt
//! `compiler_builtins` leaves these to libc. (The `*-unknown-none` sysroots' `compiler_builtins`
//! has its own; on `*-linux-musl` targets the binary links musl's `libc.a`.) Byte loops: the
//! commands copy little. The crate is `no_builtins` on these targets, so LLVM does not turn a loop
//! back into a call to the function it is in.

use core::ffi::c_int;

/// `memcpy(3)`.
///
/// # Safety
/// `src` and `dest` are valid for `n` bytes and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: both ranges are valid for `n` bytes (the caller's contract).
        unsafe { *dest.add(i) = *src.add(i) };
    }
    dest
}

/// `memmove(3)`: copies forwards when `dest` is below `src`, else backwards, so an overlap is
/// read before it is overwritten.
///
/// # Safety
/// `src` and `dest` are valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) < (src as usize) {
        for i in 0..n {
            // SAFETY: as memcpy's; each byte is read before a later write can reach it.
            unsafe { *dest.add(i) = *src.add(i) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: as above, walking down.
            unsafe { *dest.add(i) = *src.add(i) };
        }
    }
    dest
}

/// `memset(3)`.
///
/// # Safety
/// `s` is valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(s: *mut u8, c: c_int, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the range is valid for `n` bytes (the caller's contract).
        unsafe { *s.add(i) = c as u8 };
    }
    s
}

/// `memcmp(3)`.
///
/// # Safety
/// `a` and `b` are valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    for i in 0..n {
        // SAFETY: both ranges are valid for `n` bytes (the caller's contract).
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return c_int::from(x) - c_int::from(y);
        }
    }
    0
}

/// `bcmp(3)`: `memcmp` answers it (zero exactly when equal).
///
/// # Safety
/// As [`memcmp`]'s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> c_int {
    // SAFETY: the caller's contract is memcmp's.
    unsafe { memcmp(a, b, n) }
}

/// `strlen(3)` (`CStr::from_ptr` calls it).
///
/// # Safety
/// `s` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: every byte up to and including the NUL is readable (the caller's contract).
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}
