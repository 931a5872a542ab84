//! Scale: 10,000 tasks in sequence leave no trace, and 10,000 live green tasks with 16 KiB
//! stacks fit in 256 MiB.
//!
//! The counts (fds, mappings, children) are compared inside a forked child, which no other test
//! thread shares; the live green tasks are measured in this process, whose other tests keep their
//! memory in forked children.

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use rawclone::{Backend, Spawner};

const TASKS: usize = 10_000;

per_backend!(ten_thousand_in_sequence_leave_no_trace);

fn ten_thousand_in_sequence_leave_no_trace(backend: Backend) {
    if backend == Backend::Chimera && qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    // In a fork: raw syscalls and atomics only, a numbered exit code for each check.
    assert_in_fork(|| {
        let before = (open_fds(), mappings(), has_children());
        let Ok(spawner) = Spawner::config(backend).workers(1).build() else {
            return 1;
        };
        let mut warm = 0;
        for i in 0..TASKS {
            // SAFETY: the task only returns its argument.
            match unsafe { spawner.spawn(move || i) }.map(|h| h.join()) {
                Ok(Ok(v)) if v == i => {}
                _ => return 2,
            }
            if i == 0 {
                warm = mappings();
            }
        }
        if mappings() != warm || spawner.idle_stacks() != 1 {
            return 3; // the pool reuses one stack
        }
        drop(spawner);
        if (open_fds(), mappings(), has_children()) != before {
            return 4;
        }
        0
    });
}

/// Bytes mapped, summed over /proc/self/maps: the program's own view of its address space, which
/// qemu-user emulates for the guest (its VmSize would count the emulator's own mappings too).
fn mapped_kib() -> u64 {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let range = |line: &str| {
        let (low, high) = line.split_whitespace().next()?.split_once('-')?;
        Some(u64::from_str_radix(high, 16).ok()? - u64::from_str_radix(low, 16).ok()?)
    };
    maps.lines().filter_map(range).sum::<u64>() / 1024
}

#[test]
fn ten_thousand_live_green_tasks_fit_in_256_mib() {
    const STACK: usize = 16 * 1024;
    const BUDGET_KIB: u64 = 256 * 1024;
    let release = AtomicBool::new(false);
    let spawner = Spawner::config(Backend::Green)
        .stack_size(STACK)
        .workers(2)
        .build()
        .unwrap();
    let (rss, size) = spawner.scope(|s| {
        let mut handles = Vec::with_capacity(TASKS);
        let (rss0, size0) = (status_kib(b"VmRSS:"), mapped_kib());
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
        let grown = (status_kib(b"VmRSS:") - rss0, mapped_kib() - size0);
        // Let every task end before any assertion can fail: a panic here would otherwise leave
        // the scope waiting for tasks that wait for `release`.
        release.store(true, SeqCst);
        for h in handles.drain(..) {
            h.join().unwrap();
        }
        grown
    });
    eprintln!(
        "{TASKS} live green tasks with {} KiB stacks: +{} MiB mapped, +{} MiB resident",
        STACK / 1024,
        size / 1024,
        rss / 1024
    );
    assert!(size < BUDGET_KIB, "mapped {size} KiB for {TASKS} tasks");
    assert!(rss < BUDGET_KIB, "resident {rss} KiB for {TASKS} tasks");
    // The pool keeps as many as its limit allows and unmapped the rest.
    assert_eq!(spawner.idle_stacks(), TASKS.min(spawner.kept_idle_stacks()));
    assert!(
        spawner.kept_idle_stacks() < TASKS,
        "the default limit is below 10,000 16 KiB stacks"
    );
}
