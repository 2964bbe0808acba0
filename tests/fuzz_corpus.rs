//! Replays the fuzz seed corpus (fuzz/corpus/TARGET/*) through every
//! parser that reads outside input (vigil::fuzzing), on the stable
//! toolchain, plus a fixed set of mutations of each seed (every prefix
//! length, and byte flips from a seeded generator), so CI exercises the
//! same entry points as `fuzz/run.sh`. Each input must neither panic nor
//! take unbounded time or memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A single input may take this long at most (a bound, not a benchmark:
/// the parsers take microseconds; a quadratic or endless one does not).
const PER_INPUT: Duration = Duration::from_secs(2);

/// The most a single input may make its parser hold at once, beyond what
/// was held before it. The seeds are at most 1.5 KiB and the most any
/// input of the corpus makes a parser hold is about 31 KB; a parser that
/// holds a megabyte for one (a diagnostic repeated per entry, a list grown
/// quadratically) has the kind of bug issue 8's loading point was.
const PER_INPUT_BYTES: usize = 1 << 20;

/// The system allocator, counting the bytes held and the most held since
/// the last `reset_peak`.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn held(more: usize) {
    let now = HELD.fetch_add(more, Ordering::Relaxed) + more;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Start a new peak from what is held now; returns that.
fn reset_peak() -> usize {
    let now = HELD.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

// SAFETY: every call is passed to System unchanged; the counters are only
// arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            held(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            held(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
                let before = reset_peak();
                let start = Instant::now();
                let result = catch_unwind(AssertUnwindSafe(|| parse(&input)));
                let took = start.elapsed();
                let most = PEAK.load(Ordering::Relaxed).saturating_sub(before);
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
                assert!(
                    most < PER_INPUT_BYTES,
                    "{target} held {most} bytes at once on a variant of {}",
                    seed.display()
                );
                inputs += 1;
            }
        }
    }
    assert!(inputs > 1000, "{inputs}");
}
