//! # rawclone
//!
//! A `no_std`, libc-free runtime over `clone(2)` and `clone3(2)` for x86_64, aarch64, riscv64 and
//! i686 (32-bit x86) Linux. It makes every shape of task the kernel can make: fork-like children, threads, chimeras
//! (processes that share one address space), vfork-style spawns and namespaced children, through
//! its own per-architecture `asm!` trampolines, with a typed answer whenever the kernel (or an
//! emulator) says no.
//!
//! | mode | function | flags | join |
//! |---|---|---|---|
//! | fork via clone | [`fork`] | `SIGCHLD`, no stack | `waitid` |
//! | chimera | [`chimera`] | `CLONE_VM`, own stack | `waitid` |
//! | thread | [`thread`] | [`CloneFlags::THREAD_SET`] | futex on the CLEARTID word |
//! | vfork + exec | [`vfork_exec`], [`program::Program`] (file actions, environment, confinement) | `CLONE_VM \| CLONE_VFORK` | `waitid` |
//! | any composition | [`Builder`] | yours | `waitid` / pidfd |
//! | user-namespace root | [`ns::spawn_as_root`] | `CLONE_NEWUSER` + id maps | `waitid` |
//! | namespaced child | [`ns::Namespaces`] | any `CLONE_NEW*`, maps, host name, `/proc`, new root, bubblewrap's mounts | `waitid` |
//! | pooled tasks | [`Spawner`] ([`Backend::Thread`], [`Backend::Chimera`], [`Backend::Green`]) | thread or chimera with `CLONE_SETTLS`, or green contexts | [`JoinHandle::join`] |
//!
//! ## A first look
//! A fork through `clone`, a thread on a stack of your own, and pooled tasks that borrow from
//! the caller:
//!
//! ```
//! use rawclone::{Backend, ExitStatus, Fork, Spawner, Stack, sys};
//!
//! // A fork-like child: the parent gets a handle holding the child's pidfd.
//! // SAFETY: the child only makes raw syscalls and exits.
//! match unsafe { rawclone::fork()? } {
//!     Fork::Child => sys::exit_group(7),
//!     Fork::Parent(child) => assert_eq!(child.wait()?, ExitStatus::Exited(7)),
//! }
//!
//! // A thread (CLONE_THREAD and friends) on a mapped stack with a guard page.
//! let mut stack = Stack::map(64 * 1024)?;
//! // SAFETY: the thread only computes; no allocation, no thread-locals.
//! let thread = unsafe { rawclone::thread(&mut stack, || 6 * 7)? };
//! assert_eq!(thread.join(), 42);
//!
//! // Pooled tasks: spawning costs little more than the clone itself.
//! let spawner = Spawner::new(Backend::Thread)?;
//! let data = [1u32, 2, 3, 4];
//! let sum = spawner.scope(|s| {
//!     // SAFETY: the task only reads the borrowed array.
//!     let task = unsafe { s.spawn(|| data.iter().sum::<u32>())? };
//!     task.join()
//! })?;
//! assert_eq!(sum, 10);
//! # Ok::<(), rawclone::Error>(())
//! ```
//!
//! ## What child code may do
//! In a std process, a child that shares memory also shares the parent's thread pointer unless
//! `CLONE_SETTLS` gives it another, so libc calls, `println!`, allocation, `thread_local!` and
//! panics are off limits in it: use [`sys`] and atomics. That is why every function that runs a
//! closure in a child is `unsafe`, with the rules in its `# Safety` section. For [`Spawner`]
//! tasks, breaking them is made loud: [`GuardedAlloc`], installed as the global allocator, stops
//! a task that allocates; a panic (with the `std` feature) or a stack overflow in a task is
//! named in one line on stderr.
//!
//! ## Layers
//! `arch/` (trampolines, context switch) → [`flags`] (the rules) → [`sys`] (raw syscalls) →
//! [`stack`] and its pool, [`sync`] → [`Builder`] (validate, mask signals, clone3 or clone) →
//! modes ([`fork`], [`chimera`], [`thread`], [`vfork_exec`] and [`program`], [`ns`]; [`seccomp`]
//! filters for programs) and green tasks →
//! [`spawner`].
#![no_std]
#![warn(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "x86",
    target_arch = "arm"
)))]
compile_error!("rawclone supports x86_64, aarch64, riscv64, x86 (i686) and arm (armv7)");

#[cfg_attr(target_arch = "x86_64", path = "../arch/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "../arch/aarch64.rs")]
#[cfg_attr(target_arch = "riscv64", path = "../arch/riscv64.rs")]
#[cfg_attr(target_arch = "x86", path = "../arch/x86.rs")]
#[cfg_attr(target_arch = "arm", path = "../arch/arm.rs")]
pub mod arch;

mod clone;
mod control;
pub mod error;
pub mod flags;
mod green;
mod guarded_alloc;
mod line;
pub mod local;
mod modes;
pub mod ns;
mod orphans;
mod overflow;
#[cfg(feature = "std")]
mod panic_report;
mod pool;
pub mod program;
pub mod run;
pub mod seccomp;
pub mod signal;
pub mod spawner;
pub mod stack;
pub mod start;
pub mod sync;
pub mod sys;
mod task;
mod task_report;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub use clone::{Builder, MIN_CHILD_FRAME, clone3_available};
pub use control::{Backend, Current, current};
pub use error::{Errno, Error, ErrorPath, ExitStatus, Result};
pub use flags::{CloneFlags, Rule, Syscall};
pub use green::yield_now;
pub use guarded_alloc::GuardedAlloc;
pub use local::LocalSpawner;
pub use modes::{Fork, chimera, fork, thread, vfork_exec};
pub use signal::{SigSet, Signal};
pub use spawner::{JoinHandle, Scope, Spawner};
pub use stack::Stack;
pub use task::{Child, Thread};
