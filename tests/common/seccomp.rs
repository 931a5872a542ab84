//! Old kernels and container profiles, emulated with seccomp: a classic BPF filter, assembled
//! here without libc, makes this kernel answer some clone-family calls as another would.
//!
//! | profile | answers as | what it refuses |
//! |---|---|---|
//! | [`Profile::NoClone3`] | Linux < 5.3, Docker's default profile | `clone3` → ENOSYS |
//! | [`Profile::NoClearSighand`] | Linux 5.3–5.4 | `clone3` with `CLONE_CLEAR_SIGHAND` → EINVAL |
//! | [`Profile::NoPidfdThread`] | Linux < 6.9 | `CLONE_PIDFD \| CLONE_THREAD` → EINVAL (clone and clone3) |
//! | [`Profile::NoPidfdWait`] | Linux 5.2–5.3 | `waitid(P_PIDFD)` → EINVAL |
//! | [`Profile::NoPidfd`] | a profile without pidfds | `CLONE_PIDFD` → EINVAL (clone and clone3), `pidfd_open`, `pidfd_send_signal`, `pidfd_getfd` → ENOSYS, `waitid(P_PIDFD)` → EINVAL |
//! | [`Profile::NoMountSetattr`] | Linux < 5.12 | `mount_setattr` → ENOSYS |
//! | [`Profile::NoOpenat2`] | Linux < 5.6 | `openat2` and `mount_setattr` → ENOSYS |
//!
//! Each profile takes away one thing; a real old kernel lacks several at once (5.4 lacks both
//! CLEAR_SIGHAND and PIDFD with THREAD), and its outcomes are the union of those profiles'.
//!
//! # Limits of the emulation
//! - `clone3` passes its flags behind a pointer, which BPF cannot follow. Where a profile refuses
//!   some clone3 flags, the filter sends `clone3` to user space (`SECCOMP_RET_USER_NOTIF`): the
//!   supervisor in [`under`] reads `clone_args.flags` from the caller's memory
//!   (`process_vm_readv`) and answers EINVAL, or lets the kernel carry on
//!   (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). Should it fail to read them, the call goes on.
//! - Legacy `clone` is tested on the low 32 bits of its flags, which is all the kernel reads
//!   (`CLONE_CLEAR_SIGHAND`, bit 32, cannot be asked for there).
//! - A real pre-5.2 kernel ignores `CLONE_PIDFD` (then bit 0x1000, unused) in legacy `clone` and
//!   has no clone3 at all; [`Profile::NoPidfd`] refuses the flag instead, as a container profile
//!   that forbids pidfds would, and keeps clone3 for everything else.
//! - Only the native calling convention is filtered: a call of another architecture
//!   (x86_64's `int 0x80`) or the x32 numbers pass unchanged.
//!
//! Every filter is installed in a forked child ([`under`]), never in the test harness; with
//! `no_new_privs` it also holds over `execve`, so a program exec'd there runs under it.

use super::in_fork;
use core::fmt;
use core::mem::{offset_of, size_of};
use linux_raw_sys::errno::{EINVAL, ENOSYS, EXDEV};
use linux_raw_sys::general as k;
use linux_raw_sys::ptrace::{
    SECCOMP_IOC_MAGIC, SECCOMP_USER_NOTIF_FLAG_CONTINUE, seccomp_notif, seccomp_notif_resp,
};
use rawclone::seccomp::{
    BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, Filter,
    NATIVE_ARCH, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA,
    SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SeccompData,
};
use rawclone::sys::{self, Fd};
use rawclone::{Builder, CloneFlags, Errno, ExitStatus, Stack};
use syscalls::{Sysno, syscall3, syscall5, syscall6};

/// `_IOWR(SECCOMP_IOC_MAGIC, nr, T)` from include/uapi/asm-generic/ioctl.h (linux-raw-sys has
/// no ioctl numbers for seccomp): direction read|write (3) in bits 30-31, the size of the
/// argument in bits 16-29, the magic `'!'` in bits 8-15, `nr` in bits 0-7.
const fn iowr(nr: u32, size: usize) -> u32 {
    (3 << 30) | ((size as u32) << 16) | ((SECCOMP_IOC_MAGIC as u32) << 8) | nr
}
/// `SECCOMP_IOCTL_NOTIF_RECV` (include/uapi/linux/seccomp.h).
const NOTIF_RECV: u32 = iowr(0, size_of::<seccomp_notif>());
/// `SECCOMP_IOCTL_NOTIF_SEND` (include/uapi/linux/seccomp.h).
const NOTIF_SEND: u32 = iowr(1, size_of::<seccomp_notif_resp>());

/// The probe that proves a filter is enforced: `close(PROBE_FD)` answers [`PROBE_ERRNO`] under
/// every filter here, EBADF without one (qemu-user may accept the calls and enforce nothing).
const PROBE_FD: u32 = 0x5ecc_0b9f;
/// What the probe answers under a filter.
const PROBE_ERRNO: u32 = EXDEV;

/// A kernel, or a container profile, to answer as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    /// Before Linux 5.3, and Docker's default seccomp profile: no `clone3` (ENOSYS).
    NoClone3,
    /// Linux 5.3–5.4: `clone3` exists, `CLONE_CLEAR_SIGHAND` (5.5) does not (EINVAL).
    NoClearSighand,
    /// Before Linux 6.9: `CLONE_PIDFD` with `CLONE_THREAD` is EINVAL.
    NoPidfdThread,
    /// Linux 5.2–5.3: `CLONE_PIDFD` exists, `waitid(P_PIDFD)` (5.4) does not (EINVAL).
    NoPidfdWait,
    /// No pidfds at all (before 5.2, or a profile that forbids them): `CLONE_PIDFD` is EINVAL,
    /// the pidfd calls are ENOSYS, `waitid(P_PIDFD)` is EINVAL.
    NoPidfd,
    /// Before Linux 5.12: no `mount_setattr` (ENOSYS).
    NoMountSetattr,
    /// Before Linux 5.6: no `openat2` either (ENOSYS).
    NoOpenat2,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::NoClone3 => "NoClone3 (< 5.3, Docker default)",
            Profile::NoClearSighand => "NoClearSighand (5.3-5.4)",
            Profile::NoPidfdThread => "NoPidfdThread (< 6.9)",
            Profile::NoPidfdWait => "NoPidfdWait (5.2-5.3)",
            Profile::NoPidfd => "NoPidfd (< 5.2)",
            Profile::NoMountSetattr => "NoMountSetattr (< 5.12)",
            Profile::NoOpenat2 => "NoOpenat2 (< 5.6)",
        })
    }
}

/// Which calls a rule picks, after the syscall number.
#[derive(Clone, Copy)]
enum Test {
    /// Every call.
    Always,
    /// Low word of `args[0]` has all of these bits.
    AllBits(u32),
    /// Low word of `args[0]` has any of these bits.
    AnyBit(u32),
    /// Low word of `args[0]` equals this.
    Equals(u32),
}

/// One rule: calls of `nr` that pass `test` get `action`.
#[derive(Clone, Copy)]
struct Rule {
    nr: Sysno,
    test: Test,
    action: u32,
}

/// `SECCOMP_RET_ERRNO` with errno `e`.
const fn errno(e: u32) -> u32 {
    SECCOMP_RET_ERRNO | (e & SECCOMP_RET_DATA)
}

const PIDFD: u32 = k::CLONE_PIDFD;
const PIDFD_THREAD: u32 = k::CLONE_PIDFD | k::CLONE_THREAD;

impl Profile {
    /// Every profile, in the order of the tables.
    pub const ALL: [Profile; 6] = [
        Profile::NoClone3,
        Profile::NoClearSighand,
        Profile::NoPidfdThread,
        Profile::NoPidfdWait,
        Profile::NoPidfd,
        Profile::NoMountSetattr,
    ];

    /// The filter's rules, first match wins.
    fn rules(self) -> &'static [Rule] {
        const PROBE: Rule = Rule {
            nr: Sysno::close,
            test: Test::Equals(PROBE_FD),
            action: errno(PROBE_ERRNO),
        };
        const CLONE3_TO_SUPERVISOR: Rule = Rule {
            nr: Sysno::clone3,
            test: Test::Always,
            action: SECCOMP_RET_USER_NOTIF,
        };
        const P_PIDFD_EINVAL: Rule = Rule {
            nr: Sysno::waitid,
            test: Test::Equals(k::P_PIDFD),
            action: errno(EINVAL),
        };
        const NO_CLONE3: &[Rule] = &[
            PROBE,
            Rule {
                nr: Sysno::clone3,
                test: Test::Always,
                action: errno(ENOSYS),
            },
        ];
        const NO_CLEAR_SIGHAND: &[Rule] = &[PROBE, CLONE3_TO_SUPERVISOR];
        const NO_PIDFD_THREAD: &[Rule] = &[
            PROBE,
            CLONE3_TO_SUPERVISOR,
            Rule {
                nr: Sysno::clone,
                test: Test::AllBits(PIDFD_THREAD),
                action: errno(EINVAL),
            },
        ];
        const NO_PIDFD_WAIT: &[Rule] = &[PROBE, P_PIDFD_EINVAL];
        const NO_PIDFD: &[Rule] = &[
            PROBE,
            CLONE3_TO_SUPERVISOR,
            Rule {
                nr: Sysno::clone,
                test: Test::AnyBit(PIDFD),
                action: errno(EINVAL),
            },
            Rule {
                nr: Sysno::pidfd_open,
                test: Test::Always,
                action: errno(ENOSYS),
            },
            Rule {
                nr: Sysno::pidfd_send_signal,
                test: Test::Always,
                action: errno(ENOSYS),
            },
            Rule {
                nr: Sysno::pidfd_getfd,
                test: Test::Always,
                action: errno(ENOSYS),
            },
            P_PIDFD_EINVAL,
        ];
        const NO_MOUNT_SETATTR: &[Rule] = &[
            PROBE,
            Rule {
                nr: Sysno::mount_setattr,
                test: Test::Always,
                action: errno(ENOSYS),
            },
        ];
        const NO_OPENAT2: &[Rule] = &[
            PROBE,
            Rule {
                nr: Sysno::mount_setattr,
                test: Test::Always,
                action: errno(ENOSYS),
            },
            Rule {
                nr: Sysno::openat2,
                test: Test::Always,
                action: errno(ENOSYS),
            },
        ];
        match self {
            Profile::NoClone3 => NO_CLONE3,
            Profile::NoClearSighand => NO_CLEAR_SIGHAND,
            Profile::NoPidfdThread => NO_PIDFD_THREAD,
            Profile::NoPidfdWait => NO_PIDFD_WAIT,
            Profile::NoPidfd => NO_PIDFD,
            Profile::NoMountSetattr => NO_MOUNT_SETATTR,
            Profile::NoOpenat2 => NO_OPENAT2,
        }
    }

    /// The supervisor's answer to a `clone3` with these `clone_args.flags`: refuse (EINVAL) or
    /// let the kernel carry on.
    fn refuses_clone3(self, flags: u64) -> bool {
        let has_all = |bits: u32| flags & u64::from(bits) == u64::from(bits);
        match self {
            Profile::NoClearSighand => flags & k::CLONE_CLEAR_SIGHAND != 0,
            Profile::NoPidfdThread => has_all(PIDFD_THREAD),
            Profile::NoPidfd => has_all(PIDFD),
            Profile::NoClone3
            | Profile::NoPidfdWait
            | Profile::NoMountSetattr
            | Profile::NoOpenat2 => false,
        }
    }
}

/// Most instructions a program here has.
const MAX_INSNS: usize = 64;

/// The filter for `rules`.
fn assemble(rules: &[Rule]) -> Filter<MAX_INSNS> {
    let mut p = Filter::new();
    assemble_into(&mut p, rules).expect("filter fits MAX_INSNS");
    p
}

/// Append the filter for `rules` to `p`.
fn assemble_into(p: &mut Filter<MAX_INSNS>, rules: &[Rule]) -> Result<(), rawclone::Error> {
    let nr = offset_of!(SeccompData, nr) as u32;
    let arch = offset_of!(SeccompData, arch) as u32;
    // Low word of args[0]: both architectures here are little-endian.
    let arg0_low = offset_of!(SeccompData, args) as u32;
    // A = SeccompData.arch
    p.stmt(BPF_LD | BPF_W | BPF_ABS, arch)?;
    // if A == native arch, skip the next instruction
    p.jump(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0)?;
    // another calling convention: allow
    p.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
    for rule in rules {
        // A = SeccompData.nr (reloaded per rule: a test below overwrites A)
        p.stmt(BPF_LD | BPF_W | BPF_ABS, nr)?;
        // the rest of this rule, in instructions after the syscall test
        let body: u8 = match rule.test {
            Test::Always => 1,
            Test::AnyBit(_) | Test::Equals(_) => 3,
            Test::AllBits(_) => 4,
        };
        // if A == rule's syscall, go on; else skip this rule's body (to the next rule)
        p.jump(BPF_JMP | BPF_JEQ | BPF_K, rule.nr as u32, 0, body)?;
        match rule.test {
            Test::Always => {}
            Test::AnyBit(bits) => {
                // A = low word of args[0]
                p.stmt(BPF_LD | BPF_W | BPF_ABS, arg0_low)?;
                // if A & bits, go on to the action; else skip it
                p.jump(BPF_JMP | BPF_JSET | BPF_K, bits, 0, 1)?;
            }
            Test::Equals(value) => {
                // A = low word of args[0]
                p.stmt(BPF_LD | BPF_W | BPF_ABS, arg0_low)?;
                // if A == value, go on to the action; else skip it
                p.jump(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 1)?;
            }
            Test::AllBits(bits) => {
                // A = low word of args[0]
                p.stmt(BPF_LD | BPF_W | BPF_ABS, arg0_low)?;
                // A &= bits
                p.stmt(BPF_ALU | BPF_AND | BPF_K, bits)?;
                // if A == bits (all of them set), go on to the action; else skip it
                p.jump(BPF_JMP | BPF_JEQ | BPF_K, bits, 0, 1)?;
            }
        }
        // the rule's answer
        p.stmt(BPF_RET | BPF_K, rule.action)?;
    }
    // no rule matched: allow
    p.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)?;
    Ok(())
}

/// Install `profile`'s filter on the calling thread, after `PR_SET_NO_NEW_PRIVS`. Returns the
/// listener fd of a profile that sends `clone3` to a supervisor (serve it with [`serve`]), or
/// the errno of the refused step. EOPNOTSUPP: the calls were accepted, but the probe shows that
/// nothing is enforced.
///
/// Irreversible: call it only in a forked child.
pub fn install(profile: Profile) -> Result<Option<Fd>, Errno> {
    let rules = profile.rules();
    let notifies = rules.iter().any(|r| r.action == SECCOMP_RET_USER_NOTIF);
    let program = assemble(rules);
    let flags = if notifies {
        SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    sys::set_no_new_privs()?;
    let ret = sys::seccomp_set_filter(program.as_slice(), flags)?;
    // SAFETY: with NEW_LISTENER the kernel returned a fresh fd that only we own.
    let listener = notifies.then(|| unsafe { Fd::from_raw(ret as i32) });
    // SAFETY: the probe number is far above any descriptor this process has: the filter answers
    // for it, and without a filter the kernel answers EBADF; nothing is closed either way.
    match unsafe { sys::close(PROBE_FD as i32) } {
        Err(e) if e.into_raw() as u32 == PROBE_ERRNO => Ok(listener),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// `ppoll` and `clock_gettime` with a `__kernel_timespec`: on 32-bit targets the plain calls
/// take a 32-bit `timespec`, so their `_time64` variants.
#[cfg(target_pointer_width = "64")]
const PPOLL: Sysno = Sysno::ppoll;
/// See the 64-bit one.
#[cfg(target_pointer_width = "32")]
const PPOLL: Sysno = Sysno::ppoll_time64;
/// See [`PPOLL`].
#[cfg(target_pointer_width = "64")]
const CLOCK_GETTIME: Sysno = Sysno::clock_gettime;
/// See [`PPOLL`].
#[cfg(target_pointer_width = "32")]
const CLOCK_GETTIME: Sysno = Sysno::clock_gettime64;

/// Answer one notification on `listener` for `profile`: EINVAL for the `clone3` flags it refuses,
/// else let the kernel carry on. Returns false once the listener has no more users.
pub fn serve(listener: &Fd, profile: Profile) -> bool {
    let mut poll = k::pollfd {
        fd: listener.as_raw(),
        events: k::POLLIN as i16,
        revents: 0,
    };
    let timeout = k::__kernel_timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    // SAFETY: one pollfd and a timespec, both live across the call.
    let ready = unsafe {
        syscall5(
            PPOLL,
            (&raw mut poll) as usize,
            1,
            (&raw const timeout) as usize,
            0,
            0,
        )
    };
    if ready != Ok(1) || poll.revents & k::POLLIN as i16 == 0 {
        if ready != Ok(0) {
            // Returned early without a request (POLLHUP: no task uses the filter any more).
            let _ = sys::sleep_ms(1);
        }
        return poll.revents & k::POLLHUP as i16 == 0;
    }
    // SAFETY: both are plain integer structs; the kernel wants the receive buffer zeroed.
    let mut req: seccomp_notif = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel writes one seccomp_notif into `req`.
    let got = unsafe {
        syscall3(
            Sysno::ioctl,
            listener.as_raw() as usize,
            NOTIF_RECV as usize,
            (&raw mut req) as usize,
        )
    };
    if got.is_err() {
        return true; // the caller died or was interrupted meanwhile: nothing to answer
    }
    let refuse = req.data.nr == Sysno::clone3 as i32
        && read_u64(req.pid as i32, req.data.args[0]).is_some_and(|f| profile.refuses_clone3(f));
    let resp = seccomp_notif_resp {
        id: req.id,
        val: 0,
        error: if refuse { -(EINVAL as i32) } else { 0 },
        flags: if refuse {
            0
        } else {
            SECCOMP_USER_NOTIF_FLAG_CONTINUE
        },
    };
    // SAFETY: the kernel reads one seccomp_notif_resp; an ENOENT (caller gone) is harmless.
    let _ = unsafe {
        syscall3(
            Sysno::ioctl,
            listener.as_raw() as usize,
            NOTIF_SEND as usize,
            (&raw const resp) as usize,
        )
    };
    true
}

/// The u64 at `addr` in task `tid`'s memory.
fn read_u64(tid: i32, addr: u64) -> Option<u64> {
    let mut word = 0u64;
    let local = k::iovec {
        iov_base: (&raw mut word).cast(),
        iov_len: 8,
    };
    let remote = k::iovec {
        iov_base: addr as *mut _,
        iov_len: 8,
    };
    // SAFETY: the kernel writes at most 8 bytes into `word`, and only reads the other task.
    let n = unsafe {
        syscall6(
            Sysno::process_vm_readv,
            tid as usize,
            (&raw const local) as usize,
            1,
            (&raw const remote) as usize,
            1,
            0,
        )
    };
    (n == Ok(8)).then_some(word)
}

/// How a run under a profile ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// The filtered child ran to this end.
    Ran(ExitStatus),
    /// The filter could not be used: the step that failed and its errno (EOPNOTSUPP: the filter
    /// was accepted but is not enforced).
    Unsupported {
        /// What failed.
        step: &'static str,
        /// The kernel's (or emulator's) answer.
        errno: Errno,
    },
    /// The filtered child did not end within [`DEADLINE_MS`] and was killed.
    Hung,
}

/// How long a filtered child may take before it counts as hung.
pub const DEADLINE_MS: u64 = 60_000;

/// A `T` in a shared anonymous mapping: what a forked child writes there, its parent reads
/// once the child has been waited for.
pub struct Shared<T: Copy> {
    ptr: *mut T,
}

impl<T: Copy> Shared<T> {
    /// A shared page (or more) holding `value`.
    pub fn new(value: T) -> Shared<T> {
        let ptr = super::map_shared(size_of::<T>()).cast::<T>();
        // SAFETY: the mapping is large enough and page-aligned.
        unsafe { ptr.write(value) };
        Shared { ptr }
    }

    /// The value now.
    pub fn get(&self) -> T {
        // SAFETY: the mapping lives as long as `self`; writers are children already waited for,
        // or this very process.
        unsafe { self.ptr.read_volatile() }
    }

    /// Replace the value (in a child: for the parent to read after the wait).
    pub fn set(&self, value: T) {
        // SAFETY: as for `get`.
        unsafe { self.ptr.write_volatile(value) }
    }
}

impl<T: Copy> Drop for Shared<T> {
    fn drop(&mut self) {
        let len = size_of::<T>().next_multiple_of(4096);
        // SAFETY: nothing uses the mapping after its owner is dropped.
        let _ = unsafe { sys::munmap(self.ptr.cast(), len) };
    }
}

/// Run `f` in a child under `profile`'s filter. A forked child of the caller (the caller, the
/// test harness, is never filtered) supervises: it spawns the filtered child, which installs
/// the filter, hands the listener over through their shared fd table and then leaves that
/// table; it answers the child's `clone3` notifications until the child ends. `f` follows the
/// forked-child rule of this module (raw syscalls only); its return value is the exit status.
pub fn under(profile: Profile, f: impl FnOnce() -> i32) -> Outcome {
    let outcome = Shared::new(None);
    let status = in_fork(|| {
        outcome.set(Some(supervise(profile, f)));
        0
    });
    match outcome.get() {
        Some(outcome) if status == ExitStatus::Exited(0) => outcome,
        _ => panic!("the supervisor under {profile} failed: {status:?}"),
    }
}

/// The supervisor's side of [`under`].
fn supervise(profile: Profile, f: impl FnOnce() -> i32) -> Outcome {
    // How the install went, from the filtered child: 0 while it runs, else (tag << 32 | value)
    // with tag 1, installed and `value` the listener's fd or -1; tag 2, refused with errno
    // `value`. An aligned u64: written and read whole.
    const INSTALLED: u64 = 1;
    const REFUSED: u64 = 2;
    let message = Shared::new(0u64);
    let mut stack = Stack::map(1 << 20).expect("stack");
    let body = || {
        let (tag, value) = match install(profile) {
            Ok(None) => (INSTALLED, -1),
            // The supervisor's from now on: closed below in this child's own table.
            Ok(Some(fd)) => (INSTALLED, fd.into_raw()),
            Err(e) => (REFUSED, e.into_raw()),
        };
        // Leave the shared fd table first: from then on the supervisor may use and close the
        // listener, and `f` runs with a copy of the table.
        // SAFETY: unshare(CLONE_FILES) only gives this task a copy of its fd table.
        let unshared = unsafe { syscalls::syscall1(Sysno::unshare, k::CLONE_FILES as usize) };
        message.set((tag << 32) | u64::from(value as u32));
        if tag == REFUSED || unshared.is_err() {
            return 0;
        }
        if value >= 0 {
            // SAFETY: after the unshare this copy of the listener is this task's alone.
            let _ = unsafe { sys::close(value) };
        }
        f()
    };
    // SAFETY: the child is a copy (no CLONE_VM) that shares only our fd table until it unshares
    // it; it runs raw syscalls and `f`, which follows the same rule.
    let spawned = unsafe {
        Builder::new()
            .flags(CloneFlags::FILES)
            .spawn(&mut stack, body)
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return cannot_spawn(profile, e),
    };
    let listener = loop {
        let m = message.get();
        let value = m as u32 as i32;
        match m >> 32 {
            // SAFETY: the child's install put this fd in the table we shared; the child has
            // left that table, so it is ours alone.
            INSTALLED if value >= 0 => break Some(unsafe { Fd::from_raw(value) }),
            INSTALLED => break None,
            REFUSED => {
                let _ = child.wait();
                return Outcome::Unsupported {
                    step: INSTALL,
                    errno: Errno::new(value),
                };
            }
            _ => {}
        }
        if let Some(status) = child.try_wait().expect("waitid") {
            return Outcome::Ran(status); // ended before the install was done
        }
        let _ = sys::sleep_ms(1);
    };
    let start = now_ms();
    loop {
        if let Some(status) = child.try_wait().expect("waitid") {
            return Outcome::Ran(status);
        }
        match &listener {
            Some(fd) => {
                serve(fd, profile);
            }
            None => {
                let _ = sys::sleep_ms(20);
            }
        }
        if now_ms() - start > DEADLINE_MS {
            drop(child); // SIGKILL and reap
            return Outcome::Hung;
        }
    }
}

/// The step of [`Outcome::Unsupported`] that installs the filter.
const INSTALL: &str = "install the seccomp filter";

/// The outcome when the filtered child cannot be spawned with a shared fd table (qemu-user
/// refuses CLONE_FILES without CLONE_VM): the install's own errno if a plain forked child
/// cannot install the filter either, else the spawn's.
fn cannot_spawn(profile: Profile, e: rawclone::Error) -> Outcome {
    let installed = Shared::new(0i32);
    let status = in_fork(|| {
        installed.set(match install(profile) {
            Ok(_) => 0,
            Err(e) => e.into_raw(),
        });
        0
    });
    match (status, installed.get()) {
        (ExitStatus::Exited(0), errno) if errno != 0 => Outcome::Unsupported {
            step: INSTALL,
            errno: Errno::new(errno),
        },
        _ => Outcome::Unsupported {
            step: "spawn the filtered child with CLONE_FILES",
            errno: e.errno().unwrap_or(Errno::EINVAL),
        },
    }
}

/// Milliseconds on the monotonic clock.
fn now_ms() -> u64 {
    let mut ts = k::__kernel_timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes one timespec into `ts`.
    let _ = unsafe {
        syscalls::syscall2(
            CLOCK_GETTIME,
            k::CLOCK_MONOTONIC as usize,
            (&raw mut ts) as usize,
        )
    };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}
