//! `LocalSpawner`: green tasks on the spawning thread. Order of runs, yields, nested joins,
//! detached and abandoned tasks (what is dropped, what is leaked, no stack lost), a closure too
//! big for its stack, many spawners on many threads, and what a panic or an overflow in a task
//! does to the process (in a copy of this test binary run for that one test).

mod common;

use common::*;
use rawclone::local::LocalSpawner;
use rawclone::stack::PAGE_SIZE;
use rawclone::{Error, Signal};
use std::cell::{Cell, RefCell};
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
    let spawner = LocalSpawner::new().unwrap();
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
    if !is_the_copy() {
        return;
    }
    let spawner = LocalSpawner::new().unwrap();
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
    let spawner = LocalSpawner::new().unwrap();
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
    let spawner = LocalSpawner::new().unwrap();
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
    // Where the suspended task keeps a value on its stack.
    let kept_at = Rc::new(Cell::new(0usize));
    let before;
    {
        let spawner = LocalSpawner::new().unwrap();
        // Runs up to its second yield and is never resumed: what it holds is leaked, neither
        // dropped nor freed (its stack stays mapped, untouched).
        let suspended = Counted(drops.clone());
        let at = kept_at.clone();
        drop(spawner.spawn(move |y| {
            let kept = suspended;
            let marker = std::hint::black_box(0x5eed_u64);
            at.set(&raw const marker as usize);
            y.yield_now();
            y.yield_now();
            drop(kept);
            std::hint::black_box(marker);
        }));
        spawner.spawn(|y| y.yield_now()).unwrap().join();
        // Never runs: its closure (and what it captured) is dropped with the spawner.
        let held = Counted(drops.clone());
        drop(spawner.spawn(move |_| drop(held)));
        before = drops.get();
    }
    assert_eq!(before, 0);
    assert_eq!(drops.get(), 1, "only the unrun closure is dropped");
    // SAFETY: the suspended task's stack is never unmapped or reused: the value is still there.
    let marker = unsafe { std::ptr::read_volatile(kept_at.get() as *const u64) };
    assert_eq!(marker, 0x5eed);
    // A new spawner's tasks do not get that stack either.
    let next = LocalSpawner::new().unwrap();
    next.spawn(|_| std::hint::black_box([0u8; 4096]).len())
        .unwrap()
        .join();
    // SAFETY: as above.
    assert_eq!(
        unsafe { std::ptr::read_volatile(kept_at.get() as *const u64) },
        0x5eed
    );
}

/// The spawner may move (into a box, here) while a detached task waits in its queue: the
/// queue and the records point at state of its own that stays put.
#[test]
fn a_spawner_moves_with_tasks_queued() {
    let ran = Rc::new(Cell::new(0));
    let spawner = LocalSpawner::new().unwrap();
    let r = ran.clone();
    drop(spawner.spawn(move |y| {
        y.yield_now();
        r.set(r.get() + 1);
    }));
    let moved = Box::new(spawner);
    let r = ran.clone();
    moved
        .spawn(move |y| {
            y.yield_now();
            r.set(r.get() + 10);
        })
        .unwrap()
        .join();
    assert_eq!(ran.get(), 11);
}

#[test]
fn a_closure_too_big_for_its_stack_is_refused_with_both_sizes() {
    let spawner = LocalSpawner::with_stack_size(16 * 1024).unwrap();
    let big = [7u8; 32 * 1024];
    let needed = match spawner.spawn(move |_| big[0]) {
        Err(Error::StackTooSmall { needed, usable }) => {
            assert!(needed > usable, "{needed} > {usable}");
            assert_eq!(usable, 16 * 1024);
            needed
        }
        other => panic!("{other:?}"),
    };
    // The stack went back to the pool: the next spawn works.
    assert_eq!(spawner.spawn(|_| 3).unwrap().join(), 3);
    // The size it names is the boundary: a page less is refused, that much runs the closure.
    let short = LocalSpawner::with_stack_size(needed - PAGE_SIZE).unwrap();
    assert!(matches!(
        short.spawn(move |_| big[0]),
        Err(Error::StackTooSmall { .. })
    ));
    let enough = LocalSpawner::with_stack_size(needed).unwrap();
    assert_eq!(enough.spawn(move |_| big[0]).unwrap().join(), 7);
}

#[test]
fn joins_nest_inside_tasks() {
    let spawner: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
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
                let spawner = LocalSpawner::new().unwrap();
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

/// Run `test` (an ignored one) of this binary alone in a new process: how it ended (SIGALRM if
/// it hung, see [`is_the_copy`]), and its stderr.
fn in_a_copy(test: &str) -> (std::process::ExitStatus, String) {
    let mut command = this_binary_again();
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

/// Whether this process is [`in_a_copy`]'s copy. In the copy, a test that hangs (a join cycle
/// no longer caught, say) is ended by SIGALRM after two minutes, which its caller reports.
fn is_the_copy() -> bool {
    let copy = std::env::var_os(IN_A_COPY).is_some();
    if copy {
        alarm_in(120);
    }
    copy
}

/// The signal that ended a process.
fn signal_of(status: std::process::ExitStatus) -> Option<Signal> {
    use std::os::unix::process::ExitStatusExt;
    status.signal().and_then(|n| Signal::new(n as u32))
}

#[test]
fn a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line() {
    for (test, what) in [
        (
            "join_across_spawners",
            "yielded or joined through a spawner whose running task it is not",
        ),
        ("join_itself", "joined itself"),
        (
            "join_cycle",
            "joined a task that waits for it (a join cycle)",
        ),
    ] {
        let (status, stderr) = in_a_copy(test);
        assert_eq!(signal_of(status), Some(Signal::SIGABRT), "{test}: {stderr}");
        let line = format!("rawclone: a LocalSpawner task {what}; SIGABRT ends the process");
        assert!(stderr.contains(&line), "{test}: {stderr}");
    }
}

/// Run by [`a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line`]:
/// a task of spawner B, nested in a task of spawner A, joins an unfinished task of A, which would
/// save B's task's context as A's task's.
#[test]
#[ignore = "run in a copy of this binary by a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line"]
fn join_across_spawners() {
    if !is_the_copy() {
        return;
    }
    let a: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
    let b: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
    // Queued first, it runs first and yields to `a1`, so it is unfinished when B's task joins it.
    let a2 = a
        .spawn(|y| {
            y.yield_now();
            2
        })
        .unwrap();
    let a1 = a
        .spawn(move |_| b.spawn(move |_| a2.join()).unwrap().join())
        .unwrap();
    a1.join();
}

/// A finished task's join switches nothing, so it may come from anywhere on the thread: here
/// from a task of another spawner nested in a task of the first.
#[test]
fn a_finished_task_can_be_joined_across_spawners() {
    let a: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
    let b: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
    let a2 = a.spawn(|_| 2).unwrap();
    let a1 = a
        .spawn(move |_| b.spawn(move |_| a2.join() + 1).unwrap().join())
        .unwrap();
    assert_eq!(a1.join(), 3);
}

/// Run by [`a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line`]:
/// `first` joins `second`, which then joins `first`: neither could ever return.
#[test]
#[ignore = "run in a copy of this binary by a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line"]
fn join_cycle() {
    if !is_the_copy() {
        return;
    }
    type Handle = rawclone::local::LocalHandle<'static, ()>;
    let spawner: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
    let for_first = Rc::new(Cell::new(None::<Handle>));
    let for_second = Rc::new(Cell::new(None::<Handle>));
    let (mine, theirs) = (for_first.clone(), for_second.clone());
    let first = spawner
        .spawn(move |_| mine.take().expect("second's handle").join())
        .unwrap();
    let second = spawner
        .spawn(move |_| theirs.take().expect("first's handle").join())
        .unwrap();
    for_first.set(Some(second));
    for_second.set(Some(first));
    spawner.spawn(|_| ()).unwrap().join();
}

/// Run by [`a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line`].
#[test]
#[ignore = "run in a copy of this binary by a_task_joining_across_spawners_itself_or_in_a_cycle_ends_the_process_with_one_line"]
fn join_itself() {
    if !is_the_copy() {
        return;
    }
    let spawner: &'static LocalSpawner = Box::leak(Box::new(LocalSpawner::new().unwrap()));
    let own = Rc::new(RefCell::new(None));
    let mine = own.clone();
    let task = spawner
        .spawn(move |_| {
            let handle: Option<rawclone::local::LocalHandle<'static, ()>> = mine.take();
            if let Some(handle) = handle {
                handle.join();
            }
        })
        .unwrap();
    // The task's own handle goes into its reach; another task drives the queue.
    *own.borrow_mut() = Some(task);
    spawner.spawn(|_| ()).unwrap().join();
}

/// A value whose drop panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("a drop that panics");
    }
}

#[test]
fn a_panicking_drop_of_a_result_or_closure_loses_no_stack() {
    let (status, stderr) = in_a_copy("panicking_drops");
    assert!(status.success(), "{status}: {stderr}");
}

/// Run by [`a_panicking_drop_of_a_result_or_closure_loses_no_stack`] in a copy of this binary:
/// results whose drop panics, dropped with their handles, leave no mapping behind, and closures
/// whose drops panic in the spawner's drop neither stop the rest of the teardown nor abort.
#[test]
#[ignore = "run in a copy of this binary by a_panicking_drop_of_a_result_or_closure_loses_no_stack"]
fn panicking_drops() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    if !is_the_copy() {
        return;
    }
    // The bombs' panics are expected: only other panics (a failed assertion) are printed.
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"a drop that panics") {
            print(info)
        }
    }));
    let at_start = mappings();
    let spawner = LocalSpawner::new().unwrap();
    // Warm up: the two stacks each round needs are mapped on first demand.
    let one = spawner.spawn(|_| ()).unwrap();
    spawner.spawn(|_| ()).unwrap().join();
    one.join();
    let warm = mappings();
    for _ in 0..100 {
        let bomb = spawner.spawn(|_| Bomb).unwrap();
        spawner.spawn(|_| ()).unwrap().join(); // runs `bomb` to its end on the way
        assert!(bomb.is_finished());
        assert!(catch_unwind(AssertUnwindSafe(|| drop(bomb))).is_err());
    }
    assert_eq!(mappings(), warm, "a stack was lost to a panicking drop");
    // Two closures whose drops panic, then one that counts: the first panic unwinds through the
    // rest of the teardown, which leaks the others (a second panic there would abort) but takes
    // back every stack and unmaps the spawner.
    let drops = Rc::new(Cell::new(0));
    let (bomb, second, counted) = (Bomb, Bomb, Counted(drops.clone()));
    drop(spawner.spawn(move |_| drop(bomb)).unwrap()); // never runs
    drop(spawner.spawn(move |_| drop(second)).unwrap()); // nor this
    drop(spawner.spawn(move |_| drop(counted)).unwrap()); // nor this
    assert!(catch_unwind(AssertUnwindSafe(|| drop(spawner))).is_err());
    assert_eq!(
        drops.get(),
        0,
        "what followed the panicking closure was leaked, not dropped"
    );
    assert_eq!(mappings(), at_start, "the teardown stopped at the panic");
}

/// A panic caught inside the task unwinds as anywhere: only one that would leave the task
/// aborts.
#[test]
fn a_panic_caught_inside_a_task_unwinds_there() {
    let spawner = LocalSpawner::new().unwrap();
    let task = spawner
        .spawn(|y| {
            let caught = std::panic::catch_unwind(|| panic!("caught inside the task"));
            y.yield_now();
            caught.is_err()
        })
        .unwrap();
    assert!(task.join());
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
    if !is_the_copy() {
        return;
    }
    let spawner = LocalSpawner::new().unwrap();
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
    if !is_the_copy() {
        return;
    }
    let spawner = LocalSpawner::new().unwrap();
    spawner.spawn(|_| deeper(0)).unwrap().join();
}

#[test]
fn a_stack_size_that_is_no_whole_number_of_pages_is_rounded_up_and_yields_work() {
    for asked in [8, 40_000] {
        let spawner = LocalSpawner::with_stack_size(asked).unwrap();
        assert_eq!(spawner.stack_size() % PAGE_SIZE, 0);
        assert!(spawner.stack_size() >= asked);
        let a = spawner
            .spawn(|y| {
                y.yield_now(); // with `b` ready: a real switch, past the stack-range check
                1
            })
            .unwrap();
        let b = spawner.spawn(|_| 2).unwrap();
        assert_eq!((a.join(), b.join()), (1, 2));
    }
}
