//! Scale: 10,000 tasks in sequence leave no trace, and 10,000 live green tasks with 16 KiB
//! stacks fit in 256 MiB.
//!
//! One test in its own binary, so that no other test's threads, children or mappings move the
//! counts it compares.

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use rawclone::{Backend, Spawner};

const TASKS: usize = 10_000;

/// A field of /proc/self/status in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn ten_thousand_in_sequence(backend: Backend) {
    let before = (open_fds(), mappings(), has_children());
    let spawner = Spawner::new(backend).unwrap();
    let mut warm = None;
    for i in 0..TASKS {
        // SAFETY: the task only returns its argument.
        let h = unsafe { spawner.spawn(move || i) }.unwrap();
        assert_eq!(h.join().unwrap(), i);
        if i == 0 {
            warm = Some(mappings());
        }
    }
    assert_eq!(
        Some(mappings()),
        warm,
        "{backend:?}: the pool reuses one stack"
    );
    assert_eq!(spawner.idle_stacks(), 1);
    drop(spawner);
    let after = (open_fds(), mappings(), has_children());
    assert_eq!(
        before, after,
        "{backend:?}: (fds, mappings, children) before and after"
    );
}

fn ten_thousand_live_green_tasks() {
    const STACK: usize = 16 * 1024;
    const BUDGET_KIB: u64 = 256 * 1024;
    let release = AtomicBool::new(false);
    let spawner = Spawner::config(Backend::Green)
        .stack_size(STACK)
        .workers(2)
        .build()
        .unwrap();
    spawner.scope(|s| {
        let mut handles = Vec::with_capacity(TASKS);
        let (rss0, size0) = (status_kib("VmRSS:"), status_kib("VmSize:"));
        for _ in 0..TASKS {
            // SAFETY: the task polls an atomic and yields.
            let h = unsafe {
                s.spawn(|| {
                    while !release.load(SeqCst) {
                        rawclone::yield_now();
                    }
                })
            };
            handles.push(h.unwrap());
        }
        let (rss, size) = (status_kib("VmRSS:") - rss0, status_kib("VmSize:") - size0);
        eprintln!(
            "{TASKS} live green tasks with {} KiB stacks: +{} MiB mapped, +{} MiB resident",
            STACK / 1024,
            size / 1024,
            rss / 1024
        );
        assert!(size < BUDGET_KIB, "mapped {size} KiB for {TASKS} tasks");
        assert!(rss < BUDGET_KIB, "resident {rss} KiB for {TASKS} tasks");
        release.store(true, SeqCst);
        for h in handles.drain(..) {
            h.join().unwrap();
        }
    });
    assert_eq!(spawner.idle_stacks(), TASKS);
}

#[test]
fn ten_thousand_tasks() {
    for backend in [Backend::Thread, Backend::Chimera, Backend::Green] {
        if backend == Backend::Chimera && qemu_user() {
            skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
            continue;
        }
        ten_thousand_in_sequence(backend);
    }
    ten_thousand_live_green_tasks();
}
