//! Process start-up for freestanding programs (feature `start`): no libc, no crt, just the
//! arch's `_start`, which hands the initial stack pointer to [`entry`].
//!
//! A program names its main function with [`crate::freestanding_main!`]; its return value becomes
//! the process's exit status.

use core::ffi::CStr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The `envp` `_start` received: what a [`crate::program::Program`] inherits in a freestanding
/// program. Null until `_start` has run (a program not started by it).
static INITIAL_ENVP: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());

/// The `envp` `_start` received, if it ran.
pub(crate) fn initial_envp() -> Option<*const *const u8> {
    let envp = INITIAL_ENVP.load(Ordering::Relaxed);
    (!envp.is_null()).then_some(envp.cast_const())
}

/// The command line and environment the kernel put on the initial stack.
///
/// A freestanding program (built for a `*-unknown-none` target with the `start` feature; this
/// cannot run as a doctest, which is a std program):
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

unsafe extern "Rust" {
    /// Defined by [`crate::freestanding_main!`] in the program.
    fn __rawclone_main(args: &Args) -> i32;
}

/// Called by `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` must be the stack pointer the kernel gave the process at entry.
pub(crate) unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack holds argc, then argc pointers and a NULL, then envp.
    let args = unsafe {
        let argc = *sp;
        let argv = sp.add(1).cast::<*const u8>();
        Args {
            argc,
            argv,
            envp: argv.add(argc + 1),
        }
    };
    INITIAL_ENVP.store(args.envp.cast_mut(), Ordering::Relaxed);
    open_stdio();
    // SAFETY: the program defines the symbol through freestanding_main!.
    let code = unsafe { __rawclone_main(&args) };
    crate::sys::exit_group(code)
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

/// Name the main function of a freestanding program: `fn(&Args) -> i32`.
///
/// ```ignore
/// rawclone::freestanding_main!(main);
/// fn main(args: &rawclone::start::Args) -> i32 { 0 }
/// ```
#[macro_export]
macro_rules! freestanding_main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __rawclone_main(args: &$crate::start::Args) -> i32 {
            $main(args)
        }
    };
}
