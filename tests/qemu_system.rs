#![cfg(target_arch = "x86_64")] // driven from the x86_64 host
//! Boots real Linux kernels under qemu-system with an initramfs whose `/init` is the freestanding
//! selftest of the guest's architecture, and reads its summary from the serial console. This is
//! where the modes qemu-user cannot emulate (chimera, vfork, namespaces, pidfd, clone3) run on
//! aarch64 (Debian's arm64 cloud kernel under `qemu-system-aarch64`) and riscv64 (Debian trixie's
//! riscv64 kernel under `qemu-system-riscv64`, with qemu's default OpenSBI firmware), i686
//! (Debian bookworm's 686 kernel under `qemu-system-i386`) and arm (Debian bookworm's armmp-lpae
//! kernel under `qemu-system-arm`).
//!
//! Ignored by a plain `cargo test` because each needs qemu-system and a kernel image: `bash
//! .ci/test` installs both (the kernels land in `target/arm64-kernel/vmlinuz` and
//! `target/kernels/trixie-riscv64/vmlinuz`, `target/kernels/bookworm-i386/vmlinuz` and
//! `target/kernels/bookworm-armhf/vmlinuz`, or set `RAWCLONE_ARM64_KERNEL` /
//! `RAWCLONE_RISCV64_KERNEL` / `RAWCLONE_I386_KERNEL` / `RAWCLONE_ARMHF_KERNEL`) and runs them
//! with `--ignored`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One guest: how its kernel is found and how qemu boots it.
struct Machine {
    /// The freestanding target whose selftest becomes `/init`.
    target: &'static str,
    /// The initramfs file name under `target/freestanding/`.
    initramfs: &'static str,
    /// The variable that names another kernel image, and the cached one's path under the root.
    kernel_var: &'static str,
    kernel_default: &'static str,
    /// The Debian package providing `qemu`, for the message when it is missing.
    package: &'static str,
    qemu: &'static str,
    /// Machine options before `-kernel`.
    args: &'static [&'static str],
    console: &'static str,
}

const AARCH64: Machine = Machine {
    target: "aarch64-unknown-none",
    initramfs: "initramfs-aarch64.cpio",
    kernel_var: "RAWCLONE_ARM64_KERNEL",
    kernel_default: "target/arm64-kernel/vmlinuz",
    package: "qemu-system-arm",
    qemu: "qemu-system-aarch64",
    args: &["-M", "virt", "-cpu", "cortex-a57"],
    console: "ttyAMA0",
};

const RISCV64: Machine = Machine {
    target: "riscv64gc-unknown-none-elf",
    initramfs: "initramfs-riscv64.cpio",
    kernel_var: "RAWCLONE_RISCV64_KERNEL",
    kernel_default: "target/kernels/trixie-riscv64/vmlinuz",
    package: "qemu-system-misc",
    qemu: "qemu-system-riscv64",
    // OpenSBI (qemu's default firmware, from qemu-system-data) runs the kernel in S-mode.
    args: &["-M", "virt", "-bios", "default"],
    console: "ttyS0",
};

const I686: Machine = Machine {
    // No i686 `-none` target ships a prebuilt `core`: see common::FREESTANDING_I686_FLAGS.
    target: "i686-unknown-linux-musl",
    initramfs: "initramfs-i686.cpio",
    kernel_var: "RAWCLONE_I386_KERNEL",
    kernel_default: "target/kernels/bookworm-i386/vmlinuz",
    package: "qemu-system-x86",
    qemu: "qemu-system-i386",
    // TCG's most capable CPU: the i686 target's code uses SSE2, which the default qemu32 lacks.
    args: &["-M", "pc", "-cpu", "max"],
    console: "ttyS0",
};

const ARM: Machine = Machine {
    target: "armv7a-none-eabi",
    initramfs: "initramfs-arm.cpio",
    kernel_var: "RAWCLONE_ARMHF_KERNEL",
    kernel_default: "target/kernels/bookworm-armhf/vmlinuz",
    package: "qemu-system-arm",
    qemu: "qemu-system-arm",
    // The LPAE kernel wants a Cortex-A15 or later (the plain armmp one needs highmem=off).
    args: &["-M", "virt", "-cpu", "cortex-a15"],
    console: "ttyAMA0",
};

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

fn kernel(machine: &Machine) -> PathBuf {
    let path = std::env::var_os(machine.kernel_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(machine.kernel_default));
    assert!(
        path.is_file(),
        "no kernel at {}: run `bash .ci/test` (it fetches Debian's) or set {}",
        path.display(),
        machine.kernel_var
    );
    path
}

/// Run qemu until it exits or `limit` passes; returns everything it printed.
fn boot(machine: &Machine, kernel: &Path, initrd: &Path, limit: Duration) -> String {
    let mut qemu = Command::new(machine.qemu)
        .args(machine.args)
        .args(["-m", "512", "-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("console={} panic=-1 quiet", machine.console))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} did not start ({e}): install the Debian package {}",
                machine.qemu, machine.package
            )
        });
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

/// Boot `machine` with its selftest as `/init`: every mode must pass, none skipped, and init
/// must power the machine off.
fn selftest_as_init(machine: &Machine) {
    let kernel = kernel(machine);
    let init = std::fs::read(common::freestanding_program(machine.target, "selftest")).unwrap();
    let initrd = root()
        .join("target")
        .join("freestanding")
        .join(machine.initramfs);
    std::fs::write(&initrd, initramfs(&init)).unwrap();
    let console = boot(machine, &kernel, &initrd, Duration::from_secs(300));
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

#[test]
#[ignore = "boots an arm64 kernel under qemu-system-aarch64; `bash .ci/test` installs it and runs this"]
fn aarch64_selftest_passes_as_init_on_a_real_kernel() {
    selftest_as_init(&AARCH64);
}

#[test]
#[ignore = "boots a riscv64 kernel under qemu-system-riscv64; `bash .ci/test` installs it and runs this"]
fn riscv64_selftest_passes_as_init_on_a_real_kernel() {
    selftest_as_init(&RISCV64);
}

#[test]
#[ignore = "boots an i386 kernel under qemu-system-i386; `bash .ci/test` installs it and runs this"]
fn i686_selftest_passes_as_init_on_a_real_kernel() {
    selftest_as_init(&I686);
}

#[test]
#[ignore = "boots an armhf kernel under qemu-system-arm; `bash .ci/test` installs it and runs this"]
fn arm_selftest_passes_as_init_on_a_real_kernel() {
    selftest_as_init(&ARM);
}
