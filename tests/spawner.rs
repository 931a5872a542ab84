//! The Spawner: every backend spawns, joins, reports who a task is, reuses its stacks, and fails
//! with typed errors that leak nothing.

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use rawclone::stack::PAGE_SIZE;
use rawclone::{
    Backend, Current, Error, ExitStatus, Rule, Signal, Spawner, current, sys, yield_now,
};

per_backend!(
    returns_the_task_value,
    makes_the_task_it_names,
    current_names_the_task_and_its_backend,
    does_not_share_the_spawners_thread_pointer,
    spawns_from_many_threads_at_once,
    scoped_tasks_borrow_and_are_all_waited_for,
    gives_stacks_back_to_the_pool,
    keeps_only_as_many_idle_stacks_as_configured,
    dropping_an_unjoined_handle_waits_and_drops_the_value,
    a_dropped_handle_leaves_no_zombie_and_no_stack,
    reports_a_stack_overflow,
    refuses_a_stack_too_small_for_the_closure_and_leaks_nothing,
    a_closure_too_big_for_the_stack_is_refused_with_both_sizes,
    fails_typed_past_rlimit_nproc_and_leaks_nothing,
    fails_typed_out_of_memory_and_leaks_nothing,
    tasks_may_spawn_and_join_tasks,
);

/// A spawner for `backend`, or a skip when qemu-user cannot run it (a chimera is a `CLONE_VM`
/// process, which qemu-user refuses).
fn spawner_or_skip(backend: Backend) -> Option<Spawner> {
    let spawner = Spawner::config(backend).workers(2).build().unwrap();
    if backend == Backend::Chimera && qemu_user() {
        skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses (EINVAL)");
        return None;
    }
    Some(spawner)
}

fn returns_the_task_value(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let base = 40u64;
    // SAFETY: the task only adds.
    let task = unsafe { spawner.spawn(move || base + 2) }.unwrap();
    assert_eq!(task.join().unwrap(), 42, "{backend:?}");
    // A value larger than a register, returned through the task's block.
    // SAFETY: the task only builds an array.
    let task = unsafe { spawner.spawn(|| [7u64; 32]) }.unwrap();
    assert_eq!(task.join().unwrap(), [7u64; 32], "{backend:?}");
}

fn makes_the_task_it_names(backend: Backend) {
    let (me, spawning_thread) = (sys::getpid(), sys::gettid());
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    // SAFETY: the task only makes raw syscalls.
    let task = unsafe { spawner.spawn(|| (sys::getpid(), sys::gettid())) }.unwrap();
    let kernel_id = task.tid();
    let (pid, tid) = task.join().unwrap();
    match backend {
        Backend::Thread => {
            assert_eq!(pid, me, "a thread is in our thread group");
            assert_eq!(Some(tid), kernel_id);
            assert_ne!(tid, spawning_thread);
        }
        Backend::Chimera => {
            assert_ne!(pid, me, "a chimera has a pid of its own");
            assert_eq!(Some(pid), kernel_id);
        }
        Backend::Green => {
            assert_eq!(pid, me, "green tasks run on our worker threads");
            assert_ne!(
                tid, spawning_thread,
                "on a worker, not on the spawning thread"
            );
            assert_eq!(kernel_id, None);
        }
    }
}

#[test]
fn current_is_none_outside_a_task() {
    assert_eq!(current(), None, "the test thread is no spawner task");
}

fn current_names_the_task_and_its_backend(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    // SAFETY: current() reads the thread pointer and the control block only.
    let task = unsafe { spawner.spawn(current) }.unwrap();
    let id = task.id();
    assert_eq!(task.join().unwrap(), Some(Current { id, backend }));
}

fn does_not_share_the_spawners_thread_pointer(backend: Backend) {
    let ours = rawclone::arch::thread_pointer();
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let [a, b] = [(); 2].map(|()| {
        // SAFETY: the task reads its thread pointer only.
        unsafe { spawner.spawn(rawclone::arch::thread_pointer) }.unwrap()
    });
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_ne!(a, ours, "{backend:?}");
    assert_ne!(a, 0, "{backend:?}");
    if backend == Backend::Thread || backend == Backend::Chimera {
        assert_ne!(a, b, "each {backend:?} task has a control block of its own");
    }
}

#[test]
fn green_tasks_take_turns_at_yield_now() {
    static GO: AtomicBool = AtomicBool::new(false);
    static LOG: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let spawner = Spawner::config(Backend::Green).workers(1).build().unwrap();
    let turns = |who: u32| {
        move || {
            while !GO.load(SeqCst) {
                yield_now();
            }
            for _ in 0..4 {
                LOG[NEXT.fetch_add(1, SeqCst)].store(who, SeqCst);
                yield_now();
            }
        }
    };
    // SAFETY: the tasks use atomics and yield_now only.
    let (a, b) = unsafe { (spawner.spawn(turns(1)), spawner.spawn(turns(2))) };
    GO.store(true, SeqCst);
    a.unwrap().join().unwrap();
    b.unwrap().join().unwrap();
    let log: Vec<u32> = LOG[..8].iter().map(|w| w.load(SeqCst)).collect();
    assert!(
        log.windows(2).all(|w| w[0] != w[1]),
        "one worker, two yielding tasks: they alternate, got {log:?}"
    );
    assert_eq!(log.iter().filter(|&&w| w == 1).count(), 4);
}

#[test]
fn green_tasks_spread_over_workers_and_survive_migration() {
    // The worker threads seen so far; tasks keep yielding until both have run one of them, so
    // the check does not depend on how fast the second worker wakes up.
    static WORKERS: [core::sync::atomic::AtomicI32; 2] =
        [const { core::sync::atomic::AtomicI32::new(0) }; 2];
    let seen_both = || WORKERS.iter().all(|w| w.load(SeqCst) != 0);
    let spawner = Spawner::config(Backend::Green).workers(2).build().unwrap();
    let handles: Vec<_> = (0..64u64)
        .map(|i| {
            // SAFETY: the task computes, yields, reads its own id, makes raw syscalls and
            // touches atomics.
            unsafe {
                spawner.spawn(move || {
                    let mut sum = 0;
                    let mut tids = [0; 2];
                    for k in 0..1_000_000u64 {
                        if k < 100 {
                            sum += i * k;
                        } else if seen_both() {
                            break;
                        }
                        let tid = sys::gettid();
                        let _ = WORKERS[0].compare_exchange(0, tid, SeqCst, SeqCst);
                        if WORKERS[0].load(SeqCst) != tid {
                            let _ = WORKERS[1].compare_exchange(0, tid, SeqCst, SeqCst);
                        }
                        if tids[0] == 0 {
                            tids[0] = tid;
                        } else if tid != tids[0] {
                            tids[1] = tid; // resumed on the other worker
                        }
                        yield_now();
                    }
                    (sum, current().map(|c| c.id), tids)
                })
            }
            .unwrap()
        })
        .collect();
    let mut migrated = 0;
    for (i, h) in handles.into_iter().enumerate() {
        let id = h.id();
        let (sum, seen, tids) = h.join().unwrap();
        assert_eq!((sum, seen), (i as u64 * 4950, Some(id)));
        migrated += usize::from(tids[1] != 0);
    }
    assert!(seen_both(), "both workers ran tasks");
    assert!(
        migrated > 0,
        "some task resumed on another worker after a yield"
    );
}

fn spawns_from_many_threads_at_once(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (spawner, total) = (&spawner, &total);
            s.spawn(move || {
                for i in 0..50usize {
                    // SAFETY: the task only adds.
                    let h = unsafe { spawner.spawn(move || t * 1000 + i) }.unwrap();
                    total.fetch_add(h.join().unwrap(), SeqCst);
                }
            });
        }
    });
    let expect: usize = (0..4)
        .map(|t| (0..50).map(|i| t * 1000 + i).sum::<usize>())
        .sum();
    assert_eq!(total.load(SeqCst), expect, "{backend:?}");
}

fn scoped_tasks_borrow_and_are_all_waited_for(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let data = [1u32, 2, 3, 4, 5, 6];
    let hits = AtomicU32::new(0);
    let late = AtomicBool::new(false);
    let sum = spawner.scope(|s| {
        // SAFETY: the tasks read the borrowed array and touch atomics only.
        let halves = unsafe {
            [
                s.spawn(|| {
                    hits.fetch_add(1, SeqCst);
                    data[..3].iter().sum::<u32>()
                })
                .unwrap(),
                s.spawn(|| {
                    hits.fetch_add(1, SeqCst);
                    data[3..].iter().sum::<u32>()
                })
                .unwrap(),
            ]
        };
        // A forgotten handle: the scope itself must still wait for this task.
        // SAFETY: the task sleeps with a raw syscall and stores to an atomic.
        let forgotten = unsafe {
            s.spawn(|| {
                sys::sleep_ms(50).unwrap();
                late.store(true, SeqCst);
            })
        }
        .unwrap();
        core::mem::forget(forgotten);
        halves.map(|h| h.join().unwrap()).iter().sum::<u32>()
    });
    assert_eq!(sum, 21, "{backend:?}");
    assert_eq!(hits.load(SeqCst), 2);
    assert!(
        late.load(SeqCst),
        "{backend:?}: scope returned before a task finished"
    );
}

/// Run three tasks at once on `spawner`, calling `while_live` while all three hold a stack, and
/// join them.
fn three_at_once(spawner: &Spawner, while_live: impl FnOnce()) {
    let release = AtomicBool::new(false);
    spawner.scope(|s| {
        let hs = [(); 3].map(|()| {
            // SAFETY: the tasks wait on an atomic (yielding) and return.
            unsafe {
                s.spawn(|| {
                    while !release.load(SeqCst) {
                        yield_now();
                    }
                })
            }
            .unwrap()
        });
        while_live();
        release.store(true, SeqCst);
        for h in hs {
            h.join().unwrap();
        }
    });
}

fn gives_stacks_back_to_the_pool(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    assert_eq!(spawner.idle_stacks(), 0);
    three_at_once(&spawner, || {
        assert_eq!(spawner.idle_stacks(), 0, "three stacks in use")
    });
    assert_eq!(
        spawner.idle_stacks(),
        3,
        "{backend:?}: joined stacks are idle"
    );
    // SAFETY: the task only returns.
    let h = unsafe { spawner.spawn(|| ()) }.unwrap();
    assert_eq!(spawner.idle_stacks(), 2, "the next task reuses a stack");
    drop(h);
    assert_eq!(
        spawner.idle_stacks(),
        3,
        "{backend:?}: a dropped handle gives its stack back"
    );
}

fn keeps_only_as_many_idle_stacks_as_configured(backend: Backend) {
    if spawner_or_skip(backend).is_none() {
        return;
    }
    let default = Spawner::new(backend).unwrap();
    let per_stack = default.stack_size();
    assert_eq!(
        default.kept_idle_stacks(),
        rawclone::spawner::DEFAULT_IDLE_BYTES / per_stack
    );
    for keep in [0, 2] {
        let spawner = Spawner::config(backend)
            .workers(2)
            .keep_idle_stacks(keep)
            .build()
            .unwrap();
        three_at_once(&spawner, || {});
        assert_eq!(spawner.idle_stacks(), keep, "{backend:?}: kept {keep} of 3");
        // SAFETY: the task only returns a value.
        let again = unsafe { spawner.spawn(|| 7) }.unwrap().join().unwrap();
        assert_eq!(again, 7, "{backend:?}: a task after the pool let stacks go");
        assert_eq!(spawner.idle_stacks(), keep);
    }
}

fn dropping_an_unjoined_handle_waits_and_drops_the_value(backend: Backend) {
    static DROPPED: AtomicU32 = AtomicU32::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, SeqCst);
        }
    }
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let before = DROPPED.load(SeqCst);
    // SAFETY: the task sleeps with a raw syscall and returns a value.
    let h = unsafe {
        spawner.spawn(|| {
            sys::sleep_ms(20).unwrap();
            Counted
        })
    }
    .unwrap();
    drop(h);
    assert_eq!(DROPPED.load(SeqCst), before + 1, "{backend:?}");
}

fn a_dropped_handle_leaves_no_zombie_and_no_stack(backend: Backend) {
    if backend == Backend::Chimera && qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    assert_in_fork(|| {
        let Ok(spawner) = Spawner::config(backend).workers(1).build() else {
            return 1;
        };
        // SAFETY: the task only returns.
        let Ok(h) = (unsafe { spawner.spawn(|| 3) }) else {
            return 2;
        };
        drop(h);
        if spawner.idle_stacks() != 1 {
            return 3;
        }
        drop(spawner);
        if has_children() {
            return 4;
        }
        0
    });
}

/// An overflow ends a Chimera task alone, reported at its join; a Thread or Green one ends the
/// process with SIGSEGV after one line on stderr naming the task.
fn reports_a_stack_overflow(backend: Backend) {
    if backend == Backend::Chimera {
        if qemu_user() {
            return skip(
                "qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses (EINVAL)",
            );
        }
        // In a forked copy, which a kernel before 5.16 kills along with the task.
        let status = in_fork(|| {
            let Ok(spawner) = Spawner::config(backend).workers(2).build() else {
                return 1;
            };
            // SAFETY: the task only recurses (into its guard page).
            let Ok(h) = (unsafe { spawner.spawn(|| overflow(0)) }) else {
                return 2;
            };
            match h.join() {
                Err(Error::TaskEnded(Some(ExitStatus::Signaled {
                    signal: Signal::SIGSEGV,
                    ..
                }))) => {}
                _ => return 3, // expected SIGSEGV at the join
            }
            // The spawner goes on.
            // SAFETY: the task only returns.
            match unsafe { spawner.spawn(|| 5) }.map(|h| h.join()) {
                Ok(Ok(5)) => 0,
                _ => 4,
            }
        });
        match status {
            ExitStatus::Exited(0) => {}
            other => match core_dump_took_the_creator(other) {
                Some(reason) => skip(reason),
                None => panic!("Chimera: forked check failed at step {other:?}"),
            },
        }
        return;
    }
    let (status, lines) = in_fork_stderr(|| {
        let Ok(spawner) = Spawner::config(backend).workers(1).build() else {
            return 2;
        };
        // SAFETY: the task only recurses (into its guard page).
        let h = unsafe { spawner.spawn(|| overflow(0)) };
        let _ = h.map(|h| h.join());
        3
    });
    assert!(
        matches!(
            status,
            ExitStatus::Signaled {
                signal: Signal::SIGSEGV,
                ..
            }
        ),
        "{backend:?}: {status:?}"
    );
    let [message] = lines.as_slice() else {
        panic!("{backend:?}: one line, not {lines:?}");
    };
    let stack_kib = if backend == Backend::Thread { 128 } else { 32 };
    assert!(
        message.starts_with("rawclone: task ")
            && message.contains(&format!(
                "({backend:?}) overflowed its {stack_kib} KiB stack"
            )),
        "{backend:?}: {message:?}"
    );
}

fn refuses_a_stack_too_small_for_the_closure_and_leaks_nothing(backend: Backend) {
    static DROPPED: AtomicU32 = AtomicU32::new(0);
    struct Counted([u8; 16384]);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, SeqCst);
        }
    }
    let spawner = Spawner::config(backend)
        .stack_size(8192)
        .workers(1)
        .build()
        .unwrap();
    let big = Counted([1; 16384]);
    let before = DROPPED.load(SeqCst);
    // SAFETY: never runs: refused before the clone.
    let r = unsafe {
        spawner.spawn(move || {
            let big = big; // the whole value, not just its (Copy) array
            big.0[5]
        })
    };
    let Err(e @ Error::StackTooSmall { needed, usable }) = r else {
        panic!("{backend:?}: {r:?}");
    };
    assert!(needed > 16384 && usable == 8192, "{backend:?}: {e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&needed.to_string()) && text.contains("8192"),
        "{backend:?}: says both sizes: {text}"
    );
    assert_eq!(
        DROPPED.load(SeqCst),
        before + 1,
        "the refused closure is dropped"
    );
    assert_eq!(spawner.idle_stacks(), 1, "the stack went back to the pool");
}

/// A closure that fits the stack once but not twice (it is moved into the task's first frame)
/// is refused before the clone, and the error counts over the whole configured stack.
fn a_closure_too_big_for_the_stack_is_refused_with_both_sizes(backend: Backend) {
    const STACK: usize = 64 * 1024;
    let spawner = Spawner::config(backend)
        .stack_size(STACK)
        .workers(1)
        .build()
        .unwrap();
    let big = [3u8; 40 * 1024];
    // SAFETY: never runs: refused before the clone.
    let r = unsafe { spawner.spawn(move || big[9]) }.map(|_| ());
    let Err(e @ Error::StackTooSmall { needed, usable }) = r else {
        panic!("{backend:?}: {r:?}");
    };
    assert_eq!(usable, STACK, "{backend:?}: the configured stack");
    assert!(
        needed > 2 * big.len(),
        "{backend:?}: the closure twice: {e}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!("needs {needed} bytes")) && text.contains(&format!("has {STACK}")),
        "{backend:?}: {text}"
    );
    // SAFETY: the task only returns a small value: it fits.
    let small = unsafe { spawner.spawn(|| 1u8) }.map(|h| h.join());
    match small {
        Err(e) if backend == Backend::Chimera && refused_by_qemu(&e) => {
            skip("qemu-user refuses a Chimera task's CLONE_VM process (EINVAL)")
        }
        r => assert_eq!(r.unwrap(), Ok(1), "{backend:?}"),
    }
    // The size it names is the boundary: a page less is refused, that much runs the closure.
    for (size, fits) in [(needed - PAGE_SIZE, false), (needed, true)] {
        let spawner = Spawner::config(backend)
            .stack_size(size)
            .workers(1)
            .build()
            .unwrap();
        // SAFETY: the task only reads its copy of the array.
        let r = unsafe { spawner.spawn(move || big[9]) }.map(|h| h.join());
        match r {
            Err(Error::StackTooSmall { .. }) => assert!(!fits, "{backend:?}: {size} refused"),
            // Past the check, qemu-user refuses the CLONE_VM process itself (EINVAL).
            Err(e) if fits && backend == Backend::Chimera && refused_by_qemu(&e) => {
                skip("qemu-user refuses a Chimera task's CLONE_VM process (EINVAL)")
            }
            r => assert!(fits && r.unwrap() == Ok(3), "{backend:?}: {size} ran"),
        }
    }
}

#[test]
fn a_green_spawner_needs_at_least_one_worker() {
    let r = Spawner::config(Backend::Green).workers(0).build();
    assert!(matches!(r, Err(Error::Rule(Rule::WorkerCount, _))), "{r:?}");
}

/// Set a resource limit of this (forked) process.
fn set_limit(resource: u32, value: u64) -> Result<(), rawclone::Errno> {
    let lim = [value, value];
    // SAFETY: prlimit64 reads two u64 from a live local; pid 0 is this process.
    unsafe {
        syscalls::syscall4(
            syscalls::Sysno::prlimit64,
            0,
            resource as usize,
            lim.as_ptr() as usize,
            0,
        )
    }
    .map(drop)
}

fn fails_typed_past_rlimit_nproc_and_leaks_nothing(backend: Backend) {
    if backend == Backend::Chimera && qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    let status = in_fork(|| {
        if become_nobody().is_err() {
            return 1;
        }
        // A Thread or Chimera spawner exists before the limit; a Green one starts its workers
        // after it, so the limit hits the workers.
        let early = if backend == Backend::Green {
            None
        } else {
            match Spawner::new(backend) {
                Ok(s) => Some(s),
                Err(_) => return 2,
            }
        };
        let (fds, maps) = (open_fds(), mappings());
        if set_limit(linux_raw_sys::general::RLIMIT_NPROC, 0).is_err() {
            return 3;
        }
        match early {
            Some(spawner) => {
                // SAFETY: never runs: the kernel refuses the task.
                match unsafe { spawner.spawn(|| 1) } {
                    Err(Error::OutOfTasks) => {}
                    _ => return 4,
                }
                if spawner.idle_stacks() != 1 {
                    return 5; // the stack went back to the pool
                }
            }
            None => match Spawner::config(Backend::Green).workers(2).build() {
                Err(Error::OutOfTasks) => {}
                _ => return 6,
            },
        }
        if has_children() {
            return 7;
        }
        // Without the pool (dropped with the spawner) nothing may remain.
        if open_fds() != fds || (backend == Backend::Green && mappings() != maps) {
            return 8;
        }
        0
    });
    assert_eq!(status, ExitStatus::Exited(0), "{backend:?}");
}

fn fails_typed_out_of_memory_and_leaks_nothing(backend: Backend) {
    let what = "a guest mmap past RLIMIT_AS succeeded (qemu-user manages the guest address \
                space in its own mappings)";
    assert_in_fork_or_skip(what, || {
        let Ok(spawner) = Spawner::config(backend)
            .stack_size(1 << 30)
            .workers(1)
            .build()
        else {
            return 1;
        };
        let maps = mappings();
        // No room for a 1 GiB stack: the address-space limit is what is mapped now plus 64 MiB.
        let size = status_kib(b"VmSize:") * 1024;
        if set_limit(linux_raw_sys::general::RLIMIT_AS, size + (64 << 20)).is_err() {
            return 2;
        }
        // SAFETY: never runs: no stack can be mapped.
        match unsafe { spawner.spawn(|| 1) } {
            Err(Error::OutOfMemory { call: "mmap" }) => {}
            _ if qemu_user() => return QEMU_REFUSED,
            _ => return 3,
        }
        if mappings() != maps || spawner.idle_stacks() != 0 {
            return 4;
        }
        0
    });
}

// A green task cannot exit on its own (`exit` would end its worker thread): Thread and Chimera.
#[test]
fn a_scope_ends_when_a_thread_task_exits_without_returning() {
    a_scope_ends_when_a_task_exits_without_returning(Backend::Thread);
}

#[test]
fn a_scope_ends_when_a_chimera_task_exits_without_returning() {
    a_scope_ends_when_a_task_exits_without_returning(Backend::Chimera);
}

/// A task that calls `exit` (or is killed) never tells its scope itself: its join does.
fn a_scope_ends_when_a_task_exits_without_returning(backend: Backend) {
    let Some(spawner) = spawner_or_skip(backend) else {
        return;
    };
    let joined = spawner.scope(|s| {
        // SAFETY: the task exits at once with a raw syscall; it borrows and owns nothing.
        let h = unsafe { s.spawn(|| -> u32 { sys::exit(3) }) }.unwrap();
        h.join()
    });
    let expect = match backend {
        Backend::Chimera => Some(ExitStatus::Exited(3)),
        _ => None, // the kernel keeps no status for a thread
    };
    assert_eq!(joined, Err(Error::TaskEnded(expect)));
}

/// A task joins a task of its own spawner: a green one waits by yielding, so even one worker
/// gets both done.
fn tasks_may_spawn_and_join_tasks(backend: Backend) {
    static SPAWNER: std::sync::OnceLock<[Option<Spawner>; 3]> = std::sync::OnceLock::new();
    if backend == Backend::Chimera && qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    let all = SPAWNER.get_or_init(|| {
        [Backend::Thread, Backend::Chimera, Backend::Green].map(|b| {
            (b != Backend::Chimera || !qemu_user())
                .then(|| Spawner::config(b).workers(1).build().unwrap())
        })
    });
    let spawner: &'static Spawner = all[backend as usize].as_ref().unwrap();
    // SAFETY: both tasks only spawn, join and add; the spawner is 'static.
    let outer = unsafe {
        spawner.spawn(move || {
            let inner = spawner.spawn(|| 20u32).ok()?;
            inner.join().ok().map(|v| v + 1)
        })
    }
    .unwrap();
    assert_eq!(outer.join().unwrap(), Some(21));
}

#[test]
fn a_stack_size_past_the_address_space_is_out_of_memory() {
    let r = Spawner::config(Backend::Thread)
        .stack_size(usize::MAX - 5)
        .build();
    assert!(
        matches!(r, Err(Error::OutOfMemory { call: "mmap" })),
        "{r:?}"
    );
}

/// In a fork: build a Thread spawner, let `between` act (nonzero: its failed step), build
/// another, send the process SIGSEGV and wait; the process must die of it.
fn assert_a_sent_sigsegv_kills(between: fn() -> i32) {
    let status = in_fork(|| {
        // Builds install rawclone's SIGSEGV handler; a sent SIGSEGV is no fault to report.
        let Ok(_first) = Spawner::new(Backend::Thread) else {
            return 1;
        };
        let step = between();
        if step != 0 {
            return step;
        }
        let Ok(_second) = Spawner::new(Backend::Thread) else {
            return 2;
        };
        let _ = sys::kill(sys::getpid(), Signal::SIGSEGV);
        sys::sleep_ms(1000).ok();
        3
    });
    assert!(
        matches!(
            status,
            ExitStatus::Signaled {
                signal: Signal::SIGSEGV,
                ..
            }
        ),
        "{status:?}"
    );
}

#[test]
fn a_sigsegv_sent_with_kill_still_kills() {
    assert_a_sent_sigsegv_kills(|| 0);
}

/// Whether the handler is in place is read from the kernel, not from a flag in memory: a flag
/// copied by a fork (from another thread, between the flag and the `sigaction`) once left a
/// child without the handler, and a sent SIGSEGV met std's handler, which swallows it.
#[test]
fn a_spawner_reinstalls_its_sigsegv_handler_when_the_action_changed() {
    // What the copied flag made possible: the action is no longer rawclone's.
    assert_a_sent_sigsegv_kills(|| {
        match sys::set_signal_disposition(Signal::SIGSEGV, sys::Disposition::Ignore) {
            Ok(_) => 0,
            Err(_) => 4,
        }
    });
}

#[test]
fn a_chimera_reaped_by_someone_else_still_joins_with_its_value() {
    if qemu_user() {
        return skip("qemu-user: a Chimera task is a CLONE_VM process, which qemu-user refuses");
    }
    assert_in_fork(|| {
        let Ok(spawner) = Spawner::new(Backend::Chimera) else {
            return 1;
        };
        // SAFETY: the task only returns.
        let Ok(h) = (unsafe { spawner.spawn(|| 5u32) }) else {
            return 2;
        };
        // Another reaper takes the child first.
        let options = linux_raw_sys::general::WEXITED | linux_raw_sys::general::__WALL;
        if sys::waitid(sys::WaitId::All, options).is_err() {
            return 3;
        }
        // Its CLEARTID word still says when it ended, and its value is there.
        match h.join() {
            Ok(5) => {}
            _ => return 4,
        }
        if spawner.idle_stacks() != 1 {
            return 5; // the child is gone, its stack back in the pool
        }
        0
    });
}
