//! A scoped parallel computation: tasks borrow the caller's data, as with
//! `std::thread::scope`, on rawclone's pooled Thread tasks. Each task counts the primes in its
//! slice of a shared table (no allocation, no I/O in a task: see [`Spawner::spawn`]'s rules); the
//! scope ends only when every task has, so the borrow is sound.
//!
//! Run with `cargo run --example scoped_sum --features std`. It checks the parallel answer
//! against a sequential one and exits 0 only if they agree, for each backend.

use rawclone::{Backend, Spawner};
use std::time::Instant;

/// Trial division: slow on purpose, so the work dominates the spawn.
fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

fn count_primes(numbers: &[u64]) -> usize {
    numbers.iter().filter(|&&n| is_prime(n)).count()
}

/// Count the primes in `numbers` with `tasks` tasks of `spawner`, each borrowing one chunk.
fn parallel_count(spawner: &Spawner, numbers: &[u64], tasks: usize) -> rawclone::Result<usize> {
    let chunk = numbers.len().div_ceil(tasks);
    spawner.scope(|scope| {
        let mut handles = [const { None }; 16];
        for (slot, part) in handles.iter_mut().zip(numbers.chunks(chunk)) {
            // SAFETY: the task only reads its borrowed chunk and computes: no allocation, no
            // locks, no thread-locals, no panics (the arithmetic cannot overflow for these n).
            *slot = Some(unsafe { scope.spawn(move || count_primes(part))? });
        }
        let mut total = 0;
        for handle in handles.into_iter().flatten() {
            total += handle.join()?;
        }
        Ok(total)
    })
}

fn main() -> std::io::Result<()> {
    let numbers: Vec<u64> = (1_000_000..1_400_000).collect();
    let start = Instant::now();
    let expected = count_primes(&numbers);
    let sequential = start.elapsed();
    println!("sequential: {expected} primes in {sequential:.1?}");
    let tasks = std::thread::available_parallelism().map_or(4, |n| n.get().min(16));
    let (mut passed, mut failed) = (0, 0);
    for backend in [Backend::Thread, Backend::Chimera, Backend::Green] {
        let spawner = Spawner::new(backend)?;
        let start = Instant::now();
        let got = parallel_count(&spawner, &numbers, tasks)?;
        let took = start.elapsed();
        let ok = got == expected;
        println!(
            "[{}] {backend:?}: {got} primes with {tasks} tasks in {took:.1?} ({:.2}x sequential)",
            if ok { "ok  " } else { "FAIL" },
            sequential.as_secs_f64() / took.as_secs_f64()
        );
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed, 0 skipped");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
