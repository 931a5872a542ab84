//! What a panic does in the binary without std, and the symbols of unwinding that the target's
//! prebuilt `core` and `alloc` name though nothing here unwinds (with the `std` feature, std
//! brings all of it: its panic handler runs, and with `panic = "abort"` ends in SIGABRT).

/// A panic prints its message on standard error and exits with status 101, as std's default
/// does for a panicking main thread (the profiles build the binary with `panic = "abort"`:
/// nothing unwinds without std). `exit_group` ends the process it happens in, wherever: a Thread
/// task's panic ends the command, a Chimera task's only that task.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    eprintln!("rawclone: {info}");
    rawclone::sys::exit_group(101)
}

/// The personality routine the target's prebuilt `core` refers to (it was built with
/// `panic=unwind`). The binary is built with `panic = "abort"`, so nothing unwinds and nothing
/// calls this; it only satisfies the linker.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Where the prebuilt `alloc`'s landing pads resume unwinding, for the same reason never reached
/// (nothing unwinds); were it ever called, it ends the process with status 134 (128 + SIGABRT,
/// what a shell shows for an abort).
#[unsafe(no_mangle)]
#[allow(non_snake_case)]
pub extern "C" fn _Unwind_Resume() -> ! {
    rawclone::sys::exit_group(134)
}

/// The ARM EHABI personality routines the prebuilt `core`'s and `alloc`'s unwind tables name
/// (`.ARM.exidx`): as for [`rust_eh_personality`], nothing unwinds, so nothing calls them.
#[cfg(all(target_arch = "arm", not(feature = "std")))]
mod ehabi {
    /// EHABI's personality routine 0 (short frames).
    #[unsafe(no_mangle)]
    pub extern "C" fn __aeabi_unwind_cpp_pr0() {}
    /// EHABI's personality routine 1 (long frames, 16-bit scope).
    #[unsafe(no_mangle)]
    pub extern "C" fn __aeabi_unwind_cpp_pr1() {}
    /// EHABI's personality routine 2 (long frames, 32-bit scope).
    #[unsafe(no_mangle)]
    pub extern "C" fn __aeabi_unwind_cpp_pr2() {}
}
