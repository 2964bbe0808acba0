//! The shell side of service logs: one pipe per captured stream of a unit,
//! made at its first start and held open by vigil (both ends) across
//! restarts, as s6-svscan holds a service's pipe to s6-log, so nothing a
//! service prints between a crash and its restart is lost. Each readiness
//! takes one read of at most `READ_CHUNK` bytes (the loop turn's budget
//! for that pipe: epoll's ready list is round-robin, so one flooding
//! service cannot starve the others or the control socket); the lines are
//! stamped and handed to the `LogStore`.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use crate::graph::Name;
use crate::logs::clock::{format_utc, now_micros};
use crate::logs::record::{write_record, Stream};
use crate::logs::split::LineSplitter;
use crate::logs::store::{LogLimits, LogStore, StoreProblem};
use crate::runtime::spawn::LogFds;
use crate::unit::model::Output;
use crate::unit::UnitDef;

/// The most one read takes from one pipe in one loop turn: a quarter of
/// a pipe's default capacity, so a request waits behind at most a short
/// read (docs/benchmarks.md has the measurements that chose it).
pub const READ_CHUNK: usize = 16 * 1024;

/// One captured stream.
#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    /// Held so the pipe outlives every writer: no end-of-file between
    /// runs, and the next start gets the same pipe.
    write: OwnedFd,
    split: LineSplitter,
}

/// The pipes of one unit.
#[derive(Debug)]
struct Capture {
    /// Shared with `by_unit` (and, from a spawn, with the manager).
    unit: Name,
    limits: LogLimits,
    out: Option<Pipe>,
    err: Option<Pipe>,
}

/// A new pipe for epoll to watch. (A closed one leaves the epoll set by
/// itself: vigil holds the only descriptor of its read end.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPipe {
    pub slot: u32,
    pub stream: Stream,
    pub fd: RawFd,
}

/// Every unit's pipes, the log files, and vigil's own log.
#[derive(Debug)]
pub struct LogCapture {
    slots: Vec<Option<Capture>>,
    by_unit: HashMap<Name, u32>,
    store: LogStore,
    defaults: LogLimits,
    buf: Vec<u8>,
    records: Vec<u8>,
    changes: Vec<NewPipe>,
}

/// A unit's pipes as they cross a re-exec: descriptor numbers the next
/// image takes over (even when it cannot read the rest of the state, so a
/// service never writes into a pipe nobody reads).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedPipes {
    pub slot: u32,
    pub unit: String,
    pub limits: LogLimits,
    pub out: Option<(RawFd, RawFd)>,
    pub err: Option<(RawFd, RawFd)>,
}

/// The rest of the capture: unfinished lines and what waits in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaptureState {
    /// (slot, stream, the bytes after the last newline).
    partial: Vec<(u32, Stream, Vec<u8>)>,
    store: crate::logs::store::StoreState,
}

fn make_pipe() -> std::io::Result<Pipe> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both are fresh descriptors we own.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The write end is lent to every start as is (spawn dups it onto 1
    // or 2): it must not be one of the stdio numbers itself.
    let write = crate::runtime::spawn::high_fd(write)?;
    // Only vigil's end is non-blocking (the two ends are separate open
    // file descriptions): a service writing to a full pipe waits, as it
    // would on a terminal, and never sees EAGAIN.
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0
        || unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Pipe {
        read,
        write,
        split: LineSplitter::default(),
    })
}

impl LogCapture {
    /// Capture into `dir` (files with group `gid`), rotating by `defaults`
    /// unless a unit says otherwise.
    pub fn new(dir: PathBuf, gid: Option<u32>, defaults: LogLimits) -> Self {
        LogCapture {
            slots: Vec::new(),
            by_unit: HashMap::new(),
            store: LogStore::new(dir, gid),
            defaults,
            buf: Vec::new(),
            records: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Every pipe (as descriptor numbers, still owned here) and the rest
    /// of the capture, for the next image.
    pub fn handover(&self, now: Duration) -> (Vec<SavedPipes>, CaptureState) {
        let mut pipes = Vec::new();
        let mut partial = Vec::new();
        for (slot, c) in self.slots.iter().enumerate() {
            let Some(c) = c else { continue };
            let slot = u32::try_from(slot).unwrap_or(u32::MAX);
            let ends = |p: &Option<Pipe>| {
                p.as_ref()
                    .map(|p| (p.read.as_raw_fd(), p.write.as_raw_fd()))
            };
            pipes.push(SavedPipes {
                slot,
                unit: c.unit.to_string(),
                limits: c.limits,
                out: ends(&c.out),
                err: ends(&c.err),
            });
            for (stream, pipe) in [(Stream::Out, &c.out), (Stream::Err, &c.err)] {
                if let Some(p) = pipe.as_ref().filter(|p| !p.split.pending().is_empty()) {
                    partial.push((slot, stream, p.split.pending().to_vec()));
                }
            }
        }
        let state = CaptureState {
            partial,
            store: self.store.handover(now),
        };
        (pipes, state)
    }

    /// The capture of a re-exec'd vigil: the pipes the previous image
    /// held (every one is new to this image's epoll set: see
    /// `take_new_pipes`), and its unfinished lines and waiting records when
    /// the whole state could be read.
    pub fn resume(
        dir: PathBuf,
        gid: Option<u32>,
        defaults: LogLimits,
        pipes: &[SavedPipes],
        state: Option<CaptureState>,
        now: Duration,
    ) -> Self {
        let state = state.unwrap_or_default();
        let mut capture = LogCapture::new(dir.clone(), gid, defaults);
        capture.store = LogStore::resume(dir, gid, state.store, now);
        let take = |ends: Option<(RawFd, RawFd)>| -> Option<Pipe> {
            let (r, w) = ends?;
            let read = crate::runtime::fds::take_inherited(r)?;
            let write = crate::runtime::fds::take_inherited(w)?;
            Some(Pipe {
                read,
                write,
                split: LineSplitter::default(),
            })
        };
        for saved in pipes {
            let index = saved.slot as usize;
            if index > 1 << 20 || capture.by_unit.contains_key(saved.unit.as_str()) {
                continue;
            }
            let unit = Name::from(saved.unit.as_str());
            let mut c = Capture {
                unit: Name::clone(&unit),
                limits: saved.limits,
                out: take(saved.out),
                err: take(saved.err),
            };
            for (slot, stream, bytes) in &state.partial {
                if *slot != saved.slot {
                    continue;
                }
                let pipe = match stream {
                    Stream::Out => c.out.as_mut(),
                    Stream::Err => c.err.as_mut(),
                };
                if let Some(p) = pipe {
                    p.split.restore(bytes);
                }
            }
            for (stream, pipe) in [(Stream::Out, &c.out), (Stream::Err, &c.err)] {
                if let Some(p) = pipe {
                    capture.changes.push(NewPipe {
                        slot: saved.slot,
                        stream,
                        fd: p.read.as_raw_fd(),
                    });
                }
            }
            if capture.slots.len() <= index {
                capture.slots.resize_with(index + 1, || None);
            }
            if let Some(place) = capture.slots.get_mut(index) {
                *place = Some(c);
                capture.by_unit.insert(unit, saved.slot);
            }
        }
        capture
    }

    /// The log files.
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// New defaults and file group (a reload of vigil.toml).
    pub fn configure(&mut self, gid: Option<u32>, defaults: LogLimits) {
        self.store.set_gid(gid);
        self.defaults = defaults;
    }

    fn limits_of(&self, def: &UnitDef) -> LogLimits {
        LogLimits {
            max_size: def.extra().log_max_size.unwrap_or(self.defaults.max_size),
            keep: def.extra().log_keep.unwrap_or(self.defaults.keep),
        }
    }

    /// The pipes `def`'s start needs, made now if this is its first start.
    /// Returns why each pipe that could not be made was not (that stream
    /// then goes to vigil's own output this time; the next start tries
    /// again).
    pub fn prepare(&mut self, def: &UnitDef) -> Vec<String> {
        let wants_out = def.stdout == Output::Log;
        let wants_err = def.stderr == Output::Log;
        if !wants_out && !wants_err {
            return Vec::new();
        }
        let limits = self.limits_of(def);
        // The definition's name is the manager's own shared one.
        let unit = &def.name;
        let slot = match self.by_unit.get(&**unit) {
            Some(slot) => *slot,
            None => {
                let slot = self
                    .slots
                    .iter()
                    .position(Option::is_none)
                    .unwrap_or(self.slots.len());
                let capture = Capture {
                    unit: Name::clone(unit),
                    limits,
                    out: None,
                    err: None,
                };
                match self.slots.get_mut(slot) {
                    Some(place) => *place = Some(capture),
                    None => self.slots.push(Some(capture)),
                }
                let slot = u32::try_from(slot).unwrap_or(u32::MAX);
                self.by_unit.insert(Name::clone(unit), slot);
                slot
            }
        };
        let Some(Some(capture)) = self.slots.get_mut(slot as usize) else {
            return vec![format!("no capture slot for {}", def.name)];
        };
        capture.limits = limits;
        let mut problems = Vec::new();
        for (wanted, stream) in [(wants_out, Stream::Out), (wants_err, Stream::Err)] {
            let place = match stream {
                Stream::Out => &mut capture.out,
                Stream::Err => &mut capture.err,
            };
            if !wanted || place.is_some() {
                continue;
            }
            match make_pipe() {
                Ok(pipe) => {
                    self.changes.push(NewPipe {
                        slot,
                        stream,
                        fd: pipe.read.as_raw_fd(),
                    });
                    *place = Some(pipe);
                }
                Err(e) => {
                    problems.push(format!(
                        "creating the {} log pipe of {}: {e}; this run's output goes to the console",
                        stream.tag(),
                        def.name
                    ));
                }
            }
        }
        problems
    }

    /// The write ends to give `unit`'s next process.
    pub fn fds_of(&self, unit: &str) -> LogFds<'_> {
        let Some(Some(c)) = self
            .by_unit
            .get(unit)
            .and_then(|s| self.slots.get(*s as usize))
        else {
            return LogFds::default();
        };
        LogFds {
            stdout: c.out.as_ref().map(|p| p.write.as_fd()),
            stderr: c.err.as_ref().map(|p| p.write.as_fd()),
        }
    }

    /// Pipes made since the last call, for epoll to watch.
    pub fn take_new_pipes(&mut self) -> Vec<NewPipe> {
        std::mem::take(&mut self.changes)
    }

    /// A pipe is readable: one read (`drain`: until it is empty, and the
    /// unfinished line too), the lines stamped with `pid` (the unit's main
    /// process) and appended to the unit's log.
    pub fn pump(
        &mut self,
        slot: u32,
        stream: Stream,
        pid_of: &dyn Fn(&str) -> Option<i32>,
        drain: bool,
        mono: Duration,
    ) -> Option<StoreProblem> {
        let capture = self.slots.get_mut(slot as usize)?.as_mut()?;
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        let pid = pid_of(&capture.unit);
        let name: &str = &capture.unit;
        let limits = capture.limits;
        let pipe = match stream {
            Stream::Out => capture.out.as_mut()?,
            Stream::Err => capture.err.as_mut()?,
        };
        let tag = stream.tag();
        let records = &mut self.records;
        records.clear();
        loop {
            // SAFETY: reading into our own buffer of that length.
            let n = unsafe {
                libc::read(
                    pipe.read.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                )
            };
            let Ok(n) = usize::try_from(n) else {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // EAGAIN: empty (vigil holds the write end: never EOF).
                break;
            };
            if n == 0 {
                break;
            }
            let stamp = format_utc(now_micros());
            let chunk = self.buf.get(..n).unwrap_or_default();
            pipe.split.feed(chunk, &mut |text, cont| {
                write_record(records, &stamp, name, pid, tag, cont, text);
            });
            if !drain {
                break;
            }
        }
        if drain {
            let stamp = format_utc(now_micros());
            pipe.split.flush(&mut |text, cont| {
                write_record(records, &stamp, name, pid, tag, cont, text);
            });
        }
        let problem = self.store.append(name, limits, records, mono);
        if records.capacity() > 4 * READ_CHUNK {
            // A burst of many lines: give the memory back.
            *records = Vec::new();
        }
        problem
    }

    /// Everything `unit` has printed so far, its unfinished lines included
    /// (its main process exited: the lines are stamped with that pid, not
    /// the next run's).
    pub fn drain_unit(
        &mut self,
        unit: &str,
        pid_of: &dyn Fn(&str) -> Option<i32>,
        mono: Duration,
    ) -> Vec<StoreProblem> {
        let Some(slot) = self.by_unit.get(unit).copied() else {
            return Vec::new();
        };
        [Stream::Out, Stream::Err]
            .into_iter()
            .filter_map(|s| self.pump(slot, s, pid_of, true, mono))
            .collect()
    }

    /// Every pipe drained, unfinished lines included: the machine is
    /// going down (then `sync_files`).
    pub fn drain_all(
        &mut self,
        pid_of: &dyn Fn(&str) -> Option<i32>,
        mono: Duration,
    ) -> Vec<StoreProblem> {
        let units: Vec<Name> = self.by_unit.keys().cloned().collect();
        let mut problems = Vec::new();
        for unit in units {
            problems.extend(self.drain_unit(&unit, pid_of, mono));
        }
        problems
    }

    /// fsync every open log file.
    pub fn sync_files(&mut self) {
        self.store.sync_all();
    }

    /// vigil's own records (from `Logger::take_records`) to vigil.log.
    pub fn own(&mut self, records: &[u8], mono: Duration) -> Option<StoreProblem> {
        self.store
            .append(crate::logs::OWN_LOG, self.defaults, records, mono)
    }

    /// When records waiting in memory should be tried again.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.store.next_deadline()
    }

    /// Try the records waiting in memory again.
    pub fn retry(&mut self, mono: Duration) {
        self.store.retry(mono);
    }

    /// Close the pipes of units that are gone, after reading what is in
    /// them; `known` says whether a unit still exists.
    pub fn retain(
        &mut self,
        known: &dyn Fn(&str) -> bool,
        pid_of: &dyn Fn(&str) -> Option<i32>,
        mono: Duration,
    ) {
        let gone: Vec<Name> = self.by_unit.keys().filter(|u| !known(u)).cloned().collect();
        for unit in gone {
            self.drain_unit(&unit, pid_of, mono);
            if let Some(slot) = self.by_unit.remove(&*unit) {
                if let Some(place) = self.slots.get_mut(slot as usize) {
                    *place = None;
                }
            }
            self.store.forget(&unit);
        }
    }

    /// `unit` will not run again: what is in its pipes is read one last
    /// time and they are closed (its log file stays open for vigil's own
    /// lines about it until `close_files`).
    pub fn close_pipes(
        &mut self,
        unit: &str,
        pid_of: &dyn Fn(&str) -> Option<i32>,
        mono: Duration,
    ) -> Vec<StoreProblem> {
        let problems = self.drain_unit(unit, pid_of, mono);
        if let Some(slot) = self.by_unit.get(unit) {
            if let Some(Some(capture)) = self.slots.get_mut(*slot as usize) {
                capture.out = None;
                capture.err = None;
            }
        }
        problems
    }

    /// Descriptors held: two per captured stream.
    pub fn fd_count(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|c| 2 * (usize::from(c.out.is_some()) + usize::from(c.err.is_some())))
            .sum()
    }

    /// Close every file (filesystems are about to be unmounted).
    pub fn close_files(&mut self) {
        self.store.close_all();
    }
}
