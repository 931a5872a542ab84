//! Differential test of the flag rules: random clone requests are asked of the validator
//! ([`rawclone::flags::validate`]), of [`Builder`], and of the kernel directly through the raw
//! trampolines ([`rawclone::arch::clone`], [`rawclone::arch::clone3`]) with a child that exits at
//! once, on both syscalls, as root and as nobody. Every disagreement is minimized (flag bits
//! dropped one by one while it persists) and printed; there must be none.
//!
//! Agreement, precisely:
//! - the validator refuses ⇒ the kernel refuses with EINVAL: the validator must never refuse what
//!   the kernel accepts. [`LATE_RULES`] are checked by the kernel only after privilege and
//!   resource checks, so there any refusal counts;
//! - the validator accepts ⇒ the kernel does not answer EINVAL, except for the version rules of
//!   [`left_to_the_kernel`], and refuses, if at all, only for reasons outside the validator
//!   ([`OUTSIDE_THE_VALIDATOR`]: privilege, limits, the cgroup fd);
//! - legacy clone carries flags and exit signal in one word and refuses nothing about it: a
//!   request that word cannot carry (a flag in the low byte, a bit above 31, a signal above 255)
//!   reaches that kernel as another request. The validator must refuse all of those
//!   ([`Probe::lossy`]), and the kernel is not asked them;
//! - [`Builder`] refuses, before any syscall, everything the validator refuses, with the same rule
//!   or one of its own ([`builder_own`]); it refuses nothing else with a rule, and it meets no
//!   errno the raw kernel call did not meet.
//!
//! Each batch runs in a forked runner (a child subreaper, as root or as nobody) that forks one
//! prober per question: CLONE_PARENT children, orphans and the prober itself are the runner's to
//! reap, threads die with their prober, and an exit signal of SIGKILL or SIGSTOP ends only a
//! prober. The runner and probers are copies of the multi-threaded harness, so they use raw
//! syscalls only and answer through a shared mapping.
//!
//! `quick` (a fixed seed, `RAWCLONE_DIFF_SEED` overrides it) runs with the test command; `long`
//! (10,000 probes per syscall and user) is ignored and run by CI's long step.

mod common;

use common::*;
use core::mem::{ManuallyDrop, forget};
use core::sync::atomic::AtomicU32;
use linux_raw_sys::general as k;
use rawclone::flags::{Request, validate};
use rawclone::signal::SigSet;
use rawclone::sys::{self, WaitId};
use rawclone::{Builder, CloneFlags as F, Errno, Error, Fork, Rule, Signal, Stack, Syscall, fork};
use syscalls::{Sysno, syscall1, syscall2};

/// Environment variable that replaces the seed (decimal or 0x-hex).
const SEED_VAR: &str = "RAWCLONE_DIFF_SEED";
/// The quick run's fixed seed.
const QUICK_SEED: u64 = 0x5eed_c10e_0012_0014;
/// Probes per syscall and user in the quick run (320 in all).
const QUICK_PROBES: usize = 80;
/// Probes per syscall and user in the long run.
const LONG_PROBES: usize = 10_000;

#[test]
fn quick() {
    let seed = seed_from_env().unwrap_or(QUICK_SEED);
    differential(seed, QUICK_PROBES);
}

#[test]
#[ignore = "long run (10,000 probes per syscall and user), for CI's long step"]
fn long() {
    let seed = seed_from_env().unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_nanos() as u64
    });
    differential(seed, LONG_PROBES);
}

fn seed_from_env() -> Option<u64> {
    let text = std::env::var(SEED_VAR).ok()?;
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{SEED_VAR}={text} is not a number")))
}

/// splitmix64: small, seedable, good enough to spread the probes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Every named flag but CLONE_PTRACE (a traced test run would trace the children too).
const NAMED: &[F] = &[
    F::VM,
    F::FS,
    F::FILES,
    F::SIGHAND,
    F::PIDFD,
    F::VFORK,
    F::PARENT,
    F::THREAD,
    F::NEWNS,
    F::SYSVSEM,
    F::SETTLS,
    F::PARENT_SETTID,
    F::CHILD_CLEARTID,
    F::DETACHED,
    F::UNTRACED,
    F::CHILD_SETTID,
    F::NEWCGROUP,
    F::NEWUTS,
    F::NEWIPC,
    F::NEWUSER,
    F::NEWPID,
    F::NEWNET,
    F::IO,
    F::CLEAR_SIGHAND,
    F::INTO_CGROUP,
    F::NEWTIME,
];

/// The flags the rules are about, drawn as often again.
const INTERESTING: &[F] = &[
    F::VM,
    F::FS,
    F::SIGHAND,
    F::THREAD,
    F::PIDFD,
    F::DETACHED,
    F::PARENT,
    F::PARENT_SETTID,
    F::NEWNS,
    F::NEWUSER,
    F::NEWPID,
    F::NEWIPC,
    F::SYSVSEM,
    F::CLEAR_SIGHAND,
    F::NEWTIME,
    F::VFORK,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum User {
    Root,
    Nobody,
}

/// One question: what the validator sees, less the stack (a probe always has one).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Probe {
    flags: F,
    exit_signal: u64,
    syscall: Syscall,
}

impl Probe {
    fn random(rng: &mut Rng, syscall: Syscall) -> Probe {
        let mut flags = match rng.below(4) {
            0 => F::THREAD_SET,
            1 => F::VM,
            _ => F::EMPTY,
        };
        for _ in 0..=rng.below(4) {
            flags |= if rng.one_in(2) {
                rng.pick(INTERESTING)
            } else {
                rng.pick(NAMED)
            };
        }
        // Meet the dependencies more often than chance would, so that later rules are reached.
        if rng.one_in(2) {
            if flags.contains(F::THREAD) {
                flags |= F::SIGHAND;
            }
            if flags.contains(F::SIGHAND) {
                flags |= F::VM;
            }
        }
        // Now and then a bit no syscall takes: in the signal byte or above CLONE_INTO_CGROUP.
        if rng.one_in(8) {
            flags |= F::from_bits(match rng.below(2) {
                0 => 1 << rng.below(7),
                _ => 1 << (34 + rng.below(30)),
            });
        }
        let low_byte = if syscall == Syscall::Clone { 191 } else { 1 };
        let exit_signal = match rng.below(12) {
            0..=2 => 0,
            3..=5 => u64::from(k::SIGCHLD),
            6 => 64,
            7 => 65,
            8 => 1 + rng.below(64),
            9 => 65 + rng.below(low_byte),
            10 => 255,
            _ => rng.pick(&[256, 256 + 17, 1 << 32]),
        };
        Probe {
            flags,
            exit_signal,
            syscall,
        }
    }

    /// The request as the validator sees it (a stack of its own, a small entry frame).
    fn request(self) -> Request {
        Request {
            flags: self.flags,
            exit_signal: self.exit_signal,
            stack: 0x1000_0000,
            stack_size: 0x10000,
            frame: 256,
            set_tid_len: 0,
            syscall: self.syscall,
        }
    }

    /// Whether legacy clone's one word cannot carry this request: the kernel would read a flag
    /// of the low byte as part of the exit signal, drop a bit above 31, or see a signal above 255
    /// spill into the flags. Written from the kernel's word layout, not from the validator.
    fn lossy(self) -> bool {
        let outside = u64::from(k::CSIGNAL) | !u64::from(u32::MAX);
        self.syscall == Syscall::Clone
            && (self.flags.bits() & outside != 0 || self.exit_signal > u64::from(k::CSIGNAL))
    }

    /// The signal the prober gets when the child ends: CLONE_PARENT and CLONE_THREAD children
    /// send none to it.
    fn signal_to_prober(self) -> Option<i32> {
        let none = self.exit_signal == 0 || self.flags.intersects(F::PARENT | F::THREAD);
        (!none).then_some(self.exit_signal as i32)
    }

    /// What [`Builder`] can be asked: its exit signal is a [`Signal`] (1..=64) or none.
    fn fits_builder(self) -> bool {
        self.exit_signal <= u64::from(rawclone::signal::NSIG)
    }
}

/// An answer, as one process writes it for another in the shared mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// Not answered (yet).
    Pending,
    /// Not asked: the request does not fit the asker.
    NotAsked,
    /// A child was created.
    Accepted,
    /// The kernel refused.
    Refused(Errno),
    /// rawclone refused before any syscall.
    Rule(Rule),
    /// rawclone failed without an errno.
    Other,
    /// The prober ended by this signal (or was stopped by it) before it could answer.
    Died(i32),
}

impl Outcome {
    /// Whether a child was created: answered so, or the prober was ended by the exit signal that
    /// only a created child sends it.
    fn created(self, probe: Probe) -> bool {
        match self {
            Outcome::Accepted => true,
            Outcome::Died(sig) => probe.signal_to_prober() == Some(sig),
            _ => false,
        }
    }
}

#[derive(Clone, Copy)]
struct Slot {
    probe: Probe,
    kernel: Outcome,
    builder: Outcome,
}

/// Rules the kernel checks only after privilege and resource checks: `copy_namespaces()` checks
/// CAP_SYS_ADMIN (and `copy_creds()` may fail to make the user namespace) before it refuses
/// CLONE_NEWIPC with CLONE_SYSVSEM, so any refusal agrees with these.
const LATE_RULES: &[Rule] = &[Rule::NewipcExcludesSysvsem];

/// Refusals for reasons the validator does not judge, and so agree with its acceptance:
/// EPERM (namespaces without CAP_SYS_ADMIN, or user namespaces disabled), ENOSPC and EUSERS
/// (namespace limits), EAGAIN and ENOMEM (task and memory limits), EBADF (CLONE_INTO_CGROUP: the
/// probes pass an fd of `/`, not a cgroup2 directory, so that no child is moved anywhere).
const OUTSIDE_THE_VALIDATOR: &[Errno] = &[
    Errno::EPERM,
    Errno::ENOSPC,
    Errno::EUSERS,
    Errno::EAGAIN,
    Errno::ENOMEM,
    Errno::EBADF,
];

/// The kernel-version rules the validator leaves to the kernel (see the module doc of
/// `rawclone::flags`): an EINVAL for an accepted request is expected when the running kernel is
/// older than the version that changed the rule. `CLONE_PARENT` from an init is the other rule
/// left to the kernel; a prober is never an init.
fn left_to_the_kernel(p: Probe, kernel: (u32, u32)) -> Option<&'static str> {
    let clone3 = p.syscall == Syscall::Clone3;
    if p.flags.contains(F::PIDFD | F::THREAD) && kernel < (6, 9) {
        Some("CLONE_PIDFD | CLONE_THREAD is refused before Linux 6.9")
    } else if clone3 && p.flags.contains(F::CLEAR_SIGHAND) && kernel < (5, 5) {
        Some("clone3 learned CLONE_CLEAR_SIGHAND in Linux 5.5")
    } else if clone3 && p.flags.contains(F::NEWTIME) && kernel < (5, 6) {
        Some("clone3 learned CLONE_NEWTIME in Linux 5.6")
    } else if p.flags.contains(F::NEWTIME) && !std::path::Path::new("/proc/self/ns/time").exists() {
        // A kernel option, not a version: Debian's armmp-lpae kernel has none (CONFIG_TIME_NS
        // depends on GENERIC_VDSO_TIME_NS, which 32-bit arm does not select).
        Some("this kernel has no time namespaces (no /proc/self/ns/time)")
    } else if clone3 && p.flags.contains(F::INTO_CGROUP) && kernel < (5, 7) {
        Some("clone3 learned CLONE_INTO_CGROUP in Linux 5.7")
    } else {
        None
    }
}

/// Rules that are [`Builder`]'s own, on top of the validator's, for this probe: what its handles
/// could not join.
fn builder_own(rule: Rule, p: Probe) -> bool {
    match rule {
        Rule::ParentExcludesVm => {
            p.flags.contains(F::PARENT | F::VM) && !p.flags.contains(F::CHILD_CLEARTID)
        }
        Rule::ThreadOwnsChildTid => {
            p.flags.contains(F::THREAD) && p.flags.intersects(F::CHILD_SETTID | F::CHILD_CLEARTID)
        }
        _ => false,
    }
}

/// Why the answers to `slot` disagree, or `None` when they agree.
fn judge(slot: &Slot, kernel_version: (u32, u32)) -> Option<String> {
    let p = slot.probe;
    let verdict = validate(&p.request());
    let kernel = slot.kernel;
    if p.lossy() {
        if verdict.is_ok() {
            return Some("the validator accepts what legacy clone's word cannot carry".into());
        }
    } else {
        if matches!(
            kernel,
            Outcome::Pending | Outcome::NotAsked | Outcome::Other
        ) || matches!(kernel, Outcome::Died(_)) && !kernel.created(p)
        {
            return Some(format!("the raw probe failed: {kernel:?}"));
        }
        match (verdict, kernel) {
            (Err(_), Outcome::Refused(Errno::EINVAL)) => {}
            (Err(rule), Outcome::Refused(_)) if LATE_RULES.contains(&rule) => {}
            (Err(rule), answer) => {
                return Some(format!(
                    "the validator refuses ({rule:?}: {rule}), the kernel answered {answer:?}"
                ));
            }
            (Ok(()), Outcome::Refused(Errno::EINVAL)) => {
                if left_to_the_kernel(p, kernel_version).is_none() {
                    return Some("the validator accepts, the kernel refused with EINVAL".into());
                }
            }
            (Ok(()), Outcome::Refused(e)) if !OUTSIDE_THE_VALIDATOR.contains(&e) => {
                return Some(format!(
                    "the validator accepts, the kernel refused with {e:?}, which no documented \
                     reason explains"
                ));
            }
            (Ok(()), _) => {}
        }
    }
    let builder = slot.builder;
    match (verdict, builder) {
        (_, Outcome::NotAsked) => None,
        (Err(rule), Outcome::Rule(r)) if r == rule || builder_own(r, p) => None,
        (Err(rule), answer) => Some(format!(
            "the validator refuses ({rule:?}), Builder answered {answer:?}"
        )),
        (Ok(()), Outcome::Rule(r)) if builder_own(r, p) => None,
        (Ok(()), _) if builder.created(p) => None,
        (Ok(()), Outcome::Refused(_)) if !kernel.created(p) => None,
        (Ok(()), answer) => Some(format!(
            "the validator accepts and the kernel answered {kernel:?}, Builder answered {answer:?}"
        )),
    }
}

fn differential(seed: u64, per_syscall: usize) {
    if qemu_user() {
        skip(
            "qemu-user: the emulator, not the kernel, answers clone here (it refuses CLONE_VM \
             without the thread set, and clone3), so there is no kernel to compare with; the \
             native x86_64 run covers the rules, which are not architecture-specific",
        );
        return;
    }
    eprintln!(
        "differential: seed {seed:#x} ({SEED_VAR} replays it), {per_syscall} probes per \
         syscall and user"
    );
    let version = kernel_version();
    let mut failures = Vec::new();
    for user in [User::Root, User::Nobody] {
        if user == User::Root && sys::geteuid() != 0 {
            skip("not root: the root half of the differential test needs a root test run");
            continue;
        }
        let mut rng = Rng(seed ^ if user == User::Root { 0 } else { 0xa5a5_a5a5 });
        let probes: Vec<Probe> = (0..2 * per_syscall)
            .map(|i| {
                let syscall = [Syscall::Clone3, Syscall::Clone][i % 2];
                Probe::random(&mut rng, syscall)
            })
            .collect();
        let slots = ask(&probes, user);
        report(user, &slots);
        for slot in &slots {
            if judge(slot, version).is_some() {
                failures.push(minimize(slot.probe, user, version));
            }
        }
    }
    failures.sort();
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} disagreement(s) (seed {seed:#x}), minimized:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Drop flag bits one by one while the disagreement persists, then try the exit signal at 0;
/// return the smallest request with its answers, in words.
fn minimize(mut probe: Probe, user: User, version: (u32, u32)) -> String {
    let disagreement = |p: Probe| {
        let slot = ask(&[p], user)[0];
        judge(&slot, version).map(|why| (slot, why))
    };
    let Some(mut found) = disagreement(probe) else {
        return format!("{user:?} {probe:?}: disagreed once, not again (flaky)");
    };
    'smaller: loop {
        let bits = probe.flags.bits();
        let candidates = (0..64)
            .filter(|b| bits & (1 << b) != 0)
            .map(|b| Probe {
                flags: F::from_bits(bits & !(1 << b)),
                ..probe
            })
            .chain((probe.exit_signal != 0).then_some(Probe {
                exit_signal: 0,
                ..probe
            }));
        for candidate in candidates {
            if let Some(smaller) = disagreement(candidate) {
                (probe, found) = (candidate, smaller);
                continue 'smaller;
            }
        }
        break;
    }
    let (slot, why) = found;
    format!(
        "{user:?} {:?} flags {} exit signal {}: {why} (validator {:?}, kernel {:?}, Builder {:?})",
        probe.syscall,
        probe.flags,
        probe.exit_signal,
        validate(&probe.request()),
        slot.kernel,
        slot.builder
    )
}

/// Print what the run met, so that a pass shows what it covered.
fn report(user: User, slots: &[Slot]) {
    for syscall in [Syscall::Clone3, Syscall::Clone] {
        let mine: Vec<&Slot> = slots
            .iter()
            .filter(|s| s.probe.syscall == syscall)
            .collect();
        let count = |f: &dyn Fn(&Slot) -> bool| mine.iter().filter(|s| f(s)).count();
        let refused = count(&|s| validate(&s.probe.request()).is_err());
        let lossy = count(&|s| s.probe.lossy());
        let created = count(&|s| s.kernel.created(s.probe));
        let builder = count(&|s| s.builder.created(s.probe));
        let mut errnos = std::collections::BTreeMap::new();
        for slot in &mine {
            if let Outcome::Refused(e) = slot.kernel {
                *errnos.entry(format!("{e:?}")).or_insert(0) += 1;
            }
        }
        eprintln!(
            "differential: {syscall:?} as {user:?}: {} probes; validator refused {refused} \
             ({lossy} not expressible on clone, not asked of the kernel); kernel created \
             {created}, refused {errnos:?}; Builder created {builder}",
            mine.len()
        );
        assert!(
            created > 0 && refused > 0,
            "a run must meet both answers to mean anything"
        );
    }
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Ask the kernel and [`Builder`] every probe, as `user`, in a forked runner.
fn ask(probes: &[Probe], user: User) -> Vec<Slot> {
    let shared = Shared::new(probes.len());
    for (i, &probe) in probes.iter().enumerate() {
        shared.set(
            i,
            Slot {
                probe,
                kernel: Outcome::Pending,
                builder: Outcome::Pending,
            },
        );
    }
    let slots = &shared;
    assert_in_fork(|| runner(slots, user));
    (0..probes.len()).map(|i| shared.get(i)).collect()
}

/// Slots in a `MAP_SHARED` mapping, written by the probers and read by the test.
struct Shared {
    ptr: *mut Slot,
    len: usize,
    bytes: usize,
}

impl Shared {
    fn new(len: usize) -> Shared {
        let bytes = (len * size_of::<Slot>()).next_multiple_of(4096);
        let ptr = map_shared(bytes).cast::<Slot>();
        Shared { ptr, len, bytes }
    }

    fn get(&self, i: usize) -> Slot {
        assert!(i < self.len);
        // SAFETY: in bounds; a slot is read after `set` wrote it and its writer was waited for.
        unsafe { self.ptr.add(i).read_volatile() }
    }

    fn set(&self, i: usize, slot: Slot) {
        assert!(i < self.len);
        // SAFETY: in bounds of the mapping, which lives as long as `self`.
        unsafe { self.ptr.add(i).write_volatile(slot) }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no runner is alive any more.
        let _ = unsafe { syscall2(Sysno::munmap, self.ptr as usize, self.bytes) };
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Asker {
    Kernel,
    Builder,
}

/// The forked runner: become `user`, become a child subreaper, then one prober per question.
/// Raw syscalls only (it is a copy of the multi-threaded harness). Returns 0, or the failed step.
fn runner(shared: &Shared, user: User) -> i32 {
    const PR_SET_CHILD_SUBREAPER: usize = 36;
    if sys::set_signal_mask(SigSet::FULL).is_err() {
        return 1;
    }
    if user == User::Nobody && become_nobody().is_err() {
        return 2;
    }
    // SAFETY: a prctl that only changes who reaps this process's orphans.
    if unsafe { syscall2(Sysno::prctl, PR_SET_CHILD_SUBREAPER, 1) }.is_err() {
        return 3;
    }
    // CLONE_INTO_CGROUP's fd: a directory that is no cgroup, so the kernel answers EBADF.
    let Ok(not_a_cgroup) = sys::open(c"/", k::O_DIRECTORY | k::O_PATH) else {
        return 4;
    };
    for i in 0..shared.len {
        let mut slot = shared.get(i);
        for asker in [Asker::Kernel, Asker::Builder] {
            let asked = match asker {
                Asker::Kernel => !slot.probe.lossy(),
                Asker::Builder => slot.probe.fits_builder(),
            };
            if !asked {
                match asker {
                    Asker::Kernel => slot.kernel = Outcome::NotAsked,
                    Asker::Builder => slot.builder = Outcome::NotAsked,
                }
                shared.set(i, slot);
                continue;
            }
            // SAFETY: the prober uses raw syscalls only and ends with exit_group.
            let prober = match unsafe { fork() } {
                Ok(Fork::Child) => {
                    let _ = sys::set_signal_mask(SigSet::FULL);
                    let answer = match asker {
                        Asker::Kernel => ask_kernel(slot.probe, not_a_cgroup.as_raw()),
                        Asker::Builder => ask_builder(slot.probe, not_a_cgroup.as_fd()),
                    };
                    let mut mine = shared.get(i);
                    match asker {
                        Asker::Kernel => mine.kernel = answer,
                        Asker::Builder => mine.builder = answer,
                    }
                    shared.set(i, mine);
                    sys::exit_group(0)
                }
                Ok(Fork::Parent(child)) => {
                    let pid = child.pid();
                    let pidfd = child.pidfd().map(|fd| fd.as_raw());
                    forget(child); // reaped below, with everything else
                    if let Some(fd) = pidfd {
                        // SAFETY: the forgotten handle owned this pidfd; nothing else holds it.
                        let _ = unsafe { sys::close(fd) };
                    }
                    pid
                }
                Err(_) => return 5,
            };
            let died = reap_all(prober);
            slot = shared.get(i);
            let answer = match asker {
                Asker::Kernel => &mut slot.kernel,
                Asker::Builder => &mut slot.builder,
            };
            if let (Outcome::Pending, Some(sig)) = (*answer, died) {
                *answer = Outcome::Died(sig);
            }
            shared.set(i, slot);
        }
    }
    0
}

/// Reap every child of the runner (the prober, the CLONE_PARENT children it made, and the
/// orphans it left) until none is left; a stopped one is killed. Returns the signal that ended or
/// stopped the prober, if one did.
fn reap_all(prober: i32) -> Option<i32> {
    let mut died = None;
    loop {
        match sys::waitid(WaitId::All, k::WEXITED | k::WSTOPPED | k::__WALL) {
            Ok(info) if info.code == k::CLD_STOPPED as i32 => {
                if info.pid == prober {
                    died = Some(info.status);
                }
                let _ = sys::kill(info.pid, Signal::SIGKILL);
            }
            Ok(info) if info.pid == prober && info.code != k::CLD_EXITED as i32 => {
                died = died.or(Some(info.status));
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return died,
        }
    }
}

/// The child of a raw probe: exit at once, touching nothing (not even its thread pointer, which
/// CLONE_SETTLS may have changed).
unsafe extern "C" fn exit_at_once(_: *mut u8) -> i32 {
    // SAFETY: exit(2) ends this task and nothing else.
    let _ = unsafe { syscall1(Sysno::exit, 0) };
    0
}

/// Ask the kernel directly, bypassing rawclone. Every pointer field is valid: the words live at
/// the bottom of the child's stack, far below anything the child touches, and the stack is never
/// unmapped (the prober exits right after).
fn ask_kernel(p: Probe, cgroup: i32) -> Outcome {
    let Ok(stack) = Stack::map(64 * 1024) else {
        return Outcome::Other;
    };
    let stack = ManuallyDrop::new(stack);
    let words = stack.base().cast::<AtomicU32>();
    // SAFETY: the first 12 bytes of the mapped stack, aligned, written only by the kernel.
    let (child_tid, parent_tid, pidfd) = unsafe { (words, words.add(1), words.add(2)) };
    let tls = rawclone::arch::thread_pointer();
    let ret = match p.syscall {
        Syscall::Clone3 => {
            let mut args = k::clone_args {
                flags: p.flags.bits(),
                pidfd: pidfd as u64,
                child_tid: child_tid as u64,
                parent_tid: parent_tid as u64,
                exit_signal: p.exit_signal,
                stack: stack.base() as u64 + 64,
                stack_size: stack.size() as u64 - 64,
                tls: tls as u64,
                set_tid: 0,
                set_tid_size: 0,
                cgroup: cgroup as u64,
            };
            // SAFETY: a fresh stack no one else uses, valid pointers, a child that only exits.
            unsafe {
                rawclone::arch::clone3(
                    (&raw mut args).cast(),
                    size_of::<k::clone_args>(),
                    exit_at_once,
                    core::ptr::null_mut(),
                )
            }
        }
        Syscall::Clone => {
            // Legacy clone returns the pidfd through the parent_tid slot.
            let ptid = if p.flags.contains(F::PIDFD) {
                pidfd
            } else {
                parent_tid
            };
            // SAFETY: as above.
            unsafe {
                rawclone::arch::clone(
                    (p.flags.bits() | p.exit_signal) as usize,
                    stack.top(),
                    ptid.cast(),
                    child_tid.cast(),
                    tls,
                    exit_at_once,
                    core::ptr::null_mut(),
                )
            }
        }
    };
    match Errno::from_ret(ret as usize) {
        Ok(_) => Outcome::Accepted,
        Err(e) => Outcome::Refused(e),
    }
}

/// Ask [`Builder`], with the same flags, exit signal and syscall, and a slot for each flag that
/// needs one, as the raw probe has. Handles and stack are left to the prober's exit (the runner
/// reaps).
fn ask_builder(p: Probe, cgroup: sys::BorrowedFd<'_>) -> Outcome {
    let Ok(stack) = Stack::map(64 * 1024) else {
        return Outcome::Other;
    };
    let mut stack = ManuallyDrop::new(stack);
    let (mut parent_tid, mut child_tid) = (0u32, 0u32);
    let signal = Signal::new(p.exit_signal as u32);
    let mut b = Builder::new()
        .flags(p.flags)
        .exit_signal(signal)
        .syscall(p.syscall);
    if p.flags.contains(F::PARENT_SETTID) {
        b = b.parent_settid(&raw mut parent_tid);
    }
    if p.flags.contains(F::CHILD_SETTID) {
        b = b.child_settid(&raw mut child_tid);
    }
    if p.flags.contains(F::CHILD_CLEARTID) {
        b = b.child_cleartid(&raw mut child_tid);
    }
    if p.flags.contains(F::INTO_CGROUP) {
        b = b.cgroup(cgroup);
    }
    let answer = if p.flags.contains(F::THREAD) {
        // SAFETY: the child only returns a number.
        unsafe { b.spawn_thread(&mut stack, || 0) }.map(forget)
    } else {
        // SAFETY: as above.
        unsafe { b.spawn(&mut stack, || 0) }.map(forget)
    };
    match answer {
        Ok(()) => Outcome::Accepted,
        Err(Error::Rule(rule, _)) => Outcome::Rule(rule),
        Err(e) => e.errno().map_or(Outcome::Other, Outcome::Refused),
    }
}
