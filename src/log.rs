//! Where vigil's own messages go: stderr (the console when PID 1) and, when
//! PID 1, /dev/kmsg so they land in the kernel log with the boot messages.
//! Writing never fails the caller: a sink that errors is skipped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Log severity, mapped to kmsg priorities by the shell.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
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
    /// While the event loop runs: stderr reopened non-blocking (its own
    /// open file description, so services sharing the console keep a
    /// blocking one), and what it has not taken yet, bounded.
    queued: Option<Queued>,
    /// vigil's own records for vigil.log (`logs::record` format), until
    /// the event loop takes them; bounded by `MAX_OWN_BYTES`.
    own: Vec<u8>,
    own_dropped: u64,
    pid: i32,
}

/// vigil's own records kept for vigil.log before the loop takes them (the
/// whole early boot fits many times over).
pub const MAX_OWN_BYTES: usize = 256 * 1024;

/// vigil's stderr as the event loop writes it: never blocking.
#[derive(Debug)]
struct Queued {
    out: File,
    bytes: std::collections::VecDeque<u8>,
    /// Lines dropped since the queue was last full.
    dropped: u64,
    /// Writing failed for good (a closed pipe): nothing is written or
    /// waited for any more.
    broken: bool,
}

/// vigil's own output waiting for a slow console, at most (then lines are
/// dropped and counted).
pub const MAX_QUEUED_BYTES: usize = 64 * 1024;

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
            queued: None,
            own: Vec::new(),
            own_dropped: 0,
            pid: i32::try_from(std::process::id()).unwrap_or(0),
        }
    }

    /// Also write to /dev/kmsg when it can be opened (PID 1 after /dev is up).
    pub fn attach_kmsg(&mut self, path: &Path) {
        if self.kmsg.is_none() {
            self.kmsg = OpenOptions::new().write(true).open(path).ok();
        }
    }

    /// The most verbose level written (carried across a re-exec).
    pub fn level(&self) -> Level {
        self.max_level
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

    /// From now on stderr never blocks vigil: lines wait in a bounded queue
    /// for a slow console (a 9600-baud serial line takes 960 bytes/s) and
    /// are dropped, with a count, past `MAX_QUEUED_BYTES`. Off: what is
    /// queued is written out, blocking (the shutdown's final steps).
    pub fn set_nonblocking(&mut self, on: bool) {
        if on {
            if self.queued.is_none() {
                self.queued = reopen_stderr_nonblocking().map(|out| Queued {
                    out,
                    bytes: std::collections::VecDeque::new(),
                    dropped: 0,
                    broken: false,
                });
            }
        } else {
            self.flush();
            if let Some(mut q) = self.queued.take() {
                // What is still queued, and the count of what was dropped
                // since, goes out now, blocking: the loop is over.
                if q.dropped > 0 {
                    q.push(&[]);
                }
                let (a, b) = q.bytes.as_slices();
                let _ = std::io::stderr().write_all(a);
                let _ = std::io::stderr().write_all(b);
            }
        }
    }

    /// The descriptor to watch for writability while output waits in the
    /// queue (the event loop registers it, and calls `flush` when it fires).
    pub fn waiting_output(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.queued
            .as_ref()
            .filter(|q| !q.bytes.is_empty() && !q.broken)
            .map(|q| q.out.as_raw_fd())
    }

    /// Write out the batched lines, whole lines only.
    pub fn flush(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            if !pending.is_empty() {
                let bytes = std::mem::take(pending);
                self.emit(&bytes);
            }
        }
        if let Some(q) = self.queued.as_mut() {
            q.drain();
        }
    }

    /// Hand whole lines to stderr: queued (never blocking) while the loop
    /// runs, else written directly.
    fn emit(&mut self, bytes: &[u8]) {
        match self.queued.as_mut() {
            Some(q) => q.push(bytes),
            None => {
                let _ = std::io::stderr().write_all(bytes);
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
        self.record(level, message);
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
                self.emit(line.as_bytes());
                if let Some(q) = self.queued.as_mut() {
                    q.drain();
                }
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
            // (EINVAL) a write over 992 bytes: a longer message goes out as
            // several records, each under it, newline included.
            for record in kmsg_records(prio, tag, message) {
                let _ = kmsg.write_all(record.as_bytes());
            }
        }
    }

    /// Keep the message as a record for vigil.log.
    fn record(&mut self, level: Level, message: &str) {
        let tag = match level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        // One record per line of a message (a dump has several).
        let stamp = crate::logs::clock::format_utc(crate::logs::clock::now_micros());
        for line in message.split('\n') {
            if self.own.len() + line.len() + 64 > MAX_OWN_BYTES {
                self.own_dropped += 1;
                continue;
            }
            crate::logs::record::write_record(
                &mut self.own,
                &stamp,
                crate::logs::OWN_LOG,
                Some(self.pid),
                tag,
                false,
                line.as_bytes(),
            );
        }
    }

    /// vigil's records since the last call, for vigil.log (with a note of
    /// how many did not fit while nobody took them).
    pub fn take_records(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.own);
        if self.own_dropped > 0 {
            let note = format!(
                "{} log lines dropped before vigil.log could take them",
                self.own_dropped
            );
            self.own_dropped = 0;
            let stamp = crate::logs::clock::format_utc(crate::logs::clock::now_micros());
            crate::logs::record::write_record(
                &mut out,
                &stamp,
                crate::logs::OWN_LOG,
                Some(self.pid),
                "warning",
                false,
                note.as_bytes(),
            );
        }
        out
    }

    /// `log` at info level.
    pub fn info(&mut self, message: &str) {
        self.log(Level::Info, message);
    }
    /// `log` at warning level.
    pub fn warn(&mut self, message: &str) {
        self.log(Level::Warning, message);
    }
    /// `log` at error level.
    pub fn error(&mut self, message: &str) {
        self.log(Level::Error, message);
    }
    /// `log` at debug level (shown only with `log_level = "debug"`).
    pub fn debug(&mut self, message: &str) {
        self.log(Level::Debug, message);
    }
}

/// A message as /dev/kmsg records (`<PRIO>vigil: ...\n`), each at most
/// `KMSG_MAX` bytes, cut at character boundaries; the pieces after the
/// first are marked as continuing.
fn kmsg_records(prio: u8, tag: &str, message: &str) -> Vec<String> {
    let mut records = Vec::new();
    let mut rest = message;
    let mut first = true;
    loop {
        let head = if first {
            format!("<{prio}>vigil: {tag}")
        } else {
            format!("<{prio}>vigil: (cont.) ")
        };
        let room = KMSG_MAX - 1 - head.len();
        let mut cut = rest.len().min(room);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        records.push(format!("{head}{piece}\n"));
        rest = tail;
        first = false;
        if rest.is_empty() || cut == 0 {
            return records;
        }
    }
}

impl Queued {
    /// Queue whole lines, or count them as dropped when the queue is full.
    fn push(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        if self.bytes.len() + bytes.len() > MAX_QUEUED_BYTES {
            let lines = bytes.iter().filter(|b| **b == b'\n').count();
            self.dropped = self.dropped.saturating_add(lines.max(1) as u64);
            return;
        }
        if self.dropped > 0 {
            let marker = format!(
                "vigil: warning: {} log lines dropped: stderr was too slow\n",
                self.dropped
            );
            self.dropped = 0;
            self.bytes.extend(marker.as_bytes());
        }
        self.bytes.extend(bytes);
    }

    /// Write what the descriptor takes now, without blocking.
    fn drain(&mut self) {
        while !self.bytes.is_empty() {
            let (chunk, _) = self.bytes.as_slices();
            match self.out.write(chunk) {
                Ok(0) => break,
                Ok(n) => {
                    self.bytes.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // A broken stderr (a closed pipe): nothing will be read.
                    self.broken = true;
                    self.bytes.clear();
                    return;
                }
            }
        }
        if self.bytes.is_empty() {
            if self.dropped > 0 {
                self.push(&[]);
            } else {
                // A boot burst grew the queue; PID 1's memory goes back.
                self.bytes.shrink_to(BATCH_LIMIT);
            }
        }
    }
}

/// stderr opened again, non-blocking: a new open file description of the
/// same console, pipe or file, so O_NONBLOCK does not reach the services
/// that share it. None when it cannot be reopened (a socket): vigil then
/// writes to stderr as before.
fn reopen_stderr_nonblocking() -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/proc/self/fd/2")
        .ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_split_into_kmsg_records_under_the_limit() {
        let message = "é".repeat(1500);
        let records = kmsg_records(6, "warning: ", &message);
        assert_eq!(records.len(), 4);
        assert!(records
            .iter()
            .all(|r| r.len() <= KMSG_MAX && r.ends_with('\n')));
        assert!(records[0].starts_with("<6>vigil: warning: é"));
        assert!(records[1].starts_with("<6>vigil: (cont.) é"));
        let joined: String = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let head = if i == 0 {
                    "<6>vigil: warning: "
                } else {
                    "<6>vigil: (cont.) "
                };
                r.trim_end_matches('\n')
                    .strip_prefix(head)
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(joined, message);
        assert_eq!(kmsg_records(3, "", "short"), ["<3>vigil: short\n"]);
    }
}
