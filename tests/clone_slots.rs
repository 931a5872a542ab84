//! The pointer arguments of a clone request, each set through `Builder` and validated: a flag
//! whose pointer is missing is refused before any syscall (`Rule::FlagNeedsPointer`), and each
//! slot does what the kernel promises: `parent_settid`, `child_cleartid`, `set_tid` (in a new
//! pid namespace) and `cgroup` (`CLONE_INTO_CGROUP`, in a cgroup2 hierarchy mounted in a private
//! mount namespace).

mod common;

use common::*;
use linux_raw_sys::general as k;
use rawclone::ns::Namespaces;
use rawclone::{Builder, CloneFlags, Error, ExitStatus, Rule, Stack, sys};

fn stack() -> Stack<'static> {
    Stack::map(64 * 1024).unwrap()
}

#[test]
fn a_flag_without_its_pointer_is_refused_before_any_syscall() {
    let mut stack = stack();
    for flag in [
        CloneFlags::PARENT_SETTID,
        CloneFlags::CHILD_SETTID,
        CloneFlags::CHILD_CLEARTID,
        CloneFlags::INTO_CGROUP,
    ] {
        // SAFETY: never runs: refused before the syscall.
        let err = unsafe { Builder::new().flags(flag).spawn(&mut stack, || 0) }.unwrap_err();
        assert_eq!(err, Error::Rule(Rule::FlagNeedsPointer, flag), "{flag}");
    }
    let (mut a, mut b) = (0u32, 0u32);
    let two = Builder::new()
        .child_settid(&raw mut a)
        .child_cleartid(&raw mut b);
    // SAFETY: never runs.
    let err = unsafe { two.spawn(&mut stack, || 0) }.unwrap_err();
    assert!(
        matches!(err, Error::Rule(Rule::OneChildTidSlot, _)),
        "{err}"
    );
    // SAFETY: never runs.
    let err = unsafe {
        Builder::thread()
            .child_cleartid(&raw mut a)
            .spawn_thread(&mut stack, || 0)
    }
    .unwrap_err();
    assert!(
        matches!(err, Error::Rule(Rule::ThreadOwnsChildTid, _)),
        "{err}"
    );
}

#[test]
fn parent_settid_is_written_before_spawn_returns() {
    if qemu_user() {
        return skip(
            "qemu-user: a clone without CLONE_VM is run as fork(), which ignores CLONE_PARENT_SETTID",
        );
    }
    let mut stack = stack();
    let mut slot = 0u32;
    // SAFETY: the child only returns.
    let child = unsafe {
        Builder::new()
            .parent_settid(&raw mut slot)
            .spawn(&mut stack, || 0)
    }
    .unwrap();
    assert_eq!(slot as i32, child.pid());
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn child_settid_and_cleartid_share_one_word_set_then_cleared() {
    if qemu_user() {
        return skip("qemu-user: CLONE_VM without the full thread set gives EINVAL");
    }
    let mut stack = stack();
    let word = core::sync::atomic::AtomicU32::new(u32::MAX);
    // SAFETY: the child shares our memory and only reads an atomic.
    let child = unsafe {
        Builder::new()
            .flags(CloneFlags::VM)
            .child_settid(word.as_ptr())
            .child_cleartid(word.as_ptr())
            .spawn(&mut stack, || {
                (word.load(core::sync::atomic::Ordering::SeqCst) == sys::gettid() as u32) as i32
            })
    }
    .unwrap();
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Exited(1),
        "SETTID wrote the tid"
    );
    assert_eq!(
        word.load(core::sync::atomic::Ordering::SeqCst),
        0,
        "CLEARTID zeroed it"
    );
}

/// Run `f` as init of a new pid namespace (with a user namespace when not root).
fn in_pid_namespace(mount: bool, f: impl FnOnce() -> i32) -> Option<ExitStatus> {
    if qemu_user() {
        skip("qemu-user: namespace flags give EINVAL");
        return None;
    }
    let mut ns = Namespaces::new().pid();
    if sys::geteuid() != 0 {
        ns = ns.map_root();
    }
    if mount {
        ns = ns.mount();
    }
    let mut stack = stack();
    // SAFETY: the closure uses raw syscalls only.
    let child = unsafe { ns.spawn(&mut stack, f) }.unwrap();
    Some(child.wait().unwrap())
}

#[test]
fn set_tid_chooses_the_pid_in_a_new_pid_namespace() {
    let status = in_pid_namespace(false, || {
        let mut stack = stack();
        // SAFETY: the child only returns its own pid.
        let child = unsafe { Builder::new().set_tid(&[7]).spawn(&mut stack, sys::getpid) };
        match child.map(|c| (c.pid(), c.wait())) {
            Ok((7, Ok(ExitStatus::Exited(7)))) => 0,
            Ok(_) => 1,
            Err(_) => 2,
        }
    });
    if let Some(status) = status {
        assert_eq!(status, ExitStatus::Exited(0));
    }
}

/// Whether `path` holds `needle`, read with raw syscalls.
fn file_contains(path: &core::ffi::CStr, needle: &[u8]) -> bool {
    let Ok(fd) = sys::open(path, k::O_RDONLY) else {
        return false;
    };
    let mut buf = [0u8; 4096];
    let n = sys::read(fd.as_fd(), &mut buf).unwrap_or(0);
    buf[..n].windows(needle.len()).any(|w| w == needle)
}

#[test]
fn cgroup_starts_the_child_in_that_cgroup() {
    if sys::geteuid() != 0 {
        return skip("needs root, to mount a cgroup2 hierarchy and make a cgroup in it");
    }
    let status = in_pid_namespace(true, || {
        // A cgroup2 hierarchy on a tmpfs of this private mount namespace (the host may mount
        // only v1 hierarchies); the cgroup made in it is removed again below.
        let none = c"none";
        if sys::mount(none, c"/tmp", c"tmpfs", sys::MountFlags::EMPTY, None).is_err()
            || sys::mkdir(c"/tmp/cg", 0o755).is_err()
        {
            return 10;
        }
        if sys::mount(none, c"/tmp/cg", c"cgroup2", sys::MountFlags::EMPTY, None).is_err() {
            return 11;
        }
        let dir = c"/tmp/cg/rawclone-clone-slots";
        if sys::mkdir(dir, 0o755).is_err() {
            return 12;
        }
        let code = match sys::open(dir, k::O_DIRECTORY) {
            Ok(cgroup) => {
                let mut stack = stack();
                // SAFETY: the child reads a file with raw syscalls and returns.
                let child = unsafe {
                    Builder::new().cgroup(cgroup.as_fd()).spawn(&mut stack, || {
                        file_contains(c"/proc/self/cgroup", b"0::/rawclone-clone-slots\n") as i32
                    })
                };
                match child.map(|c| c.wait()) {
                    Ok(Ok(ExitStatus::Exited(1))) => 0,
                    Ok(_) => 13,
                    Err(_) => 14,
                }
            }
            Err(_) => 15,
        };
        // SAFETY: rmdir of the cgroup made above, now empty.
        let removed = unsafe {
            syscalls::syscall3(
                syscalls::Sysno::unlinkat,
                k::AT_FDCWD as usize,
                dir.as_ptr() as usize,
                k::AT_REMOVEDIR as usize,
            )
        };
        if removed.is_err() && code == 0 {
            return 16;
        }
        code
    });
    match status {
        Some(ExitStatus::Exited(11)) => skip("this kernel cannot mount a cgroup2 hierarchy here"),
        Some(status) => assert_eq!(status, ExitStatus::Exited(0)),
        None => {}
    }
}
