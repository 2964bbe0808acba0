//! vigil's stderr, read on a thread and timestamped on arrival, so the bench
//! times events by vigil's own log lines instead of polling (which would
//! wake vigil and perturb what is measured).

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One log line and when the bench read it.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub text: String,
}

#[derive(Default)]
struct Inner {
    lines: Vec<Line>,
    eof: bool,
}

/// The lines read so far; cheap to clone.
#[derive(Clone, Default)]
pub struct LogWatch {
    inner: Arc<(Mutex<Inner>, Condvar)>,
}

impl LogWatch {
    /// Start reading `source` on a thread until EOF.
    pub fn spawn(source: impl Read + Send + 'static) -> Self {
        let watch = LogWatch::default();
        let writer = watch.clone();
        std::thread::spawn(move || {
            let reader = BufReader::with_capacity(1 << 16, source);
            for line in reader.lines() {
                let Ok(text) = line else { break };
                let at = Instant::now();
                let (lock, cond) = &*writer.inner;
                if let Ok(mut inner) = lock.lock() {
                    inner.lines.push(Line { at, text });
                }
                cond.notify_all();
            }
            let (lock, cond) = &*writer.inner;
            if let Ok(mut inner) = lock.lock() {
                inner.eof = true;
            }
            cond.notify_all();
        });
        watch
    }

    /// Number of lines read so far (an index for `wait_for`).
    pub fn len(&self) -> usize {
        self.inner.0.lock().map(|i| i.lines.len()).unwrap_or(0)
    }

    /// The first line at index >= `from` that satisfies `pred`, waiting up
    /// to `timeout`. Returns its index too.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<(usize, Line)> {
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.inner;
        let mut inner = lock.lock().ok()?;
        let mut scanned = from;
        loop {
            while let Some(line) = inner.lines.get(scanned) {
                if pred(&line.text) {
                    return Some((scanned, line.clone()));
                }
                scanned += 1;
            }
            let now = Instant::now();
            if inner.eof || now >= deadline {
                return None;
            }
            inner = cond.wait_timeout(inner, deadline - now).ok()?.0;
        }
    }

    /// The last `n` lines, for error reports.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let Ok(inner) = self.inner.0.lock() else {
            return Vec::new();
        };
        let skip = inner.lines.len().saturating_sub(n);
        inner
            .lines
            .iter()
            .skip(skip)
            .map(|l| l.text.clone())
            .collect()
    }
}
