//! Every flag rule rawclone checks before a syscall, asked again of the running kernel through the
//! raw trampolines: the validator must refuse exactly where the kernel refuses, and must accept
//! what the kernel accepts (clone(2) is out of date on some of these).

mod common;

use common::*;
use core::sync::atomic::AtomicU32;
use linux_raw_sys::general as k;
use rawclone::flags::{Request, validate};
use rawclone::sys::{self, WaitId};
use rawclone::{CloneFlags as F, Errno, ExitStatus, Rule, Stack, Syscall, sync};

unsafe extern "C" fn quit(_: *mut u8) -> i32 {
    0
}

/// What the kernel answers to a raw request, bypassing rawclone's validator. An accepted request
/// is joined (threads) or reaped (processes) before returning; one with CLONE_PARENT is the
/// caller's parent's to reap, and its pid is returned.
fn kernel_answer(
    flags: F,
    exit_signal: u64,
    syscall: Syscall,
    stack_size: Option<usize>,
) -> Result<i32, Errno> {
    let stack = Stack::map(64 * 1024).unwrap();
    let word = AtomicU32::new(0);
    let mut pidfd: i32 = -1;
    let joinable = flags.contains(F::THREAD);
    // A thread is joined on its CLEARTID word, which PARENT_SETTID sets before the child runs.
    let flags = if joinable {
        flags | F::CHILD_CLEARTID | F::PARENT_SETTID
    } else {
        flags
    };
    let top = stack.top();
    let ret = match syscall {
        Syscall::Clone3 => {
            let mut args = k::clone_args {
                flags: flags.bits(),
                pidfd: &raw mut pidfd as u64,
                child_tid: word.as_ptr() as u64,
                parent_tid: word.as_ptr() as u64,
                exit_signal,
                stack: stack.base() as u64,
                stack_size: stack_size.unwrap_or(stack.size()) as u64,
                tls: 0,
                set_tid: 0,
                set_tid_size: 0,
                cgroup: 0,
            };
            if stack_size == Some(usize::MAX) {
                (args.stack, args.stack_size) = (0, 4096); // a size without a stack
            }
            // SAFETY: a fresh stack; the child only returns; `args` lives across the call.
            unsafe {
                rawclone::arch::clone3(
                    (&raw mut args).cast(),
                    size_of::<k::clone_args>(),
                    quit,
                    core::ptr::null_mut(),
                )
            }
        }
        Syscall::Clone => {
            let ptid = if flags.contains(F::PIDFD) {
                &raw mut pidfd
            } else {
                word.as_ptr().cast()
            };
            let raw = flags.bits() as usize | exit_signal as usize;
            // SAFETY: as above.
            unsafe {
                rawclone::arch::clone(
                    raw,
                    top,
                    ptid,
                    word.as_ptr().cast(),
                    0,
                    quit,
                    core::ptr::null_mut(),
                )
            }
        }
    };
    let tid = Errno::from_ret(ret as usize)? as i32;
    if pidfd > 0 {
        // SAFETY: the kernel just made this pidfd for this probe; nothing else holds it.
        drop(unsafe { sys::Fd::from_raw(pidfd) });
    }
    if joinable {
        sync::wait_until_zero(&word);
    } else if !flags.contains(F::PARENT) {
        sys::waitid(WaitId::Pid(tid), k::WEXITED | k::__WALL).expect("reap");
    }
    Ok(tid)
}

fn request(flags: F, exit_signal: u64, syscall: Syscall) -> Request {
    Request {
        flags,
        exit_signal,
        stack: 0x1000_0000,
        stack_size: 0x10000,
        frame: 256,
        set_tid_len: 0,
        syscall,
    }
}

/// Under qemu-user the emulator answers clone itself, so the kernel cannot be asked there; the
/// same questions are asked of the kernel natively (and the rules are not architecture-specific).
fn kernel_unreachable() -> bool {
    if qemu_user() {
        skip("qemu-user: the emulator, not the kernel, answers clone flags here");
        return true;
    }
    false
}

fn is_root() -> bool {
    sys::geteuid() == 0
}

/// One test per rule: the validator names it, and the kernel refuses the same request.
macro_rules! refused {
    ($($name:ident: $flags:expr, $signal:expr, $syscall:ident => $rule:ident;)*) => {$(
        #[test]
        fn $name() {
            let flags = $flags;
            assert_eq!(validate(&request(flags, $signal, Syscall::$syscall)), Err(Rule::$rule));
            if kernel_unreachable() {
                return;
            }
            let answer = kernel_answer(flags, $signal, Syscall::$syscall, None);
            // Without CAP_SYS_ADMIN the kernel checks privilege before some of these rules.
            let ok = answer == Err(Errno::EINVAL)
                || (!is_root() && answer == Err(Errno::EPERM) && flags.intersects(F::NAMESPACES));
            assert!(ok, "kernel answered {answer:?} to {flags} (rule: {})", Rule::$rule);
        }
    )*};
}

const THREADISH: F = F::VM.union(F::SIGHAND).union(F::THREAD);
const SIGCHLD: u64 = k::SIGCHLD as u64;

refused! {
    thread_needs_sighand_clone3: F::VM | F::THREAD, 0, Clone3 => ThreadNeedsSighand;
    thread_needs_sighand_clone: F::VM | F::THREAD, 0, Clone => ThreadNeedsSighand;
    sighand_needs_vm_clone3: F::SIGHAND, SIGCHLD, Clone3 => SighandNeedsVm;
    sighand_needs_vm_clone: F::SIGHAND, SIGCHLD, Clone => SighandNeedsVm;
    clear_sighand_excludes_sighand: F::VM | F::SIGHAND | F::CLEAR_SIGHAND, SIGCHLD, Clone3 => ClearSighandExcludesSighand;
    newns_excludes_fs: F::NEWNS | F::FS, SIGCHLD, Clone3 => NewnsExcludesFs;
    newuser_excludes_fs: F::NEWUSER | F::FS, SIGCHLD, Clone3 => NewuserExcludesFs;
    newuser_excludes_thread: THREADISH | F::NEWUSER, 0, Clone3 => NewuserExcludesThread;
    newpid_excludes_thread: THREADISH | F::NEWPID, 0, Clone3 => NewpidExcludesThread;
    newipc_excludes_sysvsem: F::NEWIPC | F::SYSVSEM, SIGCHLD, Clone3 => NewipcExcludesSysvsem;
    pidfd_excludes_detached_clone3: F::PIDFD | F::DETACHED, SIGCHLD, Clone3 => PidfdExcludesDetached;
    pidfd_excludes_detached_clone: F::PIDFD | F::DETACHED, SIGCHLD, Clone => PidfdExcludesDetached;
    pidfd_excludes_parent_settid_on_clone: F::PIDFD | F::PARENT_SETTID, SIGCHLD, Clone => PidfdExcludesParentSettid;
    clone3_exit_signal_excludes_thread: THREADISH, SIGCHLD, Clone3 => ExitSignalWithThreadOrParent;
    clone3_exit_signal_excludes_parent: F::PARENT, SIGCHLD, Clone3 => ExitSignalWithThreadOrParent;
    clone3_exit_signal_above_64: F::EMPTY, 65, Clone3 => ExitSignalOutOfRange;
    // Issue 14: clone3_args_valid() refuses CLONE_DETACHED on every kernel.
    clone3_refuses_detached: F::DETACHED, SIGCHLD, Clone3 => DetachedOnClone3;
    // Issue 12: clone3 refuses flag bits in the exit signal's byte (CLONE_NEWTIME aside).
    clone3_refuses_flag_bits_in_the_signal_byte: F::from_bits(12), 0, Clone3 => FlagInSignalByte;
    clone3_refuses_signal_byte_flags_with_sigchld: F::from_bits(12), SIGCHLD, Clone3 => FlagInSignalByte;
    // Issue 13: clone3 refuses every bit above CLONE_INTO_CGROUP.
    clone3_refuses_bit_40: F::from_bits(1 << 40), SIGCHLD, Clone3 => UnknownFlag;
    clone3_refuses_bit_63: F::from_bits(1 << 63), SIGCHLD, Clone3 => UnknownFlag;
    clone3_refuses_bit_34: F::from_bits(1 << 34), SIGCHLD, Clone3 => UnknownFlag;
}

/// Issue 12: legacy clone reads the low byte as the exit signal, so flag bits there would turn
/// into a signal (`from_bits(12)` alone: SIGUSR2; with SIGCHLD: signal 29, which killed the
/// parent). The kernel cannot refuse what it cannot see, so rawclone refuses before the syscall.
#[test]
fn legacy_clone_refuses_flag_bits_in_the_signal_byte() {
    for bits in [12, 1, 0x40, 0x7f] {
        for signal in [0, SIGCHLD] {
            assert_eq!(
                validate(&request(F::from_bits(bits), signal, Syscall::Clone)),
                Err(Rule::FlagInSignalByte),
                "{bits:#x} with exit signal {signal}"
            );
        }
    }
    // CLONE_NEWTIME's bit is in that byte too: a flag on clone3 only.
    assert_eq!(
        validate(&request(F::NEWTIME, 0, Syscall::Clone)),
        Err(Rule::NeedsClone3)
    );
    assert_eq!(validate(&request(F::NEWTIME, 0, Syscall::Clone3)), Ok(()));
}

/// Issue 13: legacy clone takes the low 32 bits of its flags word and drops the rest without a
/// word (the child runs); rawclone must never lose a bit.
#[test]
fn legacy_clone_refuses_flags_above_bit_31() {
    for bit in [34, 40, 63] {
        assert_eq!(
            validate(&request(F::from_bits(1 << bit), SIGCHLD, Syscall::Clone)),
            Err(Rule::UnknownFlag),
            "bit {bit}"
        );
    }
}

/// Issue 14: legacy clone does not check its exit signal: any value of the low byte is taken (the
/// kernel just does not deliver one above 64), so only a value that does not fit is refused.
#[test]
fn legacy_clone_takes_any_exit_signal_in_the_low_byte() {
    for signal in [64, 65, 128, 255] {
        assert_eq!(
            validate(&request(F::EMPTY, signal, Syscall::Clone)),
            Ok(()),
            "exit signal {signal}"
        );
    }
    assert_eq!(
        validate(&request(F::EMPTY, 256, Syscall::Clone)),
        Err(Rule::ExitSignalOutOfRange)
    );
    if kernel_unreachable() {
        return;
    }
    for signal in [65, 255] {
        assert!(
            kernel_answer(F::EMPTY, signal, Syscall::Clone, None).is_ok(),
            "exit signal {signal}"
        );
    }
}

/// Issue 14: legacy clone ignores CLONE_DETACHED (only clone3 refuses it).
#[test]
fn legacy_clone_accepts_detached() {
    assert_eq!(
        validate(&request(F::DETACHED, SIGCHLD, Syscall::Clone)),
        Ok(())
    );
    if kernel_unreachable() {
        return;
    }
    assert!(kernel_answer(F::DETACHED, SIGCHLD, Syscall::Clone, None).is_ok());
}

#[test]
fn clone3_stack_needs_a_size_and_a_size_needs_a_stack() {
    let mut req = request(F::EMPTY, SIGCHLD, Syscall::Clone3);
    req.stack_size = 0;
    assert_eq!(validate(&req), Err(Rule::StackWithoutSize));
    let mut other = request(F::EMPTY, SIGCHLD, Syscall::Clone3);
    other.stack = 0;
    assert_eq!(validate(&other), Err(Rule::StackWithoutSize));
    if kernel_unreachable() {
        return;
    }
    assert_eq!(
        kernel_answer(F::EMPTY, SIGCHLD, Syscall::Clone3, Some(0)),
        Err(Errno::EINVAL)
    );
    let mut req = request(F::EMPTY, SIGCHLD, Syscall::Clone3);
    req.stack = 0;
    assert_eq!(validate(&req), Err(Rule::StackWithoutSize));
    assert_eq!(
        kernel_answer(F::EMPTY, SIGCHLD, Syscall::Clone3, Some(usize::MAX)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn rawclone_refuses_a_vm_child_without_a_stack_or_with_a_tiny_one() {
    // The kernel would accept both and let the child run on (or past) the parent's live stack.
    let mut req = request(F::VM, SIGCHLD, Syscall::Clone3);
    req.stack = 0;
    req.stack_size = 0;
    assert_eq!(validate(&req), Err(Rule::VmNeedsStack));
    let mut req = request(F::VM, SIGCHLD, Syscall::Clone3);
    req.stack_size = 100;
    assert_eq!(validate(&req), Err(Rule::StackTooSmall));
}

#[test]
fn clone3_only_requests_are_refused_on_legacy_clone() {
    for flag in [F::NEWTIME, F::CLEAR_SIGHAND, F::INTO_CGROUP] {
        assert_eq!(
            validate(&request(flag, SIGCHLD, Syscall::Clone)),
            Err(Rule::NeedsClone3),
            "{flag}"
        );
    }
    let mut req = request(F::EMPTY, SIGCHLD, Syscall::Clone);
    req.set_tid_len = 1;
    assert_eq!(validate(&req), Err(Rule::NeedsClone3));
}

/// Requests clone(2) calls invalid but the kernel accepts: the validator must accept them too.
/// CLONE_PARENT children belong to the test process, so each probe runs in a fork and the test
/// process reaps what it was handed.
fn accepted_with_parent(flags: F) {
    assert_eq!(validate(&request(flags, 0, Syscall::Clone3)), Ok(()));
    if kernel_unreachable() {
        return;
    }
    let (ours, theirs) = sys::seqpacket_pair().unwrap();
    let status = in_fork(|| match kernel_answer(flags, 0, Syscall::Clone3, None) {
        Ok(pid) => {
            send_u32(&theirs, pid as u32);
            0
        }
        Err(e) => e.into_raw(),
    });
    assert_eq!(
        status,
        ExitStatus::Exited(0),
        "kernel refused {flags} (errno in the status)"
    );
    let pid = recv_u32(&ours) as i32;
    let info = sys::waitid(WaitId::Pid(pid), k::WEXITED | k::__WALL).expect("reap the sibling");
    assert_eq!(info.status, 0);
}

#[test]
fn kernel_accepts_newuser_with_parent() {
    accepted_with_parent(F::NEWUSER | F::PARENT);
}

#[test]
fn kernel_accepts_newpid_with_parent() {
    accepted_with_parent(F::NEWUSER | F::NEWPID | F::PARENT);
}

#[test]
fn legacy_clone_accepts_an_exit_signal_with_thread() {
    let flags = F::THREAD_SET;
    assert_eq!(validate(&request(flags, SIGCHLD, Syscall::Clone)), Ok(()));
    if kernel_unreachable() {
        return;
    }
    assert!(kernel_answer(flags, SIGCHLD, Syscall::Clone, None).is_ok());
}

#[test]
fn pidfd_with_thread_is_left_to_the_kernel() {
    // Refused before Linux 6.9, accepted since: rawclone must not decide.
    let flags = F::THREAD_SET | F::PIDFD;
    assert_eq!(validate(&request(flags, 0, Syscall::Clone3)), Ok(()));
    if kernel_unreachable() {
        return;
    }
    match kernel_answer(flags, 0, Syscall::Clone3, None) {
        Ok(_) => {}
        Err(e) => assert_eq!(
            e,
            Errno::EINVAL,
            "only a pre-6.9 kernel may refuse, with EINVAL"
        ),
    }
}

#[test]
fn the_thread_set_and_common_compositions_pass() {
    for (flags, signal) in [
        (
            F::THREAD_SET | F::SETTLS | F::PARENT_SETTID | F::CHILD_CLEARTID,
            0,
        ),
        (F::VM, SIGCHLD),
        (F::VM | F::VFORK, SIGCHLD),
        (
            F::NEWUSER | F::NEWNS | F::NEWPID | F::NEWUTS | F::NEWIPC | F::NEWNET | F::NEWCGROUP,
            SIGCHLD,
        ),
        (F::PIDFD | F::CLEAR_SIGHAND | F::NEWTIME, SIGCHLD),
    ] {
        assert_eq!(
            validate(&request(flags, signal, Syscall::Clone3)),
            Ok(()),
            "{flags}"
        );
    }
}

#[test]
fn flags_print_by_name() {
    assert_eq!((F::VM | F::THREAD).to_string(), "CLONE_VM|CLONE_THREAD");
    assert_eq!(F::EMPTY.to_string(), "EMPTY");
    assert_eq!(F::from_bits(1 << 40).to_string(), "0x10000000000");
}
