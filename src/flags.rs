//! Clone flags and the rules that make a flag set valid, checked before any syscall.
//!
//! The rules here are the ones the kernel enforces in `copy_process()` and `clone3_args_valid()`
//! (kernel/fork.c) on *every* kernel rawclone supports, so refusing early never refuses something
//! the kernel would accept (bar the legacy clone word, below); `tests/rules.rs` asks the running
//! kernel each question again and asserts it agrees, and `tests/differential.rs` asks it,
//! [`validate`] and `Builder` random ones. Rules that changed across versions are left to the
//! kernel, whose errno comes back named:
//! - `CLONE_NEWUSER | CLONE_PARENT` and `CLONE_NEWPID | CLONE_PARENT` are accepted, whatever
//!   clone(2) says;
//! - `CLONE_PIDFD | CLONE_THREAD` is accepted since Linux 6.9;
//! - `CLONE_PARENT` from a (container) init is refused (`SIGNAL_UNKILLABLE`);
//! - clone3 learned `CLONE_CLEAR_SIGHAND` in Linux 5.5, `CLONE_NEWTIME` in 5.6 and
//!   `CLONE_INTO_CGROUP` in 5.7: older kernels refuse them with EINVAL.
//!
//! Legacy clone carries flags and exit signal in one word and refuses nothing about its layout:
//! a flag bit in the low byte becomes part of the exit signal, bits above 31 are dropped (older
//! kernels let the clone3-only ones through unchecked), and any exit signal of that byte is taken
//! (one above 64 is never delivered). rawclone refuses requests that word cannot carry
//! ([`Rule::FlagInSignalByte`], [`Rule::UnknownFlag`], [`Rule::NeedsClone3`], an exit signal above
//! 255), so that no bit of a request is ever lost or misread.
//!
//! Two rules are rawclone's own, as in the glibc wrapper: a `CLONE_VM` child needs a stack of its
//! own, and the stack must hold the entry frame. The raw syscall accepts both mistakes and the child
//! then scribbles over the parent's live stack.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not};
use linux_raw_sys::general as k;

/// A set of `CLONE_*` flags (without the exit signal, which is a [`crate::Signal`] of its own).
///
/// ```
/// use rawclone::CloneFlags;
/// let flags = CloneFlags::VM | CloneFlags::FS | CloneFlags::FILES;
/// assert!(flags.contains(CloneFlags::VM | CloneFlags::FILES));
/// assert!(!flags.intersects(CloneFlags::THREAD));
/// assert_eq!(flags.bits(), 0x700); // CLONE_VM | CLONE_FS | CLONE_FILES
/// assert_eq!(flags.to_string(), "CLONE_VM|CLONE_FS|CLONE_FILES");
/// assert!(CloneFlags::THREAD_SET.contains(CloneFlags::SIGHAND));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CloneFlags(u64);

macro_rules! clone_flags {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl CloneFlags {
            $( $(#[$doc])* pub const $name: CloneFlags = CloneFlags($value as u64); )*
        }
        const NAMES: &[(CloneFlags, &str)] = &[$((CloneFlags::$name, stringify!($name)),)*];
    };
}

clone_flags! {
    /// Share the address space (`CLONE_VM`).
    VM = k::CLONE_VM;
    /// Share root, cwd and umask (`CLONE_FS`).
    FS = k::CLONE_FS;
    /// Share the file descriptor table (`CLONE_FILES`).
    FILES = k::CLONE_FILES;
    /// Share the table of signal handlers (`CLONE_SIGHAND`); needs `VM`.
    SIGHAND = k::CLONE_SIGHAND;
    /// Return a pidfd for the child (`CLONE_PIDFD`).
    PIDFD = k::CLONE_PIDFD;
    /// Let a tracer trace the child too (`CLONE_PTRACE`).
    PTRACE = k::CLONE_PTRACE;
    /// Suspend the parent until the child execs or exits (`CLONE_VFORK`).
    VFORK = k::CLONE_VFORK;
    /// The child's parent is the caller's parent (`CLONE_PARENT`). clone3 refuses an exit signal
    /// with it (the child inherits the caller's), so pair it with `exit_signal(None)`.
    PARENT = k::CLONE_PARENT;
    /// Put the child in the caller's thread group (`CLONE_THREAD`); needs `SIGHAND`.
    THREAD = k::CLONE_THREAD;
    /// New mount namespace (`CLONE_NEWNS`).
    NEWNS = k::CLONE_NEWNS;
    /// Share System V semaphore undo lists (`CLONE_SYSVSEM`).
    SYSVSEM = k::CLONE_SYSVSEM;
    /// Give the child a new thread pointer (`CLONE_SETTLS`).
    SETTLS = k::CLONE_SETTLS;
    /// Store the child's tid in the parent's memory (`CLONE_PARENT_SETTID`).
    PARENT_SETTID = k::CLONE_PARENT_SETTID;
    /// Zero the word at `child_tid` and futex-wake it when the child exits (`CLONE_CHILD_CLEARTID`).
    CHILD_CLEARTID = k::CLONE_CHILD_CLEARTID;
    /// Ignored by legacy clone, refused with `PIDFD` (`CLONE_DETACHED`).
    DETACHED = k::CLONE_DETACHED;
    /// A tracer cannot force `PTRACE` on the child (`CLONE_UNTRACED`).
    UNTRACED = k::CLONE_UNTRACED;
    /// Store the child's tid in the child's memory (`CLONE_CHILD_SETTID`).
    CHILD_SETTID = k::CLONE_CHILD_SETTID;
    /// New cgroup namespace (`CLONE_NEWCGROUP`).
    NEWCGROUP = k::CLONE_NEWCGROUP;
    /// New UTS namespace (`CLONE_NEWUTS`).
    NEWUTS = k::CLONE_NEWUTS;
    /// New IPC namespace (`CLONE_NEWIPC`).
    NEWIPC = k::CLONE_NEWIPC;
    /// New user namespace (`CLONE_NEWUSER`).
    NEWUSER = k::CLONE_NEWUSER;
    /// New PID namespace (`CLONE_NEWPID`).
    NEWPID = k::CLONE_NEWPID;
    /// New network namespace (`CLONE_NEWNET`).
    NEWNET = k::CLONE_NEWNET;
    /// Share the I/O context (`CLONE_IO`).
    IO = k::CLONE_IO;
    /// Reset every handler that is not `SIG_IGN` to the default in the child; clone3 only.
    CLEAR_SIGHAND = k::CLONE_CLEAR_SIGHAND;
    /// Start the child in the cgroup given by an fd; clone3 only.
    INTO_CGROUP = k::CLONE_INTO_CGROUP;
    /// New time namespace (`CLONE_NEWTIME`); clone3 only, its bit is the exit signal's on clone.
    NEWTIME = k::CLONE_NEWTIME;
}

impl CloneFlags {
    /// No flag: a fork-like child.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert!(CloneFlags::EMPTY.is_empty());
    /// assert_eq!(CloneFlags::EMPTY.to_string(), "EMPTY");
    /// ```
    pub const EMPTY: CloneFlags = CloneFlags(0);
    /// What a thread shares: the set glibc and musl use and the smallest qemu-user accepts.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// let set = CloneFlags::THREAD_SET;
    /// assert!(set.contains(CloneFlags::VM | CloneFlags::SIGHAND | CloneFlags::THREAD));
    /// assert!(!set.intersects(CloneFlags::NAMESPACES));
    /// ```
    pub const THREAD_SET: CloneFlags = CloneFlags(
        k::CLONE_VM as u64
            | k::CLONE_FS as u64
            | k::CLONE_FILES as u64
            | k::CLONE_SIGHAND as u64
            | k::CLONE_THREAD as u64
            | k::CLONE_SYSVSEM as u64,
    );
    /// Every namespace flag.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert!(CloneFlags::NAMESPACES.contains(CloneFlags::NEWUSER | CloneFlags::NEWPID));
    /// assert!(!CloneFlags::NAMESPACES.intersects(CloneFlags::VM | CloneFlags::THREAD));
    /// ```
    pub const NAMESPACES: CloneFlags = CloneFlags(
        k::CLONE_NEWNS as u64
            | k::CLONE_NEWCGROUP as u64
            | k::CLONE_NEWUTS as u64
            | k::CLONE_NEWIPC as u64
            | k::CLONE_NEWUSER as u64
            | k::CLONE_NEWPID as u64
            | k::CLONE_NEWNET as u64
            | k::CLONE_NEWTIME as u64,
    );
    /// Flags that only `clone3` can express.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert!(CloneFlags::CLONE3_ONLY.contains(CloneFlags::NEWTIME | CloneFlags::INTO_CGROUP));
    /// assert!(!CloneFlags::CLONE3_ONLY.intersects(CloneFlags::NEWUSER));
    /// ```
    pub const CLONE3_ONLY: CloneFlags =
        CloneFlags(k::CLONE_CLEAR_SIGHAND | k::CLONE_INTO_CGROUP | k::CLONE_NEWTIME as u64);
    /// Bits no clone syscall takes: above `CLONE_INTO_CGROUP` (clone3 refuses them, legacy clone
    /// drops everything above bit 31).
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert!(CloneFlags::UNKNOWN.contains(CloneFlags::from_bits(1 << 40)));
    /// assert!(!CloneFlags::UNKNOWN.intersects(CloneFlags::INTO_CGROUP | CloneFlags::VM));
    /// ```
    pub const UNKNOWN: CloneFlags =
        CloneFlags(!(u32::MAX as u64 | k::CLONE_CLEAR_SIGHAND | k::CLONE_INTO_CGROUP));
    /// Bits of the exit signal's byte (`CSIGNAL`) that are no flag on either syscall (only
    /// `CLONE_NEWTIME` is, on clone3).
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert_eq!(CloneFlags::SIGNAL_BYTE.bits(), 0x7f);
    /// assert!(!CloneFlags::SIGNAL_BYTE.intersects(CloneFlags::NEWTIME));
    /// ```
    pub const SIGNAL_BYTE: CloneFlags = CloneFlags((k::CSIGNAL & !k::CLONE_NEWTIME) as u64);

    /// The raw bits.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert_eq!(CloneFlags::VM.bits(), 0x100);
    /// assert_eq!((CloneFlags::VM | CloneFlags::FS).bits(), 0x300);
    /// ```
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Flags from raw bits; bits with no name are kept, and [`validate`] refuses them.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert_eq!(CloneFlags::from_bits(0x300), CloneFlags::VM | CloneFlags::FS);
    /// // Unnamed bits are kept, and print in hex.
    /// assert_eq!(CloneFlags::from_bits(1 << 40).to_string(), "0x10000000000");
    /// ```
    pub const fn from_bits(bits: u64) -> CloneFlags {
        CloneFlags(bits)
    }

    /// Whether every flag of `other` is set.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// let f = CloneFlags::VM | CloneFlags::FS;
    /// assert!(f.contains(CloneFlags::VM));
    /// assert!(!f.contains(CloneFlags::VM | CloneFlags::FILES));
    /// ```
    pub const fn contains(self, other: CloneFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// let f = CloneFlags::VM | CloneFlags::FS;
    /// assert!(f.intersects(CloneFlags::VM | CloneFlags::FILES));
    /// assert!(!f.intersects(CloneFlags::FILES));
    /// ```
    pub const fn intersects(self, other: CloneFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// assert!(CloneFlags::EMPTY.is_empty());
    /// assert!(!CloneFlags::VM.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of both sets.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// // The `const` form of `|`.
    /// const SHARED: CloneFlags = CloneFlags::VM.union(CloneFlags::FS);
    /// assert_eq!(SHARED, CloneFlags::VM | CloneFlags::FS);
    /// ```
    pub const fn union(self, other: CloneFlags) -> CloneFlags {
        CloneFlags(self.0 | other.0)
    }

    /// The flags of `self` that are not in `other`.
    ///
    /// ```
    /// use rawclone::CloneFlags;
    /// let f = CloneFlags::THREAD_SET.difference(CloneFlags::THREAD);
    /// assert!(f.contains(CloneFlags::VM) && !f.contains(CloneFlags::THREAD));
    /// ```
    pub const fn difference(self, other: CloneFlags) -> CloneFlags {
        CloneFlags(self.0 & !other.0)
    }
}

impl BitOr for CloneFlags {
    type Output = CloneFlags;
    fn bitor(self, rhs: CloneFlags) -> CloneFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for CloneFlags {
    fn bitor_assign(&mut self, rhs: CloneFlags) {
        *self = self.union(rhs);
    }
}

impl BitAnd for CloneFlags {
    type Output = CloneFlags;
    fn bitand(self, rhs: CloneFlags) -> CloneFlags {
        CloneFlags(self.0 & rhs.0)
    }
}

impl Not for CloneFlags {
    type Output = CloneFlags;
    fn not(self) -> CloneFlags {
        CloneFlags(!self.0)
    }
}

/// `CLONE_VM|CLONE_THREAD`, or `EMPTY` for none; unnamed bits print in hex.
impl fmt::Display for CloneFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("EMPTY");
        }
        let mut rest = self.0;
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(*flag) {
                f.write_str(if first { "CLONE_" } else { "|CLONE_" })?;
                f.write_str(name)?;
                rest &= !flag.0;
                first = false;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CloneFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Which syscall carries a request: the arguments each can express differ.
///
/// ```
/// use rawclone::{Builder, CloneFlags, Error, Rule, Stack, Syscall};
/// // A time namespace can only be asked for through clone3: forcing legacy clone is refused
/// // by name before any syscall.
/// let builder = Builder::new().flags(CloneFlags::NEWTIME).syscall(Syscall::Clone);
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the request is refused before a child exists.
/// let refused = unsafe { builder.spawn(&mut stack, || 0) };
/// assert!(matches!(refused, Err(Error::Rule(Rule::NeedsClone3, _))));
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Syscall {
    /// `clone3(2)` (Linux 5.3+).
    Clone3,
    /// Legacy `clone(2)`.
    Clone,
}

/// One clone request, as the validator sees it.
///
/// ```
/// use rawclone::flags::{validate, Request};
/// use rawclone::{CloneFlags, Rule, Syscall};
/// let req = Request {
///     flags: CloneFlags::THREAD | CloneFlags::VM,
///     exit_signal: 0,
///     stack: 0x7000_0000,
///     stack_size: 64 * 1024,
///     frame: 64,
///     set_tid_len: 0,
///     syscall: Syscall::Clone3,
/// };
/// assert_eq!(validate(&req), Err(Rule::ThreadNeedsSighand));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Request {
    /// The flags.
    pub flags: CloneFlags,
    /// The raw exit signal (0 for none); on legacy clone it shares the flags' low byte.
    pub exit_signal: u64,
    /// Lowest address of the child's stack, 0 for none.
    pub stack: usize,
    /// Size of the child's stack in bytes.
    pub stack_size: usize,
    /// Bytes the child's entry frame needs at the top of that stack.
    pub frame: usize,
    /// Number of entries in the `set_tid` array (clone3 only).
    pub set_tid_len: usize,
    /// The syscall that will carry it.
    pub syscall: Syscall,
}

/// A violated rule, named. Those documented "rawclone:" are rawclone's own; the others are the
/// kernel's, except that on legacy clone the rules about what its one flags word can carry
/// ([`Rule::ExitSignalOutOfRange`] above 255, [`Rule::UnknownFlag`], [`Rule::FlagInSignalByte`],
/// [`Rule::NeedsClone3`]) are rawclone's too: that kernel takes the word as it comes and
/// silently reads such bits as something else, or drops them.
///
/// ```
/// use rawclone::{Builder, CloneFlags, Error, Rule, Stack};
/// let mut stack = Stack::map(64 * 1024)?;
/// // SAFETY: the request is refused before a child exists.
/// let refused = unsafe { Builder::new().flags(CloneFlags::SIGHAND).spawn(&mut stack, || 0) };
/// let Err(Error::Rule(rule, _)) = refused else { panic!("{refused:?}") };
/// assert_eq!(rule, Rule::SighandNeedsVm);
/// assert_eq!(rule.describe(), "CLONE_SIGHAND needs CLONE_VM");
/// # Ok::<(), rawclone::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Rule {
    /// `CLONE_THREAD` needs `CLONE_SIGHAND`.
    ThreadNeedsSighand,
    /// `CLONE_SIGHAND` needs `CLONE_VM`.
    SighandNeedsVm,
    /// `CLONE_CLEAR_SIGHAND` and `CLONE_SIGHAND` exclude each other.
    ClearSighandExcludesSighand,
    /// `CLONE_NEWNS` and `CLONE_FS` exclude each other.
    NewnsExcludesFs,
    /// `CLONE_NEWUSER` and `CLONE_FS` exclude each other.
    NewuserExcludesFs,
    /// `CLONE_NEWUSER` and `CLONE_THREAD` exclude each other.
    NewuserExcludesThread,
    /// `CLONE_NEWPID` and `CLONE_THREAD` exclude each other.
    NewpidExcludesThread,
    /// `CLONE_NEWIPC` and `CLONE_SYSVSEM` exclude each other.
    NewipcExcludesSysvsem,
    /// `CLONE_PIDFD` and `CLONE_DETACHED` exclude each other.
    PidfdExcludesDetached,
    /// On legacy clone the pidfd comes back through the parent_tid slot, so `CLONE_PIDFD` and
    /// `CLONE_PARENT_SETTID` exclude each other there.
    PidfdExcludesParentSettid,
    /// clone3 refuses `CLONE_DETACHED` (legacy clone ignores it).
    DetachedOnClone3,
    /// clone3: an exit signal with `CLONE_THREAD` or `CLONE_PARENT`.
    ExitSignalWithThreadOrParent,
    /// clone3: an exit signal above 64; legacy clone: one that does not fit the flags' low byte
    /// (above 255). Legacy clone takes any value of that byte and does not deliver one above 64.
    ExitSignalOutOfRange,
    /// clone3: a stack address without a size, or a size without an address.
    StackWithoutSize,
    /// A bit above `CLONE_INTO_CGROUP` (bit 33): clone3 refuses it, legacy clone drops every bit
    /// above 31 unseen.
    UnknownFlag,
    /// A flag bit in the low byte (`CSIGNAL`), which is the exit signal's: clone3 refuses it (bar
    /// `CLONE_NEWTIME`), legacy clone would read it as part of the exit signal.
    FlagInSignalByte,
    /// A flag or argument that only clone3 can carry, on the legacy clone path.
    NeedsClone3,
    /// rawclone: a `CLONE_VM` child needs a stack of its own, or it runs on the parent's live one.
    VmNeedsStack,
    /// rawclone: the stack cannot hold the child's entry frame ([`validate`]; where the sizes
    /// are known, the `Builder` and the `Spawner` say them in [`crate::Error::StackTooSmall`]).
    StackTooSmall,
    /// rawclone: a gated child closes the parent's end of the handshake socket, which with
    /// `CLONE_FILES` would close it for the parent too.
    GateNeedsOwnFiles,
    /// rawclone: `CLONE_THREAD` tasks are joined through their CLEARTID word, so they are made by
    /// `Builder::spawn_thread`, and only threads are made there.
    ThreadNeedsThreadSpawn,
    /// rawclone: a `CLONE_PARENT` child is its grandparent's to reap, so its creator cannot know
    /// when a stack it shares (`CLONE_VM`) is free again, unless a `CLONE_CHILD_CLEARTID` word
    /// tells it.
    ParentExcludesVm,
    /// rawclone: a `CLONE_VFORK` parent sleeps inside clone until the child execs or exits, so it
    /// can never open the child's gate.
    GateExcludesVfork,
    /// rawclone: a thread's `child_tid` slot is its join word, so `CLONE_CHILD_SETTID` cannot
    /// point anywhere else.
    ThreadOwnsChildTid,
    /// rawclone: a Green spawner runs 1 to `spawner::MAX_WORKERS` worker threads.
    WorkerCount,
    /// rawclone: `ns::Namespaces::flags` takes namespace flags (`CLONE_NEW*`) only.
    NotANamespace,
    /// A host or domain name is longer than the kernel's 64 bytes.
    HostnameTooLong,
    /// rawclone: an id map does not fit one page of at most 340 lines.
    IdMapTooLong,
    /// rawclone: a flag whose pointer was not given (`CLONE_PARENT_SETTID`,
    /// `CLONE_CHILD_SETTID` or `CLONE_CHILD_CLEARTID` without a tid slot, `CLONE_INTO_CGROUP`
    /// without a cgroup fd): the kernel would write through a null pointer or read fd 0.
    FlagNeedsPointer,
    /// rawclone: `CLONE_CHILD_SETTID` and `CLONE_CHILD_CLEARTID` share the kernel's one
    /// `child_tid` slot, so they must name the same word.
    OneChildTidSlot,
    /// rawclone: a [`crate::program::Program`]'s file action or standard stream names a negative
    /// descriptor.
    NegativeFd,
    /// rawclone: an environment entry to set is not `NAME=value`, or a name to remove holds `=`.
    BadEnvEntry,
    /// A resource limit whose soft value is above its hard one (`setrlimit(2)`: EINVAL).
    SoftLimitAboveHard,
    /// A seccomp filter of no instructions, or of more than `BPF_MAXINSNS` (4096), or one whose
    /// jumps cannot reach (`seccomp(2)`: EINVAL).
    SeccompFilterLength,
    /// rawclone: `ns::Namespaces::mounts` takes at most 65,536 actions (a failure names its
    /// index in 16 bits).
    TooManyMounts,
}

impl Rule {
    /// The rule in one sentence.
    ///
    /// ```
    /// use rawclone::Rule;
    /// assert_eq!(Rule::NewuserExcludesFs.describe(), "CLONE_NEWUSER excludes CLONE_FS");
    /// ```
    pub const fn describe(self) -> &'static str {
        match self {
            Rule::ThreadNeedsSighand => "CLONE_THREAD needs CLONE_SIGHAND",
            Rule::SighandNeedsVm => "CLONE_SIGHAND needs CLONE_VM",
            Rule::ClearSighandExcludesSighand => "CLONE_CLEAR_SIGHAND excludes CLONE_SIGHAND",
            Rule::NewnsExcludesFs => "CLONE_NEWNS excludes CLONE_FS",
            Rule::NewuserExcludesFs => "CLONE_NEWUSER excludes CLONE_FS",
            Rule::NewuserExcludesThread => "CLONE_NEWUSER excludes CLONE_THREAD",
            Rule::NewpidExcludesThread => "CLONE_NEWPID excludes CLONE_THREAD",
            Rule::NewipcExcludesSysvsem => "CLONE_NEWIPC excludes CLONE_SYSVSEM",
            Rule::PidfdExcludesDetached => "CLONE_PIDFD excludes CLONE_DETACHED",
            Rule::PidfdExcludesParentSettid => {
                "on legacy clone CLONE_PIDFD excludes CLONE_PARENT_SETTID (one shared slot)"
            }
            Rule::DetachedOnClone3 => "clone3 refuses CLONE_DETACHED",
            Rule::ExitSignalWithThreadOrParent => {
                "clone3 refuses an exit signal with CLONE_THREAD or CLONE_PARENT"
            }
            Rule::ExitSignalOutOfRange => {
                "the exit signal must be 0..=64 on clone3 and fit the low byte (0..=255) on clone"
            }
            Rule::StackWithoutSize => "clone3 needs a stack address and a size together",
            Rule::UnknownFlag => "no clone syscall takes a flag above bit 33 (CLONE_INTO_CGROUP)",
            Rule::FlagInSignalByte => {
                "the low byte holds the exit signal, not flags (CLONE_NEWTIME aside, on clone3)"
            }
            Rule::NeedsClone3 => {
                "CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP, CLONE_NEWTIME and set_tid need clone3"
            }
            Rule::VmNeedsStack => "a CLONE_VM child needs a stack of its own",
            Rule::StackTooSmall => "the stack is too small for the child's entry frame",
            Rule::GateNeedsOwnFiles => "a gated child needs its own fd table (no CLONE_FILES)",
            Rule::ThreadNeedsThreadSpawn => {
                "CLONE_THREAD tasks come from Builder::spawn_thread, and only those"
            }
            Rule::ParentExcludesVm => {
                "a CLONE_PARENT child cannot be joined by its creator, so it cannot share memory \
                 without a CLONE_CHILD_CLEARTID word"
            }
            Rule::GateExcludesVfork => "a CLONE_VFORK parent cannot open a gate: it is asleep",
            Rule::ThreadOwnsChildTid => "a thread's child_tid slot is its join word",
            Rule::WorkerCount => "a Green spawner runs 1 to 64 worker threads",
            Rule::NotANamespace => "only CLONE_NEW* flags name namespaces",
            Rule::HostnameTooLong => "a host or domain name has at most 64 bytes",
            Rule::IdMapTooLong => "an id map holds at most 340 lines in one page",
            Rule::FlagNeedsPointer => {
                "CLONE_PARENT_SETTID, CLONE_CHILD_SETTID and CLONE_CHILD_CLEARTID need a tid slot, \
                 CLONE_INTO_CGROUP a cgroup fd"
            }
            Rule::OneChildTidSlot => {
                "CLONE_CHILD_SETTID and CLONE_CHILD_CLEARTID share one child_tid slot"
            }
            Rule::NegativeFd => "a file action or standard stream names a negative descriptor",
            Rule::BadEnvEntry => {
                "an environment entry to set is NAME=value, a name to remove holds no '='"
            }
            Rule::SoftLimitAboveHard => "a resource limit's soft value is at most its hard one",
            Rule::SeccompFilterLength => {
                "a seccomp filter holds 1 to 4096 instructions, its jumps within 255 of them"
            }
            Rule::TooManyMounts => "a namespaced child takes at most 65536 mount actions",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Check `req` against every rule that holds on all supported kernels.
///
/// ```
/// use rawclone::flags::{validate, CloneFlags, Request, Rule, Syscall};
/// let req = Request {
///     flags: CloneFlags::VM | CloneFlags::THREAD,
///     exit_signal: 0,
///     stack: 0x10000,
///     stack_size: 0x10000,
///     frame: 64,
///     set_tid_len: 0,
///     syscall: Syscall::Clone3,
/// };
/// assert_eq!(validate(&req), Err(Rule::ThreadNeedsSighand));
/// ```
pub fn validate(req: &Request) -> Result<(), Rule> {
    use CloneFlags as F;
    let f = req.flags;
    let both = |a: F, b: F| f.contains(a.union(b));
    let clone3 = req.syscall == Syscall::Clone3;

    if f.contains(F::THREAD) && !f.contains(F::SIGHAND) {
        return Err(Rule::ThreadNeedsSighand);
    }
    if f.contains(F::SIGHAND) && !f.contains(F::VM) {
        return Err(Rule::SighandNeedsVm);
    }
    if both(F::CLEAR_SIGHAND, F::SIGHAND) {
        return Err(Rule::ClearSighandExcludesSighand);
    }
    if both(F::NEWNS, F::FS) {
        return Err(Rule::NewnsExcludesFs);
    }
    if both(F::NEWUSER, F::FS) {
        return Err(Rule::NewuserExcludesFs);
    }
    if both(F::NEWUSER, F::THREAD) {
        return Err(Rule::NewuserExcludesThread);
    }
    if both(F::NEWPID, F::THREAD) {
        return Err(Rule::NewpidExcludesThread);
    }
    if both(F::NEWIPC, F::SYSVSEM) {
        return Err(Rule::NewipcExcludesSysvsem);
    }
    if both(F::PIDFD, F::DETACHED) {
        return Err(Rule::PidfdExcludesDetached);
    }
    if clone3 && f.contains(F::DETACHED) {
        return Err(Rule::DetachedOnClone3);
    }
    if !clone3 && both(F::PIDFD, F::PARENT_SETTID) {
        return Err(Rule::PidfdExcludesParentSettid);
    }
    let max_signal = if clone3 {
        crate::signal::NSIG
    } else {
        k::CSIGNAL
    };
    if req.exit_signal > u64::from(max_signal) {
        return Err(Rule::ExitSignalOutOfRange);
    }
    if clone3 && req.exit_signal != 0 && f.intersects(F::THREAD | F::PARENT) {
        return Err(Rule::ExitSignalWithThreadOrParent);
    }
    if clone3 && ((req.stack == 0) != (req.stack_size == 0)) {
        return Err(Rule::StackWithoutSize);
    }
    if f.intersects(F::UNKNOWN) {
        return Err(Rule::UnknownFlag);
    }
    if f.intersects(F::SIGNAL_BYTE) {
        return Err(Rule::FlagInSignalByte);
    }
    if !clone3 && (f.intersects(F::CLONE3_ONLY) || req.set_tid_len != 0) {
        return Err(Rule::NeedsClone3);
    }
    if f.contains(F::VM) && req.stack == 0 {
        return Err(Rule::VmNeedsStack);
    }
    if req.stack != 0 && req.stack_size < req.frame {
        return Err(Rule::StackTooSmall);
    }
    Ok(())
}
