//! The control block at the top of every spawner task's stack, and [`current`], which finds it
//! through the thread pointer.
//!
//! Each Thread or Chimera task is created with `CLONE_SETTLS` pointing at its own block, and each
//! Green worker thread at the block of its worker, so no task ever runs on the thread pointer of
//! the thread that spawned it: nothing reads the parent's TLS, its `errno` or its stack guard by
//! accident. A green task shares its worker's thread pointer; the worker's block says which green
//! task it is running.
//!
//! The first word of a block holds its own address, as x86_64's TCB convention (`%fs:0`) asks, and
//! the second a magic number, so [`current`] can tell a rawclone block from libc's TCB without
//! reading past memory that any TCB has.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// Identifies a rawclone control block behind a thread pointer ("rawclone" in ASCII).
const MAGIC: u64 = u64::from_le_bytes(*b"rawclone");

/// How a [`crate::Spawner`] runs its tasks.
///
/// ```
/// use rawclone::{Backend, Spawner};
/// for backend in [Backend::Thread, Backend::Chimera, Backend::Green] {
///     let spawner = Spawner::new(backend)?;
///     // SAFETY: the task only asks who it is.
///     let task = unsafe { spawner.spawn(|| rawclone::current().map(|c| c.backend))? };
///     assert_eq!(task.join()?, Some(backend));
/// }
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    /// Each task is a kernel thread of this process (the core's [`crate::thread`] mode).
    Thread,
    /// Each task is a process with its own pid that shares this address space (`CLONE_VM`, the
    /// core's [`crate::chimera`] mode).
    Chimera,
    /// Tasks are user-space contexts switched cooperatively ([`crate::yield_now`]) on worker
    /// threads the spawner creates with raw clone.
    Green,
}

/// What a control block belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// A task; for a green task, the thread pointer stays its worker's.
    Task,
    /// A green worker thread; `running` names the green task on it.
    Worker,
}

/// Where a task stands, as the futex word its joiner waits on.
pub(crate) const RUNNING: u32 = 1;
/// Running, and a joiner sleeps on the word: the finisher must wake it.
pub(crate) const RUNNING_WATCHED: u32 = 2;
/// Finished: the result (if any) is written and the task no longer uses its stack.
pub(crate) const DONE: u32 = 0;

/// A control block. `repr(C)` so the first two words stay where [`current`] looks.
#[repr(C, align(64))]
pub(crate) struct Header {
    /// This block's own address (x86_64's `%fs:0` convention).
    self_ptr: *const Header,
    /// [`MAGIC`].
    magic: u64,
    pub id: u64,
    /// Which process of the address space the thread on this block belongs to: a Chimera task's
    /// own id, or for Thread tasks and Green workers the tag of the thread that spawned them (0
    /// for the original process). See `orphans::Creator`.
    pub process: u64,
    pub backend: Backend,
    pub role: Role,
    /// Lowest usable address of the stack this block sits on; its guard page is just below.
    pub stack_base: usize,
    /// Usable bytes of that stack.
    pub stack_size: usize,
    /// Set once the task's closure returned and its result is written.
    pub returned: AtomicBool,
    /// Green tasks: [`RUNNING`], [`RUNNING_WATCHED`] or [`DONE`].
    pub state: AtomicU32,
    /// Chimera tasks: 1 until the kernel zeroes it and wakes its futex (`CLONE_CHILD_CLEARTID`)
    /// as the task's process lets go of the address space, at its end: the join word of a
    /// joiner in another process (see `orphans`).
    pub alive: AtomicU32,
    /// Tasks spawned in a scope: the scope's count of unfinished tasks.
    pub scope: *const AtomicU32,
    /// Workers: the green task running on this worker, or null.
    pub running: AtomicPtr<Header>,
    /// Green: the saved stack pointer of this task (or, for a worker, of its scheduler loop).
    pub sp: UnsafeCell<*mut u8>,
    /// Green tasks: the worker running it, set before every switch in.
    pub worker: UnsafeCell<*const Header>,
    /// Green tasks: set by the task just before its last switch out.
    pub finished: UnsafeCell<bool>,
    /// Green tasks: the closure, on this task's stack.
    pub closure: UnsafeCell<*mut u8>,
    /// Set once the task's scope was told it ended (by the task, or by its joiner).
    left: AtomicBool,
    /// Green tasks: the run-queue link.
    pub next: UnsafeCell<*mut Header>,
}

// SAFETY: the fields other threads touch are atomics; the UnsafeCells are touched only by whoever
// runs the task at the time (its worker or the task itself), with the run queue's lock or a
// context switch ordering the hand-overs.
unsafe impl Sync for Header {}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Header {
    /// Write a fresh block at `at` (which becomes its own `self_ptr`), on `stack`.
    ///
    /// # Safety
    /// `at` must be aligned and writable for a `Header`, and not in use.
    pub(crate) unsafe fn init(
        at: *mut Header,
        stack: &crate::stack::Stack<'_>,
        backend: Backend,
        role: Role,
        scope: *const AtomicU32,
    ) -> &'static Header {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let process = if backend == Backend::Chimera && role == Role::Task {
            id
        } else {
            this_block().map_or(0, |b| b.process)
        };
        let header = Header {
            self_ptr: at,
            magic: MAGIC,
            id,
            process,
            backend,
            role,
            stack_base: stack.base() as usize,
            stack_size: stack.size(),
            returned: AtomicBool::new(false),
            state: AtomicU32::new(RUNNING),
            alive: AtomicU32::new(1),
            scope,
            running: AtomicPtr::new(ptr::null_mut()),
            sp: UnsafeCell::new(ptr::null_mut()),
            worker: UnsafeCell::new(ptr::null()),
            finished: UnsafeCell::new(false),
            closure: UnsafeCell::new(ptr::null_mut()),
            left: AtomicBool::new(false),
            next: UnsafeCell::new(ptr::null_mut()),
        };
        // SAFETY: the caller gives us the memory.
        unsafe {
            at.write(header);
            &*at
        }
    }

    /// Tell the task's scope, if any, that the task no longer uses anything it borrowed. Once
    /// only: the task does it when it returns, its joiner when it ended otherwise (killed, or
    /// `exit`), so a scope never waits for a task that is gone.
    pub(crate) fn leave_scope(&self) {
        if self.scope.is_null() || self.left.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: a scope waits for its count to reach zero before it ends, so it is alive here.
        let live = unsafe { &*self.scope };
        if live.fetch_sub(1, Ordering::Release) == 1 {
            // The scope may end as soon as the count is zero: wake by address only (a stale
            // address is harmless, since futex waiters re-check their word).
            let _ = crate::sys::futex_wake_at(self.scope, u32::MAX);
        }
    }
}

/// What sits at the top of a task's stack: the control block, then the result slot.
#[repr(C)]
pub(crate) struct Block<T> {
    pub header: Header,
    pub result: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Block<T> {
    /// What every task does once its closure returned: store the value, mark it returned, tell
    /// the scope.
    ///
    /// # Safety
    /// Called once, by the task that owns the block, before it ends.
    pub(crate) unsafe fn complete(&self, value: T) {
        // SAFETY: the slot is the task's until it ends; the joiner reads it only after that.
        unsafe { self.result.get().write(MaybeUninit::new(value)) };
        self.header.returned.store(true, Ordering::Release);
        self.header.leave_scope();
    }
}

/// The control block behind the calling thread's pointer, if it is one of rawclone's.
pub(crate) fn this_block() -> Option<&'static Header> {
    let tp = crate::arch::thread_pointer();
    if tp == 0 || !tp.is_multiple_of(align_of::<Header>()) {
        return None;
    }
    let header = tp as *const Header;
    // SAFETY: a non-null thread pointer points at a TCB; every TCB layout this runs under (glibc,
    // musl, rawclone) has at least two readable words there, and we read no further unless they
    // are rawclone's.
    let (self_ptr, magic) = unsafe {
        (
            ptr::read_volatile(&raw const (*header).self_ptr),
            ptr::read_volatile(&raw const (*header).magic),
        )
    };
    // SAFETY: self pointer and magic match: this is a live rawclone block, which outlives the
    // thread that runs on it.
    (self_ptr == header && magic == MAGIC).then(|| unsafe { &*header })
}

/// The task the calling thread runs: the block itself, or for a green worker the task it has
/// switched in (`None` between tasks).
pub(crate) fn this_task() -> Option<&'static Header> {
    let block = this_block()?;
    match block.role {
        Role::Task => Some(block),
        // SAFETY: `running` is set by this very thread (the worker) before it switches into a
        // task, and that task's block lives until the task is joined, after it finished here.
        Role::Worker => unsafe { block.running.load(Ordering::Relaxed).as_ref() },
    }
}

/// Who the calling task is, as [`current`] reports it.
///
/// ```
/// use rawclone::{Backend, Spawner};
/// let spawner = Spawner::new(Backend::Thread)?;
/// // SAFETY: the task only asks who it is.
/// let task = unsafe { spawner.spawn(|| rawclone::current().map(|c| c.id))? };
/// let id = task.id();
/// assert_eq!(task.join()?, Some(id));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Current {
    /// The task's id: unique in this process, the same as [`crate::JoinHandle::id`].
    pub id: u64,
    /// The backend running it.
    pub backend: Backend,
}

/// The calling task, when it runs under a [`crate::Spawner`]; `None` anywhere else (the main
/// thread, a std thread, a green worker between tasks).
///
/// Reads the thread pointer (`tpidr_el0` on aarch64, `tp` on riscv64; `arch_prctl(ARCH_GET_FS)` on
/// x86_64, one syscall) and the control block behind it. No libc, no TLS variables.
///
/// ```
/// assert_eq!(rawclone::current(), None); // a doctest's thread is not a spawner task
/// ```
pub fn current() -> Option<Current> {
    let task = this_task()?;
    Some(Current {
        id: task.id,
        backend: task.backend,
    })
}
