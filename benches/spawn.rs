//! Spawn-and-join costs of each rawclone mode against the baselines std and libc offer.
//!
//! Group and function ids are fixed so results compare across commits:
//! - `spawn_join`: `std_thread`, `libc_fork`, `raw_thread` (fresh stack each time),
//!   `raw_thread_static` (one pre-faulted stack: the floor the kernel allows), `raw_chimera`,
//!   `raw_fork`, `spawner_thread`, `spawner_chimera` (both starting tasks on the spawning CPU),
//!   `spawner_thread_spread` (the default: the kernel places the task), `spawner_green` (one
//!   worker);
//! - `spawn_exec`: `std_command`, `raw_vfork_exec`, both running `/bin/true`;
//! - `fork_by_rss`: `raw_fork`, `raw_chimera`, `raw_vfork_exec`, each with the parent holding 1,
//!   64 and 256 MiB of touched memory (parameter `1MiB`, `64MiB`, `256MiB`).
//!
//! `cargo run --release -- bench-report` turns criterion's estimates into the README's table.
//!
//! Children here only return or exit: no allocation, no libc (see the crate's safety rules).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rawclone::{Backend, Fork, Spawner, Stack, chimera, fork, sys, thread, vfork_exec};
use std::hint::black_box;

const STACK: usize = 64 * 1024;

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("std_thread", |b| {
        b.iter(|| std::thread::spawn(|| black_box(1usize)).join().unwrap())
    });
    g.bench_function("libc_fork", |b| {
        b.iter(|| {
            // SAFETY: the child exits at once with _exit, touching nothing.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: async-signal-safe.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            // SAFETY: waiting for our own child with a live status word.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            status
        })
    });
    // Right after libc_fork, so both fork a process of the same size.
    g.bench_function("raw_fork", |b| {
        b.iter(|| {
            // SAFETY: the child exits at once with a raw syscall.
            match unsafe { fork() }.unwrap() {
                Fork::Child => sys::exit_group(0),
                Fork::Parent(child) => child.wait().unwrap(),
            }
        })
    });
    g.bench_function("raw_thread", |b| {
        b.iter(|| {
            let mut stack = Stack::map(STACK).unwrap();
            // SAFETY: the thread only returns a value.
            unsafe { thread(&mut stack, || black_box(1usize)) }
                .unwrap()
                .join()
        })
    });
    let mut stack = Stack::map(STACK).unwrap();
    g.bench_function("raw_thread_static", |b| {
        b.iter(|| {
            // SAFETY: the thread only returns a value.
            unsafe { thread(&mut stack, || black_box(1usize)) }
                .unwrap()
                .join()
        })
    });
    g.bench_function("raw_chimera", |b| {
        b.iter(|| {
            // SAFETY: the child only returns.
            unsafe { chimera(&mut stack, || 0) }
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    for (id, spawner) in [
        (
            "spawner_thread",
            Spawner::config(Backend::Thread).start_local().build(),
        ),
        ("spawner_thread_spread", Spawner::new(Backend::Thread)),
        (
            "spawner_chimera",
            Spawner::config(Backend::Chimera).start_local().build(),
        ),
        (
            "spawner_green",
            Spawner::config(Backend::Green).workers(1).build(),
        ),
    ] {
        let spawner = spawner.unwrap();
        g.bench_function(id, |b| {
            b.iter(|| {
                // SAFETY: the task only returns a value.
                unsafe { spawner.spawn(|| black_box(1usize)) }
                    .unwrap()
                    .join()
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn spawn_exec(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_exec");
    g.bench_function("std_command", |b| {
        b.iter(|| std::process::Command::new("/bin/true").status().unwrap())
    });
    g.bench_function("raw_vfork_exec", |b| {
        b.iter(|| {
            vfork_exec(c"/bin/true", &[c"true"], &[])
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    g.finish();
}

/// Hold `mib` MiB of memory with every page written, so a copied address space has it all mapped.
fn touched(mib: usize) -> Vec<u8> {
    let mut v = vec![0u8; mib << 20];
    for page in v.chunks_mut(4096) {
        page[0] = 1;
    }
    black_box(v)
}

fn fork_by_rss(c: &mut Criterion) {
    let mut g = c.benchmark_group("fork_by_rss");
    g.sample_size(30);
    let mut stack = Stack::map(STACK).unwrap();
    for mib in [1usize, 64, 256] {
        let held = touched(mib);
        let size = format!("{mib}MiB");
        g.bench_function(BenchmarkId::new("raw_fork", &size), |b| {
            b.iter(|| {
                // SAFETY: the child exits at once with a raw syscall.
                match unsafe { fork() }.unwrap() {
                    Fork::Child => sys::exit_group(0),
                    Fork::Parent(child) => child.wait().unwrap(),
                }
            })
        });
        g.bench_function(BenchmarkId::new("raw_chimera", &size), |b| {
            b.iter(|| {
                // SAFETY: the child only returns.
                unsafe { chimera(&mut stack, || 0) }
                    .unwrap()
                    .wait()
                    .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("raw_vfork_exec", &size), |b| {
            b.iter(|| {
                vfork_exec(c"/bin/true", &[c"true"], &[])
                    .unwrap()
                    .wait()
                    .unwrap()
            })
        });
        drop(held);
    }
    g.finish();
}

criterion_group!(benches, spawn_join, spawn_exec, fork_by_rss);
criterion_main!(benches);
