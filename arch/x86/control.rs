//! The floating-point control state the x86 family's `green_switch` keeps, packed as `x87
//! control word << 32 | MXCSR`, for the switch's test in `green.rs`: the same on x86_64 and on
//! i686, so `arch/x86_64.rs` and `arch/x86.rs` both include this file as their `control` module
//! (a module of the arch files, not an arch file of its own).

/// What a new task starts with: the x87 default 0x037f and MXCSR's 0x1f80.
pub(crate) const DEFAULT: u64 = 0x037f << 32 | 0x1f80;
/// Rounding toward zero in both units.
pub(crate) const TOWARD_ZERO: u64 = 0x0c7f << 32 | 0x7f80;
/// Rounding up, toward +infinity, in both units.
pub(crate) const UPWARD: u64 = 0x0b7f << 32 | 0x5f80;

/// The calling thread's state.
pub(crate) fn get() -> u64 {
    let (mut cw, mut mxcsr) = (0u16, 0u32);
    // SAFETY: both instructions only store the state into the two locals.
    unsafe {
        core::arch::asm!(
            "fnstcw [{}]",
            "stmxcsr [{}]",
            in(reg) &raw mut cw,
            in(reg) &raw mut mxcsr,
        );
    }
    u64::from(cw) << 32 | u64::from(mxcsr)
}

/// Set the calling thread's state to `state`, packed as [`get`] returns it.
///
/// # Safety
/// Floating-point code the compiler emits assumes the default rounding: until the caller
/// puts [`DEFAULT`] back, it runs none whose result it relies on.
pub(crate) unsafe fn set(state: u64) {
    let (cw, mxcsr) = ((state >> 32) as u16, state as u32);
    // SAFETY: both instructions only load the state from the two locals; the caller's
    // contract covers the rounding.
    unsafe {
        core::arch::asm!(
            "fldcw [{}]",
            "ldmxcsr [{}]",
            in(reg) &raw const cw,
            in(reg) &raw const mxcsr,
        );
    }
}
