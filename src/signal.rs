//! Signal numbers as a checked type, and signal sets for masking across a clone.
//!
//! A child's exit signal, a signal sent through a pidfd and a signal that killed a child are all
//! the same kind of number, 1..=64 on Linux (`signal(7)`); [`Signal`] holds only those.

use core::fmt;
use linux_raw_sys::general as k;

/// A signal number in 1..=64.
///
/// ```
/// use rawclone::Signal;
/// assert_eq!(Signal::new(15), Some(Signal::SIGTERM));
/// assert_eq!(Signal::new(0), None); // not a signal: "check the process exists" in kill(2)
/// assert_eq!(Signal::SIGTERM.number(), 15);
/// assert_eq!(Signal::SIGTERM.to_string(), "SIGTERM");
/// assert_eq!(Signal::new(40).unwrap().to_string(), "SIGRTMIN+8"); // the kernel's SIGRTMIN is 32
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(u8);

/// The highest signal number Linux has (`_NSIG`) on the architectures rawclone supports.
pub const NSIG: u32 = 64;

macro_rules! signals {
    ($($name:ident),* $(,)?) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Signal = Signal(k::$name as u8);
            )*
        }
        fn standard_name(n: u8) -> Option<&'static str> {
            $( if n == k::$name as u8 { return Some(stringify!($name)); } )*
            None
        }
    };
}

signals!(
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
);

impl Signal {
    /// The signal numbered `n`, or `None` outside 1..=64.
    ///
    /// ```
    /// use rawclone::Signal;
    /// assert_eq!(Signal::new(17), Some(Signal::SIGCHLD));
    /// assert_eq!(Signal::new(0), None);
    /// assert_eq!(Signal::new(65), None);
    /// ```
    pub const fn new(n: u32) -> Option<Signal> {
        if n >= 1 && n <= NSIG {
            Some(Signal(n as u8))
        } else {
            None
        }
    }

    /// The raw number.
    ///
    /// ```
    /// assert_eq!(rawclone::Signal::SIGKILL.number(), 9);
    /// ```
    pub const fn number(self) -> u32 {
        self.0 as u32
    }

    /// The conventional name (`"SIGCHLD"`), or `None` for a real-time signal (32..=64).
    ///
    /// ```
    /// use rawclone::Signal;
    /// assert_eq!(Signal::SIGCHLD.name(), Some("SIGCHLD"));
    /// assert_eq!(Signal::new(40).unwrap().name(), None); // real-time
    /// ```
    pub fn name(self) -> Option<&'static str> {
        standard_name(self.0)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The name (`SIGCHLD`), or `SIGRTMIN+n` for a real-time signal, counted from the kernel's
/// `SIGRTMIN` (32; glibc reserves the first two or three for itself and moves its own `SIGRTMIN`
/// up, so a program linked against it may call 34 `SIGRTMIN`).
///
/// ```
/// use rawclone::Signal;
/// assert_eq!(Signal::new(16).unwrap().to_string(), "SIGSTKFLT");
/// assert_eq!(Signal::new(64).unwrap().to_string(), "SIGRTMIN+32");
/// ```
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), u32::from(self.0).checked_sub(k::SIGRTMIN)) {
            (Some(name), _) => f.write_str(name),
            (None, Some(rt)) => write!(f, "SIGRTMIN+{rt}"),
            (None, None) => write!(f, "signal {}", self.0),
        }
    }
}

/// A kernel signal set (`kernel_sigset_t`): bit `n - 1` stands for signal `n`.
///
/// ```
/// use rawclone::{SigSet, Signal};
/// let set = SigSet::EMPTY.with(Signal::SIGINT).with(Signal::SIGTERM);
/// assert!(set.contains(Signal::SIGINT));
/// assert_eq!(set.0, (1 << 1) | (1 << 14)); // bits 2 - 1 and 15 - 1
/// assert!(!SigSet::TASK_DEFAULT.contains(Signal::SIGSEGV)); // faults stay deliverable
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SigSet(pub u64);

impl SigSet {
    /// Every signal. The kernel silently keeps SIGKILL and SIGSTOP unblockable.
    pub const FULL: SigSet = SigSet(!0);
    /// No signal.
    pub const EMPTY: SigSet = SigSet(0);
    /// The signals a fault raises in the faulting thread itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
    /// SIGTRAP, and SIGSYS from a seccomp trap). Blocking one does not stop it: the kernel then
    /// kills the process without running any handler.
    pub const FAULTS: SigSet = SigSet::EMPTY
        .with(Signal::SIGSEGV)
        .with(Signal::SIGBUS)
        .with(Signal::SIGILL)
        .with(Signal::SIGFPE)
        .with(Signal::SIGTRAP)
        .with(Signal::SIGSYS);
    /// What a [`crate::Spawner`]'s Thread tasks and Green workers block by default: every signal but the
    /// [`SigSet::FAULTS`], so that a signal meant for the process is delivered to one of its
    /// own (libc) threads and never runs a handler on a thread whose thread pointer libc cannot
    /// read.
    pub const TASK_DEFAULT: SigSet = SigSet::FULL.without_all(SigSet::FAULTS);

    /// Whether `sig` is in the set.
    ///
    /// ```
    /// use rawclone::{SigSet, Signal};
    /// assert!(SigSet::FULL.contains(Signal::SIGKILL));
    /// assert!(!SigSet::EMPTY.contains(Signal::SIGKILL));
    /// ```
    pub const fn contains(self, sig: Signal) -> bool {
        self.0 & (1 << (sig.0 - 1)) != 0
    }

    /// The set with `sig` added.
    ///
    /// ```
    /// use rawclone::{SigSet, Signal};
    /// assert_eq!(SigSet::EMPTY.with(Signal::SIGHUP).0, 1); // signal 1: bit 0
    /// ```
    pub const fn with(self, sig: Signal) -> SigSet {
        SigSet(self.0 | (1 << (sig.0 - 1)))
    }

    /// The set without `sig`.
    ///
    /// ```
    /// use rawclone::{SigSet, Signal};
    /// let set = SigSet::FULL.without(Signal::SIGTERM);
    /// assert!(!set.contains(Signal::SIGTERM) && set.contains(Signal::SIGINT));
    /// ```
    pub const fn without(self, sig: Signal) -> SigSet {
        SigSet(self.0 & !(1 << (sig.0 - 1)))
    }

    /// The set without any signal of `other`.
    ///
    /// ```
    /// use rawclone::{SigSet, Signal};
    /// let set = SigSet::FULL.without_all(SigSet::FAULTS);
    /// assert!(!set.contains(Signal::SIGSEGV) && set.contains(Signal::SIGUSR1));
    /// ```
    pub const fn without_all(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }
}
