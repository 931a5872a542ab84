//! Every mode under every emulated old kernel or container profile (see
//! `tests/common/seccomp.rs`): it works, or fails with the named error that is the honest answer
//! of that kernel; never a crash or a hang.
//!
//! Each test runs one mode in a forked child under one profile's filter (`unfiltered::*` is the
//! same on this kernel, for comparison) and prints one line of the table:
//! `profile | mode | outcome`.

mod common;

use common::seccomp::{Outcome, Profile, Shared, under};
use common::{kernel_before, qemu_user, skip};
use core::fmt::{self, Write};
use rawclone::ns::Namespaces;
use rawclone::{
    Backend, Builder, CloneFlags, Errno, Error, ExitStatus, Fork, Signal, Spawner, Stack, sys,
};
use syscalls::{Sysno, syscall2, syscall3};

/// The modes, each checked under every profile.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Fork,
    Chimera,
    Thread,
    VforkExec,
    /// `Builder::reset_signal_handlers` (what `vfork_exec` uses), twice: the child of a parent
    /// with a SIGUSR1 handler sees SIG_DFL, the second time with what the first learned.
    ResetHandlers,
    /// `Builder::spawn` with a pidfd: signalled through it, joined through it.
    SpawnPidfd,
    /// `Builder::spawn_thread` with `CLONE_PIDFD`.
    SpawnThreadPidfd,
    Spawner(Backend),
    /// `Namespaces::spawn`, root of a new user namespace.
    NsSpawn,
    /// `Namespaces::exec`, root of a new user namespace.
    NsExec,
    /// The `rawclone run -r -- true` command.
    Run,
}

/// What a mode did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Got {
    /// It worked and gave the right results.
    Works,
    /// It failed with this error.
    Failed(Error),
    /// It ran, but a result was wrong.
    Wrong(&'static str),
    /// `rawclone run` exited with this status (its stderr is in the report).
    Exit(i32),
}

impl From<Error> for Got {
    fn from(e: Error) -> Got {
        Got::Failed(e)
    }
}

/// What a mode must do under a profile.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Works,
    Fails(Error),
}

/// EINVAL from `call`.
const fn einval(call: &'static str) -> Expect {
    Expect::Fails(Error::Sys {
        call,
        errno: Errno::EINVAL,
    })
}

/// The honest answer of each mode under each profile (`None`: this kernel, unfiltered).
fn expected(profile: Option<Profile>, mode: Mode) -> Expect {
    use Profile as P;
    match (mode, profile) {
        // No pidfds: the spawn that asks for one is refused by the kernel, by name.
        (Mode::SpawnPidfd, Some(P::NoPidfd)) => einval("clone3"),
        // A thread's pidfd came in Linux 6.9: before, the kernel refuses it by name.
        (Mode::SpawnThreadPidfd, Some(P::NoPidfdThread | P::NoPidfd)) => einval("clone3"),
        // A kernel before 6.9 refuses it itself: in clone3, or in the legacy clone that
        // NoClone3 leaves.
        (Mode::SpawnThreadPidfd, Some(P::NoClone3)) if !kernel_gives_thread_pidfds() => {
            einval("clone")
        }
        (Mode::SpawnThreadPidfd, _) if !kernel_gives_thread_pidfds() => einval("clone3"),
        _ => Expect::Works,
    }
}

/// Whether the running kernel gives a thread a pidfd (`CLONE_PIDFD | CLONE_THREAD`, Linux 6.9).
/// Asked of the kernel: a legacy clone of a thread with those flags and an unwritable pidfd slot
/// is EINVAL where the flags are refused, EFAULT where they pass (clone3 is no use: it reads its
/// set_tid array before it looks at the flags). Under qemu-user, which emulates threads itself,
/// the host kernel's version answers.
fn kernel_gives_thread_pidfds() -> bool {
    if qemu_user() {
        return !kernel_before(6, 9);
    }
    match emulation::clone_pidfd(true) {
        Errno::EINVAL => false,
        Errno::EFAULT => true,
        other => panic!("clone PIDFD|THREAD with an unwritable pidfd slot: {other:?}"),
    }
}

/// A line of text in shared memory, written without allocation.
#[derive(Clone, Copy)]
struct Text {
    len: usize,
    bytes: [u8; 480],
}

impl Text {
    const EMPTY: Text = Text {
        len: 0,
        bytes: [0; 480],
    };

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("(not UTF-8)")
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.bytes.len() {
                self.bytes[self.len] = if b == b'\n' { b' ' } else { b };
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Run `mode` (in the filtered child): what it did, and anything it printed.
fn run_mode(mode: Mode, text: &mut Text) -> Got {
    match mode_result(mode, text) {
        Ok(got) | Err(got) => got,
    }
}

/// A stack for one child.
fn stack() -> Result<Stack<'static>, Got> {
    Stack::map(256 * 1024).map_err(Got::from)
}

/// `Works` if `ok`, else the wrong result named.
fn works_if(ok: bool, wrong: &'static str) -> Result<Got, Got> {
    Ok(if ok { Got::Works } else { Got::Wrong(wrong) })
}

fn mode_result(mode: Mode, text: &mut Text) -> Result<Got, Got> {
    match mode {
        Mode::Fork => {
            // SAFETY: the child exits at once.
            match unsafe { rawclone::fork() }? {
                Fork::Child => sys::exit_group(7),
                Fork::Parent(child) => works_if(child.wait()? == ExitStatus::Exited(7), "status"),
            }
        }
        Mode::Chimera => {
            let mut stack = stack()?;
            // SAFETY: the child only returns.
            let child = unsafe { rawclone::chimera(&mut stack, || 5) }?;
            works_if(child.wait()? == ExitStatus::Exited(5), "status")
        }
        Mode::Thread => {
            let mut stack = stack()?;
            // SAFETY: the thread only returns.
            let thread = unsafe { rawclone::thread(&mut stack, || 6) }?;
            works_if(thread.join() == 6, "join value")
        }
        Mode::VforkExec => {
            let child = rawclone::vfork_exec(c"/bin/sh", &[c"sh", c"-c", c"exit 3"], &[])?;
            works_if(child.wait()? == ExitStatus::Exited(3), "status")
        }
        Mode::ResetHandlers => {
            extern "C" fn on_usr1(_: i32) {}
            // SAFETY: the handler does nothing; this is the filtered child's own disposition.
            unsafe { sys::set_signal_handler(Signal::SIGUSR1, on_usr1) }.map_err(|e| {
                Got::Failed(Error::Sys {
                    call: "rt_sigaction",
                    errno: e,
                })
            })?;
            for _ in 0..2 {
                let mut stack = stack()?;
                // SAFETY: the child only reads its disposition and returns.
                let child = unsafe {
                    Builder::new()
                        .flags(CloneFlags::VM | CloneFlags::VFORK)
                        .reset_signal_handlers()
                        .spawn(&mut stack, || {
                            match sys::signal_disposition(Signal::SIGUSR1) {
                                Ok(sys::Disposition::Default) => 0,
                                _ => 1,
                            }
                        })
                }?;
                if child.wait()? != ExitStatus::Exited(0) {
                    return Ok(Got::Wrong("the child kept the parent's handler"));
                }
            }
            Ok(Got::Works)
        }
        Mode::SpawnPidfd => {
            let mut stack = stack()?;
            // SAFETY: the child only sleeps.
            let child = unsafe {
                Builder::new().pidfd().spawn(&mut stack, || {
                    loop {
                        let _ = sys::sleep_ms(1000);
                    }
                })
            }?;
            if child.pidfd().is_none() {
                return Ok(Got::Wrong("no pidfd"));
            }
            child.signal(Signal::SIGTERM)?;
            let status = child.wait()?;
            works_if(
                status
                    == ExitStatus::Signaled {
                        signal: Signal::SIGTERM,
                        core_dumped: false,
                    },
                "status",
            )
        }
        Mode::SpawnThreadPidfd => {
            let mut stack = stack()?;
            // SAFETY: the thread only returns.
            let thread = unsafe { Builder::thread().pidfd().spawn_thread(&mut stack, || 8) }?;
            let has_pidfd = thread.pidfd().is_some();
            works_if(thread.join() == 8 && has_pidfd, "join value and pidfd")
        }
        Mode::Spawner(backend) => {
            let spawner = Spawner::config(backend).workers(1).build()?;
            let base = 40u64;
            // SAFETY: the task only adds.
            let task = unsafe { spawner.spawn(move || base + 2) }?;
            works_if(task.join()? == 42, "join value")
        }
        Mode::NsSpawn => {
            let mut stack = stack()?;
            // SAFETY: the child only makes raw syscalls.
            let child = unsafe {
                Namespaces::new()
                    .map_root()
                    .spawn(&mut stack, || sys::getuid() + 10)
            }?;
            works_if(child.wait()? == ExitStatus::Exited(10), "uid inside")
        }
        Mode::NsExec => {
            let child =
                Namespaces::new()
                    .map_root()
                    .exec(c"/bin/sh", &[c"sh", c"-c", c"exit 4"], &[])?;
            works_if(child.wait()? == ExitStatus::Exited(4), "status")
        }
        Mode::Run => run_command(text),
    }
}

/// The path of the `rawclone` binary, NUL-terminated at compile time.
const RAWCLONE: &str = concat!(env!("CARGO_BIN_EXE_rawclone"), "\0");

/// `rawclone run -r -- true` with its stderr read into `text`.
fn run_command(text: &mut Text) -> Result<Got, Got> {
    let bin = core::ffi::CStr::from_bytes_with_nul(RAWCLONE.as_bytes()).unwrap();
    let argv = [
        c"rawclone".as_ptr(),
        c"run".as_ptr(),
        c"-r".as_ptr(),
        c"--".as_ptr(),
        c"true".as_ptr(),
        core::ptr::null(),
    ];
    let envp = [c"PATH=/usr/bin:/bin".as_ptr(), core::ptr::null()];
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two fds into `fds`.
    unsafe { syscall2(Sysno::pipe2, fds.as_mut_ptr() as usize, 0) }.map_err(|e| {
        Got::Failed(Error::Sys {
            call: "pipe2",
            errno: e,
        })
    })?;
    // SAFETY: both ends were just made, and nothing else owns them.
    let (read_end, write_end) = unsafe { (sys::Fd::from_raw(fds[0]), sys::Fd::from_raw(fds[1])) };
    // SAFETY: the child only moves an fd and execs.
    match unsafe { rawclone::fork() }? {
        Fork::Child => {
            // SAFETY: the pipe's write end becomes stderr; the read end is closed.
            let _ = unsafe { syscall3(Sysno::dup3, fds[1] as usize, 2, 0) };
            drop(read_end);
            // SAFETY: NULL-terminated arrays of NUL-terminated strings.
            let errno = unsafe { sys::execve(bin, argv.as_ptr().cast(), envp.as_ptr().cast()) };
            sys::exit_group(100 + errno.into_raw())
        }
        Fork::Parent(child) => {
            drop(write_end);
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = sys::read(read_end.as_fd(), &mut buf) {
                let _ = text.write_str(core::str::from_utf8(&buf[..n]).unwrap_or("?"));
            }
            drop(read_end);
            Ok(match child.wait()? {
                ExitStatus::Exited(0) => Got::Works,
                ExitStatus::Exited(code) => Got::Exit(code),
                ExitStatus::Signaled { .. } => Got::Wrong("rawclone run was killed"),
            })
        }
    }
}

/// Whether `got` is what `expect` asks.
fn matches(got: Got, expect: Expect) -> bool {
    match (got, expect) {
        (Got::Works, Expect::Works) => true,
        (Got::Failed(e), Expect::Fails(want)) => e == want,
        _ => false,
    }
}

/// Run `mode` under `profile` (or unfiltered), print its line of the table, and assert it did
/// what [`expected`] says.
fn check(profile: Option<Profile>, mode: Mode) {
    let report = Shared::new((Got::Wrong("no report"), Text::EMPTY));
    let body = || {
        let mut text = Text::EMPTY;
        let got = run_mode(mode, &mut text);
        report.set((got, text));
        0
    };
    let name = profile.map_or("unfiltered".to_string(), |p| p.to_string());
    let outcome = match profile {
        Some(profile) => under(profile, body),
        None if qemu_user() => {
            skip("qemu-user: the profiles compare with this kernel natively");
            return;
        }
        None => Outcome::Ran(common::in_fork(body)),
    };
    match outcome {
        Outcome::Unsupported { step, errno } if qemu_user() => {
            return skip(&format!("qemu-user: cannot {step}: {errno}"));
        }
        Outcome::Unsupported { step, errno } => panic!("{name}: cannot {step}: {errno}"),
        _ => {}
    }
    let (got, text) = report.get();
    let shown = match got {
        Got::Works => "works".to_string(),
        Got::Failed(e) => format!("fails: {e:?} ({e})"),
        Got::Wrong(what) => format!("WRONG {what}"),
        Got::Exit(code) => format!("exit {code}"),
    };
    eprintln!(
        "profile-table | {name} | {mode:?} | {shown} {}",
        text.as_str().trim()
    );
    match outcome {
        Outcome::Ran(ExitStatus::Exited(0)) | Outcome::Unsupported { .. } => {}
        Outcome::Hung => panic!("{name} | {mode:?}: hung, killed after the deadline"),
        Outcome::Ran(status) => panic!("{name} | {mode:?}: the filtered child crashed: {status:?}"),
    }
    let expect = expected(profile, mode);
    assert!(
        matches(got, expect),
        "{name} | {mode:?}: expected {expect:?}, got {shown}"
    );
}

/// One test per mode for `$profile`, in module `$name`.
macro_rules! profile_tests {
    ($name:ident, $profile:expr) => {
        mod $name {
            use super::{Mode, check};
            use rawclone::Backend;
            #[test]
            fn fork() {
                check($profile, Mode::Fork)
            }
            #[test]
            fn chimera() {
                check($profile, Mode::Chimera)
            }
            #[test]
            fn thread() {
                check($profile, Mode::Thread)
            }
            #[test]
            fn vfork_exec() {
                check($profile, Mode::VforkExec)
            }
            #[test]
            fn reset_signal_handlers() {
                check($profile, Mode::ResetHandlers)
            }
            #[test]
            fn spawn_with_pidfd() {
                check($profile, Mode::SpawnPidfd)
            }
            #[test]
            fn spawn_thread_with_pidfd() {
                check($profile, Mode::SpawnThreadPidfd)
            }
            #[test]
            fn spawner_thread() {
                check($profile, Mode::Spawner(Backend::Thread))
            }
            #[test]
            fn spawner_chimera() {
                check($profile, Mode::Spawner(Backend::Chimera))
            }
            #[test]
            fn spawner_green() {
                check($profile, Mode::Spawner(Backend::Green))
            }
            #[test]
            fn namespaces_spawn() {
                check($profile, Mode::NsSpawn)
            }
            #[test]
            fn namespaces_exec() {
                check($profile, Mode::NsExec)
            }
            #[test]
            fn rawclone_run() {
                check($profile, Mode::Run)
            }
        }
    };
}

profile_tests!(unfiltered, None);
profile_tests!(no_clone3, Some(super::Profile::NoClone3));
profile_tests!(no_clear_sighand, Some(super::Profile::NoClearSighand));
profile_tests!(no_pidfd_thread, Some(super::Profile::NoPidfdThread));
profile_tests!(no_pidfd_wait, Some(super::Profile::NoPidfdWait));
profile_tests!(no_pidfd, Some(super::Profile::NoPidfd));

/// The emulation itself: under each profile, raw calls that this kernel refuses with one errno
/// (EFAULT, EBADF) get the profile's answer instead, and the rest keep the kernel's.
mod emulation {
    use super::*;
    use Errno as E;
    use Profile as P;
    use linux_raw_sys::general as k;
    use syscalls::{syscall4, syscall5};

    /// A pointer the kernel can neither read nor write.
    const BAD: u64 = 8;
    /// A number that is no fd.
    const NO_FD: usize = 0x7fff_0000;

    /// clone3 with `flags`, which the kernel refuses with EFAULT (an unreadable set_tid) before
    /// it looks at the flags; the supervisor reads the flags first.
    fn clone3(flags: u64) -> Errno {
        let args = k::clone_args {
            flags,
            exit_signal: u64::from(k::SIGCHLD),
            set_tid: BAD,
            set_tid_size: 1,
            pidfd: 0,
            child_tid: 0,
            parent_tid: 0,
            stack: 0,
            stack_size: 0,
            tls: 0,
            cgroup: 0,
        };
        // SAFETY: the kernel refuses the request (set_tid unreadable) before creating anything.
        let r = unsafe {
            syscall2(
                Sysno::clone3,
                (&raw const args) as usize,
                size_of::<k::clone_args>(),
            )
        };
        r.expect_err("clone3 with an unreadable set_tid")
    }

    /// Legacy clone with `CLONE_PIDFD`, of a thread (`thread`) or a process, its pidfd slot
    /// unwritable: EFAULT in the kernel, before the new task ever runs.
    pub(super) fn clone_pidfd(thread: bool) -> Errno {
        let flags = if thread {
            k::CLONE_THREAD | k::CLONE_SIGHAND | k::CLONE_VM | k::CLONE_PIDFD
        } else {
            k::CLONE_PIDFD | k::SIGCHLD
        };
        // SAFETY: the kernel cannot store the pidfd at BAD and frees the new task unrun.
        let r = unsafe { syscall5(Sysno::clone, flags as usize, 0, BAD as usize, 0, 0) };
        r.expect_err("clone with an unwritable pidfd slot")
    }

    /// waitid(P_PIDFD) on a number that is no fd: EBADF in the kernel.
    fn waitid_pidfd() -> Errno {
        let mut info = [0u64; 16];
        // SAFETY: the kernel writes at most one siginfo (128 bytes) into `info`.
        let r = unsafe {
            syscall5(
                Sysno::waitid,
                k::P_PIDFD as usize,
                NO_FD,
                info.as_mut_ptr() as usize,
                k::WEXITED as usize,
                0,
            )
        };
        r.expect_err("waitid on no fd")
    }

    /// pidfd_send_signal on a number that is no fd: EBADF in the kernel.
    fn pidfd_send_signal() -> Errno {
        // SAFETY: no fd, so no signal is sent.
        let r = unsafe { syscall4(Sysno::pidfd_send_signal, NO_FD, 0, 0, 0) };
        r.expect_err("pidfd_send_signal on no fd")
    }

    /// The calls, by name.
    const CALLS: [&str; 8] = [
        "clone3",
        "clone3 CLEAR_SIGHAND",
        "clone3 PIDFD|THREAD",
        "clone3 PIDFD",
        "clone PIDFD|THREAD",
        "clone PIDFD",
        "waitid P_PIDFD",
        "pidfd_send_signal",
    ];

    /// Each call's answer in the filtered child.
    fn answers() -> [Errno; 8] {
        let thread = u64::from(k::CLONE_THREAD | k::CLONE_SIGHAND | k::CLONE_VM);
        let pidfd = u64::from(k::CLONE_PIDFD);
        [
            clone3(0),
            clone3(k::CLONE_CLEAR_SIGHAND),
            clone3(thread | pidfd),
            clone3(pidfd),
            clone_pidfd(true),
            clone_pidfd(false),
            waitid_pidfd(),
            pidfd_send_signal(),
        ]
    }

    /// What `profile` must answer: its refusal where it has one, else this kernel's.
    fn expected(profile: Profile) -> [Errno; 8] {
        let by = |refusers: &[Profile], refusal: Errno, kernel: Errno| {
            if refusers.contains(&profile) {
                refusal
            } else {
                kernel
            }
        };
        // clone3 is ENOSYS whatever its flags under NoClone3.
        let clone3 = |refusers: &[Profile]| {
            by(
                &[P::NoClone3],
                E::ENOSYS,
                by(refusers, E::EINVAL, E::EFAULT),
            )
        };
        // A legacy clone of a thread with a pidfd: EINVAL in a kernel before 6.9 (clone3 reads
        // its set_tid first, so EFAULT there whatever the kernel).
        let thread_pidfd = if kernel_gives_thread_pidfds() {
            E::EFAULT
        } else {
            E::EINVAL
        };
        [
            clone3(&[]),
            clone3(&[P::NoClearSighand]),
            clone3(&[P::NoPidfdThread, P::NoPidfd]),
            clone3(&[P::NoPidfd]),
            by(&[P::NoPidfdThread, P::NoPidfd], E::EINVAL, thread_pidfd),
            by(&[P::NoPidfd], E::EINVAL, E::EFAULT),
            by(&[P::NoPidfdWait, P::NoPidfd], E::EINVAL, E::EBADF),
            by(&[P::NoPidfd], E::ENOSYS, E::EBADF),
        ]
    }

    fn check(profile: Profile) {
        let got = Shared::new([E::new(0); 8]);
        let outcome = under(profile, || {
            got.set(answers());
            0
        });
        match outcome {
            Outcome::Ran(ExitStatus::Exited(0)) => {}
            Outcome::Unsupported { step, errno } if qemu_user() => {
                return skip(&format!("qemu-user: cannot {step}: {errno}"));
            }
            other => panic!("{profile}: {other:?}"),
        }
        for ((call, got), want) in CALLS.iter().zip(got.get()).zip(expected(profile)) {
            assert_eq!(got, want, "{profile}: {call}");
        }
    }

    #[test]
    fn no_clone3() {
        check(P::NoClone3)
    }
    #[test]
    fn no_clear_sighand() {
        check(P::NoClearSighand)
    }
    #[test]
    fn no_pidfd_thread() {
        check(P::NoPidfdThread)
    }
    #[test]
    fn no_pidfd_wait() {
        check(P::NoPidfdWait)
    }
    #[test]
    fn no_pidfd() {
        check(P::NoPidfd)
    }
}
