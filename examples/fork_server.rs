//! A fork-server test harness, as fuzzers run one: the harness sets up once, then runs each
//! input in a fresh copy of itself made with [`rawclone::fork`], so a crash or a hang ends only
//! that copy. Each copy is watched through its pidfd with a deadline
//! ([`Child::wait_timeout`](rawclone::Child::wait_timeout)); a copy still running at the deadline
//! is killed through the same pidfd, so the harness never signals a pid that might have been
//! reused.
//!
//! Run with `cargo run --example fork_server --features std`. It exits 0 only if every input was
//! classified as expected.

use rawclone::{Child, ExitStatus, Fork, Signal, fork, sys};
use std::time::{Duration, Instant};

/// What became of one input.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The target returned this code.
    Returned(i32),
    /// A signal ended the copy.
    Crashed(Signal),
    /// Still running at the deadline; killed.
    Hung,
}

/// The code under test. It runs in a forked copy of a single-threaded harness, so it may do what
/// a freshly forked process may; this one sticks to raw syscalls to stay safe in any harness.
fn target(input: &[u8]) -> i32 {
    match input {
        [b'c', b'r', b'a', b's', b'h', ..] => {
            // What `abort()` or a failed C assertion ends in. (Not a sent SIGSEGV: in a std
            // program std's stack-overflow handler takes a SIGSEGV that no fault raised and
            // returns, so the process would go on.)
            let _ = sys::kill(sys::getpid(), Signal::SIGABRT);
            0
        }
        [b'h', b'a', b'n', b'g', ..] => loop {
            let _ = sys::sleep_ms(1000);
        },
        _ => input.iter().filter(|&&b| b == b'!').count() as i32,
    }
}

/// Run `input` in a fresh copy of this process; wait at most `deadline`.
fn run_one(input: &[u8], deadline: Duration) -> rawclone::Result<Verdict> {
    // SAFETY: the child runs `target` (raw syscalls only) and ends with exit_group; it never
    // returns into the harness.
    let mut child: Child<'static> = match unsafe { fork()? } {
        Fork::Child => sys::exit_group(target(input)),
        Fork::Parent(child) => child,
    };
    let verdict = match child.wait_timeout(deadline)? {
        Some(status) => classify(status),
        None => {
            child.kill()?;
            child.wait()?;
            Verdict::Hung
        }
    };
    Ok(verdict)
}

fn classify(status: ExitStatus) -> Verdict {
    match status.signal() {
        Some(signal) => Verdict::Crashed(signal),
        None => Verdict::Returned(status.code().unwrap_or(-1)),
    }
}

fn main() -> std::io::Result<()> {
    let cases: [(&[u8], Verdict); 5] = [
        (b"hello", Verdict::Returned(0)),
        (b"hi!!", Verdict::Returned(2)),
        (b"crash me", Verdict::Crashed(Signal::SIGABRT)),
        (b"hang forever", Verdict::Hung),
        (b"!!!", Verdict::Returned(3)),
    ];
    let deadline = Duration::from_millis(300);
    let (mut passed, mut failed) = (0, 0);
    let start = Instant::now();
    for (input, expected) in &cases {
        let verdict = run_one(input, deadline)?;
        let ok = verdict == *expected;
        println!(
            "[{}] {:<14} {verdict:?}",
            if ok { "ok  " } else { "FAIL" },
            String::from_utf8_lossy(input)
        );
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!(
        "{} inputs in {:.0?} (one hang of {deadline:?} included)",
        cases.len(),
        start.elapsed()
    );
    println!("{passed} passed, {failed} failed, 0 skipped");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
