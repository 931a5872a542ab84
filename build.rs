//! Link arguments for the `rawclone` binary, which starts without libc (see `src/main.rs`):
//! - `*-linux-gnu` without the `std` feature: no C runtime, no libc, a static executable that
//!   needs no relocation at start-up (`_start` comes from `rawclone::freestanding_main!`);
//! - `*-linux-musl` without the `std` feature: rustc links musl's static `crt1.o` anyway, and it
//!   calls `__libc_start_main`, so musl's `libc.a` (rustc's self-contained copy) comes too;
//! - with the `std` feature, std brings libc and its start-up, and nothing is added.
//!
//! It also names the target in `RAWCLONE_TARGET` for the tests, which build the binary without
//! std beside a suite built with it (`tests/common`'s `rawclone_without_libc`).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo::rustc-env=RAWCLONE_TARGET={target}");
    let std = std::env::var_os("CARGO_FEATURE_STD").is_some();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let args: &[&str] = match (std, target_env.as_str()) {
        (false, "gnu") => &["-nostartfiles", "-nostdlib", "-static", "-no-pie"],
        (false, "musl") => &["-lc"],
        _ => &[],
    };
    for arg in args {
        println!("cargo::rustc-link-arg-bin=rawclone={arg}");
    }
}
