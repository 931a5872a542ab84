//! The [`Spawner`]: tasks on pooled stacks, run by one of three [`Backend`]s, joined through a
//! [`JoinHandle`] that returns the task's value.
//!
//! Every task gets a stack from the spawner's pool. At its top sits the task's control block
//! (its thread pointer, see [`crate::current`]) and the slot for its result. Under it, a Thread or
//! Chimera task keeps 16 KiB: a Thread task's alternate signal stack, and for both the room where
//! x86's static TLS, which lies below the thread pointer, lands should code reach it (std's panic
//! machinery does). The closure is moved just below, onto the task's own stack, so spawning
//! allocates nothing. The handle borrows the spawner, and joining (or dropping) it waits for the
//! task and gives the stack back to the pool.
//!
//! # What task code may do
//! Task code runs concurrently with the caller, in the caller's address space, with a thread
//! pointer that is not libc's. So, in a std process, it must not call libc (that includes
//! `errno`, `println!` and everything in std that reaches libc), use `thread_local!`, or allocate
//! unless the global allocator is known to work without thread-local state. It may use
//! [`crate::sys`], atomics, the memory it borrowed or owns, [`crate::current`] and
//! [`crate::yield_now`]. That is why spawning is `unsafe`.
//!
//! # Signals
//! No handler of the process runs on a task: a handler that calls even an async-signal-safe libc
//! function such as `write(2)` would fault there, where `errno` is not libc's.
//! - Thread tasks and Green workers are threads of the process, sharing its handlers, so they
//!   run with every signal blocked but the faults ([`SigSet::TASK_DEFAULT`], changed with
//!   [`Config::signal_mask`]). A signal sent to the process is then delivered to one of its own
//!   threads; one sent to a task (`tgkill`) stays pending and is dropped when the task ends.
//! - A Chimera task is a process of its own: its handlers are reset to the default at its start
//!   (`CLONE_CLEAR_SIGHAND`), ignored signals stay ignored, and its mask is the spawning
//!   thread's. A signal sent to it, or to its process group (Ctrl-C, a hangup), then does what
//!   it does to any process: most end it, and its join says which.
//!
//! A fault in a task is still delivered to it (see below). What a Thread task or Green worker
//! starts inherits its mask: a program it execs (`vfork_exec`, `Namespaces::exec`) or a Chimera
//! spawner it builds starts with those signals blocked, so set the mask you want first
//! (`sys::set_signal_mask`).
//!
//! A task may spawn and join tasks. A green task that joins a green task, or ends a scope, waits
//! by yielding, so its worker runs the other tasks meanwhile; joining a Thread or Chimera task
//! from a green task blocks its worker until that task ends (which needs no worker, so it
//! cannot deadlock, but the worker's other green tasks wait too).
//!
//! A Chimera task can be joined from any process of the address space (another Chimera task
//! included): only its creator can reap it, so elsewhere the join waits for the word the kernel
//! zeroes when the task lets go of the memory (`CLONE_CHILD_CLEARTID`), and the zombie is left
//! to the creator, which reaps it at its next spawn, Chimera join or drop of the spawner. A
//! join from the creator returns the task's exit status in [`Error::TaskEnded`]; a join from
//! elsewhere cannot know it (`TaskEnded(None)`). A handle must stay in the address space: in a
//! copy made by `fork` the word is never cleared, and its join would wait for good.
//!
//! # What a task's value may hold
//! The value travels from the task to its joiner, which for a Chimera task is another process:
//! the address space is shared, but the fd table, signal handlers and credentials are not. A
//! value that names per-process state, such as an [`crate::sys::Fd`] opened in a Chimera task,
//! means something else in the joiner (closing it there closes the joiner's descriptor of that
//! number), so a Chimera task must return only values that hold memory, never descriptors or
//! other per-process resources; that is part of [`Spawner::spawn`]'s contract.
//!
//! # Panics and faults in a task
//! A panic runs std's panic machinery, which reads thread-local state; with a foreign thread
//! pointer that is undefined, so task code must not panic. When one does anyway, with the `std`
//! feature, a panic hook that the first spawner installs (wrapping the one before it, which
//! still handles every thread that is not rawclone's) names it in one line and aborts, such as
//! `rawclone: task 7 (Thread) panicked at src/main.rs:9:13: boom: tasks may not panic, see
//! Spawner::spawn's # Safety; SIGABRT ends the process` (the task only, for a Chimera task,
//! whose join then returns [`Error::TaskEnded`] with SIGABRT). That line is best effort: std
//! gets to the hook through state it keeps for the thread, and a hook the program sets later
//! replaces it. On riscv64 and arm with glibc, std reaches its thread-locals through
//! `__tls_get_addr`, which looks for glibc's TCB at the thread pointer (below it on riscv64), so
//! there a task's panic usually faults before the hook and is reported as the fault it is (on arm
//! glibc reads its TLS pointers from the control block, so it is undefined where that leads). In a `no_std` program whose panic handler only
//! uses raw syscalls, such as rawclone's freestanding programs, a panic ends the whole process
//! with that handler's message and status.
//!
//! A fault kills what the kernel delivers it to. A Chimera task is its own process: an overflow
//! of its guard page, or any other fatal signal, ends only that task, and its join returns
//! [`Error::TaskEnded`] naming the signal; except that before Linux 5.16 a core-dumping signal
//! (SIGSEGV of an overflow, SIGABRT of a broken rule) kills every process sharing the memory,
//! so there the creator dies with the task (kernel commit 0258b5fd7c71 limited the dump to one
//! thread group). A Thread or Green task is a thread of this process, so
//! the same fault ends the whole process with SIGSEGV; first, a handler the spawner installs
//! (on an alternate signal stack at the top of each task or worker stack) writes one line to
//! stderr, such as `rawclone: task 7 (Thread) overflowed its 128 KiB stack; SIGSEGV ends the
//! process`. Faults on threads that are not rawclone's go to the handler installed before.

use crate::clone::{Builder, MIN_CHILD_FRAME};
pub use crate::control::Backend;
use crate::control::{self, Block, Header, Role};
use crate::error::{Error, ExitStatus, Result};
use crate::flags::{CloneFlags, Rule};
use crate::green::{self, RunQueue};
use crate::orphans::{Creator, Orphans, Wait};
use crate::overflow::{self, ALT_STACK};
use crate::pool::StackPool;
use crate::signal::SigSet;
use crate::stack::{PAGE_SIZE, Stack, closure_room, place_under};
use crate::sys;
use crate::task::{Child, Thread};
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use linux_raw_sys::general as k;
use syscalls::Errno;

/// Default usable stack per Thread or Chimera task.
///
/// ```
/// use rawclone::{Backend, Spawner, spawner::DEFAULT_TASK_STACK};
/// assert_eq!(Spawner::new(Backend::Thread)?.stack_size(), DEFAULT_TASK_STACK);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub const DEFAULT_TASK_STACK: usize = 128 * 1024;
pub use crate::pool::IDLE_BYTES as DEFAULT_IDLE_BYTES;
/// Default usable stack per Green task.
///
/// ```
/// use rawclone::{Backend, Spawner, spawner::DEFAULT_GREEN_STACK};
/// let green = Spawner::config(Backend::Green).workers(1).build()?;
/// assert_eq!(green.stack_size(), DEFAULT_GREEN_STACK);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub const DEFAULT_GREEN_STACK: usize = 32 * 1024;
/// Most worker threads a Green spawner runs.
///
/// ```
/// use rawclone::{Backend, Error, Rule, Spawner, spawner::MAX_WORKERS};
/// let refused = Spawner::config(Backend::Green).workers(MAX_WORKERS + 1).build();
/// assert!(matches!(refused, Err(Error::Rule(Rule::WorkerCount, _))));
/// ```
pub const MAX_WORKERS: usize = 64;
/// Stack of each Green worker thread (its scheduler loop only; tasks run on their own stacks).
const WORKER_STACK: usize = 64 * 1024;

/// A raw pointer that a task carries to the thread it runs on: into its own block, or to the
/// slot its closure waits in.
struct TaskPtr<P>(*mut P);

impl<P> TaskPtr<P> {
    /// # Safety
    /// What `to` points to must be `Send`, or reached only by the task it is made for (the
    /// block's header): [`finish_into`], the one maker, asks `Send` of the closure and value.
    unsafe fn new(to: *mut P) -> TaskPtr<P> {
        TaskPtr(to)
    }
}
// SAFETY: what it points to is the task's alone while it runs (the block is read by the joiner
// only after the task is done, the closure's slot only by the task, once), and what moves
// between threads through it is the `Send` closure and value `finish_into` asks for.
unsafe impl<P> Send for TaskPtr<P> {}

/// A Green worker: its thread handle and the stack it runs on.
struct Worker {
    thread: Thread<'static>,
    stack: Stack<'static>,
}

/// The spawner's state, at a fixed address (its own mapping) because tasks and workers point
/// into it while the [`Spawner`] value itself may move.
struct Shared {
    backend: Backend,
    start_local: bool,
    /// Whether a Thread task's join spins before it sleeps (see [`JOIN_SPINS`]).
    spin_joins: bool,
    /// What every task and worker blocks ([`Config::signal_mask`]).
    signal_mask: SigSet,
    /// Chimera tasks joined from another process, for their creators to reap.
    orphans: Orphans,
    pool: StackPool,
    queue: RunQueue,
    workers: [Option<Worker>; MAX_WORKERS],
}

/// Bytes of the mapping that holds a [`Shared`].
const SHARED_LEN: usize = size_of::<Shared>().next_multiple_of(PAGE_SIZE);

/// How to build a [`Spawner`]: backend, stack size per task, worker threads for Green.
///
/// ```
/// use rawclone::{Backend, Spawner};
/// let spawner = Spawner::config(Backend::Green).workers(2).stack_size(32 * 1024).build()?;
/// assert_eq!(spawner.backend(), Backend::Green);
/// assert!(spawner.stack_size() >= 32 * 1024);
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Config {
    backend: Backend,
    stack_size: Option<usize>,
    workers: Option<usize>,
    start_local: bool,
    signal_mask: SigSet,
    idle_stacks: Option<usize>,
}

impl Config {
    /// Usable stack bytes per task (rounded up to whole pages; a guard page is added below).
    /// Default: [`DEFAULT_TASK_STACK`], or [`DEFAULT_GREEN_STACK`] for Green.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner, stack::PAGE_SIZE};
    /// let spawner = Spawner::config(Backend::Thread).stack_size(PAGE_SIZE + 1).build()?;
    /// assert_eq!(spawner.stack_size(), 2 * PAGE_SIZE); // whole pages
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn stack_size(mut self, bytes: usize) -> Config {
        self.stack_size = Some(bytes);
        self
    }

    /// Worker threads for the Green backend (1 to [`MAX_WORKERS`]); default: the CPUs this
    /// thread may run on. Ignored by the other backends.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let green = Spawner::config(Backend::Green).workers(2).build()?;
    /// // SAFETY: the task only returns a value.
    /// assert_eq!(unsafe { green.spawn(|| 1)? }.join()?, 1);
    /// assert!(Spawner::config(Backend::Green).workers(0).build().is_err());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn workers(mut self, n: usize) -> Config {
        self.workers = Some(n);
        self
    }

    /// Keep at most `n` idle stacks for the next tasks; a stack given back beyond that is
    /// unmapped. Default: as many as fit in [`DEFAULT_IDLE_BYTES`], at least one. 0 maps and
    /// unmaps a stack for every task.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::config(Backend::Thread).keep_idle_stacks(1).build()?;
    /// // SAFETY: the tasks only return.
    /// let (a, b) = unsafe { (spawner.spawn(|| 1)?, spawner.spawn(|| 2)?) };
    /// assert_eq!(a.join()? + b.join()?, 3);
    /// assert_eq!(spawner.idle_stacks(), 1); // the second stack back was unmapped
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn keep_idle_stacks(mut self, n: usize) -> Config {
        self.idle_stacks = Some(n);
        self
    }

    /// Start each Thread or Chimera task on the CPU that spawns it ([`Builder::start_local`]):
    /// for a task that is joined soon after, a fifth cheaper as a Thread task (whose join
    /// otherwise spins, see [`JoinHandle::join`]) and a third as a Chimera task in the README's
    /// benchmarks, at the price of a moment's delay before the load balancer spreads long tasks
    /// over idle CPUs. Off by default.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::config(Backend::Thread).start_local().build()?;
    /// // SAFETY: the task only adds.
    /// let task = unsafe { spawner.spawn(|| 2 + 2)? };
    /// assert_eq!(task.join()?, 4);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn start_local(mut self) -> Config {
        self.start_local = true;
        self
    }

    /// The signal mask every Thread task and Green worker runs with (Chimera tasks run with
    /// their handlers reset instead, see [signals](self#signals)). Default:
    /// [`SigSet::TASK_DEFAULT`], every signal blocked but the faults, so that a signal sent to
    /// the process is delivered to one of its own threads: a handler that uses libc (even
    /// async-signal-safe calls such as `write(2)`, which set `errno` through the thread pointer)
    /// would fault on a task's thread pointer, and one that uses only atomics would still see
    /// a task's state, not its thread's. A program whose handlers need neither may choose
    /// another mask, `SigSet::EMPTY` to block nothing; signals sent to one task (`tgkill`) are
    /// held until unblocked.
    ///
    /// ```
    /// use rawclone::{Backend, SigSet, Signal, Spawner, sys};
    /// let mask = SigSet::EMPTY.with(Signal::SIGUSR1);
    /// let spawner = Spawner::config(Backend::Thread).signal_mask(mask).build()?;
    /// // SAFETY: the task only makes a raw syscall.
    /// let task = unsafe { spawner.spawn(sys::signal_mask)? };
    /// assert_eq!(task.join()?, Ok(mask));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn signal_mask(mut self, mask: SigSet) -> Config {
        self.signal_mask = mask;
        self
    }

    /// Make the spawner; for Green, start its workers.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::config(Backend::Chimera).stack_size(64 * 1024).build()?;
    /// assert_eq!(spawner.backend(), Backend::Chimera);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn build(self) -> Result<Spawner> {
        let stack_size = self.stack_size.unwrap_or(match self.backend {
            Backend::Green => DEFAULT_GREEN_STACK,
            _ => DEFAULT_TASK_STACK,
        });
        let stack_size = crate::pool::whole_pages(stack_size)?;
        let workers = self
            .workers
            .unwrap_or_else(|| sys::available_cpus().min(MAX_WORKERS));
        if self.backend == Backend::Green && !(1..=MAX_WORKERS).contains(&workers) {
            return Err(Error::Rule(Rule::WorkerCount, CloneFlags::THREAD_SET));
        }
        let len = SHARED_LEN;
        let map = sys::mmap_anonymous(len, k::PROT_READ | k::PROT_WRITE, 0)
            .map_err(|e| Error::sys("mmap", e))?;
        let shared = map.cast::<Shared>();
        // SAFETY: a fresh, page-aligned, writable mapping large enough for a Shared.
        unsafe {
            shared.write(Shared {
                backend: self.backend,
                start_local: self.start_local,
                spin_joins: self.backend == Backend::Thread
                    && !self.start_local
                    && sys::available_cpus() > 1,
                signal_mask: self.signal_mask,
                orphans: Orphans::new(),
                pool: StackPool::new(stack_size, self.idle_stacks),
                queue: RunQueue::new(),
                workers: [const { None }; MAX_WORKERS],
            })
        };
        let spawner = Spawner {
            // SAFETY: mmap never returns null on success.
            shared: unsafe { NonNull::new_unchecked(shared) },
        };
        if self.backend != Backend::Chimera {
            overflow::install();
        }
        #[cfg(feature = "std")]
        crate::panic_report::install();
        if self.backend == Backend::Green {
            // On failure, dropping `spawner` stops the workers already started.
            for slot in 0..workers {
                spawner.start_worker(slot)?;
            }
        }
        Ok(spawner)
    }
}

/// Runs closures as tasks of one [`Backend`] on pooled, guard-paged stacks.
///
/// ```
/// use rawclone::{Backend, Spawner};
/// let spawner = Spawner::new(Backend::Thread)?;
/// let answer = 6;
/// // SAFETY: the task only multiplies; no libc, no TLS, no allocation, no panic.
/// let task = unsafe { spawner.spawn(move || answer * 7)? };
/// assert_eq!(task.join()?, 42);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub struct Spawner {
    shared: NonNull<Shared>,
}

// SAFETY: Shared is reached through &self only, and every part tasks touch concurrently is
// behind a Lock or atomic.
unsafe impl Send for Spawner {}
// SAFETY: as above.
unsafe impl Sync for Spawner {}

impl core::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Spawner")
            .field("backend", &self.backend())
            .field("stack_size", &self.stack_size())
            .finish()
    }
}

impl Spawner {
    /// A spawner with the backend's defaults.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner, spawner::DEFAULT_TASK_STACK};
    /// let spawner = Spawner::new(Backend::Chimera)?;
    /// assert_eq!((spawner.backend(), spawner.stack_size()), (Backend::Chimera, DEFAULT_TASK_STACK));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn new(backend: Backend) -> Result<Spawner> {
        Spawner::config(backend).build()
    }

    /// Start configuring a spawner.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let green = Spawner::config(Backend::Green).workers(1).stack_size(16 * 1024).build()?;
    /// // SAFETY: the task only returns a value.
    /// let task = unsafe { green.spawn(|| "done")? };
    /// assert_eq!(task.join()?, "done");
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub const fn config(backend: Backend) -> Config {
        Config {
            backend,
            stack_size: None,
            workers: None,
            start_local: false,
            signal_mask: SigSet::TASK_DEFAULT,
            idle_stacks: None,
        }
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the mapping lives until drop and is only read through shared references.
        unsafe { self.shared.as_ref() }
    }

    /// The backend every task of this spawner runs on.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// assert_eq!(Spawner::new(Backend::Thread)?.backend(), Backend::Thread);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.shared().backend
    }

    /// Usable stack bytes of each task.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::config(Backend::Thread).stack_size(100_000).build()?;
    /// assert!(spawner.stack_size() >= 100_000);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn stack_size(&self) -> usize {
        self.shared().pool.stack_size()
    }

    /// Stacks mapped and idle in the pool, ready for the next tasks.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::new(Backend::Thread)?;
    /// assert_eq!(spawner.idle_stacks(), 0);
    /// // SAFETY: the task only returns.
    /// unsafe { spawner.spawn(|| ())? }.join()?;
    /// assert_eq!(spawner.idle_stacks(), 1); // its stack went back to the pool
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn idle_stacks(&self) -> usize {
        self.shared().pool.idle()
    }

    /// The most idle stacks the pool keeps ([`Config::keep_idle_stacks`]).
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::config(Backend::Green).keep_idle_stacks(8).build()?;
    /// assert_eq!(spawner.kept_idle_stacks(), 8);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn kept_idle_stacks(&self) -> usize {
        self.shared().pool.keeps()
    }

    fn start_worker(&self, slot: usize) -> Result<()> {
        let shared = self.shared();
        let mut stack = Stack::map(WORKER_STACK)?;
        let header = block_at::<()>(&stack, ALT_STACK)?.cast::<Header>();
        // SAFETY: `block_at` gives an aligned, unused place at the top of the worker's stack.
        let me = unsafe { Header::init(header, &stack, Backend::Green, Role::Worker, ptr::null()) };
        let queue = &shared.queue;
        let alt = header as usize - ALT_STACK;
        let work = move || {
            // SAFETY: the ALT_STACK bytes under the worker's block are set aside for it.
            unsafe { overflow::use_alt_stack(alt as *mut u8) };
            green::worker_loop(queue, me)
        };
        let thread = {
            let mut below = below(&mut stack, alt as *mut u8);
            // SAFETY: the worker loop uses only raw syscalls, atomics, the queue and the green
            // tasks (whose rules bind their spawners); the stack and the queue live until the
            // worker is joined in Spawner::drop, which happens before either is released.
            unsafe {
                Builder::thread()
                    .tls(header as usize)
                    .child_mask(self.shared().signal_mask)
                    .spawn_thread(&mut below, work)?
                    .unbind()
            }
        };
        let worker = Worker { thread, stack };
        // SAFETY: workers are started only while building, before the spawner is shared.
        unsafe { (*self.shared.as_ptr()).workers[slot] = Some(worker) };
        Ok(())
    }

    /// Run `f` as a new task; the handle's [`JoinHandle::join`] returns its value.
    ///
    /// Fails with [`Error::OutOfTasks`] past `RLIMIT_NPROC` (or another task limit),
    /// [`Error::OutOfMemory`] when no stack can be mapped, and [`Error::StackTooSmall`] (with
    /// the bytes needed and the configured stack size) when the closure and its result do not
    /// fit the stack. Nothing leaks on failure: the closure is dropped and the stack goes back
    /// to the pool.
    ///
    /// A Thread task's join returns as soon as the kernel wakes it, which is before the kernel
    /// has released the thread's count against `RLIMIT_NPROC`: at the limit, a spawn right after
    /// a join may still fail with [`Error::OutOfTasks`], and succeeds a moment later.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let base = 40;
    /// for backend in [Backend::Thread, Backend::Chimera, Backend::Green] {
    ///     let spawner = Spawner::new(backend)?;
    ///     // SAFETY: the task only adds; no libc, no TLS, no allocation, no panic.
    ///     let task = unsafe { spawner.spawn(move || base + 2)? };
    ///     assert_eq!(task.join()?, 42);
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    ///
    /// # Safety
    /// `f` must follow the rules in the [module documentation](self): it runs concurrently, with a
    /// thread pointer that is not libc's, so no libc, no `thread_local!`, no allocation, no panic.
    /// Breaking them is often silent at first: an allocation or a `println!` "works", and glibc
    /// finds its heap corrupted later, elsewhere. To have them caught where they happen, install
    /// [`crate::GuardedAlloc`] as the global allocator in debug builds: a task that allocates is
    /// then stopped with one line naming it. A panic is named as one by the spawner's panic hook
    /// (see [panics](self#panics-and-faults-in-a-task)), an overflow by its fault handler. None of
    /// these catches `thread_local!` or a libc call that does not allocate, and a Chimera task
    /// aborted while it held something it shares with the process leaves it held: a lock, a
    /// `OnceLock` it was filling (as the first `println!` does), or after a panic std's panic-hook
    /// lock (a later `panic::set_hook` or `take_hook` in the process then waits for good). The
    /// handle must not be leaked with `mem::forget` (its stack would never return to the pool, and
    /// the task would never be reaped); a Chimera task killed while it holds handles leaks them the
    /// same way. On the Chimera backend the value must hold only memory, no descriptor or other
    /// per-process resource (see [what a task's value may hold](self#what-a-tasks-value-may-hold)).
    pub unsafe fn spawn<F, T>(&self, f: F) -> Result<JoinHandle<'_, T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: forwarded; 'static captures outlive any task.
        unsafe { self.spawn_in(ptr::null(), f) }
    }

    /// Run `f` with a [`Scope`] in which tasks may borrow from the caller, as
    /// `std::thread::scope` allows; every task spawned in the scope has finished when this
    /// returns, even if a handle was leaked.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::new(Backend::Green)?;
    /// let numbers = [1u64, 2, 3, 4];
    /// let total = spawner.scope(|s| -> rawclone::Result<u64> {
    ///     // SAFETY: the tasks only read the borrowed array.
    ///     let (low, high) = unsafe {
    ///         (s.spawn(|| numbers[..2].iter().sum::<u64>())?,
    ///          s.spawn(|| numbers[2..].iter().sum::<u64>())?)
    ///     };
    ///     Ok(low.join()? + high.join()?)
    /// })?;
    /// assert_eq!(total, 10);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            spawner: self,
            live: AtomicU32::new(0),
            _scope: PhantomData,
            _env: PhantomData,
        };
        // Waits on drop too, so an unwinding `f` cannot end the borrows under a running task.
        struct WaitAll<'a>(&'a AtomicU32);
        impl Drop for WaitAll<'_> {
            fn drop(&mut self) {
                let live = self.0;
                if !green::spin_or_yield_until(|| live.load(Ordering::Acquire) == 0) {
                    crate::sync::wait_until_zero(live);
                }
            }
        }
        let _wait = WaitAll(&scope.live);
        f(&scope)
    }

    /// Spawn `f`, counting it in `scope` (a live-task counter) when not null.
    ///
    /// # Safety
    /// As [`Spawner::spawn`]; `f`'s borrows must outlive the scope's wait for its counter.
    unsafe fn spawn_in<'a, F, T>(
        &'a self,
        scope: *const AtomicU32,
        f: F,
    ) -> Result<JoinHandle<'a, T>>
    where
        F: FnOnce() -> T + Send + 'a,
        T: Send + 'a,
    {
        let shared = self.shared();
        if shared.backend == Backend::Chimera {
            shared.orphans.reap_mine(Wait::Ready);
        }
        let mut stack = shared.pool.take()?;
        // A Thread task keeps an alternate signal stack under its block (see `overflow`). A
        // Chimera task keeps the same room there unused: its thread pointer is the block, and on
        // x86 the static TLS that code reaches through it (std's panic machinery does) lies
        // below the thread pointer, where it must not land on the task's closure or frames.
        let alt = if shared.backend == Backend::Green {
            0
        } else {
            ALT_STACK
        };
        let block = match block_at::<T>(&stack, alt) {
            Ok(block) => block,
            Err(e) => {
                shared.pool.give(stack);
                return Err(e);
            }
        };
        // SAFETY: `block_at` gives an aligned, unused place at the top of our stack.
        let header =
            unsafe { Header::init(block.cast(), &stack, shared.backend, Role::Task, scope) };
        // SAFETY: a non-null scope counter outlives every task spawned in it.
        if let Some(live) = unsafe { scope.as_ref() } {
            live.fetch_add(1, Ordering::Relaxed);
        }
        let task = {
            let end = block as usize - alt;
            let reserved = stack.top() as usize - end;
            let mut below = below(&mut stack, end as *mut u8);
            // SAFETY: forwarded; `below` is the part of `stack` under the block.
            unsafe { self.launch(block, header, &mut below, f) }
                .map_err(|e| e.with_reserved_top(reserved))
        };
        match task {
            Ok(task) => Ok(JoinHandle {
                pool: &shared.pool,
                orphans: &shared.orphans,
                stack: Some(stack),
                block,
                task: Some(task),
                spin: shared.spin_joins,
            }),
            Err(e) => {
                // SAFETY: as above.
                if let Some(live) = unsafe { scope.as_ref() } {
                    live.fetch_sub(1, Ordering::Relaxed);
                }
                shared.pool.give(stack);
                Err(e)
            }
        }
    }

    /// Start the task on this spawner's backend.
    ///
    /// # Safety
    /// As [`Spawner::spawn_in`]; `block` and `below` belong to one pooled stack.
    unsafe fn launch<F, T>(
        &self,
        block: *mut Block<T>,
        header: &Header,
        below: &mut Stack<'_>,
        f: F,
    ) -> Result<Task>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        match self.backend() {
            Backend::Green => {
                // SAFETY: forwarded.
                unsafe { self.launch_green(block, header, below, f)? };
                Ok(Task::Green)
            }
            Backend::Thread => {
                // SAFETY: forwarded; the slot `launch_clone` hands on holds `f`, under the block.
                let start = |under: &mut Stack<'_>, slot, room| unsafe {
                    self.start_thread(block as usize, under, finish_into(block, slot), room)
                };
                // SAFETY: forwarded; on `Ok` `start_thread` made a task that owns the closure
                // and reads it once at most, on `Err` no task exists and nothing read the slot.
                unsafe { launch_clone(below, f, start) }
            }
            Backend::Chimera => {
                // SAFETY: as for Thread.
                let start = |under: &mut Stack<'_>, slot, room| unsafe {
                    self.start_chimera(
                        block as usize,
                        header,
                        under,
                        finish_into(block, slot),
                        room,
                    )
                };
                // SAFETY: as for Thread.
                unsafe { launch_clone(below, f, start) }
            }
        }
    }

    /// The builder of a Thread or Chimera task: `room` bytes for the closure's copies in its
    /// first frames, and started on this CPU when the spawner was configured so.
    fn task_builder(&self, builder: Builder, room: usize) -> Builder {
        let builder = builder.frame_room(room);
        if self.shared().start_local {
            builder.start_local()
        } else {
            builder
        }
    }

    /// Start a Thread task that runs `run`, with its block (its thread pointer) at `block`.
    ///
    /// # Safety
    /// As [`Spawner::launch`]; `below` lies under the block and the closure `run` takes out.
    unsafe fn start_thread(
        &self,
        block: usize,
        below: &mut Stack<'_>,
        run: impl FnOnce() + Send,
        room: usize,
    ) -> Result<Task> {
        let alt = block - ALT_STACK;
        let run = move || {
            // SAFETY: spawn_in set the ALT_STACK bytes under the block aside for this.
            unsafe { overflow::use_alt_stack(alt as *mut u8) };
            run();
            0
        };
        let builder = Builder::thread()
            .tls(block)
            .child_mask(self.shared().signal_mask);
        // SAFETY: forwarded from the caller; the handle keeps the stack until the join.
        let thread = unsafe { self.task_builder(builder, room).spawn_thread(below, run)? };
        // SAFETY: the JoinHandle owns the stack and joins before giving it back.
        Ok(Task::Thread(unsafe { thread.unbind() }))
    }

    /// Start a Chimera task that runs `run`, with its block (its thread pointer) at `block`.
    ///
    /// # Safety
    /// As [`Spawner::start_thread`]; `header` is the block's.
    unsafe fn start_chimera(
        &self,
        block: usize,
        header: &Header,
        below: &mut Stack<'_>,
        run: impl FnOnce() + Send,
        room: usize,
    ) -> Result<Task> {
        let run = move || {
            run();
            0
        };
        // The kernel zeroes `alive` when the task is done with the memory: a join from any
        // process of this address space waits for that. Its handlers are reset, so no handler
        // of ours runs on its thread pointer, and a signal to its process group ends it as it
        // would any process.
        let builder = Builder::new()
            .flags(CloneFlags::VM)
            .exit_signal(None)
            .tls(block)
            .child_cleartid(header.alive.as_ptr())
            .reset_signal_handlers();
        // SAFETY: as for Thread; the word lives in the block until the join.
        let child = unsafe { self.task_builder(builder, room).spawn(below, run)? };
        Ok(Task::Chimera {
            child: child.unborrow(),
            creator: Creator::this(),
        })
    }

    /// Put `f` and a first context on the task's stack and queue it.
    ///
    /// # Safety
    /// As [`Spawner::launch`].
    unsafe fn launch_green<F, T>(
        &self,
        block: *mut Block<T>,
        header: &Header,
        below: &mut Stack<'_>,
        f: F,
    ) -> Result<()>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        // The closure in its slot, its copies and the result in the task's first frames, the
        // switch frame and the entry frame.
        let frames = closure_room::<F>()
            .saturating_add(size_of::<T>())
            .saturating_add(crate::arch::GREEN_FRAME + MIN_CHILD_FRAME);
        let (closure, top) = match closure_slot::<F>(below) {
            Ok((closure, top)) if below.size() >= below.top() as usize - top + frames => {
                (closure, top)
            }
            Ok((_, top)) => return Err(too_small(below, below.top() as usize - top + frames)),
            Err(span) => return Err(too_small(below, span.saturating_add(frames))),
        };
        // SAFETY: `closure` is aligned for F, inside `below`, which nothing else uses.
        unsafe { closure.write(f) };
        let header_ptr = block.cast::<Header>();
        // SAFETY: the block was just initialised and is not shared yet; the frame goes below
        // the closure on the same stack, with room checked above.
        unsafe {
            *(*header_ptr).closure.get() = closure as *mut u8;
            let sp =
                crate::arch::green_frame(top as *mut u8, green::task_main::<F, T>, block.cast());
            *header.sp.get() = sp;
            self.shared().queue.push(header_ptr);
        }
        Ok(())
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        let shared = self.shared.as_ptr();
        // SAFETY: no handle is alive (each borrows the spawner), so no task runs; workers are
        // stopped and joined before the pool and the mapping go away.
        unsafe {
            (*shared).orphans.reap_mine(Wait::All);
            (*shared).queue.shut_down();
            for slot in (*shared).workers.iter_mut() {
                if let Some(Worker { thread, stack }) = slot.take() {
                    thread.join();
                    drop(stack);
                }
            }
            ptr::drop_in_place(shared);
            let len = SHARED_LEN;
            let _ = sys::munmap(shared.cast(), len);
        }
    }
}

/// Where a `Block<T>` goes at the top of `stack`, if it fits with `reserve` bytes under it and
/// room for a frame below those.
fn block_at<T>(stack: &Stack<'_>, reserve: usize) -> Result<*mut Block<T>> {
    let top = stack.top() as usize;
    let block = place_under::<Block<T>>(top);
    let needed = (top.wrapping_sub(block))
        .saturating_add(reserve)
        .saturating_add(MIN_CHILD_FRAME);
    if block > top || stack.size() < needed {
        return Err(Error::StackTooSmall {
            needed,
            usable: stack.size(),
        });
    }
    Ok(block as *mut Block<T>)
}

/// The part of `stack` below `end` (at or under a place [`block_at`] chose), as a stack of its
/// own.
fn below<'s, B>(stack: &'s mut Stack<'_>, end: *mut B) -> Stack<'s> {
    let base = stack.base();
    // SAFETY: [base, end) lies inside `stack`, which we borrow mutably for 's.
    Stack::from_buf(unsafe { core::slice::from_raw_parts_mut(base, end as usize - base as usize) })
}

/// Put `f` in a slot of its own at the top of `below`, then have `start` clone the task
/// that runs it, on the part of `below` under the slot.
///
/// # Safety
/// `below` is memory nothing else uses until the task is joined. On `Ok`, `start` made a task
/// that owns the closure in the slot and reads it at most once; on `Err`, no task exists and
/// nothing read the slot.
unsafe fn launch_clone<F, T>(
    below: &mut Stack<'_>,
    f: F,
    start: impl FnOnce(&mut Stack<'_>, *mut F, usize) -> Result<Task>,
) -> Result<Task>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    // The closure waits in a slot of its own at the top of `below`, so that the few
    // wrappers around it on the way into the task carry a pointer, not the closure (an
    // unoptimised build copies a closure at each call), and the task reads it out once.
    // The clone's own check counts the closure's copies and the result in the task's first
    // frames (`frame_room`): the one check that sees all of the stack.
    let room = closure_room::<F>().saturating_add(size_of::<T>());
    let (slot, top) = match closure_slot::<F>(below) {
        Ok(place) => place,
        // Not even the closure fits: what the rest needs is counted once it does.
        Err(span) => return Err(too_small(below, span + room + MIN_CHILD_FRAME)),
    };
    // SAFETY: `closure_slot` gave an aligned place inside `below`, which nothing else uses.
    unsafe { slot.write(f) };
    let reserved = below.top() as usize - top;
    let mut under = self::below(below, top as *mut u8);
    start(&mut under, slot, room).map_err(|e| {
        // SAFETY: no task was created, so the closure is still ours to drop, once.
        unsafe { ptr::drop_in_place(slot) };
        e.with_reserved_top(reserved)
    })
}

/// Where a task's closure waits at the top of `below`: its slot and the top of the task's stack
/// under it, or, when it does not fit at all, at most the bytes it would take (the closure, its
/// alignment and 16).
fn closure_slot<F>(below: &Stack<'_>) -> core::result::Result<(*mut F, usize), usize> {
    let end = below.top() as usize;
    let slot = place_under::<F>(end);
    let top = slot & !15;
    if top <= end && top >= below.base() as usize {
        Ok((slot as *mut F, top))
    } else {
        Err((size_of::<F>() + align_of::<F>()).saturating_add(16))
    }
}

/// [`Error::StackTooSmall`] for `below`, which needs `needed` bytes.
fn too_small(below: &Stack<'_>, needed: usize) -> Error {
    Error::StackTooSmall {
        needed,
        usable: below.size(),
    }
}

/// What a Thread or Chimera task runs: the closure read out of `slot`, then its value into the
/// block, then the scope told.
fn finish_into<F, T>(block: *mut Block<T>, slot: *mut F) -> impl FnOnce() + Send
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    // SAFETY: F and T are Send; the block's header is used by this task and its joiner only.
    let (out, slot) = unsafe { (TaskPtr::new(block), TaskPtr::new(slot)) };
    move || {
        let (out, slot) = (out, slot);
        // SAFETY: the spawner wrote the closure there for this task alone, which reads it once.
        let f = unsafe { ptr::read(slot.0) };
        let value = f();
        // SAFETY: the block is this task's, alive until its joiner gives the stack back.
        unsafe { (*out.0).complete(value) };
    }
}

/// How a task is joined.
#[derive(Debug)]
enum Task {
    Thread(Thread<'static>),
    /// A Chimera task and the process that created it, the only one that can reap it.
    Chimera {
        child: Child<'static>,
        creator: Creator,
    },
    Green,
}

/// How many times a Thread task's join looks at the task's exit word before it sleeps on it
/// (about 25 µs on the 2-vCPU VM of the README's benchmarks), when the spawner lets the kernel
/// place its tasks and the thread that built it may run on more than one CPU. The kernel puts a
/// new thread on an idle CPU when there is one, and a short task there ends within the spin:
/// its join then costs no futex sleep, and no wake-up of the joiner's idle CPU from across
/// CPUs. A task started on the joiner's CPU ([`Config::start_local`], or one CPU in all) could
/// not run while its joiner spins there: its join sleeps at once.
const JOIN_SPINS: u32 = 1 << 10;

/// A task of a [`Spawner`]; [`JoinHandle::join`] waits for it and returns its value. Dropping
/// an unjoined handle also waits (and drops the value), then gives the stack back to the pool:
/// a task never outlives its handle, and no stack or zombie is left behind.
///
/// ```
/// use rawclone::{Backend, Spawner};
/// use std::time::Duration;
/// let spawner = Spawner::new(Backend::Thread)?;
/// // SAFETY: the task only computes.
/// let task = unsafe { spawner.spawn(|| (1..=10u64).product::<u64>())? };
/// // Wait with a deadline: on time-out the handle comes back, still usable.
/// let value = match task.join_timeout(Duration::from_secs(10)) {
///     Ok(result) => result?,
///     Err(still_running) => still_running.join()?,
/// };
/// assert_eq!(value, 3_628_800);
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Debug)]
pub struct JoinHandle<'a, T> {
    pool: &'a StackPool,
    orphans: &'a Orphans,
    stack: Option<Stack<'static>>,
    block: *mut Block<T>,
    /// `None` once waited for.
    task: Option<Task>,
    /// Whether a join spins before it sleeps ([`JOIN_SPINS`]).
    spin: bool,
}

// SAFETY: joining from another thread is sound: the task's value is T: Send, and the control
// block is only read after the task ended.
unsafe impl<T: Send> Send for JoinHandle<'_, T> {}

impl<T> JoinHandle<'_, T> {
    fn header(&self) -> &Header {
        // SAFETY: the block lives on the stack this handle owns.
        unsafe { &(*self.block).header }
    }

    /// The task's id, as [`crate::current`] reports it inside the task.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner, current};
    /// let spawner = Spawner::new(Backend::Thread)?;
    /// // SAFETY: the task only reads its own control block.
    /// let task = unsafe { spawner.spawn(|| current().map(|c| c.id))? };
    /// let id = task.id();
    /// assert_eq!(task.join()?, Some(id));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.header().id
    }

    /// The kernel's id for the task: a thread's tid or a chimera's pid; `None` for a green task.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner, sys};
    /// let spawner = Spawner::new(Backend::Thread)?;
    /// // SAFETY: the task only makes a raw syscall.
    /// let task = unsafe { spawner.spawn(sys::gettid)? };
    /// let tid = task.tid();
    /// assert_eq!(Some(task.join()?), tid);
    /// let green = Spawner::config(Backend::Green).workers(1).build()?;
    /// // SAFETY: the task only returns.
    /// let task = unsafe { green.spawn(|| ())? };
    /// assert_eq!(task.tid(), None); // green tasks have no kernel id
    /// task.join()?;
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn tid(&self) -> Option<sys::Pid> {
        match self.task.as_ref()? {
            Task::Thread(t) => Some(t.tid()),
            Task::Chimera { child, .. } => Some(child.pid()),
            Task::Green => None,
        }
    }

    /// Wait for the task to end: the status of a chimera, `None` for the other backends.
    fn wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.task.take() {
            Some(Task::Thread(thread)) => {
                // See JOIN_SPINS. On a green task the join sleeps at once, as a blocking call
                // there always does.
                if self.spin && !green::on_green_task() {
                    crate::sync::spin_until(JOIN_SPINS, || thread.is_finished());
                }
                thread.join();
                Ok(None)
            }
            Some(Task::Chimera { child, creator }) => {
                let header = self.header();
                let status = if Creator::this() == creator {
                    self.orphans.reap_mine(Wait::Ready);
                    match child.wait() {
                        Ok(status) => Some(status),
                        // Reaped elsewhere (SIGCHLD ignored): ended, status unknown.
                        Err(e) if e.errno() == Some(Errno::ECHILD) => None,
                        Err(e) => return Err(e),
                    }
                } else {
                    // Another process of this address space: the creator reaps the zombie (once
                    // it is one: the hand-over may come before the task's end).
                    let (pid, pidfd) = child.into_parts();
                    // A full table leaves the task to the creator's end (see `orphans`).
                    let _ = self.orphans.hand_over(creator, pid, pidfd.unwrap_or(-1));
                    None
                };
                // Whoever reaped it, the task is gone from its stack once the word is zero.
                crate::sync::wait_until_zero(&header.alive);
                // It created no more: what was or will be handed over to it goes to init.
                self.orphans.retire(header.id);
                Ok(status)
            }
            Some(Task::Green) => {
                green::wait_done(self.header());
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Whether the task has ended, without waiting: a Thread task's `CLONE_CHILD_CLEARTID` word,
    /// a Chimera task's `alive` word (zeroed by the kernel as its process lets go of the address
    /// space) or a Green task's state is read. Once `true`, [`JoinHandle::join`] does not block
    /// (for a Chimera task at most while the kernel finishes turning it into a zombie).
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::new(Backend::Thread)?;
    /// // SAFETY: the task only returns a value.
    /// let task = unsafe { spawner.spawn(|| 5)? };
    /// while !task.is_finished() {
    ///     rawclone::yield_now();
    /// }
    /// assert_eq!(task.join()?, 5);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        match self.task.as_ref() {
            Some(Task::Thread(thread)) => thread.is_finished(),
            Some(Task::Chimera { .. }) => self.header().alive.load(Ordering::Acquire) == 0,
            Some(Task::Green) => self.header().state.load(Ordering::Acquire) == control::DONE,
            None => true,
        }
    }

    /// Join the task if it has ended ([`JoinHandle::is_finished`]), without blocking:
    /// `Ok` with what [`JoinHandle::join`] returns, or `Err` with the handle, unchanged, while
    /// the task still runs.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicBool, Ordering};
    /// use rawclone::{Backend, Spawner};
    /// static GO: AtomicBool = AtomicBool::new(false);
    /// let spawner = Spawner::new(Backend::Thread)?;
    /// // SAFETY: the task only spins on an atomic.
    /// let task = unsafe { spawner.spawn(|| while !GO.load(Ordering::Acquire) {})? };
    /// let task = task.try_join().expect_err("still spinning");
    /// GO.store(true, Ordering::Release);
    /// task.join()?;
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn try_join(self) -> core::result::Result<Result<T>, Self> {
        if self.is_finished() {
            Ok(self.join())
        } else {
            Err(self)
        }
    }

    /// Wait at most `timeout` for the task to end, then join it as [`JoinHandle::join`]; `Err`
    /// gives the handle back if the task still runs when the time is up (join it later, or
    /// drop it, which waits).
    ///
    /// Thread and Chimera tasks are waited for with a futex wait with a timeout on the word the
    /// kernel clears at their end; Green tasks on their state word, or, from a green task, by
    /// yielding until the deadline. The deadline is taken from `CLOCK_MONOTONIC`, so signals
    /// that interrupt the wait do not stretch it. A task cannot be killed from outside (a
    /// Thread or Green task is part of this process), so a hung task's handle is best kept
    /// until the process ends.
    ///
    /// ```
    /// use core::time::Duration;
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::new(Backend::Green)?;
    /// // SAFETY: the task only returns a value.
    /// let task = unsafe { spawner.spawn(|| 6 * 7)? };
    /// match task.join_timeout(Duration::from_secs(10)) {
    ///     Ok(value) => assert_eq!(value?, 42),
    ///     Err(_still_running) => panic!("a task that only multiplies took 10 s"),
    /// }
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> core::result::Result<Result<T>, Self> {
        let deadline = sys::Deadline::after(timeout);
        let finished = match self.task.as_ref() {
            Some(Task::Thread(thread)) => thread.wait_until(deadline),
            Some(Task::Chimera { .. }) => {
                crate::sync::wait_until_zero_or(&self.header().alive, deadline)
            }
            Some(Task::Green) => green::wait_done_until(self.header(), deadline),
            None => true,
        };
        if finished { Ok(self.join()) } else { Err(self) }
    }

    /// Wait for the task and return its value, or [`Error::TaskEnded`] if it ended without
    /// returning one (a chimera killed by a signal, a thread that called `exit`).
    ///
    /// A Thread task of a spawner without [`Config::start_local`], on more than one CPU, usually
    /// runs on another CPU than its joiner, so the join looks at the task a thousand times or
    /// so before it sleeps: a short task ends within that, and its join then costs no sleep
    /// and no wake-up from across CPUs. Another Thread task's join and a Chimera task's sleep
    /// at once; a Green task's spins a while, then sleeps, or on a green task yields.
    ///
    /// ```
    /// use rawclone::{Backend, Error, Spawner, sys};
    /// let spawner = Spawner::new(Backend::Chimera)?;
    /// // SAFETY: the task only returns a value.
    /// assert_eq!(unsafe { spawner.spawn(|| 5)? }.join()?, 5);
    /// // SAFETY: the task only ends its own process, with a raw syscall.
    /// let task = unsafe { spawner.spawn(|| -> u32 { sys::exit_group(3) })? };
    /// let Err(Error::TaskEnded(Some(status))) = task.join() else { panic!("returned a value") };
    /// assert_eq!(status.code(), Some(3));
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn join(mut self) -> Result<T> {
        match self.wait() {
            Ok(status) => self.finish(status),
            Err(e) => {
                self.abandon(&e);
                Err(e)
            }
        }
    }

    /// The task has ended: tell its scope (if the task could not), take its value, give the
    /// stack back.
    fn finish(&mut self, status: Option<ExitStatus>) -> Result<T> {
        self.header().leave_scope();
        let returned = self.header().returned.swap(false, Ordering::Acquire);
        let result = if returned {
            // SAFETY: the task wrote the value before setting `returned`, and ended since.
            Ok(unsafe { (*(*self.block).result.get()).assume_init_read() })
        } else {
            Err(Error::TaskEnded(status))
        };
        if let Some(stack) = self.stack.take() {
            self.pool.give(stack);
        }
        result
    }

    /// Waiting for a chimera failed. ECHILD means something else reaped it, so it is gone and
    /// its stack is free; after any other error it may still run there, so the stack is leaked
    /// rather than handed to another task.
    fn abandon(&mut self, e: &Error) {
        if e.errno() == Some(Errno::ECHILD) {
            let _ = self.finish(None);
        } else if let Some(stack) = self.stack.take() {
            core::mem::forget(stack);
        }
    }
}

impl<T> Drop for JoinHandle<'_, T> {
    fn drop(&mut self) {
        if self.stack.is_none() {
            return; // joined
        }
        match self.wait() {
            Ok(status) => drop(self.finish(status)),
            Err(e) => self.abandon(&e),
        }
    }
}

/// Tasks that may borrow from the caller of [`Spawner::scope`], which waits for all of them.
///
/// ```
/// use rawclone::{Backend, Spawner};
/// let spawner = Spawner::new(Backend::Chimera)?;
/// let mut counts = [0u32; 2];
/// let (left, right) = counts.split_at_mut(1);
/// spawner.scope(|s| -> rawclone::Result<()> {
///     // SAFETY: each task only writes its own borrowed half (chimeras share the memory).
///     let a = unsafe { s.spawn(|| left[0] = 1)? };
///     // SAFETY: as above.
///     let b = unsafe { s.spawn(|| right[0] = 2)? };
///     a.join()?;
///     b.join()
/// })?;
/// assert_eq!(counts, [1, 2]);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    spawner: &'scope Spawner,
    live: AtomicU32,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Run `f` as a task of the scope's spawner; it may borrow anything that outlives the scope.
    ///
    /// ```
    /// use rawclone::{Backend, Spawner};
    /// let spawner = Spawner::new(Backend::Thread)?;
    /// let words = ["a", "bb", "ccc"];
    /// let total = spawner.scope(|s| -> rawclone::Result<usize> {
    ///     // SAFETY: the task only reads the borrowed array.
    ///     let task = unsafe { s.spawn(|| words.iter().map(|w| w.len()).sum::<usize>())? };
    ///     task.join()
    /// })?;
    /// assert_eq!(total, 6);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    ///
    /// # Safety
    /// As [`Spawner::spawn`].
    pub unsafe fn spawn<F, T>(&'scope self, f: F) -> Result<JoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: forwarded; the scope waits for `live` to drop to zero before the borrows end.
        unsafe { self.spawner.spawn_in(&self.live, f) }
    }
}
