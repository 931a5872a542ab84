//! Chimera tasks joined from another process of their address space, waiting for their creator
//! to reap them.
//!
//! A Chimera task is a process, so only the process that created it can reap it (`waitid`), and
//! its pidfd lives in that process's fd table. Any process sharing the address space can still
//! join it: the kernel zeroes the task's `CLONE_CHILD_CLEARTID` word when the task lets go of
//! the memory, so a joiner that waits for that word knows the stack is free and the value
//! written. Such a joiner hands the task over here, and the creator reaps it (and closes its
//! pidfd) the next time it spawns or joins a Chimera task once the task is a zombie (the word is
//! zeroed a little before that), and at the latest when it drops the spawner.
//!
//! A creator is named by its pid and, inside a Chimera task, that task's id ([`Creator`]), so a
//! later process that happens to get a dead creator's pid is never taken for it. When a Chimera
//! task that created others ends (its join), what was handed over to it is dropped, and so is
//! what is handed over later: its fd table is gone and its children went to the nearest
//! subreaper or init, which reaps them. The table has [`SLOTS`] entries: with all of them taken,
//! the pidfd stays open in the creator until it ends, and so does the zombie.

use crate::sys::{self, Pid, WaitId};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Entries in the table.
pub(crate) const SLOTS: usize = 256;

const FREE: u32 = 0;
/// Being filled by a joiner, or looked at by the creator.
const BUSY: u32 = 1;
const READY: u32 = 2;

/// Which process created a Chimera task: its pid, and the id of the Chimera task it is (0 for
/// a process that is no spawner task).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Creator {
    pid: Pid,
    task: u64,
}

impl Creator {
    /// The calling process: the same answer from every thread of it (its Thread tasks and Green
    /// workers carry its tag in their blocks).
    pub(crate) fn this() -> Creator {
        Creator {
            pid: sys::getpid(),
            task: crate::control::this_block().map_or(0, |b| b.process),
        }
    }
}

struct Orphan {
    state: AtomicU32,
    pid: AtomicI32,
    task: AtomicU64,
    child: AtomicI32,
    pidfd: AtomicI32,
}

impl Orphan {
    fn creator(&self) -> Creator {
        Creator {
            pid: self.pid.load(Ordering::Relaxed),
            task: self.task.load(Ordering::Relaxed),
        }
    }
}

/// Chimera tasks remembered as ended, so that a hand-over to one of them is dropped.
const RETIRED: usize = 64;

/// Tasks handed over by joiners in other processes, for their creators.
pub(crate) struct Orphans {
    slots: [Orphan; SLOTS],
    /// Ids of Chimera tasks that have ended (a ring): a creator that is gone reaps nothing; its
    /// fd table went with it and its children went to init (or the nearest subreaper).
    retired: [AtomicU64; RETIRED],
    next_retired: AtomicUsize,
    /// Slots in use (handed over, not yet freed): when none is, spawns and joins scan nothing.
    filled: AtomicUsize,
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

/// Whether [`Orphans::reap_mine`] waits for a task that is not a zombie yet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Reap what is ready; leave the rest for the next time.
    Ready,
    /// Wait for every task handed over to this process (they have ended; only their last steps
    /// in the kernel remain).
    All,
}

impl Orphans {
    pub(crate) const fn new() -> Orphans {
        Orphans {
            slots: [const {
                Orphan {
                    state: AtomicU32::new(FREE),
                    pid: AtomicI32::new(0),
                    task: AtomicU64::new(0),
                    child: AtomicI32::new(0),
                    pidfd: AtomicI32::new(-1),
                }
            }; SLOTS],
            retired: [const { AtomicU64::new(0) }; RETIRED],
            next_retired: AtomicUsize::new(0),
            filled: AtomicUsize::new(0),
        }
    }

    /// A slot in use becomes free.
    fn release(&self, slot: &Orphan) {
        slot.state.store(FREE, Ordering::Release);
        self.filled.fetch_sub(1, Ordering::SeqCst);
    }

    /// The Chimera task `id` has ended: free what was handed over to it, and refuse what comes.
    pub(crate) fn retire(&self, id: u64) {
        let at = self.next_retired.fetch_add(1, Ordering::SeqCst) % RETIRED;
        self.retired[at].store(id, Ordering::SeqCst);
        if self.filled.load(Ordering::SeqCst) == 0 {
            return; // a hand-over still to come sees the record above
        }
        for slot in &self.slots {
            if slot.state.load(Ordering::SeqCst) == READY && slot.task.load(Ordering::Relaxed) == id
            {
                self.free_if(slot, id);
            }
        }
    }

    /// Free `slot` without reaping if it is READY for the ended creator task `id`.
    fn free_if(&self, slot: &Orphan, id: u64) {
        if slot
            .state
            .compare_exchange(READY, BUSY, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            if slot.task.load(Ordering::Relaxed) == id {
                self.release(slot);
            } else {
                slot.state.store(READY, Ordering::Release);
            }
        }
    }

    /// Leave the ended task `child` (its pidfd `pidfd` in `creator`'s table, or -1) to `creator`.
    /// Returns `false` when the table is full.
    pub(crate) fn hand_over(&self, creator: Creator, child: Pid, pidfd: i32) -> bool {
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.pid.store(creator.pid, Ordering::Relaxed);
                slot.task.store(creator.task, Ordering::Relaxed);
                slot.child.store(child, Ordering::Relaxed);
                slot.pidfd.store(pidfd, Ordering::Relaxed);
                self.filled.fetch_add(1, Ordering::SeqCst);
                slot.state.store(READY, Ordering::SeqCst);
                // A creator that has ended will never reap it (its child went to init): drop
                // the slot again. Published before this look, as `retire` records before it
                // sweeps, so one of the two always sees the other.
                let gone = creator.task != 0
                    && self
                        .retired
                        .iter()
                        .any(|r| r.load(Ordering::SeqCst) == creator.task);
                if gone {
                    self.free_if(slot, creator.task);
                }
                return true;
            }
        }
        false
    }

    /// In a creator: reap the tasks handed over to this process and close their pidfds.
    pub(crate) fn reap_mine(&self, wait: Wait) {
        if self.filled.load(Ordering::Acquire) == 0 {
            return;
        }
        let me = Creator::this();
        for slot in &self.slots {
            if slot.state.load(Ordering::Acquire) != READY || slot.creator() != me {
                continue;
            }
            if slot
                .state
                .compare_exchange(READY, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Between the look and the claim another thread of ours may have reaped the slot and
            // a joiner refilled it for someone else: look again now that it is ours to read.
            if slot.creator() != me {
                slot.state.store(READY, Ordering::Release);
                continue;
            }
            let (child, pidfd) = (
                slot.child.load(Ordering::Relaxed),
                slot.pidfd.load(Ordering::Relaxed),
            );
            if reap(child, pidfd, wait) {
                self.release(slot);
            } else {
                slot.state.store(READY, Ordering::Release); // not a zombie yet: next time
            }
        }
    }
}

/// Reap `child` through its pidfd (or its pid) and close the pidfd; `false` if `wait` is
/// [`Wait::Ready`] and it is not a zombie yet (nothing is closed then).
fn reap(child: Pid, pidfd: i32, wait: Wait) -> bool {
    let mut options = k::WEXITED | k::__WALL;
    if wait == Wait::Ready {
        options |= k::WNOHANG;
    }
    let mut by_pid = pidfd < 0;
    if pidfd >= 0 {
        // SAFETY: the handed-over pidfd is this process's; nothing else uses it. ManuallyDrop:
        // it is closed below only once the task is reaped.
        let fd = core::mem::ManuallyDrop::new(unsafe { sys::Fd::from_raw(pidfd) });
        loop {
            match sys::waitid(WaitId::PidFd(&fd), options) {
                Err(Errno::EINTR) => continue,
                Ok(info) if info.pid == 0 => return false,
                Err(Errno::EINVAL) => by_pid = true, // no P_PIDFD before Linux 5.4
                _ => {}
            }
            break;
        }
    }
    if by_pid {
        // The pid is our unreaped child's until we reap it, so it names no one else.
        loop {
            match sys::waitid(WaitId::Pid(child), options) {
                Err(Errno::EINTR) => continue,
                Ok(info) if info.pid == 0 => return false,
                _ => break,
            }
        }
    }
    if pidfd >= 0 {
        // SAFETY: as above; the task is reaped and this is the pidfd's last use.
        let _ = unsafe { sys::close(pidfd) };
    }
    true
}
