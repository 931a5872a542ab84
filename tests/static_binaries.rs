#![cfg(target_arch = "x86_64")] // driven from the x86_64 host
//! Builds the freestanding package for `x86_64-unknown-none`, checks that the result is a static
//! ELF with no interpreter and no dynamic section, runs it natively and reads its summary line.

use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "x86_64-unknown-none";

/// Build the freestanding programs (once per test binary) and return the path of `name`.
fn build(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // A target dir of its own: the outer `cargo test` may still hold the main one's lock.
        let target_dir = root.join("target").join("freestanding");
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "-p",
                "rawclone-freestanding",
                "--target",
                TARGET,
            ])
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "building the freestanding programs failed"
        );
        target_dir.join(TARGET).join("release")
    });
    dir.join(name)
}

/// ELF program header types of the file at `path`.
fn program_header_types(path: &PathBuf) -> Vec<u32> {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(u16_at(16), 2, "ET_EXEC: a static, non-PIE executable");
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum).map(|i| u32_at(phoff + i * phentsize)).collect()
}

#[test]
fn selftest_is_a_static_elf_without_interpreter_or_dynamic_section() {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    let types = program_header_types(&build("selftest"));
    assert!(
        !types.contains(&PT_DYNAMIC),
        "has a dynamic section: {types:?}"
    );
    assert!(
        !types.contains(&PT_INTERP),
        "asks for an interpreter: {types:?}"
    );
}

#[test]
fn selftest_passes_natively_with_nothing_skipped() {
    let out = Command::new(build("selftest"))
        .output()
        .expect("run selftest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(out.status.success(), "selftest failed:\n{stdout}");
    assert!(
        last.ends_with(" passed, 0 failed, 0 skipped"),
        "summary: {last}\n{stdout}"
    );
    assert!(!stdout.contains("[FAIL]"), "{stdout}");
}

#[test]
fn selftest_exit_with_mode_exits_with_the_given_status() {
    let status = Command::new(build("selftest"))
        .args(["exit-with", "42"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(42));
}
