//! x86_64 backend: the only place where rawclone writes machine code for this architecture.
//!
//! `clone(2)` and `clone3(2)` return twice. In the parent they return like any syscall; in a child
//! that was given a stack of its own they "return" on that new, empty stack, where no frame of the
//! code that issued the syscall exists. So the child side must never return into the Rust code
//! around the `asm!` block: it jumps to `child_entry`, which calls the entry function and hands its
//! return value straight to `exit(2)`, and whose CFI tells debuggers and unwinders that the stack
//! ends there.
//!
//! Register facts this file relies on (see the x86_64 syscall ABI in `syscall(2)`):
//! - number in `rax`, arguments in `rdi, rsi, rdx, r10, r8, r9`, result in `rax`;
//! - `syscall` itself overwrites `rcx` (return rip) and `r11` (rflags), so no input may live there;
//! - every other register survives the syscall, in the parent *and* in the child, which is how the
//!   entry function and its argument reach the child.
//! - the raw `clone` argument order is `(flags, newsp, parent_tid, child_tid, tls)`, unlike aarch64.

use core::arch::asm;

/// This architecture's name, as `std::env::consts::ARCH` spells it (for programs without std).
///
/// ```
/// assert_eq!(rawclone::arch::NAME, std::env::consts::ARCH);
/// ```
pub const NAME: &str = "x86_64";

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
    // (`nostack`); the child path jumps to `child_entry`, which never returns, so it never falls
    // through to the code after this block.
    unsafe {
        asm!(
            "syscall",          // rax = syscall number; kernel: parent rax = child tid or -errno,
                                //   child rax = 0 and rsp = the new stack top
            "test rax, rax",    // zero only in the child
            "jnz 2f",           // parent or error: leave the block with rax as the result
            "jmp {child}",      // child: rsp = the new stack top, r12 = entry, r13 = arg; go on in
                                //   child_entry, whose CFI makes it the outermost frame
            "2:",
            child = sym child_entry,
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],     // clone: flags          | clone3: struct clone_args *
            in("rsi") a[1],     // clone: child stack top | clone3: sizeof(struct clone_args)
            in("rdx") a[2],     // clone: parent_tid ptr
            in("r10") a[3],     // clone: child_tid ptr
            in("r8") a[4],      // clone: tls
            in("r12") entry,    // survives the syscall into the child
            in("r13") arg,      // survives the syscall into the child
            lateout("rcx") _,   // clobbered by `syscall`
            lateout("r11") _,   // clobbered by `syscall`
            options(nostack),
        );
    }
    ret
}

/// Where the trampoline's child continues, jumped to (not called) right after the syscall on its
/// new, empty stack, with `r12` = entry and `r13` = arg. Nothing called this code, so there is no
/// caller to unwind into: its CFI marks the return address (`rip`) undefined, the DWARF way to say
/// "outermost frame" (glibc's `clone.S` does the same), so gdb's backtrace and libgcc's unwinder
/// (a panic, `std::backtrace`) stop here instead of reading the stack above the new top as frames.
/// `rbp` = 0 ends the frame-pointer chain too, for walkers that follow it.
#[unsafe(naked)]
unsafe extern "C" fn child_entry() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",     // an FDE of its own: CFA = rsp + 8, as at any function entry
        ".cfi_undefined rip", // no return address: unwinders stop at this frame
        "xor ebp, ebp",       // rbp = 0 ends the frame-pointer chain
        "mov rdi, r13",       // rdi = arg, the entry's first argument
        "call r12",           // r12 = entry; rsp = the 16-aligned top, the call pushes rip
        "mov edi, eax",       // edi = the entry's i32 return value = the exit status
        "mov eax, 60",        // rax = SYS_exit (ends this task only, as a thread's exit must)
        "syscall",            // never returns
        "ud2",                // unreachable: trap rather than run into whatever follows
        ".cfi_endproc",
    )
}

/// Raw `clone(2)` onto a new stack; the child runs `entry(arg)` and exits with its return value.
///
/// Returns the child's tid (or the pidfd-independent result of the kernel) in the parent, or
/// `-errno`. Never returns in the child.
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
        child_tid as usize,
        tls,
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

/// The calling thread's thread pointer (the `fs` base): one `rdfsbase` instruction where the
/// kernel allows it in user mode (it says so with `HWCAP2_FSGSBASE` in the auxiliary vector,
/// Linux 5.9 and later on CPUs that have it), else `arch_prctl(ARCH_GET_FS)`, a syscall.
pub fn thread_pointer() -> usize {
    if fsgsbase() {
        let base: usize;
        // SAFETY: the kernel set CR4.FSGSBASE (HWCAP2_FSGSBASE), so rdfsbase is allowed at
        // CPL 3; it only reads the fs base into a register.
        unsafe {
            asm!("rdfsbase {}", out(reg) base, options(nomem, nostack, preserves_flags));
        }
        return base;
    }
    const ARCH_GET_FS: usize = 0x1003;
    let mut base: usize = 0;
    // SAFETY: ARCH_GET_FS writes one usize to the address we pass, which is a live local.
    let r = unsafe {
        syscalls::syscall2(
            syscalls::Sysno::arch_prctl,
            ARCH_GET_FS,
            &raw mut base as usize,
        )
    };
    debug_assert!(r.is_ok());
    base
}

/// Whether `rdfsbase` may run in user mode, learned once from `AT_HWCAP2` in
/// `/proc/self/auxv` (no libc, so no `getauxval`). Where the file cannot be read (no `/proc`)
/// the answer is no, and the syscall is used.
fn fsgsbase() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let yes = hwcap2().is_some_and(|bits| bits & HWCAP2_FSGSBASE != 0);
            STATE.store(if yes { YES } else { NO }, Ordering::Relaxed);
            yes
        }
    }
}

/// `HWCAP2_FSGSBASE` (asm/hwcap2.h): the kernel enabled the FSGSBASE instructions.
const HWCAP2_FSGSBASE: u64 = 1 << 1;

/// `AT_HWCAP2` from `/proc/self/auxv`, read with raw syscalls.
fn hwcap2() -> Option<u64> {
    const AT_HWCAP2: u64 = 26;
    use syscalls::{Sysno, syscall1, syscall3, syscall4};
    let path = c"/proc/self/auxv";
    // SAFETY: a NUL-terminated path; openat returns a descriptor we close below.
    let fd = unsafe {
        syscall4(
            Sysno::openat,
            -100isize as usize,
            path.as_ptr() as usize,
            0o2000000,
            0,
        )
    }
    .ok()?;
    let mut auxv = [0u64; 128]; // (type, value) pairs; the vector is far shorter
    // SAFETY: the kernel writes at most size_of_val(&auxv) bytes into a live local.
    let n = unsafe {
        syscall3(
            Sysno::read,
            fd,
            auxv.as_mut_ptr() as usize,
            size_of_val(&auxv),
        )
    };
    // SAFETY: closing the descriptor we opened.
    let _ = unsafe { syscall1(Sysno::close, fd) };
    let words = n.ok()? / 8;
    auxv[..words]
        .chunks_exact(2)
        .find(|pair| pair[0] == AT_HWCAP2)
        .map(|pair| pair[1])
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
pub const GREEN_FRAME: usize = 64;

/// Prepare a never-run green task: write, just below `top`, the frame [`green_switch`] pops, so
/// that the first switch to the returned stack pointer "returns" into `entry(arg)`.
///
/// Frame, from the returned pointer up (the order `green_switch` pops): MXCSR and x87 control
/// word, r15, r14, r13 = `arg`, r12 = `entry`, rbx, rbp = 0, return address = the start stub.
///
/// # Safety
/// `top` must be 16-byte aligned with [`GREEN_FRAME`] writable bytes below it, on a stack that
/// stays valid while the task can run.
pub unsafe fn green_frame(top: *mut u8, entry: GreenEntry, arg: *mut u8) -> *mut u8 {
    const MXCSR_DEFAULT: u64 = 0x1f80; // all exceptions masked, round to nearest
    const FPUCW_DEFAULT: u64 = 0x037f; // x87: all exceptions masked, double-extended precision
    let start: unsafe extern "C" fn() -> ! = green_start;
    let frame: [u64; 8] = [
        MXCSR_DEFAULT | (FPUCW_DEFAULT << 32),
        0,                     // r15
        0,                     // r14
        arg as u64,            // r13
        entry as usize as u64, // r12
        0,                     // rbx
        0,                     // rbp: ends the frame chain
        start as usize as u64, // where green_switch's `ret` lands
    ];
    let sp = top.wrapping_sub(GREEN_FRAME);
    // SAFETY: the caller gives GREEN_FRAME writable, aligned bytes below `top`.
    unsafe { sp.cast::<[u64; 8]>().write(frame) };
    sp
}

/// First code of every green task, reached by `green_switch`'s `ret` with `rsp` 16-aligned.
#[unsafe(naked)]
unsafe extern "C" fn green_start() -> ! {
    core::arch::naked_asm!(
        "mov rdi, r13", // rdi = arg (popped into r13 from the frame green_frame wrote)
        "call r12",     // r12 = entry; rsp is 16-aligned here, the call pushes the return address
        "ud2",          // entry never returns
    )
}

/// Switch green tasks: save the callee-saved registers on the current stack, store its stack
/// pointer at `*save`, load `load` as the stack pointer and pop the registers the other side
/// saved (or [`green_frame`] prepared). Returns when something switches back to `*save`.
///
/// Only what the SysV ABI makes callee-saved is kept: rbx, rbp, r12–r15, the MXCSR control bits
/// and the x87 control word. Everything else the compiler already treats as clobbered by a call.
///
/// # Safety
/// `load` must come from a previous save or from [`green_frame`], on a stack that is still valid
/// and that no other thread is running on; `save` must be writable.
#[unsafe(naked)]
pub unsafe extern "C" fn green_switch(save: *mut *mut u8, load: *mut u8) {
    core::arch::naked_asm!(
        "push rbp", // callee-saved general registers, on the outgoing stack
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",       // one slot for the floating-point control state
        "stmxcsr [rsp]",    // low half: MXCSR
        "fnstcw [rsp + 4]", // high half: x87 control word
        "mov [rdi], rsp",   // rdi = save: the outgoing task's stack pointer
        "mov rsp, rsi",     // rsi = load: now on the incoming task's stack
        "ldmxcsr [rsp]",    // its floating-point control state
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15", // its callee-saved registers, in reverse order
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret", // to where it called green_switch, or to green_start
    )
}

/// Where a signal handler returns to: x86_64 has no sigreturn trampoline in the vDSO, so every
/// `rt_sigaction` with a handler must name one (`SA_RESTORER`).
pub const SIGNAL_RESTORER: Option<unsafe extern "C" fn() -> !> = Some(sigaction_restore_rt);

/// The restorer: the handler's `ret` lands here with `rsp` at the kernel's signal frame.
///
/// Debuggers and unwinders that have no CFI for it (gdb, libgcc's `MD_FALLBACK_FRAME_STATE_FOR`)
/// recognise a signal frame by these exact bytes, glibc's `__restore_rt`:
/// `48 c7 c0 0f 00 00 00` (`mov rax, 15` with a sign-extended 32-bit immediate) then `0f 05`
/// (`syscall`). The shorter `mov eax, 15` (`b8 0f 00 00 00`) does the same but is not recognised,
/// and backtraces through a handler stop at `??`. gdb also goes by the symbol: it takes these bytes
/// for a signal trampoline only in a function named `__restore_rt` or one whose name contains
/// `sigaction` (in a stripped libc.so, glibc's restorer has no symbol and shows up inside
/// `sigaction`), hence this name; a global `__restore_rt` could clash with another copy of this
/// crate.
#[unsafe(naked)]
unsafe extern "C" fn sigaction_restore_rt() -> ! {
    core::arch::naked_asm!(
        "mov rax, 15", // rax = SYS_rt_sigreturn, in the 7-byte REX.W encoding unwinders look for
        "syscall",     // restore the interrupted context from the signal frame; never returns
        "ud2",         // unreachable
    )
}

/// The body of `_start`, which [`crate::freestanding_main!`] defines in the program (a library
/// must not: every program linked with a C runtime has one from its `crt1.o`). The kernel enters
/// with `rsp` pointing at `argc`, followed by `argv[]`, NULL, `envp[]`, NULL and the auxiliary
/// vector; `$entry(sp)` takes over and never returns.
#[doc(hidden)]
#[macro_export]
macro_rules! __start_asm {
    ($entry:path) => {
        ::core::arch::naked_asm!(
            "xor ebp, ebp",   // rbp = 0: the outermost frame
            "mov rdi, rsp",   // rdi = the initial stack pointer, entry's argument
            "and rsp, -16",   // align for the call (the kernel already does; make it certain)
            "call {entry}",   // entry(sp) never returns: it ends with exit_group
            "ud2",            // unreachable
            entry = sym $entry,
        )
    };
}

/// The floating-point control state [`green_switch`] keeps, for the switch's test in `green.rs`
/// (which every arch file serves the same way).
#[cfg(test)]
#[path = "x86/control.rs"]
pub(crate) mod control;

/// What [`green_switch`]'s register test in `green.rs` runs on this architecture (which every
/// arch file serves the same way): the callee-saved general registers rbx, rbp and r12–r15 (the
/// floating-point control state has a test of its own).
#[cfg(test)]
pub(crate) mod registers {
    use super::green_switch;

    /// What [`probe`] loads into rbx, rbp, r12–r15 before the switch, and expects back.
    pub(crate) const EXPECTED: [u64; 6] = [1000, 1001, 1002, 1003, 1004, 1005];

    /// The task side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn clobber(switch: *mut u8) -> ! {
        core::arch::naked_asm!(
            "mov rsi, [rdi]", // rsi = load: the main side's saved stack pointer
            "add rdi, 8",     // rdi = save: the task's slot
            "mov rax, -1",    // rax = all ones, the value every register gets
            "mov rbx, rax",
            "mov rbp, rax",
            "mov r12, rax",
            "mov r13, rax",
            "mov r14, rax",
            "mov r15, rax",
            "call {switch}", // back to the main side; nothing switches here again
            "ud2",           // unreachable
            switch = sym green_switch,
        )
    }

    /// The main side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn probe(switch: *mut u8, task_sp: *mut u8, out: *mut u64) {
        core::arch::naked_asm!(
            "push rbp", // the caller's registers, restored before the return
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "push rdx",      // rdx = out, kept across the switches on this stack (rsp 16-aligned)
            "mov rbx, 1000", // known values in every callee-saved register
            "mov rbp, 1001",
            "mov r12, 1002",
            "mov r13, 1003",
            "mov r14, 1004",
            "mov r15, 1005",
            "call {switch}", // rdi = save (the main side's slot), rsi = load (task_sp); back here
            //                  after the task clobbered everything and switched back
            "pop rax",        // rax = out
            "mov [rax], rbx", // what the switch restored
            "mov [rax + 8], rbp",
            "mov [rax + 16], r12",
            "mov [rax + 24], r13",
            "mov [rax + 32], r14",
            "mov [rax + 40], r15",
            "pop r15", // the caller's registers back
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            "ret", // to the test
            switch = sym green_switch,
        )
    }
}

#[cfg(test)]
mod tests {
    /// The restorer's first instructions are, byte for byte, the sequence gdb and libgcc match.
    #[test]
    fn restorer_has_the_canonical_encoding() {
        let code = (super::sigaction_restore_rt as *const ()).cast::<[u8; 9]>();
        // SAFETY: the restorer's code is mapped readable and is longer than nine bytes.
        let bytes = unsafe { code.read() };
        assert_eq!(
            bytes,
            [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]
        );
    }
}
