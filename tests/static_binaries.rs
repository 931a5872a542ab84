#![cfg(target_arch = "x86_64")] // driven from the x86_64 host
//! Builds the freestanding package for `x86_64-unknown-none`, checks that the result is a static
//! ELF with no interpreter and no dynamic section, runs it natively and reads its summary line.

mod common;

use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "x86_64-unknown-none";

/// `e_type` of a static, non-PIE executable.
const ET_EXEC: usize = 2;

fn build(name: &str) -> PathBuf {
    common::freestanding_program(TARGET, name)
}

/// The ELF file type (`e_type`) and program header types of the file at `path`.
fn elf_type_and_program_headers(path: &PathBuf) -> (usize, Vec<u32>) {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    let types = (0..phnum).map(|i| u32_at(phoff + i * phentsize)).collect();
    (u16_at(16), types)
}

#[test]
fn selftest_is_a_static_elf_without_interpreter_or_dynamic_section() {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    let (elf_type, types) = elf_type_and_program_headers(&build("selftest"));
    assert_eq!(elf_type, ET_EXEC, "a static, non-PIE executable");
    assert!(
        !types.contains(&PT_DYNAMIC),
        "has a dynamic section: {types:?}"
    );
    assert!(
        !types.contains(&PT_INTERP),
        "asks for an interpreter: {types:?}"
    );
}

/// Symbols of the file at `path` that are undefined (`st_shndx == SHN_UNDEF`), by name index.
/// `None` when the file has no symbol table to look in.
fn undefined_symbols(path: &PathBuf) -> Option<usize> {
    const SHT_SYMTAB: u32 = 2;
    let elf = std::fs::read(path).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum) = (u64_at(40), u16_at(58), u16_at(60));
    let mut undefined = None;
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        if u32_at(sh + 4) != SHT_SYMTAB {
            continue;
        }
        let (offset, size, entsize) = (u64_at(sh + 24), u64_at(sh + 32), u64_at(sh + 56));
        // Entry 0 is the null symbol; st_shndx sits at byte 6 of an Elf64_Sym.
        let here = (1..size / entsize)
            .filter(|k| u16_at(offset + k * entsize + 6) == 0)
            .count();
        undefined = Some(undefined.unwrap_or(0) + here);
    }
    undefined
}

#[test]
fn selftest_has_no_undefined_symbols() {
    assert_eq!(
        undefined_symbols(&build("selftest")),
        Some(0),
        "None: no symbol table to check"
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
    // Before Linux 5.16 the chimera overflow check cannot spare its creator, and says so.
    let old_kernel = "[skip] chimera stack overflow: Linux < 5.16";
    if common::kernel_before(5, 16)
        && last.ends_with(" passed, 0 failed, 1 skipped")
        && stdout.contains(old_kernel)
    {
        return common::skip(
            "the selftest's chimera overflow check: Linux < 5.16 kills every process sharing the memory on a core dump",
        );
    }
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

/// A program without libc started without descriptors 0 and 2 opens `/dev/null` on them, as
/// std's start-up does, so that `sys::stdin()` and `sys::stderr()` never name a descriptor the
/// program opens later; a program it runs inherits them.
#[test]
fn a_program_without_libc_started_without_stdio_fills_it_with_dev_null() {
    let program = common::rawclone_without_libc();
    let out = Command::new("sh")
        .arg("-c")
        .arg("exec <&- 2>&- \"$0\" run -- readlink /proc/self/fd/0 /proc/self/fd/2")
        .arg(&program)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/dev/null\n/dev/null\n"
    );
}

/// Names and types (`sh_type`) of the sections of the 64-bit ELF file at `path`.
fn sections(path: &PathBuf) -> Vec<(String, u32)> {
    let elf = std::fs::read(path).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(40), u16_at(58), u16_at(60), u16_at(62));
    let names = u64_at(shoff + shstrndx * shentsize + 24);
    (0..shnum)
        .map(|i| {
            let sh = shoff + i * shentsize;
            let name = &elf[names + u32_at(sh) as usize..];
            let end = name.iter().position(|&b| b == 0).unwrap();
            (
                String::from_utf8_lossy(&name[..end]).into_owned(),
                u32_at(sh + 4),
            )
        })
        .collect()
}

/// The `rawclone` binary `cargo install` builds needs no loader and no libc: nothing for the
/// kernel to load but the file itself, and none of glibc's start-up symbols. On `*-linux-gnu`,
/// where nothing runs before its own `_start`, it also needs none of what a C runtime's start-up
/// would do for it: no dynamic section or relocation to apply, no thread-local storage to set up,
/// no constructor to run (`.init_array`, `.preinit_array`, `.ctors`).
#[test]
fn the_installed_binary_is_static_without_libc() {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    let program = common::rawclone_without_libc();
    let (elf_type, types) = elf_type_and_program_headers(&program);
    assert!(
        !types.contains(&PT_INTERP),
        "asks for an interpreter: {types:?}"
    );
    // musl's targets link static PIE (relocated by musl's own start-up): only gnu's is ET_EXEC.
    if env!("RAWCLONE_TARGET").ends_with("-gnu") {
        assert_eq!(elf_type, ET_EXEC, "a static, non-PIE executable");
        const PT_TLS: u32 = 7;
        const SHT_RELA: u32 = 4;
        const SHT_REL: u32 = 9;
        assert!(
            !types.contains(&PT_DYNAMIC),
            "has a dynamic section: {types:?}"
        );
        assert!(
            !types.contains(&PT_TLS),
            "has thread-local storage: {types:?}"
        );
        let sections = sections(&program);
        assert!(
            sections.iter().any(|(name, _)| name == ".text"),
            "{sections:?}"
        );
        for (name, kind) in sections {
            assert!(
                ![".init_array", ".preinit_array", ".ctors"].contains(&name.as_str()),
                "has constructors: {name}"
            );
            assert!(
                ![SHT_RELA, SHT_REL].contains(&kind),
                "has relocations: {name}"
            );
        }
        let elf = std::fs::read(&program).unwrap();
        for symbol in [&b"__libc_start_main"[..], b"__libc_setup_tls"] {
            assert!(
                !elf.windows(symbol.len()).any(|w| w == symbol),
                "names {}",
                String::from_utf8_lossy(symbol)
            );
        }
    }
    let out = Command::new(&program).arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: rawclone"));
}
