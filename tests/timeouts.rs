//! Waiting with a deadline: `Child::wait_timeout` on a pidfd (and by polling without one), and a
//! Spawner `JoinHandle`'s `is_finished`, `try_join` and `join_timeout` on every backend; and a
//! pidfd from every spawn path that can have one.

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use core::time::Duration;
use rawclone::ns::Namespaces;
use rawclone::{Backend, ExitStatus, Fork, Signal, Spawner, Stack, fork, sys, vfork_exec};
use std::time::Instant;

per_backend!(
    is_finished_turns_true_when_the_task_ends,
    try_join_gives_the_handle_back_until_the_task_ends,
    join_timeout_times_out_then_joins,
);

/// A forked child that sleeps `ms` then exits with `code`.
fn sleeper(ms: u64, code: i32) -> rawclone::Child<'static> {
    // SAFETY: the child only sleeps and exits with raw syscalls.
    match unsafe { fork() }.expect("fork") {
        Fork::Child => {
            let _ = sys::sleep_ms(ms);
            sys::exit_group(code)
        }
        Fork::Parent(child) => child,
    }
}

#[test]
fn wait_timeout_is_none_while_the_child_sleeps_and_some_once_it_exits() {
    let mut child = sleeper(300, 7);
    let start = Instant::now();
    assert_eq!(child.wait_timeout(Duration::from_millis(50)).unwrap(), None);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "returned after {waited:?}"
    );
    let status = child.wait_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(status, Some(ExitStatus::Exited(7)));
    assert!(start.elapsed() < Duration::from_secs(10));
    // Reaped: nothing is left to wait for.
    let again = child.try_wait().map_err(|e| e.errno());
    assert_eq!(again, Err(Some(rawclone::Errno::ECHILD)), "reaped already");
}

#[test]
fn wait_timeout_with_zero_timeout_only_looks() {
    let mut child = sleeper(10_000, 0);
    assert_eq!(child.wait_timeout(Duration::ZERO).unwrap(), None);
    child.kill().unwrap();
    // No deadline at all (now + MAX overflows): the longest wait the kernel takes.
    let status = child.wait_timeout(Duration::MAX).unwrap();
    assert_eq!(status.and_then(ExitStatus::signal), Some(Signal::SIGKILL));
}

#[test]
fn wait_timeout_without_a_pidfd_polls_until_the_deadline() {
    // On legacy clone, CLONE_PARENT_SETTID takes the pidfd's slot: a child without a pidfd.
    let mut stack = Stack::map(64 * 1024).unwrap();
    let mut tid = 0u32;
    let builder = rawclone::Builder::new()
        .syscall(rawclone::Syscall::Clone)
        .parent_settid(&mut tid);
    // SAFETY: the child only sleeps with a raw syscall and returns.
    let child = unsafe {
        builder.spawn(&mut stack, || {
            let _ = sys::sleep_ms(200);
            5
        })
    };
    let mut child = match child {
        Ok(child) => child,
        Err(e) => panic!("spawn: {e}"),
    };
    assert!(child.pidfd().is_none());
    assert_eq!(child.wait_timeout(Duration::from_millis(20)).unwrap(), None);
    let status = child.wait_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(status, Some(ExitStatus::Exited(5)));
}

#[test]
fn kill_is_sigkill_through_the_pidfd() {
    let child = sleeper(10_000, 0);
    assert_eq!(child.id(), child.pid() as u32);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGKILL));
    assert_eq!(status.code(), None);
}

#[test]
fn every_spawn_path_that_can_gives_a_pidfd() {
    if qemu_user() {
        return skip("qemu-user refuses CLONE_PIDFD and CLONE_NEW* flags");
    }
    let child = sleeper(0, 0);
    assert!(child.pidfd().is_some(), "fork");
    child.wait().unwrap();

    let child = vfork_exec(c"/bin/true", &[c"true"], &[]).unwrap();
    assert!(child.pidfd().is_some(), "vfork_exec");
    child.wait().unwrap();

    let ns = Namespaces::new().map_root();
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: the child only returns.
    match unsafe { ns.spawn(&mut stack, || 0) } {
        Ok(child) => {
            assert!(child.pidfd().is_some(), "Namespaces::spawn");
            child.wait().unwrap();
        }
        Err(e) => return skip(&format!("no user namespace here: {e}")),
    }
    let child = ns.exec(c"/bin/true", &[c"true"], &[]).unwrap();
    assert!(child.pidfd().is_some(), "Namespaces::exec");
    child.wait().unwrap();
}

/// A spawner for `backend`, or a skip when qemu-user cannot run it.
fn spawner_or_skip(backend: Backend) -> Option<Spawner> {
    if backend == Backend::Chimera && qemu_user() {
        skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses (EINVAL)");
        return None;
    }
    Some(Spawner::config(backend).workers(2).build().unwrap())
}

/// A task that spins (yielding) until `go` is set, then returns 42.
fn gated<'a>(spawner: &'a Spawner, go: &'static AtomicBool) -> rawclone::JoinHandle<'a, u32> {
    // SAFETY: atomics and yield_now only.
    unsafe {
        spawner.spawn(move || {
            while !go.load(SeqCst) {
                rawclone::yield_now();
            }
            42
        })
    }
    .unwrap()
}

fn leak_flag() -> &'static AtomicBool {
    Box::leak(Box::new(AtomicBool::new(false)))
}

fn is_finished_turns_true_when_the_task_ends(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let go = leak_flag();
    let task = gated(&spawner, go);
    sys::sleep_ms(10).unwrap();
    assert!(!task.is_finished(), "{backend:?}");
    go.store(true, SeqCst);
    let start = Instant::now();
    while !task.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(30), "{backend:?}");
        let _ = sys::sleep_ms(1);
    }
    assert_eq!(task.join().unwrap(), 42);
}

fn try_join_gives_the_handle_back_until_the_task_ends(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let go = leak_flag();
    let mut task = gated(&spawner, go);
    task = task.try_join().expect_err("the task waits for go");
    go.store(true, SeqCst);
    let start = Instant::now();
    let value = loop {
        match task.try_join() {
            Ok(value) => break value,
            Err(back) => task = back,
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{backend:?}");
        let _ = sys::sleep_ms(1);
    };
    assert_eq!(value.unwrap(), 42, "{backend:?}");
}

fn join_timeout_times_out_then_joins(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let go = leak_flag();
    let task = gated(&spawner, go);
    let start = Instant::now();
    let task = task
        .join_timeout(Duration::from_millis(50))
        .expect_err("the task waits for go");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "{backend:?}: {waited:?}"
    );
    let task = task
        .join_timeout(Duration::ZERO)
        .expect_err("no time at all: only a look");
    go.store(true, SeqCst);
    let value = task
        .join_timeout(Duration::MAX)
        .unwrap_or_else(|_| panic!("{backend:?}: a wait without a deadline timed out"));
    assert_eq!(value.unwrap(), 42, "{backend:?}");
    // A task that ends within the timeout is joined as soon as it ends.
    // SAFETY: the task only returns.
    let task = unsafe { spawner.spawn(|| 7u8) }.unwrap();
    let value = task
        .join_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{backend:?}: a task that only returns took 30 s"));
    assert_eq!(value.unwrap(), 7, "{backend:?}");
}

#[test]
fn a_core_thread_handle_has_is_finished_and_join_timeout() {
    static GO: AtomicBool = AtomicBool::new(false);
    let mut stack = Stack::map(64 * 1024).unwrap();
    // SAFETY: the thread only spins on an atomic and returns.
    let t = unsafe {
        rawclone::thread(&mut stack, || {
            while !GO.load(SeqCst) {
                core::hint::spin_loop();
            }
            3
        })
    }
    .unwrap();
    assert!(!t.is_finished());
    let start = Instant::now();
    let t = t
        .join_timeout(Duration::from_millis(30))
        .expect_err("the thread waits for GO");
    assert!(start.elapsed() >= Duration::from_millis(30));
    GO.store(true, SeqCst);
    let value = t
        .join_timeout(Duration::MAX)
        .unwrap_or_else(|_| panic!("a wait without a deadline timed out"));
    assert_eq!(value, 3);
}

static ALARMS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

extern "C" fn count_alarm(_: i32) {
    ALARMS.fetch_add(1, SeqCst);
}

/// `setitimer(ITIMER_REAL)` every `us` microseconds (0 stops it).
fn alarm_every(us: usize) -> Result<(), rawclone::Errno> {
    let every = [0usize, us];
    let timer = [every[0], every[1], every[0], every[1]];
    // SAFETY: the kernel reads one itimerval from a live local; no old value is asked for.
    unsafe { syscalls::syscall3(syscalls::Sysno::setitimer, 0, timer.as_ptr() as usize, 0) }
        .map(drop)
}

#[test]
fn signals_neither_break_nor_stretch_a_timed_wait() {
    // In a fork: the handler and the timer are the process's, and only this one may get them.
    assert_in_fork(|| {
        // SAFETY: the handler only bumps an atomic.
        if unsafe { sys::set_signal_handler(Signal::SIGALRM, count_alarm) }.is_err() {
            return 1;
        }
        // SAFETY: the grandchild only sleeps and exits with raw syscalls (the timer is not
        // inherited by a fork).
        let mut child = match unsafe { fork() } {
            Ok(Fork::Child) => {
                let _ = sys::sleep_ms(300);
                sys::exit_group(4)
            }
            Ok(Fork::Parent(child)) => child,
            Err(_) => return 2,
        };
        if alarm_every(2000).is_err() {
            return 3;
        }
        let start = sys::monotonic_now();
        if !matches!(child.wait_timeout(Duration::from_millis(60)), Ok(None)) {
            return 4;
        }
        let waited = sys::monotonic_now() - start;
        if waited < Duration::from_millis(60) || waited > Duration::from_secs(2) {
            return 5;
        }
        if ALARMS.load(SeqCst) < 2 {
            return 6;
        }
        if child.wait_timeout(Duration::from_secs(30)) != Ok(Some(ExitStatus::Exited(4))) {
            return 7;
        }
        // The same for a futex wait: a thread that spins until told.
        static GO: AtomicBool = AtomicBool::new(false);
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 8;
        };
        // SAFETY: the thread only spins on an atomic; the process's SIGALRM handler, which may
        // run on it, only bumps an atomic.
        let Ok(t) = (unsafe {
            rawclone::thread(&mut stack, || {
                while !GO.load(SeqCst) {
                    core::hint::spin_loop();
                }
                1
            })
        }) else {
            return 9;
        };
        let before = ALARMS.load(SeqCst);
        let start = sys::monotonic_now();
        let Err(t) = t.join_timeout(Duration::from_millis(60)) else {
            return 10;
        };
        let waited = sys::monotonic_now() - start;
        if waited < Duration::from_millis(60) || waited > Duration::from_secs(2) {
            return 11;
        }
        let interrupted = ALARMS.load(SeqCst) > before;
        GO.store(true, SeqCst);
        if t.join_timeout(Duration::from_secs(30)).ok() != Some(1) {
            return 12;
        }
        let _ = alarm_every(0);
        if !interrupted { 13 } else { 0 }
    });
}
