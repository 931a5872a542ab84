//! Who reaps a Chimera task joined from another process: its creator, named the same from every
//! thread of the creator's process (a Thread task inside a Chimera task included), and never a
//! creator that has ended (what is handed over to one is dropped, so the table never fills up).

mod common;

use common::*;
use core::sync::atomic::{AtomicI32, Ordering::SeqCst};
use linux_raw_sys::general as k;
use rawclone::{Backend, Spawner, sys};

static XPID: AtomicI32 = AtomicI32::new(0);

/// A Chimera task C joins, on its own thread, a Chimera task X that a Thread task of C created:
/// C is X's parent and holds X's pidfd, so C reaps X itself.
#[test]
fn a_creator_is_the_same_from_a_thread_task_inside_a_chimera() {
    if !chimeras_run_here() {
        return;
    }
    assert_in_fork(|| {
        let (Ok(chim), Ok(thr)) = (
            Spawner::new(Backend::Chimera),
            Spawner::new(Backend::Thread),
        ) else {
            return 20;
        };
        let (chim, thr) = (
            &chim as *const Spawner as usize,
            &thr as *const Spawner as usize,
        );
        let c = move || -> i32 {
            // SAFETY: both spawners outlive every task: their owner drops them after the joins.
            let (chim, thr) = unsafe { (&*(chim as *const Spawner), &*(thr as *const Spawner)) };
            // SAFETY: the tasks spawn, return and join with raw syscalls and atomics only.
            let Ok(t) = (unsafe { thr.spawn(move || chim.spawn(|| 5u32).ok()) }) else {
                return 10;
            };
            let Ok(Some(x)) = t.join() else { return 11 };
            let xpid = x.tid().unwrap_or(-1);
            XPID.store(xpid, SeqCst);
            if x.join() != Ok(5) {
                return 12;
            }
            match sys::waitid(sys::WaitId::Pid(xpid), k::WEXITED | k::WNOWAIT | k::__WALL) {
                Ok(info) if info.pid == xpid => 1, // still an unreaped zombie of C
                Err(rawclone::Errno::ECHILD) => 0,
                _ => 2,
            }
        };
        // SAFETY: as above.
        let Ok(c) = (unsafe { (*(chim as *const Spawner)).spawn(c) }) else {
            return 21;
        };
        c.join().unwrap_or(99)
    });
}

/// Chimera task C creates X and ends; X is then joined from this process and handed to C, which
/// is gone: the hand-over is dropped, so after more rounds than the table has slots a live
/// creator's hand-over still finds room and is reaped.
#[test]
fn hand_overs_to_ended_creators_do_not_fill_the_table() {
    if !chimeras_run_here() {
        return;
    }
    assert_in_fork(|| {
        let Ok(chim) = Spawner::new(Backend::Chimera) else {
            return 20;
        };
        let at = &chim as *const Spawner as usize;
        for _ in 0..260 {
            // SAFETY: the spawner outlives the task; the tasks spawn and return only.
            let c = unsafe { chim.spawn(move || (*(at as *const Spawner)).spawn(|| 1u32).ok()) };
            let Ok(Ok(Some(x))) = c.map(|c| c.join()) else {
                return 30;
            };
            if x.join() != Ok(1) {
                return 31; // a join from this process, handed to the ended C
            }
        }
        let _ = sys::sleep_ms(100);
        if has_children() {
            return 32;
        }
        // A live creator (this process): a sibling joins `slow` and hands it over here.
        // SAFETY: the task sleeps and returns.
        let Ok(slow) = (unsafe {
            chim.spawn(|| {
                let _ = sys::sleep_ms(50);
                7u32
            })
        }) else {
            return 33;
        };
        // SAFETY: the sibling joins through the handle: raw syscalls and atomics only.
        let joined =
            chim.scope(|s| unsafe { s.spawn(move || slow.join().is_ok()) }.map(|h| h.join()));
        if !matches!(joined, Ok(Ok(true))) {
            return 34;
        }
        drop(chim); // reaps everything handed over to this process
        if has_children() {
            return 35;
        }
        0
    });
}
