//! A Chimera task can be joined from any process of its address space: from a sibling Chimera
//! task, the join waits on the task's CLONE_CHILD_CLEARTID word (never `waitid`, which only the
//! creator may call, and never a signal), returns its value, and hands the zombie to the
//! creator, which reaps it (and closes its pidfd) at its next spawn, join or drop.

mod common;

use common::*;
use rawclone::{Backend, JoinHandle, Spawner, sys};

/// Run `check` in a fork with a Chimera spawner (exit code 20 if none can be made), unless
/// chimeras cannot run here.
fn with_chimera_spawner(check: impl FnOnce(Spawner) -> i32) {
    if !chimeras_run_here() {
        return;
    }
    assert_in_fork(|| match Spawner::new(Backend::Chimera) {
        Ok(spawner) => check(spawner),
        Err(_) => 20,
    });
}

/// A task that sleeps 100 ms, then returns 7.
fn slow_seven(spawner: &Spawner) -> Option<JoinHandle<'_, u32>> {
    // SAFETY: the task sleeps and returns, with raw syscalls only.
    unsafe {
        spawner.spawn(|| {
            let _ = sys::sleep_ms(100);
            7u32
        })
    }
    .ok()
}

#[test]
fn a_sibling_chimera_joins_a_chimera_and_its_creator_reaps_it() {
    with_chimera_spawner(|spawner| {
        let fds = open_fds();
        let idle = spawner.idle_stacks();
        let Some(slow) = slow_seven(&spawner) else {
            return 1;
        };
        let slow_pid = slow.tid().unwrap_or(0);
        let joined = spawner.scope(|s| {
            // SAFETY: the sibling joins through the handle: raw syscalls and atomics only.
            let sibling = unsafe { s.spawn(move || slow.join().map_err(|e| e.errno())) };
            sibling.map(|sibling| sibling.join())
        });
        match joined {
            Ok(Ok(Ok(7))) => {}
            Ok(Ok(Ok(_))) => return 3,
            Ok(Ok(Err(_))) => return 4, // before: ECHILD, then SIGKILL
            _ => return 5,
        }
        // The slow task's zombie waits for its creator, this process (the kernel zeroes the
        // join word a little before the task is a zombie: wait for that, without reaping)...
        let zombie = sys::waitid(
            sys::WaitId::Pid(slow_pid),
            linux_raw_sys::general::WEXITED
                | linux_raw_sys::general::WNOWAIT
                | linux_raw_sys::general::__WALL,
        );
        if !matches!(zombie, Ok(info) if info.pid == slow_pid) {
            return 6;
        }
        // ...which reaps it at its next spawn, and closes its pidfd.
        // SAFETY: the task only returns.
        let Ok(next) = (unsafe { spawner.spawn(|| 1u32) }) else {
            return 7;
        };
        if next.join() != Ok(1) {
            return 8;
        }
        if has_children() {
            return 9;
        }
        if open_fds() != fds {
            return 10;
        }
        // Two stacks were ever live at once (the slow task's and its sibling's): both are back.
        if spawner.idle_stacks() != idle + 2 {
            return 11;
        }
        0
    });
}

#[test]
fn a_handle_dropped_in_a_sibling_waits_without_killing() {
    if !chimeras_run_here() {
        return;
    }
    static DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert_in_fork(|| {
        let Ok(spawner) = Spawner::new(Backend::Chimera) else {
            return 20;
        };
        // SAFETY: the task sleeps, then stores to an atomic.
        let Ok(slow) = (unsafe {
            spawner.spawn(|| {
                let _ = sys::sleep_ms(50);
                DONE.store(true, core::sync::atomic::Ordering::SeqCst);
            })
        }) else {
            return 1;
        };
        let dropped = spawner.scope(|s| {
            // SAFETY: the sibling drops the handle: raw syscalls and atomics only.
            let sibling = unsafe { s.spawn(move || drop(slow)) };
            sibling.map(|sibling| sibling.join())
        });
        if !matches!(dropped, Ok(Ok(()))) {
            return 3;
        }
        if !DONE.load(core::sync::atomic::Ordering::SeqCst) {
            return 4; // the drop did not wait, or killed the task
        }
        drop(spawner);
        if has_children() {
            return 5;
        }
        0
    });
}

/// A sibling's `join_timeout` waits on the task's CLEARTID word with a timeout: it gives the
/// handle back while the task runs, then joins as `join` does, leaving the zombie to the creator.
#[test]
fn a_sibling_chimera_joins_with_a_timeout_and_its_creator_reaps() {
    with_chimera_spawner(|spawner| {
        let Some(slow) = slow_seven(&spawner) else {
            return 1;
        };
        let joined = spawner.scope(|s| {
            // SAFETY: the sibling joins through the handle: raw syscalls and atomics only.
            let sibling = unsafe {
                s.spawn(move || {
                    let short = core::time::Duration::from_millis(10);
                    let Err(slow) = slow.join_timeout(short) else {
                        return Err(31); // joined before the task could have ended
                    };
                    if slow.is_finished() {
                        return Err(32);
                    }
                    match slow.join_timeout(core::time::Duration::from_secs(30)) {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(_)) => Err(33),
                        Err(_) => Err(34),
                    }
                })
            };
            sibling.map(|sibling| sibling.join())
        });
        match joined {
            Ok(Ok(Ok(7))) => {}
            Ok(Ok(Ok(_))) => return 3,
            Ok(Ok(Err(code))) => return code,
            _ => return 5,
        }
        // The creator reaps the zombie at its drop of the spawner.
        drop(spawner);
        if has_children() {
            return 6;
        }
        0
    });
}

/// Why a Chimera task's value may hold no descriptor (`Spawner::spawn`'s contract): the task
/// has its own fd table, so the number of a descriptor it opened names nothing, or another file,
/// in its joiner.
#[test]
fn a_descriptor_opened_in_a_chimera_task_is_not_the_joiners() {
    if !chimeras_run_here() {
        return;
    }
    assert_in_fork(|| {
        let Ok(spawner) = Spawner::new(Backend::Chimera) else {
            return 20;
        };
        // SAFETY: the task opens a file and returns its number, an integer: memory only.
        let Ok(task) = (unsafe {
            spawner.spawn(|| {
                let fd = sys::open(c"/dev/null", linux_raw_sys::general::O_RDONLY);
                fd.map(sys::Fd::into_raw)
            })
        }) else {
            return 1;
        };
        let Ok(Ok(number)) = task.join() else {
            return 2;
        };
        // The task's table held it; ours does not (the task has ended, and ours never had it).
        match sys::fd_flags(number) {
            Err(rawclone::Errno::EBADF) => 0,
            _ => 3,
        }
    });
}

/// A Chimera task killed while it holds a handle never drops it: the inner task's stack stays
/// out of the pool, as after `mem::forget` (`Spawner::spawn`'s contract).
#[test]
fn a_chimera_killed_while_holding_a_handle_leaks_that_tasks_stack() {
    if !chimeras_run_here() {
        return;
    }
    use core::sync::atomic::{AtomicI32, Ordering::SeqCst};
    static INNER: AtomicI32 = AtomicI32::new(0);
    assert_in_fork(|| {
        let Ok(spawner) = Spawner::new(Backend::Chimera) else {
            return 20;
        };
        let at = &spawner as *const Spawner as usize;
        let outer = move || {
            // SAFETY: the spawner outlives this task: its owner drops it only after the join.
            let spawner = unsafe { &*(at as *const Spawner) };
            // SAFETY: the inner task sleeps with raw syscalls until it is killed.
            let inner = unsafe {
                spawner.spawn(|| {
                    loop {
                        let _ = sys::sleep_ms(1000);
                    }
                })
            };
            INNER.store(inner.as_ref().map_or(-1, |h| h.tid().unwrap_or(-1)), SeqCst);
            loop {
                let _ = sys::sleep_ms(1000);
            }
        };
        // SAFETY: as above: raw syscalls and atomics only.
        let Ok(outer) = (unsafe { spawner.spawn(outer) }) else {
            return 1;
        };
        while INNER.load(SeqCst) == 0 {
            sys::sched_yield();
        }
        let inner = INNER.load(SeqCst);
        if inner < 0 {
            return 4;
        }
        let _ = sys::kill(outer.tid().unwrap_or(-1), rawclone::Signal::SIGKILL);
        match outer.join() {
            Err(rawclone::Error::TaskEnded(Some(rawclone::ExitStatus::Signaled { .. }))) => {}
            _ => return 2,
        }
        // The inner task lives on (an orphan now) on a stack no handle will give back.
        let _ = sys::kill(inner, rawclone::Signal::SIGKILL);
        if spawner.idle_stacks() != 1 {
            return 3;
        }
        0
    });
}
