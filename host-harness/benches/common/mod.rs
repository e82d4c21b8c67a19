//! Timing helpers shared by the benchmarks (each bench uses some of them).
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub struct Stats {
    pub median: Duration,
    pub p90: Duration,
}

pub fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats {
        median: samples[samples.len() / 2],
        p90: samples[samples.len() * 9 / 10],
    }
}

/// Times `runs` calls of `f`.
pub fn time(runs: usize, mut f: impl FnMut()) -> Stats {
    stats(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "median {}, p90 {}", fmt(self.median), fmt(self.p90))
    }
}

pub fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}
