//! A check for tests that a function of untrusted input takes time linear in its length: run it
//! on an input and on one `k` times longer, and compare the times. Each is the fastest of
//! several runs of the calling thread's CPU time (not wall time: a test preempted by other work
//! on a busy machine is not charged for it); callers bound the ratio generously (a linear
//! function gives about `k`, a quadratic one `k²`).

use std::hint::black_box;
use std::time::Duration;

use cpu_time::ThreadTime;

/// How many times each side runs; the fastest run counts.
const RUNS: usize = 7;

fn fastest<T>(f: &mut impl FnMut() -> T) -> Duration {
    (0..RUNS)
        .map(|_| {
            let started = ThreadTime::now();
            black_box(f());
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// `time(large) / time(small)`, each the fastest of several runs (at least a microsecond).
pub fn work_ratio<A, B>(mut small: impl FnMut() -> A, mut large: impl FnMut() -> B) -> f64 {
    // Warm caches and lazy statics once before measuring.
    black_box(small());
    let small = fastest(&mut small).max(Duration::from_micros(1));
    let large = fastest(&mut large);
    large.as_secs_f64() / small.as_secs_f64()
}
