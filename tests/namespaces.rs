//! Namespaced children: each namespace proves its isolation from the parent, as root and as an
//! unprivileged uid (with a user namespace, mapped to root inside).
//!
//! Every check runs in a forked child (so it may drop privileges and count children), where only
//! raw syscalls are allowed: evidence comes back as numbered exit codes.

mod common;

use common::*;
use rawclone::ns::{IdRange, Namespaces, SetupStep};
use rawclone::{CloneFlags, Errno, Error, ErrorPath, Rule, Stack, Syscall, sys};
use syscalls::{Sysno, syscall3, syscall5};

// Each check twice: `root::x` as the suite's user when that is root, `unprivileged::x` as
// nobody with a user namespace mapped to root inside.
as_root_and_unprivileged!(
    pid_child_is_pid_1_and_sees_only_its_processes,
    hostname_stays_inside,
    net_has_only_lo_and_it_is_down,
    tmpfs_mounted_inside_is_invisible_outside,
    ipc_object_made_inside_is_invisible_outside,
    ns_inodes_differ_for_exactly_the_requested_namespaces,
    pivot_root_makes_the_given_directory_root,
    pivot_root_with_a_fresh_proc_in_a_new_pid_namespace,
);

/// Run `check` in a fork with the base request for this privilege level.
fn run_check(name: &str, unprivileged: bool, check: fn(Namespaces<'static>) -> i32) {
    run_ns_check(name, unprivileged, check);
}

fn pid_child_is_pid_1_and_sees_only_its_processes(base: Namespaces<'static>) -> i32 {
    in_ns(base.pid().mount_proc(), || {
        if sys::getpid() != 1 {
            return 1;
        }
        match numeric_entries(c"/proc") {
            1 => 0,
            _ => 2,
        }
    })
}

fn hostname_stays_inside(base: Namespaces<'static>) -> i32 {
    let before = uts_names();
    let ns = base.hostname("rawclone-inside").domainname("rawclone.test");
    let code = in_ns(ns, || {
        let (node, domain) = uts_names();
        if node.as_bytes() != b"rawclone-inside" {
            return 1;
        }
        if domain.as_bytes() != b"rawclone.test" {
            return 2;
        }
        0
    });
    if code != 0 {
        return code;
    }
    if uts_names() != before { 10 } else { 0 }
}

fn net_has_only_lo_and_it_is_down(base: Namespaces<'static>) -> i32 {
    in_ns(base.net(), || {
        let mut buf = [0u8; 4096];
        let Some(text) = read_file(c"/proc/self/net/dev", &mut buf) else {
            return 1;
        };
        // Two header lines, then one line per device.
        let devices = text
            .split(|&b| b == b'\n')
            .skip(2)
            .filter(|l| !l.is_empty());
        let mut count = 0;
        for line in devices {
            count += 1;
            if !line.trim_ascii_start().starts_with(b"lo:") {
                return 2;
            }
        }
        if count != 1 {
            return 3;
        }
        match interface_up(b"lo") {
            Some(false) => 0,
            Some(true) => 4,
            None => 5,
        }
    })
}

fn tmpfs_mounted_inside_is_invisible_outside(base: Namespaces<'static>) -> i32 {
    // A directory of our own, made and removed around the check with raw syscalls.
    let mut dir = *b"/tmp/rawclone-mnt-XXXXXXXXXX\0";
    fill_pid(&mut dir[18..28]);
    let dir = core::ffi::CStr::from_bytes_with_nul(&dir).unwrap();
    if sys::mkdir(dir, 0o755).is_err() {
        return 20;
    }
    // As root, make the directory a shared mount in a scratch mount namespace of this (forked)
    // process: without the child's private propagation, its tmpfs would then show up here. (As
    // nobody the kernel already makes a user namespace's copies of shared mounts slaves, so the
    // unprivileged run proves the isolation, and the root run proves the private propagation.)
    if sys::geteuid() == 0 {
        // SAFETY: unshare takes flags only; this forked process is single-threaded.
        let scratch = unsafe {
            syscalls::syscall1(Sysno::unshare, linux_raw_sys::general::CLONE_NEWNS as usize)
        };
        let bind = sys::MountFlags::BIND;
        let shared = sys::MountFlags::SHARED;
        if scratch.is_err()
            || sys::mount(dir, dir, c"", bind, None).is_err()
            || sys::mount(c"none", dir, c"", shared, None).is_err()
        {
            let _ = rmdir(dir);
            return 22;
        }
    }
    let mut file = [0u8; 64];
    let file = join(&mut file, dir, b"/made-inside");
    let code = in_ns(base.mount(), || {
        if sys::mount(c"tmpfs", dir, c"tmpfs", sys::MountFlags::EMPTY, None).is_err() {
            return 1;
        }
        match sys::open(
            file,
            linux_raw_sys::general::O_CREAT | linux_raw_sys::general::O_WRONLY,
        ) {
            Ok(_) => 0,
            Err(_) => 2,
        }
    });
    let seen_outside = sys::open(file, 0).is_ok();
    let _ = sys::umount2(dir, linux_raw_sys::general::MNT_DETACH);
    let _ = rmdir(dir);
    match (code, seen_outside) {
        (0, false) => 0,
        (0, true) => 21,
        (code, _) => code,
    }
}

fn ipc_object_made_inside_is_invisible_outside(base: Namespaces<'static>) -> i32 {
    const IPC_CREAT: usize = 0o1000;
    const IPC_RMID: usize = 0;
    let key = 0x5243_0000 | (sys::getpid() as usize & 0xffff);
    let code = in_ns(base.ipc(), || {
        // SAFETY: msgget takes no pointers.
        match unsafe { syscall3(Sysno::msgget, key, IPC_CREAT | 0o600, 0) } {
            Ok(_) => 0,
            Err(_) => 1,
        }
    });
    if code != 0 {
        return code;
    }
    // SAFETY: as above.
    match unsafe { syscall3(Sysno::msgget, key, 0, 0) } {
        Err(Errno::ENOENT) => 0,
        Ok(id) => {
            // SAFETY: removing the queue we found takes no pointers.
            let _ = unsafe { syscall3(Sysno::msgctl, id, IPC_RMID, 0) };
            30
        }
        Err(_) => 31,
    }
}

/// The namespaces rawclone can create, with their `/proc/self/ns` names.
const KINDS: [(CloneFlags, &core::ffi::CStr); 8] = [
    (CloneFlags::NEWUSER, c"/proc/self/ns/user"),
    (CloneFlags::NEWPID, c"/proc/self/ns/pid"),
    (CloneFlags::NEWUTS, c"/proc/self/ns/uts"),
    (CloneFlags::NEWIPC, c"/proc/self/ns/ipc"),
    (CloneFlags::NEWNET, c"/proc/self/ns/net"),
    (CloneFlags::NEWNS, c"/proc/self/ns/mnt"),
    (CloneFlags::NEWCGROUP, c"/proc/self/ns/cgroup"),
    (CloneFlags::NEWTIME, c"/proc/self/ns/time"),
];

fn ns_inodes_differ_for_exactly_the_requested_namespaces(base: Namespaces<'static>) -> i32 {
    let ours = KINDS.map(|(_, path)| inode(path));
    let requests = [
        CloneFlags::NEWUTS | CloneFlags::NEWIPC,
        CloneFlags::NEWPID | CloneFlags::NEWNET | CloneFlags::NEWNS,
        CloneFlags::NEWCGROUP | CloneFlags::NEWTIME,
        CloneFlags::NAMESPACES,
    ];
    // A kernel without time namespaces (Debian's armmp-lpae one: CONFIG_TIME_NS depends on
    // GENERIC_VDSO_TIME_NS, which 32-bit arm does not select) refuses CLONE_NEWTIME with EINVAL,
    // as tests/differential checks; here the other kinds are checked without it.
    let time_namespaces = ours[KINDS.len() - 1] != 0;
    for (i, request) in requests.into_iter().enumerate() {
        let request = if time_namespaces {
            request
        } else {
            request.difference(CloneFlags::NEWTIME)
        };
        let ns = base.flags(request);
        let expect = ns.namespace_flags();
        let differing = in_ns(ns, || {
            let mut mask = 0;
            for (bit, (_, path)) in KINDS.iter().enumerate() {
                if inode(path) != ours[bit] {
                    mask |= 1 << bit;
                }
            }
            mask
        });
        let mut want = 0;
        for (bit, (flag, _)) in KINDS.iter().enumerate() {
            if expect.contains(*flag) {
                want |= 1 << bit;
            }
        }
        if differing != want {
            return 40 + i as i32;
        }
    }
    0
}

fn pivot_root_makes_the_given_directory_root(base: Namespaces<'static>) -> i32 {
    let mut dir = *b"/tmp/rawclone-root-XXXXXXXXXX\0";
    fill_pid(&mut dir[19..29]);
    let dir = core::ffi::CStr::from_bytes_with_nul(&dir).unwrap();
    let mut marker = [0u8; 64];
    let marker = join(&mut marker, dir, b"/marker");
    if sys::mkdir(dir, 0o755).is_err()
        || sys::open(marker, linux_raw_sys::general::O_CREAT).is_err()
    {
        return 50;
    }
    let code = in_ns(base.root(dir), || {
        if sys::open(c"/marker", 0).is_err() {
            return 1; // the new root is not the directory
        }
        match sys::open(c"/etc", linux_raw_sys::general::O_DIRECTORY) {
            Err(Errno::ENOENT) => 0,
            _ => 2, // the old root is still reachable
        }
    });
    let _ = unlink(marker);
    let _ = rmdir(dir);
    code
}

fn pivot_root_with_a_fresh_proc_in_a_new_pid_namespace(base: Namespaces<'static>) -> i32 {
    let mut dir = *b"/tmp/rawclone-proc-XXXXXXXXXX\0";
    fill_pid(&mut dir[19..29]);
    let dir = core::ffi::CStr::from_bytes_with_nul(&dir).unwrap();
    let mut proc_dir = [0u8; 64];
    let proc_dir = join(&mut proc_dir, dir, b"/proc");
    if sys::mkdir(dir, 0o755).is_err() || sys::mkdir(proc_dir, 0o555).is_err() {
        return 60;
    }
    let code = in_ns(base.pid().root(dir).mount_proc(), || {
        if sys::getpid() != 1 {
            return 1;
        }
        if sys::open(c"/proc/1/status", 0).is_err() {
            return 2; // no fresh /proc in the new root
        }
        match numeric_entries(c"/proc") {
            1 => 0,
            _ => 3,
        }
    });
    let _ = rmdir(proc_dir);
    let _ = rmdir(dir);
    code
}

#[test]
fn a_failed_setup_step_is_a_typed_error_and_leaves_no_child() {
    let ns = Namespaces::new()
        .map_root()
        .root(c"/nonexistent-rawclone-root");
    refused_as_nobody(ns, |e| {
        *e == Error::NamespaceSetup {
            step: SetupStep::BindRoot,
            errno: Errno::ENOENT,
            path: Some(ErrorPath::new(b"/nonexistent-rawclone-root")),
        }
    });
}

/// 65,536 ids from 0 onto themselves: only a privileged writer may map more than its own id.
const IDENTITY: [IdRange; 1] = [IdRange {
    inside: 0,
    outside: 0,
    count: 65536,
}];

#[test]
fn id_ranges_when_privileged() {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    if sys::geteuid() != 0 {
        return skip("needs root (the suite runs unprivileged)");
    }
    let ns = Namespaces::new()
        .uid_ranges(&IDENTITY)
        .gid_ranges(&IDENTITY);
    let code = in_ns(ns, || {
        let mut buf = [0u8; 256];
        let Some(map) = read_file(c"/proc/self/uid_map", &mut buf) else {
            return 1;
        };
        // The kernel pads the columns: compare the numbers.
        let mut numbers = map
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let three = [numbers.next(), numbers.next(), numbers.next()];
        if three != [Some(&b"0"[..]), Some(b"0"), Some(b"65536")] || numbers.next().is_some() {
            return 2;
        }
        if sys::getuid() != 0 || sys::getgid() != 0 {
            3
        } else {
            0
        }
    });
    assert_eq!(code, 0);
}

#[test]
fn id_ranges_unprivileged_are_refused_by_the_kernel_and_leave_no_child() {
    refused_as_nobody(Namespaces::new().uid_ranges(&IDENTITY), |e| {
        matches!(
            *e,
            Error::IdMap { pid, file: "uid_map", errno: Errno::EPERM } if pid > 0
        )
    });
}

/// As nobody: one range onto the caller's own ids alone needs no privilege (`setgroups` is
/// denied first for the gid map, as for `map_root`).
#[test]
fn one_range_onto_the_own_ids_needs_no_privilege() {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    assert_in_fork(|| {
        if become_nobody().is_err() || sys::geteuid() == 0 {
            return 1;
        }
        let own = |outside| {
            [IdRange {
                inside: 7,
                outside,
                count: 1,
            }]
        };
        let (uids, gids) = (own(sys::geteuid() as u32), own(sys::getegid() as u32));
        let ns = Namespaces::new().uid_ranges(&uids).gid_ranges(&gids);
        match in_ns(ns, || (sys::geteuid() == 7 && sys::getegid() == 7) as i32) {
            1 => 0,
            code => 10 + code,
        }
    });
}

#[test]
fn without_a_user_namespace_the_eperm_names_the_missing_capability() {
    refused_as_nobody(Namespaces::new().uts().net(), |e| {
        *e == Error::NamespacePermission {
            flags: CloneFlags::NEWUTS | CloneFlags::NEWNET,
            cap_sys_admin: false,
        }
    });
}

/// As nobody, in a fork: a spawn in `ns` must fail as `expected` says, and leave no child.
fn refused_as_nobody(ns: Namespaces<'static>, expected: fn(&Error) -> bool) {
    if qemu_user() {
        return skip("qemu-user: CLONE_NEW* flags give EINVAL");
    }
    assert_in_fork(|| {
        if become_nobody().is_err() || sys::geteuid() == 0 {
            return 1;
        }
        let Ok(mut stack) = Stack::map(64 * 1024) else {
            return 2;
        };
        // SAFETY: never runs: the kernel or the child's setup refuses first.
        match unsafe { ns.spawn(&mut stack, || 0) } {
            Err(e) if expected(&e) => {}
            _ => return 3,
        }
        if has_children() { 4 } else { 0 }
    });
}

#[test]
fn bad_requests_are_refused_before_any_syscall() {
    let mut stack = Stack::map(64 * 1024).unwrap();
    let long = "h".repeat(65);
    let cases = [
        (Namespaces::new().flags(CloneFlags::VM), Rule::NotANamespace),
        (Namespaces::new().hostname(&long), Rule::HostnameTooLong),
        (
            Namespaces::new().map_root().time().syscall(Syscall::Clone),
            Rule::NeedsClone3,
        ),
    ];
    for (ns, rule) in cases {
        // SAFETY: never runs.
        match unsafe { ns.spawn(&mut stack, || 0) } {
            Err(Error::Rule(r, _)) => assert_eq!(r, rule),
            other => panic!("{rule:?}: {other:?}"),
        }
    }
}

// ---- raw helpers, usable in a forked child ----

/// How many entries of `dir` are all digits (processes, for /proc).
fn numeric_entries(dir: &core::ffi::CStr) -> usize {
    count_entries(dir, |name| name.iter().all(u8::is_ascii_digit))
}

/// This UTS namespace's host and domain name.
fn uts_names() -> (sys::UtsName, sys::UtsName) {
    (sys::hostname().unwrap(), sys::domainname().unwrap())
}

/// Read a whole (small) file into `buf`.
fn read_file<'b>(path: &core::ffi::CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let fd = sys::open(path, 0).ok()?;
    let mut len = 0;
    loop {
        match sys::read(fd.as_fd(), &mut buf[len..]) {
            Ok(0) => return Some(&buf[..len]),
            Ok(n) => len += n,
            Err(_) => return None,
        }
    }
}

/// Whether the interface `name` is up (`SIOCGIFFLAGS` on a datagram socket).
fn interface_up(name: &[u8]) -> Option<bool> {
    const IFF_UP: u16 = 1;
    let socket = sys::inet_dgram_socket().ok()?;
    let flags = sys::interface_flags(socket.as_fd(), name).ok()?;
    Some(flags & IFF_UP != 0)
}

/// The inode of `path` (`statx(2)`, `STATX_INO`); 0 if it cannot be read.
fn inode(path: &core::ffi::CStr) -> u64 {
    const STATX_INO: usize = 0x100;
    let mut stx = [0u64; 32];
    // SAFETY: the kernel writes one struct statx (256 bytes) into stx.
    let r = unsafe {
        syscall5(
            Sysno::statx,
            linux_raw_sys::general::AT_FDCWD as usize,
            path.as_ptr() as usize,
            0,
            STATX_INO,
            stx.as_mut_ptr() as usize,
        )
    };
    if r.is_ok() { stx[4] } else { 0 } // stx_ino is at byte 32
}

/// Write the pid in decimal, zero-padded, into `digits`.
fn fill_pid(digits: &mut [u8]) {
    let mut n = sys::getpid() as u32;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `dir` + `tail` as a C string in `buf`.
fn join<'b>(buf: &'b mut [u8], dir: &core::ffi::CStr, tail: &[u8]) -> &'b core::ffi::CStr {
    let d = dir.to_bytes();
    buf[..d.len()].copy_from_slice(d);
    buf[d.len()..d.len() + tail.len()].copy_from_slice(tail);
    buf[d.len() + tail.len()] = 0;
    core::ffi::CStr::from_bytes_with_nul(&buf[..=d.len() + tail.len()]).unwrap()
}

fn rmdir(path: &core::ffi::CStr) -> Result<usize, Errno> {
    const AT_REMOVEDIR: usize = 0x200;
    // SAFETY: a NUL-terminated path that lives for the call.
    unsafe {
        syscall3(
            Sysno::unlinkat,
            linux_raw_sys::general::AT_FDCWD as usize,
            path.as_ptr() as usize,
            AT_REMOVEDIR,
        )
    }
}

fn unlink(path: &core::ffi::CStr) -> Result<usize, Errno> {
    // SAFETY: a NUL-terminated path that lives for the call.
    unsafe {
        syscall3(
            Sysno::unlinkat,
            linux_raw_sys::general::AT_FDCWD as usize,
            path.as_ptr() as usize,
            0,
        )
    }
}
