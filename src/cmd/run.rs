//! `rawclone run` in the std binary: the arguments and the environment as C strings, handed to
//! [`rawclone::run::main`], which is the whole command (allocation-free, so that a static program
//! without libc runs the same code).

use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::ExitCode;

/// Run the command with the arguments after `run`.
pub fn main(args: &[OsString]) -> ExitCode {
    // Arguments and environment strings from the kernel never hold a NUL byte.
    let c = |bytes: Vec<u8>| CString::new(bytes).unwrap_or_default();
    let args: Vec<CString> = args.iter().map(|a| c(a.as_bytes().to_vec())).collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(key, value)| {
            let mut pair = key.into_vec();
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            c(pair)
        })
        .collect();
    let args: Vec<&CStr> = args.iter().map(CString::as_c_str).collect();
    let envp: Vec<&CStr> = envp.iter().map(CString::as_c_str).collect();
    ExitCode::from(rawclone::run::main(&args, &envp))
}
