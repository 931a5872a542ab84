//! `--setenv VAR VALUE` and `--unsetenv VAR`: the program's environment, changed in the order
//! given as bubblewrap changes its own with `setenv(3)` and `unsetenv(3)` before it execs (a
//! variable that is set keeps its place, a new one goes last, an unset one goes wherever it
//! stands), built without allocation in room the command line sized (the `room` module): as
//! many changes, variables and bytes as it brings.

use core::ffi::CStr;

/// One change, as given.
#[derive(Clone, Copy)]
pub(super) enum Change<'a> {
    /// `--setenv VAR VALUE`.
    Set(&'a CStr, &'a CStr),
    /// `--unsetenv VAR`.
    Unset(&'a CStr),
}

/// The changes, in the order given, in `list` (as long as the most a command line can give).
pub(super) struct Changes<'a, 'r> {
    list: &'r mut [Change<'a>],
    len: usize,
}

/// Why the changed environment could not be built.
pub(super) enum Refused {
    /// A name that `setenv(3)` refuses: empty, or with a `=`.
    BadName,
    /// More changes than the room made for them.
    TooManyChanges,
    /// More variables, or bytes of new ones, than the room made for them.
    TooBig,
}

impl<'a, 'r> Changes<'a, 'r> {
    /// No changes yet, room for `list.len()`.
    pub(super) fn new(list: &'r mut [Change<'a>]) -> Changes<'a, 'r> {
        Changes { list, len: 0 }
    }

    /// Append `change`, after checking its name.
    pub(super) fn push(&mut self, change: Change<'a>) -> Result<(), Refused> {
        let (Change::Set(name, _) | Change::Unset(name)) = change;
        let name = name.to_bytes();
        if name.is_empty() || name.contains(&b'=') {
            return Err(Refused::BadName);
        }
        let slot = self.list.get_mut(self.len).ok_or(Refused::TooManyChanges)?;
        *slot = change;
        self.len += 1;
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `envp` with the changes applied, its new strings in `arena`, its list in `vars`.
    pub(super) fn apply<'e>(
        &self,
        envp: &[&'e CStr],
        arena: &'e mut [u8],
        vars: &'e mut [&'e CStr],
    ) -> Result<&'e [&'e CStr], Refused>
    where
        'a: 'e,
    {
        let mut len = envp.len();
        vars.get_mut(..len)
            .ok_or(Refused::TooBig)?
            .copy_from_slice(envp);
        let mut free = arena;
        for change in &self.list[..self.len] {
            match *change {
                Change::Set(name, value) => {
                    let (name, value) = (name.to_bytes(), value.to_bytes());
                    let size = name.len() + 1 + value.len() + 1;
                    if size > free.len() {
                        return Err(Refused::TooBig);
                    }
                    let (text, rest) = core::mem::take(&mut free).split_at_mut(size);
                    free = rest;
                    text[..name.len()].copy_from_slice(name);
                    text[name.len()] = b'=';
                    text[name.len() + 1..size - 1].copy_from_slice(value);
                    text[size - 1] = 0;
                    let text = CStr::from_bytes_with_nul(text).map_err(|_| Refused::BadName)?;
                    match vars[..len].iter().position(|v| named(v, name)) {
                        Some(at) => vars[at] = text,
                        None => {
                            *vars.get_mut(len).ok_or(Refused::TooBig)? = text;
                            len += 1;
                        }
                    }
                }
                Change::Unset(name) => {
                    let name = name.to_bytes();
                    let mut kept = 0;
                    for at in 0..len {
                        if !named(vars[at], name) {
                            vars[kept] = vars[at];
                            kept += 1;
                        }
                    }
                    len = kept;
                }
            }
        }
        Ok(&vars[..len])
    }
}

/// Whether the `VAR=VALUE` string `var` sets `name`.
fn named(var: &CStr, name: &[u8]) -> bool {
    var.to_bytes()
        .strip_prefix(name)
        .is_some_and(|rest| rest.first() == Some(&b'='))
}
