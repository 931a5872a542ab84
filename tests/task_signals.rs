//! No handler of the process runs on a Spawner's task or worker threads, whose thread pointer
//! libc cannot read: Thread tasks and Green workers block every catchable signal but the faults
//! by default (a signal sent to the process waits for one of its own threads; `Config::
//! signal_mask` opts out), and a Chimera task starts with its handlers reset, so a signal to it
//! or to its process group does what it does to any process.
//!
//! Each check runs in a forked child (a one-thread process, so its only libc thread is the one
//! whose tid is its pid) that counts where its SIGUSR1 handler ran.

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::SeqCst};
use rawclone::{Backend, Error, ExitStatus, SigSet, Signal, Spawner, sys};

static MAIN: AtomicI32 = AtomicI32::new(0);
static ON_MAIN: AtomicU32 = AtomicU32::new(0);
static ON_TASK: AtomicU32 = AtomicU32::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// Counts where it ran: on the process's one libc thread, or anywhere else (a task, a worker,
/// a chimera). Atomics and raw syscalls only, so it is sound wherever it runs.
extern "C" fn count(_: i32) {
    if sys::gettid() == MAIN.load(SeqCst) {
        ON_MAIN.fetch_add(1, SeqCst);
    } else {
        ON_TASK.fetch_add(1, SeqCst);
    }
}

/// Send SIGUSR1 100 times while two tasks run, with the main thread's SIGUSR1 blocked, then
/// unblock it; returns (handled on the main thread, handled elsewhere), or an error step.
fn storm(backend: Backend, mask: Option<SigSet>) -> Result<(u32, u32), i32> {
    MAIN.store(sys::getpid(), SeqCst);
    // SAFETY: `count` uses atomics and raw syscalls only.
    unsafe { sys::set_signal_handler(Signal::SIGUSR1, count) }.map_err(|_| 10)?;
    let mut config = Spawner::config(backend).workers(2);
    if let Some(mask) = mask {
        config = config.signal_mask(mask);
    }
    let spawner = config.build().map_err(|_| 11)?;
    let spin = || {
        while !STOP.load(SeqCst) {
            rawclone::yield_now();
        }
        sys::gettid()
    };
    // SAFETY: the tasks spin on an atomic and make raw syscalls only.
    let tasks = [(); 2].map(|_| unsafe { spawner.spawn(spin) });
    let [Ok(a), Ok(b)] = tasks else {
        return Err(12);
    };
    let old = sys::set_signal_mask(SigSet::EMPTY.with(Signal::SIGUSR1)).map_err(|_| 13)?;
    for _ in 0..100 {
        let _ = match backend {
            // A Chimera task is a process of its own: signal it directly.
            Backend::Chimera => sys::kill(a.tid().unwrap_or(0), Signal::SIGUSR1),
            _ => sys::kill(sys::getpid(), Signal::SIGUSR1),
        };
        sys::sched_yield();
    }
    let _ = sys::sleep_ms(20);
    STOP.store(true, SeqCst);
    match (backend, a.join()) {
        // SIGUSR1's default action ended the Chimera task: no handler of ours ran there.
        (
            Backend::Chimera,
            Err(Error::TaskEnded(Some(ExitStatus::Signaled {
                signal: Signal::SIGUSR1,
                ..
            }))),
        ) => {}
        (Backend::Chimera, _) => return Err(17),
        (_, joined) => joined.map(drop).map_err(|_| 14)?,
    }
    b.join().map_err(|_| 15)?;
    sys::set_signal_mask(old).map_err(|_| 16)?;
    Ok((ON_MAIN.load(SeqCst), ON_TASK.load(SeqCst)))
}

fn no_handler_runs_on_a_task_by_default(backend: Backend) {
    if backend == Backend::Chimera && qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    assert_in_fork(|| match storm(backend, None) {
        // Held for the main thread, where it ran once unblocked (the Chimera task's own
        // signals ended it: they are never handled by us).
        Ok((on_main, 0)) if (on_main >= 1) == (backend != Backend::Chimera) => 0,
        Ok((_, 0)) => 1,
        Ok(_) => 2,
        Err(step) => step,
    });
}

per_backend!(no_handler_runs_on_a_task_by_default);

/// `Config::signal_mask(SigSet::EMPTY)` lets Thread tasks and Green workers take the process's
/// signals (and run its handlers) again.
fn an_empty_signal_mask_lets_tasks_take_signals(backend: Backend) {
    assert_in_fork(|| match storm(backend, Some(SigSet::EMPTY)) {
        Ok((_, on_task)) if on_task >= 1 => 0,
        Ok(_) => 1,
        Err(step) => step,
    });
}

#[test]
fn an_empty_signal_mask_lets_thread_tasks_take_signals() {
    an_empty_signal_mask_lets_tasks_take_signals(Backend::Thread);
}

#[test]
fn an_empty_signal_mask_lets_green_workers_take_signals() {
    an_empty_signal_mask_lets_tasks_take_signals(Backend::Green);
}

/// A signal to the process group (Ctrl-C, a hangup) ends a Chimera task as it would any
/// process, while the creator's own handler runs in the creator.
#[test]
fn a_chimera_task_ends_with_a_signal_to_its_process_group() {
    if qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    assert_in_fork(|| {
        MAIN.store(sys::getpid(), SeqCst);
        // A process group of this fork's own, so the signal reaches no one else.
        // SAFETY: setpgid(0, 0) touches no memory.
        if unsafe { syscalls::syscall2(syscalls::Sysno::setpgid, 0, 0) }.is_err() {
            return 1;
        }
        // SAFETY: `count` uses atomics and raw syscalls only.
        if unsafe { sys::set_signal_handler(Signal::SIGUSR1, count) }.is_err() {
            return 2;
        }
        let Ok(spawner) = Spawner::new(Backend::Chimera) else {
            return 3;
        };
        // SAFETY: the task sleeps with raw syscalls until a signal ends it.
        let Ok(task) = (unsafe {
            spawner.spawn(|| {
                loop {
                    let _ = sys::sleep_ms(1000);
                }
            })
        }) else {
            return 4;
        };
        let _ = sys::sleep_ms(20);
        let _ = sys::kill(0, Signal::SIGUSR1); // the whole process group
        let ended = task.join();
        let _ = sys::sleep_ms(20);
        match ended {
            Err(Error::TaskEnded(Some(ExitStatus::Signaled {
                signal: Signal::SIGUSR1,
                ..
            }))) if ON_MAIN.load(SeqCst) == 1 && ON_TASK.load(SeqCst) == 0 => 0,
            Err(Error::TaskEnded(_)) => 5,
            _ => 6,
        }
    });
}

/// A handler that calls libc (`write(2)` to a closed descriptor sets `errno` through the thread
/// pointer) survives a storm of process-directed signals while tasks run: it only ever runs on
/// the process's own thread.
#[cfg(target_arch = "x86_64")]
mod libc_handler {
    use super::*;

    extern "C" fn uses_libc(_: i32) {
        // SAFETY: write(2) is async-signal-safe; descriptor -1 fails with EBADF into errno.
        unsafe { libc::write(-1, b"x".as_ptr().cast(), 1) };
        ON_MAIN.fetch_add(1, SeqCst);
    }

    fn survives(backend: Backend) {
        assert_in_fork(|| {
            // SAFETY: `uses_libc` is async-signal-safe on a libc thread, the only kind it runs on.
            if unsafe { sys::set_signal_handler(Signal::SIGUSR1, uses_libc) }.is_err() {
                return 10;
            }
            let Ok(spawner) = Spawner::config(backend).workers(2).build() else {
                return 11;
            };
            let spin = || {
                let mut n = 0u64;
                while !STOP.load(SeqCst) {
                    n += 1;
                    rawclone::yield_now();
                }
                n
            };
            // SAFETY: the tasks spin on an atomic and make raw syscalls only.
            let tasks = [(); 2].map(|_| unsafe { spawner.spawn(spin) });
            // Only the tasks could take the signals now, if they did not block them.
            let Ok(old) = sys::set_signal_mask(SigSet::EMPTY.with(Signal::SIGUSR1)) else {
                return 13;
            };
            for _ in 0..2000 {
                let _ = sys::kill(sys::getpid(), Signal::SIGUSR1);
                sys::sched_yield();
            }
            STOP.store(true, SeqCst);
            let joined = tasks.map(|t| t.map(|t| t.join()));
            let _ = sys::set_signal_mask(old);
            match joined {
                [Ok(Ok(_)), Ok(Ok(_))] if ON_MAIN.load(SeqCst) >= 1 => 0,
                _ => 12,
            }
        });
    }

    #[test]
    fn thread_tasks() {
        survives(Backend::Thread);
    }

    #[test]
    fn green_workers() {
        survives(Backend::Green);
    }
}
