//! Chimera tasks joined from another process of their address space, waiting for their creator
//! to reap them.
//!
//! A Chimera task is a process, so only the process that created it can reap it (`waitid`), and
//! its pidfd lives in that process's fd table. Any process sharing the address space can still
//! join it: the kernel zeroes the task's `CLONE_CHILD_CLEARTID` word when the task lets go of
//! the memory, so a joiner that waits for that word knows the stack is free and the value
//! written. Such a joiner hands the zombie over here, and the creator reaps it (and closes its
//! pidfd) the next time it spawns, joins a Chimera task, or drops the spawner.
//!
//! The table has [`SLOTS`] entries. With all of them taken, or when the creator ends before it
//! gets to them, the zombie is reaped by whoever inherits it (the nearest subreaper, or init)
//! once the creator ends.

use crate::sys::{self, Pid, WaitId};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Entries in the table.
pub(crate) const SLOTS: usize = 64;

const FREE: u32 = 0;
/// Being filled by a joiner, or emptied by the creator.
const BUSY: u32 = 1;
const READY: u32 = 2;

struct Orphan {
    state: AtomicU32,
    creator: AtomicI32,
    pid: AtomicI32,
    pidfd: AtomicI32,
}

/// Zombies handed over by joiners in other processes, for their creators.
pub(crate) struct Orphans {
    slots: [Orphan; SLOTS],
}

impl core::fmt::Debug for Orphans {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let waiting = self
            .slots
            .iter()
            .filter(|s| s.state.load(Ordering::Relaxed) == READY)
            .count();
        f.debug_struct("Orphans")
            .field("waiting", &waiting)
            .finish()
    }
}

impl Orphans {
    pub(crate) const fn new() -> Orphans {
        Orphans {
            slots: [const {
                Orphan {
                    state: AtomicU32::new(FREE),
                    creator: AtomicI32::new(0),
                    pid: AtomicI32::new(0),
                    pidfd: AtomicI32::new(-1),
                }
            }; SLOTS],
        }
    }

    /// Leave the ended task `pid` (its pidfd `pidfd` in `creator`'s table, or -1) to `creator`.
    /// Returns `false` when the table is full.
    pub(crate) fn hand_over(&self, creator: Pid, pid: Pid, pidfd: i32) -> bool {
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.creator.store(creator, Ordering::Relaxed);
                slot.pid.store(pid, Ordering::Relaxed);
                slot.pidfd.store(pidfd, Ordering::Relaxed);
                slot.state.store(READY, Ordering::Release);
                return true;
            }
        }
        false
    }

    /// In a creator: reap every task handed over to this process and close its pidfd. The tasks
    /// have ended, so nothing here blocks.
    pub(crate) fn reap_mine(&self) {
        let me = sys::getpid();
        for slot in &self.slots {
            let mine = slot.state.load(Ordering::Acquire) == READY
                && slot.creator.load(Ordering::Relaxed) == me;
            if !mine
                || slot
                    .state
                    .compare_exchange(READY, BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let (pid, pidfd) = (
                slot.pid.load(Ordering::Relaxed),
                slot.pidfd.load(Ordering::Relaxed),
            );
            let options = k::WEXITED | k::WNOHANG | k::__WALL;
            if pidfd >= 0 {
                // SAFETY: the handed-over pidfd is this process's and nothing else holds it.
                let fd = unsafe { sys::Fd::from_raw(pidfd) };
                if matches!(sys::waitid(WaitId::PidFd(&fd), options), Err(Errno::EINVAL)) {
                    let _ = sys::waitid(WaitId::Pid(pid), options); // no P_PIDFD before 5.4
                }
            } else {
                // WNOHANG: the task's zombie is there to reap, and a pid that names anything
                // else is never waited for.
                let _ = sys::waitid(WaitId::Pid(pid), options);
            }
            slot.state.store(FREE, Ordering::Release);
        }
    }
}
