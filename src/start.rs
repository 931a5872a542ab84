//! Process start-up for programs without libc: no crt, just the arch's `_start`, which hands the
//! initial stack pointer to the program's main function.
//!
//! A program names its main function with [`crate::freestanding_main!`], which expands `_start` in
//! the program itself (the library cannot define it: every program linked with a C runtime has
//! one); the function's return value becomes the process's exit status. A `no_std` program that
//! a C runtime starts after all (musl's static `crt1.o`, say) hands its C `main`'s arguments to
//! [`c_main`] instead, and runs the same function the same way.

use core::ffi::CStr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The `envp` the start-up received: what a [`crate::program::Program`] inherits in a program
/// without std. Null until the start-up has run (a program not started by it).
static INITIAL_ENVP: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());

/// The `envp` the start-up received, if it ran.
#[cfg(not(feature = "std"))]
pub(crate) fn initial_envp() -> Option<*const *const u8> {
    let envp = INITIAL_ENVP.load(Ordering::Relaxed);
    (!envp.is_null()).then_some(envp.cast_const())
}

/// The command line and environment the kernel put on the initial stack.
///
/// A freestanding program (built for a `*-unknown-none` target, say; this cannot run as a doctest,
/// which is a std program):
///
/// ```ignore
/// rawclone::freestanding_main!(main);
/// fn main(args: &rawclone::start::Args) -> i32 {
///     let name = args.get(0).map_or(&b"?"[..], |a| a.to_bytes());
///     let paths = args.env().filter(|e| e.to_bytes().starts_with(b"PATH=")).count();
///     (name.is_empty() || paths > 1) as i32
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
}

impl Args {
    /// Number of arguments, the program name included.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Whether there are no arguments at all (not even a program name).
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `i`.
    pub fn get(&self, i: usize) -> Option<&'static CStr> {
        // SAFETY: argv has argc valid entries, each a NUL-terminated string for the process's life.
        (i < self.argc).then(|| unsafe { CStr::from_ptr((*self.argv.add(i)).cast()) })
    }

    /// The environment strings, `NAME=value` each.
    pub fn env(&self) -> impl Iterator<Item = &'static CStr> {
        let envp = self.envp;
        // SAFETY: envp is a NULL-terminated array of NUL-terminated strings that live as long as
        // the process; the iteration stops at the NULL.
        (0..)
            .map(move |i| unsafe { *envp.add(i) })
            .take_while(|p| !p.is_null())
            .map(|p| unsafe { CStr::from_ptr(p.cast()) })
    }

    /// The raw NULL-terminated `envp` array, as `execve(2)` takes it.
    pub fn envp(&self) -> *const *const u8 {
        self.envp
    }
}

impl Args {
    /// The arguments at the initial stack pointer: `argc`, then `argc` pointers and a NULL, then
    /// the environment's pointers and a NULL.
    ///
    /// # Safety
    /// `sp` must be the stack pointer the kernel gave the process at entry.
    unsafe fn at_initial_stack(sp: *const usize) -> Args {
        // SAFETY: the kernel's initial stack holds argc, then argc pointers and a NULL, then envp.
        unsafe {
            let argc = *sp;
            let argv = sp.add(1).cast::<*const u8>();
            Args {
                argc,
                argv,
                envp: argv.add(argc + 1),
            }
        }
    }
}

/// Called by the `_start` that [`crate::freestanding_main!`] expands, with the initial stack
/// pointer; runs `main` and exits with its status.
///
/// # Safety
/// `sp` must be the stack pointer the kernel gave the process at entry.
#[doc(hidden)]
pub unsafe fn entry(sp: *const usize, main: fn(&Args) -> i32) -> ! {
    // SAFETY: the caller passes the initial stack pointer.
    let args = unsafe { Args::at_initial_stack(sp) };
    crate::sys::exit_group(begin(&args, main))
}

/// Run `main` from a C `main(argc, argv, envp)`, for a `no_std`, `no_main` program that a C
/// runtime starts (musl's static `crt1.o`, which rustc links into every executable for a
/// `*-linux-musl` target, or a libc a `std` dependency brought in): the same start-up as
/// [`crate::freestanding_main!`]'s `_start`, and `main`'s status to return from C `main`.
///
/// ```ignore
/// #[unsafe(no_mangle)]
/// extern "C" fn main(argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
///     // SAFETY: the C runtime passes the process's own arguments and environment.
///     unsafe { rawclone::start::c_main(argc, argv, envp, command) }
/// }
/// fn command(args: &rawclone::start::Args) -> i32 { args.is_empty() as i32 }
/// ```
///
/// # Safety
/// `argc`, `argv` and `envp` must be the arguments the C runtime passed to `main`: `argv` holds
/// `argc` NUL-terminated strings and a NULL, `envp` NUL-terminated strings up to a NULL, all
/// living as long as the process.
pub unsafe fn c_main(
    argc: i32,
    argv: *const *const u8,
    envp: *const *const u8,
    main: fn(&Args) -> i32,
) -> i32 {
    let args = Args {
        argc: usize::try_from(argc).unwrap_or(0),
        argv,
        envp,
    };
    begin(&args, main)
}

/// What every start-up does before `main`: keep `envp` for [`crate::program::Program`], make sure
/// descriptors 0, 1 and 2 are open.
fn begin(args: &Args, main: fn(&Args) -> i32) -> i32 {
    INITIAL_ENVP.store(args.envp.cast_mut(), Ordering::Relaxed);
    open_stdio();
    main(args)
}

/// Open `/dev/null` on whichever of descriptors 0, 1 and 2 the process was started without, as
/// std's start-up does: [`crate::sys::stdin`] and its siblings borrow them for the life of the
/// process, so none of them may later be handed out as a fresh, owned descriptor.
fn open_stdio() {
    use linux_raw_sys::general as k;
    for fd in 0..3 {
        if crate::sys::fd_flags(fd) == Err(crate::error::Errno::EBADF) {
            // The lowest free number is `fd` itself: 0..fd are open by now. Kept open for good,
            // so it is never closed (and it must not be close-on-exec, like any standard stream).
            if let Ok(null) = crate::sys::open(c"/dev/null", k::O_RDWR) {
                let _ = crate::sys::clear_cloexec(null.as_fd());
                let _ = null.into_raw();
            }
        }
    }
}

/// Name the main function of a freestanding program, `fn(&Args) -> i32`, and define the
/// program's `_start` (the arch's, from `arch/`), which runs it and exits with its status.
///
/// For a program that nothing else starts: no C runtime is linked (a `*-unknown-none` target, or
/// a `*-linux-gnu` one linked with `-nostartfiles -nostdlib`), so `_start` is free. Where a C
/// runtime starts the program, call [`c_main`] from C `main` instead.
///
/// ```ignore
/// rawclone::freestanding_main!(main);
/// fn main(args: &rawclone::start::Args) -> i32 { 0 }
/// ```
#[macro_export]
macro_rules! freestanding_main {
    ($main:path) => {
        /// Called by `_start` with the initial stack pointer.
        ///
        /// # Safety
        /// `sp` must be the stack pointer the kernel gave the process at entry.
        unsafe extern "C" fn __rawclone_entry(sp: *const usize) -> ! {
            // SAFETY: `_start` passes the stack pointer the kernel gave the process.
            unsafe { $crate::start::entry(sp, $main) }
        }
        /// The ELF entry point: the arch's few instructions from `arch/`, then
        /// `__rawclone_entry`.
        ///
        /// # Safety
        /// Only the kernel may call this, once, as the ELF entry point.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn _start() -> ! {
            $crate::__start_asm!(__rawclone_entry)
        }
    };
}
