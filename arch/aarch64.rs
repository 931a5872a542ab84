//! aarch64 backend: the only place where rawclone writes machine code for this architecture.
//!
//! `clone(2)` and `clone3(2)` return twice. In a child that was given a stack of its own, the
//! return lands on that new, empty stack, where no frame of the issuing code exists, so the child
//! side never returns into the Rust code around the `asm!` block: it branches to `child_entry`,
//! which calls the entry, hands the result to `exit(2)`, and tells unwinders (in its CFI) that the
//! stack ends there.
//!
//! Register facts this file relies on (see the aarch64 syscall ABI in `syscall(2)`):
//! - number in `x8`, arguments in `x0..x5`, result in `x0`; `svc #0` preserves every other register,
//!   in the parent and in the child, which is how entry and argument reach the child;
//! - `x18` is the platform register, `x19` and `x29` are reserved by LLVM, so the entry and its
//!   argument travel in `x9`/`x10`;
//! - `sp` must be 16-byte aligned at every instruction, not just at calls;
//! - the raw `clone` argument order is `(flags, newsp, parent_tid, tls, child_tid)`: `tls` and
//!   `child_tid` are swapped relative to x86_64.

use core::arch::asm;

/// This architecture's name, as `std::env::consts::ARCH` spells it (for programs without std).
///
/// ```
/// assert_eq!(rawclone::arch::NAME, std::env::consts::ARCH);
/// ```
pub const NAME: &str = "aarch64";

/// The function a child runs on its new stack; its return value becomes the `exit(2)` status.
///
/// ```
/// extern "C" fn exit_with_arg(arg: *mut u8) -> i32 {
///     arg as i32
/// }
/// let entry: rawclone::arch::ChildEntry = exit_with_arg;
/// // SAFETY: `exit_with_arg` takes any pointer value and never dereferences it.
/// assert_eq!(unsafe { entry(7 as *mut u8) }, 7);
/// ```
pub type ChildEntry = unsafe extern "C" fn(arg: *mut u8) -> i32;

/// Issue a stack-switching clone syscall (`nr` is `clone` or `clone3`) and run `entry(arg)` in the
/// child. The five raw arguments go to the kernel unchanged.
///
/// # Safety
/// The arguments must describe a new, 16-byte-aligned stack for the child (directly for `clone`,
/// through a `clone_args` for `clone3`); `entry` must be safe to run on it with `arg`.
#[inline(always)]
unsafe fn trampoline(nr: usize, a: [usize; 5], entry: ChildEntry, arg: *mut u8) -> isize {
    let ret: isize;
    // SAFETY: the caller guarantees the child gets a valid stack. The parent path touches no stack
    // (`nostack`); the child path branches to `child_entry`, which never returns, so it never
    // falls through to the code after this block.
    unsafe {
        asm!(
            "svc #0",           // x8 = syscall number; kernel: parent x0 = child tid or -errno,
                                //   child x0 = 0 and sp = the new stack top
            "cbnz x0, 2f",      // nonzero: parent or error, leave with x0 as the result
            "b {child}",        // child: sp = the new stack top, x9 = entry, x10 = arg; go on in
                                //   child_entry, whose CFI makes it the outermost frame
            "2:",
            child = sym child_entry,
            inlateout("x0") a[0] => ret, // clone: flags | clone3: struct clone_args *
            in("x1") a[1],      // clone: child stack top | clone3: sizeof(struct clone_args)
            in("x2") a[2],      // clone: parent_tid ptr
            in("x3") a[3],      // clone: tls
            in("x4") a[4],      // clone: child_tid ptr
            in("x8") nr,        // syscall number
            in("x9") entry,     // survives the syscall into the child
            in("x10") arg,      // survives the syscall into the child
            options(nostack),
        );
    }
    ret
}

/// Where the trampoline's child continues, branched to (not called) right after the syscall on
/// its new, empty stack, with `x9` = entry and `x10` = arg. Nothing called this code, so there is
/// no caller to unwind into: its CFI marks the return address register (`x30`) undefined, the
/// DWARF way to say "outermost frame" (glibc's `clone.S` does the same), so debuggers and the
/// unwinder (a panic, `std::backtrace`) stop here instead of reading stale frames. `x29` = 0 and
/// `x30` = 0 end the frame-record chain too, for walkers that follow it.
#[unsafe(naked)]
unsafe extern "C" fn child_entry() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",     // an FDE of its own: CFA = sp, as at any function entry
        ".cfi_undefined x30", // no return address: unwinders stop at this frame
        "mov x29, xzr",       // fp = 0 ends the frame-record chain
        "mov x30, xzr",       // lr = 0: nothing to return to
        "mov x0, x10",        // x0 = arg, the entry's first argument
        "blr x9",             // x9 = entry; sp is 16-aligned as the new stack top
        "mov x8, #93",        // x8 = SYS_exit (ends this task only); x0 already holds the status
        "svc #0",             // never returns
        "udf #0",             // unreachable: trap rather than run into whatever follows
        ".cfi_endproc",
    )
}

/// Raw `clone(2)` onto a new stack; the child runs `entry(arg)` and exits with its return value.
///
/// Returns the child's tid in the parent, or `-errno`. Never returns in the child.
///
/// # Safety
/// `stack_top` must be the 16-byte-aligned top of memory that stays valid, and is used by nothing
/// else, until the child exits or execs. `parent_tid`, `child_tid` and `tls` must be valid for the
/// flags that use them. `entry` must be sound to run in the child with `arg`.
pub unsafe fn clone(
    flags: usize,
    stack_top: *mut u8,
    parent_tid: *mut i32,
    child_tid: *mut i32,
    tls: usize,
    entry: ChildEntry,
    arg: *mut u8,
) -> isize {
    let args = [
        flags,
        stack_top as usize,
        parent_tid as usize,
        tls,
        child_tid as usize,
    ];
    // SAFETY: forwarded from this function's contract.
    unsafe { trampoline(syscalls::Sysno::clone as usize, args, entry, arg) }
}

/// Raw `clone3(2)`; the child runs `entry(arg)` on the stack the `clone_args` describe and exits
/// with its return value.
///
/// # Safety
/// `args` must point to a valid `clone_args` of `size` bytes whose stack (lowest address plus size)
/// stays valid and unused by anything else until the child exits or execs; see [`clone`].
pub unsafe fn clone3(args: *mut u8, size: usize, entry: ChildEntry, arg: *mut u8) -> isize {
    let args = [args as usize, size, 0, 0, 0];
    // SAFETY: forwarded from this function's contract.
    unsafe { trampoline(syscalls::Sysno::clone3 as usize, args, entry, arg) }
}

/// The calling thread's thread pointer, `tpidr_el0`.
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reading tpidr_el0 is allowed at EL0 and has no side effects.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags)) };
    tp
}

/// The function a green task starts in; it never returns (it switches away for good instead).
///
/// ```
/// extern "C" fn finish(_arg: *mut u8) -> ! {
///     // A real entry runs its task, then switches to its worker for good.
///     rawclone::sys::exit_group(0)
/// }
/// let entry: rawclone::arch::GreenEntry = finish;
/// # let _ = entry;
/// ```
pub type GreenEntry = unsafe extern "C" fn(arg: *mut u8) -> !;

/// Bytes [`green_frame`] writes below the top of a new green task's stack.
pub const GREEN_FRAME: usize = 176;

/// Prepare a never-run green task: write, just below `top`, the frame [`green_switch`] loads, so
/// that the first switch to the returned stack pointer "returns" into `entry(arg)`.
///
/// Frame layout (byte offsets from the returned pointer, as `green_switch` stores them): x19..x28
/// at 0..80 (x19 = `entry`, x20 = `arg`), x29 = 0 and x30 = the start stub at 80, d8..d15 at 96,
/// FPCR at 160 (0: round to nearest, no traps), 8 bytes of padding.
///
/// # Safety
/// `top` must be 16-byte aligned with [`GREEN_FRAME`] writable bytes below it, on a stack that
/// stays valid while the task can run.
pub unsafe fn green_frame(top: *mut u8, entry: GreenEntry, arg: *mut u8) -> *mut u8 {
    let start: unsafe extern "C" fn() -> ! = green_start;
    let mut frame = [0u64; GREEN_FRAME / 8];
    frame[0] = entry as usize as u64; // x19
    frame[1] = arg as u64; // x20
    frame[11] = start as usize as u64; // x30: where green_switch's `ret` lands
    let sp = top.wrapping_sub(GREEN_FRAME);
    // SAFETY: the caller gives GREEN_FRAME writable, aligned bytes below `top`.
    unsafe { sp.cast::<[u64; GREEN_FRAME / 8]>().write(frame) };
    sp
}

/// First code of every green task, reached by `green_switch`'s `ret` with `sp` 16-aligned.
#[unsafe(naked)]
unsafe extern "C" fn green_start() -> ! {
    core::arch::naked_asm!(
        "mov x0, x20", // x0 = arg (loaded into x20 from the frame green_frame wrote)
        "blr x19",     // x19 = entry; never returns
        "udf #0",      // unreachable
    )
}

/// Switch green tasks: save the callee-saved registers on the current stack, store its stack
/// pointer at `*save`, load `load` as the stack pointer and restore the registers the other side
/// saved (or [`green_frame`] prepared). Returns when something switches back to `*save`.
///
/// Only what AAPCS64 makes callee-saved is kept: x19–x28, the frame pointer x29, the link
/// register x30, the low halves d8–d15 of v8–v15, and FPCR.
///
/// # Safety
/// `load` must come from a previous save or from [`green_frame`], on a stack that is still valid
/// and that no other thread is running on; `save` must be writable.
#[unsafe(naked)]
pub unsafe extern "C" fn green_switch(save: *mut *mut u8, load: *mut u8) {
    core::arch::naked_asm!(
        "sub sp, sp, #176", // room for the frame on the outgoing stack (keeps sp 16-aligned)
        "stp x19, x20, [sp, #0]", // callee-saved general registers
        "stp x21, x22, [sp, #16]",
        "stp x23, x24, [sp, #32]",
        "stp x25, x26, [sp, #48]",
        "stp x27, x28, [sp, #64]",
        "stp x29, x30, [sp, #80]", // frame pointer and return address
        "stp d8, d9, [sp, #96]",   // callee-saved halves of the vector registers
        "stp d10, d11, [sp, #112]",
        "stp d12, d13, [sp, #128]",
        "stp d14, d15, [sp, #144]",
        "mrs x9, fpcr", // x9 = floating-point control (scratch: caller-saved)
        "str x9, [sp, #160]",
        "mov x9, sp",         // x9 = the outgoing stack pointer
        "str x9, [x0]",       // x0 = save
        "mov sp, x1",         // x1 = load: now on the incoming task's stack
        "ldr x9, [sp, #160]", // its floating-point control
        "msr fpcr, x9",
        "ldp d8, d9, [sp, #96]", // its registers, as saved above or written by green_frame
        "ldp d10, d11, [sp, #112]",
        "ldp d12, d13, [sp, #128]",
        "ldp d14, d15, [sp, #144]",
        "ldp x19, x20, [sp, #0]",
        "ldp x21, x22, [sp, #16]",
        "ldp x23, x24, [sp, #32]",
        "ldp x25, x26, [sp, #48]",
        "ldp x27, x28, [sp, #64]",
        "ldp x29, x30, [sp, #80]",
        "add sp, sp, #176", // pop the frame
        "ret",              // to x30: where it called green_switch, or green_start
    )
}

/// Where a signal handler returns to: on aarch64 the kernel uses the vDSO's sigreturn trampoline
/// when `SA_RESTORER` is not set, so rawclone names none.
pub const SIGNAL_RESTORER: Option<unsafe extern "C" fn() -> !> = None;

/// The body of `_start`, which [`crate::freestanding_main!`] defines in the program (a library
/// must not: every program linked with a C runtime has one from its `crt1.o`). The kernel enters
/// with `sp` pointing at `argc`, followed by `argv[]`, NULL, `envp[]`, NULL and the auxiliary
/// vector; `$entry(sp)` takes over and never returns.
#[doc(hidden)]
#[macro_export]
macro_rules! __start_asm {
    ($entry:path) => {
        ::core::arch::naked_asm!(
            "mov x29, xzr",   // fp = 0: the outermost frame
            "mov x0, sp",     // x0 = the initial stack pointer (16-aligned by the kernel), entry's argument
            "bl {entry}",     // entry(sp) never returns: it ends with exit_group
            "udf #0",         // unreachable
            entry = sym $entry,
        )
    };
}

/// The floating-point control state [`green_switch`] keeps, FPCR, for the switch's test in
/// `green.rs` (which every arch file serves the same way).
#[cfg(test)]
pub(crate) mod control {
    /// What a new task starts with: round to nearest, no traps.
    pub(crate) const DEFAULT: u64 = 0;
    /// FPCR.RMode = RZ, rounding toward zero.
    pub(crate) const TOWARD_ZERO: u64 = 0b11 << 22;
    /// FPCR.RMode = RP, rounding toward +infinity.
    pub(crate) const UPWARD: u64 = 0b01 << 22;

    /// The calling thread's FPCR.
    pub(crate) fn get() -> u64 {
        let value: u64;
        // SAFETY: reading FPCR has no side effect.
        unsafe { core::arch::asm!("mrs {}, fpcr", out(reg) value) };
        value
    }

    /// Set the calling thread's FPCR.
    ///
    /// # Safety
    /// Floating-point code the compiler emits assumes the default rounding: until the caller
    /// puts [`DEFAULT`] back, it runs none whose result it relies on.
    pub(crate) unsafe fn set(state: u64) {
        // SAFETY: writes FPCR only; the caller's contract covers the rounding.
        unsafe { core::arch::asm!("msr fpcr, {}", in(reg) state) };
    }
}

/// What [`green_switch`]'s register test in `green.rs` runs on this architecture (which every
/// arch file serves the same way): x19–x29 and the low halves d8–d15 (FPCR has a test of its
/// own).
#[cfg(test)]
pub(crate) mod registers {
    use super::green_switch;

    /// What [`probe`] loads before the switch and expects back: x19..x29 = 1000..1010, d8..d15
    /// = the bits 2000..2007.
    pub(crate) const EXPECTED: [u64; 19] = {
        let mut words = [0u64; 19];
        let mut i = 0;
        while i < 11 {
            words[i] = 1000 + i as u64;
            i += 1;
        }
        while i < 19 {
            words[i] = 2000 + (i - 11) as u64;
            i += 1;
        }
        words
    };

    /// The task side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn clobber(switch: *mut u8) -> ! {
        core::arch::naked_asm!(
            "ldr x1, [x0]",   // x1 = load: the main side's saved stack pointer
            "add x0, x0, #8", // x0 = save: the task's slot
            "mov x9, #-1",    // x9 = all ones, the value every register gets
            "mov x19, x9",
            "mov x20, x9",
            "mov x21, x9",
            "mov x22, x9",
            "mov x23, x9",
            "mov x24, x9",
            "mov x25, x9",
            "mov x26, x9",
            "mov x27, x9",
            "mov x28, x9",
            "mov x29, x9",
            "fmov d8, x9", // the vector registers' low halves, all 64 bits
            "fmov d9, x9",
            "fmov d10, x9",
            "fmov d11, x9",
            "fmov d12, x9",
            "fmov d13, x9",
            "fmov d14, x9",
            "fmov d15, x9",
            "bl {switch}", // back to the main side; nothing switches here again
            "udf #0",      // unreachable
            switch = sym green_switch,
        )
    }

    /// The main side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn probe(switch: *mut u8, task_sp: *mut u8, out: *mut u64) {
        core::arch::naked_asm!(
            "sub sp, sp, #176",       // room for the caller's x19..x30, d8..d15 and `out`
            "stp x19, x20, [sp, #0]", // the caller's registers, restored before the return
            "stp x21, x22, [sp, #16]",
            "stp x23, x24, [sp, #32]",
            "stp x25, x26, [sp, #48]",
            "stp x27, x28, [sp, #64]",
            "stp x29, x30, [sp, #80]",
            "stp d8, d9, [sp, #96]",
            "stp d10, d11, [sp, #112]",
            "stp d12, d13, [sp, #128]",
            "stp d14, d15, [sp, #144]",
            "str x2, [sp, #160]", // x2 = out, kept across the switches on this stack
            "mov x19, #1000",     // known values in every callee-saved register
            "mov x20, #1001",
            "mov x21, #1002",
            "mov x22, #1003",
            "mov x23, #1004",
            "mov x24, #1005",
            "mov x25, #1006",
            "mov x26, #1007",
            "mov x27, #1008",
            "mov x28, #1009",
            "mov x29, #1010",
            "mov x9, #2000", // d_i = the bits 2000 + (i - 8)
            "fmov d8, x9",
            "mov x9, #2001",
            "fmov d9, x9",
            "mov x9, #2002",
            "fmov d10, x9",
            "mov x9, #2003",
            "fmov d11, x9",
            "mov x9, #2004",
            "fmov d12, x9",
            "mov x9, #2005",
            "fmov d13, x9",
            "mov x9, #2006",
            "fmov d14, x9",
            "mov x9, #2007",
            "fmov d15, x9",
            "bl {switch}", // x0 = save (the main side's slot), x1 = load (task_sp); back here
            //                after the task clobbered everything and switched back
            "ldr x9, [sp, #160]",     // x9 = out
            "stp x19, x20, [x9, #0]", // what the switch restored
            "stp x21, x22, [x9, #16]",
            "stp x23, x24, [x9, #32]",
            "stp x25, x26, [x9, #48]",
            "stp x27, x28, [x9, #64]",
            "str x29, [x9, #80]",
            "stp d8, d9, [x9, #88]",
            "stp d10, d11, [x9, #104]",
            "stp d12, d13, [x9, #120]",
            "stp d14, d15, [x9, #136]",
            "ldp d8, d9, [sp, #96]", // the caller's registers back
            "ldp d10, d11, [sp, #112]",
            "ldp d12, d13, [sp, #128]",
            "ldp d14, d15, [sp, #144]",
            "ldp x19, x20, [sp, #0]",
            "ldp x21, x22, [sp, #16]",
            "ldp x23, x24, [sp, #32]",
            "ldp x25, x26, [sp, #48]",
            "ldp x27, x28, [sp, #64]",
            "ldp x29, x30, [sp, #80]",
            "add sp, sp, #176", // pop the frame
            "ret",              // to the test
            switch = sym green_switch,
        )
    }
}
