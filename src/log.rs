//! Where vigil's own messages go: stderr (the console when PID 1) and, when
//! PID 1, /dev/kmsg so they land in the kernel log with the boot messages.
//! Writing never fails the caller: a sink that errors is skipped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Log severity, mapped to kmsg priorities by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

/// vigil's logger. One per process; owned by the event loop.
#[derive(Debug)]
pub struct Logger {
    max_level: Level,
    kmsg: Option<File>,
    /// Lines for stderr not yet written, while the event loop batches them.
    pending: Option<Vec<u8>>,
}

/// Batched stderr output is written out before it reaches this size, so a
/// batch stays one atomic write on a pipe (PIPE_BUF).
const BATCH_LIMIT: usize = 4096;

/// Longest write /dev/kmsg accepts on every kernel vigil supports
/// (LOG_LINE_MAX = 1024 - 32 before 6.6).
const KMSG_MAX: usize = 992;

impl Logger {
    /// A logger to stderr only (supervisor mode, tests).
    pub fn stderr(max_level: Level) -> Self {
        Logger {
            max_level,
            kmsg: None,
            pending: None,
        }
    }

    /// Also write to /dev/kmsg when it can be opened (PID 1 after /dev is up).
    pub fn attach_kmsg(&mut self, path: &Path) {
        if self.kmsg.is_none() {
            self.kmsg = OpenOptions::new().write(true).open(path).ok();
        }
    }

    /// Change verbosity (from `vigil.log=` or vigil.toml).
    pub fn set_level(&mut self, level: Level) {
        self.max_level = level;
    }

    /// Batch stderr lines until `flush` (the event loop flushes once per
    /// turn): a burst of N exits then costs a few writes, not N. Turning it
    /// off flushes.
    pub fn set_batching(&mut self, on: bool) {
        if on {
            self.pending.get_or_insert_with(Vec::new);
        } else {
            self.flush();
            self.pending = None;
        }
    }

    /// Write out the batched lines, whole lines only.
    pub fn flush(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            if !pending.is_empty() {
                let _ = std::io::stderr().write_all(pending);
                pending.clear();
            }
        }
    }

    /// Whether messages at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.max_level
    }

    /// Write one message to every sink, tagged with its level.
    pub fn log(&mut self, level: Level, message: &str) {
        let tag = match level {
            Level::Error => "error: ",
            Level::Warning => "warning: ",
            Level::Info => "",
            Level::Debug => "debug: ",
        };
        self.write(level, tag, message);
    }

    /// Write a message that already says its severity (a unit-file
    /// diagnostic: `FILE:LINE:COL: error: ...`) without a second tag.
    pub fn log_untagged(&mut self, level: Level, message: &str) {
        self.write(level, "", message);
    }

    fn write(&mut self, level: Level, tag: &str, message: &str) {
        if !self.enabled(level) {
            return;
        }
        // Whole lines per write (one, or a batch of them), so concurrent
        // writers (services on the same console) never land inside one.
        let line = format!("vigil: {tag}{message}\n");
        match self.pending.as_mut() {
            Some(pending) => {
                if pending.len() + line.len() > BATCH_LIMIT {
                    self.flush();
                }
                if let Some(pending) = self.pending.as_mut() {
                    pending.extend_from_slice(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
        if let Some(kmsg) = self.kmsg.as_mut() {
            let prio = match level {
                Level::Error => 3,
                Level::Warning => 4,
                Level::Info => 6,
                Level::Debug => 7,
            };
            // kmsg takes one record per write, and kernels before 6.6 refuse
            // (EINVAL) a write over 992 bytes: keep it under, newline included.
            let mut record = format!("<{prio}>vigil: {tag}{message}");
            if record.len() > KMSG_MAX - 1 {
                let mut cut = KMSG_MAX - 1;
                while !record.is_char_boundary(cut) {
                    cut -= 1;
                }
                record.truncate(cut);
            }
            record.push('\n');
            let _ = kmsg.write_all(record.as_bytes());
        }
    }

    /// Convenience wrappers.
    pub fn info(&mut self, message: &str) {
        self.log(Level::Info, message);
    }
    pub fn warn(&mut self, message: &str) {
        self.log(Level::Warning, message);
    }
    pub fn error(&mut self, message: &str) {
        self.log(Level::Error, message);
    }
    pub fn debug(&mut self, message: &str) {
        self.log(Level::Debug, message);
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Parse "debug", "info", "warning"/"warn", "error"/"err", in any case:
/// the one spelling for `--log-level`, `vigil.log=` and vigil.toml.
pub fn parse_level(text: &str) -> Option<Level> {
    match text.to_ascii_lowercase().as_str() {
        "debug" => Some(Level::Debug),
        "info" => Some(Level::Info),
        "warning" | "warn" => Some(Level::Warning),
        "error" | "err" => Some(Level::Error),
        _ => None,
    }
}
