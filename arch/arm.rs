//! 32-bit arm (armv7, EABI) backend: the only place where rawclone writes machine code for this
//! architecture.
//!
//! `clone(2)` and `clone3(2)` return twice. In a child that was given a stack of its own, the
//! return lands on that new, empty stack, where no frame of the issuing code exists, so the child
//! side never returns into the Rust code around the syscall: it branches to `child_entry`, which
//! calls the entry, hands the result to `exit(2)`, and tells debuggers (in its CFI) that the stack
//! ends there.
//!
//! Register facts this file relies on (see the arm/EABI syscall ABI in `syscall(2)` and AAPCS32):
//! - `svc #0`: number in `r7`, arguments in `r0..r6`, result in `r0`; every other register
//!   survives, in the parent and in the child (the kernel copies the parent's registers into the
//!   child and changes only `r0`, `sp` and, with `CLONE_SETTLS`, the thread pointer), which is how
//!   entry and argument reach the child, in `r5` and `r6`;
//! - LLVM keeps `r7` (Thumb's frame pointer), `r11` (ARM's) and `r6` (its base pointer) for
//!   itself, so they cannot be named as `asm!` operands: the syscall is issued from a naked
//!   function that saves and restores the callee-saved registers it uses and reads its arguments
//!   from memory, as the i686 backend does;
//! - `sp` must be 8-byte aligned at every public call (rawclone's stack tops are 16-aligned);
//! - arm selects the kernel's `CLONE_BACKWARDS`: the raw `clone` argument order is `(flags,
//!   newsp, parent_tid, tls, child_tid)`, as on aarch64, riscv64 and i386 (and as musl's and
//!   glibc's arm `clone` pass them).
//!
//! Thread pointer: the user read-only thread ID register `TPIDRURO`, which the kernel sets from
//! `CLONE_SETTLS`'s `tls` (a plain base address here, unlike i386's descriptor) and from the
//! ARM-private `set_tls` call; user code reads it with `mrc p15, 0, rX, c13, c0, 3`.

use core::arch::asm;

/// This architecture's name, as `std::env::consts::ARCH` spells it (for programs without std).
///
/// ```
/// assert_eq!(rawclone::arch::NAME, std::env::consts::ARCH);
/// ```
pub const NAME: &str = "arm";

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

/// Issue syscall `nr` (`clone` or `clone3`) with `regs` = `[r0, r1, r2, r3, r4, entry, arg]`;
/// `entry` and `arg` go in `r5` and `r6`, which survive the syscall into the child (`r0` = 0),
/// which goes on in [`child_entry`].
///
/// # Safety
/// The arguments must describe a new, 16-byte-aligned stack for the child (directly for `clone`,
/// through a `clone_args` for `clone3`); `entry` must be safe to run on it with `arg`.
#[unsafe(naked)]
unsafe extern "C" fn raw_clone(nr: usize, regs: *const [usize; 7]) -> isize {
    core::arch::naked_asm!(
        "push {{r4-r8, lr}}", // callee-saved registers used below (six words: sp stays 8-aligned)
        "mov r7, r0",         // r7 = nr
        "mov r8, r1",         // r8 = regs
        "ldr r0, [r8]",       // clone: flags | clone3: struct clone_args *
        "ldr r1, [r8, #4]",   // clone: child stack top | clone3: sizeof(struct clone_args)
        "ldr r2, [r8, #8]",   // clone: parent_tid ptr
        "ldr r3, [r8, #12]",  // clone: tls (the thread pointer's new value)
        "ldr r4, [r8, #16]",  // clone: child_tid ptr
        "ldr r5, [r8, #20]",  // entry: survives into the child
        "ldr r6, [r8, #24]",  // arg: survives into the child
        "svc #0",             // parent: r0 = child tid or -errno; child: r0 = 0, sp = the new top
        "cmp r0, #0",         // zero only in the child
        "beq {child}",        // child: on in child_entry, whose CFI makes it the outermost frame
        "pop {{r4-r8, pc}}",  // parent or error: restore and return r0
        child = sym child_entry,
    )
}

/// Where the trampoline's child continues, branched to (not called) right after the syscall on
/// its new, empty stack, with `r5` = entry and `r6` = arg. Nothing called this code, so there is
/// no caller to unwind into: its CFI marks the return address (`lr`) undefined, the DWARF way to
/// say "outermost frame" (glibc's arm `clone.S` does the same), so debuggers stop here. `fp` = 0
/// and `lr` = 0 end the frame-pointer chain too, for walkers that follow it.
#[unsafe(naked)]
unsafe extern "C" fn child_entry() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",    // an FDE of its own: CFA = sp, as at any function entry
        ".cfi_undefined lr", // no return address: unwinders stop at this frame
        "mov r11, #0",       // fp = 0 ends the frame-pointer chain (ARM state)
        "mov r7, #0",        // and Thumb's (r7 still held the syscall number)
        "mov lr, #0",        // lr = 0: nothing to return to
        "mov r0, r6",        // r0 = arg, the entry's first argument
        "blx r5",            // r5 = entry; sp is 16-aligned as the new stack top
        "mov r7, #1",        // r7 = SYS_exit (ends this task only); r0 already holds the status
        "svc #0",            // never returns
        "udf #0",            // unreachable: trap rather than run into whatever follows
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
    let regs = [
        flags,
        stack_top as usize,
        parent_tid as usize,
        tls,
        child_tid as usize,
        entry as usize,
        arg as usize,
    ];
    // SAFETY: forwarded from this function's contract; the kernel reads `regs` before returning.
    unsafe { raw_clone(syscalls::Sysno::clone as usize, &regs) }
}

/// Raw `clone3(2)`; the child runs `entry(arg)` on the stack the `clone_args` describe and exits
/// with its return value.
///
/// # Safety
/// `args` must point to a valid `clone_args` of `size` bytes whose stack (lowest address plus size)
/// stays valid and unused by anything else until the child exits or execs; see [`clone`].
pub unsafe fn clone3(args: *mut u8, size: usize, entry: ChildEntry, arg: *mut u8) -> isize {
    let regs = [args as usize, size, 0, 0, 0, entry as usize, arg as usize];
    // SAFETY: forwarded from this function's contract.
    unsafe { raw_clone(syscalls::Sysno::clone3 as usize, &regs) }
}

/// The calling thread's thread pointer, the `TPIDRURO` register.
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reading TPIDRURO into a general register has no side effects.
    unsafe {
        asm!("mrc p15, 0, {}, c13, c0, 3", out(reg) tp, options(nomem, nostack, preserves_flags))
    };
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
pub const GREEN_FRAME: usize = 112;

/// Prepare a never-run green task: write, just below `top`, the frame [`green_switch`] loads, so
/// that the first switch to the returned stack pointer "returns" into `entry(arg)`.
///
/// Frame layout (byte offsets from the returned pointer, as `green_switch` stores them): r4..r11
/// at 0..32 (r4 = `entry`, r5 = `arg`, r11 = 0), lr = the start stub at 32, a pad word, d8..d15
/// at 40..104, FPSCR at 104 (0: round to nearest, no traps, flags clear), a pad word.
///
/// # Safety
/// `top` must be 16-byte aligned with [`GREEN_FRAME`] writable bytes below it, on a stack that
/// stays valid while the task can run.
pub unsafe fn green_frame(top: *mut u8, entry: GreenEntry, arg: *mut u8) -> *mut u8 {
    let start: unsafe extern "C" fn() -> ! = green_start;
    let mut frame = [0u32; GREEN_FRAME / 4];
    frame[0] = entry as usize as u32; // r4
    frame[1] = arg as usize as u32; // r5
    frame[8] = start as usize as u32; // lr: where green_switch's `bx lr` lands
    let sp = top.wrapping_sub(GREEN_FRAME);
    // SAFETY: the caller gives GREEN_FRAME writable, aligned bytes below `top`.
    unsafe { sp.cast::<[u32; GREEN_FRAME / 4]>().write(frame) };
    sp
}

/// First code of every green task, reached by `green_switch`'s `bx lr` with `sp` 16-aligned.
#[unsafe(naked)]
unsafe extern "C" fn green_start() -> ! {
    core::arch::naked_asm!(
        "mov r0, r5", // r0 = arg (loaded into r5 from the frame green_frame wrote)
        "blx r4",     // r4 = entry; never returns
        "udf #0",     // unreachable
    )
}

/// Switch green tasks: save the callee-saved registers on the current stack, store its stack
/// pointer at `*save`, load `load` as the stack pointer and restore the registers the other side
/// saved (or [`green_frame`] prepared). Returns when something switches back to `*save`.
///
/// Only what AAPCS32 makes callee-saved is kept: r4–r11 (r11 is ARM's frame pointer), the link
/// register, d8–d15, and FPSCR (its control bits are callee-saved; its condition and cumulative
/// exception flags travel with it). The VFP part is in the hard-float (`eabihf`) build only: a
/// soft-float program's code never touches those registers, and it may run on a core without a
/// VFP unit (VFP is optional on Cortex-A5, A7 and A9) or a kernel without VFP support, where any
/// VFP instruction is SIGILL. Both builds use the same frame layout.
///
/// # Safety
/// `load` must come from a previous save or from [`green_frame`], on a stack that is still valid
/// and that no other thread is running on; `save` must be writable.
#[unsafe(naked)]
pub unsafe extern "C" fn green_switch(save: *mut *mut u8, load: *mut u8) {
    // Hard-float: the VFP registers and FPSCR travel too.
    #[cfg(target_abi = "eabihf")]
    core::arch::naked_asm!(
        ".fpu vfpv3-d16",   // the naked body is assembled on its own: name the VFP unit
        "sub sp, sp, #112", // room for the frame on the outgoing stack (16-aligned)
        "stm sp, {{r4-r11, lr}}", // callee-saved general registers and the return address
        "add r12, sp, #40", // r12 = where d8..d15 go (scratch: caller-saved)
        "vstm r12, {{d8-d15}}", // callee-saved halves of the vector registers
        "vmrs r2, fpscr",   // r2 = floating-point status and control (scratch)
        "str r2, [sp, #104]",
        "str sp, [r0]",       // r0 = save: the outgoing stack pointer
        "mov sp, r1",         // r1 = load: now on the incoming task's stack
        "ldr r2, [sp, #104]", // its floating-point status and control
        "vmsr fpscr, r2",
        "add r12, sp, #40", // its d8..d15, as saved above or written by green_frame
        "vldm r12, {{d8-d15}}",
        "ldm sp, {{r4-r11, lr}}", // its general registers and return address
        "add sp, sp, #112",       // pop the frame
        "bx lr",                  // to where it called green_switch, or to green_start
    );
    // Soft-float: no VFP instruction at all (the core may have no VFP unit, the kernel no VFP
    // support); the compiled code never uses those registers. Same frame, VFP slots unused.
    #[cfg(not(target_abi = "eabihf"))]
    core::arch::naked_asm!(
        "sub sp, sp, #112",       // room for the frame on the outgoing stack (16-aligned)
        "stm sp, {{r4-r11, lr}}", // callee-saved general registers and the return address
        "str sp, [r0]",           // r0 = save: the outgoing stack pointer
        "mov sp, r1",             // r1 = load: now on the incoming task's stack
        "ldm sp, {{r4-r11, lr}}", // its general registers and return address
        "add sp, sp, #112",       // pop the frame
        "bx lr",                  // to where it called green_switch, or to green_start
    );
}

/// Where a signal handler returns to: without `SA_RESTORER` the arm kernel returns through the
/// `rt_sigreturn` code on its own signal page, so rawclone names none.
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
            "mov r11, #0",    // fp = 0: the outermost frame
            "mov r0, sp",     // r0 = the initial stack pointer, entry's argument
            "bic sp, sp, #15", // align for the call (the kernel already does; make it certain)
            "bl {entry}",     // entry(sp) never returns: it ends with exit_group
            "udf #0",         // unreachable
            entry = sym $entry,
        )
    };
}

/// The floating-point control state [`green_switch`] keeps, FPSCR, for the switch's test in
/// `green.rs` (which every arch file serves the same way). Tests build for the hard-float target
/// only, whose switch keeps FPSCR.
#[cfg(test)]
pub(crate) mod control {
    /// What a new task starts with: round to nearest, no traps, flags clear.
    pub(crate) const DEFAULT: u64 = 0;
    /// FPSCR.RMode = RZ, rounding toward zero.
    pub(crate) const TOWARD_ZERO: u64 = 0b11 << 22;
    /// FPSCR.RMode = RP, rounding toward +infinity.
    pub(crate) const UPWARD: u64 = 0b01 << 22;

    /// The calling thread's FPSCR.
    pub(crate) fn get() -> u64 {
        let value: u32;
        // SAFETY: reading FPSCR has no side effect.
        unsafe { core::arch::asm!("vmrs {}, fpscr", out(reg) value) };
        u64::from(value)
    }

    /// Set the calling thread's FPSCR.
    ///
    /// # Safety
    /// Floating-point code the compiler emits assumes the default rounding: until the caller
    /// puts [`DEFAULT`] back, it runs none whose result it relies on.
    pub(crate) unsafe fn set(state: u64) {
        // SAFETY: writes FPSCR only; the caller's contract covers the rounding.
        unsafe { core::arch::asm!("vmsr fpscr, {}", in(reg) state as u32) };
    }
}

/// What [`green_switch`]'s register test in `green.rs` runs on this architecture (which every
/// arch file serves the same way): r4–r11 and d8–d15 (FPSCR has a test of its own). For the
/// hard-float build, the one whose tests run on Linux; the soft-float build's switch keeps the
/// same general registers with the same instructions.
#[cfg(all(test, target_abi = "eabihf"))]
pub(crate) mod registers {
    use super::green_switch;

    /// What [`probe`] loads before the switch and expects back: r4..r11 = 1000..1007, d8..d15
    /// = the bits 2000..2007.
    pub(crate) const EXPECTED: [u64; 16] = {
        let mut words = [0u64; 16];
        let mut i = 0;
        while i < 8 {
            words[i] = 1000 + i as u64;
            words[8 + i] = 2000 + i as u64;
            i += 1;
        }
        words
    };

    /// The task side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn clobber(switch: *mut u8) -> ! {
        core::arch::naked_asm!(
            ".fpu vfpv3-d16", // the naked body is assembled on its own: name the VFP unit
            "ldr r1, [r0]",   // r1 = load: the main side's saved stack pointer
            "add r0, r0, #4", // r0 = save: the task's slot
            "mvn r2, #0",     // r2 = all ones, the value every register gets
            "mov r4, r2",
            "mov r5, r2",
            "mov r6, r2",
            "mov r7, r2",
            "mov r8, r2",
            "mov r9, r2",
            "mov r10, r2",
            "mov r11, r2",
            "vmov d8, r2, r2", // the vector registers d8..d15, all 64 bits
            "vmov d9, r2, r2",
            "vmov d10, r2, r2",
            "vmov d11, r2, r2",
            "vmov d12, r2, r2",
            "vmov d13, r2, r2",
            "vmov d14, r2, r2",
            "vmov d15, r2, r2",
            "bl {switch}", // back to the main side; nothing switches here again
            "udf #0",      // unreachable
            switch = sym green_switch,
        )
    }

    /// The main side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn probe(switch: *mut u8, task_sp: *mut u8, out: *mut u64) {
        core::arch::naked_asm!(
            ".fpu vfpv3-d16",
            "push {{r2, r4-r11, lr}}", // r2 = out, kept across the switches, and the caller's
            //                            registers (ten words: sp stays 8-aligned)
            "vpush {{d8-d15}}",
            "movw r4, #1000", // known values in every callee-saved register
            "movw r5, #1001",
            "movw r6, #1002",
            "movw r7, #1003",
            "movw r8, #1004",
            "movw r9, #1005",
            "movw r10, #1006",
            "movw r11, #1007",
            "mov r3, #0", // r3 = 0, the upper half of each d_i
            "movw r2, #2000",
            "vmov d8, r2, r3", // d_i = the bits 2000 + (i - 8)
            "movw r2, #2001",
            "vmov d9, r2, r3",
            "movw r2, #2002",
            "vmov d10, r2, r3",
            "movw r2, #2003",
            "vmov d11, r2, r3",
            "movw r2, #2004",
            "vmov d12, r2, r3",
            "movw r2, #2005",
            "vmov d13, r2, r3",
            "movw r2, #2006",
            "vmov d14, r2, r3",
            "movw r2, #2007",
            "vmov d15, r2, r3",
            "bl {switch}", // r0 = save (the main side's slot), r1 = load (task_sp); back here
            //                after the task clobbered everything and switched back
            "ldr r12, [sp, #64]", // r12 = out, above the saved d8..d15
            "mov r3, #0",         // r3 = 0, the upper half of each general register's word
            "str r4, [r12, #0]",  // what the switch restored
            "str r3, [r12, #4]",
            "str r5, [r12, #8]",
            "str r3, [r12, #12]",
            "str r6, [r12, #16]",
            "str r3, [r12, #20]",
            "str r7, [r12, #24]",
            "str r3, [r12, #28]",
            "str r8, [r12, #32]",
            "str r3, [r12, #36]",
            "str r9, [r12, #40]",
            "str r3, [r12, #44]",
            "str r10, [r12, #48]",
            "str r3, [r12, #52]",
            "str r11, [r12, #56]",
            "str r3, [r12, #60]",
            "add r12, r12, #64", // r12 = where d8..d15 go
            "vstm r12, {{d8-d15}}",
            "vpop {{d8-d15}}",            // the caller's registers back
            "pop {{r2, r4-r11, pc}}",     // and return to the test
            switch = sym green_switch,
        )
    }
}
