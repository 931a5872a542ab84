//! The four seed tasks and the vfork-style spawn, each proving its semantics.

mod common;

use common::*;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};
use rawclone::{
    Errno, Error, ExitStatus, Fork, Signal, Stack, chimera, fork, sys, thread, vfork_exec,
};

#[test]
fn fork_returns_twice_and_pids_agree() {
    let (ours, theirs) = sys::seqpacket_pair().unwrap();
    // SAFETY: the child only issues raw syscalls and exits.
    match unsafe { fork() }.unwrap() {
        Fork::Child => {
            send_u32(&theirs, sys::getpid() as u32);
            send_u32(&theirs, sys::getppid() as u32);
            sys::exit_group(0)
        }
        Fork::Parent(child) => {
            assert_eq!(
                recv_u32(&ours),
                child.pid() as u32,
                "pid seen by parent = getpid() in child"
            );
            assert_eq!(
                recv_u32(&ours),
                sys::getpid() as u32,
                "child's parent is us"
            );
            assert_ne!(child.pid(), sys::getpid());
            assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
        }
    }
}

#[test]
fn fork_copies_memory() {
    static WORD: AtomicU32 = AtomicU32::new(1);
    let status = in_fork(|| {
        WORD.store(99, SeqCst);
        WORD.load(SeqCst) as i32
    });
    assert_eq!(
        status,
        ExitStatus::Exited(99),
        "the child saw its own write"
    );
    assert_eq!(WORD.load(SeqCst), 1, "the parent's copy is untouched");
}

#[test]
fn fork_reports_death_by_signal() {
    let status = in_fork(|| {
        let _ = sys::kill(sys::getpid(), Signal::SIGKILL);
        0
    });
    assert_eq!(
        status,
        ExitStatus::Signaled {
            signal: Signal::SIGKILL,
            core_dumped: false
        }
    );
}

#[test]
fn chimera_is_a_process_sharing_memory() {
    static PID: AtomicI32 = AtomicI32::new(0);
    static TID: AtomicI32 = AtomicI32::new(0);
    static PPID: AtomicI32 = AtomicI32::new(0);
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: raw syscalls and atomics only.
    let child = unsafe {
        chimera(&mut stack, || {
            PID.store(sys::getpid(), SeqCst);
            TID.store(sys::gettid(), SeqCst);
            PPID.store(sys::getppid(), SeqCst);
            5
        })
    };
    let child = spawn_or_skip!(child, "CLONE_VM without the full thread set");
    let pid = child.pid();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(5));
    assert_eq!(
        PID.load(SeqCst),
        pid,
        "parent sees the child's write: its own pid"
    );
    assert_eq!(TID.load(SeqCst), pid, "a process: tid == pid");
    assert_ne!(pid, sys::getpid(), "not in our thread group");
    assert_eq!(PPID.load(SeqCst), sys::getpid(), "our child");
}

/// The creator is a forked copy, so that a kernel which kills it too (before 5.16, see
/// `core_dump_took_the_creator`) ends no more than that copy.
#[test]
fn chimera_stack_overflow_dies_by_sigsegv_and_spares_the_parent() {
    static CANARY: AtomicU32 = AtomicU32::new(0xC0FFEE);
    let status = in_fork(|| {
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 1;
        };
        // SAFETY: the child only recurses; it touches nothing of ours.
        let child = spawn_or_refused!(unsafe { chimera(&mut stack, || overflow(0) as i32) });
        let died = ExitStatus::Signaled {
            signal: Signal::SIGSEGV,
            core_dumped: false,
        };
        if child.wait() != Ok(died) {
            return 2;
        }
        if CANARY.load(SeqCst) != 0xC0FFEE {
            return 3;
        }
        0
    });
    match status {
        ExitStatus::Exited(0) => {}
        ExitStatus::Exited(QEMU_REFUSED) if qemu_user() => {
            skip("qemu-user: CLONE_VM without the full thread set")
        }
        other => match core_dump_took_the_creator(other) {
            Some(reason) => skip(reason),
            None => panic!("forked check failed at step {other:?}"),
        },
    }
}

#[test]
fn chimera_runs_on_a_caller_buffer() {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let mut buf = vec![0u8; 32 * 1024];
    let mut stack = Stack::from_buf(&mut buf);
    assert!(!stack.has_guard());
    // SAFETY: atomics only.
    let child = unsafe {
        chimera(&mut stack, || {
            SEEN.store(7, SeqCst);
            0
        })
    };
    let child = spawn_or_skip!(child, "CLONE_VM without the full thread set");
    assert!(child.wait().unwrap().success());
    assert_eq!(SEEN.load(SeqCst), 7);
}

#[test]
fn thread_shares_tgid_with_own_tid() {
    static TGID: AtomicI32 = AtomicI32::new(0);
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: raw syscalls and atomics only.
    let t = unsafe {
        thread(&mut stack, || {
            TGID.store(sys::getpid(), SeqCst);
            sys::gettid() as usize
        })
    }
    .unwrap();
    let handle_tid = t.tid();
    let tid = t.join();
    assert_eq!(TGID.load(SeqCst), sys::getpid(), "same thread group");
    assert_eq!(tid as i32, handle_tid, "the handle knows the tid");
    assert_ne!(tid as i32, sys::gettid(), "a task of its own");
    assert_ne!(tid as i32, sys::getpid());
}

#[test]
fn thread_join_returns_the_entry_value() {
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: pure computation.
    let t = unsafe { thread(&mut stack, || (1..=10usize).product()) }.unwrap();
    assert_eq!(t.join(), 3_628_800);
}

#[test]
fn thread_join_waits_for_a_slow_thread() {
    static DONE: AtomicU32 = AtomicU32::new(0);
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: raw nanosleep and an atomic.
    let t = unsafe {
        thread(&mut stack, || {
            sleep_ms(50);
            DONE.store(1, SeqCst);
            0
        })
    }
    .unwrap();
    t.join();
    assert_eq!(DONE.load(SeqCst), 1);
}

#[test]
fn dropping_a_thread_handle_joins_it() {
    static DONE: AtomicU32 = AtomicU32::new(0);
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: raw nanosleep and an atomic.
    drop(
        unsafe {
            thread(&mut stack, || {
                sleep_ms(20);
                DONE.store(1, SeqCst);
                0
            })
        }
        .unwrap(),
    );
    assert_eq!(DONE.load(SeqCst), 1);
}

#[test]
fn threads_reuse_one_stack() {
    let mut stack = Stack::map(64 * 1024).unwrap();
    for i in 0..200usize {
        // SAFETY: pure computation.
        let t = unsafe { thread(&mut stack, move || i * 2) }.unwrap();
        assert_eq!(t.join(), i * 2);
    }
}

#[test]
fn thread_stack_overflow_takes_down_the_thread_group() {
    // Run in a fork: the overflow must kill that whole process, not just the thread.
    let status = in_fork(|| {
        let mut stack = Stack::map(64 * 1024).unwrap();
        // SAFETY: the thread only recurses.
        let t = unsafe { thread(&mut stack, || overflow(0) as usize) }.unwrap();
        t.join();
        0 // not reached: the SIGSEGV kills the thread group
    });
    assert_eq!(
        status,
        ExitStatus::Signaled {
            signal: Signal::SIGSEGV,
            core_dumped: false
        }
    );
}

#[test]
fn vfork_exec_runs_the_program() {
    let child = vfork_exec(c"/bin/sh", &[c"sh", c"-c", c"exit 3"], &[]).unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(3));
}

#[test]
fn vfork_exec_passes_the_environment() {
    let script = c"test \"$GREETING\" = hello";
    let child = vfork_exec(c"/bin/sh", &[c"sh", c"-c", script], &[c"GREETING=hello"]).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn vfork_exec_restores_the_callers_signal_mask() {
    // The child runs with every signal blocked until just before execve; the program must get the
    // caller's mask back (as std::process::Command and posix_spawn leave it), here: SIGUSR2.
    assert_in_fork(|| {
        let mask = rawclone::SigSet::EMPTY.with(Signal::SIGUSR2);
        sys::set_signal_mask(mask).unwrap();
        // grep itself reads its mask (a shell would reset the mask at start-up, dash does).
        let pattern = c"^SigBlk:[[:space:]]*0000000000000800$";
        let argv = [c"grep", c"-q", pattern, c"/proc/self/status"];
        let child = vfork_exec(c"/bin/grep", &argv, &[]).unwrap();
        if !child.wait().unwrap().success() {
            return 1;
        }
        0
    });
}

#[test]
fn vfork_exec_failure_is_a_typed_error_and_leaves_no_child() {
    assert_in_fork_or_skip(
        "CLONE_VFORK becomes a plain fork; the exec errno cannot reach the parent",
        || {
            let fds = open_fds();
            match vfork_exec(c"/nonexistent/program", &[c"x"], &[]) {
                Err(Error::Exec {
                    errno: Errno::ENOENT,
                    ..
                }) => {}
                // qemu-user: the "vfork" child was a fork; its exec failed in its own memory.
                Ok(child) if qemu_user() => {
                    let forked = child.wait() == Ok(ExitStatus::Exited(127));
                    return if forked { QEMU_REFUSED } else { 5 };
                }
                _ => return 1,
            }
            match vfork_exec(c"/etc/passwd", &[c"x"], &[]) {
                Err(Error::Exec {
                    errno: Errno::EACCES,
                    ..
                }) => {}
                _ => return 2,
            }
            if has_children() {
                return 3;
            }
            if open_fds() != fds {
                return 4;
            }
            0
        },
    );
}

#[test]
fn user_namespace_child_is_root() {
    static IDS: AtomicU32 = AtomicU32::new(u32::MAX);
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: raw syscalls only; the child writes its own copy of IDS and reports through its status.
    let child = unsafe {
        rawclone::ns::spawn_as_root(&mut stack, rawclone::CloneFlags::EMPTY, || {
            IDS.store(0, SeqCst);
            (sys::getuid() * 16 + sys::getgid() + 1) & 0x7f
        })
    };
    let child = spawn_or_skip!(child, "CLONE_NEWUSER");
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Exited(1),
        "uid 0 and gid 0 inside"
    );
    assert_eq!(
        IDS.load(SeqCst),
        u32::MAX,
        "no CLONE_VM: the child wrote its own copy"
    );
}

#[test]
fn user_namespace_root_works_unprivileged() {
    assert_in_fork_or_skip("CLONE_NEWUSER gives EINVAL", || {
        if become_nobody().is_err() {
            return 1;
        }
        if sys::geteuid() == 0 {
            return 2;
        }
        let mut stack = Stack::map(64 * 1024).unwrap();
        // SAFETY: raw syscalls only.
        let child = unsafe {
            rawclone::ns::spawn_as_root(&mut stack, rawclone::CloneFlags::EMPTY, || {
                if sys::getuid() == 0 && sys::geteuid() == 0 {
                    0
                } else {
                    1
                }
            })
        };
        match spawn_or_refused!(child).wait() {
            Ok(ExitStatus::Exited(0)) => 0,
            _ => 3,
        }
    });
}

#[test]
fn thread_with_settls_gets_its_own_thread_pointer() {
    // Proves the tls slot of the raw clone arguments on each architecture (x86_64 and aarch64
    // order them differently), and that the CLEARTID join still finds its word.
    #[repr(C, align(64))]
    struct Block([usize; 8]);
    static mut BLOCK: Block = Block([0; 8]);
    let tls = &raw mut BLOCK as usize;
    for syscall in [rawclone::Syscall::Clone3, rawclone::Syscall::Clone] {
        let mut stack = Stack::map(64 * 1024).unwrap();
        let b = rawclone::Builder::thread().tls(tls).syscall(syscall);
        // SAFETY: the thread only reads its thread pointer with a raw syscall or an mrs.
        let seen = unsafe { b.spawn_thread(&mut stack, rawclone::arch::thread_pointer) };
        match seen {
            Ok(t) => assert_eq!(t.join(), tls, "{syscall:?}"),
            // qemu-user has no clone3; the legacy path above still proves the slot.
            Err(Error::Sys {
                errno: Errno::ENOSYS,
                ..
            }) if syscall == rawclone::Syscall::Clone3 => {}
            Err(e) => panic!("{syscall:?}: {e}"),
        }
    }
    assert_ne!(rawclone::arch::thread_pointer(), tls);
}
