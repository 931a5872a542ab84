//! 32-bit x86 (i386/i686) backend: the only place where rawclone writes machine code for this
//! architecture.
//!
//! `clone(2)` and `clone3(2)` return twice. In the parent they return like any syscall; in a child
//! that was given a stack of its own they "return" on that new, empty stack, where no frame of the
//! code that issued the syscall exists. So the child side must never return into the Rust code
//! around the `asm!` block: it jumps to `child_entry`, which calls the entry function and hands its
//! return value straight to `exit(2)`, and whose CFI tells debuggers and unwinders that the stack
//! ends there.
//!
//! Register facts this file relies on (see the i386 syscall ABI in `syscall(2)`):
//! - `int 0x80`: number in `eax`, arguments in `ebx, ecx, edx, esi, edi, ebp`, result in `eax`;
//!   every other register survives, in the parent and in the child;
//! - LLVM may keep `ebx` (the PIC base) and `esi` (its base pointer) for itself, so they cannot be
//!   named as `asm!` operands: the syscall is issued from a naked function that saves and restores
//!   every callee-saved register itself and reads its arguments from memory;
//! - `clone` takes five argument registers, so the entry function and its argument reach its child
//!   on the child's own stack: the parent writes them just below the stack top and gives the
//!   kernel the lower address (memory of the parent's frame would not do: with `CLONE_VM` the
//!   parent may return and reuse it before the child reads it); `clone3` takes two, so they reach
//!   its child in `edx`, `esi` and `edi`, and the parent writes nothing on the child's stack (the
//!   kernel may refuse the arguments, and a stack-less `clone3` child runs on a copy of ours);
//! - the raw `clone` argument order is `(flags, newsp, parent_tid, tls, child_tid)`
//!   (`CONFIG_CLONE_BACKWARDS`, as in `kernel/fork.c`), unlike x86_64.
//!
//! Thread pointer: on i386 the thread pointer is the base of the `%gs` segment, whose descriptor
//! is one of the thread's three GDT TLS slots. `CLONE_SETTLS`'s `tls` (in `clone` and in
//! `clone3`'s `clone_args`) is therefore not a base address but a pointer to a `struct
//! user_desc`, the `set_thread_area(2)` argument. rawclone's API keeps one meaning on every
//! architecture (`tls` is the base the child's thread pointer gets): [`clone`] and [`clone3`] build
//! the descriptor (the caller's `%gs` slot, or the first TLS slot where `%gs` is not loaded) and
//! hand the kernel its address. [`thread_pointer`] asks the kernel for the base of the slot `%gs`
//! selects (`get_thread_area(2)`), since `%gs:0` holds whatever the block's first word is, not
//! necessarily its address.

use core::arch::asm;

/// This architecture's name, as `std::env::consts::ARCH` spells it (for programs without std).
///
/// ```
/// assert_eq!(rawclone::arch::NAME, std::env::consts::ARCH);
/// ```
pub const NAME: &str = "x86";

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

/// Bytes the parent writes below the child's stack top: entry, arg, `%gs` selector, padding.
const CHILD_RECORD: usize = 16;

/// `CLONE_SETTLS`.
const CLONE_SETTLS: usize = linux_raw_sys::general::CLONE_SETTLS as usize;

/// A `struct user_desc` (asm/ldt.h): slot, base, limit and the flag bits, one word each.
#[repr(C)]
struct UserDesc {
    entry_number: u32,
    base_addr: u32,
    limit: u32,
    /// `seg_32bit` (bit 0), `contents` (1–2), `read_exec_only` (3), `limit_in_pages` (4),
    /// `seg_not_present` (5), `useable` (6).
    flags: u32,
}

/// A flat 4 GiB data segment: `seg_32bit | limit_in_pages | useable`, limit 0xfffff pages, the
/// descriptor every i386 libc gives its threads.
const TLS_FLAGS: u32 = 0x51;

/// The descriptor that makes `base` a thread's `%gs` base, and the selector the child must load
/// where the caller's `%gs` is not loaded (0: the child's inherited `%gs` already selects it).
fn tls_desc(base: usize) -> (UserDesc, usize) {
    let gs = gs_selector();
    let (slot, load) = if gs != 0 {
        (gs >> 3, 0)
    } else {
        let slot = first_tls_slot();
        (slot, (slot << 3) | 3)
    };
    let desc = UserDesc {
        entry_number: slot as u32,
        base_addr: base as u32,
        limit: 0xfffff,
        flags: TLS_FLAGS,
    };
    (desc, load)
}

/// The calling thread's `%gs` selector (0 where no TLS segment was loaded).
fn gs_selector() -> usize {
    let gs: usize;
    // SAFETY: reads a segment register into a general one; touches no memory.
    unsafe {
        asm!(
            "mov {0:x}, gs", // the selector (GDT index << 3 | table bit | RPL 3), in the low 16 bits
            out(reg) gs,
            options(nomem, nostack, preserves_flags),
        );
    }
    gs & 0xffff // the 16-bit move leaves the upper half as it was
}

/// The GDT index of the first TLS slot: 6 on an i386 kernel, 12 on an x86_64 kernel running this
/// program in IA32 emulation. `get_thread_area(2)` answers `EINVAL` for an index outside the
/// range, so the first index it accepts is the answer.
fn first_tls_slot() -> usize {
    for slot in [6usize, 12] {
        let mut desc = UserDesc {
            entry_number: slot as u32,
            base_addr: 0,
            limit: 0,
            flags: 0,
        };
        // SAFETY: get_thread_area fills the live local descriptor it is given.
        let r = unsafe {
            syscalls::syscall1(syscalls::Sysno::get_thread_area, (&raw mut desc) as usize)
        };
        if r.is_ok() {
            return slot;
        }
    }
    6
}

/// Issue `clone` with `regs` = `[ebx, ecx, edx, esi, edi]`; in the child (`eax` = 0) go to
/// [`child_entry`] with `esp` at the record the caller wrote below the stack top.
///
/// # Safety
/// The arguments must describe a new stack whose top holds the [`CHILD_RECORD`] (the stack
/// pointer the kernel gives the child points at it).
#[unsafe(naked)]
unsafe extern "C" fn raw_clone(nr: usize, regs: *const [usize; 5]) -> isize {
    core::arch::naked_asm!(
        "push ebp",               // callee-saved registers, restored below in the parent
        "push ebx",
        "push esi",
        "push edi",
        "mov eax, [esp + 20]",    // eax = nr (4 saved registers + the return address above it)
        "mov ebp, [esp + 24]",    // ebp = regs
        "mov ebx, [ebp]",         // flags
        "mov ecx, [ebp + 4]",     // child stack: the record below its top
        "mov edx, [ebp + 8]",     // parent_tid ptr
        "mov esi, [ebp + 12]",    // tls: a struct user_desc *, or 0
        "mov edi, [ebp + 16]",    // child_tid ptr
        "int 0x80",               // parent: eax = child tid or -errno; child: eax = 0, esp = the
                                  //   record below the new stack top
        "test eax, eax",          // zero only in the child
        "jz {child}",             // child: on in child_entry, whose CFI makes it the outermost frame
        "pop edi",                // parent or error: restore and return eax
        "pop esi",
        "pop ebx",
        "pop ebp",
        "ret",
        child = sym child_entry,
    )
}

/// Issue `clone3` with `regs` = `[args, size, entry, arg, gs selector]` in `ebx, ecx, edx, esi,
/// edi`; the last three survive the syscall into the child (`eax` = 0), which goes on in
/// [`child_entry3`].
///
/// # Safety
/// `args` must describe a valid `clone_args` whose stack, if any, is free for the child.
#[unsafe(naked)]
unsafe extern "C" fn raw_clone3(regs: *const [usize; 5]) -> isize {
    core::arch::naked_asm!(
        "push ebp",               // callee-saved registers, restored below in the parent
        "push ebx",
        "push esi",
        "push edi",
        "mov ebp, [esp + 20]",    // ebp = regs (4 saved registers + the return address above it)
        "mov eax, {nr}",          // eax = SYS_clone3
        "mov ebx, [ebp]",         // struct clone_args *
        "mov ecx, [ebp + 4]",     // sizeof(struct clone_args)
        "mov edx, [ebp + 8]",     // entry: survives into the child
        "mov esi, [ebp + 12]",    // arg: survives into the child
        "mov edi, [ebp + 16]",    // gs selector (or 0): survives into the child
        "int 0x80",               // parent: eax = child tid or -errno; child: eax = 0, esp = the
                                  //   top of the stack in clone_args (or a copy of ours)
        "test eax, eax",          // zero only in the child
        "jz {child}",             // child: on in child_entry3
        "pop edi",                // parent or error: restore and return eax
        "pop esi",
        "pop ebx",
        "pop ebp",
        "ret",
        nr = const syscalls::Sysno::clone3 as usize,
        child = sym child_entry3,
    )
}

/// Where a `clone3` child continues, with `edx` = entry, `esi` = arg and `edi` = the `%gs`
/// selector to load (or 0): it writes the same record [`child_entry`] reads, on its own stack, 16
/// bytes below a 16-aligned point, and goes on there. Its CFI, like `child_entry`'s, marks it
/// the outermost frame.
#[unsafe(naked)]
unsafe extern "C" fn child_entry3() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",     // an FDE of its own
        ".cfi_undefined eip", // no return address: unwinders stop at this frame
        "and esp, -16",       // the kernel's stack top is aligned already; make it certain
        "sub esp, 16",        // room for the record
        "mov [esp], edx",     // entry
        "mov [esp + 4], esi", // arg
        "mov [esp + 8], edi", // gs selector or 0
        "jmp {child}",        // the rest is child_entry's
        ".cfi_endproc",
        child = sym child_entry,
    )
}

/// Where the trampoline's child continues, jumped to (not called) right after the syscall with
/// `esp` at the record `[entry, arg, gs selector, 0]` on its new stack. Nothing called this code,
/// so there is no caller to unwind into: its CFI marks the return address (`eip`) undefined, the
/// DWARF way to say "outermost frame", so gdb's backtrace and libgcc's unwinder stop here. `ebp`
/// = 0 ends the frame-pointer chain too, for walkers that follow it.
#[unsafe(naked)]
unsafe extern "C" fn child_entry() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",     // an FDE of its own
        ".cfi_undefined eip", // no return address: unwinders stop at this frame
        "xor ebp, ebp",       // ebp = 0 ends the frame-pointer chain
        "mov ecx, [esp + 8]", // ecx = the selector to load into gs, or 0 to keep the inherited one
        "test ecx, ecx",
        "jz 2f",
        "mov gs, cx", // the slot the kernel just filled with this child's TLS base
        "2:",
        "mov eax, [esp]",     // eax = entry
        "mov ecx, [esp + 4]", // ecx = arg
        "mov [esp], ecx",     // the one stack argument; esp is 16-aligned, the call pushes eip
        "call eax",           // entry(arg)
        "mov ebx, eax",       // ebx = the entry's i32 return value = the exit status
        "mov eax, 1",         // eax = SYS_exit (ends this task only, as a thread's exit must)
        "int 0x80",           // never returns
        "ud2",                // unreachable: trap rather than run into whatever follows
        ".cfi_endproc",
    )
}

/// Write the child's record below the 16-aligned `top` and return the lowered stack pointer.
///
/// # Safety
/// `top` must have [`CHILD_RECORD`] writable bytes below it.
unsafe fn push_record(top: usize, entry: ChildEntry, arg: *mut u8, gs: usize) -> usize {
    let sp = top - CHILD_RECORD;
    // SAFETY: the caller gives CHILD_RECORD writable bytes below `top`; 16-aligned, so 4-aligned.
    unsafe { (sp as *mut [usize; 4]).write([entry as usize, arg as usize, gs, 0]) };
    sp
}

/// Raw `clone(2)` onto a new stack; the child runs `entry(arg)` and exits with its return value.
///
/// With `CLONE_SETTLS` in `flags`, `tls` is the base the child's thread pointer (`%gs` base)
/// gets; this function turns it into the `struct user_desc` the i386 kernel takes.
///
/// Returns the child's tid (or the pidfd-independent result of the kernel) in the parent, or
/// `-errno`. Never returns in the child.
///
/// # Safety
/// `stack_top` must be the 16-byte-aligned top of memory that stays valid, and is used by nothing
/// else, until the child exits or execs; the 16 bytes below it are overwritten. `parent_tid`,
/// `child_tid` and `tls` must be valid for the flags that use them. `entry` must be sound to run
/// in the child with `arg`.
pub unsafe fn clone(
    flags: usize,
    stack_top: *mut u8,
    parent_tid: *mut i32,
    child_tid: *mut i32,
    tls: usize,
    entry: ChildEntry,
    arg: *mut u8,
) -> isize {
    // Only with CLONE_SETTLS: finding the slot may take a syscall or two.
    let settls = (flags & CLONE_SETTLS != 0).then(|| tls_desc(tls));
    let gs = settls.as_ref().map_or(0, |(_, gs)| *gs);
    // SAFETY: the caller gives a stack with room below its top.
    let sp = unsafe { push_record(stack_top as usize, entry, arg, gs) };
    let desc_ptr = settls
        .as_ref()
        .map_or(0, |(desc, _)| desc as *const UserDesc as usize);
    let regs = [flags, sp, parent_tid as usize, desc_ptr, child_tid as usize];
    // SAFETY: forwarded from this function's contract; `desc` lives across the call, and the
    // kernel copies it before returning.
    unsafe { raw_clone(syscalls::Sysno::clone as usize, &regs) }
}

/// Raw `clone3(2)`; the child runs `entry(arg)` on the stack the `clone_args` describe and exits
/// with its return value.
///
/// With `CLONE_SETTLS` this rewrites `tls` in `*args` before the call: the base the child's thread
/// pointer gets becomes the address of the `struct user_desc` the i386 kernel takes.
///
/// # Safety
/// `args` must point to a valid, writable `clone_args` of `size` bytes whose stack (lowest address
/// plus size, 16-byte aligned) stays valid and unused by anything else until the child exits or
/// execs; see [`clone`].
pub unsafe fn clone3(args: *mut u8, size: usize, entry: ChildEntry, arg: *mut u8) -> isize {
    let ca = args.cast::<linux_raw_sys::general::clone_args>();
    // SAFETY: the caller gives a valid, writable clone_args.
    let (flags, tls) = unsafe { ((*ca).flags as usize, (*ca).tls as usize) };
    // Only with CLONE_SETTLS: finding the slot may take a syscall or two.
    let settls = (flags & CLONE_SETTLS != 0).then(|| tls_desc(tls));
    let gs = settls.as_ref().map_or(0, |(_, gs)| *gs);
    if let Some((desc, _)) = &settls {
        // SAFETY: as above.
        unsafe { (*ca).tls = desc as *const UserDesc as usize as u64 };
    }
    let regs = [args as usize, size, entry as usize, arg as usize, gs];
    // SAFETY: forwarded from this function's contract; `desc` lives across the call (the kernel
    // copies it during it).
    unsafe { raw_clone3(&regs) }
}

/// The calling thread's thread pointer: the base of the TLS segment `%gs` selects, read with
/// `get_thread_area(2)` (0 where `%gs` selects none).
pub fn thread_pointer() -> usize {
    let gs = gs_selector();
    if gs == 0 {
        return 0;
    }
    let mut desc = UserDesc {
        entry_number: (gs >> 3) as u32,
        base_addr: 0,
        limit: 0,
        flags: 0,
    };
    // SAFETY: get_thread_area fills the live local descriptor it is given.
    let r =
        unsafe { syscalls::syscall1(syscalls::Sysno::get_thread_area, (&raw mut desc) as usize) };
    debug_assert!(r.is_ok());
    desc.base_addr as usize
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
pub const GREEN_FRAME: usize = 32;

/// Prepare a never-run green task: write, just below `top`, the frame [`green_switch`] pops, so
/// that the first switch to the returned stack pointer "returns" into `entry(arg)`.
///
/// Frame, from the returned pointer up (the order `green_switch` pops): MXCSR, x87 control word,
/// edi, esi = `arg`, ebx = `entry`, ebp = 0, return address = the start stub, one pad word.
///
/// # Safety
/// `top` must be 16-byte aligned with [`GREEN_FRAME`] writable bytes below it, on a stack that
/// stays valid while the task can run.
pub unsafe fn green_frame(top: *mut u8, entry: GreenEntry, arg: *mut u8) -> *mut u8 {
    const MXCSR_DEFAULT: u32 = 0x1f80; // all exceptions masked, round to nearest
    const FPUCW_DEFAULT: u32 = 0x037f; // x87: all exceptions masked, double-extended precision
    let start: unsafe extern "C" fn() -> ! = green_start;
    let frame: [u32; 8] = [
        MXCSR_DEFAULT,
        FPUCW_DEFAULT,
        0,                     // edi
        arg as u32,            // esi
        entry as usize as u32, // ebx
        0,                     // ebp: ends the frame chain
        start as usize as u32, // where green_switch's `ret` lands
        0,                     // pad: green_start's esp is top - 4 after the ret
    ];
    let sp = top.wrapping_sub(GREEN_FRAME);
    // SAFETY: the caller gives GREEN_FRAME writable, aligned bytes below `top`.
    unsafe { sp.cast::<[u32; 8]>().write(frame) };
    sp
}

/// First code of every green task, reached by `green_switch`'s `ret` with `esp` = top - 4.
#[unsafe(naked)]
unsafe extern "C" fn green_start() -> ! {
    core::arch::naked_asm!(
        "sub esp, 12",    // esp = top - 16: 16-aligned, as the call needs
        "mov [esp], esi", // the one stack argument: arg (popped into esi from the frame)
        "call ebx",       // ebx = entry; the call pushes the return address
        "ud2",            // entry never returns
    )
}

/// Switch green tasks: save the callee-saved registers on the current stack, store its stack
/// pointer at `*save`, load `load` as the stack pointer and pop the registers the other side
/// saved (or [`green_frame`] prepared). Returns when something switches back to `*save`.
///
/// Only what the i386 SysV ABI makes callee-saved is kept: ebx, esi, edi, ebp, the MXCSR control
/// bits and the x87 control word. Everything else the compiler already treats as clobbered.
///
/// # Safety
/// `load` must come from a previous save or from [`green_frame`], on a stack that is still valid
/// and that no other thread is running on; `save` must be writable.
#[unsafe(naked)]
pub unsafe extern "C" fn green_switch(save: *mut *mut u8, load: *mut u8) {
    core::arch::naked_asm!(
        "mov eax, [esp + 4]", // eax = save (first stack argument, above the return address)
        "mov ecx, [esp + 8]", // ecx = load
        "push ebp",           // callee-saved general registers, on the outgoing stack
        "push ebx",
        "push esi",
        "push edi",
        "sub esp, 8",       // two slots for the floating-point control state
        "fnstcw [esp + 4]", // upper slot: x87 control word
        "stmxcsr [esp]",    // lower slot: MXCSR
        "mov [eax], esp",   // the outgoing task's stack pointer
        "mov esp, ecx",     // now on the incoming task's stack
        "ldmxcsr [esp]",    // its floating-point control state
        "fldcw [esp + 4]",
        "add esp, 8",
        "pop edi", // its callee-saved registers, in reverse order
        "pop esi",
        "pop ebx",
        "pop ebp",
        "ret", // to where it called green_switch, or to green_start
    )
}

/// Where a signal handler returns to. The kernel would use the vDSO's `__kernel_rt_sigreturn`
/// without one, but a process may run without a vDSO (`vdso=0`), so rawclone names its own
/// (`SA_RESTORER`), as i386 libcs do.
pub const SIGNAL_RESTORER: Option<unsafe extern "C" fn() -> !> = Some(sigaction_restore_rt);

/// The restorer: the handler's `ret` lands here with `esp` at the kernel's `rt_sigframe`. That
/// frame is the one the kernel builds for `SA_SIGINFO` handlers only, so `sys`'s
/// `handler_action` sets `SA_SIGINFO` on every handler it installs.
///
/// gdb and libgcc recognise an i386 rt signal frame by these exact bytes: `b8 ad 00 00 00`
/// (`mov eax, 173`) then `cd 80` (`int 0x80`); the name contains `sigaction` for gdb's symbol
/// check, as on x86_64.
#[unsafe(naked)]
unsafe extern "C" fn sigaction_restore_rt() -> ! {
    core::arch::naked_asm!(
        "mov eax, 173", // eax = SYS_rt_sigreturn
        "int 0x80",     // restore the interrupted context from the signal frame; never returns
        "ud2",          // unreachable
    )
}

/// The body of `_start`, which [`crate::freestanding_main!`] defines in the program (a library
/// must not: every program linked with a C runtime has one from its `crt1.o`). The kernel enters
/// with `esp` pointing at `argc`, followed by `argv[]`, NULL, `envp[]`, NULL and the auxiliary
/// vector; `$entry(sp)` takes over and never returns.
#[doc(hidden)]
#[macro_export]
macro_rules! __start_asm {
    ($entry:path) => {
        ::core::arch::naked_asm!(
            "xor ebp, ebp",   // ebp = 0: the outermost frame
            "mov eax, esp",   // eax = the initial stack pointer, entry's argument
            "and esp, -16",   // align for the call
            "sub esp, 12",    // with the argument pushed below, esp is 16-aligned at the call
            "push eax",       // entry's one stack argument
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
/// arch file serves the same way): the callee-saved general registers ebx, esi, edi and ebp (the
/// floating-point control state has a test of its own).
#[cfg(test)]
pub(crate) mod registers {
    use super::green_switch;

    /// What [`probe`] loads into ebx, esi, edi, ebp before the switch, and expects back.
    pub(crate) const EXPECTED: [u64; 4] = [1000, 1001, 1002, 1003];

    /// The task side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn clobber(switch: *mut u8) -> ! {
        core::arch::naked_asm!(
            "mov eax, [esp + 4]", // eax = switch (the stack argument, above the return address)
            "mov ecx, [eax]",     // ecx = load: the main side's saved stack pointer
            "add eax, 4",         // eax = save: the task's slot
            "mov edx, -1",        // edx = all ones, the value every register gets
            "mov ebx, edx",
            "mov esi, edx",
            "mov edi, edx",
            "mov ebp, edx",
            "push ecx",      // green_switch's arguments: load,
            "push eax",      // then save
            "call {switch}", // back to the main side; nothing switches here again
            "ud2",           // unreachable
            switch = sym green_switch,
        )
    }

    /// The main side of the test (see `green.rs`).
    #[unsafe(naked)]
    pub(crate) unsafe extern "C" fn probe(switch: *mut u8, task_sp: *mut u8, out: *mut u64) {
        core::arch::naked_asm!(
            "push ebp", // the caller's registers, restored before the return
            "push ebx",
            "push esi",
            "push edi",
            "mov eax, [esp + 20]", // eax = switch (the first stack argument, past the four and
            //                        the return address)
            "mov ecx, [esp + 24]", // ecx = task_sp
            "push dword ptr [esp + 28]", // out, kept across the switches on this stack
            "mov ebx, 1000",             // known values in every callee-saved register
            "mov esi, 1001",
            "mov edi, 1002",
            "mov ebp, 1003",
            "push ecx",      // green_switch's arguments: load (task_sp),
            "push eax",      // then save (the main side's slot)
            "call {switch}", // back here after the task clobbered everything and switched back
            "add esp, 8",    // drop the two arguments
            "pop eax",       // eax = out
            "mov [eax], ebx", // what the switch restored, each in a 64-bit word
            "mov dword ptr [eax + 4], 0",
            "mov [eax + 8], esi",
            "mov dword ptr [eax + 12], 0",
            "mov [eax + 16], edi",
            "mov dword ptr [eax + 20], 0",
            "mov [eax + 24], ebp",
            "mov dword ptr [eax + 28], 0",
            "pop edi", // the caller's registers back
            "pop esi",
            "pop ebx",
            "pop ebp",
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
        let code = (super::sigaction_restore_rt as *const ()).cast::<[u8; 7]>();
        // SAFETY: the restorer's code is mapped readable and is longer than seven bytes.
        let bytes = unsafe { code.read() };
        assert_eq!(bytes, [0xb8, 0xad, 0x00, 0x00, 0x00, 0xcd, 0x80]);
    }
}
