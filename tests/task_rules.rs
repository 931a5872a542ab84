//! A spawner task that breaks the rules of `Spawner::spawn` is named in one line on stderr, which
//! says what it did, and then ends: a task that allocates is stopped by `GuardedAlloc` (in every
//! test binary's global allocator, tests/common/alloc_guard.rs), a task that panics by the spawner's panic hook (`std` feature).
//! (A task that overflows its stack is `spawner.rs`'s `reports_a_stack_overflow`.)

mod common;

use common::*;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use rawclone::{Backend, Error, ExitStatus, Signal, Spawner};

per_backend!(
    a_task_that_allocates_is_named_and_aborted,
    a_task_that_panics_is_named_and_aborted,
    a_formatted_panic_is_stopped_at_its_allocation,
    a_panic_with_its_stack_nearly_spent_is_named_once,
);

/// What a forked child's run of one task left: how the child ended, the task's id, and each
/// line its stderr received.
struct Outcome {
    status: ExitStatus,
    id: u64,
    lines: Vec<String>,
}

/// Run `task` on a `backend` spawner in a forked child, and collect what it wrote to stderr. The
/// child exits 0 when a Chimera task's join says SIGABRT ended it; a Thread or Green task takes
/// the child with it.
fn run_in_fork(backend: Backend, task: impl FnOnce() -> u64 + Send + 'static) -> Outcome {
    // The first spawner of the process installs the panic hook; build it here, so the forked
    // child finds it installed.
    drop(Spawner::new(backend).unwrap());
    let id = map_shared(8).cast::<AtomicU64>();
    let (status, lines) = in_fork_stderr(|| {
        // A child that hangs ends with SIGALRM, which the callers' checks name.
        alarm_in(60);
        let Ok(spawner) = Spawner::config(backend).workers(1).build() else {
            return 2;
        };
        // The task breaks its rule only once its id is noted: a Thread or Green task ends the
        // child with it.
        static NOTED: AtomicBool = AtomicBool::new(false);
        let run = move || {
            while !NOTED.load(SeqCst) {
                core::hint::spin_loop();
            }
            task()
        };
        // SAFETY: the task breaks a rule on purpose; what catches it ends it before any harm.
        let Ok(handle) = (unsafe { spawner.spawn(run) }) else {
            return 3;
        };
        // SAFETY: the shared mapping is 8 bytes, aligned, and outlives this child.
        unsafe { &*id }.store(handle.id(), SeqCst);
        NOTED.store(true, SeqCst);
        match handle.join() {
            Err(Error::TaskEnded(Some(ExitStatus::Signaled {
                signal: Signal::SIGABRT,
                ..
            }))) => 0,
            Err(Error::TaskEnded(Some(ExitStatus::Signaled {
                signal: Signal::SIGSEGV,
                ..
            }))) => CHIMERA_SIGSEGV,
            _ => 4,
        }
    });
    Outcome {
        status,
        // SAFETY: as above; the child is gone.
        id: unsafe { &*id }.load(SeqCst),
        lines,
    }
}

/// Why a panic in a task cannot get as far as the panic hook in this build, if it cannot.
///
/// On riscv64 and arm with glibc, std's first thread-local access in a panic (its panic count)
/// goes through `__tls_get_addr`, which reads the dtv from the TCB that glibc keeps at the
/// thread pointer (TLS variant I): on riscv64 the prebuilt std uses the general-dynamic model
/// and RISC-V linkers have no relaxation for it, and the TCB sits below the thread pointer, where
/// a task's control block has none (the panic faults at `0x0`); on arm the TCB is the first
/// words at the thread pointer, which in a task are its control block's, so the dtv read is
/// garbage and the panic faults at whatever address it names (were that address mapped, the
/// write would land there: a panic in a task is outside its contract, and undefined). Either way the panic is reported
/// as that fault, before any hook runs, which the docs allow. x86_64, i686 and the static aarch64
/// build reach std's thread-locals at fixed offsets from the thread pointer instead.
const PANICS_FAULT_BEFORE_THE_HOOK: Option<&str> =
    if cfg!(all(target_arch = "riscv64", target_env = "gnu")) {
        Some(
            "riscv64 glibc build: std's general-dynamic thread-locals go through __tls_get_addr, \
             which finds no dtv below a task's thread pointer, so a panic faults before the hook",
        )
    } else if cfg!(all(target_arch = "arm", target_env = "gnu")) {
        Some(
            "arm glibc build: std's thread-locals go through __tls_get_addr, which reads the dtv \
             from the TCB at the thread pointer, a task's control block, so a panic faults \
             before the hook",
        )
    } else {
        None
    };

/// A forked child's exit status when its Chimera task ended with SIGSEGV.
const CHIMERA_SIGSEGV: i32 = 11;

/// Check that `backend`'s task said `did` in exactly one line naming it, and that SIGABRT ended
/// the task (a Chimera task) or the process (the others).
fn assert_named_and_aborted(backend: Backend, outcome: &Outcome, did: &str) {
    let Outcome { status, id, lines } = outcome;
    let ends = match backend {
        Backend::Chimera => {
            if let Some(reason) = core_dump_took_the_creator(*status) {
                return skip(reason);
            }
            assert_eq!(*status, ExitStatus::Exited(0), "{backend:?}: {lines:?}");
            "the task"
        }
        _ => {
            assert_eq!(
                status.signal(),
                Some(Signal::SIGABRT),
                "{backend:?}: {lines:?}"
            );
            "the process"
        }
    };
    let [line] = lines.as_slice() else {
        panic!("{backend:?}: one line, not {lines:?}");
    };
    let who = format!("rawclone: task {id} ({backend:?}) ");
    assert!(
        line.starts_with(&who) && line.contains(did),
        "{backend:?}: {line:?}"
    );
    assert!(
        line.ends_with(&format!("; SIGABRT ends {ends}")),
        "{backend:?}: {line:?}"
    );
}

fn a_task_that_allocates_is_named_and_aborted(backend: Backend) {
    if backend == Backend::Chimera && !chimeras_run_here() {
        return;
    }
    let outcome = run_in_fork(backend, || *Box::new(core::hint::black_box(7u64)));
    assert_named_and_aborted(
        backend,
        &outcome,
        "allocated 8 bytes (alloc; a formatted panic message allocates too): tasks may not allocate",
    );
}

fn a_task_that_panics_is_named_and_aborted(backend: Backend) {
    if backend == Backend::Chimera && !chimeras_run_here() {
        return;
    }
    if let Some(reason) = PANICS_FAULT_BEFORE_THE_HOOK {
        return skip(reason);
    }
    let outcome = run_in_fork(backend, || panic!("a task broke its rule"));
    assert_named_and_aborted(backend, &outcome, "panicked at tests/task_rules.rs:");
    assert!(
        outcome.lines[0].contains(": a task broke its rule: tasks may not panic"),
        "{backend:?}: the message: {:?}",
        outcome.lines
    );
}

/// std formats a panic's message (allocating it) before any panic hook runs, so under
/// `GuardedAlloc` such a panic is stopped there, and the line says so.
fn a_formatted_panic_is_stopped_at_its_allocation(backend: Backend) {
    if backend == Backend::Chimera && !chimeras_run_here() {
        return;
    }
    if let Some(reason) = PANICS_FAULT_BEFORE_THE_HOOK {
        return skip(reason);
    }
    let outcome = run_in_fork(backend, || {
        panic!("task value {}", core::hint::black_box(3))
    });
    assert_named_and_aborted(backend, &outcome, "a formatted panic message allocates too");
}

/// Recurse `depth` frames of at least 256 bytes each, then note in `reached` that the panic
/// begins, and panic.
#[inline(never)]
fn descend_and_panic(depth: u32, reached: &AtomicBool) -> u64 {
    let frame = core::hint::black_box([depth as u8; 256]);
    if depth == 0 {
        reached.store(true, SeqCst);
        panic!("at the bottom");
    }
    descend_and_panic(depth - 1, reached) + u64::from(core::hint::black_box(frame)[0])
}

/// A task that panics with little stack left, so little that the report of the panic overflows
/// it: every depth ends with one line naming the task, the panic or the overflow, and never
/// hangs. (The report once faulted inside itself and waited for its own line for good.) A
/// binary search finds the first depth that overflows; the depths up to 32 frames below it
/// (the last 8 KiB at least, where the report runs out of stack) are each tried, and the
/// shallowest of them must still reach its panic. For a Thread or Green task at least one of
/// them must overflow after its panic began (inside the report): the window the fix is for.
fn a_panic_with_its_stack_nearly_spent_is_named_once(backend: Backend) {
    if backend == Backend::Chimera && !chimeras_run_here() {
        return;
    }
    if let Some(reason) = PANICS_FAULT_BEFORE_THE_HOOK {
        return skip(reason);
    }
    let spawner = Spawner::config(backend).workers(1).build().unwrap();
    let (mut fits, mut overflows) = (0, (spawner.stack_size() / 256) as u32);
    let Some((outcome, _)) = ended_by(backend, fits) else {
        return;
    };
    assert_eq!(outcome, Signal::SIGABRT, "{backend:?}: depth 0 panics");
    let Some((outcome, _)) = ended_by(backend, overflows) else {
        return;
    };
    assert_eq!(outcome, Signal::SIGSEGV, "{backend:?}: depth {overflows}");
    while overflows - fits > 1 {
        let depth = (fits + overflows) / 2;
        match ended_by(backend, depth) {
            Some((Signal::SIGSEGV, _)) => overflows = depth,
            Some(_) => fits = depth,
            None => return,
        }
    }
    let from = overflows.saturating_sub(32);
    let Some((outcome, _)) = ended_by(backend, from) else {
        return;
    };
    assert_eq!(outcome, Signal::SIGABRT, "{backend:?}: depth {from}");
    let mut inside_the_report = false;
    for depth in from + 1..overflows + 3 {
        let Some(outcome) = ended_by(backend, depth) else {
            return;
        };
        inside_the_report |= outcome == (Signal::SIGSEGV, true);
    }
    assert!(
        inside_the_report || backend == Backend::Chimera,
        "{backend:?}: no depth from {from} overflowed after its panic began"
    );
}

/// Run [`descend_and_panic`] to `depth` on a `backend` task, check that it ended with one line
/// naming it and what happened (none for a Chimera task's overflow: it starts with every
/// handler reset, so only its join reports the SIGSEGV), and say which signal ended it and
/// whether the panic had begun; `None` when the check was skipped.
fn ended_by(backend: Backend, depth: u32) -> Option<(Signal, bool)> {
    let reached = map_shared(8).cast::<AtomicBool>() as usize;
    // SAFETY: a fresh shared mapping, never unmapped: the flag outlives the forked child.
    let flag = move || unsafe { &*(reached as *const AtomicBool) };
    let outcome = run_in_fork(backend, move || descend_and_panic(depth, flag()));
    let Outcome { status, id, lines } = &outcome;
    if backend == Backend::Chimera
        && let Some(reason) = core_dump_took_the_creator(*status)
    {
        skip(reason);
        return None;
    }
    let context = format!("{backend:?} at depth {depth}: {status:?} {lines:?}");
    if status.signal() == Some(Signal::SIGALRM) {
        panic!("hung until the child's alarm: {context}");
    }
    let signal = match (backend, status) {
        (Backend::Chimera, ExitStatus::Exited(0)) => Signal::SIGABRT,
        (Backend::Chimera, ExitStatus::Exited(CHIMERA_SIGSEGV)) => Signal::SIGSEGV,
        (Backend::Chimera, _) => panic!("{context}"),
        (_, status) => status.signal().unwrap_or_else(|| panic!("{context}")),
    };
    let said = match (signal, backend) {
        (Signal::SIGABRT, _) => Some("panicked at"),
        (Signal::SIGSEGV, Backend::Chimera) => None,
        (Signal::SIGSEGV, _) => Some("overflowed its"),
        _ => panic!("{context}"),
    };
    match (said, lines.as_slice()) {
        (Some(said), [line]) => assert!(
            line.starts_with(&format!("rawclone: task {id} ({backend:?}) ")) && line.contains(said),
            "{context}"
        ),
        (None, []) => {}
        _ => panic!("{context}"),
    }
    Some((signal, flag().load(SeqCst)))
}

/// The hook names panics on tasks only: elsewhere a panic still unwinds as std's does.
#[test]
fn a_panic_outside_tasks_still_unwinds() {
    drop(Spawner::new(Backend::Thread).unwrap());
    let caught = std::panic::catch_unwind(|| panic!("expected by this test"));
    assert!(caught.is_err());
}

/// Eight tasks of one process that allocate at the same moment: the process ends with the first
/// abort, and stderr has one line, not one from each task that got that far.
fn eight_tasks_breaking_the_rule_at_once_say_one_line(backend: Backend) {
    drop(Spawner::new(backend).unwrap());
    let (status, lines) = in_fork_stderr(|| {
        let Ok(spawner) = Spawner::config(backend).workers(8).build() else {
            return 2;
        };
        static GO: AtomicBool = AtomicBool::new(false);
        let task = || {
            while !GO.load(SeqCst) {
                core::hint::spin_loop();
            }
            *Box::new(core::hint::black_box(1u8))
        };
        // SAFETY: the tasks allocate on purpose; GuardedAlloc ends the process first.
        let handles = [(); 8].map(|_| unsafe { spawner.spawn(task) });
        GO.store(true, SeqCst);
        drop(handles);
        3
    });
    assert_eq!(
        status.signal(),
        Some(Signal::SIGABRT),
        "{backend:?}: {lines:?}"
    );
    assert_eq!(lines.len(), 1, "{backend:?}: {lines:?}");
}

// Thread and Green: each Chimera task is a process of its own, and says its own line.
#[test]
fn eight_thread_tasks_breaking_the_rule_at_once_say_one_line() {
    eight_tasks_breaking_the_rule_at_once_say_one_line(Backend::Thread);
}

#[test]
fn eight_green_tasks_breaking_the_rule_at_once_say_one_line() {
    eight_tasks_breaking_the_rule_at_once_say_one_line(Backend::Green);
}
