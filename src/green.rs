//! Green tasks: user-space contexts on small stacks, switched cooperatively by
//! [`crate::arch::green_switch`] on worker threads that the spawner creates with raw clone.
//!
//! A worker loops: take a task from the shared run queue, note it in its control block, switch
//! to it, and when the task switches back, either queue it again (it yielded) or mark it done
//! (it finished) and wake its joiner. Only the worker writes a task's state to done, and only
//! after it is back on its own stack, so a joiner that sees done may reuse the task's stack at once.
//!
//! Idle workers spin briefly, then sleep on an event count (a futex word bumped by every push),
//! so a steady stream of spawns never pays for a futex wake-up and an idle spawner costs nothing.

use crate::arch;
use crate::control::{DONE, Header, RUNNING, RUNNING_WATCHED, Role};
use crate::sync::{Lock, SPINS, spin_until};
use crate::sys;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use syscalls::Errno;

/// Tasks waiting for a worker, first in first out, linked through their control blocks.
struct List {
    head: *mut Header,
    tail: *mut Header,
}

// SAFETY: the list owns the right to run the tasks it links; handing that to another thread is
// what it is for.
unsafe impl Send for List {}

/// The run queue and the workers' sleep/wake protocol.
pub(crate) struct RunQueue {
    list: Lock<List>,
    /// Bumped by every push and by shutdown; idle workers sleep on it.
    events: AtomicU32,
    /// Workers asleep (or about to be) on `events`.
    sleepers: AtomicU32,
    shutdown: AtomicBool,
}

impl RunQueue {
    pub(crate) const fn new() -> RunQueue {
        RunQueue {
            list: Lock::new(List {
                head: ptr::null_mut(),
                tail: ptr::null_mut(),
            }),
            events: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
        }
    }

    /// Queue a task that is ready to run.
    ///
    /// # Safety
    /// `task` must be a green task's block that is in no queue and that nothing runs.
    pub(crate) unsafe fn push(&self, task: *mut Header) {
        let mut list = self.list.lock();
        // SAFETY: the task is ours to link (caller), the tail is in the list we hold locked.
        unsafe {
            *(*task).next.get() = ptr::null_mut();
            match list.tail.as_ref() {
                Some(tail) => *tail.next.get() = task,
                None => list.head = task,
            }
        }
        list.tail = task;
        drop(list);
        self.events.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _ = sys::futex_wake(&self.events, 1);
        }
    }

    fn pop(&self) -> Option<*mut Header> {
        let mut list = self.list.lock();
        let task = list.head;
        if task.is_null() {
            return None;
        }
        // SAFETY: a non-null head is a queued task whose link we may read under the lock.
        let next = unsafe { *(*task).next.get() };
        list.head = next;
        if next.is_null() {
            list.tail = ptr::null_mut();
        }
        Some(task)
    }

    /// The next task, waiting for one if need be; `None` once the spawner shuts down.
    ///
    /// Between looks at the queue the worker watches only `events`, without the queue's lock, so
    /// an idle worker never holds up a spawner that pushes.
    fn next_or_wait(&self) -> Option<*mut Header> {
        loop {
            // Read `events` before looking: a push after this look changes it.
            let seen = self.events.load(Ordering::SeqCst);
            if let Some(task) = self.pop() {
                return Some(task);
            }
            if self.shutdown.load(Ordering::SeqCst) {
                return None;
            }
            if !spin_until(SPINS, || self.events.load(Ordering::Relaxed) != seen) {
                // Announce the sleep before checking once more: a push that misses the
                // announcement has changed `events`, so the wait returns at once.
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                if self.events.load(Ordering::SeqCst) == seen {
                    let _ = sys::futex_wait(&self.events, seen);
                }
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Make every worker leave its loop once the queue is empty.
    pub(crate) fn shut_down(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.events.fetch_add(1, Ordering::SeqCst);
        let _ = sys::futex_wake(&self.events, u32::MAX);
    }
}

/// A worker thread's loop. `me` is the worker's own block (its thread pointer).
pub(crate) fn worker_loop(queue: &RunQueue, me: &Header) -> usize {
    debug_assert_eq!(me.role, Role::Worker);
    while let Some(task) = queue.next_or_wait() {
        // SAFETY: the queue gave us the only right to run `task`, whose block lives until its
        // joiner sees DONE, which only we write, below.
        let t = unsafe { &*task };
        me.running.store(task, Ordering::Relaxed);
        // SAFETY: as above; `me.sp` is ours, `t.sp` was saved by the task or by green_frame.
        unsafe {
            *t.worker.get() = me;
            arch::green_switch(me.sp.get(), *t.sp.get());
        }
        me.running.store(ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: the task is switched out; only we look at it now.
        if unsafe { *t.finished.get() } {
            // The joiner may reuse the task's stack as soon as it sees DONE: wake by address.
            let state: *const AtomicU32 = &t.state;
            if t.state.swap(DONE, Ordering::Release) == RUNNING_WATCHED {
                let _ = sys::futex_wake_at(state, 1);
            }
        } else {
            // SAFETY: the task yielded; it is in no queue and nothing runs it.
            unsafe { queue.push(task) };
        }
    }
    0
}

/// Switch from the green task `task` back to the worker running it. Returns when a worker
/// switches the task in again, unless the task set `finished`.
///
/// # Safety
/// Must be called by `task` itself, running on a worker.
unsafe fn switch_out(task: &Header) {
    // SAFETY: the worker set `task.worker` before switching in and waits in green_switch; the
    // task's `sp` slot is the task's own.
    unsafe {
        let worker = &**task.worker.get();
        arch::green_switch(task.sp.get(), *worker.sp.get());
    }
}

/// Where a green task begins: run the closure, store the result, switch out for good.
///
/// # Safety
/// `block` must be a green task's [`crate::control::Block<T>`] whose `closure` points at an `F`
/// that only this task reads.
pub(crate) unsafe extern "C" fn task_main<F, T>(block: *mut u8) -> !
where
    F: FnOnce() -> T,
{
    let block = block.cast::<crate::control::Block<T>>();
    // SAFETY: the caller's contract; the block outlives the task.
    unsafe {
        let header = &(*block).header;
        let f = ptr::read((*header.closure.get()).cast::<F>());
        (*block)
            .result
            .get()
            .write(core::mem::MaybeUninit::new(f()));
        header.returned.store(true, Ordering::Release);
        header.leave_scope();
        *header.finished.get() = true;
        switch_out(header);
    }
    // A finished task is never switched in again.
    unreachable!()
}

/// Let other green tasks on this worker run; the caller continues when a worker picks it up
/// again (possibly another worker). Outside a green task, yields the CPU with `sched_yield(2)`.
///
/// ```
/// rawclone::yield_now(); // outside a spawner: sched_yield
/// ```
pub fn yield_now() {
    if let Some(worker) = crate::control::this_block().filter(|b| b.role == Role::Worker) {
        let task = worker.running.load(Ordering::Relaxed);
        // SAFETY: a non-null `running` is the live block of the task the worker switched in.
        if let Some(task) = unsafe { task.as_ref() } {
            // SAFETY: we are that task (a worker runs no other code between setting `running`
            // and switching in); `switch_out` returns when we are resumed.
            unsafe { switch_out(task) };
            return;
        }
    }
    sys::sched_yield();
}

/// Whether the caller is a green task (on a worker thread): it must then wait by yielding, since
/// blocking would stop its worker, which may be the one that has to run what it waits for.
pub(crate) fn on_green_task() -> bool {
    crate::control::this_block()
        .is_some_and(|b| b.role == Role::Worker && !b.running.load(Ordering::Relaxed).is_null())
}

/// Wait until `done()`: spin a little, then, on a green task, yield until it holds; elsewhere
/// return `false` so the caller can sleep on a futex.
pub(crate) fn spin_or_yield_until(done: impl Fn() -> bool) -> bool {
    if spin_until(SPINS, &done) || !on_green_task() {
        return done();
    }
    while !done() {
        yield_now();
    }
    true
}

/// Wait until the green task `task` is done: spin a little, then sleep on its state word (or, on
/// a green task, yield).
pub(crate) fn wait_done(task: &Header) {
    if !spin_or_yield_until(|| task.state.load(Ordering::Acquire) == DONE) {
        sleep_until_done(task, None);
    }
}

/// [`wait_done`] until `deadline` at the latest: whether the green task `task` is done. On a
/// green task it yields between looks; elsewhere it sleeps on the task's state word, with a
/// timeout.
pub(crate) fn wait_done_until(task: &Header, deadline: sys::Deadline) -> bool {
    if on_green_task() {
        while task.state.load(Ordering::Acquire) != DONE {
            if deadline.remaining().is_none() {
                return false;
            }
            yield_now();
        }
        return true;
    }
    sleep_until_done(task, Some(deadline))
}

/// Sleep on the state word of the green task `task` until it is done, or `deadline` passed;
/// whether it is done.
fn sleep_until_done(task: &Header, deadline: Option<sys::Deadline>) -> bool {
    loop {
        match task.state.compare_exchange(
            RUNNING,
            RUNNING_WATCHED,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Err(DONE) => return true,
            // A watched word left behind by a timed-out wait costs the worker one extra wake.
            Ok(_) | Err(_) => match sys::futex_wait_until(&task.state, RUNNING_WATCHED, deadline) {
                Ok(()) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(Errno::ETIMEDOUT) => return task.state.load(Ordering::Acquire) == DONE,
                Err(e) => panic!("futex wait on a task's state failed: {e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::{self, control};

    /// A green task's stack, 16-byte aligned as `green_frame` asks.
    #[repr(C, align(16))]
    struct Stack([u8; 16 * 1024]);

    /// A switch away and back keeps every register the psABI makes callee-saved (the general
    /// ones everywhere, and the floating-point ones where it names some: see each arch file's
    /// `registers`), though the task in between set them all to other values. Fails with any one
    /// save or restore removed.
    ///
    /// Each arch file's naked `probe(switch, task_sp, out)` is the main side: it saves its
    /// caller's callee-saved registers, loads `EXPECTED`, switches to the task at `task_sp`
    /// (saving into `switch.main`), and once back writes what it finds into `out`, a 64-bit word
    /// per register, before it restores its caller's. Its `clobber(switch)` is the task: it
    /// sets every one of them to all ones and switches back to `switch.main` for good.
    #[test]
    #[cfg(not(all(target_arch = "arm", not(target_abi = "eabihf"))))]
    fn green_switch_keeps_every_callee_saved_register() {
        use arch::registers::{EXPECTED, clobber, probe};
        /// The two saved stack pointers of the test's switches: the main side's, then the task's.
        #[repr(C)]
        struct Switch {
            main: *mut u8,
            task: *mut u8,
        }
        let mut stack = Stack([0; 16 * 1024]);
        let top = stack.0.as_mut_ptr_range().end;
        let mut switch = Switch {
            main: core::ptr::null_mut(),
            task: core::ptr::null_mut(),
        };
        let switch_ptr = (&raw mut switch).cast::<u8>();
        let mut out = [0u64; EXPECTED.len()];
        // SAFETY: `stack` is aligned with room for the frame and outlives the task, which runs
        // only inside `probe`; `probe` keeps its caller's callee-saved state and `out` holds the
        // words it writes.
        unsafe {
            let task_sp = arch::green_frame(top, clobber, switch_ptr);
            probe(switch_ptr, task_sp, out.as_mut_ptr());
        }
        assert!(!switch.task.is_null(), "the task never ran");
        assert_eq!(out, EXPECTED);
    }

    /// A switch keeps each side's floating-point control state (MXCSR and the x87 control word,
    /// FPCR, FPSCR, `frm`: callee-saved in the psABI of every architecture here): a new task starts
    /// with the default, not the home's (which rounds upward here), changes its own and finds it
    /// again when switched back in, and the home's is untouched by the task's change. Fails with
    /// any one restore removed, or with a first frame that inherits the home's state.
    #[test]
    fn green_switch_keeps_each_sides_floating_point_control_state() {
        use core::ptr;
        static mut HOME: *mut u8 = ptr::null_mut();
        static mut TASK: *mut u8 = ptr::null_mut();
        static mut SEEN: [u64; 2] = [u64::MAX; 2];
        extern "C" fn task(_: *mut u8) -> ! {
            // SAFETY: the statics are used by this test's one thread only, in turn; the task
            // computes nothing in floating point while it rounds toward zero.
            unsafe {
                SEEN[0] = control::get(); // the default a new task starts with
                control::set(control::TOWARD_ZERO);
                arch::green_switch(&raw mut TASK, HOME);
                SEEN[1] = control::get(); // its own, after the home's
                arch::green_switch(&raw mut TASK, HOME);
            }
            unreachable!("switched in a third time")
        }
        let mut stack = Stack([0; 16 * 1024]);
        let top = stack.0.as_mut_ptr_range().end;
        // SAFETY: `top` is aligned with room below it; the task runs only while we wait here,
        // and is left suspended for good on a stack nothing else uses. Nothing computes in
        // floating point while the home rounds upward; the default is back before any assert.
        let home = unsafe {
            control::set(control::UPWARD);
            TASK = arch::green_frame(top, task, ptr::null_mut());
            arch::green_switch(&raw mut HOME, TASK);
            let first = control::get();
            arch::green_switch(&raw mut HOME, TASK);
            let second = control::get();
            control::set(control::DEFAULT);
            [first, second]
        };
        assert_eq!(
            home,
            [control::UPWARD; 2],
            "the home's, after the task changed its, and once more"
        );
        // SAFETY: the task is suspended for good; nothing else touches SEEN.
        let seen = unsafe { (&raw const SEEN).read() };
        assert_eq!(
            seen,
            [control::DEFAULT, control::TOWARD_ZERO],
            "the task's: the default, then its own"
        );
    }
}
