//! The harness shared by rawclone's freestanding programs: output without libc or allocation, a
//! panic handler, and checks that end in the plain summary line `N passed, N failed, N skipped`.
#![no_std]

use core::fmt::{self, Write};
use rawclone::sys;

/// Standard output through raw `write(2)`.
pub struct Stdout;

impl Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let _ = sys::write_all(sys::stdout(), s.as_bytes());
        Ok(())
    }
}

/// `println!` for freestanding programs.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::Stdout, $($arg)*);
    }};
}

/// A short text built without allocation (longer text is cut).
pub struct Text {
    buf: [u8; 240],
    len: usize,
}

impl Text {
    /// An empty text.
    pub const fn new() -> Text {
        Text {
            buf: [0; 240],
            len: 0,
        }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are appended, and a cut backs up to a char boundary.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<invalid utf-8>")
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::new()
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Format into a [`Text`].
#[macro_export]
macro_rules! text {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut t = $crate::Text::new();
        let _ = write!(t, $($arg)*);
        t
    }};
}

/// What one check found.
pub enum Outcome {
    /// It behaved; the evidence.
    Pass(Text),
    /// It misbehaved; why.
    Fail(Text),
    /// It could not run here; the reason (always named).
    Skip(Text),
}

/// Counts outcomes and prints one line per check.
#[derive(Default)]
pub struct Report {
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Report {
    /// Record and print one check.
    pub fn check(&mut self, name: &str, outcome: Outcome) {
        let (tag, text) = match &outcome {
            Outcome::Pass(t) => {
                self.passed += 1;
                ("ok  ", t)
            }
            Outcome::Fail(t) => {
                self.failed += 1;
                ("FAIL", t)
            }
            Outcome::Skip(t) => {
                self.skipped += 1;
                ("skip", t)
            }
        };
        outln!("[{tag}] {name}: {}", text.as_str());
    }

    /// Print the summary line; the exit status is 0 only when nothing failed.
    pub fn finish(&self) -> i32 {
        outln!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed,
            self.skipped
        );
        (self.failed != 0) as i32
    }
}

/// A panic prints its message on stderr with a raw write and exits with status 101.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut t = Text::new();
    let _ = writeln!(t, "panic: {info}");
    let _ = sys::write_all(sys::stderr(), t.as_str().as_bytes());
    sys::exit_group(101)
}

/// The personality routine the prebuilt `core` of a `*-linux-*` target refers to (it was built
/// with `panic=unwind`). Only i686 builds these programs for such a target (no i686 `-none`
/// target ships a prebuilt `core`), with `-C panic=abort`, so nothing ever unwinds and nothing
/// calls this; it only satisfies the linker.
#[cfg(target_os = "linux")]
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
