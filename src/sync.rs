//! Parent/child handshakes.
//!
//! Two mechanisms, chosen by what parent and child share:
//! - a child that shares the address space is joined through a futex word: the kernel zeroes the
//!   `CLONE_CHILD_CLEARTID` word when the child exits and wakes waiters on it;
//! - a child with memory of its own is held at a [`Gate`], one end of a `SOCK_SEQPACKET`
//!   socketpair (close-on-exec, as the container seed does): it waits for one message before
//!   running its entry, and reads end-of-file instead if the parent gave up and closed its end.

use crate::error::{Error, Result};
use crate::sys::{self, Fd};
use core::sync::atomic::{AtomicU32, Ordering};
use syscalls::Errno;

/// Sleep until `word` is zero, as the kernel leaves a `CLONE_CHILD_CLEARTID` word when the child
/// exits. Plain (shared) `FUTEX_WAIT`, retried on EINTR and on spurious or early wake-ups.
pub fn wait_until_zero(word: &AtomicU32) {
    loop {
        let seen = word.load(Ordering::Acquire);
        if seen == 0 {
            return;
        }
        // EAGAIN: the word changed before we slept; EINTR: a signal. Both mean: look again.
        match sys::futex_wait(word, seen) {
            Ok(()) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(e) => panic!("futex wait on a live word failed: {e}"),
        }
    }
}

/// The parent's side of a gate: dropping it without [`Gate::open`] makes the child give up.
#[derive(Debug)]
pub struct Gate {
    parent: Fd,
}

/// The child's side of a gate, carried into the child by value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GateChild {
    /// The child's end.
    pub own: i32,
    /// The parent's end, which the child closes so that the parent's exit reads as end-of-file.
    pub parent: i32,
}

impl Gate {
    /// A new socketpair: the parent's side, and the raw ends for the child.
    pub(crate) fn new() -> Result<(Gate, Fd, GateChild)> {
        let (parent, child) = sys::seqpacket_pair().map_err(|e| Error::sys("socketpair", e))?;
        let raw = GateChild {
            own: child.as_raw(),
            parent: parent.as_raw(),
        };
        Ok((Gate { parent }, child, raw))
    }

    /// Release the child.
    pub fn open(self) -> Result<()> {
        match sys::write(self.parent.as_raw(), &[1]) {
            Ok(_) => Ok(()),
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => Err(Error::ChildGone),
            Err(e) => Err(Error::sys("write", e)),
        }
    }
}

impl GateChild {
    /// In the child: close the parent's end and wait for the release. `false` if the parent went
    /// away instead.
    pub(crate) fn pass(self) -> bool {
        let _ = sys::close(self.parent);
        let mut byte = [0u8; 1];
        let released = loop {
            match sys::read(self.own, &mut byte) {
                Err(Errno::EINTR) => continue,
                Ok(1) => break true,
                _ => break false,
            }
        };
        let _ = sys::close(self.own);
        released
    }
}
