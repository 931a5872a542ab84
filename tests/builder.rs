//! Flag compositions through the Builder: each sharing flag seen from both sides, pidfds, exit
//! signals, CLONE_PARENT, thread pointers, the clone3 fallback, gates, errors and leaks.

mod common;

use common::*;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use rawclone::seccomp::{
    BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, Filter, SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS, SeccompData, Sysno,
};
use rawclone::stack::PAGE_SIZE;
use rawclone::sys::{self, Disposition, WaitId};
use rawclone::{
    Builder, CloneFlags, Errno, Error, ExitStatus, Rule, SigSet, Signal, Stack, Syscall, chimera,
};

fn stack() -> Stack<'static> {
    Stack::map(64 * 1024).unwrap()
}

/// Run a forked yes/no check: exit 0 means no, 1 yes; anything else (a failed step, a panic)
/// fails the test, so a check cannot pass by not running.
fn forked_answer(what: &str, f: impl FnOnce() -> i32) -> Option<bool> {
    match in_fork(f) {
        ExitStatus::Exited(0) => Some(false),
        ExitStatus::Exited(1) => Some(true),
        ExitStatus::Exited(QEMU_REFUSED) if qemu_user() => {
            skip(&format!("qemu-user: {what} gives EINVAL"));
            None
        }
        other => panic!("the forked check did not complete: {other:?}"),
    }
}

/// Spawn `f` in a process created with exactly `flags` (plus SIGCHLD) and wait for it.
fn run_with(flags: CloneFlags, f: impl FnOnce() -> i32) -> Result<ExitStatus, Error> {
    let mut stack = stack();
    // SAFETY: every caller's closure uses raw syscalls and atomics only.
    let child = unsafe { Builder::new().flags(flags).spawn(&mut stack, f) }?;
    Ok(child.wait().unwrap())
}

#[test]
fn process_on_its_own_stack_has_copied_memory() {
    static WORD: AtomicU32 = AtomicU32::new(3);
    let status = run_with(CloneFlags::EMPTY, || {
        WORD.store(4, SeqCst);
        (sys::getpid() != sys::gettid()) as i32
    });
    assert_eq!(status, Ok(ExitStatus::Exited(0)));
    assert_eq!(WORD.load(SeqCst), 3);
}

fn cwd_after_child_chdir(flags: CloneFlags) -> Option<bool> {
    // true when the parent's cwd followed the child's chdir to /proc
    forked_answer(&flags.to_string(), || {
        sys::chdir(c"/").unwrap();
        if spawn_or_refused!(run_with(flags, || sys::chdir(c"/proc").map_or(1, |_| 0)))
            != ExitStatus::Exited(0)
        {
            return 2;
        }
        let mut buf = [0u8; 64];
        (sys::getcwd(&mut buf).unwrap() == b"/proc") as i32
    })
}

#[test]
fn clone_fs_shares_the_working_directory() {
    assert_ne!(cwd_after_child_chdir(CloneFlags::FS), Some(false));
}

#[test]
fn without_clone_fs_the_working_directory_is_copied() {
    assert_eq!(cwd_after_child_chdir(CloneFlags::EMPTY), Some(false));
}

fn fd_open_after_child_closes_it(flags: CloneFlags) -> Option<bool> {
    forked_answer(&flags.to_string(), || {
        let (a, _b) = sys::seqpacket_pair().unwrap();
        let fd = a.into_raw();
        // SAFETY: the child closes `fd`, which nothing owns since `into_raw`.
        let close = || unsafe { sys::close(fd) }.map_or(1, |_| 0);
        if spawn_or_refused!(run_with(flags, close)) != ExitStatus::Exited(0) {
            return 2;
        }
        sys::fd_flags(fd).is_ok() as i32
    })
}

#[test]
fn clone_files_shares_the_fd_table() {
    assert_ne!(fd_open_after_child_closes_it(CloneFlags::FILES), Some(true));
}

#[test]
fn without_clone_files_the_fd_table_is_copied() {
    assert_eq!(fd_open_after_child_closes_it(CloneFlags::EMPTY), Some(true));
}

fn parent_sees_child_ignore_sigusr2(flags: CloneFlags) -> Option<bool> {
    forked_answer(&flags.to_string(), || {
        let status = spawn_or_refused!(run_with(flags, || {
            sys::set_signal_disposition(Signal::SIGUSR2, Disposition::Ignore).map_or(1, |_| 0)
        }));
        if status != ExitStatus::Exited(0) {
            return 2;
        }
        (sys::signal_disposition(Signal::SIGUSR2).unwrap() == Disposition::Ignore) as i32
    })
}

#[test]
fn clone_sighand_shares_signal_handlers() {
    let flags = CloneFlags::VM | CloneFlags::SIGHAND;
    assert_ne!(parent_sees_child_ignore_sigusr2(flags), Some(false));
}

#[test]
fn without_clone_sighand_signal_handlers_are_copied() {
    assert_ne!(parent_sees_child_ignore_sigusr2(CloneFlags::VM), Some(true));
}

#[test]
fn signals_are_blocked_across_the_clone_and_the_mask_restored_on_both_sides() {
    assert_in_fork(|| {
        let mask = SigSet::EMPTY.with(Signal::SIGUSR2);
        sys::set_signal_mask(mask).unwrap();
        // The child reports whether its mask is the caller's (not the full set used across the
        // clone) through its exit status.
        let status = run_with(CloneFlags::EMPTY, || {
            (sys::signal_mask() != Ok(mask)) as i32
        });
        if status != Ok(ExitStatus::Exited(0)) {
            return 1;
        }
        if sys::signal_mask() != Ok(mask) {
            return 2;
        }
        0
    });
}

#[test]
fn the_stack_size_a_refusal_names_is_the_boundary() {
    let big = [3u8; 40 * 1024];
    // Whether a stack of `size` bytes runs the closure, or the size a refusal names.
    let thread = |size: usize| {
        let mut place = Stack::map(size).unwrap();
        let size = place.size(); // whole pages
        // SAFETY: the thread only reads its copy of the array.
        match unsafe { Builder::thread().spawn_thread(&mut place, move || big[9] as usize) } {
            Ok(t) => Ok(t.join() == 3),
            Err(Error::StackTooSmall { needed, usable }) => {
                assert_eq!(usable, size);
                Err(needed)
            }
            Err(e) => panic!("{e}"),
        }
    };
    let process = |size: usize| {
        let mut place = Stack::map(size).unwrap();
        let size = place.size(); // whole pages
        // SAFETY: the child only reads its copy of the array.
        match unsafe { Builder::new().spawn(&mut place, move || big[9] as i32) } {
            Ok(c) => Ok(c.wait().unwrap() == ExitStatus::Exited(3)),
            Err(Error::StackTooSmall { needed, usable }) => {
                assert_eq!(usable, size);
                Err(needed)
            }
            Err(e) => panic!("{e}"),
        }
    };
    type Run<'a> = &'a dyn Fn(usize) -> Result<bool, usize>;
    let shapes: [(&str, Run); 2] = [("thread", &thread), ("process", &process)];
    for (shape, run) in shapes {
        let Err(needed) = run(64 * 1024) else {
            panic!("{shape}: 40 KiB twice over fits 64 KiB")
        };
        assert!(needed > 2 * big.len(), "{shape}: {needed}");
        assert_eq!(run(needed - PAGE_SIZE), Err(needed), "{shape}: a page less");
        assert_eq!(run(needed), Ok(true), "{shape}: {needed} bytes");
    }
}

/// Let a child blocked in [`wait_for`] go.
fn release(go: &AtomicU32) {
    go.store(1, SeqCst);
    sys::futex_wake(go, 1).unwrap();
}

/// Sleep until `go` is non-zero.
fn wait_for(go: &AtomicU32) {
    while go.load(SeqCst) == 0 {
        let _ = sys::futex_wait(go, 0);
    }
}

#[test]
fn a_child_started_local_runs_with_the_callers_affinity_and_keeps_one_it_sets() {
    let before = sys::affinity().unwrap();
    if before.count() == 1 {
        // Pinned to the one CPU it already has, a child cannot tell the difference.
        skip("this thread may run on one CPU only");
        return;
    }
    // start_local is best effort: where this thread cannot pin itself, it pins nothing, and
    // every child would pass for the wrong reason.
    let cpu = sys::current_cpu().unwrap();
    if sys::set_affinity(&sys::CpuSet::only(cpu)).is_err() {
        skip("this thread cannot set its own affinity");
        return;
    }
    sys::set_affinity(&before).unwrap();
    let unpinned = || (sys::affinity() == Ok(before)) as i32;
    // Every shape's closure starts with the caller's affinity, never the pin, and the caller
    // has its own back when spawn returns.
    let mut place = stack();
    // SAFETY: the thread only makes a raw syscall, and is joined.
    let thread = unsafe {
        Builder::thread()
            .start_local()
            .spawn_thread(&mut place, || unpinned() as usize)
    }
    .unwrap();
    assert_eq!(sys::affinity(), Ok(before));
    assert_eq!(thread.join(), 1, "the thread ran pinned");
    type Shape = (&'static str, CloneFlags, Option<&'static str>);
    let shapes: [Shape; 3] = [
        (
            "a CLONE_VM process",
            CloneFlags::VM,
            Some("qemu-user refuses a CLONE_VM process (EINVAL)"),
        ),
        // It would be a fork of this many-threaded process, which can deadlock inside qemu.
        (
            "a vfork child",
            CloneFlags::VM | CloneFlags::VFORK,
            Some("qemu-user runs a vfork child as a fork"),
        ),
        ("a fork", CloneFlags::EMPTY, None),
    ];
    for (shape, flags, qemu_refuses) in shapes {
        if let Some(why) = qemu_refuses.filter(|_| qemu_user()) {
            skip(why);
            continue;
        }
        let mut place = stack();
        // SAFETY: the child only makes a raw syscall, and is waited for.
        let child = unsafe {
            Builder::new()
                .flags(flags)
                .start_local()
                .spawn(&mut place, unpinned)
        }
        .unwrap();
        assert_eq!(sys::affinity(), Ok(before), "{shape}: the caller");
        assert_eq!(
            child.wait().unwrap(),
            ExitStatus::Exited(1),
            "{shape} ran pinned"
        );
    }

    // A thread that sets an affinity of its own at once keeps it: nobody else writes its mask,
    // not even while it still runs when spawn returns. A race, so many times over.
    let allowed = |c: u32| before.0[c as usize / 64] >> (c % 64) & 1 == 1;
    let other = sys::CpuSet::only((0..1024).find(|&c| c != cpu && allowed(c)).unwrap());
    for round in 0..100 {
        let go = AtomicU32::new(0);
        let mut place = stack();
        // SAFETY: the thread uses raw syscalls and an atomic that outlives the join.
        let thread = unsafe {
            Builder::thread()
                .start_local()
                .spawn_thread(&mut place, || {
                    // No unwrap: a panic cannot leave the thread (it would abort the binary).
                    let set = sys::set_affinity(&other);
                    wait_for(&go);
                    match set {
                        Ok(()) => (sys::affinity() == Ok(other)) as usize,
                        Err(_) => 2,
                    }
                })
        }
        .unwrap();
        release(&go);
        let answer = thread.join();
        assert_ne!(
            answer, 2,
            "round {round}: the thread could not set its affinity"
        );
        assert_eq!(
            answer, 1,
            "round {round}: the thread's own affinity was overwritten"
        );
        assert_eq!(sys::affinity(), Ok(before), "round {round}: the caller");
    }
}

#[test]
fn a_caller_on_one_cpu_only_spawns_local_without_touching_affinity() {
    if qemu_user() {
        skip("qemu-user does not enforce a seccomp filter");
        return;
    }
    // In a copy of this process: one CPU only, and a filter that ends the process at the first
    // sched_setaffinity; start_local then must not make one, nor its child.
    let status = in_fork(|| {
        let one = sys::CpuSet::only(sys::current_cpu().unwrap());
        if sys::set_affinity(&one).is_err() {
            return 2;
        }
        let mut kill = Filter::<4>::new();
        let nr = core::mem::offset_of!(SeccompData, nr) as u32;
        let setaffinity = Sysno::sched_setaffinity as u32;
        let built = kill
            .stmt(BPF_LD | BPF_W | BPF_ABS, nr)
            .and_then(|f| f.jump(BPF_JMP | BPF_JEQ | BPF_K, setaffinity, 0, 1))
            .and_then(|f| f.stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS))
            .and_then(|f| f.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW))
            .is_ok();
        if !built
            || sys::set_no_new_privs().is_err()
            || sys::seccomp_set_filter(kill.as_slice(), 0).is_err()
        {
            return 3;
        }
        let mut place = stack();
        // SAFETY: the thread only makes a raw syscall, and is joined.
        let thread = unsafe {
            Builder::thread()
                .start_local()
                .spawn_thread(&mut place, || (sys::affinity() == Ok(one)) as usize)
        };
        let Ok(thread) = thread else { return 4 };
        match (thread.join(), sys::affinity() == Ok(one)) {
            (1, true) => 0,
            _ => 5,
        }
    });
    assert_eq!(
        status,
        ExitStatus::Exited(0),
        "killed by SIGSYS: an affinity call was made; exited 2 to 5: a step of the check failed"
    );
}

#[test]
fn custom_exit_signal_is_delivered_and_the_child_still_joins() {
    assert_in_fork_or_skip(
        "an exit signal other than SIGCHLD without CLONE_VM gives EINVAL",
        || {
            let blocked = SigSet::EMPTY.with(Signal::SIGUSR1).with(Signal::SIGCHLD);
            sys::set_signal_mask(blocked).unwrap();
            let mut stack = stack();
            let builder = Builder::new().exit_signal(Some(Signal::SIGUSR1));
            // SAFETY: the child only returns.
            let child = spawn_or_refused!(unsafe { builder.spawn(&mut stack, || 6) });
            if child.wait().unwrap() != ExitStatus::Exited(6) {
                return 1;
            }
            let pending = sys::pending_signals().unwrap();
            if !pending.contains(Signal::SIGUSR1) {
                return 2;
            }
            if pending.contains(Signal::SIGCHLD) {
                return 3;
            }
            0
        },
    );
}

#[test]
fn no_exit_signal_still_joins() {
    let mut stack = stack();
    // SAFETY: the child only returns.
    let child = unsafe { Builder::new().exit_signal(None).spawn(&mut stack, || 9) };
    let child = spawn_or_skip!(child, "no exit signal without CLONE_VM");
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(9));
}

#[test]
fn clone_parent_makes_a_sibling() {
    let (ours, theirs) = sys::seqpacket_pair().unwrap();
    let status = in_fork(|| {
        let mut stack = stack();
        let flags = CloneFlags::PARENT;
        let report = || {
            let mut bytes = [0u8; 8];
            bytes[..4].copy_from_slice(&sys::getpid().to_ne_bytes());
            bytes[4..].copy_from_slice(&sys::getppid().to_ne_bytes());
            sys::write(theirs.as_fd(), &bytes).map_or(1, |_| 0)
        };
        // SAFETY: raw syscalls only.
        // clone3 takes no exit signal with CLONE_PARENT: the child inherits ours.
        let b = Builder::new().flags(flags).exit_signal(None);
        let child = spawn_or_refused!(unsafe { b.spawn(&mut stack, report) });
        drop(child); // not ours to reap: the handle leaves it alone
        0
    });
    if status == ExitStatus::Exited(QEMU_REFUSED) && qemu_user() {
        return skip("qemu-user: CLONE_PARENT gives EINVAL");
    }
    assert_eq!(status, ExitStatus::Exited(0));
    let mut msg = [0u8; 8];
    assert_eq!(sys::read(ours.as_fd(), &mut msg).unwrap(), 8);
    let pid = i32::from_ne_bytes(msg[..4].try_into().unwrap());
    let ppid = i32::from_ne_bytes(msg[4..].try_into().unwrap());
    assert_eq!(
        ppid,
        sys::getpid(),
        "the grandchild's parent is the test process"
    );
    let info = sys::waitid(
        WaitId::Pid(pid),
        linux_raw_sys::general::WEXITED | linux_raw_sys::general::__WALL,
    )
    .expect("the sibling is our child to reap");
    assert_eq!((info.pid, info.status), (pid, 0));
}

#[test]
fn clone_settls_gives_the_child_our_thread_pointer() {
    #[repr(C, align(64))]
    struct Block([usize; 8]);
    static mut BLOCK: Block = Block([0; 8]);
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let tls = &raw mut BLOCK as usize;
    let mut stack = stack();
    let builder = Builder::new().flags(CloneFlags::VM).tls(tls);
    // SAFETY: the child reads its thread pointer with a raw syscall (or mrs) and stores it.
    let child = unsafe {
        builder.spawn(&mut stack, || {
            SEEN.store(rawclone::arch::thread_pointer(), SeqCst);
            0
        })
    };
    let child = spawn_or_skip!(child, "CLONE_VM without the full thread set");
    assert!(child.wait().unwrap().success());
    assert_eq!(SEEN.load(SeqCst), tls);
    assert_ne!(
        rawclone::arch::thread_pointer(),
        tls,
        "the parent keeps its own"
    );
}

#[test]
fn clone_child_settid_writes_the_tid_into_child_memory() {
    static TID: AtomicU32 = AtomicU32::new(0);
    let mut stack = stack();
    let builder = Builder::new()
        .flags(CloneFlags::VM)
        .child_settid(TID.as_ptr());
    // SAFETY: the child only returns.
    let child = spawn_or_skip!(
        unsafe { builder.spawn(&mut stack, || 0) },
        "CLONE_VM without the full thread set"
    );
    let pid = child.pid();
    child.wait().unwrap();
    assert_eq!(TID.load(SeqCst) as i32, pid);
}

#[test]
fn clone_pidfd_gives_an_owned_fd_joined_with_waitid() {
    for syscall in [Syscall::Clone, Syscall::Clone3] {
        let mut stack = stack();
        // SAFETY: the child only returns.
        let child = unsafe {
            Builder::new()
                .pidfd()
                .syscall(syscall)
                .spawn(&mut stack, || 4)
        };
        let child = spawn_or_skip!(child, "CLONE_PIDFD");
        let fd = child.pidfd().expect("a pidfd").as_raw();
        assert!(
            sys::fd_flags(fd).unwrap() & 1 != 0,
            "pidfds are close-on-exec"
        );
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(4), "{syscall:?}");
    }
}

#[test]
fn pidfd_send_signal_reaches_the_child() {
    let mut stack = stack();
    // SAFETY: the child only sleeps.
    let child = unsafe {
        Builder::new().pidfd().spawn(&mut stack, || {
            loop {
                sleep_ms(1000)
            }
        })
    };
    let child = spawn_or_skip!(child, "CLONE_PIDFD");
    child.signal(Signal::SIGTERM).unwrap();
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Signaled {
            signal: Signal::SIGTERM,
            core_dumped: false
        }
    );
}

#[test]
fn try_wait_sees_a_running_then_an_ended_child() {
    let mut stack = stack();
    // SAFETY: the child only sleeps.
    let mut child = unsafe {
        Builder::new().spawn(&mut stack, || {
            sleep_ms(100);
            2
        })
    }
    .unwrap();
    assert_eq!(child.try_wait().unwrap(), None);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status, ExitStatus::Exited(2));
            break;
        }
        sleep_ms(10);
    }
}

#[test]
fn every_mode_works_through_legacy_clone() {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let mut stack = stack();
    let b = Builder::thread().syscall(Syscall::Clone);
    // SAFETY: atomics only.
    let t = unsafe {
        b.spawn_thread(&mut stack, || {
            SEEN.store(1, SeqCst);
            12
        })
    }
    .unwrap();
    assert_eq!(t.join(), 12);
    assert_eq!(SEEN.load(SeqCst), 1);
    // Last, the one qemu-user refuses.
    for flags in [
        CloneFlags::EMPTY,
        CloneFlags::VM | CloneFlags::VFORK,
        CloneFlags::VM,
    ] {
        let b = Builder::new().flags(flags).syscall(Syscall::Clone);
        // SAFETY: the child only returns.
        let child = spawn_or_skip!(unsafe { b.spawn(&mut stack, || 11) }, flags);
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(11), "{flags}");
    }
}

#[test]
fn legacy_clone_refuses_clone3_only_requests_before_any_syscall() {
    let mut stack = stack();
    let dir = sys::open(c"/", linux_raw_sys::general::O_DIRECTORY).unwrap();
    for flag in [
        CloneFlags::NEWTIME,
        CloneFlags::CLEAR_SIGHAND,
        CloneFlags::INTO_CGROUP,
    ] {
        let mut b = Builder::new().flags(flag).syscall(Syscall::Clone);
        if flag == CloneFlags::INTO_CGROUP {
            b = b.cgroup(dir.as_fd());
        }
        // SAFETY: never runs.
        let err = unsafe { b.spawn(&mut stack, || 0) }.unwrap_err();
        assert_eq!(err, Error::Rule(Rule::NeedsClone3, flag), "{flag}");
    }
}

#[test]
fn reset_signal_handlers_works_on_both_syscalls() {
    // std installs a SIGSEGV handler in every Rust program: the child must not inherit it.
    assert!(matches!(
        sys::signal_disposition(Signal::SIGSEGV),
        Ok(Disposition::Handler(_))
    ));
    // clone3 last: qemu-user has none.
    for syscall in [Syscall::Clone, Syscall::Clone3] {
        let mut stack = stack();
        let b = Builder::new().reset_signal_handlers().syscall(syscall);
        // SAFETY: raw syscalls only.
        let child = unsafe {
            b.spawn(&mut stack, || {
                (sys::signal_disposition(Signal::SIGSEGV) != Ok(Disposition::Default)) as i32
            })
        };
        let child = spawn_or_skip!(child, "no clone3");
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0), "{syscall:?}");
    }
}

/// Make clone3 answer ENOSYS in this process, as an old kernel, qemu-user or a container's
/// seccomp profile does.
fn deny_clone3() {
    if qemu_user() {
        return; // the emulator has no clone3 at all: it answers ENOSYS already
    }
    let filter = Filter::<8>::deny(&[Sysno::clone3], Errno::ENOSYS).unwrap();
    sys::set_no_new_privs().unwrap();
    sys::seccomp_set_filter(filter.as_slice(), 0).unwrap();
}

#[test]
fn clone3_enosys_falls_back_to_clone_and_is_remembered() {
    assert_in_fork(|| {
        deny_clone3();
        let mut stack = stack();
        let b = Builder::new().reset_signal_handlers();
        // SAFETY: raw syscalls only; the child reports through its exit status.
        let child = unsafe {
            b.spawn(&mut stack, || {
                (sys::signal_disposition(Signal::SIGSEGV) != Ok(Disposition::Default)) as i32 + 40
            })
        };
        let Ok(child) = child else { return 1 };
        if child.wait() != Ok(ExitStatus::Exited(40)) {
            return 2;
        }
        if rawclone::clone3_available() != Some(false) {
            return 3;
        }
        // A CLEAR_SIGHAND the caller asked for is never dropped on the way to clone.
        let mut stack = self::stack();
        let b = Builder::new().flags(CloneFlags::CLEAR_SIGHAND);
        // SAFETY: never runs.
        if !matches!(
            unsafe { b.spawn(&mut stack, || 0) },
            Err(Error::Rule(Rule::NeedsClone3, _))
        ) {
            return 6;
        }
        // A request only clone3 can carry now fails with a clear rule, not an errno.
        // SAFETY: never runs.
        let mut stack = self::stack();
        let err = unsafe {
            Builder::new()
                .flags(CloneFlags::NEWTIME)
                .spawn(&mut stack, || 0)
        };
        if !matches!(err, Err(Error::Rule(Rule::NeedsClone3, _))) {
            return 4;
        }
        // Threads and pidfds keep working on the fallback.
        // SAFETY: pure computation.
        let mut stack = self::stack();
        let t = unsafe { rawclone::thread(&mut stack, || 5) };
        if t.map(|t| t.join()) != Ok(5) {
            return 5;
        }
        0
    });
}

/// The caller's mask is its own again however a spawn that changed it ends: refused by the
/// kernel (a `set_tid` naming a pid in use: EEXIST, EPERM unprivileged, or under qemu-user
/// clone3's ENOSYS and then `Rule::NeedsClone3`), and after the fall-back from clone3's ENOSYS to
/// clone for a child that resets its handlers: the one request whose held mask changes between
/// attempts (the child's own mask for clone3 with CLONE_CLEAR_SIGHAND, every signal for the clone,
/// where the child resets them by hand before it sets its mask).
#[test]
fn the_callers_mask_is_its_own_after_a_refusal_and_after_a_fallback() {
    let usr1 = SigSet::EMPTY.with(Signal::SIGUSR1);
    let usr2 = SigSet::EMPTY.with(Signal::SIGUSR2);
    for gated in [false, true] {
        assert_in_fork(|| {
            if sys::set_signal_mask(usr1).is_err() {
                return 1;
            }
            let tids = [sys::getpid()];
            let mut b = Builder::new().child_mask(usr2).set_tid(&tids);
            if gated {
                b = b.gated();
            }
            let mut stack = stack();
            // SAFETY: never runs: the pid is in use.
            if unsafe { b.spawn(&mut stack, || 0) }.is_ok() {
                return 2;
            }
            (sys::signal_mask() != Ok(usr1)) as i32 * 3
        });
    }
    // SAFETY: a fresh shared mapping, never unmapped, so the word outlives every copy.
    let seen = unsafe { &*map_shared(8).cast::<core::sync::atomic::AtomicU64>() };
    assert_in_fork(|| {
        deny_clone3();
        if sys::set_signal_mask(usr1).is_err() {
            return 1;
        }
        let mut stack = stack();
        let b = Builder::new().reset_signal_handlers().child_mask(usr2);
        // SAFETY: the child only reads its mask and stores it in the shared word.
        let child = unsafe {
            b.spawn(&mut stack, || {
                seen.store(sys::signal_mask().map_or(u64::MAX, |m| m.0), SeqCst);
                0
            })
        };
        let Ok(child) = child else { return 2 };
        if child.wait() != Ok(ExitStatus::Exited(0)) {
            return 3;
        }
        if rawclone::clone3_available() != Some(false) {
            return 4; // the spawn did fall back
        }
        (sys::signal_mask() != Ok(usr1)) as i32 * 5
    });
    assert_eq!(seen.load(SeqCst), usr2.0, "the child's mask");
}

#[test]
fn a_gated_child_waits_for_release() {
    static STEP: AtomicU32 = AtomicU32::new(0);
    let mut stack = stack();
    let b = Builder::new().flags(CloneFlags::VM).gated();
    // SAFETY: atomics only.
    let child = unsafe {
        b.spawn(&mut stack, || {
            STEP.store(1, SeqCst);
            0
        })
    };
    let mut child = spawn_or_skip!(child, "CLONE_VM without the full thread set");
    sleep_ms(30);
    assert_eq!(STEP.load(SeqCst), 0, "held at the gate");
    child.release().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    assert_eq!(STEP.load(SeqCst), 1);
}

#[test]
fn a_gated_child_gives_up_when_the_parent_closes_the_gate() {
    static STEP: AtomicU32 = AtomicU32::new(0);
    let mut stack = stack();
    let b = Builder::new().flags(CloneFlags::VM).gated();
    // SAFETY: atomics only.
    let child = unsafe {
        b.spawn(&mut stack, || {
            STEP.store(1, SeqCst);
            0
        })
    };
    let child = spawn_or_skip!(child, "CLONE_VM without the full thread set");
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(127));
    assert_eq!(STEP.load(SeqCst), 0);
}

#[test]
fn a_stack_too_small_for_the_entry_frame_is_refused() {
    let mut buf = [0u8; 512];
    let mut small = Stack::from_buf(&mut buf);
    // SAFETY: never runs.
    let err = unsafe { chimera(&mut small, || 0) }.unwrap_err();
    assert!(matches!(err, Error::StackTooSmall { .. }), "{err}");
    // SAFETY: never runs.
    let err = unsafe { rawclone::thread(&mut small, || 0) }.unwrap_err();
    assert!(matches!(err, Error::StackTooSmall { .. }), "{err}");
}

#[test]
fn an_empty_or_tiny_stack_is_refused_by_every_mode() {
    let (mut empty, mut one, mut most) = ([0u8; 0], [0u8; 1], [0u8; 63]);
    let mut bufs: [&mut [u8]; 4] = [&mut empty, &mut [], &mut one, &mut most];
    for buf in bufs.iter_mut() {
        let len = buf.len();
        let mut stack = Stack::from_buf(buf);
        // SAFETY: never runs: refused before the syscall.
        let err = unsafe { rawclone::thread(&mut stack, || 0) }.unwrap_err();
        assert!(
            matches!(err, Error::StackTooSmall { .. }),
            "thread, {len} bytes: {err}"
        );
        // SAFETY: as above.
        let err = unsafe { chimera(&mut stack, || 0) }.unwrap_err();
        assert!(
            matches!(err, Error::StackTooSmall { .. }),
            "chimera, {len} bytes: {err}"
        );
        // SAFETY: as above.
        let err = unsafe { Builder::new().spawn(&mut stack, || 0) }.unwrap_err();
        assert!(
            matches!(err, Error::StackTooSmall { .. }),
            "spawn, {len} bytes: {err}"
        );
    }
}

#[test]
fn rawclone_own_rules_are_refused_before_any_syscall() {
    let mut stack = stack();
    let process = |b: Builder, stack: &mut Stack<'_>| {
        // SAFETY: never runs: every request here is refused before the syscall.
        unsafe { b.spawn(stack, || 0) }.map(drop).unwrap_err()
    };
    let thread = |b: Builder, stack: &mut Stack<'_>| {
        // SAFETY: as above.
        unsafe { b.spawn_thread(stack, || 0) }
            .map(drop)
            .unwrap_err()
    };
    let rule = |e: Error| match e {
        Error::Rule(rule, _) => rule,
        other => panic!("not a rule: {other}"),
    };
    assert_eq!(
        rule(process(Builder::thread(), &mut stack)),
        Rule::ThreadNeedsThreadSpawn
    );
    assert_eq!(
        rule(thread(Builder::new(), &mut stack)),
        Rule::ThreadNeedsThreadSpawn
    );
    let b = Builder::new().flags(CloneFlags::FILES).gated();
    assert_eq!(rule(process(b, &mut stack)), Rule::GateNeedsOwnFiles);
    let b = Builder::new()
        .flags(CloneFlags::VM | CloneFlags::VFORK)
        .gated();
    assert_eq!(rule(process(b, &mut stack)), Rule::GateExcludesVfork);
    let b = Builder::new()
        .flags(CloneFlags::VM | CloneFlags::PARENT)
        .exit_signal(None);
    assert_eq!(rule(process(b, &mut stack)), Rule::ParentExcludesVm);
    for syscall in [Syscall::Clone3, Syscall::Clone] {
        // Resetting handlers in a child that shares them would reset the parent's.
        let b = Builder::new().flags(CloneFlags::VM | CloneFlags::SIGHAND);
        let b = b.reset_signal_handlers().syscall(syscall);
        assert_eq!(
            rule(process(b, &mut stack)),
            Rule::ClearSighandExcludesSighand
        );
        let b = Builder::thread().reset_signal_handlers().syscall(syscall);
        assert_eq!(
            rule(thread(b, &mut stack)),
            Rule::ClearSighandExcludesSighand
        );
    }
    static SLOT: AtomicU32 = AtomicU32::new(0);
    let b = Builder::thread().child_settid(SLOT.as_ptr());
    assert_eq!(rule(thread(b, &mut stack)), Rule::ThreadOwnsChildTid);
}

#[test]
fn a_closure_larger_than_the_stack_is_refused() {
    let mut buf = [0u8; 4096];
    let mut small = Stack::from_buf(&mut buf);
    let (big, size) = ([7u8; 8192], small.size());
    // SAFETY: never runs.
    let err = unsafe { Builder::new().spawn(&mut small, move || big[100] as i32) }.unwrap_err();
    let Error::StackTooSmall { needed, usable } = err else {
        panic!("{err}");
    };
    assert_eq!(usable, size, "{err}");
    assert!(needed > 2 * big.len(), "the closure, twice: {err}");
}

#[test]
fn with_clone_files_the_parent_does_not_close_what_the_child_captured() {
    let (ours, theirs) = sys::seqpacket_pair().unwrap();
    let mut stack = stack();
    let b = Builder::new().flags(CloneFlags::FILES);
    // SAFETY: raw syscalls only; `theirs` moves into the child.
    let child = unsafe {
        b.spawn(&mut stack, move || {
            sleep_ms(20); // long after the parent is back from clone
            sys::write(theirs.as_fd(), b"!").map_or(1, |_| 0)
        })
    };
    let child = spawn_or_skip!(child, "CLONE_FILES outside a thread");
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Exited(0),
        "the child's fd stayed open"
    );
    let mut byte = [0u8; 1];
    assert_eq!(sys::read(ours.as_fd(), &mut byte), Ok(1));
}

#[test]
fn eperm_for_a_namespace_names_the_missing_capability() {
    assert_in_fork_or_skip("namespace flags give EINVAL", || {
        if become_nobody().is_err() {
            return 1;
        }
        let mut stack = stack();
        // SAFETY: never runs.
        let err = unsafe {
            Builder::new()
                .flags(CloneFlags::NEWNS | CloneFlags::NEWUTS)
                .spawn(&mut stack, || 0)
        };
        if let Err(e) = &err
            && refused_by_qemu(e)
        {
            return QEMU_REFUSED;
        }
        let want = Error::NamespacePermission {
            flags: CloneFlags::NEWNS | CloneFlags::NEWUTS,
            cap_sys_admin: false,
        };
        if err.map(drop) != Err(want) {
            return 2;
        }
        // The advice works: with CLONE_NEWUSER the same namespaces need no privilege.
        // SAFETY: raw syscalls only.
        let child = unsafe {
            rawclone::ns::spawn_as_root(&mut stack, CloneFlags::NEWNS | CloneFlags::NEWUTS, || 0)
        };
        if child.map(|c| c.wait()) != Ok(Ok(ExitStatus::Exited(0))) {
            return 3;
        }
        0
    });
    let text = Error::NamespacePermission {
        flags: CloneFlags::NEWNS,
        cap_sys_admin: false,
    }
    .to_string();
    assert!(
        text.contains("CAP_SYS_ADMIN") && text.contains("CLONE_NEWUSER"),
        "{text}"
    );
}

#[test]
fn no_fd_stack_or_zombie_outlives_its_handle_on_any_path() {
    assert_in_fork_or_skip(
        "CLONE_PIDFD gives EINVAL (the other paths leaked nothing)",
        || {
            // A program spawned first: its exec stack stays mapped for the next spawn, one for
            // the process, not one per spawn (the failed exec below must add none).
            let _ = rawclone::vfork_exec(c"/nonexistent", &[c"x"], &[]);
            let held = Holdings::now();
            let mut stack = stack();
            // Refused before the syscall.
            // SAFETY: never runs.
            let _ = unsafe {
                Builder::new()
                    .flags(CloneFlags::THREAD)
                    .spawn(&mut stack, || 0)
            };
            // Refused by the kernel (NEWIPC|SYSVSEM is EINVAL).
            let b = Builder::new()
                .flags(CloneFlags::NEWIPC | CloneFlags::SYSVSEM)
                .pidfd()
                .gated();
            // SAFETY: never runs.
            let _ = unsafe { b.spawn(&mut stack, || 0) };
            // A gated child dropped unreleased, a pidfd child dropped while running, a pidfd child
            // joined, a plain child dropped while running, a failed exec. qemu-user refuses the
            // pidfd ones; the rest still run, and the check reports the refusal at the end.
            let mut refused = false;
            fn spawned<'a>(
                refused: &mut bool,
                r: Result<rawclone::Child<'a>, Error>,
            ) -> Option<rawclone::Child<'a>> {
                match r {
                    Ok(child) => Some(child),
                    Err(e) if refused_by_qemu(&e) => {
                        *refused = true;
                        None
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            let forever = || loop {
                sleep_ms(1000)
            };
            // SAFETY: the children sleep or return.
            unsafe {
                drop(spawned(
                    &mut refused,
                    Builder::new().gated().spawn(&mut stack, || 0),
                ));
                drop(spawned(
                    &mut refused,
                    Builder::new().gated().pidfd().spawn(&mut stack, || 0),
                ));
                drop(spawned(
                    &mut refused,
                    Builder::new().pidfd().spawn(&mut stack, forever),
                ));
                if let Some(child) =
                    spawned(&mut refused, Builder::new().pidfd().spawn(&mut stack, || 0))
                {
                    let _ = child.wait();
                }
                drop(spawned(
                    &mut refused,
                    Builder::new().spawn(&mut stack, forever),
                ));
            }
            let _ = rawclone::vfork_exec(c"/nonexistent", &[c"x"], &[]);
            drop(stack);
            match held.leaked_since() {
                0 if refused => QEMU_REFUSED,
                step => step,
            }
        },
    );
}

#[test]
fn dropping_a_running_child_kills_and_reaps_it() {
    assert_in_fork(|| {
        let mut stack = stack();
        // SAFETY: the child only sleeps.
        let child = unsafe {
            Builder::new().spawn(&mut stack, || {
                loop {
                    sleep_ms(1000)
                }
            })
        }
        .unwrap();
        let pid = child.pid();
        drop(child);
        if sys::kill(pid, Signal::SIGKILL) != Err(Errno::ESRCH) {
            return 1;
        }
        has_children() as i32 * 2
    });
}

#[test]
fn a_clear_sighand_of_the_callers_own_survives_the_first_enosys() {
    // The first clone3 answer is ENOSYS: the retry through clone must refuse, not drop the flag.
    assert_in_fork(|| {
        deny_clone3();
        let mut stack = stack();
        let b = Builder::new().flags(CloneFlags::VM | CloneFlags::CLEAR_SIGHAND);
        // SAFETY: never runs.
        match unsafe { b.spawn(&mut stack, || 0) } {
            Err(Error::Rule(Rule::NeedsClone3, flags))
                if flags.contains(CloneFlags::CLEAR_SIGHAND) =>
            {
                0
            }
            Err(_) => 1,
            Ok(_) => 2,
        }
    });
}

/// The mask a child's closure runs with, whatever it was born with: the caller's without
/// `child_mask`, else exactly `child_mask` (also where the caller blocks more than it, and
/// when a gate or a reset of handlers by hand makes the child block every signal first); and
/// the caller's mask is its own again after the spawn. The child reports through a shared word.
#[test]
fn the_childs_mask_is_the_callers_or_exactly_the_one_asked_for() {
    let usr1 = SigSet::EMPTY.with(Signal::SIGUSR1);
    let usr2 = SigSet::EMPTY.with(Signal::SIGUSR2);
    let both = usr1.with(Signal::SIGUSR2);
    // (the caller's mask, child_mask, gated, reset by hand, the mask the closure must see)
    let cases = [
        (usr1, None, false, false, usr1),
        (usr1, Some(both), false, false, both),
        (usr1, Some(usr2), false, false, usr2),
        (
            SigSet::EMPTY,
            Some(SigSet::FULL),
            false,
            false,
            SigSet::FULL,
        ),
        (usr1, Some(usr2), true, false, usr2),
        (usr1, None, true, false, usr1),
        (usr1, Some(usr2), false, true, usr2),
        (usr1, None, false, true, usr1),
    ];
    for (i, (caller, wanted, gated, reset, expected)) in cases.into_iter().enumerate() {
        // SAFETY: a fresh shared mapping, never unmapped, so the word outlives every copy.
        let seen = unsafe { &*map_shared(8).cast::<core::sync::atomic::AtomicU64>() };
        let status = in_fork(|| {
            if sys::set_signal_mask(caller).is_err() {
                return 10;
            }
            let mut stack = stack();
            let mut builder = Builder::new().exit_signal(Some(Signal::SIGCHLD));
            if let Some(mask) = wanted {
                builder = builder.child_mask(mask);
            }
            if gated {
                builder = builder.gated();
            }
            // By hand: legacy clone has no CLONE_CLEAR_SIGHAND.
            if reset {
                builder = builder.reset_signal_handlers().syscall(Syscall::Clone);
            }
            // SAFETY: the child only reads its mask and stores it in the shared word.
            let spawned = unsafe {
                builder.spawn(&mut stack, || {
                    seen.store(sys::signal_mask().map_or(u64::MAX, |m| m.0), SeqCst);
                    0
                })
            };
            let Ok(mut child) = spawned else { return 11 };
            let after = sys::signal_mask();
            if gated && child.release().is_err() {
                return 12;
            }
            if child.wait() != Ok(ExitStatus::Exited(0)) {
                return 13;
            }
            if after != Ok(caller) {
                return 14;
            }
            0
        });
        assert_eq!(status, ExitStatus::Exited(0), "case {i}");
        let seen = seen.load(SeqCst);
        let expected = if expected == SigSet::FULL {
            full_as_kept()
        } else {
            expected.0
        };
        assert_eq!(
            seen, expected,
            "case {i}: {caller:?} {wanted:?} gated {gated} reset {reset}"
        );
    }
}

/// What a thread's mask reads after blocking every signal: the kernel keeps SIGKILL and SIGSTOP
/// out of it, and qemu-user the signals it keeps for itself.
fn full_as_kept() -> u64 {
    // SAFETY: a fresh shared mapping, never unmapped, so the word outlives the copy.
    let kept = unsafe { &*map_shared(8).cast::<core::sync::atomic::AtomicU64>() };
    let status = in_fork(|| {
        let read = sys::set_signal_mask(SigSet::FULL).and_then(|_| sys::signal_mask());
        kept.store(read.map_or(0, |m| m.0), SeqCst);
        0
    });
    assert_eq!(status, ExitStatus::Exited(0));
    kept.load(SeqCst)
}
