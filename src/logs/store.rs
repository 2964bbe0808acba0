//! The log files: `DIR/NAME.log`, rotated by size to `NAME.log.1` ...
//! `NAME.log.KEEP`, mode 0640 (group: the admin group). Until a file can
//! be written (the directory is on a read-only or not yet mounted root,
//! or the disk is full) records wait in a bounded ring per unit, within
//! one global cap, oldest dropped first; the first write that succeeds
//! again puts one "N lines dropped" note where the gap is, then the ring,
//! in order. Writes are plain blocking appends to the page cache, like
//! s6-log's and svlogd's.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::clock;
use super::record::{write_record, NOTE_TAG};

/// What a unit's log may grow to before it is rotated, and how many
/// rotated files are kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLimits {
    pub max_size: u64,
    pub keep: u32,
}

/// vigil.toml's defaults: 1 MiB, 4 rotated files (5 MiB a unit at most).
pub const DEFAULT_LIMITS: LogLimits = LogLimits {
    max_size: 1 << 20,
    keep: 4,
};

/// Smallest `log_max_size`: above the longest possible record.
pub const MIN_MAX_SIZE: u64 = 8 * 1024;

/// Records a unit may have waiting in memory, in bytes.
pub const RING_PER_UNIT: usize = 64 * 1024;
/// Records all units together may have waiting in memory, in bytes.
pub const RING_TOTAL: usize = 1 << 20;

/// How long after a failed write the waiting records are tried again
/// first, and at most (doubling in between).
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// One unit's (or vigil's own) log.
#[derive(Debug)]
struct UnitLog {
    file: Option<File>,
    size: u64,
    /// Whole records not yet written, oldest first.
    ring: VecDeque<u8>,
    /// Records dropped from the ring since it was last written out.
    dropped: u64,
    /// Why records are waiting (the last write error).
    why: Option<String>,
    /// A write failed half-way through a record: the file's last line is
    /// cut, and a newline goes first when writing works again.
    torn: bool,
    /// The rotation of the last append, for a retry of what waits.
    limits: LogLimits,
}

impl UnitLog {
    fn new(limits: LogLimits) -> Self {
        UnitLog {
            file: None,
            size: 0,
            ring: VecDeque::new(),
            dropped: 0,
            why: None,
            torn: false,
            limits,
        }
    }
}

/// `DIR/NAME.log`: the one spelling of a log's current file.
fn file_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// Every log file vigil writes.
#[derive(Debug)]
pub struct LogStore {
    dir: PathBuf,
    gid: Option<u32>,
    logs: HashMap<String, UnitLog>,
    ring_total: usize,
    retry_at: Option<Duration>,
    retry_delay: Duration,
}

/// What of the store must outlive a re-exec: the records still waiting
/// in memory (and why), per log, and the retry schedule. The files
/// themselves are opened again by the next image.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreState {
    logs: Vec<SavedLog>,
    retry_in: Option<Duration>,
    retry_delay: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SavedLog {
    name: String,
    ring: Vec<u8>,
    dropped: u64,
    why: Option<String>,
    torn: bool,
    limits: LogLimits,
}

/// A write error that the caller's log should see, once per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreProblem {
    pub name: String,
    pub message: String,
}

impl LogStore {
    /// A store writing into `dir`; files get group `gid` when it is set.
    pub fn new(dir: PathBuf, gid: Option<u32>) -> Self {
        LogStore {
            dir,
            gid,
            logs: HashMap::new(),
            ring_total: 0,
            retry_at: None,
            retry_delay: RETRY_FIRST,
        }
    }

    /// What waits in memory, for the next image (`now`: monotonic).
    pub fn handover(&self, now: Duration) -> StoreState {
        let mut logs: Vec<SavedLog> = self
            .logs
            .iter()
            .filter(|(_, l)| !l.ring.is_empty() || l.dropped > 0 || l.torn)
            .map(|(name, l)| SavedLog {
                name: name.clone(),
                ring: l.ring.iter().copied().collect(),
                dropped: l.dropped,
                why: l.why.clone(),
                torn: l.torn,
                limits: l.limits,
            })
            .collect();
        logs.sort_by(|a, b| a.name.cmp(&b.name));
        StoreState {
            logs,
            retry_in: self.retry_at.map(|t| t.saturating_sub(now)),
            retry_delay: self.retry_delay,
        }
    }

    /// The store of a re-exec'd vigil, with what waited in the previous
    /// image's memory waiting here.
    pub fn resume(dir: PathBuf, gid: Option<u32>, state: StoreState, now: Duration) -> Self {
        let mut store = LogStore::new(dir, gid);
        for saved in state.logs {
            let mut log = UnitLog::new(saved.limits);
            store.ring_total += saved.ring.len();
            log.ring = saved.ring.into();
            log.dropped = saved.dropped;
            log.why = saved.why;
            log.torn = saved.torn;
            store.logs.insert(saved.name, log);
        }
        store.retry_at = state.retry_in.map(|d| now.saturating_add(d));
        store.retry_delay = state.retry_delay.clamp(RETRY_FIRST, RETRY_MAX);
        store
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current file of `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        file_of(&self.dir, name)
    }

    /// Use this group for files created from now on (a reload changed
    /// `admin_group`).
    pub fn set_gid(&mut self, gid: Option<u32>) {
        self.gid = gid;
    }

    /// Append whole records (each ending in a newline) to `name`'s log.
    /// `now` is the monotonic time, for the retry deadline. Returns a
    /// problem when records had to wait for a reason not reported before.
    pub fn append(
        &mut self,
        name: &str,
        limits: LogLimits,
        records: &[u8],
        now: Duration,
    ) -> Option<StoreProblem> {
        if records.is_empty() {
            return None;
        }
        let dir = &self.dir;
        let gid = self.gid;
        // No allocation for a log that exists (every append but the first).
        if !self.logs.contains_key(name) {
            self.logs.insert(name.to_string(), UnitLog::new(limits));
        }
        let log = self.logs.get_mut(name)?;
        log.limits = limits;
        let mut problem = None;
        if !log.ring.is_empty() || log.dropped > 0 {
            if let Err(e) = log.flush_ring(dir, name, gid, &mut self.ring_total) {
                problem = log.waiting(name, e);
            }
        }
        if log.ring.is_empty() && log.dropped == 0 {
            match log.write(dir, name, gid, records) {
                Ok(()) => {
                    if self.ring_total == 0 {
                        // Nothing waits anywhere (a ring is never empty
                        // while its drop note is unwritten): no retry.
                        self.retry_at = None;
                        self.retry_delay = RETRY_FIRST;
                    }
                    return problem;
                }
                Err((e, rest)) => {
                    problem = problem.or(log.waiting(name, e));
                    log.push(rest, &mut self.ring_total);
                }
            }
        } else {
            log.push(records, &mut self.ring_total);
        }
        self.trim_total();
        if self.retry_at.is_none() {
            self.retry_at = Some(now + self.retry_delay);
        }
        problem
    }

    /// When waiting records should be tried again (None: nothing waits).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.retry_at
    }

    /// Try the waiting records again (the retry deadline passed, or the
    /// caller knows the directory became writable).
    pub fn retry(&mut self, now: Duration) {
        let mut still_waiting = false;
        for (name, log) in &mut self.logs {
            if log.ring.is_empty() && log.dropped == 0 {
                continue;
            }
            if let Err(e) = log.flush_ring(&self.dir, name, self.gid, &mut self.ring_total) {
                log.why = Some(e);
                still_waiting = true;
            }
        }
        if still_waiting {
            self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
            self.retry_at = Some(now + self.retry_delay);
        } else {
            self.retry_delay = RETRY_FIRST;
            self.retry_at = None;
        }
    }

    /// Records of `name` still waiting in memory, oldest first.
    pub fn waiting(&self, name: &str) -> Vec<u8> {
        self.logs
            .get(name)
            .map(|l| l.ring.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Bytes waiting in memory, all units together.
    pub fn waiting_bytes(&self) -> usize {
        self.ring_total
    }

    /// fsync every open file (before the machine goes down).
    pub fn sync_all(&mut self) {
        for log in self.logs.values_mut() {
            if let Some(f) = log.file.as_ref() {
                let _ = f.sync_all();
            }
        }
    }

    /// Close every file (before filesystems are unmounted); the next
    /// append opens them again.
    pub fn close_all(&mut self) {
        for log in self.logs.values_mut() {
            log.file = None;
        }
    }

    /// Forget a unit that is gone (its files stay on disk). Records of it
    /// still waiting in memory stay until a retry writes them.
    pub fn forget(&mut self, name: &str) {
        let waiting = self
            .logs
            .get(name)
            .is_some_and(|l| !l.ring.is_empty() || l.dropped > 0);
        if waiting {
            if let Some(log) = self.logs.get_mut(name) {
                log.file = None;
            }
        } else {
            self.logs.remove(name);
        }
    }

    /// Keep all rings together under `RING_TOTAL`: the largest gives up
    /// its oldest records first.
    fn trim_total(&mut self) {
        while self.ring_total > RING_TOTAL {
            let Some(log) = self.logs.values_mut().max_by_key(|l| l.ring.len()) else {
                return;
            };
            let before = log.ring.len();
            log.drop_oldest();
            let freed = before.saturating_sub(log.ring.len());
            if freed == 0 {
                return;
            }
            self.ring_total = self.ring_total.saturating_sub(freed);
        }
    }
}

impl UnitLog {
    /// Note why records wait; a problem to report when the reason is new.
    fn waiting(&mut self, name: &str, why: String) -> Option<StoreProblem> {
        if self.why.as_deref() == Some(why.as_str()) {
            return None;
        }
        self.why = Some(why.clone());
        Some(StoreProblem {
            name: name.to_string(),
            message: format!(
                "{why}; its lines wait in memory (at most {} KiB)",
                RING_PER_UNIT / 1024
            ),
        })
    }

    /// Keep `records` in the ring, dropping the oldest past the unit's cap.
    fn push(&mut self, records: &[u8], total: &mut usize) {
        // Of a batch larger than the whole ring only the newest records can stay.
        let mut records = records;
        while records.len() > RING_PER_UNIT {
            let cut = records
                .iter()
                .position(|b| *b == b'\n')
                .map_or(records.len(), |p| p + 1);
            records = records.get(cut..).unwrap_or_default();
            self.dropped += 1;
        }
        while self.ring.len() + records.len() > RING_PER_UNIT {
            let before = self.ring.len();
            self.drop_oldest();
            *total = total.saturating_sub(before - self.ring.len());
        }
        self.ring.extend(records);
        *total += records.len();
    }

    /// Drop the oldest record of the ring.
    fn drop_oldest(&mut self) {
        let cut = self
            .ring
            .iter()
            .position(|b| *b == b'\n')
            .map_or(self.ring.len(), |p| p + 1);
        self.ring.drain(..cut);
        self.dropped += 1;
    }

    /// Write the note about dropped records, then the ring.
    fn flush_ring(
        &mut self,
        dir: &Path,
        name: &str,
        gid: Option<u32>,
        total: &mut usize,
    ) -> Result<(), String> {
        if self.dropped > 0 {
            let mut note = Vec::new();
            let why = self.why.as_deref().unwrap_or("memory full");
            let text = format!("{} lines dropped ({why})", self.dropped);
            write_record(
                &mut note,
                &clock::format_utc(clock::now_micros()),
                name,
                None,
                NOTE_TAG,
                false,
                text.as_bytes(),
            );
            self.write(dir, name, gid, &note).map_err(|(e, _)| e)?;
            self.dropped = 0;
        }
        let ring: Vec<u8> = self.ring.drain(..).collect();
        *total = total.saturating_sub(ring.len());
        match self.write(dir, name, gid, &ring) {
            Ok(()) => {
                self.why = None;
                self.ring = VecDeque::new();
                Ok(())
            }
            Err((e, rest)) => {
                self.ring.extend(rest);
                *total += rest.len();
                Err(e)
            }
        }
    }

    /// Append records to the file, rotating at record boundaries when it
    /// would pass `max_size`. On failure: why, and the records not
    /// written (from the first whole one; a record cut half-way is lost).
    fn write<'r>(
        &mut self,
        dir: &Path,
        name: &str,
        gid: Option<u32>,
        records: &'r [u8],
    ) -> Result<(), (String, &'r [u8])> {
        let limits = self.limits;
        let mut rest = records;
        while !rest.is_empty() {
            if let Err(e) = self.open(dir, name, gid) {
                return Err((e, rest));
            }
            if self.torn {
                let Some(file) = self.file.as_mut() else {
                    return Err(("no file".to_string(), rest));
                };
                if let Err(e) = file.write_all(b"\n") {
                    return Err((
                        format!("writing {}: {e}", file_of(dir, name).display()),
                        rest,
                    ));
                }
                self.torn = false;
                self.size += 1;
            }
            let room = limits.max_size.saturating_sub(self.size);
            let take = if (rest.len() as u64) <= room {
                rest.len()
            } else {
                // The whole records that fit; if none does, rotate first
                // (an empty file takes one record whatever its size).
                let fit = rest
                    .get(..usize::try_from(room).unwrap_or(usize::MAX))
                    .unwrap_or(rest);
                match fit.iter().rposition(|b| *b == b'\n') {
                    Some(p) => p + 1,
                    None if self.size > 0 => 0,
                    None => rest
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(rest.len(), |p| p + 1),
                }
            };
            let (now, later) = rest.split_at(take);
            if !now.is_empty() {
                let Some(file) = self.file.as_mut() else {
                    return Err(("no file".to_string(), rest));
                };
                if let Err((e, written)) = write_some(file, now) {
                    self.size += written as u64;
                    let after = now.get(written..).unwrap_or_default();
                    // Resume at the next whole record.
                    let skip = if written == 0 {
                        0
                    } else {
                        self.torn = true;
                        after
                            .iter()
                            .position(|b| *b == b'\n')
                            .map_or(after.len(), |p| p + 1)
                    };
                    let remaining = records.len() - later.len() - after.len() + skip;
                    let path = file_of(dir, name);
                    return Err((
                        format!("writing {}: {e}", path.display()),
                        records.get(remaining..).unwrap_or_default(),
                    ));
                }
                self.size += now.len() as u64;
            }
            rest = later;
            if !rest.is_empty() || self.size >= limits.max_size {
                self.rotate(dir, name, limits.keep);
            }
        }
        Ok(())
    }

    /// The open file, opening (and creating) it and the directory if needed.
    fn open(&mut self, dir: &Path, name: &str, gid: Option<u32>) -> Result<(), String> {
        if self.file.is_none() {
            let path = file_of(dir, name);
            let file = open_log(dir, &path, gid)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
            self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(file);
        }
        Ok(())
    }

    /// NAME.log becomes NAME.log.1, .1 becomes .2, ... and the oldest
    /// beyond `keep` is removed; the next write creates a new NAME.log.
    fn rotate(&mut self, dir: &Path, name: &str, keep: u32) {
        self.file = None;
        self.size = 0;
        let path = |k: u32| {
            if k == 0 {
                file_of(dir, name)
            } else {
                dir.join(format!("{name}.log.{k}"))
            }
        };
        let _ = std::fs::remove_file(path(keep + 1));
        if keep == 0 {
            let _ = std::fs::remove_file(path(0));
            return;
        }
        for k in (0..keep).rev() {
            let _ = std::fs::rename(path(k), path(k + 1));
        }
    }
}

/// Write as much as the file takes; on error, how much was written.
fn write_some(file: &mut File, bytes: &[u8]) -> Result<(), (std::io::Error, usize)> {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(bytes.get(done..).unwrap_or_default()) {
            Ok(0) => return Err((std::io::Error::from(std::io::ErrorKind::WriteZero), done)),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, done)),
        }
    }
    Ok(())
}

/// Open a log file for appending: created 0640 with the admin group,
/// never through a symlink.
fn open_log(dir: &Path, path: &Path, gid: Option<u32>) -> std::io::Result<File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if let Some(gid) = gid {
        std::os::unix::fs::fchown(&file, None, Some(gid))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LogLimits = LogLimits {
        max_size: 100,
        keep: 2,
    };

    fn records(range: std::ops::Range<u32>) -> Vec<u8> {
        range
            .flat_map(|i| format!("line {i:04} ........\n").into_bytes())
            .collect()
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_default()
    }

    #[test]
    fn rotation_keeps_exactly_keep_files_and_the_newest_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = LogStore::new(tmp.path().to_path_buf(), None);
        // 19 bytes a record, 5 a file.
        for i in 0..23 {
            assert_eq!(
                store.append("u", LIMITS, &records(i..i + 1), Duration::ZERO),
                None
            );
        }
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["u.log", "u.log.1", "u.log.2"]);
        assert_eq!(
            read(tmp.path(), "u.log"),
            String::from_utf8(records(20..23)).unwrap()
        );
        assert_eq!(
            read(tmp.path(), "u.log.1"),
            String::from_utf8(records(15..20)).unwrap()
        );
        assert_eq!(
            read(tmp.path(), "u.log.2"),
            String::from_utf8(records(10..15)).unwrap()
        );
    }

    #[test]
    fn a_batch_is_split_at_record_boundaries() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = LogStore::new(tmp.path().to_path_buf(), None);
        store.append("u", LIMITS, &records(0..12), Duration::ZERO);
        assert_eq!(
            read(tmp.path(), "u.log"),
            String::from_utf8(records(10..12)).unwrap()
        );
        assert_eq!(
            read(tmp.path(), "u.log.1"),
            String::from_utf8(records(5..10)).unwrap()
        );
    }

    #[test]
    fn lines_wait_until_the_directory_is_writable_then_land_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("logs");
        // A file where the directory should be: nothing can be created.
        std::fs::write(&blocker, "").unwrap();
        let mut store = LogStore::new(blocker.clone(), None);
        let big = LogLimits {
            max_size: 1 << 20,
            keep: 1,
        };
        let problem = store.append("u", big, &records(0..3), Duration::ZERO);
        assert!(problem.unwrap().message.contains("wait in memory"));
        // The same reason is reported once.
        assert_eq!(
            store.append("u", big, &records(3..5), Duration::from_secs(1)),
            None
        );
        assert_eq!(store.waiting("u"), records(0..5));
        assert_eq!(store.next_deadline(), Some(RETRY_FIRST));
        std::fs::remove_file(&blocker).unwrap();
        store.retry(Duration::from_secs(2));
        assert_eq!(store.next_deadline(), None);
        assert_eq!(
            read(&blocker, "u.log"),
            String::from_utf8(records(0..5)).unwrap()
        );
        store.append("u", big, &records(5..6), Duration::from_secs(3));
        assert_eq!(
            read(&blocker, "u.log"),
            String::from_utf8(records(0..6)).unwrap()
        );
    }

    #[test]
    fn a_full_ring_drops_the_oldest_and_says_so_when_space_returns() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("logs");
        std::fs::write(&blocker, "").unwrap();
        let mut store = LogStore::new(blocker.clone(), None);
        let big = LogLimits {
            max_size: 1 << 30,
            keep: 1,
        };
        let one = records(0..1).len();
        let n = (RING_PER_UNIT / one) as u32 + 100;
        for i in 0..n {
            store.append("u", big, &records(i..i + 1), Duration::ZERO);
        }
        assert!(store.waiting_bytes() <= RING_PER_UNIT);
        std::fs::remove_file(&blocker).unwrap();
        store.retry(Duration::from_secs(2));
        let text = read(&blocker, "u.log");
        let mut lines = text.lines();
        let note = lines.next().unwrap();
        assert!(
            note.contains(" u[-] vigil: 100 lines dropped (opening"),
            "{note}"
        );
        assert_eq!(lines.next(), Some("line 0100 ........"));
        assert_eq!(
            text.lines().last(),
            Some(format!("line {:04} ........", n - 1).as_str())
        );
    }

    #[test]
    fn a_forgotten_log_still_writes_what_waits() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("logs");
        std::fs::write(&blocker, "").unwrap();
        let mut store = LogStore::new(blocker.clone(), None);
        store.append("gone", DEFAULT_LIMITS, &records(0..2), Duration::ZERO);
        store.forget("gone");
        std::fs::remove_file(&blocker).unwrap();
        store.retry(Duration::from_secs(1));
        assert_eq!(
            read(&blocker, "gone.log"),
            String::from_utf8(records(0..2)).unwrap()
        );
    }

    #[test]
    fn the_global_cap_takes_from_the_largest_ring() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("logs");
        std::fs::write(&blocker, "").unwrap();
        let mut store = LogStore::new(blocker, None);
        let chunk = records(0..(RING_PER_UNIT / 19) as u32 - 1);
        for u in 0..(RING_TOTAL / RING_PER_UNIT + 4) {
            store.append(&format!("u{u}"), DEFAULT_LIMITS, &chunk, Duration::ZERO);
        }
        assert!(store.waiting_bytes() <= RING_TOTAL);
    }
}
