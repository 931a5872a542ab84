//! Classic BPF seccomp filters without libc or libseccomp: the kernel's types and constants, a
//! fixed-size assembler ([`Filter`]) and a ready deny-list ([`Filter::deny`]) for
//! [`crate::program::Program::seccomp_filter`] or [`crate::sys::seccomp_set_filter`].
//!
//! A filter sees each syscall as a `seccomp_data` ([`SeccompData`]: number, calling convention
//! `arch`, instruction pointer, six arguments) and returns an action: `SECCOMP_RET_ALLOW`,
//! `SECCOMP_RET_ERRNO | errno` ([`ret_errno`]), `SECCOMP_RET_KILL_PROCESS`, … A syscall number
//! means something only for one `arch`, so a filter checks it first ([`NATIVE_ARCH`]).
//! `seccomp(2)`, `bpf(4)` (classic BPF as in `Documentation/networking/filter.rst`),
//! `Documentation/userspace-api/seccomp_filter.rst`.

use crate::error::{Error, Result};
use crate::flags::{CloneFlags, Rule};
/// What a filter reads: `struct seccomp_data` (its fields' offsets with `core::mem::offset_of!`).
pub use linux_raw_sys::ptrace::seccomp_data as SeccompData;
/// One classic BPF instruction (`struct sock_filter`).
pub use linux_raw_sys::ptrace::sock_filter as SockFilter;
pub use linux_raw_sys::ptrace::{
    BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_MAXINSNS,
    BPF_RET, BPF_W, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA,
    SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF,
};
pub use syscalls::{Errno, Sysno};

/// The `seccomp_data.arch` (`AUDIT_ARCH_*`) of this build's calling convention.
#[cfg(target_arch = "x86_64")]
pub const NATIVE_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_X86_64;
/// The `seccomp_data.arch` (`AUDIT_ARCH_*`) of this build's calling convention.
#[cfg(target_arch = "aarch64")]
pub const NATIVE_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_AARCH64;
/// The `seccomp_data.arch` (`AUDIT_ARCH_*`) of this build's calling convention.
#[cfg(target_arch = "riscv64")]
pub const NATIVE_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_RISCV64;
/// The `seccomp_data.arch` (`AUDIT_ARCH_*`) of this build's calling convention.
#[cfg(target_arch = "x86")]
pub const NATIVE_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_I386;
/// The `seccomp_data.arch` (`AUDIT_ARCH_*`) of this build's calling convention.
#[cfg(target_arch = "arm")]
pub const NATIVE_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_ARM;

/// The action `SECCOMP_RET_ERRNO` with `errno`: the call fails with it, unexecuted.
///
/// ```
/// use rawclone::seccomp::{ret_errno, Errno, SECCOMP_RET_ERRNO};
/// assert_eq!(ret_errno(Errno::EPERM), SECCOMP_RET_ERRNO | 1);
/// ```
pub fn ret_errno(errno: Errno) -> u32 {
    SECCOMP_RET_ERRNO | (errno.into_raw() as u32 & SECCOMP_RET_DATA)
}

/// A filter of at most `N` instructions, assembled in place (no allocation).
///
/// ```
/// use rawclone::seccomp::{Filter, BPF_K, BPF_RET, SECCOMP_RET_ALLOW};
/// let mut allow_all = Filter::<1>::new();
/// allow_all.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
/// assert_eq!(allow_all.as_slice().len(), 1);
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Filter<const N: usize> {
    insns: [SockFilter; N],
    len: usize,
}

impl<const N: usize> Default for Filter<N> {
    fn default() -> Self {
        Filter::new()
    }
}

impl<const N: usize> Filter<N> {
    /// No instructions yet.
    ///
    /// ```
    /// assert!(rawclone::seccomp::Filter::<8>::new().as_slice().is_empty());
    /// ```
    pub const fn new() -> Filter<N> {
        const EMPTY: SockFilter = SockFilter {
            code: 0,
            jt: 0,
            jf: 0,
            k: 0,
        };
        Filter {
            insns: [EMPTY; N],
            len: 0,
        }
    }

    /// Append `BPF_STMT(code, k)`.
    ///
    /// ```
    /// use rawclone::seccomp::{Filter, BPF_K, BPF_RET, SECCOMP_RET_ALLOW};
    /// let mut filter = Filter::<1>::new();
    /// filter.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
    /// assert!(filter.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW).is_err()); // full
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn stmt(&mut self, code: u32, k: u32) -> Result<&mut Self> {
        self.jump(code, k, 0, 0)
    }

    /// Append `BPF_JUMP(code, k, jt, jf)`: the offsets count instructions after this one.
    /// [`Rule::SeccompFilterLength`] once `N` instructions are there.
    ///
    /// ```
    /// use rawclone::seccomp::{Filter, BPF_JEQ, BPF_JMP, BPF_K};
    /// let mut filter = Filter::<4>::new();
    /// filter.jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1)?; // if A == 39 go on, else skip one
    /// let insn = filter.as_slice()[0];
    /// assert_eq!((insn.k, insn.jt, insn.jf), (39, 0, 1));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn jump(&mut self, code: u32, k: u32, jt: u8, jf: u8) -> Result<&mut Self> {
        let Some(slot) = self.insns.get_mut(self.len) else {
            return Err(too_long());
        };
        *slot = SockFilter {
            code: code as u16,
            jt,
            jf,
            k,
        };
        self.len += 1;
        Ok(self)
    }

    /// The instructions so far.
    ///
    /// ```
    /// use rawclone::seccomp::{Filter, BPF_K, BPF_RET, SECCOMP_RET_ALLOW};
    /// let mut filter = Filter::<4>::new();
    /// filter.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
    /// assert_eq!(filter.as_slice().len(), 1); // what `seccomp_set_filter` takes
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn as_slice(&self) -> &[SockFilter] {
        &self.insns[..self.len]
    }

    /// A filter that fails each of `syscalls` with `errno` and allows the rest. Calls of another
    /// calling convention (x86_64's `int 0x80`, and the x32 numbers) fail with `errno` too,
    /// since their numbers mean other calls and would slip past the list.
    /// [`Rule::SeccompFilterLength`] if the list does not fit `N` (7 instructions plus one per
    /// syscall) or 255 syscalls.
    ///
    /// ```
    /// use rawclone::seccomp::{Errno, Filter, Sysno};
    /// let no_mkdir = Filter::<16>::deny(&[Sysno::mkdirat], Errno::EROFS)?;
    /// assert!(no_mkdir.as_slice().len() <= 16);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn deny(syscalls: &[Sysno], errno: Errno) -> Result<Filter<N>> {
        let nr = core::mem::offset_of!(SeccompData, nr) as u32;
        let arch = core::mem::offset_of!(SeccompData, arch) as u32;
        let x32 = usize::from(cfg!(target_arch = "x86_64"));
        let total = 6 + x32 + syscalls.len();
        let mut f = Filter::new();
        // From instruction `at`, the jump offset to the final "fail" instruction.
        let to_fail = |at: usize| u8::try_from(total - 2 - at).map_err(|_| too_long());
        f.stmt(BPF_LD | BPF_W | BPF_ABS, arch)?;
        f.jump(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0)?;
        f.stmt(BPF_RET | BPF_K, ret_errno(errno))?;
        f.stmt(BPF_LD | BPF_W | BPF_ABS, nr)?;
        #[cfg(target_arch = "x86_64")]
        f.jump(
            BPF_JMP | BPF_JGE | BPF_K,
            linux_raw_sys::general::__X32_SYSCALL_BIT,
            to_fail(f.len)?,
            0,
        )?;
        for &call in syscalls {
            f.jump(BPF_JMP | BPF_JEQ | BPF_K, call as u32, to_fail(f.len)?, 0)?;
        }
        f.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
        f.stmt(BPF_RET | BPF_K, ret_errno(errno))?;
        Ok(f)
    }
}

/// A filter that refuses (EPERM) the two `ioctl(2)`s through which a program pushes input into a
/// terminal: `TIOCSTI` (types a byte, as if at the keyboard: CVE-2017-5226 in bubblewrap, a
/// sandboxed program typing commands into the caller's shell) and `TIOCLINUX` (its
/// virtual-console twin, which pastes the selection), and allows every other call, on each
/// calling convention this CPU runs (x86_64 with x32 and i386; aarch64 with arm; riscv64).
/// A calling convention it does not know gets ENOSYS for every call. The command is compared
/// on its low 32 bits, the `unsigned int` the kernel reads. A sandbox whose program stays in
/// the caller's session gets it ([`crate::ns::Namespaces::exec_program`]).
///
/// ```
/// use rawclone::{fork, seccomp, sys, Errno, ExitStatus, Fork};
/// // SAFETY: the child only makes raw syscalls and exits.
/// match unsafe { fork()? } {
///     Fork::Child => {
///         let _ = sys::set_no_new_privs();
///         let _ = sys::seccomp_set_filter(&seccomp::TERMINAL_INJECTION, 0);
///         // Any ioctl but the two still runs: a pipe is no terminal.
///         let (r, _w) = sys::pipe().unwrap();
///         sys::exit_group((sys::is_terminal(r.as_fd()) == Ok(false)) as i32)
///     }
///     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(1)),
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
pub const TERMINAL_INJECTION: [SockFilter; 16] = terminal_injection();

/// [`TERMINAL_INJECTION`] for this CPU: its two calling conventions, each with its `ioctl`
/// numbers (riscv64 has one convention, given twice).
const fn terminal_injection() -> [SockFilter; 16] {
    use linux_raw_sys::ptrace as p;
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    let (first, first_nrs, second, second_nr) = (
        p::AUDIT_ARCH_X86_64,
        // x86_64's ioctl, and x32's (its numbers carry __X32_SYSCALL_BIT).
        [16, 514 | linux_raw_sys::general::__X32_SYSCALL_BIT],
        p::AUDIT_ARCH_I386,
        54,
    );
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    let (first, first_nrs, second, second_nr) =
        (p::AUDIT_ARCH_AARCH64, [29, 29], p::AUDIT_ARCH_ARM, 54);
    #[cfg(target_arch = "riscv64")]
    let (first, first_nrs, second, second_nr) =
        (p::AUDIT_ARCH_RISCV64, [29, 29], p::AUDIT_ARCH_RISCV64, 29);
    let arch = core::mem::offset_of!(SeccompData, arch) as u32;
    let nr = core::mem::offset_of!(SeccompData, nr) as u32;
    // The low 32 bits of args[1], the command.
    let low = if cfg!(target_endian = "big") { 4 } else { 0 };
    let command = (core::mem::offset_of!(SeccompData, args) + 8 + low) as u32;
    let load = BPF_LD | BPF_W | BPF_ABS;
    let equal = BPF_JMP | BPF_JEQ | BPF_K;
    let ret = BPF_RET | BPF_K;
    [
        op(load, arch, 0, 0),                                            // 0: A = arch
        op(equal, first, 0, 4),                                          // 1: not the first: 6
        op(load, nr, 0, 0),                                              // 2: A = nr
        op(equal, first_nrs[0], 7, 0),                                   // 3: ioctl: 11
        op(equal, first_nrs[1], 6, 0),                                   // 4: ioctl: 11
        op(ret, SECCOMP_RET_ALLOW, 0, 0),                                // 5
        op(equal, second, 0, 3),                                         // 6: neither: 10
        op(load, nr, 0, 0),                                              // 7: A = nr
        op(equal, second_nr, 2, 0),                                      // 8: ioctl: 11
        op(ret, SECCOMP_RET_ALLOW, 0, 0),                                // 9
        op(ret, SECCOMP_RET_ERRNO | linux_raw_sys::errno::ENOSYS, 0, 0), // 10
        op(load, command, 0, 0),                                         // 11: A = the command
        op(equal, linux_raw_sys::ioctl::TIOCSTI, 2, 0),                  // 12: 15
        op(equal, linux_raw_sys::ioctl::TIOCLINUX, 1, 0),                // 13: 15
        op(ret, SECCOMP_RET_ALLOW, 0, 0),                                // 14
        op(ret, SECCOMP_RET_ERRNO | linux_raw_sys::errno::EPERM, 0, 0),  // 15
    ]
}

/// One instruction: `code` with constant `k` and, for a jump, the offsets `jt` (true) and
/// `jf` (false) from the next instruction.
const fn op(code: u32, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

fn too_long() -> Error {
    Error::Rule(Rule::SeccompFilterLength, CloneFlags::EMPTY)
}
