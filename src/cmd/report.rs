//! `rawclone bench-report`: criterion's medians as one table, each against its baseline and its
//! goal from the benchmark issue, so a run reads as "met" or "not met" at a glance.
//!
//! Criterion keeps one `estimates.json` per benchmark under `<target>/criterion/<group>/<id>/new/`;
//! the median's `point_estimate` (nanoseconds) is all this reads, with a small scan instead of a
//! JSON library (the field sits at a fixed place in a file criterion writes).

use crate::nolibc::io;
use alloc::format;
use alloc::string::{String, ToString};
use core::fmt::Write as _;

/// What a benchmark must reach to meet its goal.
#[derive(Clone, Copy)]
enum Goal {
    /// No goal: shown for comparison.
    None,
    /// At most this ratio to the baseline.
    Ratio(f64),
    /// At most this many nanoseconds.
    Nanos(f64),
}

/// One table row: a benchmark, the baseline its ratio is taken against, and its goal.
struct Row {
    bench: &'static str,
    baseline: &'static str,
    goal: Goal,
}

const fn row(bench: &'static str, baseline: &'static str, goal: Goal) -> Row {
    Row {
        bench,
        baseline,
        goal,
    }
}

/// The table, in the order the README shows it.
const ROWS: &[Row] = &[
    row("spawn_join/std_thread", "spawn_join/std_thread", Goal::None),
    row("spawn_join/raw_thread", "spawn_join/std_thread", Goal::None),
    row(
        "spawn_join/raw_thread_static",
        "spawn_join/std_thread",
        Goal::None,
    ),
    row(
        "spawn_join/raw_chimera",
        "spawn_join/std_thread",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_thread",
        "spawn_join/std_thread",
        Goal::Ratio(0.45),
    ),
    row("spawn_join/pthread", "spawn_join/std_thread", Goal::None),
    row(
        "spawn_join/raw_thread_floor",
        "spawn_join/pthread",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_thread",
        "spawn_join/pthread",
        Goal::Ratio(0.60),
    ),
    row(
        "spawn_join/spawner_thread",
        "spawn_join/raw_thread_floor",
        Goal::Ratio(1.10),
    ),
    row(
        "spawn_join/raw_thread_floor_placed",
        "spawn_join/raw_thread_floor",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_thread",
        "spawn_join/raw_thread_floor_placed",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_thread_spread",
        "spawn_join/pthread",
        Goal::Ratio(0.85),
    ),
    row(
        "spawn_join/spawner_chimera",
        "spawn_join/pthread",
        Goal::Ratio(0.80),
    ),
    row(
        "spawn_join/raw_chimera_floor",
        "spawn_join/pthread",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_chimera",
        "spawn_join/raw_chimera_floor",
        Goal::None,
    ),
    row(
        "spawn_join/raw_chimera_floor_placed",
        "spawn_join/raw_chimera_floor",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_chimera",
        "spawn_join/raw_chimera_floor_placed",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_thread_spread",
        "spawn_join/std_thread",
        Goal::None,
    ),
    row(
        "spawn_join/spawner_chimera",
        "spawn_join/std_thread",
        Goal::Ratio(1.0),
    ),
    row(
        "spawn_join/spawner_green",
        "spawn_join/std_thread",
        Goal::Nanos(1000.0),
    ),
    row("spawn_join/libc_fork", "spawn_join/libc_fork", Goal::None),
    row("spawn_join/raw_fork", "spawn_join/libc_fork", Goal::None),
    row(
        "spawn_exec/std_command",
        "spawn_exec/std_command",
        Goal::None,
    ),
    row(
        "spawn_exec/raw_vfork_exec",
        "spawn_exec/std_command",
        Goal::Ratio(0.95),
    ),
    row(
        "spawn_exec/posix_spawn",
        "spawn_exec/std_command",
        Goal::None,
    ),
    row(
        "spawn_exec/raw_vfork_exec",
        "spawn_exec/posix_spawn",
        Goal::Ratio(0.90),
    ),
    row(
        "spawn_exec/raw_vfork_exit",
        "spawn_exec/raw_vfork_exec",
        Goal::None,
    ),
    row(
        "green/tokio_current_thread",
        "green/tokio_current_thread",
        Goal::None,
    ),
    row("green/corosensei", "green/tokio_current_thread", Goal::None),
    row(
        "green/rawclone_local",
        "green/tokio_current_thread",
        Goal::Ratio(0.5),
    ),
    row("green/rawclone_local", "green/corosensei", Goal::Ratio(3.0)),
    row(
        "green/rawclone_green",
        "green/tokio_current_thread",
        Goal::None,
    ),
    row(
        "green/corosensei_switch",
        "green/corosensei_switch",
        Goal::None,
    ),
    row(
        "green/rawclone_local_yield",
        "green/corosensei_switch",
        Goal::Ratio(3.0),
    ),
    row(
        "green/rawclone_local_yield_alone",
        "green/corosensei_switch",
        Goal::None,
    ),
    row(
        "green/rawclone_yield",
        "green/corosensei_switch",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_fork/1MiB",
        "fork_by_rss/raw_fork/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_fork/64MiB",
        "fork_by_rss/raw_fork/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_fork/256MiB",
        "fork_by_rss/raw_fork/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_chimera/1MiB",
        "fork_by_rss/raw_chimera/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_chimera/64MiB",
        "fork_by_rss/raw_chimera/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_chimera/256MiB",
        "fork_by_rss/raw_chimera/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_vfork_exec/1MiB",
        "fork_by_rss/raw_vfork_exec/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_vfork_exec/64MiB",
        "fork_by_rss/raw_vfork_exec/1MiB",
        Goal::None,
    ),
    row(
        "fork_by_rss/raw_vfork_exec/256MiB",
        "fork_by_rss/raw_vfork_exec/1MiB",
        Goal::None,
    ),
    row("ns_run/unshare_true", "ns_run/unshare_true", Goal::None),
    row(
        "ns_run/rawclone_run_true",
        "ns_run/unshare_true",
        Goal::Ratio(0.7),
    ),
];

/// Groups whose violin plots `--plots` copies.
const GROUPS: [&str; 5] = ["spawn_join", "spawn_exec", "green", "fork_by_rss", "ns_run"];

const USAGE: &str = "usage: rawclone bench-report [--criterion DIR] [--plots DIR]

  Reads the medians criterion saved (default DIR: target/criterion, after
  `cargo bench`) and prints a Markdown table: median, ratio to the
  baseline, the goal, and whether it is met. --plots copies each group's violin
  plot to DIR/<group>.svg.";

/// Run the command with the arguments after `bench-report`.
pub fn main(args: &[String]) -> i32 {
    let mut criterion = "target/criterion";
    let mut plots = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--criterion" => match args.next().map(String::as_str) {
                Some(dir) => criterion = dir,
                None => return usage_error("--criterion needs a directory"),
            },
            "--plots" => match args.next().map(String::as_str) {
                Some(dir) => plots = Some(dir),
                None => return usage_error("--plots needs a directory"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            other => return usage_error(&format!("unknown argument '{other}'")),
        }
    }
    if !io::is_dir(criterion) {
        eprintln!("rawclone bench-report: {criterion} does not exist; run `cargo bench` first");
        return 1;
    }
    print!("{}", table(criterion));
    if let Some(dir) = plots
        && let Err(e) = copy_plots(criterion, dir)
    {
        eprintln!("rawclone bench-report: copying plots to {dir}: {e}");
        return 1;
    }
    0
}

fn usage_error(why: &str) -> i32 {
    eprintln!("rawclone bench-report: {why}\n\n{USAGE}");
    2
}

/// The median of one benchmark in nanoseconds, if criterion measured it.
fn median(criterion: &str, bench: &str) -> Option<f64> {
    let text = io::read_to_string(&format!("{criterion}/{bench}/new/estimates.json"))?;
    let after = &text[text.find("\"median\"")?..];
    let value = &after[after.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

/// A duration in the unit that keeps three significant digits readable.
fn human(ns: f64) -> String {
    match ns {
        ns if ns < 1e3 => format!("{ns:.0} ns"),
        ns if ns < 1e6 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{:.2} ms", ns / 1e6),
    }
}

/// The Markdown table for the benchmarks found under `criterion`.
fn table(criterion: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Measured on {}.\n", machine());
    out.push_str("| benchmark | median | baseline | ratio | goal | met |\n");
    out.push_str("|---|---:|---|---:|---|---|\n");
    for row in ROWS {
        let (Some(value), base) = (
            median(criterion, row.bench),
            median(criterion, row.baseline),
        ) else {
            let _ = writeln!(out, "| `{}` | not measured | | | | |", row.bench);
            continue;
        };
        let ratio = base.map(|b| value / b);
        let same = row.bench == row.baseline;
        let ratio_text = match ratio {
            Some(_) if same => "1".to_string(),
            Some(r) => format!("{r:.2}×"),
            None => "–".to_string(),
        };
        let (goal, met) = match (row.goal, ratio) {
            (Goal::None, _) => (String::new(), ""),
            (Goal::Ratio(max), Some(r)) => (format!("≤ {max:.2}×"), yes(r <= max)),
            (Goal::Ratio(max), None) => (format!("≤ {max:.2}×"), "no baseline"),
            (Goal::Nanos(max), _) => (format!("< {}", human(max)), yes(value < max)),
        };
        let baseline = if same {
            "(baseline)"
        } else {
            short(row.baseline)
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {baseline} | {ratio_text} | {goal} | {met} |",
            row.bench,
            human(value),
        );
    }
    out
}

fn yes(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// A benchmark id without its group.
fn short(bench: &str) -> &str {
    bench.split_once('/').map_or(bench, |(_, id)| id)
}

/// CPU model, CPU count and kernel: what a reader needs to weigh the numbers.
fn machine() -> String {
    let cpuinfo = io::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("an unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let kernel = io::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {} CPUs, Linux {} ({})",
        rawclone::sys::available_cpus(),
        kernel.trim(),
        rawclone::arch::NAME
    )
}

/// Copy each group's violin plot to `dir/<group>.svg`.
fn copy_plots(criterion: &str, dir: &str) -> Result<(), rawclone::Error> {
    let failed = |call| move |errno| rawclone::Error::Sys { call, errno };
    io::create_dir_all(dir).map_err(failed("mkdir"))?;
    for group in GROUPS {
        match io::read(&format!("{criterion}/{group}/report/violin.svg")) {
            Ok(plot) => io::write(&format!("{dir}/{group}.svg"), &plot).map_err(failed("write"))?,
            Err(rawclone::Errno::ENOENT) => {} // a group that did not run
            Err(e) => return Err(failed("read")(e)),
        }
    }
    Ok(())
}
