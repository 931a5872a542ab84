//! `rawclone run`: the arguments after `run` and the environment, as the C strings the kernel
//! handed the process, passed to [`rawclone::run::main`], which is the whole command.

use core::ffi::CStr;

/// Run the command with the arguments after `run` and the process's environment.
pub fn main(args: &[&CStr], envp: &[&CStr]) -> i32 {
    i32::from(rawclone::run::main(args, envp))
}
