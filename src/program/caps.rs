//! Capability sets by name, for dropping them before `execve` (`capabilities(7)`).

use core::fmt;
use core::ops::BitOr;

/// A set of capabilities (bit `n` for capability number `n`, as `capget(2)` lays them out),
/// named as in `capabilities(7)`.
///
/// ```
/// use rawclone::program::Capabilities;
/// let caps = Capabilities::from_name("CAP_SYS_ADMIN").unwrap() | Capabilities::CAP_NET_RAW;
/// assert_eq!(Capabilities::from_name("sys_admin"), Some(Capabilities::CAP_SYS_ADMIN));
/// assert!(caps.contains(Capabilities::CAP_SYS_ADMIN));
/// assert!(Capabilities::ALL.contains(caps));
/// assert_eq!(Capabilities::from_name("ALL"), Some(Capabilities::ALL));
/// assert_eq!(Capabilities::from_name("cap_flying"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u64);

macro_rules! capabilities {
    ($($name:ident = $bit:literal,)*) => {
        impl Capabilities {
            $(
                #[doc = concat!("`", stringify!($name), "` (number ", stringify!($bit), ").")]
                pub const $name: Capabilities = Capabilities(1 << $bit);
            )*
        }

        /// Each capability's name, `CAP_` included, at its number.
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

capabilities! {
    CAP_CHOWN = 0,
    CAP_DAC_OVERRIDE = 1,
    CAP_DAC_READ_SEARCH = 2,
    CAP_FOWNER = 3,
    CAP_FSETID = 4,
    CAP_KILL = 5,
    CAP_SETGID = 6,
    CAP_SETUID = 7,
    CAP_SETPCAP = 8,
    CAP_LINUX_IMMUTABLE = 9,
    CAP_NET_BIND_SERVICE = 10,
    CAP_NET_BROADCAST = 11,
    CAP_NET_ADMIN = 12,
    CAP_NET_RAW = 13,
    CAP_IPC_LOCK = 14,
    CAP_IPC_OWNER = 15,
    CAP_SYS_MODULE = 16,
    CAP_SYS_RAWIO = 17,
    CAP_SYS_CHROOT = 18,
    CAP_SYS_PTRACE = 19,
    CAP_SYS_PACCT = 20,
    CAP_SYS_ADMIN = 21,
    CAP_SYS_BOOT = 22,
    CAP_SYS_NICE = 23,
    CAP_SYS_RESOURCE = 24,
    CAP_SYS_TIME = 25,
    CAP_SYS_TTY_CONFIG = 26,
    CAP_MKNOD = 27,
    CAP_LEASE = 28,
    CAP_AUDIT_WRITE = 29,
    CAP_AUDIT_CONTROL = 30,
    CAP_SETFCAP = 31,
    CAP_MAC_OVERRIDE = 32,
    CAP_MAC_ADMIN = 33,
    CAP_SYSLOG = 34,
    CAP_WAKE_ALARM = 35,
    CAP_BLOCK_SUSPEND = 36,
    CAP_AUDIT_READ = 37,
    CAP_PERFMON = 38,
    CAP_BPF = 39,
    CAP_CHECKPOINT_RESTORE = 40,
}

impl Capabilities {
    /// No capability.
    pub const EMPTY: Capabilities = Capabilities(0);
    /// Every capability number there can be (all 64 bits), so a capability a newer kernel adds
    /// past the ones named here is in it too (bubblewrap reads the running kernel's last one
    /// from `/proc/sys/kernel/cap_last_cap` for the same end). Dropping a capability the
    /// kernel does not know succeeds: no one holds it.
    ///
    /// ```
    /// use rawclone::program::Capabilities;
    /// assert!(Capabilities::ALL.contains(Capabilities::CAP_CHECKPOINT_RESTORE));
    /// assert!(Capabilities::ALL.contains(Capabilities::from_bits(1 << 45))); // not named yet
    /// assert_eq!(format!("{:?}", Capabilities::ALL), "ALL");
    /// ```
    pub const ALL: Capabilities = Capabilities(u64::MAX);

    /// The capability named `name`, with or without `CAP_`, in any case (`"CAP_SYS_ADMIN"`,
    /// `"sys_admin"`), or every one for `"ALL"`; `None` for a name it does not know.
    pub fn from_name(name: &str) -> Option<Capabilities> {
        if name.eq_ignore_ascii_case("ALL") {
            return Some(Capabilities::ALL);
        }
        let has_prefix = name
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("CAP_"));
        let name = if has_prefix { &name[4..] } else { name };
        NAMES
            .iter()
            .position(|known| known[4..].eq_ignore_ascii_case(name))
            .map(|bit| Capabilities(1 << bit))
    }

    /// The set with these bits (bit `n` for capability number `n`).
    pub const fn from_bits(bits: u64) -> Capabilities {
        Capabilities(bits)
    }

    /// The bits (bit `n` for capability number `n`).
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Both sets' capabilities.
    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// The capabilities of `self` that are not in `other`.
    ///
    /// ```
    /// use rawclone::program::Capabilities;
    /// let kept = Capabilities::ALL.difference(Capabilities::CAP_SYS_ADMIN);
    /// assert!(!kept.contains(Capabilities::CAP_SYS_ADMIN));
    /// assert!(kept.contains(Capabilities::CAP_NET_RAW));
    /// ```
    pub const fn difference(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & !other.0)
    }

    /// Whether every capability of `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The numbers of the capabilities in the set, lowest first.
    pub fn numbers(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |bit| self.0 & (1 << bit) != 0)
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, other: Capabilities) -> Capabilities {
        self.union(other)
    }
}

/// The names, `CAP_CHOWN | CAP_KILL` (`CAP_45` for a number without a name here), `ALL`, or
/// `(none)`.
impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        if *self == Capabilities::ALL {
            return f.write_str("ALL");
        }
        for (i, n) in self.numbers().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            match NAMES.get(n as usize) {
                Some(name) => f.write_str(name)?,
                None => write!(f, "CAP_{n}")?,
            }
        }
        Ok(())
    }
}
