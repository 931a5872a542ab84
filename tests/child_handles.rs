//! A `Child` handle never signals a process that is not its child any more: the pid of a child
//! reaped elsewhere is handed to a stranger (with `ns_last_pid`, inside a new pid namespace
//! whose pids this test alone makes), and the old handle's failed wait and drop must leave the
//! stranger alive, with a pidfd and on the pid fallback alike.
//!
//! The checks run in forked children with raw syscalls only; exit codes name the failed step.

mod common;

use common::*;
use linux_raw_sys::general as k;
use rawclone::ns::Namespaces;
use rawclone::sys::{self, Disposition, WaitId};
use rawclone::{Builder, Errno, ExitStatus, Fork, Signal, Stack, Syscall, fork};

/// How the first child is made: with rawclone's pidfd, or without one (legacy clone, whose pidfd
/// slot `CLONE_PARENT_SETTID` takes), so its handle can only name it by pid.
#[derive(Clone, Copy, PartialEq)]
enum Handle {
    Pidfd,
    PidOnly,
}

/// What is done with the stale handle: wait (which fails) and drop, or drop unwaited (which
/// would kill an unjoined child of ours).
#[derive(Clone, Copy, PartialEq)]
enum End {
    Wait,
    Drop,
}

/// Write `n` in decimal to `path`.
fn write_number(path: &core::ffi::CStr, n: i32) -> Result<(), Errno> {
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let fd = sys::open(path, k::O_WRONLY)?;
    sys::write(fd.as_fd(), &digits[i..]).map(drop)
}

/// The helper: on request, forks the stranger (so the stranger is the helper's child, not the
/// tester's), reports its pid, and later whether it is still alive. Never returns.
fn helper(channel: &sys::Fd) -> ! {
    recv_u32(channel);
    // SAFETY: the stranger only sleeps, with raw syscalls, until its namespace ends.
    match unsafe { fork() } {
        Ok(Fork::Child) => loop {
            let _ = sys::sleep_ms(1000);
        },
        Ok(Fork::Parent(mut stranger)) => {
            send_u32(channel, stranger.pid() as u32);
            recv_u32(channel);
            // A SIGKILL sent before the question ends the stranger within moments: look for
            // half a second before calling it alive.
            let mut alive = true;
            for _ in 0..50 {
                if !matches!(stranger.try_wait(), Ok(None)) {
                    alive = false;
                    break;
                }
                let _ = sys::sleep_ms(10);
            }
            send_u32(channel, alive as u32);
            loop {
                let _ = sys::sleep_ms(1000);
            }
        }
        Err(_) => sys::exit_group(1),
    }
}

/// Runs as init of a new pid namespace, so no other process takes pids meanwhile.
fn stranger_survives_a_stale_handle(kind: Handle, end: End) -> i32 {
    let Ok((ours, theirs)) = sys::seqpacket_pair() else {
        return 10;
    };
    // SAFETY: the helper uses raw syscalls only and never returns.
    match unsafe { fork() } {
        Ok(Fork::Child) => helper(&theirs),
        Ok(Fork::Parent(helper)) => core::mem::forget(helper), // ends with the namespace
        Err(_) => return 11,
    }
    // Children are reaped by the kernel at exit while SIGCHLD is ignored.
    if sys::set_signal_disposition(Signal::SIGCHLD, Disposition::Ignore).is_err() {
        return 12;
    }
    let Ok(mut stack) = Stack::map(64 * 1024) else {
        return 13;
    };
    let mut slot = 0u32;
    let builder = match kind {
        Handle::Pidfd => Builder::new(),
        Handle::PidOnly => Builder::new()
            .syscall(Syscall::Clone)
            .parent_settid(&raw mut slot),
    };
    // SAFETY: the child only returns.
    let Ok(child) = (unsafe { builder.spawn(&mut stack, || 0) }) else {
        return 14;
    };
    if child.pidfd().is_some() != (kind == Handle::Pidfd) {
        return 15;
    }
    let pid = child.pid();
    // Blocks until the child has ended and the kernel reaped it, then answers ECHILD.
    if sys::waitid(WaitId::Pid(pid), k::WEXITED | k::__WALL).map(drop) != Err(Errno::ECHILD) {
        return 16;
    }
    // ECHILD comes once the kernel has marked the reaped child dead, a moment before it frees
    // the pid (release_task, after exit_notify's wake-up): wait until the pid names no process
    // (kill with signal 0 gives ESRCH), and a little more.
    let mut released = false;
    for _ in 0..1000 {
        // SAFETY: signal 0 sends nothing; it only asks whether the pid exists.
        if unsafe { syscalls::syscall2(syscalls::Sysno::kill, pid as usize, 0) }
            == Err(Errno::ESRCH)
        {
            released = true;
            break;
        }
        let _ = sys::sleep_ms(1);
    }
    if !released {
        return 21;
    }
    let _ = sys::sleep_ms(10);
    // The next pid of this namespace is the reaped child's: the helper's stranger gets it.
    if write_number(c"/proc/sys/kernel/ns_last_pid", pid - 1).is_err() {
        return 17;
    }
    send_u32(&ours, 1);
    if recv_u32(&ours) != pid as u32 {
        return 18;
    }
    // The stale handle: its wait fails with ECHILD (the pid is not our child); neither the wait
    // nor a drop, waited or not, may signal the pid.
    match end {
        End::Wait => match child.wait() {
            Err(e) if e.errno() == Some(Errno::ECHILD) => {}
            _ => return 19,
        },
        End::Drop => drop(child),
    }
    send_u32(&ours, 2);
    match recv_u32(&ours) {
        1 => 0,
        _ => 20, // the stranger was killed
    }
}

fn check(kind: Handle, end: End, unprivileged: bool) {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEWPID gives EINVAL");
    }
    if !unprivileged && sys::geteuid() != 0 {
        return skip("needs root (the suite runs unprivileged)");
    }
    let ns = if unprivileged {
        Namespaces::new().pid().map_root()
    } else {
        Namespaces::new().pid()
    };
    let status = in_fork(|| {
        if unprivileged && become_nobody().is_err() {
            return 90;
        }
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 91;
        };
        // SAFETY: the namespace's init uses raw syscalls only.
        match unsafe { ns.spawn(&mut stack, || stranger_survives_a_stale_handle(kind, end)) }
            .map(|c| c.wait())
        {
            Ok(Ok(ExitStatus::Exited(code))) => code,
            Ok(other) => {
                let _ = other;
                92
            }
            Err(_) => 93,
        }
    });
    assert_eq!(status, ExitStatus::Exited(0), "failed at step {status:?}");
}

#[test]
fn a_stale_handle_with_a_pidfd_never_kills_the_pids_next_owner() {
    check(Handle::Pidfd, End::Wait, false);
    check(Handle::Pidfd, End::Drop, false);
}

#[test]
fn a_stale_handle_without_a_pidfd_never_kills_the_pids_next_owner() {
    check(Handle::PidOnly, End::Wait, false);
    check(Handle::PidOnly, End::Drop, false);
}

#[test]
fn as_nobody_a_stale_handle_never_kills_the_pids_next_owner() {
    for end in [End::Wait, End::Drop] {
        check(Handle::Pidfd, end, true);
        check(Handle::PidOnly, end, true);
    }
}

#[test]
fn every_child_process_gets_a_pidfd_where_the_kernel_has_them() {
    if qemu_user() {
        return skip("qemu-user: CLONE_PIDFD gives EINVAL, so children have none");
    }
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: the child only returns.
    let child = unsafe { Builder::new().spawn(&mut stack, || 3) }.unwrap();
    assert!(child.pidfd().is_some());
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(3));
    assert_in_fork(|| match unsafe { fork() } {
        // SAFETY (fork): the child exits at once.
        Ok(Fork::Child) => sys::exit_group(4),
        Ok(Fork::Parent(child)) if child.pidfd().is_some() => match child.wait() {
            Ok(ExitStatus::Exited(4)) => 0,
            _ => 1,
        },
        _ => 2,
    });
}

/// At the descriptor limit a child still starts, without rawclone's own pidfd (which would need
/// one more descriptor), from `fork()` and `Builder::spawn` alike; a pidfd the caller asked for
/// is refused by name (EMFILE).
#[test]
fn at_the_descriptor_limit_a_child_starts_without_its_pidfd() {
    if qemu_user() {
        return skip(
            "qemu-user: CLONE_PIDFD gives EINVAL, so children have no pidfd to do without",
        );
    }
    assert_in_fork(|| {
        // Fill the table up to a limit of 32 descriptors.
        let limit = [32u64, 32u64];
        // SAFETY: the kernel reads one rlimit64 from a live local.
        let set = unsafe {
            syscalls::syscall4(
                syscalls::Sysno::prlimit64,
                0,
                k::RLIMIT_NOFILE as usize,
                limit.as_ptr() as usize,
                0,
            )
        };
        if set.is_err() {
            return 1;
        }
        let mut held = [const { None }; 32];
        for slot in held.iter_mut() {
            *slot = sys::open(c"/dev/null", k::O_RDONLY).ok();
        }
        if sys::open(c"/dev/null", k::O_RDONLY) != Err(Errno::EMFILE) {
            return 2;
        }
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 3;
        };
        // SAFETY: the child only returns.
        match unsafe { Builder::new().spawn(&mut stack, || 5) } {
            Ok(child) if child.pidfd().is_none() => {
                if child.wait() != Ok(ExitStatus::Exited(5)) {
                    return 4;
                }
            }
            _ => return 5,
        }
        // SAFETY: the child exits at once.
        match unsafe { fork() } {
            Ok(Fork::Child) => sys::exit_group(6),
            Ok(Fork::Parent(child)) if child.pidfd().is_none() => {
                if child.wait() != Ok(ExitStatus::Exited(6)) {
                    return 6;
                }
            }
            _ => return 7,
        }
        // SAFETY: never runs: the kernel has no descriptor for the pidfd asked for.
        match unsafe { Builder::new().pidfd().spawn(&mut stack, || 0) } {
            Err(e) if e.errno() == Some(Errno::EMFILE) => 0,
            _ => 8,
        }
    });
}
