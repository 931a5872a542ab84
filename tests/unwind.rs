// glibc only: musl's abort() signals the thread id it cached at start-up, which in a child that
// rawclone cloned (libc never saw the clone) is the parent's, so the abort would kill the test
// harness. The aarch64 child entry's CFI is the same shape; see arch/aarch64.rs.
#![cfg(target_env = "gnu")]
//! The unwinder (libgcc, under Rust's panic runtime) stops at the clone trampoline's child entry,
//! whose CFI marks it as the outermost frame. A panic in a child with a copy of the parent's
//! memory (no `catch_unwind` below it) therefore finds no handler and aborts cleanly ("failed to
//! initiate panic", SIGABRT), instead of unwinding on into stale parent frames above the child's
//! stack top until it faults ("has overflowed its stack").

mod common;

use rawclone::{Builder, ExitStatus, Signal, Stack, sys};

#[test]
fn panic_in_a_copied_child_aborts() {
    let (ours, theirs) = sys::seqpacket_pair().expect("socketpair");
    let mut stack = Stack::map(256 * 1024).expect("stack");
    let to_parent = theirs.as_raw() as usize;
    let panics = move || -> i32 {
        // stderr becomes the socket, where the runtime writes why it aborts.
        // SAFETY: dup3 onto fd 2 of the child, which has a file table of its own.
        let dup = unsafe { syscalls::syscall3(syscalls::Sysno::dup3, to_parent, 2, 0) };
        if dup.is_err() {
            return 1;
        }
        panic!("deliberate panic in a copied-memory child");
    };
    // SAFETY: the child has a copy of this process's memory and its own stack; its panic ends it
    // and touches nothing of the parent. This file holds one test, so no other test thread can
    // hold a lock (the allocator's, stderr's) that the copy would then wait for forever.
    let child = unsafe { Builder::new().spawn(&mut stack, panics) };
    let child = spawn_or_skip!(child, "a copied-memory child on its own stack");
    let status = child.wait().expect("wait");
    drop(theirs);
    let mut said = String::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = sys::read(ours.as_fd(), &mut buf) {
        said.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        !said.contains("overflowed its stack"),
        "the unwinder ran off the child's stack:\n{said}"
    );
    assert!(
        said.contains("failed to initiate panic"),
        "the unwinder must find the end of the stack, and the runtime then aborts:\n{said}"
    );
    assert!(
        matches!(
            status,
            ExitStatus::Signaled {
                signal: Signal::SIGABRT,
                ..
            }
        ),
        "the panicking child must abort: {status:?}"
    );
}
