//! Replays the fuzz seed corpus (fuzz/corpus/TARGET/*) through every
//! parser that reads outside input (vigil::fuzzing), on the stable
//! toolchain, plus a fixed set of mutations of each seed (every prefix
//! length, and byte flips from a seeded generator), so CI exercises the
//! same entry points as `fuzz/run.sh`. Each input must neither panic nor
//! take unbounded time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A single input may take this long at most (a bound, not a benchmark:
/// the parsers take microseconds; a quadratic or endless one does not).
const PER_INPUT: Duration = Duration::from_secs(2);

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Deterministic variations of `seed`: prefixes and byte flips.
fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let step = (seed.len() / 64).max(1);
    for len in (0..seed.len()).step_by(step) {
        out.push(seed[..len].to_vec());
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    if !seed.is_empty() {
        for _ in 0..64 {
            let mut m = seed.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % m.len() as u64) as usize;
                m[at] = match next() % 4 {
                    0 => 0,
                    1 => b'"',
                    2 => b'\n',
                    _ => (next() & 0xff) as u8,
                };
            }
            out.push(m);
        }
    }
    out
}

#[test]
fn every_parser_survives_its_corpus_and_its_mutations() {
    let mut inputs = 0usize;
    for (target, parse) in vigil::fuzzing::TARGETS {
        let dir = corpus_dir(target);
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{target} has no seed corpus");
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            for input in std::iter::once(data.clone()).chain(mutations(&data)) {
                let start = Instant::now();
                let result = catch_unwind(AssertUnwindSafe(|| parse(&input)));
                let took = start.elapsed();
                assert!(
                    result.is_ok(),
                    "{target} panicked on a variant of {}: {:?}",
                    seed.display(),
                    String::from_utf8_lossy(&input)
                );
                assert!(
                    took < PER_INPUT,
                    "{target} took {took:?} on a variant of {}",
                    seed.display()
                );
                inputs += 1;
            }
        }
    }
    assert!(inputs > 1000, "{inputs}");
}
