#![cfg(target_arch = "x86_64")] // driven from the x86_64 host
//! Boots a real arm64 Linux kernel under `qemu-system-aarch64` with an initramfs whose `/init` is
//! the aarch64 freestanding selftest, and reads its summary from the serial console. This is where
//! the modes qemu-user cannot emulate (chimera, vfork, namespaces, pidfd, clone3) run on aarch64.
//!
//! Ignored by a plain `cargo test` because it needs `qemu-system-arm` and a kernel image:
//! `bash .ci/test` installs both (the kernel lands in `target/arm64-kernel/vmlinuz`, or set
//! `RAWCLONE_ARM64_KERNEL`) and runs it with `--ignored`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET: &str = "aarch64-unknown-none";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An uncompressed `newc` cpio archive with `/proc` and `/init`.
fn initramfs(init: &[u8]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
        let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let mut out = Vec::new();
    entry(&mut out, 1, "proc", 0o040555, &[]);
    entry(&mut out, 2, "init", 0o100755, init);
    entry(&mut out, 3, "TRAILER!!!", 0, &[]);
    out
}

fn kernel() -> PathBuf {
    let path = std::env::var_os("RAWCLONE_ARM64_KERNEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/arm64-kernel/vmlinuz"));
    assert!(
        path.is_file(),
        "no arm64 kernel at {}: run `bash .ci/test` (it fetches Debian's linux-image-cloud-arm64) or set RAWCLONE_ARM64_KERNEL",
        path.display()
    );
    path
}

/// Run qemu until it exits or `limit` passes; returns everything it printed.
fn boot(kernel: &Path, initrd: &Path, limit: Duration) -> String {
    let mut qemu = Command::new("qemu-system-aarch64")
        .args([
            "-M",
            "virt",
            "-cpu",
            "cortex-a57",
            "-m",
            "512",
            "-nographic",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyAMA0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-aarch64 is missing: install the Debian package qemu-system-arm");
    let start = Instant::now();
    while qemu.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = qemu.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = qemu.wait();
    let mut console = String::new();
    qemu.stdout
        .take()
        .unwrap()
        .read_to_string(&mut console)
        .unwrap();
    qemu.stderr
        .take()
        .unwrap()
        .read_to_string(&mut console)
        .unwrap();
    console
}

#[test]
#[ignore = "boots an arm64 kernel under qemu-system-aarch64; `bash .ci/test` installs it and runs this"]
fn aarch64_selftest_passes_as_init_on_a_real_kernel() {
    let kernel = kernel();
    let init = std::fs::read(common::freestanding_program(TARGET, "selftest")).unwrap();
    let initrd = root()
        .join("target")
        .join("freestanding")
        .join("initramfs-aarch64.cpio");
    std::fs::write(&initrd, initramfs(&init)).unwrap();
    let console = boot(&kernel, &initrd, Duration::from_secs(300));
    println!("{console}");
    assert!(!console.contains("Kernel panic"), "the kernel panicked");
    let summary = console
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| l.ends_with(" skipped") && l.contains(" passed, "))
        .expect("no summary line on the console");
    assert!(
        summary.ends_with(" 0 failed, 0 skipped"),
        "a real kernel must run every mode: {summary}"
    );
    assert!(
        console.contains("reboot: Power down"),
        "init did not power the machine off"
    );
}
