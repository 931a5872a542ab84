//! Green tasks that run on the thread that spawns them: the shape of tokio's current-thread
//! runtime, but stackful. [`LocalSpawner::spawn`] queues a task on a pooled stack; the tasks run
//! when the thread waits for one ([`LocalHandle::join`]), each until it returns or yields
//! ([`Yielder::yield_now`]), and the join returns once its task has.
//!
//! # Why a second green backend
//! [`crate::Backend::Green`] runs its tasks on worker threads: a spawn wakes a worker on a futex
//! and a join sleeps on another, so each costs a cross-thread wake-up whenever the worker has
//! gone idle. Here nothing crosses threads: the run queue is a plain list in a `Cell` (the
//! spawner is neither `Send` nor `Sync`), a spawn is a stack from the pool and a frame written on
//! it, and a join or a yield is one context switch ([`crate::arch::green_switch`]) per task run.
//!
//! # What a task may do
//! A task runs on the spawning thread itself, with its thread pointer: unlike a
//! [`crate::Spawner`] task it may allocate, print and use thread-locals. What it must not do:
//! - overflow its stack ([`LocalSpawner::with_stack_size`]): the guard page below it ends the
//!   process with SIGSEGV;
//! - panic: a panic cannot unwind out of a task. std prints the message (and a backtrace, if
//!   asked), then its unwinder finds no frame above the task's first one to unwind into (the
//!   stack begins there) and aborts the process: "failed to initiate panic", SIGABRT. A panic the
//!   task catches itself (`std::panic::catch_unwind` inside the closure) unwinds as anywhere;
//! - block on something only another task of this spawner can provide (a lock, a channel's
//!   receive): the thread would wait for itself. Tasks wait for each other by joining, which
//!   yields; a join that would close a cycle (a task joining one that waits, through its own
//!   joins, for the first) is refused, as it could never return.
//!
//! The closure and its result are `'static`, so nothing a task borrows can go away under it: a
//! task whose handle was dropped still runs when a later join drives the queue, and one that
//! never ran when the spawner goes is dropped unrun. One that was suspended mid-way (it yielded
//! and was never resumed) keeps its stack, mapped and untouched, for the rest of the process:
//! what it holds is leaked, never freed under it (something it pinned there stays valid).
//!
//! The spawner's queue and the tasks' records point at state it keeps in a mapping of its own,
//! so the spawner itself may move (into a `Box`, out of a function) while tasks are queued. A
//! task yields and joins through its own spawner only: a yield or join that would switch out a
//! context other than the spawner's running task (a task of another spawner nested inside it,
//! joining across an unfinished task), a task joining itself, or a join cycle, ends the process
//! with one line and SIGABRT instead of switching stacks it does not own or waiting for ever.
//! (Joining a task that has finished needs no switch, so it is allowed from anywhere on the
//! thread.)

use crate::arch;
use crate::error::{Error, Result};
use crate::pool::StackPool;
use crate::spawner::DEFAULT_GREEN_STACK;
use crate::stack::{Stack, closure_room, place_under};
use crate::sys;
use core::cell::{Cell, UnsafeCell};
use core::fmt::{self, Write};
use core::marker::PhantomData;
use core::mem::{MaybeUninit, size_of};
use core::ptr::{self, NonNull};
use linux_raw_sys::general as k;

/// The part of a task's record that the queue and the switches use, whatever its result type.
#[repr(C)]
struct Link {
    /// The task's saved stack pointer (or its first frame, before it ran).
    sp: Cell<*mut u8>,
    /// The next task in the run queue.
    next: Cell<*mut Link>,
    /// The state of the spawner the task was queued on.
    spawner: *const State,
    /// Usable base of the task's stack, a [`StackPool`] stack given up to the task.
    stack: *mut u8,
    /// The closure, on the task's stack, until the task reads it.
    closure: *mut u8,
    started: Cell<bool>,
    finished: Cell<bool>,
    /// Its handle was dropped: whoever sees it finish (or the spawner's drop) cleans up.
    detached: Cell<bool>,
    /// The task this one waits for in a join (null when it is not joining): the chain a new
    /// join follows to refuse a cycle.
    waiting_on: Cell<*const Link>,
    /// Drop the closure in place (a task that never ran) or the result (one that finished).
    drop_closure: unsafe fn(*mut u8),
    drop_result: unsafe fn(*mut Link),
}

/// A task's record, at the top of its stack: the link, then the result slot.
#[repr(C)]
struct Slot<T> {
    link: Link,
    result: UnsafeCell<MaybeUninit<T>>,
}

/// A spawner of green tasks that run on the calling thread. See the [module
/// documentation](self).
///
/// ```
/// use rawclone::local::LocalSpawner;
/// let spawner = LocalSpawner::new()?;
/// let a = spawner.spawn(|y| {
///     y.yield_now(); // lets `b` run
///     vec![1, 2, 3].into_iter().sum::<u32>() // tasks may allocate
/// })?;
/// let b = spawner.spawn(|_| 10)?;
/// assert_eq!(a.join() + b.join(), 16);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub struct LocalSpawner {
    /// The state, in a mapping of its own: records and yielders point at it, and it must not
    /// move when the spawner does.
    state: NonNull<State>,
    /// Neither `Send` nor `Sync`: the queue and the tasks belong to one thread.
    _one_thread: PhantomData<*mut ()>,
}

/// What a [`LocalSpawner`] keeps at a fixed address.
struct State {
    pool: StackPool,
    /// One idle stack kept out of the pool (its usable base, or null), so a spawn after a join
    /// takes no lock.
    spare: Cell<*mut u8>,
    /// First and last task ready to run.
    head: Cell<*mut Link>,
    tail: Cell<*mut Link>,
    /// The task running now, or null when the thread is on its own stack.
    current: Cell<*mut Link>,
    /// The thread's own stack pointer while tasks run: a finishing task switches there.
    home: UnsafeCell<*mut u8>,
}

/// Bytes of the mapping that holds a [`State`].
const STATE_LEN: usize = size_of::<State>().next_multiple_of(crate::stack::PAGE_SIZE);

impl fmt::Debug for LocalSpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSpawner")
            .field("stack_size", &self.stack_size())
            .field("idle_stacks", &self.state().pool.idle())
            .finish()
    }
}

impl LocalSpawner {
    /// A spawner whose tasks get [`DEFAULT_GREEN_STACK`] bytes of stack each. Maps one page
    /// for its state; stacks are mapped on demand, and of those given back it keeps up to
    /// [`DEFAULT_IDLE_BYTES`](crate::spawner::DEFAULT_IDLE_BYTES) worth for the next tasks.
    ///
    /// ```
    /// let spawner = rawclone::local::LocalSpawner::new()?;
    /// assert_eq!(spawner.spawn(|_| 7)?.join(), 7);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn new() -> Result<LocalSpawner> {
        LocalSpawner::with_stack_size(DEFAULT_GREEN_STACK)
    }

    /// A spawner whose tasks get stacks of `bytes` usable bytes (rounded up to whole pages),
    /// each with a guard page below it. The task's record, its closure, its result and its
    /// first frame take some of it; a spawn that does not fit is [`Error::StackTooSmall`].
    ///
    /// ```
    /// use rawclone::local::LocalSpawner;
    /// let spawner = LocalSpawner::with_stack_size(256 * 1024)?;
    /// assert_eq!(spawner.stack_size(), 256 * 1024);
    /// let deep = spawner.spawn(|_| [1u8; 100_000].iter().map(|&b| u32::from(b)).sum::<u32>())?;
    /// assert_eq!(deep.join(), 100_000);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn with_stack_size(bytes: usize) -> Result<LocalSpawner> {
        let bytes = crate::pool::whole_pages(bytes)?;
        let map = sys::mmap_anonymous(STATE_LEN, k::PROT_READ | k::PROT_WRITE, 0)
            .map_err(|e| Error::sys("mmap", e))?;
        let state = map.cast::<State>();
        // SAFETY: a fresh, page-aligned, writable mapping large enough for a State.
        unsafe {
            state.write(State {
                pool: StackPool::new(bytes, None),
                spare: Cell::new(ptr::null_mut()),
                head: Cell::new(ptr::null_mut()),
                tail: Cell::new(ptr::null_mut()),
                current: Cell::new(ptr::null_mut()),
                home: UnsafeCell::new(ptr::null_mut()),
            })
        };
        Ok(LocalSpawner {
            // SAFETY: mmap never returns null on success.
            state: unsafe { NonNull::new_unchecked(state) },
            _one_thread: PhantomData,
        })
    }

    /// Usable bytes of each task's stack.
    ///
    /// ```
    /// let spawner = rawclone::local::LocalSpawner::new()?;
    /// assert_eq!(spawner.stack_size(), rawclone::spawner::DEFAULT_GREEN_STACK);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn stack_size(&self) -> usize {
        self.state().pool.stack_size()
    }

    fn state(&self) -> &State {
        // SAFETY: the mapping lives as long as the spawner and is written only through Cells.
        unsafe { self.state.as_ref() }
    }

    /// Queue `f` as a task; it runs when this thread next waits in a [`LocalHandle::join`],
    /// after the tasks queued before it, and gets a [`Yielder`] to let the others run.
    ///
    /// Errors: [`Error::OutOfMemory`] when no stack can be mapped, [`Error::StackTooSmall`] when
    /// the closure and its result do not fit on one.
    ///
    /// ```
    /// use rawclone::local::LocalSpawner;
    /// use std::{cell::RefCell, rc::Rc};
    /// let spawner = LocalSpawner::new()?;
    /// let order = Rc::new(RefCell::new(Vec::new())); // not Send: fine, tasks stay here
    /// let handles: Vec<_> = (0..3)
    ///     .map(|i| {
    ///         let order = order.clone();
    ///         spawner.spawn(move |y| {
    ///             order.borrow_mut().push((i, 'a'));
    ///             y.yield_now();
    ///             order.borrow_mut().push((i, 'b'));
    ///         })
    ///     })
    ///     .collect::<Result<_, _>>()?;
    /// handles.into_iter().for_each(|h| h.join());
    /// let expected = [(0, 'a'), (1, 'a'), (2, 'a'), (0, 'b'), (1, 'b'), (2, 'b')];
    /// assert_eq!(*order.borrow(), expected);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> Result<LocalHandle<'_, T>>
    where
        F: FnOnce(&Yielder) -> T + 'static,
        T: 'static,
    {
        let state = self.state();
        let stack = state.take_stack()?;
        let top = stack.top() as usize;
        let slot = place_under::<Slot<T>>(top);
        let closure = place_under::<F>(slot);
        let frame_top = closure & !15;
        // The record and the closure; the closure's copies in the task's first frames; the
        // result there before it is stored; the switch frame and room for the entry's own frame.
        let needed = top
            .saturating_sub(frame_top)
            .saturating_add(closure_room::<F>())
            .saturating_add(size_of::<T>())
            .saturating_add(arch::GREEN_FRAME + crate::clone::MIN_CHILD_FRAME);
        if closure > slot || slot > top || stack.size() < needed {
            let usable = stack.size();
            state.give_stack(stack);
            return Err(Error::StackTooSmall { needed, usable });
        }
        let Some(base) = stack.into_mapped_base() else {
            unreachable!("the pool hands out mapped stacks")
        };
        let slot = slot as *mut Slot<T>;
        // SAFETY: `closure` and `slot` are aligned, inside the stack just taken (room checked
        // above), which nothing else uses; the first frame goes below both.
        unsafe {
            (closure as *mut F).write(f);
            let sp = arch::green_frame(frame_top as *mut u8, run::<F, T>, slot.cast());
            slot.write(Slot {
                link: Link {
                    sp: Cell::new(sp),
                    next: Cell::new(ptr::null_mut()),
                    spawner: state,
                    stack: base,
                    closure: closure as *mut u8,
                    started: Cell::new(false),
                    finished: Cell::new(false),
                    detached: Cell::new(false),
                    waiting_on: Cell::new(ptr::null()),
                    drop_closure: drop_in_place_as::<F>,
                    drop_result: drop_result::<T>,
                },
                result: UnsafeCell::new(MaybeUninit::uninit()),
            });
        }
        state.push(slot.cast());
        Ok(LocalHandle {
            slot,
            _spawner: PhantomData,
        })
    }
}

impl State {
    /// The spare stack, else one from the pool.
    fn take_stack(&self) -> Result<Stack<'static>> {
        let spare = self.spare.replace(ptr::null_mut());
        if spare.is_null() {
            return self.pool.take();
        }
        // SAFETY: the spare is a pool stack that `give_stack` gave up, owned by no one else.
        Ok(unsafe { Stack::from_mapped_base(spare, self.pool.stack_size()) })
    }

    /// Keep `stack` as the spare, or give it back to the pool when there is one already.
    fn give_stack(&self, stack: Stack<'static>) {
        if self.spare.get().is_null() {
            if let Some(base) = stack.into_mapped_base() {
                self.spare.set(base);
            }
        } else {
            self.pool.give(stack);
        }
    }

    /// Give back the stack of a task that is done with it (its usable base).
    ///
    /// # Safety
    /// The stack came from [`State::take_stack`] and nothing runs on it or points into it.
    unsafe fn give_base(&self, base: *mut u8) {
        // SAFETY: the caller's contract.
        self.give_stack(unsafe { Stack::from_mapped_base(base, self.pool.stack_size()) });
    }

    /// Append `task` to the run queue.
    fn push(&self, task: *mut Link) {
        // SAFETY: `task` is a live record in no queue; the tail, if any, is a live record.
        unsafe {
            (*task).next.set(ptr::null_mut());
            match self.tail.get().as_ref() {
                Some(tail) => tail.next.set(task),
                None => self.head.set(task),
            }
        }
        self.tail.set(task);
    }

    /// Take the first task of the run queue.
    fn pop(&self) -> Option<*mut Link> {
        let task = self.head.get();
        // SAFETY: a non-null head is a live queued record.
        let next = unsafe { task.as_ref() }?.next.get();
        self.head.set(next);
        if next.is_null() {
            self.tail.set(ptr::null_mut());
        }
        Some(task)
    }

    /// The running task, after checking that the caller runs on its stack: a yield or a join
    /// from anywhere else (a task of another spawner nested in it) would save a context that
    /// is not the task's as the task's, so it ends the process instead.
    fn running_task(&self) -> *mut Link {
        let me = self.current.get();
        let here = core::hint::black_box(0u8);
        let here = &raw const here as usize;
        // SAFETY: a non-null `current` is the live record of the task switched in.
        let base = unsafe { me.as_ref() }.map_or(0, |link| link.stack as usize);
        if !(base..base + self.pool.stack_size()).contains(&here) {
            refuse("yielded or joined through a spawner whose running task it is not");
        }
        me
    }

    /// From the running task: queue it behind the others and switch to the first of them;
    /// nothing happens when no other task is ready. Returns when the task is switched in again.
    fn yield_task(&self) {
        // Nothing else ready: no switch, so no context is saved and there is nothing to check.
        let Some(next) = self.pop() else {
            return;
        };
        let me = self.running_task();
        self.push(me);
        self.current.set(next);
        // SAFETY: `me` is the running task, on whose stack we are (checked), whose `sp` slot is
        // its own; `next` was queued, so its `sp` holds a stack pointer it saved or its first
        // frame.
        unsafe { arch::green_switch((*me).sp.as_ptr(), (*next).sp.get()) };
    }

    /// Run tasks until `target` has finished: on the thread's own stack, switch to each in turn
    /// until a task finishes; from a task, yield until then. A finished target needs neither,
    /// wherever the join comes from.
    fn run_until_finished(&self, target: &Link) {
        if target.finished.get() {
            return;
        }
        if !self.current.get().is_null() {
            let me = self.running_task();
            if ptr::eq(me, target) {
                refuse("joined itself");
            }
            // Follow what `target` waits for, and what that waits for: reaching `me` means the
            // join would wait for itself.
            let mut waits: *const Link = target;
            while !waits.is_null() {
                if ptr::eq(waits, me) {
                    refuse("joined a task that waits for it (a join cycle)");
                }
                // SAFETY: a task some task waits for has a live record: the waiter's `join`
                // holds its handle until the waiter runs again and clears `waiting_on`.
                waits = unsafe { (*waits).waiting_on.get() };
            }
            // SAFETY: `me` is the running task's live record.
            let me = unsafe { &*me };
            me.waiting_on.set(target);
            while !target.finished.get() {
                self.yield_task();
            }
            me.waiting_on.set(ptr::null());
            return;
        }
        while !target.finished.get() {
            let Some(next) = self.pop() else {
                unreachable!("an unfinished task is queued while the thread is on its own stack")
            };
            self.current.set(next);
            // SAFETY: we are on the thread's own stack (no task is current), so `home` is ours
            // to save into; `next` was queued with a saved stack pointer or its first frame.
            unsafe { arch::green_switch(self.home.get(), (*next).sp.get()) };
            // Only a finishing task switches here, and it is `current`.
            let done = self.current.replace(ptr::null_mut());
            // SAFETY: a finished task's record lives until its handle or we clean it up; it is
            // off its stack now.
            if unsafe { (*done).detached.get() } {
                // SAFETY: as above: nothing will read it again.
                unsafe { self.clean_up(done) };
            }
        }
    }

    /// Drop what a task left and give its stack back: its result if it finished, its closure
    /// if it never ran. A task suspended mid-way keeps its stack for good (see the module
    /// documentation): what lives there may be pointed at.
    ///
    /// # Safety
    /// Nothing will run or read `task` again.
    unsafe fn clean_up(&self, task: *mut Link) {
        // SAFETY: the caller's contract; the record is on the stack given back last.
        unsafe {
            let link = &*task;
            if !link.finished.get() && link.started.get() {
                return;
            }
            // The stack goes back even when the drop below panics.
            let _give_back = GiveBack(self, link.stack);
            if link.finished.get() {
                (link.drop_result)(task);
            } else {
                (link.drop_closure)(link.closure);
            }
        }
    }
}

impl State {
    /// Give back the stack of a task that finished or never ran, without dropping what it left
    /// there (its result or closure is leaked: nothing pinned it, so its memory may be reused).
    /// A task suspended mid-way keeps its stack, as in [`State::clean_up`].
    ///
    /// # Safety
    /// Nothing will run or read `task` again.
    unsafe fn leak(&self, task: *mut Link) {
        // SAFETY: the caller's contract; the record is read before its stack goes back.
        unsafe {
            let link = &*task;
            if link.finished.get() || !link.started.get() {
                self.give_base(link.stack);
            }
        }
    }
}

/// Gives a task's stack back to its spawner when dropped: after the task's result or closure is
/// dropped, or while a panic in that drop unwinds.
struct GiveBack<'s>(&'s State, *mut u8);

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        // SAFETY: made by `clean_up` for a task that nothing runs or reads again, whose stack
        // came from `take_stack`; the drop that used it is over (returned or unwinding).
        unsafe { self.0.give_base(self.1) }
    }
}

/// End the process for a misuse that would otherwise switch stacks a spawner does not own:
/// one line on stderr, then SIGABRT.
#[cold]
fn refuse(what: &str) -> ! {
    let mut line = crate::line::Line::new();
    let _ = writeln!(
        line,
        "rawclone: a LocalSpawner task {what}; SIGABRT ends the process"
    );
    let _ = sys::write(sys::stderr(), line.as_bytes());
    crate::task_report::abort()
}

impl Drop for LocalSpawner {
    /// Tasks still queued have no handle any more (each borrows the spawner): one that never
    /// ran is dropped unrun; one that yielded and was never resumed keeps its stack for good.
    /// Then the idle stacks are unmapped, and the state. A closure or result whose drop panics
    /// does not stop the rest: the teardown goes on while the panic unwinds, leaking (not
    /// dropping) what the remaining tasks left, since a second panic there would abort.
    fn drop(&mut self) {
        teardown(self.state, Drops::Run);
    }
}

/// Whether [`teardown`] drops what the queued tasks left, or only takes their stacks back.
#[derive(Clone, Copy, PartialEq)]
enum Drops {
    Run,
    /// While a panic from one of those drops unwinds: a second panic there would abort the
    /// process, so the rest is leaked (never dropped, its memory reused: nothing pinned it).
    Leak,
}

/// Carries on [`teardown`] when a task's drop panics in it: dropped as the panic unwinds.
struct Rest(NonNull<State>);

impl Drop for Rest {
    fn drop(&mut self) {
        teardown(self.0, Drops::Leak);
    }
}

/// Tear a spawner's state down: clean up its queued tasks, unmap its idle stacks, unmap it.
fn teardown(map: NonNull<State>, drops: Drops) {
    // SAFETY: the state lives until the end of this teardown, and is written through Cells.
    let state = unsafe { map.as_ref() };
    while let Some(task) = state.pop() {
        if drops == Drops::Leak {
            // SAFETY: queued and without a handle: no one runs or reads it again.
            unsafe { state.leak(task) };
            continue;
        }
        // Should this task's drop panic, `rest` goes on with the others as the panic unwinds.
        let rest = Rest(map);
        // SAFETY: queued and without a handle: no one runs or reads it again.
        unsafe { state.clean_up(task) };
        core::mem::forget(rest);
    }
    let spare = state.spare.replace(ptr::null_mut());
    if !spare.is_null() {
        // SAFETY: the spare is ours alone; dropping it unmaps it.
        drop(unsafe { Stack::from_mapped_base(spare, state.pool.stack_size()) });
    }
    // SAFETY: nothing reads the state any more: no handle is left, no task is queued, and a task
    // suspended for good (never resumed) still names it in its record but never runs again to
    // read it. Dropping the pool unmaps its stacks; then the mapping goes.
    unsafe {
        ptr::drop_in_place(map.as_ptr());
        let _ = sys::munmap(map.as_ptr().cast(), STATE_LEN);
    }
}

/// What a [`LocalSpawner`] task gets to let the spawner's other tasks run.
///
/// ```
/// use rawclone::local::LocalSpawner;
/// let spawner = LocalSpawner::new()?;
/// let alone = spawner.spawn(|y| {
///     y.yield_now(); // no other task is ready: returns at once
///     1
/// })?;
/// assert_eq!(alone.join(), 1);
/// # Ok::<(), rawclone::Error>(())
/// ```
pub struct Yielder {
    spawner: *const State,
}

impl fmt::Debug for Yielder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Yielder")
    }
}

impl Yielder {
    /// Queue this task behind the spawner's other ready tasks and run them; returns when this
    /// task's turn comes again, or at once when no other task is ready. ([`crate::yield_now`]
    /// in a local task yields the thread to the kernel instead: it cannot know the spawner.)
    ///
    /// ```
    /// use rawclone::local::LocalSpawner;
    /// use std::{cell::Cell, rc::Rc};
    /// let spawner = LocalSpawner::new()?;
    /// let turns = Rc::new(Cell::new(0));
    /// let t = turns.clone();
    /// let counter = spawner.spawn(move |y| {
    ///     for _ in 0..3 {
    ///         t.set(t.get() + 1);
    ///         y.yield_now();
    ///     }
    /// })?;
    /// let seen = turns.clone();
    /// let watcher = spawner.spawn(move |y| {
    ///     // The counter, queued first, counted once before this task started.
    ///     y.yield_now(); // the counter's second turn
    ///     let first = seen.get();
    ///     y.yield_now(); // its third
    ///     (first, seen.get())
    /// })?;
    /// assert_eq!(watcher.join(), (2, 3));
    /// counter.join();
    /// assert_eq!(turns.get(), 3);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn yield_now(&self) {
        // SAFETY: a Yielder exists only inside a task of this spawner, whose state outlives it.
        unsafe { (*self.spawner).yield_task() }
    }
}

/// A [`LocalSpawner`] task: join it for its result. Dropping the handle detaches the task: it
/// still runs when another join drives the queue, and what it returns is dropped.
///
/// ```
/// use rawclone::local::LocalSpawner;
/// let spawner = LocalSpawner::new()?;
/// let task = spawner.spawn(|_| String::from("done"))?;
/// assert!(!task.is_finished()); // queued: nothing ran yet
/// assert_eq!(task.join(), "done");
/// # Ok::<(), rawclone::Error>(())
/// ```
pub struct LocalHandle<'s, T> {
    slot: *mut Slot<T>,
    _spawner: PhantomData<(&'s LocalSpawner, T)>,
}

impl<T> fmt::Debug for LocalHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> LocalHandle<'_, T> {
    /// Whether the task has returned (its result waits for the join).
    ///
    /// ```
    /// use rawclone::local::LocalSpawner;
    /// let spawner = LocalSpawner::new()?;
    /// let quick = spawner.spawn(|_| 1)?;
    /// let slow = spawner.spawn(|y| y.yield_now())?;
    /// slow.join(); // ran `quick` to its end on the way
    /// assert!(quick.is_finished());
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.link().finished.get()
    }

    /// Run the spawner's tasks until this one has returned, and take its result. Called from
    /// another task of the spawner, it yields until then.
    ///
    /// ```
    /// use rawclone::local::LocalSpawner;
    /// let spawner = Box::leak(Box::new(LocalSpawner::new()?)); // tasks may hold it
    /// let outer = spawner.spawn(|_| {
    ///     let inner = spawner.spawn(|_| 20).unwrap();
    ///     inner.join() + 1 // yields until `inner` is done
    /// })?;
    /// assert_eq!(outer.join(), 21);
    /// # Ok::<(), rawclone::Error>(())
    /// ```
    pub fn join(self) -> T {
        let link = self.link();
        // SAFETY: the record lives until this handle or the spawner cleans it up, and the
        // spawner's state as long as the spawner, which this handle borrows.
        let state = unsafe { &*link.spawner };
        state.run_until_finished(link);
        // SAFETY: the task finished, so the result is written; read once, then the stack goes
        // back (the handle is forgotten so its drop does not clean up again).
        unsafe {
            let value = (*(*self.slot).result.get()).assume_init_read();
            let task: *mut Link = self.slot.cast();
            core::mem::forget(self);
            state.give_base((*task).stack);
            value
        }
    }

    fn link(&self) -> &Link {
        // SAFETY: the record lives until this handle or the spawner cleans it up.
        unsafe { &(*self.slot).link }
    }
}

impl<T> Drop for LocalHandle<'_, T> {
    fn drop(&mut self) {
        let link = self.link();
        if link.finished.get() {
            // SAFETY: finished and joined by no one: nothing reads the record again.
            unsafe { (*link.spawner).clean_up(self.slot.cast()) };
        } else {
            link.detached.set(true);
        }
    }
}

/// Where a task begins: take the closure, run it, store its result, and switch to the thread's
/// own stack for good.
///
/// # Safety
/// `slot` is a `Slot<T>` that [`LocalSpawner::spawn`] wrote with an `F` at its `closure`.
unsafe extern "C" fn run<F, T>(slot: *mut u8) -> !
where
    F: FnOnce(&Yielder) -> T,
{
    let slot = slot.cast::<Slot<T>>();
    // SAFETY: the caller's contract; the closure is read once, here.
    unsafe {
        let link = &(*slot).link;
        link.started.set(true);
        let f = ptr::read(link.closure.cast::<F>());
        let value = f(&Yielder {
            spawner: link.spawner,
        });
        (*slot).result.get().write(MaybeUninit::new(value));
        link.finished.set(true);
        let state = &*link.spawner;
        // A finished task is never switched in again: the save slot is a dead one.
        arch::green_switch(link.sp.as_ptr(), *state.home.get());
    }
    unreachable!("a finished task was switched in again")
}

/// Drop the `F` at `closure`.
///
/// # Safety
/// `closure` holds an `F` that nothing else reads or drops.
unsafe fn drop_in_place_as<F>(closure: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { ptr::drop_in_place(closure.cast::<F>()) }
}

/// Drop the result of the finished task `task` (a `Slot<T>`).
///
/// # Safety
/// The task finished and its result was not read.
unsafe fn drop_result<T>(task: *mut Link) {
    // SAFETY: the caller's contract.
    unsafe { (*(*task.cast::<Slot<T>>()).result.get()).assume_init_drop() }
}
