//! riscv64 backend: the only place where rawclone writes machine code for this architecture.
//!
//! `clone(2)` and `clone3(2)` return twice. In a child that was given a stack of its own, the
//! return lands on that new, empty stack, where no frame of the issuing code exists, so the child
//! side never returns into the Rust code around the `asm!` block: it jumps to `child_entry`, which
//! calls the entry, hands the result to `exit(2)`, and tells unwinders (in its CFI) that the stack
//! ends there.
//!
//! Register facts this file relies on (see the riscv64 syscall ABI in `syscall(2)` and the RISC-V
//! psABI):
//! - number in `a7`, arguments in `a0..a5`, result in `a0`; `ecall` preserves every other
//!   register, in the parent and in the child (the kernel copies the parent's registers into the
//!   child and changes only `a0`, `sp` and, with `CLONE_SETTLS`, `tp`), which is how entry and
//!   argument reach the child;
//! - `s0` is the frame pointer and `s1` is reserved by LLVM, `gp` and `tp` belong to the platform,
//!   so the entry and its argument travel in `a5`/`a6`, which the five-argument `clone` leaves
//!   unused; `t1` is kept free for the `tail` pseudo-instruction, which jumps through it;
//! - `sp` must be 16-byte aligned at every call;
//! - riscv selects the kernel's `CLONE_BACKWARDS`: the raw `clone` argument order is `(flags,
//!   newsp, parent_tid, tls, child_tid)`, as on aarch64 (`tls` and `child_tid` swapped relative to
//!   x86_64).

use core::arch::asm;

/// This architecture's name, as `std::env::consts::ARCH` spells it (for programs without std).
///
/// ```
/// assert_eq!(rawclone::arch::NAME, std::env::consts::ARCH);
/// ```
pub const NAME: &str = "riscv64";

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
    // (`nostack`) and no register beyond the operands; the child path jumps to `child_entry`,
    // which never returns, so it never falls through to the code after this block.
    unsafe {
        asm!(
            "ecall",            // a7 = syscall number; kernel: parent a0 = child tid or -errno,
                                //   child a0 = 0 and sp = the new stack top
            "bnez a0, 2f",      // nonzero: parent or error, leave with a0 as the result
            "tail {child}",     // child: sp = the new stack top, a5 = entry, a6 = arg; go on in
                                //   child_entry (through t1, any distance), whose CFI makes it
                                //   the outermost frame
            "2:",
            child = sym child_entry,
            inlateout("a0") a[0] => ret, // clone: flags | clone3: struct clone_args *
            in("a1") a[1],      // clone: child stack top | clone3: sizeof(struct clone_args)
            in("a2") a[2],      // clone: parent_tid ptr
            in("a3") a[3],      // clone: tls
            in("a4") a[4],      // clone: child_tid ptr
            in("a7") nr,        // syscall number
            in("a5") entry,     // survives the syscall into the child
            in("a6") arg,       // survives the syscall into the child
            options(nostack),
        );
    }
    ret
}

/// Where the trampoline's child continues, jumped to (not called) right after the syscall on its
/// new, empty stack, with `a5` = entry and `a6` = arg. Nothing called this code, so there is no
/// caller to unwind into: its CFI marks the return address register (`ra`) undefined, the DWARF
/// way to say "outermost frame" (glibc's riscv `clone.S` does the same), so debuggers and the
/// unwinder (a panic, `std::backtrace`) stop here instead of reading stale frames. `s0` = 0 and
/// `ra` = 0 end the frame-pointer chain too, for walkers that follow it.
#[unsafe(naked)]
unsafe extern "C" fn child_entry() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",    // an FDE of its own: CFA = sp, as at any function entry
        ".cfi_undefined ra", // no return address: unwinders stop at this frame
        "mv s0, zero",       // fp = 0 ends the frame-pointer chain
        "mv ra, zero",       // ra = 0: nothing to return to
        "mv a0, a6",         // a0 = arg, the entry's first argument
        "jalr a5",           // a5 = entry; sp is 16-aligned as the new stack top
        "li a7, 93",         // a7 = SYS_exit (ends this task only); a0 already holds the status
        "ecall",             // never returns
        "unimp",             // unreachable: trap rather than run into whatever follows
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

/// The calling thread's thread pointer, the `tp` register.
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: copying tp into another register has no side effects.
    unsafe { asm!("mv {}, tp", out(reg) tp, options(nomem, nostack, preserves_flags)) };
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
pub const GREEN_FRAME: usize = 208;

/// Prepare a never-run green task: write, just below `top`, the frame [`green_switch`] loads, so
/// that the first switch to the returned stack pointer "returns" into `entry(arg)`.
///
/// Frame layout (byte offsets from the returned pointer, as `green_switch` stores them): s0..s11
/// at 0..96 (s0 = 0, s1 = `entry`, s2 = `arg`), ra = the start stub at 96, fs0..fs11 at 104..200,
/// the rounding mode `frm` at 200 (0: round to nearest, ties to even).
///
/// # Safety
/// `top` must be 16-byte aligned with [`GREEN_FRAME`] writable bytes below it, on a stack that
/// stays valid while the task can run.
pub unsafe fn green_frame(top: *mut u8, entry: GreenEntry, arg: *mut u8) -> *mut u8 {
    let start: unsafe extern "C" fn() -> ! = green_start;
    let mut frame = [0u64; GREEN_FRAME / 8];
    frame[1] = entry as usize as u64; // s1
    frame[2] = arg as u64; // s2
    frame[12] = start as usize as u64; // ra: where green_switch's `ret` lands
    let sp = top.wrapping_sub(GREEN_FRAME);
    // SAFETY: the caller gives GREEN_FRAME writable, aligned bytes below `top`.
    unsafe { sp.cast::<[u64; GREEN_FRAME / 8]>().write(frame) };
    sp
}

/// First code of every green task, reached by `green_switch`'s `ret` with `sp` 16-aligned.
#[unsafe(naked)]
unsafe extern "C" fn green_start() -> ! {
    core::arch::naked_asm!(
        "mv a0, s2", // a0 = arg (loaded into s2 from the frame green_frame wrote)
        "jalr s1",   // s1 = entry; never returns
        "unimp",     // unreachable
    )
}

/// Switch green tasks: save the callee-saved registers on the current stack, store its stack
/// pointer at `*save`, load `load` as the stack pointer and restore the registers the other side
/// saved (or [`green_frame`] prepared). Returns when something switches back to `*save`.
///
/// Only what the RISC-V psABI makes callee-saved is kept: s0–s11 (s0 is the frame pointer), the
/// return address ra, the floating-point registers fs0–fs11, and the dynamic rounding mode `frm`
/// (the control half of `fcsr`; the accrued exception flags are status, as on aarch64).
///
/// # Safety
/// `load` must come from a previous save or from [`green_frame`], on a stack that is still valid
/// and that no other thread is running on; `save` must be writable.
#[unsafe(naked)]
pub unsafe extern "C" fn green_switch(save: *mut *mut u8, load: *mut u8) {
    core::arch::naked_asm!(
        ".option push",      // the naked body is assembled on its own, without the target's
        ".option arch, +d",  //   features: name the F and D extensions the target has (rv64gc)
        "addi sp, sp, -208", // room for the frame on the outgoing stack (keeps sp 16-aligned)
        "sd s0, 0(sp)",      // callee-saved general registers (s0 = frame pointer)
        "sd s1, 8(sp)",
        "sd s2, 16(sp)",
        "sd s3, 24(sp)",
        "sd s4, 32(sp)",
        "sd s5, 40(sp)",
        "sd s6, 48(sp)",
        "sd s7, 56(sp)",
        "sd s8, 64(sp)",
        "sd s9, 72(sp)",
        "sd s10, 80(sp)",
        "sd s11, 88(sp)",
        "sd ra, 96(sp)",    // return address
        "fsd fs0, 104(sp)", // callee-saved floating-point registers
        "fsd fs1, 112(sp)",
        "fsd fs2, 120(sp)",
        "fsd fs3, 128(sp)",
        "fsd fs4, 136(sp)",
        "fsd fs5, 144(sp)",
        "fsd fs6, 152(sp)",
        "fsd fs7, 160(sp)",
        "fsd fs8, 168(sp)",
        "fsd fs9, 176(sp)",
        "fsd fs10, 184(sp)",
        "fsd fs11, 192(sp)",
        "frrm t0", // t0 = the dynamic rounding mode (scratch: caller-saved)
        "sd t0, 200(sp)",
        "sd sp, 0(a0)",   // a0 = save: the outgoing stack pointer
        "mv sp, a1",      // a1 = load: now on the incoming task's stack
        "ld t0, 200(sp)", // its rounding mode
        "fsrm t0",
        "fld fs0, 104(sp)", // its registers, as saved above or written by green_frame
        "fld fs1, 112(sp)",
        "fld fs2, 120(sp)",
        "fld fs3, 128(sp)",
        "fld fs4, 136(sp)",
        "fld fs5, 144(sp)",
        "fld fs6, 152(sp)",
        "fld fs7, 160(sp)",
        "fld fs8, 168(sp)",
        "fld fs9, 176(sp)",
        "fld fs10, 184(sp)",
        "fld fs11, 192(sp)",
        "ld s0, 0(sp)",
        "ld s1, 8(sp)",
        "ld s2, 16(sp)",
        "ld s3, 24(sp)",
        "ld s4, 32(sp)",
        "ld s5, 40(sp)",
        "ld s6, 48(sp)",
        "ld s7, 56(sp)",
        "ld s8, 64(sp)",
        "ld s9, 72(sp)",
        "ld s10, 80(sp)",
        "ld s11, 88(sp)",
        "ld ra, 96(sp)",
        "addi sp, sp, 208", // pop the frame
        "ret",              // to ra: where it called green_switch, or green_start
        ".option pop",      // back to the assembler's defaults
    )
}

/// Where a signal handler returns to: on riscv64 the kernel always returns through the vDSO's
/// `rt_sigreturn` trampoline (the architecture has no `SA_RESTORER` at all), so rawclone names
/// none.
pub const SIGNAL_RESTORER: Option<unsafe extern "C" fn() -> !> = None;

/// The body of `_start`, which [`crate::freestanding_main!`] defines in the program (a library
/// must not: every program linked with a C runtime has one from its `crt1.o`). The kernel enters
/// with `sp` pointing at `argc`, followed by `argv[]`, NULL, `envp[]`, NULL and the auxiliary
/// vector; `$entry(sp)` takes over and never returns.
///
/// It sets `gp` first, as a C runtime's `_start` does: GNU ld (which links the `*-linux-gnu`
/// programs) may turn an access near `__global_pointer$` into one relative to `gp` wherever an
/// object allows relaxation.
#[doc(hidden)]
#[macro_export]
macro_rules! __start_asm {
    ($entry:path) => {
        ::core::arch::naked_asm!(
            ".option push",
            ".option norelax", // gp is not there yet: this load must not be relaxed against it
            "lla gp, __global_pointer$", // gp = the global pointer a linker may relax accesses against
            ".option pop",
            "mv s0, zero",    // fp = 0: the outermost frame
            "mv a0, sp",      // a0 = the initial stack pointer (16-aligned by the kernel), entry's argument
            "call {entry}",   // entry(sp) never returns: it ends with exit_group
            "unimp",          // unreachable
            entry = sym $entry,
        )
    };
}

/// The floating-point control state [`green_switch`] keeps, the rounding mode `frm`, for the
/// switch's test in `green.rs` (which every arch file serves the same way).
#[cfg(test)]
pub(crate) mod control {
    /// What a new task starts with: round to nearest, ties to even.
    pub(crate) const DEFAULT: u64 = 0;
    /// frm = 1, rounding toward zero.
    pub(crate) const TOWARD_ZERO: u64 = 1;
    /// frm = 3, rounding toward +infinity.
    pub(crate) const UPWARD: u64 = 3;

    /// The calling thread's `frm`.
    pub(crate) fn get() -> u64 {
        let value: u64;
        // SAFETY: reading frm has no side effect.
        unsafe { core::arch::asm!("frrm {}", out(reg) value) };
        value
    }

    /// Set the calling thread's `frm`.
    ///
    /// # Safety
    /// Floating-point code the compiler emits assumes the default rounding: until the caller
    /// puts [`DEFAULT`] back, it runs none whose result it relies on.
    pub(crate) unsafe fn set(state: u64) {
        // SAFETY: writes frm only; the caller's contract covers the rounding.
        unsafe { core::arch::asm!("fsrm {}", in(reg) state) };
    }
}

/// What [`green_switch`]'s register test in `green.rs` runs on this architecture (which every
/// arch file serves the same way): s0–s11, fs0–fs11 (all 64 bits) and the rounding mode.
#[cfg(test)]
pub(crate) mod registers {
    use super::green_switch;

    /// What [`probe`] loads before the switch and expects back: s_i = 1000 + i, fs_i = the bits
    /// 2000 + i, frm = 3.
    pub(crate) const EXPECTED: [u64; 25] = {
        let mut words = [3u64; 25];
        let mut i = 0;
        while i < 12 {
            words[i] = 1000 + i as u64;
            words[12 + i] = 2000 + i as u64;
            i += 1;
        }
        words
    };

    /// The green task: sets every callee-saved register and the rounding mode to other values,
    /// then switches back to the main side for good. `a0` = the `Switch` (green_start's arg).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn clobber(switch: *mut u8) -> ! {
        core::arch::naked_asm!(
            ".option push",     // assembled on its own: name the D extension (see green_switch)
            ".option arch, +d",
            "ld a1, 0(a0)",     // a1 = load: the main side's saved stack pointer
            "addi a0, a0, 8",   // a0 = save: the Switch's task slot
            "li t0, -1",        // t0 = all ones, the value every register gets
            "mv s0, t0",        // the general callee-saved registers
            "mv s1, t0",
            "mv s2, t0",
            "mv s3, t0",
            "mv s4, t0",
            "mv s5, t0",
            "mv s6, t0",
            "mv s7, t0",
            "mv s8, t0",
            "mv s9, t0",
            "mv s10, t0",
            "mv s11, t0",
            "fmv.d.x fs0, t0",  // the floating-point ones, all 64 bits
            "fmv.d.x fs1, t0",
            "fmv.d.x fs2, t0",
            "fmv.d.x fs3, t0",
            "fmv.d.x fs4, t0",
            "fmv.d.x fs5, t0",
            "fmv.d.x fs6, t0",
            "fmv.d.x fs7, t0",
            "fmv.d.x fs8, t0",
            "fmv.d.x fs9, t0",
            "fmv.d.x fs10, t0",
            "fmv.d.x fs11, t0",
            "fsrmi 1",          // frm = 1: round towards zero
            "call {switch}",    // back to the main side; nothing switches here again
            "unimp",            // unreachable
            ".option pop",
            switch = sym green_switch,
        )
    }

    /// The main side: saves its caller's callee-saved state, loads known values (s_i = 1000 + i,
    /// fs_i = 2000 + i as raw bits, frm = 3), switches to the task at `task_sp` (saving into
    /// `switch.main`), and once back writes what it finds into `out` (s0..s11, fs0..fs11, frm)
    /// before restoring its caller's state.
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn probe(switch: *mut u8, task_sp: *mut u8, out: *mut u64) {
        core::arch::naked_asm!(
            ".option push",      // assembled on its own: name the D extension
            ".option arch, +d",
            "addi sp, sp, -224", // room for the caller's ra, s0..s11, fs0..fs11, frm and `out`
            "sd ra, 0(sp)",      // the caller's registers, restored before the return
            "sd s0, 8(sp)",
            "sd s1, 16(sp)",
            "sd s2, 24(sp)",
            "sd s3, 32(sp)",
            "sd s4, 40(sp)",
            "sd s5, 48(sp)",
            "sd s6, 56(sp)",
            "sd s7, 64(sp)",
            "sd s8, 72(sp)",
            "sd s9, 80(sp)",
            "sd s10, 88(sp)",
            "sd s11, 96(sp)",
            "fsd fs0, 104(sp)",
            "fsd fs1, 112(sp)",
            "fsd fs2, 120(sp)",
            "fsd fs3, 128(sp)",
            "fsd fs4, 136(sp)",
            "fsd fs5, 144(sp)",
            "fsd fs6, 152(sp)",
            "fsd fs7, 160(sp)",
            "fsd fs8, 168(sp)",
            "fsd fs9, 176(sp)",
            "fsd fs10, 184(sp)",
            "fsd fs11, 192(sp)",
            "frrm t0",           // t0 = the caller's rounding mode
            "sd t0, 200(sp)",
            "sd a2, 208(sp)",    // a2 = out, kept across the switches on this stack
            "li s0, 1000",       // known values in every callee-saved register
            "li s1, 1001",
            "li s2, 1002",
            "li s3, 1003",
            "li s4, 1004",
            "li s5, 1005",
            "li s6, 1006",
            "li s7, 1007",
            "li s8, 1008",
            "li s9, 1009",
            "li s10, 1010",
            "li s11, 1011",
            "li t0, 2000",       // fs_i = the bits 2000 + i
            "fmv.d.x fs0, t0",
            "li t0, 2001",
            "fmv.d.x fs1, t0",
            "li t0, 2002",
            "fmv.d.x fs2, t0",
            "li t0, 2003",
            "fmv.d.x fs3, t0",
            "li t0, 2004",
            "fmv.d.x fs4, t0",
            "li t0, 2005",
            "fmv.d.x fs5, t0",
            "li t0, 2006",
            "fmv.d.x fs6, t0",
            "li t0, 2007",
            "fmv.d.x fs7, t0",
            "li t0, 2008",
            "fmv.d.x fs8, t0",
            "li t0, 2009",
            "fmv.d.x fs9, t0",
            "li t0, 2010",
            "fmv.d.x fs10, t0",
            "li t0, 2011",
            "fmv.d.x fs11, t0",
            "fsrmi 3",           // frm = 3: round up
            "call {switch}",     // a0 = save (switch.main), a1 = load (task_sp); back here after
                                 //   the task clobbered everything and switched back
            "ld t1, 208(sp)",    // t1 = out
            "sd s0, 0(t1)",      // what the switch restored
            "sd s1, 8(t1)",
            "sd s2, 16(t1)",
            "sd s3, 24(t1)",
            "sd s4, 32(t1)",
            "sd s5, 40(t1)",
            "sd s6, 48(t1)",
            "sd s7, 56(t1)",
            "sd s8, 64(t1)",
            "sd s9, 72(t1)",
            "sd s10, 80(t1)",
            "sd s11, 88(t1)",
            "fsd fs0, 96(t1)",
            "fsd fs1, 104(t1)",
            "fsd fs2, 112(t1)",
            "fsd fs3, 120(t1)",
            "fsd fs4, 128(t1)",
            "fsd fs5, 136(t1)",
            "fsd fs6, 144(t1)",
            "fsd fs7, 152(t1)",
            "fsd fs8, 160(t1)",
            "fsd fs9, 168(t1)",
            "fsd fs10, 176(t1)",
            "fsd fs11, 184(t1)",
            "frrm t0",           // and the rounding mode
            "sd t0, 192(t1)",
            "ld t0, 200(sp)",    // the caller's state back
            "fsrm t0",
            "fld fs0, 104(sp)",
            "fld fs1, 112(sp)",
            "fld fs2, 120(sp)",
            "fld fs3, 128(sp)",
            "fld fs4, 136(sp)",
            "fld fs5, 144(sp)",
            "fld fs6, 152(sp)",
            "fld fs7, 160(sp)",
            "fld fs8, 168(sp)",
            "fld fs9, 176(sp)",
            "fld fs10, 184(sp)",
            "fld fs11, 192(sp)",
            "ld s0, 8(sp)",
            "ld s1, 16(sp)",
            "ld s2, 24(sp)",
            "ld s3, 32(sp)",
            "ld s4, 40(sp)",
            "ld s5, 48(sp)",
            "ld s6, 56(sp)",
            "ld s7, 64(sp)",
            "ld s8, 72(sp)",
            "ld s9, 80(sp)",
            "ld s10, 88(sp)",
            "ld s11, 96(sp)",
            "ld ra, 0(sp)",
            "addi sp, sp, 224",  // pop the frame
            "ret",               // to the test
            ".option pop",
            switch = sym green_switch,
        )
    }
}
