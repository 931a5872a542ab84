//! Stress: several std threads spawn into one Spawner and join at once while signals arrive
//! (SIGCHLD and SIGURG storms, and a SIGUSR1 handler that calls libc where libc is linked):
//! every join returns its task's value, nothing hangs, and no fd, mapping or child is left.
//! The quick run is part of the test command; the 100,000-task run is `--ignored`, for CI's
//! long step.

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use rawclone::{Backend, Signal, Spawner, sys};
use std::sync::Mutex;

/// One stress run at a time: they share this process's signal handlers.
static SERIAL: Mutex<()> = Mutex::new(());
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn handler(_: i32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: write(2) is async-signal-safe, and this handler only runs on libc's own threads
    // (Spawner tasks block every signal but the faults): -1 fails with EBADF into errno.
    unsafe {
        libc::write(-1, b"x".as_ptr().cast(), 1);
    }
    HANDLED.fetch_add(1, SeqCst);
}

fn stress(backend: Backend, tasks: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if backend == Backend::Chimera && qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    // SAFETY: `handler` is async-signal-safe on the threads it can run on.
    unsafe {
        sys::set_signal_handler(Signal::SIGUSR1, handler).unwrap();
        sys::set_signal_handler(Signal::SIGCHLD, handler).unwrap();
    }
    // A first, small round lets libc cache the std threads' stacks, so the counts after the
    // real round compare with the counts before it.
    round(backend, 40);
    let (fds, maps) = (open_fds(), mappings());
    round(backend, tasks);
    assert!(HANDLED.load(SeqCst) > 0, "no handler ran");
    assert!(!has_children(), "a task's zombie is left");
    assert_eq!(open_fds(), fds, "descriptors leaked");
    // libc may still add an arena or cache another thread stack in the second round; a task's
    // leaked stack would show thousands of times over (tests/spawner_scale.rs counts exactly).
    let after = mappings();
    assert!(after <= maps + 16, "mappings leaked: {maps} -> {after}");
}

/// `tasks` tasks spawned and joined by four std threads into one fresh Spawner, under a storm.
fn round(backend: Backend, tasks: u64) {
    let spawner = Spawner::config(backend).workers(2).build().unwrap();
    const SPAWNERS: u64 = 4;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // The storm: process-directed signals, as fast as one thread sends them.
        let storm = s.spawn(|| {
            let mut sent = 0u64;
            loop {
                for sig in [Signal::SIGCHLD, Signal::SIGURG, Signal::SIGUSR1] {
                    let _ = sys::kill(sys::getpid(), sig);
                }
                sent += 3;
                if done.load(SeqCst) {
                    return sent;
                }
                std::thread::yield_now();
            }
        });
        let workers: Vec<_> = (0..SPAWNERS)
            .map(|w| {
                let spawner = &spawner;
                s.spawn(move || {
                    for i in 0..tasks / SPAWNERS {
                        let n = w * 1_000_000_000 + i;
                        // SAFETY: the task only computes.
                        let task = unsafe { spawner.spawn(move || n * 2) }.expect("spawn");
                        assert_eq!(task.join().expect("join"), n * 2, "task {n}");
                    }
                    tasks / SPAWNERS
                })
            })
            .collect();
        let joined: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        done.store(true, SeqCst);
        assert!(storm.join().unwrap() > 0);
        assert_eq!(joined, tasks / SPAWNERS * SPAWNERS);
    });
}

#[test]
fn quick_thread() {
    stress(Backend::Thread, 4_000);
}

#[test]
fn quick_chimera() {
    stress(Backend::Chimera, 4_000);
}

#[test]
fn quick_green() {
    stress(Backend::Green, 4_000);
}

#[test]
#[ignore = "100,000 tasks per backend: CI's long step"]
fn long_every_backend() {
    for backend in [Backend::Thread, Backend::Chimera, Backend::Green] {
        stress(backend, 100_000);
    }
}
