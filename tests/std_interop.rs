//! The `std` feature: rawclone's errors, descriptors and exit statuses go into std's types and
//! back. Built only with `--features std` (`required-features` in Cargo.toml; `.ci/test` runs
//! the host suite with it).
#![cfg(feature = "std")]

mod common;

use common::*;
use rawclone::sys::{self, Fd};
use rawclone::{Errno, Error, ExitStatus, Fork, Signal, fork};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;

/// An `io::Result` function that uses rawclone with `?`.
fn fork_and_reap(code: i32) -> io::Result<rawclone::ExitStatus> {
    // SAFETY: the child only exits.
    match unsafe { fork()? } {
        Fork::Child => sys::exit_group(code),
        Fork::Parent(child) => Ok(child.wait()?),
    }
}

fn open_missing() -> io::Result<()> {
    sys::open(c"/no/such/file", 0).map_err(|errno| Error::Sys {
        call: "open",
        errno,
    })?;
    Ok(())
}

#[test]
fn question_mark_works_in_io_result_functions() {
    assert_eq!(fork_and_reap(3).unwrap(), ExitStatus::Exited(3));
    let e = open_missing().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.raw_os_error(), Some(Errno::ENOENT.into_raw()));
}

#[test]
fn errors_without_an_errno_keep_their_text() {
    let e: io::Error = Error::ChildGone.into();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    assert_eq!(e.raw_os_error(), None);
    assert_eq!(e.to_string(), Error::ChildGone.to_string());
    assert_eq!(
        e.get_ref().and_then(|e| e.downcast_ref::<Error>()),
        Some(&Error::ChildGone)
    );
    let rule = Error::Rule(rawclone::Rule::StackTooSmall, rawclone::CloneFlags::EMPTY);
    assert_eq!(io::Error::from(rule).kind(), io::ErrorKind::InvalidInput);
    // The stand-in variants carry the errno they stand for.
    let e: io::Error = Error::OutOfTasks.into();
    assert_eq!(e.raw_os_error(), Some(Errno::EAGAIN.into_raw()));
    assert_eq!(
        Error::OutOfTasks.raw_os_error(),
        Some(Errno::EAGAIN.into_raw())
    );
}

#[test]
fn an_fd_goes_into_owned_fd_and_back_and_works_as_a_file() {
    let (a, b) = sys::seqpacket_pair().unwrap();
    let raw = a.as_raw();
    assert_eq!(AsRawFd::as_raw_fd(&a), raw);
    assert_eq!(AsFd::as_fd(&a).as_raw_fd(), raw);
    let owned: OwnedFd = a.into();
    assert_eq!(owned.as_raw_fd(), raw);
    let mut file = std::fs::File::from(owned);
    file.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(sys::read(b.as_fd(), &mut buf).unwrap(), 4);
    assert_eq!(&buf, b"ping");

    // And back: std's descriptor owned by rawclone, closed once, by the Fd.
    let back = Fd::from(OwnedFd::from(file));
    assert_eq!(back.as_raw(), raw);
    sys::write(back.as_fd(), b"pong").unwrap();
    let mut file_b = std::fs::File::from(OwnedFd::from(b));
    file_b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");

    // Raw round trip.
    let n = back.into_raw_fd();
    // SAFETY: `n` was just given up by its Fd; nothing else owns it.
    let again = unsafe { Fd::from_raw_fd(n) };
    assert_eq!(again.as_raw(), raw);
    drop(again);
}

#[test]
fn borrowed_fds_convert_both_ways() {
    let stdout = sys::stdout();
    let std_borrow: std::os::fd::BorrowedFd<'_> = stdout.into();
    assert_eq!(std_borrow.as_raw_fd(), 1);
    let stderr = io::stderr();
    let back: sys::BorrowedFd<'_> = stderr.as_fd().into();
    assert_eq!(back.as_raw(), 2);
    assert_eq!(AsFd::as_fd(&back).as_raw_fd(), 2);
    assert_eq!(back.as_raw_fd(), 2);
}

#[test]
fn a_pidfd_goes_to_std() {
    if qemu_user() {
        return skip("qemu-user refuses CLONE_PIDFD");
    }
    // SAFETY: the child only exits.
    let Fork::Parent(child) = unsafe { fork() }.unwrap() else {
        sys::exit_group(0)
    };
    let pidfd = child.pidfd().expect("a pidfd from fork");
    let borrowed: std::os::fd::BorrowedFd<'_> = pidfd.as_fd().into();
    let dup = borrowed.try_clone_to_owned().unwrap();
    assert_ne!(dup.as_raw_fd(), pidfd.as_raw());
    child.wait().unwrap();
}

#[test]
fn exit_status_into_std_agrees() {
    let cases = [
        ExitStatus::Exited(0),
        ExitStatus::Exited(3),
        ExitStatus::Exited(255),
        ExitStatus::Signaled {
            signal: Signal::SIGKILL,
            core_dumped: false,
        },
        ExitStatus::Signaled {
            signal: Signal::SIGSEGV,
            core_dumped: true,
        },
    ];
    for ours in cases {
        let std_status: std::process::ExitStatus = ours.into();
        assert_eq!(std_status.code(), ours.code(), "{ours:?}");
        assert_eq!(
            std_status.signal(),
            ours.signal().map(|s| s.number() as i32),
            "{ours:?}"
        );
        assert_eq!(std_status.success(), ours.success(), "{ours:?}");
        assert_eq!(std_status.to_string(), ours.to_string(), "{ours:?}");
    }
    // A real child's status, as std would have seen it.
    let status = fork_and_reap(9).unwrap();
    let std_status = std::process::ExitStatus::from(status);
    assert_eq!(std_status.code(), Some(9));
    assert_eq!(status.to_string(), "exit status: 9");
}
