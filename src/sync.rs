//! Parent/child handshakes.
//!
//! Also the small `Lock` the spawner's pool and run queue use: a futex mutex, since no_std has
//! none and a spinlock would burn a CPU whenever a holder is preempted.
//!
//! Two handshake mechanisms, chosen by what parent and child share:
//! - a child that shares the address space is joined through a futex word: the kernel zeroes the
//!   `CLONE_CHILD_CLEARTID` word when the child exits and wakes waiters on it;
//! - a child with memory of its own is held at a gate ([`crate::Builder::gated`], opened by
//!   [`crate::Child::release`]), one end of a `SOCK_SEQPACKET` socketpair (close-on-exec, as the
//!   container seed does): it waits for one message before running its entry, and reads
//!   end-of-file instead if the parent gave up and closed its end.
//!   Messages are eight bytes, a code and a value, so a namespaced child (`crate::ns`) answers
//!   over the same socket: ready, the setup step that failed, or the errno of a failed exec.

use crate::error::{Error, Result};
use crate::sys::{self, BorrowedFd, Fd};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};
use syscalls::Errno;

/// Sleep until `word` is zero, as the kernel leaves a `CLONE_CHILD_CLEARTID` word when the child
/// exits. Plain (shared) `FUTEX_WAIT`, retried on EINTR and on spurious or early wake-ups.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use rawclone::{Builder, CloneFlags, Stack, sync::wait_until_zero};
/// let word = AtomicU32::new(1);
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the child only returns a number; `word` outlives it.
/// let child = unsafe {
///     Builder::new().flags(CloneFlags::VM).child_cleartid(word.as_ptr()).spawn(&mut stack, || 0)?
/// };
/// wait_until_zero(&word); // the kernel zeroes the word and wakes us as the child exits
/// assert_eq!(word.load(Ordering::Relaxed), 0);
/// assert!(child.wait()?.success());
/// # Ok::<(), rawclone::Error>(())
/// ```
pub fn wait_until_zero(word: &AtomicU32) {
    wait_for_zero(word, None);
}

/// [`wait_until_zero`] until `deadline` at the latest: whether the word is zero.
pub(crate) fn wait_until_zero_or(word: &AtomicU32, deadline: sys::Deadline) -> bool {
    wait_for_zero(word, Some(deadline))
}

/// The one wait loop of both: whether the word is zero when it returns.
fn wait_for_zero(word: &AtomicU32, deadline: Option<sys::Deadline>) -> bool {
    loop {
        let seen = word.load(Ordering::Acquire);
        if seen == 0 {
            return true;
        }
        // EAGAIN: the word changed before we slept; EINTR: a signal: look again. ETIMEDOUT: the
        // deadline passed: look once more.
        match sys::futex_wait_until(word, seen, deadline) {
            Ok(()) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(Errno::ETIMEDOUT) => return word.load(Ordering::Acquire) == 0,
            Err(e) => panic!("futex wait on a live word failed: {e}"),
        }
    }
}

/// How many times a waiter looks at a word before it asks the kernel to sleep: a peer on another
/// CPU usually answers within that time, and a futex sleep and wake-up cost microseconds.
pub(crate) const SPINS: u32 = 1 << 12;

/// Look up to `spins` times whether `done()`, with a `spin_loop` hint between looks: whether it
/// became true. The one busy wait of the crate, ahead of each futex sleep that may follow.
pub(crate) fn spin_until(spins: u32, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..spins {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    done()
}

/// A mutual-exclusion lock over a futex word (0 free, 1 held, 2 held with sleepers), after
/// Drepper's "Futexes Are Tricky". Short critical sections only; not reentrant.
pub(crate) struct Lock<T> {
    word: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out one guard at a time, so sharing it shares `T` as a Mutex would.
unsafe impl<T: Send> Sync for Lock<T> {}

/// Access to a [`Lock`]'s value; unlocks on drop.
pub(crate) struct Guard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Lock<T> {
        Lock {
            word: AtomicU32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    pub(crate) fn lock(&self) -> Guard<'_, T> {
        if self
            .word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        Guard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let free = || {
            self.word
                .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        };
        if spin_until(SPINS / 16, free) {
            return;
        }
        // Mark the lock as having sleepers before each sleep, so the holder wakes us.
        while self.word.swap(2, Ordering::Acquire) != 0 {
            let _ = sys::futex_wait(&self.word, 2);
        }
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no other reference exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for deref; the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if self.lock.word.swap(0, Ordering::Release) == 2 {
            let _ = sys::futex_wake(&self.lock.word, 1);
        }
    }
}

/// The parent's side of a gate: dropping it without [`Gate::open`] makes the child give up. A
/// gate comes with a child spawned by a [`crate::Builder::gated`] request, which keeps it;
/// [`crate::Child::release`] opens it.
#[derive(Debug)]
pub(crate) struct Gate {
    parent: Fd,
}

/// The child's side of a gate, carried into the child by value: raw descriptors, since the child
/// owns copies of the parent's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GateChild {
    /// The child's end.
    pub own: i32,
    /// The parent's end, which the child closes so that the parent's exit reads as end-of-file.
    pub parent: i32,
}

/// A message on a gate's socket: a code and a value, eight bytes.
pub(crate) type Message = (u32, u32);

/// The code of the message that releases the child.
pub(crate) const GO: u32 = 0x676f;

fn send_message(fd: BorrowedFd<'_>, (code, value): Message) -> core::result::Result<(), Errno> {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&code.to_ne_bytes());
    msg[4..].copy_from_slice(&value.to_ne_bytes());
    sys::write(fd, &msg).map(drop)
}

/// The next message, or `None` at end-of-file (the peer and every copy of its end are gone).
fn receive_message(fd: BorrowedFd<'_>) -> core::result::Result<Option<Message>, Errno> {
    let mut msg = [0u8; 8];
    loop {
        match sys::read(fd, &mut msg) {
            Err(Errno::EINTR) => continue,
            Ok(8) => {
                let word =
                    |i: usize| u32::from_ne_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
                return Ok(Some((word(0), word(4))));
            }
            Ok(_) | Err(Errno::ECONNRESET) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

impl Gate {
    /// A new socketpair: the parent's side, the child's end (for the parent to close once the
    /// child exists), and the raw ends for the child.
    pub(crate) fn new() -> Result<(Gate, Fd, GateChild)> {
        let (parent, child) = sys::seqpacket_pair().map_err(|e| Error::sys("socketpair", e))?;
        let raw = GateChild {
            own: child.as_raw(),
            parent: parent.as_raw(),
        };
        Ok((Gate { parent }, child, raw))
    }

    /// Release the child.
    pub(crate) fn open(self) -> Result<()> {
        self.send((GO, 0))
    }

    /// Send a message to the child.
    pub(crate) fn send(&self, message: Message) -> Result<()> {
        match send_message(self.parent.as_fd(), message) {
            Ok(()) => Ok(()),
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => Err(Error::ChildGone),
            Err(e) => Err(Error::sys("write", e)),
        }
    }

    /// The child's next message; `None` once its end is closed (it exited, or exec'd: the end
    /// is close-on-exec).
    pub(crate) fn receive(&self) -> Result<Option<Message>> {
        receive_message(self.parent.as_fd()).map_err(|e| Error::sys("read", e))
    }
}

impl GateChild {
    /// The child's end, borrowed.
    fn own(self) -> BorrowedFd<'static> {
        // SAFETY: in the child, `own` is the child's copy of its end, open until `close`, which
        // is the last use of it.
        unsafe { BorrowedFd::borrow_raw(self.own) }
    }

    /// In the child: close the parent's end, so that the parent's death reads as end-of-file.
    pub(crate) fn close_parent_end(self) {
        // SAFETY: the child owns its copy of the parent's end (its own fd table) and never uses it.
        let _ = unsafe { sys::close(self.parent) };
    }

    /// In the child: wait for the release; `false` if the parent went away instead.
    pub(crate) fn wait_go(self) -> bool {
        matches!(receive_message(self.own()), Ok(Some((GO, _))))
    }

    /// In the child: tell the parent something (errors are the parent's to notice: it reads
    /// end-of-file).
    pub(crate) fn send(self, message: Message) {
        let _ = send_message(self.own(), message);
    }

    /// In the child: close its end.
    pub(crate) fn close(self) {
        // SAFETY: the child owns its copy of its end, and this is the last use of it.
        let _ = unsafe { sys::close(self.own) };
    }

    /// In the child: close the parent's end, wait for the release, close the child's end.
    /// `false` if the parent went away instead.
    pub(crate) fn pass(self) -> bool {
        self.close_parent_end();
        let released = self.wait_go();
        self.close();
        released
    }
}
