//! The static build of the `rawclone` command: `rawclone-static run [options] [--] PROGRAM
//! [ARGS...]`, the same [`rawclone::run`] the std binary runs, in a program with no libc and no
//! dynamic loader, which starts in a fraction of the time (see the `ns_run` benchmark).
#![no_std]
#![no_main]

use core::ffi::CStr;
use rawclone::start::Args;
use rawclone_freestanding as _;

rawclone::freestanding_main!(main);

/// Most arguments and environment strings passed on (no allocator: fixed tables).
const MAX: usize = 4096;

fn main(args: &Args) -> i32 {
    if args.get(1) != Some(c"run") {
        let _ = rawclone::sys::write(
            rawclone::sys::stderr(),
            b"rawclone-static: only `run` is built in (usage: rawclone-static run [options] [--] \
              PROGRAM [ARGS...]; the tour is `cargo run --release`)\n",
        );
        return 2;
    }
    let mut argv: [&CStr; MAX] = [c""; MAX];
    let mut envp: [&CStr; MAX] = [c""; MAX];
    let n = (2..args.len())
        .filter_map(|i| args.get(i))
        .take(MAX)
        .enumerate();
    let argc = n.map(|(k, arg)| argv[k] = arg).count();
    let envc = args
        .env()
        .take(MAX)
        .enumerate()
        .map(|(k, e)| envp[k] = e)
        .count();
    if argc + 2 < args.len() {
        let _ = rawclone::sys::write(
            rawclone::sys::stderr(),
            b"rawclone-static run: too many arguments\n",
        );
        return 2;
    }
    i32::from(rawclone::run::main(&argv[..argc], &envp[..envc]))
}
