//! `LocalSpawner`: green tasks on the spawning thread. Order of runs, yields, nested joins,
//! detached and abandoned tasks (what is dropped, what is leaked, no stack lost), a closure too
//! big for its stack, many spawners on many threads, and what a panic or an overflow in a task
//! does to the process (in a copy of this test binary run for that one test).

mod common;

use common::*;
use rawclone::local::LocalSpawner;
use rawclone::{Error, Signal};
use std::cell::{Cell, RefCell};
use std::process::Command;
use std::rc::Rc;

/// Counts drops of its values.
struct Counted(Rc<Cell<u32>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Lines of /proc/self/maps: one per mapping.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn tasks_run_in_spawn_order_and_take_turns_at_each_yield() {
    let spawner = LocalSpawner::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let log = log.clone();
            spawner
                .spawn(move |y| {
                    for round in 0..3 {
                        log.borrow_mut().push((round, i));
                        y.yield_now();
                    }
                    i
                })
                .unwrap()
        })
        .collect();
    let joined: Vec<u32> = handles.into_iter().map(|h| h.join()).collect();
    assert_eq!(joined, (0..100).collect::<Vec<_>>());
    let expected: Vec<_> = (0..3).flat_map(|r| (0..100).map(move |i| (r, i))).collect();
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn spawning_and_joining_leaves_no_mapping_behind() {
    // Alone in a process: other tests' threads and stacks come and go in this one.
    let (status, stderr) = in_a_copy("spawn_and_join_10000_times");
    assert!(status.success(), "{status}: {stderr}");
}

/// Run by [`spawning_and_joining_leaves_no_mapping_behind`] in a copy of this binary.
#[test]
#[ignore = "run in a copy of this binary by spawning_and_joining_leaves_no_mapping_behind"]
fn spawn_and_join_10000_times() {
    if std::env::var_os(IN_A_COPY).is_none() {
        return;
    }
    let spawner = LocalSpawner::new();
    // Warm up: the pool maps its stacks on first demand.
    let warm: Vec<_> = (0..4).map(|i| spawner.spawn(move |_| i).unwrap()).collect();
    for h in warm {
        h.join();
    }
    let before = mappings();
    for round in 0..10_000u32 {
        let a = spawner.spawn(move |y| {
            y.yield_now();
            round
        });
        let b = spawner.spawn(move |_| round + 1);
        assert_eq!(a.unwrap().join() + 1, b.unwrap().join());
    }
    assert_eq!(mappings(), before);
}

#[test]
fn a_detached_task_still_runs_and_its_result_is_dropped() {
    let spawner = LocalSpawner::new();
    let drops = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(false));
    let (d, r) = (drops.clone(), ran.clone());
    drop(spawner.spawn(move |_| {
        r.set(true);
        Counted(d)
    }));
    assert!(!ran.get(), "nothing runs before a join");
    spawner.spawn(|y| y.yield_now()).unwrap().join();
    assert!(ran.get());
    assert_eq!(drops.get(), 1, "the detached task's result is dropped once");
}

#[test]
fn a_finished_task_whose_handle_is_dropped_drops_its_result() {
    let spawner = LocalSpawner::new();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let first = spawner.spawn(move |_| Counted(d)).unwrap();
    spawner.spawn(|_| ()).unwrap().join(); // runs `first` on the way
    assert!(first.is_finished());
    assert_eq!(drops.get(), 0);
    drop(first);
    assert_eq!(drops.get(), 1);
}

#[test]
fn dropping_the_spawner_drops_unrun_closures_and_leaks_suspended_tasks() {
    let drops = Rc::new(Cell::new(0));
    let before;
    {
        let spawner = LocalSpawner::new();
        // Runs up to its second yield and is never resumed: what it holds is leaked, not
        // dropped while its stack goes away.
        let suspended = Counted(drops.clone());
        drop(spawner.spawn(move |y| {
            let kept = suspended;
            y.yield_now();
            y.yield_now();
            drop(kept);
        }));
        spawner.spawn(|y| y.yield_now()).unwrap().join();
        // Never runs: its closure (and what it captured) is dropped with the spawner.
        let held = Counted(drops.clone());
        drop(spawner.spawn(move |_| drop(held)));
        before = drops.get();
    }
    assert_eq!(before, 0);
    assert_eq!(drops.get(), 1, "only the unrun closure is dropped");
}

#[test]
fn a_closure_too_big_for_its_stack_is_refused_with_both_sizes() {
    let spawner = LocalSpawner::with_stack_size(16 * 1024);
    let big = [7u8; 32 * 1024];
    match spawner.spawn(move |_| big[0]) {
        Err(Error::StackTooSmall { needed, usable }) => {
            assert!(needed > usable, "{needed} > {usable}");
            assert_eq!(usable, 16 * 1024);
        }
        other => panic!("{other:?}"),
    }
    // The stack went back to the pool: the next spawn works.
    assert_eq!(spawner.spawn(|_| 3).unwrap().join(), 3);
}

#[test]
fn joins_nest_inside_tasks() {
    let spawner: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new()));
    let outer = spawner
        .spawn(|_| {
            let leaves: Vec<_> = (1..=10)
                .map(|i| {
                    spawner
                        .spawn(move |y| {
                            y.yield_now();
                            i
                        })
                        .unwrap()
                })
                .collect();
            leaves.into_iter().map(|h| h.join()).sum::<u32>()
        })
        .unwrap();
    assert_eq!(outer.join(), 55);
}

#[test]
fn each_thread_runs_its_own_spawner() {
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let spawner = LocalSpawner::new();
                let handles: Vec<_> = (0..100u64)
                    .map(|i| {
                        spawner
                            .spawn(move |y| {
                                y.yield_now();
                                t * 1000 + i
                            })
                            .unwrap()
                    })
                    .collect();
                handles.into_iter().map(|h| h.join()).sum::<u64>()
            })
        })
        .collect();
    for (t, thread) in threads.into_iter().enumerate() {
        let t = t as u64;
        assert_eq!(thread.join().unwrap(), t * 100_000 + 4950);
    }
}

/// Run `test` (an ignored one) of this binary alone in a new process: how it ended, and its
/// stderr.
fn in_a_copy(test: &str) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    // Under qemu-user (no binfmt_misc here) the copy needs the emulator too.
    let mut command = match qemu_user() {
        true => Command::new(format!("qemu-{}-static", std::env::consts::ARCH)),
        false => Command::new(&exe),
    };
    if qemu_user() {
        command.arg(&exe);
    }
    let out = command
        .args([
            "--ignored",
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(IN_A_COPY, "1")
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Set for [`in_a_copy`]'s process: an ignored test run any other way (`--ignored`) does
/// nothing.
const IN_A_COPY: &str = "RAWCLONE_LOCAL_IN_A_COPY";

/// The signal that ended a process.
fn signal_of(status: std::process::ExitStatus) -> Option<Signal> {
    use std::os::unix::process::ExitStatusExt;
    status.signal().and_then(|n| Signal::new(n as u32))
}

#[test]
fn a_panic_in_a_task_aborts_the_process() {
    let (status, stderr) = in_a_copy("panicking_task");
    assert_eq!(signal_of(status), Some(Signal::SIGABRT), "{stderr}");
    assert!(stderr.contains("a local task broke its rule"), "{stderr}");
}

#[test]
fn an_overflow_in_a_task_ends_the_process_with_sigsegv() {
    let (status, stderr) = in_a_copy("overflowing_task");
    assert_eq!(signal_of(status), Some(Signal::SIGSEGV), "{stderr}");
}

/// Run by [`a_panic_in_a_task_aborts_the_process`] in a copy of this binary.
#[test]
#[ignore = "run in a copy of this binary by a_panic_in_a_task_aborts_the_process"]
fn panicking_task() {
    if std::env::var_os(IN_A_COPY).is_none() {
        return;
    }
    let spawner = LocalSpawner::new();
    spawner
        .spawn(|_| panic!("a local task broke its rule"))
        .unwrap()
        .join();
}

/// Recurse with a frame of 1 KiB until the stack runs out (the bound is never reached).
#[inline(never)]
fn deeper(n: u64) -> u64 {
    let frame = std::hint::black_box([n as u8; 1024]);
    if n == u64::MAX {
        return 0;
    }
    deeper(n + 1) + u64::from(std::hint::black_box(frame)[0])
}

/// Run by [`an_overflow_in_a_task_ends_the_process_with_sigsegv`] in a copy of this binary.
#[test]
#[ignore = "run in a copy of this binary by an_overflow_in_a_task_ends_the_process_with_sigsegv"]
fn overflowing_task() {
    if std::env::var_os(IN_A_COPY).is_none() {
        return;
    }
    let spawner = LocalSpawner::new();
    spawner.spawn(|_| deeper(0)).unwrap().join();
}
