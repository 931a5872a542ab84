//! Spawn-and-join costs of each rawclone mode against the baselines std and libc offer.
//!
//! Group and function ids are fixed so results compare across commits:
//! - `spawn_join`: `std_thread`, `pthread` (glibc's `pthread_create` + `pthread_join`, default
//!   attributes), `libc_fork`, `raw_thread` (fresh stack each time), `raw_thread_static` (one
//!   pre-faulted stack), `raw_thread_floor` (the same with parent and child held on one CPU: the
//!   kernel's own minimum for a thread), `raw_chimera_floor` (the same for a chimera shaped as
//!   the Chimera spawner's tasks), `raw_thread_floor_placed` and `raw_chimera_floor_placed` (the
//!   two floors with each task placed on the caller's CPU as `start_local` places it, this
//!   thread unpinned), `raw_chimera`, `raw_fork`, `spawner_thread`,
//!   `spawner_chimera` (both starting tasks on the spawning CPU), `spawner_thread_spread` (the
//!   default: the kernel places the task), `spawner_green` (one worker);
//! - `spawn_exec`: `std_command`, `posix_spawn` (glibc's, then `waitpid`), `raw_vfork_exec`, all
//!   running `/bin/true`, and `raw_vfork_exit` (`raw_vfork_exec`'s child exiting instead of
//!   calling execve: the spawn's own part);
//! - `green`: `tokio_current_thread` (spawn and await inside one `block_on`), `corosensei`
//!   (create and run to completion on a reused stack), `corosensei_switch` (one resume/suspend
//!   pair), `rawclone_local` (spawn + join on a [`rawclone::LocalSpawner`], on this thread),
//!   `rawclone_local_yield` (one `Yielder::yield_now` between two local tasks),
//!   `rawclone_local_yield_alone` (the same with nothing else ready: no switch),
//!   `rawclone_green` (spawn + join on a one-worker spawner), `rawclone_yield` (one `yield_now`
//!   between two tasks of one worker);
//! - `fork_by_rss`: `raw_fork`, `raw_chimera`, `raw_vfork_exec`, each with the parent holding 1,
//!   64 and 256 MiB of touched memory (parameter `1MiB`, `64MiB`, `256MiB`).
//!
//! `cargo run --release -- bench-report` turns criterion's estimates into the README's table.
//!
//! Children here only return or exit: no allocation, no libc (see the crate's safety rules).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rawclone::{
    Backend, Builder, CloneFlags, Fork, Spawner, Stack, chimera, fork, sys, thread, vfork_exec,
};
use std::hint::black_box;

const STACK: usize = 64 * 1024;

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("std_thread", |b| {
        b.iter(|| std::thread::spawn(|| black_box(1usize)).join().unwrap())
    });
    g.bench_function("pthread", |b| {
        extern "C" fn run(arg: *mut libc::c_void) -> *mut libc::c_void {
            black_box(arg)
        }
        b.iter(|| {
            let mut id: libc::pthread_t = 0;
            // SAFETY: default attributes; `run` only returns its argument.
            let made = unsafe { libc::pthread_create(&mut id, std::ptr::null(), run, 1 as _) };
            assert_eq!(made, 0);
            let mut out = std::ptr::null_mut();
            // SAFETY: joining the thread just created, once.
            unsafe { libc::pthread_join(id, &mut out) };
            out
        })
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
    // The floor: as raw_thread_static, with this thread (and so each child) held on the CPU it
    // is on, so no wake-up crosses CPUs; the affinity comes back after.
    let all = sys::affinity().unwrap();
    sys::set_affinity(&sys::CpuSet::only(sys::current_cpu().unwrap())).unwrap();
    g.bench_function("raw_thread_floor", |b| {
        b.iter(|| {
            // SAFETY: the thread only returns a value.
            unsafe { thread(&mut stack, || black_box(1usize)) }
                .unwrap()
                .join()
        })
    });
    // The same floor for a chimera shaped as the Chimera spawner's tasks: a CLONE_VM process
    // with no exit signal, handlers reset and a pidfd, reaped through it.
    g.bench_function("raw_chimera_floor", |b| {
        let chimera = Builder::new()
            .flags(CloneFlags::VM)
            .exit_signal(None)
            .reset_signal_handlers();
        b.iter(|| {
            // SAFETY: the child only returns.
            unsafe { chimera.spawn(&mut stack, || 0) }
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    sys::set_affinity(&all).unwrap();
    // The two floors again, this thread unpinned, each task placed as the spawners' start_local
    // places theirs (the caller pins itself for the clone and puts its affinity back, the child
    // puts back its own): the kernel's minimum for a task started on the caller's CPU, so that
    // what a spawner adds beyond the placement is a number too.
    g.bench_function("raw_thread_floor_placed", |b| {
        let placed = Builder::thread().start_local();
        b.iter(|| {
            // SAFETY: the thread only returns a value.
            unsafe { placed.spawn_thread(&mut stack, || black_box(1usize)) }
                .unwrap()
                .join()
        })
    });
    g.bench_function("raw_chimera_floor_placed", |b| {
        let placed = Builder::new()
            .flags(CloneFlags::VM)
            .exit_signal(None)
            .reset_signal_handlers()
            .start_local();
        b.iter(|| {
            // SAFETY: the child only returns.
            unsafe { placed.spawn(&mut stack, || 0) }
                .unwrap()
                .wait()
                .unwrap()
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
    g.bench_function("posix_spawn", |b| {
        let path = c"/bin/true";
        let argv = [c"true".as_ptr().cast_mut(), std::ptr::null_mut()];
        let envp = [std::ptr::null_mut()];
        b.iter(|| {
            let mut pid = 0;
            // SAFETY: NUL-terminated path and NULL-terminated arrays that outlive the call; no
            // file actions or attributes.
            let spawned = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    path.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                )
            };
            assert_eq!(spawned, 0);
            let mut status = 0;
            // SAFETY: waiting for our own child with a live status word.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            status
        })
    });
    g.bench_function("raw_vfork_exec", |b| {
        b.iter(|| {
            vfork_exec(c"/bin/true", &[c"true"], &[])
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    // The spawn without the program: raw_vfork_exec's child (the same flags, on one stack
    // kept from spawn to spawn as its own is), exiting at once instead of calling execve. What
    // raw_vfork_exec costs beyond the exec and /bin/true, which any spawner pays alike.
    g.bench_function("raw_vfork_exit", |b| {
        let vfork = Builder::new()
            .flags(CloneFlags::VM | CloneFlags::VFORK)
            .reset_signal_handlers();
        let mut stack = Stack::map(STACK).unwrap();
        b.iter(|| {
            // SAFETY: the child only returns; the parent sleeps until it has exited.
            unsafe { vfork.spawn(&mut stack, || 0) }
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    g.finish();
}

fn green(c: &mut Criterion) {
    use corosensei::stack::DefaultStack;
    use corosensei::{Coroutine, CoroutineResult};
    let mut g = c.benchmark_group("green");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    black_box(tokio::spawn(async { black_box(1usize) }).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    // The stack goes into each coroutine and comes back out once it has returned.
    let mut stack = Some(DefaultStack::new(64 * 1024).unwrap());
    g.bench_function("corosensei", |b| {
        b.iter(|| {
            let reused = stack.take().unwrap();
            let mut co = Coroutine::with_stack(reused, |_, ()| black_box(1usize));
            let n = match co.resume(()) {
                CoroutineResult::Return(n) => n,
                CoroutineResult::Yield(()) => unreachable!("it only returns"),
            };
            stack = Some(co.into_stack());
            n
        })
    });
    let mut co: Coroutine<(), (), ()> =
        Coroutine::with_stack(stack.take().unwrap(), |yielder, ()| {
            loop {
                yielder.suspend(());
            }
        });
    g.bench_function("corosensei_switch", |b| b.iter(|| co.resume(())));
    drop(co);
    let local = rawclone::LocalSpawner::new().unwrap();
    g.bench_function("rawclone_local", |b| {
        b.iter(|| local.spawn(|_| black_box(1usize)).unwrap().join())
    });
    g.bench_function("rawclone_local_yield", |b| {
        b.iter_custom(|iters| {
            let yields = move |y: &rawclone::local::Yielder| {
                for _ in 0..iters {
                    y.yield_now();
                }
            };
            let start = std::time::Instant::now();
            let tasks = [(); 2].map(|()| local.spawn(yields).unwrap());
            for task in tasks {
                task.join();
            }
            // Two tasks took `iters` turns each: one yield is half of it.
            start.elapsed() / 2
        })
    });
    // One task alone: with nothing else ready, a yield returns at once, with no switch.
    g.bench_function("rawclone_local_yield_alone", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            local
                .spawn(move |y| {
                    for _ in 0..iters {
                        y.yield_now();
                    }
                })
                .unwrap()
                .join();
            start.elapsed()
        })
    });
    let spawner = Spawner::config(Backend::Green).workers(1).build().unwrap();
    g.bench_function("rawclone_green", |b| {
        b.iter(|| {
            // SAFETY: the task only returns a value.
            unsafe { spawner.spawn(|| black_box(1usize)) }
                .unwrap()
                .join()
                .unwrap()
        })
    });
    g.bench_function("rawclone_yield", |b| {
        b.iter_custom(|iters| {
            let yields = move || {
                for _ in 0..iters {
                    rawclone::yield_now();
                }
            };
            let start = std::time::Instant::now();
            // SAFETY: both tasks only yield.
            let tasks = [(); 2].map(|()| unsafe { spawner.spawn(yields) }.unwrap());
            for task in tasks {
                task.join().unwrap();
            }
            // Two tasks took `iters` turns each: one yield is half of it.
            start.elapsed() / 2
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

criterion_group!(benches, spawn_join, spawn_exec, green, fork_by_rss);
criterion_main!(benches);
